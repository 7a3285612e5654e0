"""The invitation worker: each SQS message is one email to send, a campaign's invitation or a reminder.

A record that fails (SES throttled, a DynamoDB hiccup, or another delivery of the same message holds a fresh claim)
is a batch item failure and comes back after the visibility timeout; one already sent is acknowledged and sends
nothing (see ``orcid_sync.domain.invitations.campaigns`` on claims). A reminder belongs to the "remind" job run:
its outcome is recorded once per researcher, and the last one finishes the run (job history, events, the email).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from orcid_sync import composition
from orcid_sync.domain.invitations.campaigns import complete_reminder, send_invitation, send_reminder
from orcid_sync.domain.invitations.models import InvitationTask
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics, tracer


class InvitationRecord(SqsRecordModel):
    body: Json[InvitationTask]


processor = BatchProcessor(event_type=EventType.SQS, model=InvitationRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: InvitationRecord) -> None:
    task = record.body
    ports = composition.mail_ports()
    now = utc_now()
    if task.reminder == 0:
        result = send_invitation(task, ports=ports, now=now)
    else:
        max_reminders = composition.integration_settings_store().get().settings.invitation_max_reminders
        result = send_reminder(task, ports=ports, max_reminders=max_reminders, now=now)
        if task.job_id:
            complete_reminder(composition.job_store(), task, result, notifier=composition.notifier(), now=now)
    metrics.add_metric(name=f"Invitation_{result}", unit=MetricUnit.Count, value=1)
    logger.info(
        "invitation task done",
        campaign_id=task.campaign_id,
        researcher_id=task.researcher_id,
        reminder=task.reminder,
        result=result,
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    composition.settings()  # fail fast on a misconfigured stack
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

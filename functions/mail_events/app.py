"""Bounces and complaints from SES: the configuration set's event destination publishes them to the MailEventsTopic,
which invokes this function. Each permanent bounce or complaint stops mail to the address (every later campaign and
reminder skips it) and settles the invitation it answers; a transient bounce changes nothing.

SES event publishing names the kind in ``eventType``; identity feedback notifications (the older mechanism, also
what SES's mailbox simulator documentation shows) in ``notificationType``. Both are read.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orcid_sync import composition
from orcid_sync.domain.invitations.campaigns import record_delivery_event
from orcid_sync.domain.invitations.models import MailDeliveryEvent, SuppressionReason
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics, tracer


def parse_ses_event(message: dict[str, Any]) -> MailDeliveryEvent | None:
    """The bounce or complaint in one SES event notification; None for anything else (deliveries, sends)."""
    kind = message.get("eventType") or message.get("notificationType")
    mail = message.get("mail") or {}
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        return MailDeliveryEvent(
            reason=SuppressionReason.BOUNCED,
            addresses=[r["emailAddress"] for r in bounce.get("bouncedRecipients", []) if r.get("emailAddress")],
            message_id=mail.get("messageId"),
            at=_when(bounce.get("timestamp")),
            detail=f"{bounce.get('bounceType', '')}/{bounce.get('bounceSubType', '')}",
            permanent=bounce.get("bounceType") == "Permanent",
        )
    if kind == "Complaint":
        complaint = message.get("complaint") or {}
        return MailDeliveryEvent(
            reason=SuppressionReason.COMPLAINED,
            addresses=[r["emailAddress"] for r in complaint.get("complainedRecipients", []) if r.get("emailAddress")],
            message_id=mail.get("messageId"),
            at=_when(complaint.get("timestamp")),
            detail=complaint.get("complaintFeedbackType"),
        )
    return None


def _when(timestamp: str | None) -> datetime:
    if not timestamp:
        return utc_now()
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    composition.settings()  # fail fast on a misconfigured stack
    recorded = 0
    for record in event.get("Records", []):
        delivery = parse_ses_event(json.loads(record["Sns"]["Message"]))
        if delivery is None:
            continue
        # Raising fails the invocation: SNS retries it, and the error alarm tells an administrator.
        recorded += record_delivery_event(delivery, invitations=composition.invitation_store())
    return {"recorded": recorded}

"""AWS implementations of the job ports: SQS queues, SNS notifications, EventBridge schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import batched
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from orcid_sync.adapters.job_email import notification_body, notification_subject
from orcid_sync.config import SettingsError
from orcid_sync.domain.jobs.models import Job, JobControlMessage, JobEvent, JobType, ResearcherTask, ScheduleRule
from orcid_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import BatchResultErrorEntryTypeDef, SendMessageBatchRequestEntryTypeDef

SQS_BATCH = 10
"""SendMessageBatch takes at most ten entries."""
SEND_ATTEMPTS = 5
"""SendMessageBatch can fail single entries (throttling, internal errors); they are resent this many times."""
HANDBACKS_ATTRIBUTE = "orcid_sync_handbacks"
"""Message attribute of a task handed back to its queue (its researcher was busy): how many times it was."""
SQS_MAX_DELAY_SECONDS = 900


class TaskSendError(RuntimeError):
    """Some tasks could not be enqueued after every retry."""


class _EntriesFailedError(Exception):
    """One SendMessageBatch call failed some entries (the ones still pending)."""

    def __init__(self, failed: Sequence[BatchResultErrorEntryTypeDef]) -> None:
        super().__init__(f"{len(failed)} entries failed")
        self.failed = failed

    @property
    def sender_fault(self) -> bool:
        # A sender fault (malformed entry) will fail the same way again: no point in another try.
        return any(entry["SenderFault"] for entry in self.failed)


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, _EntriesFailedError) and not error.sender_fault


class SqsTaskQueue:
    """Sends researcher tasks to a push or pull queue, ten per SendMessageBatch."""

    def __init__(self, sqs: SQSClient, queue_url: str, *, backoff_seconds: float = 0.2) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._backoff = backoff_seconds

    def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
        for batch in batched(tasks, SQS_BATCH, strict=False):
            self._send_batch(batch)

    def hand_back(self, task: ResearcherTask, *, delay_seconds: int, handbacks: int) -> None:
        """Send the task again, visible after ``delay_seconds``, counting how often it was handed back."""
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=task.model_dump_json(),
            DelaySeconds=min(SQS_MAX_DELAY_SECONDS, max(0, delay_seconds)),
            MessageAttributes={HANDBACKS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(handbacks)}},
        )

    def _send_batch(self, batch: Sequence[ResearcherTask]) -> None:
        """Send up to ten tasks; entries SQS failed (throttling, internal errors) are sent again, alone."""
        pending: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": task.model_dump_json()} for index, task in enumerate(batch)
        ]

        def send_pending() -> None:
            nonlocal pending
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            failed = response.get("Failed", [])
            if failed:
                failed_ids = {entry["Id"] for entry in failed}
                pending = [entry for entry in pending if entry["Id"] in failed_ids]
                raise _EntriesFailedError(failed)

        retrying = Retrying(
            stop=stop_after_attempt(SEND_ATTEMPTS),
            wait=wait_exponential(multiplier=self._backoff),
            retry=retry_if_exception(_worth_retrying),
            reraise=True,
        )
        try:
            retrying(send_pending)
        except _EntriesFailedError as exc:
            codes = sorted({entry["Code"] for entry in exc.failed})
            raise TaskSendError(
                f"{len(exc.failed)} task(s) could not be sent to {self._queue_url}: {', '.join(codes)}"
            ) from exc


class SnsNotifier:
    """Publishes the end of a job run to the notification topic (email subscribers get plain text)."""

    def __init__(self, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=notification_subject(job),
            Message=notification_body(job, first_errors),
            MessageAttributes={
                "job_type": {"DataType": "String", "StringValue": job.type.value},
                "state": {"DataType": "String", "StringValue": job.state.value},
            },
        )
        logger.info("job notification sent", job_id=job.job_id, state=job.state.value)


class SqsControlQueue:
    """Hands runs opened by the admin API to the scheduler (``{"job_id": ...}`` on the job-control queue)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def request_start(self, job_id: str) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=JobControlMessage(job_id=job_id).model_dump_json())


class EventBridgeSchedules:
    """The daily push and pull schedules: one EventBridge rule each, flipped to (de)activate a job."""

    def __init__(self, events: EventBridgeClient, rule_names: Mapping[JobType, str]) -> None:
        self._events = events
        self._names = dict(rule_names)

    def _name(self, job_type: JobType) -> str:
        name = self._names.get(job_type)
        if not name:
            raise SettingsError(f"no schedule rule is configured for {job_type.value} jobs")
        return name

    def describe(self, job_type: JobType) -> ScheduleRule:
        rule = self._events.describe_rule(Name=self._name(job_type))
        return ScheduleRule(
            name=rule["Name"], enabled=rule.get("State") == "ENABLED", schedule=rule.get("ScheduleExpression", "")
        )

    def set_enabled(self, job_type: JobType, enabled: bool) -> None:
        if enabled:
            self._events.enable_rule(Name=self._name(job_type))
        else:
            self._events.disable_rule(Name=self._name(job_type))


class SqsDeadLetterDepths:
    """The dead-letter queues' depths for the console's dashboard: one GetQueueAttributes per queue."""

    def __init__(self, sqs: SQSClient, queue_urls: Mapping[str, str]) -> None:
        self._sqs = sqs
        self._urls = dict(queue_urls)

    def depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        for role, url in self._urls.items():
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            ).get("Attributes", {})
            depths[role] = int(attributes.get("ApproximateNumberOfMessages", "0"))
        return depths

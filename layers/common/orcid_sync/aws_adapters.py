"""AWS implementations of the job ports (SQS queues, SNS notifications, EventBridge schedules) and their factories."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import batched
from typing import TYPE_CHECKING

import boto3

from orcid_sync import wiring
from orcid_sync.jobs import Job, JobControlMessage, JobEvent, JobType, ResearcherTask
from orcid_sync.logic.jobs import ScheduleRule, notification_body, notification_subject
from orcid_sync.observability import logger
from orcid_sync.settings import Settings, SettingsError, get_settings
from orcid_sync.store.jobs import DynamoJobStore

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SEND_ATTEMPTS = 5
"""SendMessageBatch can fail single entries (throttling, internal errors); they are resent this many times."""
HANDBACKS_ATTRIBUTE = "orcid_sync_handbacks"
"""Message attribute of a task handed back to its queue (its researcher was busy): how many times it was."""
SQS_MAX_DELAY_SECONDS = 900


class TaskSendError(RuntimeError):
    """Some tasks could not be enqueued after every retry."""


class SqsTaskQueue:
    """Sends researcher tasks to a push or pull queue, ten per SendMessageBatch."""

    def __init__(self, sqs: SQSClient, queue_url: str, *, backoff_seconds: float = 0.2) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._backoff = backoff_seconds

    def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
        for batch in batched(tasks, 10, strict=False):
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
        pending: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": task.model_dump_json()} for index, task in enumerate(batch)
        ]
        for attempt in range(SEND_ATTEMPTS):
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            failed = response.get("Failed", [])
            if not failed:
                return
            # A sender fault (malformed entry) will fail the same way again: stop at once.
            if any(entry["SenderFault"] for entry in failed):
                break
            failed_ids = {entry["Id"] for entry in failed}
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
            time.sleep(self._backoff * 2**attempt)
        codes = sorted({entry["Code"] for entry in failed})
        raise TaskSendError(f"{len(failed)} task(s) could not be sent to {self._queue_url}: {', '.join(codes)}")


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


# --- factories for the composition roots (handler modules), cached per container ------------


@lru_cache(maxsize=1)
def job_store(settings: Settings | None = None) -> DynamoJobStore:
    return DynamoJobStore(wiring.dynamodb().Table((settings or get_settings()).jobs_table))


@lru_cache(maxsize=1)
def notifier(settings: Settings | None = None) -> SnsNotifier:
    return SnsNotifier(boto3.client("sns"), (settings or get_settings()).notification_topic_arn)


def task_queue(job_type: JobType, settings: Settings | None = None) -> SqsTaskQueue:
    """The push or pull workers' queue."""
    settings = settings or get_settings()
    urls = {JobType.PUSH: settings.push_queue_url, JobType.PULL: settings.pull_queue_url}
    url = urls.get(job_type)
    if not url:
        raise SettingsError(f"no task queue is configured for {job_type.value} jobs")
    return SqsTaskQueue(_sqs(), url)


@lru_cache(maxsize=1)
def _sqs() -> SQSClient:
    return boto3.client("sqs")


def control_queue(settings: Settings | None = None) -> SqsControlQueue:
    settings = settings or get_settings()
    if not settings.job_control_queue_url:
        raise SettingsError("JOB_CONTROL_QUEUE_URL is not set")
    return SqsControlQueue(_sqs(), settings.job_control_queue_url)


def schedules(settings: Settings | None = None) -> EventBridgeSchedules:
    settings = settings or get_settings()
    return EventBridgeSchedules(
        boto3.client("events"), {JobType.PUSH: settings.push_rule_name, JobType.PULL: settings.pull_rule_name}
    )


def reset() -> None:
    """Forget cached clients (tests switch moto instances between runs)."""
    job_store.cache_clear()
    notifier.cache_clear()
    _sqs.cache_clear()

"""SQS event source mappings: pollers delivering a queue's messages to a function in batches."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from ..provision import ProvisionedStack
from .functions import LocalFunction
from .shared import ActivityTracker, GlueError, log

_SQS_RECEIVE_MAX: Final = 10


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS ``AWS::Lambda::EventSourceMapping`` (what SAM makes of an ``SQS`` event)."""

    name: str
    function: LocalFunction
    queue_arn: str
    batch_size: int = 10
    batching_window_seconds: float = 0.0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None

    @property
    def pollers(self) -> int:
        """Concurrent batches: MaximumConcurrency when the template sets it, else one at a time."""
        return self.maximum_concurrency or 1

    @classmethod
    def from_event(cls, name: str, function: LocalFunction, props: Mapping[str, Any]) -> SqsEventSource:
        if props.get("FilterCriteria"):
            raise GlueError(f"{name}: FilterCriteria on SQS events is not supported by the local glue")
        scaling = props.get("ScalingConfig") or {}
        return cls(
            name=name,
            function=function,
            queue_arn=str(props["EventSourceArn"]),
            batch_size=int(props.get("BatchSize", 10)),
            batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        )


class SqsPoller:
    """Delivers a queue's messages to a function in batches, as Lambda's SQS poller does.

    ``source.pollers`` threads poll at once, each delivering one batch at a time.
    Succeeded messages are deleted; failed ones (the whole batch when the handler raises, or the
    ``batchItemFailures`` it reports) are made visible again after ``retry_visibility_seconds``,
    a scaled-down VisibilityTimeout, so retries and moto's redrive to the DLQ happen in seconds.
    """

    def __init__(
        self,
        source: SqsEventSource,
        sqs: Any,
        tracker: ActivityTracker,
        *,
        region: str,
        visibility_scale: float,
    ) -> None:
        self.source = source
        self._sqs = sqs
        self._tracker = tracker
        self._region = region
        self.queue_url = sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
        visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        self.retry_visibility_seconds = max(1, round(visibility_timeout * visibility_scale))
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{source.name}-{number}", daemon=True)
            for number in range(1, source.pollers + 1)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self) -> None:
        """One concurrent batch at a time per thread; there are as many threads as MaximumConcurrency."""
        last_error = ""
        while not self._stop.is_set():
            try:
                messages = self._receive_batch()
                if messages:
                    self._deliver(messages)
                last_error = ""
            except (BotoCoreError, ClientError) as exc:
                # moto gone or the queue deleted (a test reset it): say so once, keep trying.
                if repr(exc) != last_error:
                    log.warning("SQS poller %s: %r", self.source.name, exc)
                    last_error = repr(exc)
                self._stop.wait(1.0)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.source.batching_window_seconds
        wait_seconds = 1  # long polling, short enough for stop() to be noticed promptly
        while len(messages) < self.source.batch_size and not self._stop.is_set():
            received = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            if not received and (messages or time.monotonic() >= deadline):
                break
            wait_seconds = 0
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        records = [self._record(message) for message in messages]
        with self._tracker.working():
            try:
                result = self.source.function.invoke({"Records": records})
                failed_ids = self._failed_message_ids(result, records)
            except Exception:
                log.exception(
                    "%s failed on a batch of %d from %s",
                    self.source.function.logical_id,
                    len(records),
                    self.source.name,
                )
                failed_ids = {record["messageId"] for record in records}
            succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
            failed = [m for m in messages if m["MessageId"] in failed_ids]
            for chunk in _chunks(succeeded, _SQS_RECEIVE_MAX):
                self._sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
                )
            for chunk in _chunks(failed, _SQS_RECEIVE_MAX):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": self.retry_visibility_seconds,
                        }
                        for i, m in enumerate(chunk)
                    ],
                )

    def _failed_message_ids(self, result: Any, records: list[dict[str, Any]]) -> set[str]:
        """Lambda's reading of a handler result: without ReportBatchItemFailures, returning means success."""
        all_ids = {record["messageId"] for record in records}
        if not self.source.report_batch_item_failures or result in (None, "", {}):
            return set()
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if failures is None or not isinstance(failures, list):
            log.error("%s returned an unreadable batch response; the whole batch fails", self.source.name)
            return all_ids
        failed: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in all_ids:
                # Lambda treats an empty or unknown itemIdentifier as the whole batch failing.
                log.error(
                    "%s reported an invalid itemIdentifier %r; the whole batch fails", self.source.name, identifier
                )
                return all_ids
            failed.add(identifier)
        return failed

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The Lambda SQS event record for a received message."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def pending(self) -> int:
        """Messages in the queue, visible or not (in flight, waiting for a retry, delayed)."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sqs_sources(
    stack: ProvisionedStack,
    functions_by_arn: Mapping[str, LocalFunction],
    functions_by_name: Mapping[str, LocalFunction],
) -> list[SqsEventSource]:
    """The enabled SQS event source mappings (SAM's SQS events included) to functions of this template."""
    sources: list[SqsEventSource] = []
    for logical_id in stack.of_type("AWS::Lambda::EventSourceMapping"):
        props = stack.properties[logical_id]
        target = str(props["FunctionName"])
        mapped = functions_by_arn.get(target) or functions_by_name.get(target.rsplit(":", 1)[-1])
        if mapped is None or ":sqs:" not in str(props.get("EventSourceArn", "")):
            raise GlueError(f"{logical_id}: only SQS mappings to functions of this template are supported")
        if props.get("Enabled", True) not in (False, "false"):
            sources.append(SqsEventSource.from_event(logical_id, mapped, props))
    return sources

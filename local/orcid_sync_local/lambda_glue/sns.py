"""SNS topics' Lambda subscriptions: each message published to the topic is delivered to the function, as SNS does.

moto keeps topics and delivers to SQS and HTTP subscribers, but delivers to Lambda through its own Lambda service,
which does not hold our functions. So a template's ``AWS::SNS::Subscription`` with ``Protocol: lambda`` (what SAM
makes of an ``SNS`` event) is not created in moto (see ``provision/messaging.py``): this module reads those
subscriptions from the provisioned stack and, for every ``Publish``/``PublishBatch`` moto accepts for their topic
(seen by :class:`SnsPublishes` in front of moto), invokes the function with the event SNS sends Lambda: one record
(``EventSource: aws:sns``, ``Sns`` with ``Type: Notification``, the message id moto answered, the topic, subject,
message and message attributes).

SNS invokes Lambda asynchronously: the publisher has its answer before the function runs, and a failed invocation is
retried twice (Lambda's asynchronous retries; immediately here, not after minutes) and then dropped, as a function
without an on-failure destination or DLQ loses it. Filter policies are not supported (the glue refuses them).
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from defusedxml import ElementTree as SafeElementTree

from ..provision import ProvisionedStack
from .aws_requests import AwsAnswer, AwsRequest
from .functions import LocalFunction
from .shared import ActivityTracker, GlueError, log

ASYNC_ATTEMPTS: Final = 3
"""Lambda's asynchronous invocation: the first attempt and two retries."""


@dataclass(frozen=True)
class SnsLambdaSubscription:
    """One ``AWS::SNS::Subscription`` with ``Protocol: lambda`` to a function of this stack."""

    name: str
    subscription_arn: str
    topic_arn: str
    function: LocalFunction


def sns_subscriptions(
    stack: ProvisionedStack,
    functions_by_arn: Mapping[str, LocalFunction],
    functions_by_name: Mapping[str, LocalFunction],
) -> list[SnsLambdaSubscription]:
    """The template's Lambda subscriptions (to functions of this template; anything else is refused)."""
    found: list[SnsLambdaSubscription] = []
    for logical_id in stack.of_type("AWS::SNS::Subscription"):
        props = stack.properties[logical_id]
        if str(props.get("Protocol", "")).lower() != "lambda":
            continue
        endpoint = str(props["Endpoint"])
        function = functions_by_arn.get(endpoint) or functions_by_name.get(endpoint.rsplit(":", 1)[-1])
        if function is None:
            raise GlueError(f"{logical_id}: only Lambda subscriptions to functions of this template are supported")
        if props.get("FilterPolicy"):
            raise GlueError(f"{logical_id}: FilterPolicy on Lambda subscriptions is not supported by the local glue")
        found.append(
            SnsLambdaSubscription(logical_id, str(stack.physical(logical_id).ref), str(props["TopicArn"]), function)
        )
    return found


@dataclass(frozen=True)
class _Published:
    topic_arn: str
    message_id: str
    message: str
    subject: str | None
    attributes: dict[str, dict[str, str]]
    timestamp: str


class SnsPublishes:
    """The request hook (see :mod:`.aws_requests`) that hands each accepted publish to its Lambda subscribers.

    A worker thread invokes the functions, one delivery at a time; :meth:`pending` counts what is queued or running
    (so that ``wait_until_idle`` waits for it).
    """

    services = frozenset({"sns"})

    def __init__(self, subscriptions: Sequence[SnsLambdaSubscription], tracker: ActivityTracker) -> None:
        self._by_topic: dict[str, list[SnsLambdaSubscription]] = {}
        for subscription in subscriptions:
            self._by_topic.setdefault(subscription.topic_arn, []).append(subscription)
        self._tracker = tracker
        self._deliveries: queue.Queue[tuple[SnsLambdaSubscription, _Published] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sns-lambda-deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._deliveries.put(None)

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def pending(self) -> int:
        return self._deliveries.unfinished_tasks

    # --- the request hook ---

    def before(self, request: AwsRequest) -> AwsAnswer | None:
        return None

    def after(self, request: AwsRequest, answer: AwsAnswer) -> None:
        if not answer.ok or request.method != "POST" or not self._by_topic:
            return
        form = {key: values[0] for key, values in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        action = form.get("Action")
        if action == "Publish":
            topic = form.get("TopicArn") or form.get("TargetArn") or ""
            message_id = _xml_text(answer.body, "MessageId")
            if message_id:
                self._publish(topic, message_id, form, "")
        elif action == "PublishBatch":
            topic = form.get("TopicArn", "")
            ids = _batch_message_ids(answer.body)
            index = 1
            while f"PublishBatchRequestEntries.member.{index}.Id" in form:
                prefix = f"PublishBatchRequestEntries.member.{index}."
                message_id = ids.get(form[f"{prefix}Id"])
                if message_id:
                    self._publish(topic, message_id, form, prefix)
                index += 1

    def _publish(self, topic_arn: str, message_id: str, form: Mapping[str, str], prefix: str) -> None:
        subscriptions = self._by_topic.get(topic_arn)
        if not subscriptions:
            return
        message = form.get(f"{prefix}Message", "")
        if form.get(f"{prefix}MessageStructure") == "json":
            structured = json.loads(message)
            message = str(structured.get("lambda", structured["default"]))
        published = _Published(
            topic_arn=topic_arn,
            message_id=message_id,
            message=message,
            subject=form.get(f"{prefix}Subject") or None,
            attributes=_message_attributes(form, prefix),
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        for subscription in subscriptions:
            self._deliveries.put((subscription, published))

    # --- delivery ---

    def _run(self) -> None:
        while True:
            item = self._deliveries.get()
            try:
                if item is None:
                    return
                subscription, published = item
                with self._tracker.working():
                    self._deliver(subscription, published)
            finally:
                self._deliveries.task_done()

    def _deliver(self, subscription: SnsLambdaSubscription, published: _Published) -> None:
        event = sns_event(subscription, published)
        for attempt in range(1, ASYNC_ATTEMPTS + 1):
            try:
                subscription.function.invoke(event)
                return
            except Exception:
                log.exception(
                    "%s failed on SNS message %s (attempt %d of %d)",
                    subscription.function.logical_id,
                    published.message_id,
                    attempt,
                    ASYNC_ATTEMPTS,
                )
        log.error("SNS message %s to %s dropped after %d attempts", published.message_id, subscription.name, attempt)


def sns_event(subscription: SnsLambdaSubscription, published: _Published) -> dict[str, Any]:
    """The event SNS invokes a Lambda subscriber with (one record)."""
    region = subscription.topic_arn.split(":")[3]
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": published.message_id,
                    "TopicArn": published.topic_arn,
                    "Subject": published.subject,
                    "Message": published.message,
                    "Timestamp": published.timestamp,
                    "SignatureVersion": "1",
                    # Locally nothing signs: a subscriber that checked signatures would refuse these.
                    "Signature": "LOCAL-UNSIGNED",
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
                    "UnsubscribeUrl": (
                        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe"
                        f"&SubscriptionArn={subscription.subscription_arn}"
                    ),
                    "MessageAttributes": published.attributes,
                },
            }
        ]
    }


def lambda_subscription_arn(topic_arn: str) -> str:
    """A subscription ARN as SNS makes them (the topic's ARN and a UUID)."""
    return f"{topic_arn}:{uuid.uuid4()}"


def _message_attributes(form: Mapping[str, str], prefix: str) -> dict[str, dict[str, str]]:
    attributes: dict[str, dict[str, str]] = {}
    index = 1
    while f"{prefix}MessageAttributes.entry.{index}.Name" in form:
        entry = f"{prefix}MessageAttributes.entry.{index}."
        data_type = form.get(f"{entry}Value.DataType", "String")
        value = form.get(f"{entry}Value.StringValue") or form.get(f"{entry}Value.BinaryValue", "")
        attributes[form[f"{entry}Name"]] = {"Type": data_type, "Value": value}
        index += 1
    return attributes


def _xml_text(body: bytes, tag: str) -> str | None:
    for element in SafeElementTree.fromstring(body).iter():  # moto's answer, parsed as any XML we read
        if element.tag.rsplit("}", 1)[-1] == tag:
            text: str | None = element.text
            return text
    return None


def _batch_message_ids(body: bytes) -> dict[str, str]:
    """PublishBatch's answer: entry id -> message id, for the entries SNS accepted."""
    ids: dict[str, str] = {}
    for element in SafeElementTree.fromstring(body).iter():  # moto's answer, parsed as any XML we read
        if element.tag.rsplit("}", 1)[-1] != "Successful":
            continue
        for member in element:
            fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in member}
            if fields.get("Id") and fields.get("MessageId"):
                ids[fields["Id"]] = fields["MessageId"]
    return ids

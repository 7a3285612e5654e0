"""SQS queues, SNS topics and subscriptions, EventBridge rules and Scheduler schedules in moto."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from ..template import (
    PhysicalResource,
    physical_name,
)
from .context import ProvisionContext, Provisioner, api_string, json_text, pick, resource_name, tags

# --- SQS --------------------------------------------------------------------------------------

_SQS_ATTRIBUTES: Final = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _sqs_queue(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    sqs = ctx.client("sqs")
    fifo = str(props.get("FifoQueue", "false")).lower() == "true"
    name = str(
        props.get("QueueName") or physical_name(ctx.identity, logical_id, max_length=80, suffix=".fifo" if fifo else "")
    )
    attributes = {key: api_string(props[key]) for key in _SQS_ATTRIBUTES if key in props}
    request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if tags(props):
        request["tags"] = {tag["Key"]: tag["Value"] for tag in tags(props)}
    url = sqs.create_queue(**request)["QueueUrl"]
    arn = ctx.identity.arn("sqs", name)  # what SQS reports (one request fewer per queue)
    return PhysicalResource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _sqs_queue_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    for url in props["Queues"]:
        ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json_text(props["PolicyDocument"])})
    return PhysicalResource(logical_id, "AWS::SQS::QueuePolicy", f"{logical_id}-{uuid.uuid4().hex[:12]}")


# --- SNS --------------------------------------------------------------------------------------


def _sns_topic(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    sns = ctx.client("sns")
    fifo = str(props.get("FifoTopic", "false")).lower() == "true"
    name = str(
        props.get("TopicName")
        or physical_name(ctx.identity, logical_id, max_length=256, suffix=".fifo" if fifo else "")
    )
    attribute_keys = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion")
    attributes = {key: api_string(props[key]) for key in attribute_keys if key in props}
    request: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if tags(props):
        request["Tags"] = tags(props)
    arn = sns.create_topic(**request)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        if str(subscription["Protocol"]).lower() == "lambda":
            raise ValueError(
                "a topic's inline Lambda subscription is not supported locally: use AWS::SNS::Subscription"
            )
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return PhysicalResource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def _sns_subscription(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    if str(props["Protocol"]).lower() == "lambda":
        # moto would deliver through its own Lambda service, which does not hold our functions: the glue delivers
        # (lambda_glue/sns.py reads this subscription from the stack), so moto never learns of it.
        arn = f"{props['TopicArn']}:{uuid.uuid4()}"
        return PhysicalResource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn})
    attribute_keys = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy")
    attributes = {key: api_string(props[key]) for key in attribute_keys if key in props}
    arn = ctx.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return PhysicalResource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn})


def _sns_topic_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    for topic_arn in props["Topics"]:
        ctx.client("sns").set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json_text(props["PolicyDocument"])
        )
    return PhysicalResource(logical_id, "AWS::SNS::TopicPolicy", f"{logical_id}-{uuid.uuid4().hex[:12]}")


# --- EventBridge and EventBridge Scheduler ----------------------------------------------------


def _events_rule(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    events = ctx.client("events")
    name = resource_name(ctx, logical_id, props, "Name", 64)
    bus = str(props.get("EventBusName", "default"))
    request: dict[str, Any] = {
        "Name": name,
        "EventBusName": bus,
        "State": props.get("State", "ENABLED"),
        **pick(props, "ScheduleExpression", "Description", "RoleArn"),
    }
    if "EventPattern" in props:
        request["EventPattern"] = json_text(props["EventPattern"])
    arn = events.put_rule(**request)["RuleArn"]
    targets = [
        {
            **pick(target, "Id", "Arn", "Input", "InputPath", "InputTransformer", "RoleArn", "RetryPolicy"),
            **pick(target, "DeadLetterConfig", "SqsParameters"),
        }
        for target in props.get("Targets") or []
    ]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return PhysicalResource(logical_id, "AWS::Events::Rule", name, {"Arn": arn})


def _scheduler_schedule(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "Name", 64)
    request: dict[str, Any] = {
        "Name": name,
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props["FlexibleTimeWindow"],
        "Target": props["Target"],
        "State": props.get("State", "ENABLED"),
        **pick(props, "GroupName", "Description", "ScheduleExpressionTimezone", "StartDate", "EndDate", "KmsKeyArn"),
    }
    arn = ctx.client("scheduler").create_schedule(**request)["ScheduleArn"]
    return PhysicalResource(logical_id, "AWS::Scheduler::Schedule", name, {"Arn": arn})


def _scheduler_group(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "Name", 64)
    arn = ctx.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
    return PhysicalResource(logical_id, "AWS::Scheduler::ScheduleGroup", name, {"Arn": arn})


PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    "AWS::Events::Rule": _events_rule,
    "AWS::Scheduler::Schedule": _scheduler_schedule,
    "AWS::Scheduler::ScheduleGroup": _scheduler_group,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SNS::TopicPolicy": _sns_topic_policy,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
}

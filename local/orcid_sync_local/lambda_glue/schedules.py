"""EventBridge rules with a ScheduleExpression and EventBridge Scheduler schedules, fired on demand."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ..provision import ProvisionedStack
from .functions import LocalFunction
from .shared import GlueError


@dataclass(frozen=True)
class ScheduleTarget:
    """Where a rule or schedule sends its event: a local function, or an SQS queue."""

    function: LocalFunction | None = None
    queue_arn: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge rule with a ScheduleExpression, or an EventBridge Scheduler schedule."""

    logical_id: str
    name: str
    arn: str
    kind: Literal["rule", "schedule"]
    container: str  # the event bus (rules) or the schedule group (schedules)
    targets: tuple[ScheduleTarget, ...]


@dataclass(frozen=True)
class ScheduleFiring:
    """What ``fire_schedule`` did: whether it fired, and each Lambda target's result."""

    schedule: str
    fired: bool
    results: tuple[Any, ...] = ()


def scheduled_event(source: ScheduleSource, *, account_id: str, region: str) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" as Lambda receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if source.kind == "rule" else "aws.scheduler",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [source.arn],
        "detail": {},
    }


def schedule_sources(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[ScheduleSource]:
    sources: list[ScheduleSource] = []
    for logical_id, rule in stack.of_type("AWS::Events::Rule").items():
        props = stack.properties[logical_id]
        if "ScheduleExpression" not in props:
            continue  # event-pattern rules: nothing puts events locally
        targets = tuple(_schedule_target(target, functions_by_arn) for target in props.get("Targets") or [])
        bus = str(props.get("EventBusName", "default"))
        sources.append(ScheduleSource(logical_id, str(rule.ref), str(rule.get_att("Arn")), "rule", bus, targets))
    for logical_id, schedule in stack.of_type("AWS::Scheduler::Schedule").items():
        props = stack.properties[logical_id]
        target = _schedule_target(props["Target"], functions_by_arn)
        group = str(props.get("GroupName", "default"))
        arn = str(schedule.get_att("Arn"))
        sources.append(ScheduleSource(logical_id, str(schedule.ref), arn, "schedule", group, (target,)))
    return sources


def _schedule_target(target: Mapping[str, Any], functions_by_arn: Mapping[str, LocalFunction]) -> ScheduleTarget:
    arn = str(target["Arn"])
    text = target.get("Input")
    text = None if text is None else (text if isinstance(text, str) else json.dumps(text))
    if arn in functions_by_arn:
        return ScheduleTarget(function=functions_by_arn[arn], input=text)
    if ":sqs:" in arn:
        return ScheduleTarget(queue_arn=arn, input=text)
    raise GlueError(f"schedule target {arn} is neither a function of this template nor an SQS queue")


def schedule_enabled(source: ScheduleSource, clients: Callable[[str], Any]) -> bool:
    """The rule's state as moto has it now, so that ``events.enable_rule`` (or the admin API) counts."""
    if source.kind == "rule":
        state = clients("events").describe_rule(Name=source.name, EventBusName=source.container)["State"]
    else:
        state = clients("scheduler").get_schedule(Name=source.name, GroupName=source.container)["State"]
    return str(state).startswith("ENABLED")

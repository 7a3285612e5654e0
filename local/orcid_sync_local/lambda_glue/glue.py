"""The glue as a whole: every function of a provisioned stack, its HTTP routes and its event sources."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..provision import ProvisionedStack
from .aws_requests import AwsRequestHooks
from .functions import FunctionSpec, LocalFunction
from .http_api import HttpApiGateway, HttpRoute, http_routes
from .s3 import S3EventSource, S3Watcher, s3_sources
from .schedules import ScheduleFiring, ScheduleSource, schedule_enabled, schedule_sources, scheduled_event
from .ses_events import SesStandIn
from .shared import ActivityTracker, GlueError, LocalCredentials
from .sns import SnsLambdaSubscription, SnsPublishes, sns_subscriptions
from .sqs import SqsEventSource, SqsPoller, sqs_sources


@dataclass
class LambdaGlue:
    """Every function of a provisioned stack, its HTTP routes and its event sources."""

    stack: ProvisionedStack
    functions: dict[str, LocalFunction]
    routes: list[HttpRoute]
    sqs_sources: list[SqsEventSource]
    s3_sources: list[S3EventSource]
    schedules: list[ScheduleSource]
    sns_subscriptions: list[SnsLambdaSubscription] = field(default_factory=list)
    tracker: ActivityTracker = field(default_factory=ActivityTracker)
    _pollers: list[SqsPoller] = field(default_factory=list)
    _watchers: list[S3Watcher] = field(default_factory=list)
    # What AWS does after moto answers (SNS to Lambda, SES's events): request hooks in front of moto.
    _stand_ins: list[SnsPublishes | SesStandIn] = field(default_factory=list)

    @classmethod
    def from_stack(cls, stack: ProvisionedStack, repo_root: Path) -> LambdaGlue:
        functions = {
            logical_id: LocalFunction(FunctionSpec.from_stack(stack, logical_id), repo_root)
            for logical_id in stack.of_type("AWS::Lambda::Function")
        }
        by_arn = {function.spec.function_arn: function for function in functions.values()}
        by_name = {function.spec.function_name: function for function in functions.values()}
        mappings = sqs_sources(stack, by_arn, by_name)
        for source in mappings:
            source.function.max_containers = max(source.function.max_containers, source.pollers)
        return cls(
            stack,
            functions,
            http_routes(stack, by_arn),
            mappings,
            s3_sources(stack, by_arn),
            schedule_sources(stack, by_arn),
            sns_subscriptions(stack, by_arn, by_name),
        )

    def environment(self) -> dict[str, str]:
        """The union of the functions' environments; one process hosts them all, so they must agree."""
        merged: dict[str, str] = {}
        owners: dict[str, str] = {}
        for function in self.functions.values():
            for name, value in function.spec.environment.items():
                if name in merged and merged[name] != value:
                    raise GlueError(
                        f"{owners[name]} and {function.logical_id} set {name} differently; functions share one "
                        "process environment locally, so give the variable one value (or different names)"
                    )
                merged[name] = value
                owners.setdefault(name, function.logical_id)
        return merged

    def load_functions(self) -> None:
        for function in self.functions.values():
            function.load()

    def unload_functions(self) -> None:
        for function in self.functions.values():
            function.unload()

    def start_event_sources(self, clients: Callable[[str], Any], *, visibility_scale: float) -> None:
        region = self.stack.identity.region
        for source in self.sqs_sources:
            poller = SqsPoller(source, clients("sqs"), self.tracker, region=region, visibility_scale=visibility_scale)
            self._pollers.append(poller)
        for s3_source in self.s3_sources:
            self._watchers.append(S3Watcher(s3_source, clients("s3"), self.tracker, region=region))
        self._stand_ins = [
            SnsPublishes(self.sns_subscriptions, self.tracker),
            SesStandIn(self.stack, clients, self.tracker),
        ]
        for poller in self._pollers:
            poller.start()
        for watcher in self._watchers:
            watcher.start()
        for stand_in in self._stand_ins:
            stand_in.start()

    def aws_stand_ins(self, moto_app: Any) -> AwsRequestHooks:
        """moto's WSGI app with the stand-ins in front (SNS delivering to Lambda, SES's Date header and events);
        call after :meth:`start_event_sources`."""
        return AwsRequestHooks(moto_app, self._stand_ins)

    def stop_event_sources(self) -> None:
        workers: list[SqsPoller | S3Watcher | SnsPublishes | SesStandIn] = [
            *self._pollers,
            *self._watchers,
            *self._stand_ins,
        ]
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.join()
        self._pollers.clear()
        self._watchers.clear()
        self._stand_ins.clear()

    def gateway(self, credentials: LocalCredentials) -> HttpApiGateway:
        return HttpApiGateway(self.routes, credentials, self.stack.identity.account_id)

    def schedule(self, key: str) -> ScheduleSource:
        for source in self.schedules:
            if key in (source.logical_id, source.name, source.arn):
                return source
        known = ", ".join(source.logical_id for source in self.schedules) or "none"
        raise KeyError(f"no schedule {key!r} in the stack (known: {known})")

    def fire_schedule(self, key: str, clients: Callable[[str], Any], *, respect_enabled: bool) -> ScheduleFiring:
        """Deliver a schedule's event now; with ``respect_enabled`` only if the rule is enabled in moto."""
        source = self.schedule(key)
        if respect_enabled and not schedule_enabled(source, clients):
            return ScheduleFiring(source.logical_id, fired=False)
        identity = self.stack.identity
        results: list[Any] = []
        with self.tracker.working():
            for target in source.targets:
                event_text = target.input or json.dumps(
                    scheduled_event(source, account_id=identity.account_id, region=identity.region)
                )
                if target.function is not None:
                    results.append(target.function.invoke(json.loads(event_text)))
                elif target.queue_arn is not None:
                    queue_url = clients("sqs").get_queue_url(QueueName=target.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
                    clients("sqs").send_message(QueueUrl=queue_url, MessageBody=event_text)
        return ScheduleFiring(source.logical_id, fired=True, results=tuple(results))

    def wait_until_idle(self, timeout: float) -> None:
        """Return once every source queue is empty (in-flight messages included) and no handler runs."""
        deadline = time.monotonic() + timeout
        while True:
            running_before, started_before = self.tracker.snapshot()
            for watcher in self._watchers:
                watcher.scan()
            pending = {poller.source.name: poller.pending() for poller in self._pollers}
            pending |= {type(stand_in).__name__: stand_in.pending() for stand_in in self._stand_ins}
            running_after, started_after = self.tracker.snapshot()
            busy = running_before or running_after or started_after != started_before
            if not busy and not any(pending.values()):
                return
            if time.monotonic() >= deadline:
                waiting = ", ".join(f"{name}: {count}" for name, count in pending.items() if count) or "none"
                raise TimeoutError(
                    f"not idle after {timeout}s: {running_after} invocation(s) running; messages pending: {waiting}"
                )
            time.sleep(0.2)

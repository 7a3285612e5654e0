"""S3 notifications: a watcher that lists a bucket and notifies a function of created and removed objects."""

from __future__ import annotations

import fnmatch
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from ..provision import ProvisionedStack
from .functions import LocalFunction
from .shared import ActivityTracker, GlueError, log

# Lambda's async invocation default (S3 notifications): the first try plus two retries.
ASYNC_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class S3EventSource:
    """A bucket's notifications to one function: object created/removed events, filtered by prefix/suffix."""

    name: str
    function: LocalFunction
    bucket: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    @classmethod
    def from_configurations(
        cls, name: str, function: LocalFunction, bucket: str, configurations: list[Mapping[str, Any]]
    ) -> S3EventSource:
        """One source for a function's LambdaConfigurations that share a filter (one per event type)."""
        prefix = suffix = ""
        for rule in ((configurations[0].get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
            if str(rule["Name"]).lower() == "prefix":
                prefix = str(rule["Value"])
            elif str(rule["Name"]).lower() == "suffix":
                suffix = str(rule["Value"])
        events = tuple(str(configuration["Event"]) for configuration in configurations)
        return cls(name=name, function=function, bucket=bucket, events=events, prefix=prefix, suffix=suffix)

    def wants(self, event_name: str) -> bool:
        return any(fnmatch.fnmatchcase(f"s3:{event_name}", pattern) for pattern in self.events)


class S3Watcher:
    """Notices new, changed and removed objects by listing the bucket, and notifies the function.

    moto has no hook for Lambda notifications in server mode, so the bucket is polled; ``scan()``
    can also be called directly (``wait_for_queues_idle`` does) so that no upload is missed.
    """

    def __init__(self, source: S3EventSource, s3: Any, tracker: ActivityTracker, *, region: str) -> None:
        self.source = source
        self._s3 = s3
        self._tracker = tracker
        self._region = region
        self._scan_lock = threading.Lock()
        self._known = self._list()  # objects already there when the stack starts are not news
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"s3-{source.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.scan()
            except (BotoCoreError, ClientError) as exc:
                log.debug("S3 watcher %s: %r", self.source.name, exc)

    def _list(self) -> dict[str, tuple[str, datetime, int]]:
        objects: dict[str, tuple[str, datetime, int]] = {}
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.source.bucket, Prefix=self.source.prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(self.source.suffix):
                    objects[item["Key"]] = (item["ETag"].strip('"'), item["LastModified"], int(item["Size"]))
        return objects

    def scan(self) -> None:
        """Deliver one notification per object created, overwritten or removed since the last scan."""
        with self._scan_lock:
            current = self._list()
            created = [key for key, state in current.items() if self._known.get(key) != state]
            removed = [key for key in self._known if key not in current]
            self._known = current
            for key in created:
                if self.source.wants("ObjectCreated:Put"):
                    self._notify("ObjectCreated:Put", key, current[key])
            for key in removed:
                if self.source.wants("ObjectRemoved:Delete"):
                    self._notify("ObjectRemoved:Delete", key, None)

    def _notify(self, event_name: str, key: str, state: tuple[str, datetime, int] | None) -> None:
        s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": f"{time.time_ns():X}"}
        if state is not None:
            etag, _modified, size = state
            s3_object.update({"size": size, "eTag": etag})
            version = self._s3.head_object(Bucket=self.source.bucket, Key=key).get("VersionId")
            if version and version != "null":
                s3_object["versionId"] = version
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self._region,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:AIDAORCIDSYNCLOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": self.source.name,
                "bucket": {
                    "name": self.source.bucket,
                    "ownerIdentity": {"principalId": "ORCIDSYNCLOCAL"},
                    "arn": f"arn:aws:s3:::{self.source.bucket}",
                },
                "object": s3_object,
            },
        }
        with self._tracker.working():
            for attempt in range(1, ASYNC_ATTEMPTS + 1):
                try:
                    self.source.function.invoke({"Records": [record]})
                    return
                except Exception:
                    log.exception(
                        "%s failed on s3://%s/%s (attempt %d)", self.source.name, self.source.bucket, key, attempt
                    )
                    self._stop.wait(1.0)


def s3_sources(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[S3EventSource]:
    """The buckets' notifications to functions (SAM's S3 events), one source per function and filter."""
    sources: list[S3EventSource] = []
    for bucket_id, bucket in stack.of_type("AWS::S3::Bucket").items():
        notifications = stack.properties[bucket_id].get("NotificationConfiguration") or {}
        groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for configuration in notifications.get("LambdaConfigurations") or []:
            function_arn = str(configuration["Function"])
            if function_arn not in functions_by_arn:
                raise GlueError(f"{bucket_id}: notification target {function_arn} is not a function of this template")
            key = (function_arn, json.dumps(configuration.get("Filter"), sort_keys=True))
            groups.setdefault(key, []).append(configuration)
        for number, ((function_arn, _filter), configurations) in enumerate(groups.items(), start=1):
            function = functions_by_arn[function_arn]
            name = f"{bucket_id}To{function.logical_id}" + (f"{number}" if len(groups) > 1 else "")
            sources.append(S3EventSource.from_configurations(name, function, str(bucket.ref), configurations))
    return sources

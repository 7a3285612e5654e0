"""Which AWS API calls each function makes: a recorder for tests that hold the calls against the functions' roles.

moto checks no IAM, so a call a function's role does not allow passes locally and fails deployed. While a
handler runs, :func:`running_function` holds its logical id in a context variable; an
:class:`AwsCallRecorder`, while started, wraps botocore's ``BaseClient._make_api_call`` (every client on
every session: boto3's default session, Powertools' own ones) and keeps, for each call made under a
function, the service, the operation and the resource identifiers of its parameters (never the values
written). Presigned URLs are not calls and are not seen.

Off by default: without a started recorder nothing is wrapped and the context variable is merely set.
Handlers that fan out to a ``ThreadPoolExecutor`` (the push worker's researchers, the pull CSV's parts)
would lose the context variable in the pool's threads, so while recording ``submit`` hands the
function's id on to the task (only that variable: the rest of the context is left as the product has it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

_RUNNING_FUNCTION: ContextVar[str | None] = ContextVar("orcid_sync_local_running_function", default=None)

# Parameters that name what a call acts on (never item contents, message bodies or secrets).
_IDENTIFYING_PARAMETERS = (
    "TableName",
    "IndexName",
    "QueueUrl",
    "Bucket",
    "Key",
    "VersionId",
    "Prefix",
    "CopySource",
    "KeyId",
    "TopicArn",
    "SecretId",
    "Name",
    "EventBusName",
    "GroupName",
    "Namespace",
    # SES: the sending identity and the configuration set a send is authorised against (never the recipients).
    "FromEmailAddress",
    "ConfigurationSetName",
)


@contextmanager
def running_function(logical_id: str) -> Iterator[None]:
    """Marks the calls made while a handler of ``logical_id`` runs (in this thread and, when recording, its pools).

    While a recorder with ``before_invocation`` records, that runs first (see :class:`AwsCallRecorder`).
    """
    with _marked(logical_id):
        recorder = AwsCallRecorder._active
        if recorder is not None and recorder.before_invocation is not None:
            recorder.before_invocation(logical_id)
        yield


@contextmanager
def _marked(logical_id: str) -> Iterator[None]:
    token = _RUNNING_FUNCTION.set(logical_id)
    try:
        yield
    finally:
        _RUNNING_FUNCTION.reset(token)


@dataclass(frozen=True)
class AwsCall:
    """One kind of call: ``resources`` are (parameter, value) pairs; for the batch and transaction operations,
    (request kind, table) per item: ``("Put", table)`` for a TransactWriteItems Put, ``("PutRequest", table)``
    for a BatchWriteItem put, ``("Get", table)`` for TransactGetItems, ``("TableName", table)`` for BatchGetItem;
    ``("EncryptionContext:<key>", value)`` for KMS; ``("DeleteKey", key)`` for each key of DeleteObjects."""

    function: str
    service: str  # boto3's service name: dynamodb, s3, sqs, sns, kms, secretsmanager, events, cloudwatch ...
    operation: str  # the API operation: GetItem, TransactWriteItems, PutObject ...
    resources: tuple[tuple[str, str], ...]


def call_resources(operation: str, params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The identifiers of what a call acts on, from its parameters."""
    found: list[tuple[str, str]] = []
    for name in _IDENTIFYING_PARAMETERS:
        value = params.get(name)
        if isinstance(value, str):
            found.append((name, value))
        elif name == "CopySource" and isinstance(value, Mapping):
            found.append((name, f"{value.get('Bucket')}/{value.get('Key')}"))
    for item in params.get("TransactItems") or []:
        for kind, request in item.items():
            found.append((kind, str(request.get("TableName"))))
    for table, requests in (params.get("RequestItems") or {}).items():
        if isinstance(requests, list):  # BatchWriteItem: a list of PutRequest/DeleteRequest
            found.extend((kind, str(table)) for request in requests for kind in request)
        else:  # BatchGetItem: {"Keys": [...]}
            found.append(("TableName", str(table)))
    for key, value in (params.get("EncryptionContext") or {}).items():
        found.append((f"EncryptionContext:{key}", str(value)))
    if operation == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects") or []
        found.extend(("DeleteKey", str(entry.get("Key"))) for entry in objects)
    return tuple(dict.fromkeys(found))


class AwsCallRecorder:
    """Records the AWS calls the functions make while started (one recorder at a time, process-wide)."""

    _lock = threading.Lock()
    _active: AwsCallRecorder | None = None

    def __init__(self, *, before_invocation: Callable[[str], None] | None = None) -> None:
        """``before_invocation(logical_id)`` runs as each invocation starts: one process hosts every function, so
        a cache one function filled (a secret, a decrypted data key) would spare another the call it makes in its
        own container; a test clears such caches there so that each function is seen making its own calls."""
        self.before_invocation = before_invocation
        self._calls: dict[AwsCall, int] = {}
        self._calls_lock = threading.Lock()
        self._originals: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    @property
    def calls(self) -> dict[AwsCall, int]:
        """Each kind of call recorded, with how many times it was made."""
        with self._calls_lock:
            return dict(self._calls)

    def _record(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> None:
        function = _RUNNING_FUNCTION.get()
        if function is None:
            return  # the test's own calls, the glue's pollers, moto's setup
        call = AwsCall(function, client.meta.service_model.service_name, operation, call_resources(operation, params))
        with self._calls_lock:
            self._calls[call] = self._calls.get(call, 0) + 1

    def start(self) -> AwsCallRecorder:
        with AwsCallRecorder._lock:
            if AwsCallRecorder._active is not None:
                raise RuntimeError("an AwsCallRecorder is already recording")
            AwsCallRecorder._active = self
            make_api_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in the stubs
            submit = ThreadPoolExecutor.submit
            self._originals = (make_api_call, submit)
            recorder = self

            def recording_make_api_call(client: BaseClient, operation_name: str, api_params: Any) -> Any:
                recorder._record(client, operation_name, api_params or {})
                return make_api_call(client, operation_name, api_params)

            def submit_with_function(
                pool: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
            ) -> Any:
                function = _RUNNING_FUNCTION.get()
                if function is None:
                    return submit(pool, fn, *args, **kwargs)

                def run_as_function(*inner_args: Any, **inner_kwargs: Any) -> Any:
                    with _marked(function):
                        return fn(*inner_args, **inner_kwargs)

                return submit(pool, run_as_function, *args, **kwargs)

            setattr(BaseClient, "_make_api_call", recording_make_api_call)  # noqa: B010
            setattr(ThreadPoolExecutor, "submit", submit_with_function)  # noqa: B010
        return self

    def stop(self) -> None:
        with AwsCallRecorder._lock:
            if AwsCallRecorder._active is not self or self._originals is None:
                return
            make_api_call, submit = self._originals
            setattr(BaseClient, "_make_api_call", make_api_call)  # noqa: B010
            setattr(ThreadPoolExecutor, "submit", submit)  # noqa: B010
            self._originals = None
            AwsCallRecorder._active = None

    def __enter__(self) -> AwsCallRecorder:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

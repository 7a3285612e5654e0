"""The stack tier: the whole local stack *in this process* (moto from template.yaml, the ORCID sandbox, the API).

These tests look inside the stack (the glue's own machinery, white-box fuzzing with the stack's signing
key, the leak scan over every log record); the end-to-end tier (``tests/e2e``) starts the stack as a
person does instead, in a subprocess. ``local_stack`` starts once per session, on first use, and is
stopped as soon as the run leaves ``tests/stack`` (a running LocalStack owns ``os.environ``).
Only one LocalStack can run in a process: tests that start stacks of their own use
``fixture_stack`` or ``without_shared_stack``, which stop the shared stack meanwhile and start it
again afterwards (new ports, empty tables). To spare that restart, ``test_local_stack.py`` runs first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from orcid_sync_local.lambda_glue import LocalCredentials
from orcid_sync_local.stack import LocalStack

STACK_DIR = Path(__file__).resolve().parent
FIXTURE_TEMPLATE = STACK_DIR / "fixtures" / "template.yaml"
OWN_STACK_MODULE = STACK_DIR / "test_local_stack.py"
_session_stack: list[LocalStack] = []


def _in_stack_tier(item: pytest.Item) -> bool:
    return STACK_DIR in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every stack-tier test, and run the tests that start their own stacks before any that share one."""
    for item in items:
        if _in_stack_tier(item):
            item.add_marker(pytest.mark.stack)
    first = [item for item in items if Path(str(item.path)).resolve() == OWN_STACK_MODULE]
    if first:
        start = next(index for index, item in enumerate(items) if _in_stack_tier(item))
        rest = [item for item in items if item not in first]
        items[:] = [*rest[:start], *first, *rest[start:]]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared stack whenever the run leaves the stack tier (xdist may bring it back later)."""
    if _in_stack_tier(item) and (nextitem is None or not _in_stack_tier(nextitem)):
        for stack in _session_stack:
            stack.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for stack in _session_stack:
        stack.stop()


@pytest.fixture(scope="module")
def local_stack() -> LocalStack:
    """The whole stack from template.yaml with the local ORCID sandbox, shared by the stack-tier tests.

    One per process, started on first use and again for a module after the run left the tier (a
    restart has new ports and empty tables, so modules never depend on each other's data).
    """
    if not _session_stack:
        _session_stack.append(LocalStack())
    stack = _session_stack[0]
    if not stack.running:
        stack.start()
    return stack


@contextmanager
def _shared_stack_paused() -> Iterator[None]:
    paused = [stack for stack in _session_stack if stack.running]
    for stack in paused:
        stack.stop()
    try:
        yield
    finally:
        for stack in paused:
            stack.start()


@pytest.fixture(scope="class")
def fixture_stack() -> Iterator[LocalStack]:
    """A stack from ``tests/stack/fixtures/template.yaml`` (small fixture functions), for one test class."""
    with (
        _shared_stack_paused(),
        LocalStack(template_path=FIXTURE_TEMPLATE, parameters={"Greeting": "bonjour"}) as stack,
    ):
        yield stack


@pytest.fixture
def without_shared_stack() -> Iterator[None]:
    """For a test that starts (and stops) a LocalStack itself."""
    with _shared_stack_paused():
        yield


@pytest.fixture
def iam_request() -> Callable[..., requests.Response]:
    """``iam_request(method, url, credentials, body=..., headers=...)``: a SigV4-signed request (see signed_request)."""
    return signed_request


def signed_request(
    method: str,
    url: str,
    credentials: LocalCredentials,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> requests.Response:
    """Send a request signed with SigV4 for execute-api, as an IAM-authorised caller of the admin API does."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key), "execute-api", credentials.region
    )
    signer.add_auth(request)
    prepared: dict[str, Any] = dict(request.headers.items())
    return requests.request(method, url, data=body, headers=prepared, timeout=timeout)

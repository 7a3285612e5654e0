"""Stand-ins that act on the AWS requests moto serves: what the real service does beyond what moto does.

moto answers each API call; some services do more once they have answered: SNS delivers a published message to its
Lambda subscribers, SES sets the ``Date`` header and publishes the events of its configuration sets. A
:class:`AwsRequestHooks` sits in front of moto's WSGI app (``AtomicDynamoDbMotoServer.wrap``) and gives each hook
the requests of its service: ``before`` may refuse a request as the service would (an answer in the service's error
shape) or change its body; ``after`` sees moto's answer. Requests no hook wants pass straight through (an SQS long
poll is never held up).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .shared import log

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


@dataclass
class AwsRequest:
    """One request to moto, its body read (a hook may replace it)."""

    service: str  # the SigV4 credential scope's service: sns, ses, sqs ...
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    notes: dict[str, Any] = field(default_factory=dict)
    """What a hook's ``before`` keeps for its ``after``."""


@dataclass(frozen=True)
class AwsAnswer:
    """An answer: moto's, or a hook's refusal."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class AwsRequestHook(Protocol):
    services: frozenset[str]

    def before(self, request: AwsRequest) -> AwsAnswer | None:
        """A refusal (returned to the caller, moto never sees the request), or None to go on."""

    def after(self, request: AwsRequest, answer: AwsAnswer) -> None:
        """moto answered ``request`` with ``answer``; act on it (never raise into the caller's request)."""


class AwsRequestHooks:
    """WSGI middleware in front of moto that runs the hooks of each request's service."""

    def __init__(self, app: Callable[..., Iterable[bytes]], hooks: Sequence[AwsRequestHook]) -> None:
        self._app = app
        self._hooks = list(hooks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        service = scope.group(1) if scope else ""
        hooks = [hook for hook in self._hooks if service in hook.services]
        if not hooks:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = AwsRequest(
            service=service,
            method=str(environ.get("REQUEST_METHOD", "GET")),
            path=str(environ.get("PATH_INFO", "")),
            query=str(environ.get("QUERY_STRING", "")),
            headers={
                key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key[:5] == "HTTP_"
            },
            body=environ["wsgi.input"].read(length) if length else b"",
        )
        for hook in hooks:
            refusal = hook.before(request)
            if refusal is not None:
                return _respond(refusal, start_response)
        answer = self._call_moto(environ, request)
        for hook in hooks:
            try:
                hook.after(request, answer)
            except Exception:
                log.exception("the %s stand-in failed after %s %s", service, request.method, request.path)
        return _respond(answer, start_response)

    def _call_moto(self, environ: dict[str, Any], request: AwsRequest) -> AwsAnswer:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(request.body)
        inner["CONTENT_LENGTH"] = str(len(request.body))
        result = self._app(inner, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return AwsAnswer(int(str(captured["status"]).split(" ", 1)[0]), headers, body)


def _respond(answer: AwsAnswer, start_response: Callable[..., Any]) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(answer.status, "Status")
    start_response(f"{answer.status} {reason}", [*answer.headers, ("Content-Length", str(len(answer.body)))])
    return [answer.body]

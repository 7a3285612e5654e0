"""The Tracer built by the first traced call: decorators applied at import, Powertools' own tracing at run time."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from orcid_sync import observability
from orcid_sync.observability import TracerOnFirstUse


class RecordingTracer:
    """Stands in for Powertools' Tracer: records what it was asked to wrap and each traced call."""

    disabled = False

    def __init__(self) -> None:
        self.decorated: list[tuple[str, str, dict[str, Any]]] = []
        self.calls: list[str] = []

    def _wrap(self, kind: str, function: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        self.decorated.append((kind, function.__name__, options))

        def traced(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(function.__name__)
            return function(*args, **kwargs)

        return traced

    # As Powertools': called with options only, each returns the decorator.
    def capture_lambda_handler(self, handler: Callable[..., Any] | None = None, **options: Any) -> Callable[..., Any]:
        if handler is None:
            return lambda function: self._wrap("handler", function, options)
        return self._wrap("handler", handler, options)

    def capture_method(self, method: Callable[..., Any] | None = None, **options: Any) -> Callable[..., Any]:
        if method is None:
            return lambda function: self._wrap("method", function, options)
        return self._wrap("method", method, options)

    def put_annotation(self, key: str, value: object) -> None:
        self.calls.append(f"annotation {key}={value}")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[RecordingTracer]:
    tracers: list[RecordingTracer] = []

    def build() -> RecordingTracer:
        tracers.append(RecordingTracer())
        return tracers[-1]

    monkeypatch.setattr(observability, "_build_tracer", build)
    return tracers


def test_decorating_builds_nothing_and_the_first_call_builds_the_tracer_once(built: list[RecordingTracer]) -> None:
    # Given a handler and a method decorated as the functions' modules do at import
    tracer = TracerOnFirstUse()

    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: object) -> str:
        return f"handled {event['n']}"

    @tracer.capture_method(capture_response=False)
    def record_handler(record: str, lambda_context: object | None = None) -> str:
        return record.upper()

    # Then no Tracer exists yet
    assert built == []

    # When they run, twice each
    results = [lambda_handler({"n": 1}, None), record_handler("a"), lambda_handler({"n": 2}, None), record_handler("b")]

    # Then they answer as undecorated, through one Tracer's decorators built once each, with the options given
    assert results == ["handled 1", "A", "handled 2", "B"]
    assert len(built) == 1
    assert built[0].decorated == [
        ("handler", "lambda_handler", {"capture_response": False, "capture_error": None}),
        ("method", "record_handler", {"capture_response": False, "capture_error": None}),
    ]
    assert built[0].calls == ["lambda_handler", "record_handler", "lambda_handler", "record_handler"]


def test_the_decorated_function_keeps_its_signature(built: list[RecordingTracer]) -> None:
    # Powertools' batch processor passes the Lambda context only to a record handler that names it
    tracer = TracerOnFirstUse()

    @tracer.capture_method
    def record_handler(record: str, lambda_context: object | None = None) -> str:
        return record

    assert "lambda_context" in inspect.signature(record_handler).parameters
    assert record_handler.__name__ == "record_handler"
    assert built == []


def test_other_attributes_are_the_real_tracers(built: list[RecordingTracer]) -> None:
    tracer = TracerOnFirstUse()

    tracer.put_annotation("job", "j1")

    assert tracer.disabled is False
    assert len(built) == 1
    assert built[0].calls == ["annotation job=j1"]


def test_the_real_tracer_is_powertools_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside Lambda (no LAMBDA_TASK_ROOT) Powertools disables its Tracer; the one built is still Powertools'
    from aws_lambda_powertools import Tracer

    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    tracer = TracerOnFirstUse()

    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: object) -> int:
        return record_handler(event["n"])

    @tracer.capture_method(capture_response=False, capture_error=True)
    def record_handler(n: int) -> int:
        return n + 1

    # Powertools' own decorators, built by the first call, answer as the undecorated functions
    assert lambda_handler({"n": 1}, None) == 2
    assert isinstance(tracer.start(), Tracer)
    assert tracer.start() is tracer.start()
    assert tracer.disabled

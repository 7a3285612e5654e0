"""One shared set of Powertools utilities; service name and namespace come from POWERTOOLS_* env vars.

The template turns Active tracing on, so on Lambda Powertools' Tracer is live: building it imports the
X-Ray SDK (and asyncio with it) and patches the libraries whose calls become subsegments. That happens
when a handler first runs, not when its module is imported (:class:`TracerOnFirstUse`): the cost is the
same, paid once per container, but it leaves the import, whose time ``make bench`` holds against a bare
``import boto3``. It patches only the libraries this code calls: botocore when the tracer is built (every
function uses boto3), and requests when something first imports it (the ORCID client), so a function that
never calls ORCID never imports requests. Powertools' default, ``patch_all``, would import requests and
sqlite3 and try a dozen database drivers at every cold start; the traces are the same.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools import Tracer

# The libraries whose calls show as subsegments: AWS (botocore) and ORCID (requests).
PATCHED_NOW = ("botocore",)
PATCHED_WHEN_IMPORTED = ("requests",)


class TracerOnFirstUse:
    """Powertools' Tracer, built by the first traced call instead of at import.

    The decorators are applied at import, as with the Tracer itself; each builds the real Tracer's
    decorator the first time its function runs and calls through it from then on, so every invocation is
    traced exactly as Powertools traces it. Any other attribute (``put_annotation``, ``disabled``, ...) is
    the real Tracer's, built on the spot.
    """

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    def start(self) -> Tracer:
        """The Tracer, built (botocore patched, requests on import) on the first call of the container."""
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    self._tracer = _build_tracer()
        return self._tracer

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        return self._traced("capture_lambda_handler", lambda_handler, capture_response, capture_error)

    def capture_method(
        self,
        method: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        return self._traced("capture_method", method, capture_response, capture_error)

    def _traced(
        self,
        decorator: str,
        function: Callable[..., Any] | None,
        capture_response: bool | None,
        capture_error: bool | None,
    ) -> Callable[..., Any]:
        """Powertools' ``decorator`` with these options, applied to ``function`` when it first runs."""
        if function is None:  # used with options only: the decorator itself
            return functools.partial(
                self._traced, decorator, capture_response=capture_response, capture_error=capture_error
            )
        options = {"capture_response": capture_response, "capture_error": capture_error}
        return self._on_first_call(function, lambda tracer: getattr(tracer, decorator)(**options)(function))

    def _on_first_call(
        self, function: Callable[..., Any], decorate: Callable[[Tracer], Callable[..., Any]]
    ) -> Callable[..., Any]:
        traced: Callable[..., Any] | None = None

        # functools.wraps keeps the signature visible (Powertools' batch processor looks for ``lambda_context``).
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = decorate(self.start())
            return traced(*args, **kwargs)

        return call

    def __getattr__(self, name: str) -> Any:
        return getattr(self.start(), name)


def _build_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 - the X-Ray SDK comes with it when tracing is live

    tracer = Tracer(patch_modules=PATCHED_NOW)
    if not tracer.disabled:
        for name in PATCHED_WHEN_IMPORTED:
            _patch_on_import(tracer, name)
    return tracer


def _patch_on_import(tracer: Tracer, module_name: str) -> None:
    import wrapt  # noqa: PLC0415 - the X-Ray SDK's own dependency, needed only when tracing is live

    def patch(_module: object) -> None:
        tracer.patch([module_name])

    # Called at once if the module is already imported, else right after its first import.
    wrapt.register_post_import_hook(patch, module_name)


logger = Logger()
tracer = TracerOnFirstUse()
metrics = Metrics()

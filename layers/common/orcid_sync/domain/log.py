"""The domain's logger: structured fields through the standard library, shown by the function's Powertools Logger.

The domain must not import Powertools (its package imports Metrics, and with it CloudWatch's shapes), so use
cases log through a child of the stdlib logger that Powertools' ``Logger`` configures for the service
(``POWERTOOLS_SERVICE_NAME``). A record propagates to that logger's handler, whose JSON formatter writes the
``extra`` fields, the appended keys (job id, correlation id) and the Lambda context like any other line. Kept
our own on purpose: it is the few lines that let ``logger.info("...", job_id=...)`` keep its shape without it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

_UNDEFINED_SERVICE = "service_undefined"  # Powertools' own name when POWERTOOLS_SERVICE_NAME is unset


class DomainLogger:
    """``logger.info("what happened", field=value, ...)``: the message, and the fields as structured keys."""

    def _logger(self) -> logging.Logger:
        # Resolved per call: the service name is the function's environment, which the local stack sets late.
        service = os.environ.get("POWERTOOLS_SERVICE_NAME") or _UNDEFINED_SERVICE
        return logging.getLogger(f"{service}.domain")

    def debug(self, message: str, **fields: Any) -> None:
        self._logger().debug(message, extra=fields, stacklevel=2)

    def info(self, message: str, **fields: Any) -> None:
        self._logger().info(message, extra=fields, stacklevel=2)

    def warning(self, message: str, **fields: Any) -> None:
        self._logger().warning(message, extra=fields, stacklevel=2)

    def error(self, message: str, **fields: Any) -> None:
        self._logger().error(message, extra=fields, stacklevel=2)

    def exception(self, message: str, **fields: Any) -> None:
        self._logger().exception(message, extra=fields, stacklevel=2)


logger = DomainLogger()

"""Fixtures shared by every test tier: the functions' Powertools settings, the ``shared`` folder, a Lambda context."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.template_env import powertools_environment


def _apply_the_functions_powertools_settings() -> None:
    """Give the process the functions' Powertools settings before anything imports the product.

    orcid_sync.observability builds its Metrics/Logger/Tracer when first imported, reading POWERTOOLS_*:
    the values are template.yaml's (its Globals), through the SAM transform, never written here. Only what
    the template cannot know is set: no X-Ray daemon runs, and boto3 needs a region. This runs when this
    file is loaded, not in ``pytest_configure``: the conftest files below it are loaded (and import the
    product) before pytest configures itself.
    """
    os.environ.update(powertools_environment())
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


_apply_the_functions_powertools_settings()

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
"""ORCID schemas, samples, enums and the Esploro tables; CI always has it beside the repository."""


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared`` folder; tests that need it fail (not skip) when it is missing."""
    assert SHARED_DIR.is_dir(), f"{SHARED_DIR} is missing; it must sit beside the repository"
    return SHARED_DIR


@dataclass(frozen=True)
class FakeLambdaContext:
    """The parts of the Lambda context Powertools reads."""

    function_name: str = "orcid-sync-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orcid-sync-test"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        """A fixed budget, so idempotency and batch utilities see time left."""
        return 300_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A Lambda context for calling handlers in-process."""
    return FakeLambdaContext()

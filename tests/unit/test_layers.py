"""The layout is the architecture: the domain loads no AWS SDK, HTTP client or metrics, and no arrow points up.

``make lint`` runs the same import-linter contracts (pyproject.toml); this test keeps ``make test`` honest too.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import orcid_sync.domain

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_THE_DOMAIN = ("boto3", "botocore", "requests", "aws_lambda_powertools.metrics")
ADAPTER_FACING = {
    # Models, ports and value types: what an adapter implements or stores. Every other domain module is a use
    # case, named in pyproject.toml's "Adapters ... never call a use case" contract.
    # The audit entry, page and port, and record_action: builds one entry and stores it, no other port.
    "orcid_sync.domain.audit",
    "orcid_sync.domain.batches",
    "orcid_sync.domain.errors",
    "orcid_sync.domain.identifiers",
    "orcid_sync.domain.invitations",
    "orcid_sync.domain.invitations.models",
    "orcid_sync.domain.invitations.ports",
    "orcid_sync.domain.institution_settings",
    "orcid_sync.domain.log",
    "orcid_sync.domain.models",
    "orcid_sync.domain.ports",
    "orcid_sync.domain.redaction",
    "orcid_sync.domain.retry_policy",
    "orcid_sync.domain.type_mapping",
    "orcid_sync.domain.connect",
    "orcid_sync.domain.console",
    "orcid_sync.domain.console.ports",
    "orcid_sync.domain.feeds",
    "orcid_sync.domain.feeds.mapping",
    "orcid_sync.domain.feeds.metadata",
    "orcid_sync.domain.feeds.models",
    "orcid_sync.domain.feeds.ports",
    "orcid_sync.domain.feeds.record_fields",
    "orcid_sync.domain.feeds.record_identifiers",
    "orcid_sync.domain.jobs",
    "orcid_sync.domain.jobs.models",
    "orcid_sync.domain.jobs.ports",
    "orcid_sync.domain.jobs.store",
    "orcid_sync.domain.me",
    "orcid_sync.domain.me.ports",
    "orcid_sync.domain.orcid",
    "orcid_sync.domain.orcid.errors",
    "orcid_sync.domain.orcid.models",
    "orcid_sync.domain.orcid.notifications",
    "orcid_sync.domain.orcid.vocabulary",
    "orcid_sync.domain.pull",
    "orcid_sync.domain.pull.files",
    "orcid_sync.domain.pull.ledger",
    "orcid_sync.domain.push",
    "orcid_sync.domain.push.leases",
    "orcid_sync.domain.push.ledger",
    "orcid_sync.domain.push.orcid_port",
    "orcid_sync.domain.tokens",
    "orcid_sync.domain.tokens.crypto",
    "orcid_sync.domain.tokens.upload_models",
}


def _domain_modules() -> list[str]:
    return sorted(
        module.name
        for module in pkgutil.walk_packages(orcid_sync.domain.__path__, prefix="orcid_sync.domain.")
        if not module.name.rsplit(".", 1)[-1].startswith("__")
    )


def _use_cases() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        contract
        for contract in config["tool"]["importlinter"]["contracts"]
        if contract.get("source_modules") == ["orcid_sync.adapters"] and contract["type"] == "forbidden"
    ]
    return set(contract["forbidden_modules"])


def test_the_domain_has_modules_to_check() -> None:
    # A walk that finds nothing would make the next test pass for nothing.
    assert len(_domain_modules()) >= 20


@pytest.mark.parametrize("module", _domain_modules())
def test_a_domain_module_imports_no_sdk_http_client_or_metrics(module: str) -> None:
    """Each module alone, in a fresh interpreter: what it loads is what a use case costs and depends on."""
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([name for name in {FORBIDDEN_IN_THE_DOMAIN!r} if name in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
    )
    assert json.loads(result.stdout) == [], f"{module} loads {result.stdout.strip()}"


def test_every_domain_module_is_either_a_use_case_or_adapter_facing() -> None:
    """A new module must be placed: otherwise an adapter could call it and no contract would notice."""
    modules, use_cases = set(_domain_modules()), _use_cases()
    assert not (use_cases & ADAPTER_FACING), "a module cannot be both"
    assert modules - use_cases - ADAPTER_FACING == set(), "add these to pyproject.toml's list or to ADAPTER_FACING"
    assert (use_cases | ADAPTER_FACING) - modules == set(), "these no longer exist"


def test_no_import_points_from_a_lower_layer_to_a_higher_one() -> None:
    """import-linter's contracts (handlers → composition → adapters → domain; adapters call no use case)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

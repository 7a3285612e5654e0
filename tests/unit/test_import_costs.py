"""What importing a handler module loads: the structural facts that keep the cold start short.

Each function's handler module is imported in a fresh interpreter, as Lambda does at a cold start: its
code directory and the layer's source on ``sys.path``, the template's Powertools settings, and tracing
live as on AWS (``Tracing: Active``: ``LAMBDA_TASK_ROOT`` set, no ``POWERTOOLS_TRACE_DISABLED``). The
checks are facts about which modules are loaded, never timings (``make bench`` measures those):

- no handler imports Jinja2 or cryptography's ciphers: the pages' environment and the token cipher import
  them when first used;
- requests (with the ORCID client) and ORCID's models are imported only by the functions whose module-level
  code needs them;
- the X-Ray SDK is not loaded by the import: the live Tracer is built by the first traced call, which patches
  botocore, and requests when requests is first imported, and loads none of the other libraries Powertools'
  ``patch_all`` would (sqlite3 among them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from orcid_sync_local.template import CfnYamlLoader
from tests.support.template_env import powertools_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
LAYER = REPO_ROOT / "layers" / "common"

NEVER_AT_IMPORT = (
    "aws_xray_sdk",
    "jinja2",
    "cryptography.hazmat.primitives.ciphers",
    "sqlite3",
    "aws_xray_sdk.ext.sqlite3",
    "aws_xray_sdk.ext.httpx",
)
ORCID_CLIENT = ("requests", "orcid_sync.adapters.orcid_api.client")
ORCID_MODELS = ("orcid_sync.domain.orcid.models",)
# The OAI-PMH client (pyoai over lxml, and requests): built by composition.oai_harvester() on first use.
OAI_CLIENT = ("lxml", "oaipmh", "orcid_sync.adapters.oai_pmh")
# What each function may not import at cold start, beyond NEVER_AT_IMPORT. The push worker's module-level
# code names the ORCID client's request statistics, so it imports the client; every function but the
# connect pages and the token import reads ORCID-shaped settings or plans works at module level.
NOT_AT_IMPORT: dict[str, tuple[str, ...]] = {
    "AdminApiFunction": ORCID_CLIENT + OAI_CLIENT,
    "ConnectFunction": ORCID_CLIENT + ORCID_MODELS,
    # The console: PyJWT only when someone signs in (the callback), the ORCID client never.
    "ConsoleFunction": ORCID_CLIENT + OAI_CLIENT + ("jwt",),
    "FeedHarvesterFunction": ORCID_CLIENT + ORCID_MODELS + OAI_CLIENT,
    "JobSchedulerFunction": ORCID_CLIENT + OAI_CLIENT,
    "PullWorkerFunction": ORCID_CLIENT,
    "PushWorkerFunction": (),
    "TokenImportFunction": ORCID_CLIENT + ORCID_MODELS,
    # Invitations: e-mail through SES, never ORCID or a feed; the mail-events function only marks addresses.
    "InvitationWorkerFunction": ORCID_CLIENT + ORCID_MODELS + OAI_CLIENT,
    "MailEventsFunction": ORCID_CLIENT + ORCID_MODELS + OAI_CLIENT,
}

_PROBE = textwrap.dedent(
    """
    import importlib, json, sys

    importlib.import_module(sys.argv[1])
    watched = json.loads(sys.argv[2])
    loaded = sorted(name for name in watched if name in sys.modules)
    from orcid_sync.observability import tracer
    tracer.start()  # what the handler's first invocation does
    import botocore.client
    botocore_patched = hasattr(botocore.client.BaseClient.__dict__["_make_api_call"], "__wrapped__")
    import requests
    requests_patched = hasattr(requests.Session.__dict__["request"], "__wrapped__")
    print(json.dumps({
        "loaded": loaded,
        "tracing": not tracer.disabled,
        "botocore_patched": botocore_patched,
        "requests_patched": requests_patched,
    }))
    """
)


def _functions() -> dict[str, tuple[Path, str]]:
    """Each function's code directory and handler module, from template.yaml."""
    body = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # a SafeLoader subclass
    found = {}
    for logical_id, resource in body["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource["Properties"]
            found[logical_id] = (REPO_ROOT / properties["CodeUri"], str(properties["Handler"]).rpartition(".")[0])
    return found


def _import_as_on_lambda(code_dir: Path, module: str, watched: list[str], tmp_path: Path) -> dict[str, Any]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(code_dir), str(LAYER)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "import-costs",
        # What Lambda sets with Active tracing: Powertools' Tracer is live (nothing is sent at import).
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        **powertools_environment(),
    }
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(watched)],
        cwd=code_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_every_function_has_its_import_facts() -> None:
    # Given the template's functions, then each has a row here: a new function needs a decision on what it loads
    assert set(_functions()) == set(NOT_AT_IMPORT)


def test_the_template_turns_tracing_on() -> None:
    # The facts below are checked with the live Tracer because that is how the functions run on AWS
    body = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # a SafeLoader subclass
    assert body["Globals"]["Function"]["Tracing"] == "Active"


@pytest.mark.parametrize("function_id", sorted(NOT_AT_IMPORT))
def test_a_cold_start_loads_only_what_the_handler_module_needs(function_id: str, tmp_path: Path) -> None:
    # Given the function's handler module, imported as Lambda imports it, with tracing live
    code_dir, module = _functions()[function_id]
    watched = [*NEVER_AT_IMPORT, *NOT_AT_IMPORT[function_id]]

    # When a fresh interpreter imports it (then builds the Tracer as the first invocation does, and imports
    # requests, as the ORCID client does when first used)
    result = _import_as_on_lambda(code_dir, module, watched, tmp_path)

    # Then none of the modules it does not need at module level is loaded
    assert result["tracing"], "the Tracer should be live, as on Lambda"
    assert result["loaded"] == []
    # ... and tracing covers the same calls as Powertools' patch_all: AWS at once, ORCID once requests is imported
    assert result["botocore_patched"]
    assert result["requests_patched"]

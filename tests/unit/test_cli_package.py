"""The CLI is a package of its own: it imports neither the layer nor the local stack, and starts fast."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

from orcid_sync import __version__ as layer_version
from orcid_sync.domain.orcid.vocabulary import WORK_TYPE_ALIASES
from orcid_sync.domain.tokens import rows as layer_tokens
from orcid_sync.domain.type_mapping import WorkTypeMapping
from orcid_sync_cli import __version__, mapping_cmd, token_files

REPO = Path(__file__).resolve().parents[2]
NEVER = ("moto", "flask", "werkzeug", "orcid_sync_local", "orcid_sync")
"""Top-level packages an administrator's install must not need."""
NOT_FOR_HELP = ("boto3", "botocore", "requests", "rich", "urllib3")
"""Imported by the commands that use them, not by ``--help``."""


def imported(code: str) -> set[str]:
    """Every top-level package a fresh interpreter imports to run ``code`` (from ``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO / "cli",  # not the repository root, where tests/ and functions/ are importable
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, flags=re.MULTILINE)
    return {name.split(".")[0] for name in names}


def test_importing_the_cli_imports_no_layer_and_no_local_stack() -> None:
    modules = imported("import orcid_sync_cli.main")
    assert not modules & set(NEVER), sorted(modules & set(NEVER))
    assert not modules & set(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))


def test_help_loads_every_command_without_the_heavy_libraries() -> None:
    modules = imported(
        "import sys; from orcid_sync_cli.main import cli; sys.argv = ['orcid-sync', '--help']\n"
        "try:\n    cli()\nexcept SystemExit:\n    pass\n"
        "for name in ('jobs', 'settings', 'researchers'):\n"
        "    try:\n        cli([name, '--help'])\n    except SystemExit:\n        pass"
    )
    assert "orcid_sync_cli" in modules
    assert not modules & set(NEVER + NOT_FOR_HELP), sorted(modules & set(NEVER + NOT_FOR_HELP))


def test_the_packaged_mapping_is_the_layers_table() -> None:
    packaged = resources.files("orcid_sync_cli").joinpath("esploro-work-types.csv").read_bytes()
    assert packaged == (REPO / "layers/common/orcid_sync/data/esploro-work-types.csv").read_bytes()
    assert mapping_cmd.WORK_TYPE_ALIASES == WORK_TYPE_ALIASES
    assert [(row["asset_type"], row["work_type"]) for row in mapping_cmd.default_mapping()] == (
        WorkTypeMapping().items()
    )


def test_token_header_rules_are_the_layers() -> None:
    assert token_files.REQUIRED_COLUMNS == layer_tokens._REQUIRED_COLUMNS


def test_versions_agree() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == layer_version == root
    cli_project = tomllib.loads((REPO / "cli/pyproject.toml").read_text())["project"]
    assert cli_project["name"] == "orcid-sync-cli"
    assert cli_project["scripts"] == {"orcid-sync": "orcid_sync_cli.main:cli"}
    assert {re.split(r"[<>=!~]", spec)[0] for spec in cli_project["dependencies"]} == {
        "click",
        "rich",
        "requests",
        "boto3",
    }


def test_the_declared_ranges_hold_the_developer_pins() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins.update(
        line.split("==", 1)
        for line in (REPO / "layers/common/requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for spec in tomllib.loads((REPO / "cli/pyproject.toml").read_text())["project"]["dependencies"]:
        name, lower, upper = re.fullmatch(r"([a-z0-9-]+)>=([\d.]+),<([\d.]+)", spec).groups()  # type: ignore[union-attr]
        pinned = tuple(int(part) for part in pins[name].split("."))
        assert tuple(int(p) for p in lower.split(".")) <= pinned < tuple(int(p) for p in upper.split(".")), spec

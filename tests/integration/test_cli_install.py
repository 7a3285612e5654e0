"""``pip install ./cli`` on an administrator's laptop: the CLI with its four dependencies, nothing of the stack."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_cli_installs_on_its_own_and_runs(tmp_path: Path) -> None:
    # Given a fresh venv (no pip of its own: the developer venv's pip installs into it) and a copy of cli/
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    source = shutil.copytree(REPO / "cli", tmp_path / "cli", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    python = venv / "bin" / "python"
    # When the CLI is installed from it
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check",
         str(source)],
        check=True,
        timeout=300,
    )  # fmt: skip
    # Then `orcid-sync` runs: its help, and the default mapping shipped with it
    environment = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    helped = subprocess.run(
        [str(venv / "bin" / "orcid-sync"), "--help"], capture_output=True, text=True, env=environment, check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert "researchers" in helped.stdout and "jobs" in helped.stdout
    mapping = subprocess.run(
        [str(venv / "bin" / "orcid-sync"), "mapping"], capture_output=True, text=True, env=environment, check=False
    )
    assert mapping.returncode == 0, mapping.stderr
    assert "publication.journalArticle,journal-article" in mapping.stdout.splitlines()
    # And neither the layer, nor the local stack, nor their libraries came with it
    absent = "moto", "flask", "werkzeug", "orcid_sync", "orcid_sync_local", "aws_lambda_powertools", "pydantic"
    probe = "import importlib.util as u, sys; print(' '.join(n for n in sys.argv[1:] if u.find_spec(n)))"
    found = subprocess.run(
        [str(python), "-c", probe, *absent], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert found.stdout.split() == []
    # `orcid-sync local` says, in one line, where the local stack lives
    local = subprocess.run(
        [str(venv / "bin" / "orcid-sync"), "local", "up"], capture_output=True, text=True, env=environment, check=False
    )
    assert local.returncode == 3
    assert local.stderr.strip().count("\n") == 0 and "development install" in local.stderr

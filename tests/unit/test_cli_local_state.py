"""``--local`` and the local stack's state file: found from here or a parent, its credentials sign, never copied."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from orcid_sync_cli import errors
from orcid_sync_cli.main import cli
from orcid_sync_local import cli as local_cli

LOCAL_API = "http://127.0.0.1:18080"
KEY_ID = "AKIAORCIDSYNCLOCAL01"
STATE = {
    "api_url": LOCAL_API,
    "orcid_url": "http://127.0.0.1:18081",
    "aws_endpoint_url": "http://127.0.0.1:18082",
    "client_id": "APP-LOCAL00000000001",
    "region": "us-east-1",
    "aws_access_key_id": KEY_ID,
    "aws_secret_access_key": "orcid-sync-local-dummy-secret-access-key",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory where `orcid-sync-local up` wrote its state, and a shell with no AWS configuration."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ORCID_SYNC_API_URL", "ORCID_SYNC_LOCAL_STATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")  # must not matter for the local stack
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    local_cli.write_state(tmp_path / ".orcid-sync" / "local.json", {**STATE, "pid": os.getpid()})
    (tmp_path / "examples").mkdir()
    monkeypatch.chdir(tmp_path / "examples")  # a subdirectory: the file is found in a parent
    return tmp_path


@pytest.fixture
def local_api(project: Path) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{LOCAL_API}/jobs/schedules", json=[])
        yield mock


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def signed_with(mock: responses.RequestsMock) -> str:
    authorization: str = mock.calls[-1].request.headers["Authorization"]
    return authorization


def test_local_signs_with_the_state_files_credentials(local_api: responses.RequestsMock) -> None:
    result = run("jobs", "status", "--local", "-o", "json")
    assert result.exit_code == 0, result.output
    assert f"Credential={KEY_ID}/" in signed_with(local_api)
    assert "/us-east-1/execute-api/" in signed_with(local_api)


def test_the_api_url_of_the_local_stack_uses_its_credentials(local_api: responses.RequestsMock) -> None:
    # As the README says: export ORCID_SYNC_API_URL=<the URL up printed>, no keys
    result = run("jobs", "status", env={"ORCID_SYNC_API_URL": LOCAL_API + "/"})
    assert result.exit_code == 0, result.output
    assert f"Credential={KEY_ID}/" in signed_with(local_api)
    assert run("jobs", "status", "--api", LOCAL_API).exit_code == 0
    # --local wins over an exported URL of another stack
    assert run("jobs", "status", "--local", env={"ORCID_SYNC_API_URL": "https://elsewhere.test"}).exit_code == 0


def test_the_state_file_can_be_named(local_api: responses.RequestsMock, project: Path, tmp_path_factory: Any) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "stack.json"
    (project / ".orcid-sync" / "local.json").rename(elsewhere)
    assert run("jobs", "status", "--local").exit_code == errors.NOT_FOUND
    assert run("jobs", "status", "--local", env={"ORCID_SYNC_LOCAL_STATE": str(elsewhere)}).exit_code == 0


def test_no_local_stack(project: Path) -> None:
    (project / ".orcid-sync" / "local.json").unlink()
    result = run("jobs", "status", "--local")
    assert result.exit_code == errors.NOT_FOUND
    assert "no local stack found" in result.stderr and "orcid-sync-local up" in result.stderr


def test_a_stopped_local_stack(project: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    local_cli.write_state(project / ".orcid-sync" / "local.json", {**STATE, "pid": int(dead.stdout)})
    result = run("jobs", "status", "--local")
    assert result.exit_code == errors.NOT_FOUND
    assert "is not running" in result.stderr


def test_the_state_file_is_private_and_removed_only_by_its_stack(tmp_path: Path) -> None:
    path = local_cli.write_state(tmp_path / "state" / "local.json", {**STATE, "pid": os.getpid()})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {**STATE, "pid": os.getpid()}
    # Another stack took the file over: this one leaves it
    path.write_text(json.dumps({**STATE, "pid": 1}))
    local_cli.remove_state(path)
    assert path.exists()
    local_cli.write_state(path, {**STATE, "pid": os.getpid()})
    local_cli.remove_state(path)
    assert not path.exists()


def test_a_running_stacks_state_file_is_not_taken_over(tmp_path: Path) -> None:
    # Given a state file naming another running local stack (a process whose command line says so)
    path = tmp_path / "local.json"
    stack = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "orcid_sync_local"])
    try:
        deadline = time.monotonic() + 10
        while b"orcid_sync_local" not in Path(f"/proc/{stack.pid}/cmdline").read_bytes():  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        path.write_text(json.dumps({**STATE, "pid": stack.pid}))
        # When another stack starts with the same state file, it leaves it as it is
        assert local_cli.write_state(path, {**STATE, "api_url": "http://127.0.0.1:1", "pid": os.getpid()}) is None
        assert json.loads(path.read_text())["pid"] == stack.pid
    finally:
        stack.kill()
        stack.wait()
    # A stale one (its process gone) is replaced
    assert local_cli.write_state(path, {**STATE, "pid": os.getpid()}) == path
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_next_commands_run_from_where_the_stack_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_cli, "_cli_command", lambda: ".venv/bin/orcid-sync")
    assert local_cli.next_commands(seeded=True, examples=True) == [
        ".venv/bin/orcid-sync researchers load examples/researchers.csv --local",
        ".venv/bin/orcid-sync researchers show grace --local",
        ".venv/bin/orcid-sync connect-link ada --local",
    ]
    assert all(command.endswith(" --local") for command in local_cli.next_commands(seeded=False, examples=False))

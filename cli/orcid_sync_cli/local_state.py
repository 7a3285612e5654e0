"""The local stack's connection file, written by ``orcid-sync-local up`` (never imported from it).

``.orcid-sync/local.json`` (mode 0600) in the directory the stack was started from holds what a
client needs: ``api_url``, ``orcid_url``, ``aws_endpoint_url``, ``client_id``, ``region``, the dummy
``aws_access_key_id`` / ``aws_secret_access_key`` the local API checks signatures with, and ``pid``.
The CLI finds it through ``$ORCID_SYNC_LOCAL_STATE``, else in the current directory or a parent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from orcid_sync_cli.errors import CONFIG, NOT_FOUND, CliError

STATE_ENV = "ORCID_SYNC_LOCAL_STATE"
STATE_RELATIVE = Path(".orcid-sync") / "local.json"
REQUIRED_KEYS = ("api_url", "region", "aws_access_key_id", "aws_secret_access_key")


@dataclass(frozen=True)
class LocalState:
    """A running local stack as its state file describes it."""

    path: Path
    api_url: str
    region: str
    aws_access_key_id: str
    aws_secret_access_key: str
    pid: int | None

    def running(self) -> bool:
        if self.pid is None:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process: alive
        return True


def candidates(start: Path | None = None) -> list[Path]:
    """Where a state file may be, in the order they are tried."""
    if os.environ.get(STATE_ENV):
        return [Path(os.environ[STATE_ENV]).expanduser()]
    here = (start or Path.cwd()).resolve()
    return [directory / STATE_RELATIVE for directory in (here, *here.parents)]


def read(path: Path) -> LocalState:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the local stack's state file {path}: {exc}", CONFIG) from None
    if not isinstance(document, dict) or any(not isinstance(document.get(key), str) for key in REQUIRED_KEYS):
        raise CliError(f"{path} is not a local stack state file (it lacks {', '.join(REQUIRED_KEYS)})", CONFIG)
    pid = document.get("pid")
    return LocalState(
        path=path,
        api_url=document["api_url"].rstrip("/"),
        region=document["region"],
        aws_access_key_id=document["aws_access_key_id"],
        aws_secret_access_key=document["aws_secret_access_key"],
        pid=pid if isinstance(pid, int) else None,
    )


def find(start: Path | None = None) -> LocalState | None:
    """The first state file found, or None."""
    for path in candidates(start):
        if path.is_file():
            return read(path)
    return None


def require_running() -> LocalState:
    """The running local stack ``--local`` means, or an error that says how to start one."""
    state = find()
    if state is None:
        looked = os.environ.get(STATE_ENV) or f"{STATE_RELATIVE} here and in the parent directories"
        raise CliError(
            f"no local stack found ({looked}): start one with `orcid-sync-local up` (or `make run`)", NOT_FOUND
        )
    if not state.running():
        raise CliError(
            f"the local stack in {state.path} is not running (pid {state.pid} is gone): "
            "start it again with `orcid-sync-local up`",
            NOT_FOUND,
        )
    return state


def matching(api_url: str) -> LocalState | None:
    """The local stack whose API is ``api_url``, if its state file is found: its credentials sign for it."""
    try:
        state = find()
    except CliError:
        return None
    if state is not None and state.api_url == api_url.rstrip("/"):
        return state
    return None

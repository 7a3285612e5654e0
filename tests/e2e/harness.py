"""The local stack as a person starts it: ``orcid-sync-local up`` in a subprocess, in a clean environment.

The end-to-end tier never imports the product. It starts the stack with the command the README
documents, in a directory of its own, with only ``PATH`` (the project's venv first, as an activated
venv would have it), ``HOME`` and the locale in the environment, and drives it through the CLI, HTTP
and a browser. What the functions need they must get from the template and the stack, exactly as a
person's stack does: a variable set here would hide a gap in the product.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

# What a traceback or a failed invocation looks like in the stack's log (stderr of `orcid-sync-local up`).
FUNCTION_ERROR = re.compile(r"Traceback \(most recent call last\)|\bERROR\b.*\bfailed\b|\"level\":\s*\"ERROR\"")


def clean_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Only PATH (the venv's bin first), HOME and the locale: what a new terminal with the venv activated has."""
    environment = {
        "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    return environment | dict(extra or {})


@dataclass
class CliResult:
    """One CLI command as typed, what it printed and how it ended."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> CliResult:
        assert self.returncode == 0, f"`{self.command}` exited {self.returncode}:\n{self.stdout}\n{self.stderr}"
        assert "Traceback" not in self.stderr, f"`{self.command}` printed a traceback:\n{self.stderr}"
        return self


@dataclass
class RunningStack:
    """A stack started by ``orcid-sync-local up``: its connection line, its log, and ways to drive it."""

    workdir: Path
    process: subprocess.Popen[str]
    info: dict[str, str]
    log_path: Path
    environment: dict[str, str]
    _log_thread: threading.Thread | None = None
    commands: list[CliResult] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return self.info["api_url"]

    @property
    def orcid_url(self) -> str:
        return self.info["orcid_url"]

    @property
    def aws_endpoint_url(self) -> str:
        return self.info["aws_endpoint_url"]

    @property
    def client_id(self) -> str:
        return self.info["client_id"]

    def cli_environment(self) -> dict[str, str]:
        """A person's terminal after ``export ORCID_SYNC_API_URL=…`` (the URL ``orcid-sync-local up`` printed)."""
        return self.environment | {"ORCID_SYNC_API_URL": self.api_url}

    def cli(self, command: str, *, stdin: str | None = None, timeout: float = 300) -> CliResult:
        """Run one command line as typed in a shell (``orcid-sync …``) in the stack's directory."""
        done = subprocess.run(
            shlex.split(command),
            cwd=self.workdir,
            env=self.cli_environment(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = CliResult(command, done.returncode, done.stdout, done.stderr)
        self.commands.append(result)
        return result

    def signed(self, method: str, path: str, body: Any = None, *, timeout: float = 60) -> requests.Response:
        """A SigV4-signed admin API request, as an IAM-authorised caller sends it (credentials from ``up``)."""
        url = f"{self.api_url}{path}"
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        credentials = Credentials(self.info["aws_access_key_id"], self.info["aws_secret_access_key"])
        SigV4Auth(credentials, "execute-api", self.info["region"]).add_auth(request)
        return requests.request(method, url, data=data, headers=dict(request.headers.items()), timeout=timeout)

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        """The local ORCID sandbox's inspection and seeding endpoints (``/_sandbox/…``)."""
        response = requests.request(method, f"{self.orcid_url}/_sandbox{path}", json=body, timeout=60)
        assert response.ok, f"{method} /_sandbox{path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None

    def aws(self, service: str) -> Any:
        """A boto3 client for moto (over HTTP, like the AWS CLI with ``--endpoint-url``)."""
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint_url,
            region_name=self.info["region"],
            aws_access_key_id=self.info["aws_access_key_id"],
            aws_secret_access_key=self.info["aws_secret_access_key"],
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def function_errors(self) -> list[str]:
        """Lines of the stack's log that show a function failing (a traceback or an invocation error)."""
        return [line for line in self.log().splitlines() if FUNCTION_ERROR.search(line)]

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; the exit status (0 when it stopped cleanly)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_thread is not None:
            self._log_thread.join(5)
        return self.process.returncode


def _copy_stream(stream: IO[str], target: Path) -> None:
    with target.open("a", encoding="utf-8") as sink:
        for line in stream:
            sink.write(line)
            sink.flush()


def start_stack(
    workdir: Path, arguments: Sequence[str] = (), *, extra_env: Mapping[str, str] | None = None
) -> RunningStack:
    """``orcid-sync-local up`` in ``workdir``, as the README says; returns once it printed its JSON line."""
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    environment = clean_environment(home, extra_env)
    log_path = workdir / "stack.log"
    command = ["orcid-sync-local", "up", *arguments]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None and process.stderr is not None
    log_thread = threading.Thread(target=_copy_stream, args=(process.stderr, log_path), daemon=True)
    log_thread.start()
    line = _first_line(process, process.stdout, START_TIMEOUT)
    if not line:
        process.kill()
        process.wait()
        log_thread.join(5)
        log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        raise AssertionError(f"`{' '.join(command)}` did not start (exit {process.returncode}):\n{log[-4000:]}")
    info = json.loads(line)
    # Drain the rest of stdout so that a chatty stack never blocks on a full pipe.
    threading.Thread(target=_copy_stream, args=(process.stdout, workdir / "stack.stdout"), daemon=True).start()
    return RunningStack(workdir, process, info, log_path, environment, log_thread)


def _first_line(process: subprocess.Popen[str], stream: IO[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if process.poll() is not None and not lines:
        return ""
    return lines[0].strip() if lines else ""


@contextmanager
def running_stack(workdir: Path, arguments: Sequence[str] = (), **kwargs: Any) -> Iterator[RunningStack]:
    stack = start_stack(workdir, arguments, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()


def wait_until(predicate: Any, *, timeout: float = 120, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (and return it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)

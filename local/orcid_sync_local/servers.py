"""The local stack's servers beyond the Lambda glue: moto (DynamoDB requests made atomic) and a swappable WSGI app."""

from __future__ import annotations

import logging
import subprocess  # nosec B404
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

log = logging.getLogger("orcid_sync_local")


class SwappableApp:
    """A WSGI app that can be put in place after its server is listening (the URL is needed first)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message":"Service Unavailable"}']
        return self.app(environ, start_response)


class AtomicDynamoDb:
    """WSGI middleware: one DynamoDB request at a time.

    DynamoDB applies each request atomically; moto does not across threads (a cancelled
    TransactWriteItems restores a table snapshot and can wipe a concurrent write), and our workers
    rely on those transactions for exactly-once job accounting. Other services (SQS long polls) stay
    concurrent.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            return self._app(environ, start_response)
        with self._lock:
            # Drain the body inside the lock: the work happens while it is produced.
            return list(self._app(environ, start_response))


class AtomicDynamoDbMotoServer(ThreadedMotoServer):
    """moto's threaded server with :class:`AtomicDynamoDb` in front, and room for the glue's stand-ins in front of
    that (:meth:`wrap`: what AWS does beyond moto, e.g. SNS delivering to Lambda, SES publishing its events)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.front = SwappableApp()
        self.front.app = AtomicDynamoDb(DomainDispatcherApplication(create_backend_app))

    def wrap(self, middleware: Any) -> None:
        """Put ``middleware(app)`` in front of what serves moto's requests now."""
        self.front.app = middleware(self.front.app)

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, self.front, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def start_moto(port: int) -> tuple[AtomicDynamoDbMotoServer, str]:
    """moto on 127.0.0.1 (port 0 picks a free one), started; returns the server and its URL."""
    server = AtomicDynamoDbMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return server, f"http://{host}:{bound_port}"


def stop_moto(server: ThreadedMotoServer, endpoint_url: str) -> None:
    """Wipe moto's state and stop its server, freeing the port."""
    # moto's state lives in module globals shared by every moto server in this process: wipe it.
    try:
        requests.post(f"{endpoint_url}/moto-api/reset", timeout=10)
    except requests.RequestException:
        log.warning("could not reset moto's state", exc_info=True)
    server.stop()
    # ThreadedMotoServer.stop() leaves the listening socket open; close it so the port is free.
    listening = getattr(server, "_server", None)
    if listening is not None:
        listening.server_close()


class MotoProcess:
    """moto served by a child process (``python -m orcid_sync_local.moto_process``), for the benchmarks.

    The glue's stand-ins (SNS delivering to Lambda, SES's events) sit in front of an in-process moto only, so a
    stack with moto here has none of them; queues, buckets, tables, rules and keys work as ever, over HTTP.
    """

    def __init__(self, port: int, installs: Sequence[str], cwd: Path) -> None:
        command = [sys.executable, "-m", "orcid_sync_local.moto_process", "--port", str(port)]
        command += [f"--install={target}" for target in installs]
        # This interpreter, our own module, our own arguments (bandit B404/B603 and ruff S603 waived for it).
        self._child = subprocess.Popen(  # noqa: S603  # nosec B603
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._child.stdout is not None
        self.url = self._child.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"moto's process did not start (it printed {self.url!r})")

    @property
    def pid(self) -> int:
        return self._child.pid

    def stop(self) -> None:
        """Close its standard input (it resets moto and exits), or end it."""
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()

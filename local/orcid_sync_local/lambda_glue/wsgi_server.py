"""A werkzeug server thread for the local HTTP API and the sandbox: bound at once, stopped cleanly."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .shared import log


class _QuietRequestHandler(WSGIRequestHandler):
    """Access log lines go to the debug log rather than stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class WsgiServerThread:
    """A threaded werkzeug server on 127.0.0.1 (port 0 picks a free one) that can be stopped cleanly."""

    def __init__(self, app: Any, port: int = 0, name: str = "wsgi") -> None:
        # Binding happens here, so the port (and URL) is known before anything else starts.
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

"""The provider on a threaded werkzeug server on 127.0.0.1 (as the local stack runs the ORCID sandbox)."""

from __future__ import annotations

from dataclasses import dataclass

from ..lambda_glue import WsgiServerThread
from .app import OAI_PATH, OaiProvider
from .store import DEFAULT_PAGE_SIZE


@dataclass
class RunningProvider:
    """A listening provider: its app (to drive in-process) and its server thread."""

    app: OaiProvider
    server: WsgiServerThread

    @property
    def url(self) -> str:
        """The OAI-PMH base URL, e.g. ``http://127.0.0.1:40123/oai/request``."""
        return self.app.base_url

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:PORT/_provider``."""
        return f"{self.server.url}/_provider"

    def stop(self) -> None:
        self.server.stop()


def start_oai_provider(
    port: int = 0, *, page_size: int = DEFAULT_PAGE_SIZE, fixtures: int = 0, orcids: dict[str, str] | None = None
) -> RunningProvider:
    """Bind (port 0: a free one), set the base URL, load ``fixtures`` generated records, then serve."""
    app = OaiProvider(page_size=page_size)
    server = WsgiServerThread(app, port, name="oai-provider")
    app.base_url = f"{server.url}{OAI_PATH}"
    try:
        if fixtures:
            app.load_fixtures(fixtures, orcids=orcids)
    except BaseException:
        server.stop()
        raise
    server.start()
    return RunningProvider(app, server)

"""The "My ORCID" page of a signed-in researcher: their connection and their outputs, from DynamoDB only.

Rendering makes no ORCID request: the connection comes from the researcher's item and the token's item (never
opened), the outputs from :func:`orcid_sync.domain.me.outputs.researcher_outputs` (assets, ledger, settings).
A researcher who is not connected, or whose token ORCID refused, is offered a fresh, signed connect link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orcid_sync.domain.connect.shared import RETRY_LINK_LIFETIME, OrcidSite, connect_url
from orcid_sync.domain.connect.signing import Signer
from orcid_sync.domain.me.outputs import OutputsPorts, OutputState, OutputsView, researcher_outputs
from orcid_sync.domain.models import OrcidStatus, Researcher
from orcid_sync.domain.ports import TokenStore


@dataclass(frozen=True)
class Connection:
    """The researcher's connection as the page shows it."""

    connected: bool
    status: OrcidStatus
    scopes: tuple[str, ...]
    connected_at: datetime | None
    last_update_at: datetime | None
    connect_url: str | None
    """A fresh personal connect link, when they are not connected (or their token no longer works)."""


@dataclass(frozen=True)
class MyOrcidPage:
    researcher: Researcher
    name: str
    orcid: str
    orcid_url: str
    connection: Connection
    outputs: OutputsView
    site: OrcidSite

    def work_url(self, put_code: int) -> str:
        """Where the researcher sees our work: their ORCID record (ORCID has no public page for one work)."""
        return self.orcid_url

    @property
    def counts(self) -> list[tuple[OutputState, int]]:
        """The states that have outputs, in the order the page lists them."""
        return [(state, count) for state, count in self.outputs.counts.items() if count]


def my_orcid_page(
    researcher: Researcher,
    *,
    orcid: str,
    tokens: TokenStore,
    outputs: OutputsPorts,
    signer: Signer,
    site: OrcidSite,
    base_url: str,
    now: datetime,
) -> MyOrcidPage:
    """Everything the page shows about the signed-in researcher (DynamoDB reads only)."""
    token = tokens.get(researcher.id)
    connected = researcher.orcid_status is OrcidStatus.ACTIVE and token is not None and token.is_active
    link = None if connected else connect_url(base_url, signer.sign_link(researcher.id, now + RETRY_LINK_LIFETIME))
    scopes = tuple(sorted(token.scopes if token is not None else researcher.orcid_scopes)) if connected else ()
    return MyOrcidPage(
        researcher=researcher,
        name=f"{researcher.given_names} {researcher.family_name}",
        orcid=orcid,
        orcid_url=site.id_url(orcid),
        connection=Connection(
            connected=connected,
            status=researcher.orcid_status,
            scopes=scopes,
            connected_at=researcher.connected_at,
            last_update_at=researcher.last_sync_at,
            connect_url=link,
        ),
        outputs=researcher_outputs(outputs, researcher.id),
        site=site,
    )

"""The daily push: which researchers it updates (and, as the worker lands, what it sends them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orcid_sync.integration_settings import IntegrationSettings
from orcid_sync.models import OrcidStatus, Researcher, StoredToken

# --- eligibility ---------------------------------------------------------------------------------------------


def ineligibility(researcher: Researcher, token: StoredToken | None, settings: IntegrationSettings) -> str | None:
    """Why the push leaves this researcher alone, or None when it may update their record."""
    if not researcher.orcid:
        return "has no ORCID iD"
    if researcher.orcid_status is not OrcidStatus.ACTIVE:
        return f"is not connected to ORCID (status {researcher.orcid_status.value})"
    if not researcher.active:
        return "is former staff"
    if not settings.updates(researcher):
        return (
            "is not selected for ORCID updates (update_orcid_profile is off and only selected researchers are updated)"
        )
    if token is None:
        return "has no ORCID token"
    if not token.is_active:
        return "has a revoked or expired ORCID token"
    if not token.can_push:
        return "has a token without the /activities/update scope"
    if token.orcid != researcher.orcid:
        return f"has a token for another ORCID iD ({token.orcid})"
    return None


def select_push_researchers(
    researchers: Iterable[Researcher],
    tokens: Mapping[str, StoredToken],
    settings: IntegrationSettings,
    only: set[str] | None,
) -> list[str]:
    """The researchers a push job fans out to (in the order given), optionally limited to ``only``."""
    return [
        researcher.id
        for researcher in researchers
        if (only is None or researcher.id in only)
        and ineligibility(researcher, tokens.get(researcher.id), settings) is None
    ]

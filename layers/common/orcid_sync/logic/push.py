"""The daily push: which researchers it updates (and, as the worker lands, what it sends them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orcid_sync.integration_settings import IntegrationSettings
from orcid_sync.models import OrcidStatus, Researcher, StoredToken

# --- eligibility ---------------------------------------------------------------------------------------------


def ineligibility(researcher: Researcher, token: StoredToken | None, settings: IntegrationSettings) -> str | None:
    """Why the push leaves this researcher alone, or None when it may update their record."""
    rules = [
        (not researcher.orcid, "has no ORCID iD"),
        (
            researcher.orcid_status is not OrcidStatus.ACTIVE,
            f"is not connected to ORCID (status {researcher.orcid_status.value})",
        ),
        (not researcher.active, "is former staff"),
        (
            not settings.updates(researcher),
            "is not selected for ORCID updates (update_orcid_profile is off and only selected researchers are updated)",
        ),
    ]
    if token is None:
        rules.append((True, "has no ORCID token"))
    else:
        rules += [
            (not token.is_active, "has a revoked or expired ORCID token"),
            (not token.can_push, "has a token without the /activities/update scope"),
            (token.orcid != researcher.orcid, f"has a token for another ORCID iD ({token.orcid})"),
        ]
    return next((reason for broken, reason in rules if broken), None)


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

"""The admin API's routes: one Powertools ``Router`` per area, in the order the app includes them."""

from __future__ import annotations

from . import (
    assets,
    audit,
    connect,
    connections_report,
    feeds,
    invitations,
    jobs,
    orcid_inbox,
    pull,
    reports,
    researchers,
    settings,
    tokens,
)

ROUTERS = (
    settings.router,
    researchers.router,
    assets.router,
    tokens.router,
    jobs.router,
    feeds.router,
    reports.router,
    pull.router,
    connect.router,
    invitations.router,
    orcid_inbox.router,
    connections_report.router,
    audit.router,
)

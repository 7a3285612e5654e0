"""``GET /console/audit``: the audit log, newest first, filtered by actor or action, each change as a diff.

Read-only for every signed-in person (admins and viewers): the log is what an auditor reads, and nothing on
this page changes anything. The entries come from the same port the admin API lists (``GET /audit``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.domain.audit import AuditEntry

if __package__ != "routes":
    from .. import auth, web
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

PAGE_SIZE = 25
ACTIONS = (
    "schedule.activate",
    "schedule.deactivate",
    "job.start",
    "researcher.push",
    "settings.update",
    "tokens.upload",
    "tokens.import",
    "researcher.disconnect",
    "researcher.connect_link",
    "researcher.put",
    "researchers.load",
    "asset.put",
    "asset.delete",
    "assets.load",
    "feed.create",
    "feed.run",
    "feed.delete",
)
"""The actions the filter offers (the console's and the admin API's); the log itself accepts any dotted name."""


@dataclass(frozen=True)
class ChangedField:
    """One line of an entry's diff: a field, its value before and after ("" when it had none on that side)."""

    field: str
    before: str
    after: str

    @property
    def kind(self) -> str:
        """``changed``, ``added`` (no value before) or ``removed`` (none after), for the screen reader's words."""
        return "added" if not self.before else "removed" if not self.after else "changed"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _flat(values: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted fields (``type_overrides.publication.book``): a diff line per leaf."""
    flat: dict[str, Any] = {}
    for key, value in (values or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def diff(entry: AuditEntry) -> list[ChangedField]:
    """The entry's before/after as lines, in field order; a field equal on both sides is left out."""
    before, after = _flat(entry.before), _flat(entry.after)
    return [
        ChangedField(name, _text(before.get(name)), _text(after.get(name)))
        for name in sorted({*before, *after})
        if name not in before or name not in after or before[name] != after[name]
    ]


@router.get("/console/audit")
def audit_page() -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    actor = (event.get_query_string_value("actor") or "").strip()[:2048]
    action = event.get_query_string_value("action") or ""
    action = action if action in ACTIONS else ""
    cursor = event.get_query_string_value("cursor")
    log = composition.audit_log()
    try:
        page = log.recent(limit=PAGE_SIZE, cursor=cursor, actor=actor or None, action=action or None)
    except InvalidCursorError:  # a cursor edited by hand: start from the newest
        page = log.recent(limit=PAGE_SIZE, actor=actor or None, action=action or None)
    rows = [(entry, diff(entry)) for entry in page.entries]
    next_query = urlencode({"actor": actor, "action": action, "cursor": page.next_cursor or ""})
    return web.page(
        event,
        "audit.html.j2",
        user=user,
        nav_active="audit",
        rows=rows,
        actor=actor,
        action=action,
        actions=ACTIONS,
        next_cursor=page.next_cursor,
        next_query=next_query,
    )

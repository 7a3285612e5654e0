"""What every state-changing console route does after its use case: one audit-log entry, then a 303 with a notice.

The actor is the signed-in person's email (their Cognito ``sub`` is in the session, but the email is what an
auditor reads); ``before``/``after`` hold settings, states and counts, never a token or a link's signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from orcid_sync import composition
from orcid_sync.domain.audit import record_action
from orcid_sync.domain.console.session import ConsoleUser
from orcid_sync.domain.models import utc_now

if __package__ != "routes":
    from .. import web
else:  # on Lambda this function's directory is the zip root
    import web  # type: ignore[import-not-found, no-redef]


def record(
    user: ConsoleUser,
    action: str,
    target: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Write the audit entry for a change that has just succeeded."""
    record_action(
        composition.audit_log(),
        actor=user.email,
        actor_kind="console",
        action=action,
        target=target,
        before=before,
        after=after,
        now=utc_now(),
    )


def done(location: str, notice: str) -> Response[str]:
    """303 to the page that shows the result, naming one of the console's notices (never free text)."""
    separator = "&" if "?" in location else "?"
    return web.redirect(f"{location}{separator}{urlencode({'notice': notice})}")


def notice_of(event: Any) -> str | None:
    """The notice key a redirect brought (the template shows it only if it is one of ours)."""
    value = event.get_query_string_value("notice")
    return value if value and value.replace("_", "").isalnum() and len(value) <= 40 else None

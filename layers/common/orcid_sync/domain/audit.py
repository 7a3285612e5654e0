"""The audit log: who changed what, when, and the state before and after (console and admin API alike).

Both doors into the stack (the console, signed in through Cognito, and the IAM-signed admin API) call the same
use cases; after a state-changing one succeeds they call :func:`record_action` with what they know: the actor
(an email or an IAM ARN), the action, its target and the before/after values. The entry is built here, so the
rules (an id, a UTC time, no secret kept) hold whoever records.

Secrets are never kept: ``before`` and ``after`` pass through :func:`scrub`, which drops every key that looks
like a token, secret, key or session, whatever its value, and blanks bearer-shaped text in the values left. This
is a safety net, not a licence: callers record counts, flags and setting values, never rows or tokens.

This module is adapter-facing (the DynamoDB adapter stores :class:`AuditEntry` and returns :class:`AuditPage`);
:func:`record_action` is a constructor-and-store of one entry, with no other port, so it lives beside them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orcid_sync.domain.redaction import redact

ActorKind = Literal["console", "api"]
"""Which door the action came through: the console (actor = the signed-in email) or the admin API (IAM ARN)."""

# Keys whose values are never stored, whatever they hold: ORCID and Cognito tokens, client secrets, signing and
# session keys, PKCE verifiers, CSRF secrets, passwords, cookies, authorisation headers. A key that only mentions
# tokens ("token_revocation", "tokens_imported") is kept: it names an outcome or a count, not a token.
_SECRET_KEY = re.compile(
    r"(?i)(secret|password|passwd|credential|verifier|signing|private|session|cookie|authori[sz]ation|csrf|"
    r"(^|[_-])(tokens?|keys?)$)"
)
MAX_DEPTH = 6
"""Nested values deeper than this are summarised: the audit log records changes, not documents."""


def _scrub_value(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        return "[nested]"
    if isinstance(value, Mapping):
        return {str(k): _scrub_value(v, depth + 1) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))  # text, and dates, enums, decimals as their text


def scrub(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``values`` without any secret-looking key, bearer-shaped text blanked, as plain JSON values."""
    if values is None:
        return None
    scrubbed = _scrub_value(values, 0)
    assert isinstance(scrubbed, dict)
    return scrubbed


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the top-level fields whose value differs, on each side (a settings save records its diff)."""
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


class AuditEntry(BaseModel):
    """One state-changing action: who (actor), through which door, what (action on target), when, and how the
    state read before and after it (None when there is no meaningful state, e.g. a job start)."""

    model_config = ConfigDict(frozen=True)

    entry_id: str = Field(min_length=1)
    at: datetime
    actor: str = Field(min_length=1)
    actor_kind: ActorKind
    action: str = Field(min_length=1, pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
    target: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @field_validator("before", "after", mode="before")
    @classmethod
    def _no_secrets(cls, value: Any) -> Any:
        # On every construction, the adapter's reads included: a secret can neither enter nor come back out.
        return scrub(value) if isinstance(value, Mapping) else value

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)


class AuditPage(BaseModel):
    """Entries newest first; pass ``next_cursor`` back for the older ones (None: there are no more)."""

    entries: list[AuditEntry]
    next_cursor: str | None = None


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def recent(
        self, *, limit: int, cursor: str | None = None, actor: str | None = None, action: str | None = None
    ) -> AuditPage:
        """Newest first, ``limit`` at most, optionally only one actor's or one action's entries."""
        ...


def record_action(
    log: AuditLog,
    *,
    actor: str,
    actor_kind: ActorKind,
    action: str,
    target: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    now: datetime,
) -> AuditEntry:
    """Write one entry for an action that has just succeeded; the entry is returned as stored (scrubbed)."""
    entry = AuditEntry(
        entry_id=uuid.uuid4().hex,
        at=now,
        actor=actor,
        actor_kind=actor_kind,
        action=action,
        target=target,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )
    log.record(entry)
    return entry

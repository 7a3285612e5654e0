"""Reports for administrators: which researchers' ORCID tokens need attention (never the tokens themselves), and whose
email address SES said not to mail again (a bounce or a complaint: no invitation or reminder reaches them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import batched
from typing import Literal

from pydantic import BaseModel

from orcid_sync.domain.invitations.campaigns import suppressed_researchers
from orcid_sync.domain.invitations.ports import InvitationStore
from orcid_sync.domain.jobs.models import JobEvent
from orcid_sync.domain.models import (
    PERSON_SCOPE,
    PULL_SCOPE,
    PUSH_SCOPE,
    OrcidStatus,
    Researcher,
    StoredToken,
    TokenInvalidReason,
)
from orcid_sync.domain.ports import ResearcherStore, TokenStore
from orcid_sync.domain.pull.csv_file import spreadsheet_safe

EXPIRY_WARNING = timedelta(days=90)
"""Tokens last ~20 years, so one expiring within 90 days is an old import: time to ask the researcher to reconnect."""
EXPECTED_SCOPES = (PUSH_SCOPE, PULL_SCOPE, PERSON_SCOPE)
"""What the push (/activities/update), the pull (/read-limited) and researcher-url/employment (/person/update) need."""


class TokenProblem(StrEnum):
    REVOKED = "revoked"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a problem name, not a secret
    """ORCID says the token belongs to another record (9017): send the researcher a connect link."""
    DISCONNECTED = "disconnected"
    NO_TOKEN = "no_token"  # noqa: S105 - a problem name, not a secret
    EXPIRED = "expired"
    EXPIRING = "expiring"
    MISSING_SCOPE = "missing_scope"
    EMAIL_BOUNCED = "email_bounced"
    """SES reported a permanent bounce for the researcher's address: invitations and reminders skip them."""
    EMAIL_COMPLAINED = "email_complained"
    """The researcher marked an invitation as spam: no more mail goes to the address."""


EmailSuppression = Literal["bounced", "complained"]
_EMAIL_PROBLEMS: dict[str, TokenProblem] = {
    "bounced": TokenProblem.EMAIL_BOUNCED,
    "complained": TokenProblem.EMAIL_COMPLAINED,
}


class TokenHealthRow(BaseModel):
    """One researcher whose token needs attention, and why."""

    researcher_id: str
    given_names: str
    family_name: str
    email: str | None = None
    orcid: str | None = None
    orcid_status: OrcidStatus
    problems: list[TokenProblem]
    reason: str | None = None
    """What ORCID said when it refused the token, in words (for ``revoked`` and ``token_invalid``)."""
    missing_scopes: list[str]
    scopes: list[str]
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    token_source: str | None = None
    email_suppressed: EmailSuppression | None = None
    """``bounced`` or ``complained``: SES said not to mail this researcher's address again (fix the address in the
    researcher's record; until then no invitation reaches them)."""


class TokenHealthReport(BaseModel):
    """``GET /reports/tokens``: researchers whose tokens are revoked, lack a scope or expire soon, or whose address
    bounced or complained."""

    generated_at: datetime
    expiring_within_days: int
    researchers_checked: int
    rows: list[TokenHealthRow]


def token_problems(researcher: Researcher, token: StoredToken | None, *, now: datetime) -> list[TokenProblem]:
    """What is wrong with a researcher's ORCID connection; empty when healthy or never connected."""
    problems: list[TokenProblem] = []
    wrong_record = token is not None and token.invalid_reason is TokenInvalidReason.WRONG_RECORD
    if researcher.orcid_status is OrcidStatus.TOKEN_INVALID or wrong_record:
        problems.append(TokenProblem.TOKEN_INVALID)
    elif researcher.orcid_status is OrcidStatus.REVOKED or (
        token is not None and (token.revoked_at is not None or token.invalid_at is not None)
    ):
        problems.append(TokenProblem.REVOKED)
    elif researcher.orcid_status is OrcidStatus.DISCONNECTED:
        problems.append(TokenProblem.DISCONNECTED)
    if token is None:
        if researcher.orcid_status is OrcidStatus.ACTIVE:
            problems.append(TokenProblem.NO_TOKEN)
        return problems
    if token.revoked_at is None and token.invalid_at is None:
        if token.expires_at <= now:
            problems.append(TokenProblem.EXPIRED)
        elif token.expires_at <= now + EXPIRY_WARNING:
            problems.append(TokenProblem.EXPIRING)
    if any(scope not in token.scopes for scope in EXPECTED_SCOPES):
        problems.append(TokenProblem.MISSING_SCOPE)
    return problems


def token_health(
    researchers: Iterable[Researcher],
    tokens: Mapping[str, StoredToken],
    *,
    now: datetime,
    suppressed: Mapping[str, str] | None = None,
) -> list[TokenHealthRow]:
    """Rows for every researcher with a problem, in the order given; healthy and never-connected ones are left out.
    ``suppressed``: researcher id → ``bounced``/``complained`` (their address), a problem too."""
    rows: list[TokenHealthRow] = []
    for researcher in researchers:
        token = tokens.get(researcher.id)
        problems = token_problems(researcher, token, now=now)
        email_suppressed = (suppressed or {}).get(researcher.id)
        if email_suppressed in _EMAIL_PROBLEMS:
            problems.append(_EMAIL_PROBLEMS[email_suppressed])
        else:
            email_suppressed = None  # an unsubscribe is the researcher's choice, not a problem to fix
        if not problems:
            continue
        scopes = sorted(token.scopes) if token else sorted(researcher.orcid_scopes)
        rows.append(
            TokenHealthRow(
                researcher_id=researcher.id,
                given_names=researcher.given_names,
                family_name=researcher.family_name,
                email=researcher.email,
                orcid=researcher.orcid,
                orcid_status=researcher.orcid_status,
                problems=problems,
                reason=_refusal(researcher, token),
                missing_scopes=[s for s in EXPECTED_SCOPES if s not in scopes] if token else [],
                scopes=scopes,
                expires_at=token.expires_at if token else None,
                revoked_at=token.revoked_at if token else None,
                token_source=token.source.value if token else None,
                email_suppressed=email_suppressed,
            )
        )
    return rows


def _refusal(researcher: Researcher, token: StoredToken | None) -> str | None:
    if token is not None and token.invalid_reason is not None:
        return token.invalid_reason.description
    if researcher.orcid_status is OrcidStatus.TOKEN_INVALID:
        return TokenInvalidReason.WRONG_RECORD.description
    if researcher.orcid_status is OrcidStatus.REVOKED or (token is not None and token.revoked_at is not None):
        return TokenInvalidReason.INVALID_TOKEN.description
    return None


def token_health_report(
    researchers: ResearcherStore, tokens: TokenStore, *, now: datetime, invitations: InvitationStore | None = None
) -> TokenHealthReport:
    """Read every researcher and their token (100 per batch read) and report the ones needing attention; with
    ``invitations``, also those whose address bounced or complained (one batch read of suppressions per 100)."""
    rows: list[TokenHealthRow] = []
    checked = 0
    for chunk in batched(researchers.iter_all(), 100, strict=False):
        checked += len(chunk)
        with_orcid_or_status = [r.id for r in chunk if r.orcid or r.orcid_status is not OrcidStatus.NONE]
        suppressed = suppressed_researchers(invitations, chunk) if invitations is not None else {}
        rows += token_health(chunk, tokens.get_many(with_orcid_or_status), now=now, suppressed=suppressed)
    rows.sort(key=lambda row: (row.family_name.casefold(), row.given_names.casefold(), row.researcher_id))
    return TokenHealthReport(
        generated_at=now, expiring_within_days=EXPIRY_WARNING.days, researchers_checked=checked, rows=rows
    )


CSV_COLUMNS = (
    "researcher_id",
    "family_name",
    "given_names",
    "email",
    "orcid",
    "orcid_status",
    "problems",
    "reason",
    "missing_scopes",
    "scopes",
    "expires_at",
    "revoked_at",
    "token_source",
    "email_suppressed",
)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return spreadsheet_safe(str(value))


def token_health_csv(report: TokenHealthReport) -> str:
    """The report as CSV, one row per researcher (lists space-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        values = row.model_dump()
        writer.writerow([_csv_cell(values[column]) for column in CSV_COLUMNS])
    return out.getvalue()


EVENT_CSV_COLUMNS = (
    "at",
    "level",
    "researcher_id",
    "asset_id",
    "action",
    "message",
    "orcid_status",
    "orcid_error_code",
)


def job_events_csv(events: Iterable[JobEvent]) -> str:
    """A job run's events as CSV, for a spreadsheet or the repository's own tooling."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EVENT_CSV_COLUMNS)
    for event in events:
        values = event.model_dump()
        writer.writerow([_csv_cell(values[column]) for column in EVENT_CSV_COLUMNS])
    return out.getvalue()

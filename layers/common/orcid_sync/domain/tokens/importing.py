"""Importing ORCID tokens from a legacy system: check the parsed rows, store them encrypted, report per row.

A row is stored only if its iD is valid, a researcher has that iD (the precondition Esploro documents
for its token API), and its scope lets us push (``/activities/update``). Rows without ``/read-limited``
are stored but flagged ``can_pull: false``. Each chunk of rows costs one KMS call: every token in it is
sealed under one data key. The same batch sent again changes nothing: a keyed fingerprint of the token
values recognises a token we already hold without decrypting it. Parsing a row is ``token_rows``; what
ORCID says about a token (a probe's verdict, a token marked invalid) is ``token_verdicts``.

Token values never leave this module except sealed: they are ``SecretStr`` from parsing on, reasons
never quote a cell of the row, and reports name rows by position, valid iD and known researcher id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, SecretStr, computed_field

from orcid_sync.domain.batches import MAX_BATCH_ROWS, check_batch_size
from orcid_sync.domain.errors import Problem
from orcid_sync.domain.models import (
    PUSH_SCOPE,
    OrcidStatus,
    Researcher,
    StoredToken,
    TokenInvalidReason,
    TokenSource,
    utc_now,
)
from orcid_sync.domain.ports import ResearcherStore, TokenCipher, TokenStore
from orcid_sync.domain.tokens.crypto import token_fingerprint
from orcid_sync.domain.tokens.rows import TokenRow, parse_token_body, parse_token_row, row_orcid
from orcid_sync.domain.tokens.verdicts import ProbeResult, TokenProbe, confirm_orcid, invalidate_token

__all__ = [  # the verdicts and the row parsing are imported from here by the push, the pull and the routes
    "CHUNK_ROWS",
    "MAX_VERIFIED_ROWS",
    "ProbeResult",
    "TokenBatchReport",
    "TokenCounts",
    "TokenImporter",
    "TokenOutcomeKind",
    "TokenProbe",
    "TokenRow",
    "TokenRowOutcome",
    "confirm_orcid",
    "import_token_batch",
    "import_token_request",
    "import_token_rows",
    "invalidate_token",
    "parse_token_body",
    "parse_token_row",
]

CHUNK_ROWS = MAX_BATCH_ROWS
"""Rows sealed under one data key and looked up together."""
MAX_VERIFIED_ROWS = 100
"""Rows per request with ``verify=true``: one ORCID read each at ~20/s must fit in API Gateway's 29 s."""

_PROBE_PROBLEMS: dict[ProbeResult, tuple[str, str]] = {
    ProbeResult.INVALID_TOKEN: (
        "access_token",
        "ORCID refused this token (invalid_token): it was revoked, has expired or never existed",
    ),
    ProbeResult.WRONG_RECORD: ("orcid", "ORCID says this token belongs to a different record (error 9017)"),
    ProbeResult.NO_RECORD: ("orcid", "ORCID has no record for this iD (deactivated, or merged into another iD)"),
    ProbeResult.UNAVAILABLE: ("access_token", "could not be verified: ORCID did not answer; send the row again"),
}


class TokenOutcomeKind(StrEnum):
    STORED = "stored"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class TokenRowOutcome(BaseModel):
    """What happened to one row; ``row`` is its 0-based position among the data rows, ``row_number`` 1-based."""

    row: int
    outcome: TokenOutcomeKind
    orcid: str | None = None
    researcher_id: str | None = None
    can_pull: bool | None = None
    problems: list[Problem] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def row_number(self) -> int:
        """The row's number as a person counts the data rows of the file: 1 for the first (after a CSV header)."""
        return self.row + 1


class TokenCounts(BaseModel):
    received: int = 0
    stored: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    without_pull: int = 0
    """Stored, replaced or unchanged rows whose scope lacks /read-limited: they can push but not pull."""

    def add(self, outcomes: Iterable[TokenRowOutcome]) -> None:
        for outcome in outcomes:
            self.received += 1
            setattr(self, outcome.outcome.value, getattr(self, outcome.outcome.value) + 1)
            if outcome.can_pull is False:
                self.without_pull += 1


class TokenBatchReport(BaseModel):
    """The result of ``POST /tokens``: counts, then one outcome per row in request order (never a token)."""

    verified: bool
    counts: TokenCounts
    rows: list[TokenRowOutcome]


@dataclass(frozen=True)
class TokenImporter:
    """Everything an import needs: the stores, the cipher, the fingerprint key and optionally a probe."""

    researchers: ResearcherStore
    tokens: TokenStore
    cipher: TokenCipher
    signing_key: SecretStr
    probe: TokenProbe | None = None
    clock: Callable[[], datetime] = utc_now


@dataclass
class _Candidate:
    index: int
    row: TokenRow
    expires_at: datetime
    researcher: Researcher | None = None
    fingerprint: str = ""
    verified: bool = False
    """ORCID accepted the token for this iD (``verify``): the iD counts as authenticated."""


def _rejected(index: int, field: str, reason: str, *, orcid: str | None = None) -> TokenRowOutcome:
    return TokenRowOutcome(
        row=index,
        outcome=TokenOutcomeKind.REJECTED,
        orcid=orcid,
        problems=[Problem(row=index, field=field, reason=reason)],
    )


def _static_checks(row: TokenRow, index: int, now: datetime) -> TokenRowOutcome | datetime:
    """Checks that need nothing but the row; returns the expiry when they pass."""
    expires_at = row.expiry(now)
    if expires_at is None:
        return _rejected(index, "expires_in", "give expires_in (seconds) or expires_at (a date-time)", orcid=row.orcid)
    if expires_at <= now:
        return _rejected(index, "expires_at", f"the token expired on {expires_at.date().isoformat()}", orcid=row.orcid)
    if not row.can_push:
        return _rejected(
            index,
            "scope",
            f"lacks {PUSH_SCOPE}, which pushing works to ORCID needs; the token is useless here",
            orcid=row.orcid,
        )
    return expires_at


def _match_researcher(
    candidate: _Candidate, by_id: Mapping[str, Researcher], by_orcid: Mapping[str, list[Researcher]]
) -> Researcher | TokenRowOutcome:
    row, index = candidate.row, candidate.index
    if row.researcher_id is not None:
        researcher = by_id.get(row.researcher_id)
        if researcher is None:
            # Not quoted: a misaligned row could carry a token in this column.
            return _rejected(index, "researcher_id", "no researcher has the id given in researcher_id", orcid=row.orcid)
        if researcher.orcid != row.orcid:
            has = f"has ORCID iD {researcher.orcid}" if researcher.orcid else "has no ORCID iD"
            return _rejected(
                index,
                "orcid",
                f"researcher {researcher.id} {has}, not {row.orcid}; load the researcher's iD first",
                orcid=row.orcid,
            )
        return researcher
    matches = by_orcid.get(row.orcid, [])
    if not matches:
        return _rejected(
            index,
            "orcid",
            f"no researcher has ORCID iD {row.orcid}; load the researcher with this iD first",
            orcid=row.orcid,
        )
    if len(matches) > 1:
        names = ", ".join(sorted(r.id for r in matches))
        return _rejected(
            index,
            "researcher_id",
            f"researchers {names} share ORCID iD {row.orcid}: say which with researcher_id",
            orcid=row.orcid,
        )
    return matches[0]


def _is_unchanged(existing: StoredToken | None, candidate: _Candidate) -> bool:
    # The expiry is left out: rows with expires_in yield a new expires_at each time, and ORCID never
    # extends a token, so the same values and scopes are the same token.
    researcher = candidate.researcher
    return (
        existing is not None
        and researcher is not None
        and existing.fingerprint == candidate.fingerprint
        and existing.revoked_at is None
        and existing.orcid == candidate.row.orcid
        and set(existing.scopes) == candidate.row.scopes
        and researcher.orcid_status is OrcidStatus.ACTIVE
    )


def _screen(
    rows: Sequence[tuple[int, object]], seen: dict[str, int], now: datetime, outcomes: dict[int, TokenRowOutcome]
) -> list[_Candidate]:
    """Parse and check what needs only the rows; a later row for an iD already taken is rejected."""
    candidates: list[_Candidate] = []
    for index, raw in rows:
        parsed = parse_token_row(raw, index)
        if isinstance(parsed, list):
            outcomes[index] = TokenRowOutcome(
                row=index, outcome=TokenOutcomeKind.REJECTED, orcid=row_orcid(raw), problems=parsed
            )
            continue
        checked = _static_checks(parsed, index, now)
        if isinstance(checked, TokenRowOutcome):
            outcomes[index] = checked
            continue
        if parsed.orcid in seen:
            reason = (
                f"iD {parsed.orcid} already appears in row {seen[parsed.orcid]}; only the first row for an iD is used"
            )
            outcomes[index] = _rejected(index, "orcid", reason, orcid=parsed.orcid)
            continue
        seen[parsed.orcid] = index
        candidates.append(_Candidate(index=index, row=parsed, expires_at=checked))
    return candidates


def _match(
    importer: TokenImporter, candidates: Sequence[_Candidate], outcomes: dict[int, TokenRowOutcome]
) -> list[_Candidate]:
    """Find each row's researcher and fingerprint its token; rows without a researcher are rejected."""
    by_id = importer.researchers.get_many([c.row.researcher_id for c in candidates if c.row.researcher_id])
    # DynamoDB cannot batch-read an index: one query per iD, and only for rows that give no researcher id.
    by_orcid = {
        c.row.orcid: importer.researchers.find_by_orcid(c.row.orcid) for c in candidates if not c.row.researcher_id
    }
    matched: list[_Candidate] = []
    for candidate in candidates:
        found = _match_researcher(candidate, by_id, by_orcid)
        if isinstance(found, TokenRowOutcome):
            outcomes[candidate.index] = found
            continue
        candidate.researcher = found
        candidate.fingerprint = token_fingerprint(
            importer.signing_key.get_secret_value(),
            found.id,
            candidate.row.access_token.get_secret_value(),
            candidate.row.refresh_token.get_secret_value() if candidate.row.refresh_token else None,
        )
        matched.append(candidate)
    return matched


def _decide(importer: TokenImporter, candidate: _Candidate, stored: StoredToken | None) -> TokenRowOutcome:
    """Rejected (a token ORCID refused, now or before), unchanged, or to be stored / replaced."""
    row, index = candidate.row, candidate.index
    same_token = stored is not None and stored.fingerprint == candidate.fingerprint
    if same_token and stored is not None and (refused := _refused_before(stored)):
        return _rejected(index, "access_token", refused, orcid=row.orcid)
    if importer.probe is not None:
        verdict = importer.probe(row.orcid, row.access_token)
        if verdict is not ProbeResult.VALID:
            reason = _INVALIDATING.get(verdict)
            if reason is not None and same_token and stored is not None:
                # The token we hold is this very one: it is no better for having been imported earlier.
                invalidate_token(importer.researchers, importer.tokens, stored, reason, at=importer.clock())
            field, problem = _PROBE_PROBLEMS[verdict]
            return _rejected(index, field, problem, orcid=row.orcid)
        candidate.verified = True
    if _is_unchanged(stored, candidate):
        kind = TokenOutcomeKind.UNCHANGED
    else:
        kind = TokenOutcomeKind.STORED if stored is None else TokenOutcomeKind.REPLACED
    researcher_id = candidate.researcher.id if candidate.researcher else None
    return TokenRowOutcome(row=index, outcome=kind, orcid=row.orcid, researcher_id=researcher_id, can_pull=row.can_pull)


_INVALIDATING: dict[ProbeResult, TokenInvalidReason] = {
    ProbeResult.INVALID_TOKEN: TokenInvalidReason.INVALID_TOKEN,
    ProbeResult.WRONG_RECORD: TokenInvalidReason.WRONG_RECORD,
}


def _refused_before(stored: StoredToken) -> str | None:
    if stored.invalid_reason is TokenInvalidReason.WRONG_RECORD and stored.invalid_at is not None:
        return (
            f"ORCID said on {stored.invalid_at.date().isoformat()} that this token belongs to another ORCID "
            "record (error 9017); import the researcher's own token, or send them a connect link"
        )
    refused_at = stored.revoked_at or stored.invalid_at
    if refused_at is not None:
        return f"this token was revoked on {refused_at.date().isoformat()}; import a new one"
    return None


def import_token_rows(
    importer: TokenImporter, rows: Sequence[tuple[int, object]], *, seen: dict[str, int]
) -> list[TokenRowOutcome]:
    """Check, seal and store one chunk of rows (``(position, raw row)`` pairs), one KMS call at most.

    ``seen`` maps each iD already taken in this batch to its row: a later row for the same iD is
    rejected rather than silently replacing the earlier one. Pass the same dict for every chunk.
    """
    now = importer.clock()
    outcomes: dict[int, TokenRowOutcome] = {}
    matched = _match(importer, _screen(rows, seen, now, outcomes), outcomes)
    existing = importer.tokens.get_many([c.researcher.id for c in matched if c.researcher])
    to_write: list[_Candidate] = []
    for candidate in matched:
        assert candidate.researcher is not None  # _match sets it
        outcome = _decide(importer, candidate, existing.get(candidate.researcher.id))
        outcomes[candidate.index] = outcome
        if outcome.outcome in (TokenOutcomeKind.STORED, TokenOutcomeKind.REPLACED):
            to_write.append(candidate)
        elif outcome.outcome is TokenOutcomeKind.UNCHANGED and candidate.verified:
            confirm_orcid(importer.researchers, candidate.researcher, orcid=candidate.row.orcid)
    if to_write:
        _store(importer, to_write, now)
    return [outcomes[index] for index, _ in rows]


def _store(importer: TokenImporter, candidates: Sequence[_Candidate], now: datetime) -> None:
    sealer = importer.cipher.batch()  # the chunk's one KMS call
    tokens = []
    for candidate in candidates:
        assert candidate.researcher is not None
        researcher_id, row = candidate.researcher.id, candidate.row
        tokens.append(
            StoredToken(
                researcher_id=researcher_id,
                orcid=row.orcid,
                access_token=sealer.seal(researcher_id, row.access_token.get_secret_value()),
                refresh_token=sealer.seal(researcher_id, row.refresh_token.get_secret_value())
                if row.refresh_token
                else None,
                scopes=sorted(row.scopes),
                expires_at=candidate.expires_at,
                token_type=row.token_type,
                source=TokenSource.IMPORT,
                stored_at=now,
                fingerprint=candidate.fingerprint,
            )
        )
    # Tokens first: a token whose researcher is not yet marked active is harmless; the reverse is not.
    importer.tokens.put_many(tokens)
    for candidate in candidates:
        assert candidate.researcher is not None
        # A legacy export proves nothing about whose token it is: only ORCID accepting it for this iD
        # (verify here, or the first push or pull that succeeds) makes the iD authenticated.
        importer.researchers.record_connection(
            candidate.researcher.id,
            orcid=candidate.row.orcid,
            scopes=sorted(candidate.row.scopes),
            connected_at=now,
            authenticated=candidate.verified,
        )


def import_token_batch(importer: TokenImporter, rows: Sequence[object]) -> TokenBatchReport:
    """``POST /tokens``: up to 1,000 rows (100 with verification); valid rows are stored even if others fail."""
    if importer.probe is not None:
        check_batch_size(len(rows), limit=MAX_VERIFIED_ROWS, hint=" with verify=true (each row costs an ORCID request)")
    check_batch_size(len(rows), hint="; upload bigger files with POST /tokens/uploads")
    seen: dict[str, int] = {}
    outcomes: list[TokenRowOutcome] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = list(enumerate(rows[start : start + CHUNK_ROWS], start=start))
        outcomes += import_token_rows(importer, chunk, seen=seen)
    counts = TokenCounts()
    counts.add(outcomes)
    return TokenBatchReport(verified=importer.probe is not None, counts=counts, rows=outcomes)


def import_token_request(importer: TokenImporter, body: bytes, content_type: str) -> TokenBatchReport:
    """``POST /tokens``: parse the body (JSON or CSV by its content type), then import its rows."""
    return import_token_batch(importer, parse_token_body(body, content_type))

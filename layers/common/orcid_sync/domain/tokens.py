"""Importing ORCID tokens from a legacy system: parse rows, check them, store them encrypted, report per row.

A row is stored only if its iD is valid, a researcher has that iD (the precondition Esploro documents
for its token API), and its scope lets us push (``/activities/update``). Rows without ``/read-limited``
are stored but flagged ``can_pull: false``. Each chunk of rows costs one KMS call: every token in it is
sealed under one data key. The same batch sent again changes nothing: a keyed fingerprint of the token
values recognises a token we already hold without decrypting it.

Token values never leave this module except sealed: they are ``SecretStr`` from parsing on, reasons
never quote a cell of the row, and reports name rows by position, valid iD and known researcher id.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    computed_field,
    field_validator,
)

from orcid_sync.domain.batches import MAX_BATCH_ROWS, check_batch_size, check_body_size, json_type, problems_from
from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.identifiers import InvalidIdentifierError, OrcidId, parse_orcid
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import (
    ORCID_SCOPES,
    PULL_SCOPE,
    PUSH_SCOPE,
    EntityId,
    OrcidStatus,
    Researcher,
    StoredToken,
    TokenInvalidReason,
    TokenSource,
    control_character_problem,
    utc_now,
)
from orcid_sync.domain.ports import ResearcherStore, TokenCipher, TokenStore
from orcid_sync.domain.tokens_crypto import token_fingerprint

CHUNK_ROWS = MAX_BATCH_ROWS
"""Rows sealed under one data key and looked up together."""
MAX_VERIFIED_ROWS = 100
"""Rows per request with ``verify=true``: one ORCID read each at ~20/s must fit in API Gateway's 29 s."""
MAX_LIFETIME_SECONDS = 100 * 365 * 24 * 3600  # ORCID's tokens last ~20 years; anything past a century is a typo

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"

_SCOPE = re.compile(r"^(?:/[a-z][a-z0-9-]*)+$|^openid$")
_DOCUMENTED_SCOPES = (
    "/authenticate",
    "openid",
    "/read-limited",
    "/activities/update",
    "/person/update",
    "/read-public",
    "/webhook",
)
_SCRUB_MIN_LENGTH = 8
_HIDDEN = "…"


# --- one row ----------------------------------------------------------------------------------


def _split_scopes(value: object) -> object:
    # ORCID sends one space-separated string; some exports use commas or a JSON list.
    if isinstance(value, str):
        parts: Iterable[object] = re.split(r"[\s,]+", value)
    elif isinstance(value, list | tuple | set | frozenset):
        parts = value
    else:
        raise ValueError(f"must be a space-separated string of scopes, not {json_type(value)}")
    scopes = {part.strip() for part in parts if isinstance(part, str) and part.strip()}
    if not scopes:
        raise ValueError("lists no scope")
    if any(not _SCOPE.match(scope) for scope in scopes) or any(not isinstance(part, str) for part in parts):
        raise ValueError("contains something that is not an ORCID scope (scopes look like /activities/update)")
    unknown = sorted(scopes - ORCID_SCOPES)
    if unknown:
        # A scope-shaped word is no secret; naming it shows the typo (/activites/update).
        names = ", ".join(unknown)
        raise ValueError(
            f"{names} {'is not a scope' if len(unknown) == 1 else 'are not scopes'} ORCID grants "
            f"(ORCID's are {', '.join(sorted(_DOCUMENTED_SCOPES))} and the finer scopes they stand for)"
        )
    return frozenset(scopes)


def _parse_expiry(value: object) -> object:
    # ISO 8601 (a date alone means midnight UTC), or seconds (or milliseconds) since 1970.
    if isinstance(value, bool):
        raise ValueError("must be a date-time, not a boolean")
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("is not a time ORCID could have issued") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("is not a date-time: use ISO 8601 (2039-05-01T00:00:00Z) or seconds since 1970") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


class TokenRow(BaseModel):
    """One row of a token batch: ORCID's token-response fields, or the dotted keys of a legacy Esploro export."""

    model_config = {"extra": "ignore", "frozen": True, "populate_by_name": True}

    orcid: OrcidId
    access_token: Annotated[SecretStr, Field(validation_alias=AliasChoices("access_token", "access.token"))]
    refresh_token: Annotated[
        SecretStr | None, Field(validation_alias=AliasChoices("refresh_token", "refresh.token"))
    ] = None
    token_type: Annotated[str, Field(validation_alias=AliasChoices("token_type", "token.type"))] = "bearer"  # noqa: S105
    scopes: Annotated[
        frozenset[str], BeforeValidator(_split_scopes), Field(validation_alias=AliasChoices("scope", "scopes"))
    ]
    expires_in: Annotated[int | None, Field(ge=1, le=MAX_LIFETIME_SECONDS)] = None
    expires_at: Annotated[
        datetime | None, BeforeValidator(_parse_expiry), Field(validation_alias=AliasChoices("expires_at", "expiry"))
    ] = None
    researcher_id: EntityId | None = None

    @field_validator("access_token", "refresh_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {json_type(value)}")
        if not value.strip():
            raise ValueError("is empty")
        if any(ch.isspace() for ch in value.strip()):
            raise ValueError("contains white space, which no ORCID token does")
        if control_character_problem(value.strip()):
            raise ValueError("contains a control character, which no ORCID token does")
        return value.strip()

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.strip().lower() != "bearer":
            raise ValueError("must be bearer: ORCID issues only bearer tokens")
        return "bearer"

    @property
    def can_push(self) -> bool:
        return PUSH_SCOPE in self.scopes

    @property
    def can_pull(self) -> bool:
        return PULL_SCOPE in self.scopes

    def expiry(self, now: datetime) -> datetime | None:
        """``expires_at`` if given, else ``expires_in`` counted from now (a legacy export cannot know better)."""
        if self.expires_at is not None:
            return self.expires_at
        if self.expires_in is not None:
            return now + timedelta(seconds=self.expires_in)
        return None


def _known_keys() -> frozenset[str]:
    keys: set[str] = set()
    for name, info in TokenRow.model_fields.items():
        keys.add(name)
        if isinstance(info.validation_alias, AliasChoices):
            keys.update(choice for choice in info.validation_alias.choices if isinstance(choice, str))
    return frozenset(keys)


KNOWN_KEYS = _known_keys() | {"name"}
"""Every key a token row may have: ours, ORCID's token response (``name`` is ignored) and Esploro's export."""
_KEY_HINT = (
    "a token row has orcid, access_token, refresh_token, scope, expires_in or expires_at, token_type and "
    "researcher_id (or Esploro's access.token, refresh.token, token.type, scopes, expiry)"
)
_SECRET_LOOKING = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def unknown_key_problem(key: str, row: int | None = None) -> Problem:
    """An unknown key or column, named unless it could be a token (a row keyed by its values)."""
    if len(key) > 64 or _SECRET_LOOKING.search(key):
        return Problem(row=row, field="row", reason=f"has a key that is not a column of a token row: {_KEY_HINT}")
    return Problem(row=row, field=key, reason=f"is not a column of a token row (a typo?): {_KEY_HINT}")


def _unknown_keys(raw: Mapping[Any, Any], index: int) -> list[Problem]:
    return [unknown_key_problem(key, index) for key in raw if isinstance(key, str) and key not in KNOWN_KEYS]


def _without_blanks(raw: Mapping[Any, Any]) -> dict[str, Any]:
    # A CSV's empty cells and JSON nulls mean "not given", so optional columns may be left empty.
    return {
        key: value.strip() if isinstance(value, str) else value
        for key, value in raw.items()
        if isinstance(key, str) and value is not None and not (isinstance(value, str) and not value.strip())
    }


def _row_strings(raw: Mapping[Any, Any]) -> list[str]:
    values: list[str] = []
    for value in raw.values():
        items = value if isinstance(value, list) else [value]
        values += [str(item).strip() for item in items if isinstance(item, str | int | float)]
    return sorted({v for v in values if len(v) >= _SCRUB_MIN_LENGTH}, key=len, reverse=True)


def _scrub(reason: str, secrets: Sequence[str]) -> str:
    # Validation messages may quote the value; a value in the wrong column may be a token.
    for value in secrets:
        reason = reason.replace(value, _HIDDEN)
    return reason


def parse_token_row(raw: object, index: int) -> TokenRow | list[Problem]:
    """Validate one row; problems never quote a cell (any cell may hold a token)."""
    if not isinstance(raw, Mapping):
        return [Problem(row=index, field="row", reason=f"expected an object, got {json_type(raw)}")]
    if None in raw:
        return [Problem(row=index, field="row", reason="has more cells than the header row has columns")]
    # A misspelt key (refresh_tokn) would otherwise drop its value without a word.
    unknown = _unknown_keys(raw, index)
    try:
        parsed = TokenRow.model_validate(_without_blanks(raw))
    except ValidationError as exc:
        secrets = _row_strings(raw)
        return unknown + [
            problem.model_copy(update={"reason": _scrub(problem.reason, secrets)})
            for problem in problems_from(exc, row=index)
        ]
    return unknown or parsed


def row_orcid(raw: object) -> str | None:
    """The row's iD when it has a valid one (for reports of rows rejected for something else)."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("orcid")
    if not isinstance(value, str):
        return None
    try:
        return parse_orcid(value)
    except InvalidIdentifierError:
        return None  # not quoted: a misaligned row could carry a token here


# --- request bodies ---------------------------------------------------------------------------

_REQUIRED_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("orcid",),
    ("access_token", "access.token"),
    ("scope", "scopes"),
    ("expires_in", "expires_at", "expiry"),
)


def csv_token_rows(lines: Iterable[str]) -> Iterator[dict[Any, Any]]:
    """Rows of a CSV with a header row; a header lacking a required column is refused before any row."""
    reader = csv.reader(lines)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidInputError("the CSV is empty", [Problem(field="header", reason="no header row")]) from None
    except csv.Error as exc:
        raise InvalidInputError("the CSV header cannot be read", [Problem(field="header", reason=str(exc))]) from None
    missing = [" or ".join(group) for group in _REQUIRED_COLUMNS if not set(group) & set(header)]
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1 and name)
    problems = [Problem(field="header", reason=f"missing column {name}") for name in missing]
    problems += [Problem(field="header", reason=f"column {name} appears twice") for name in duplicates]
    if not missing:  # a header lacking required columns may be a data row: never quote its cells then
        for name in dict.fromkeys(name for name in header if name and name not in KNOWN_KEYS):
            unknown = unknown_key_problem(name)
            reason = f"column {name} {unknown.reason}" if unknown.field != "row" else unknown.reason
            problems.append(Problem(field="header", reason=reason))
    if problems:
        raise InvalidInputError("the CSV header row is not usable: " + "; ".join(p.reason for p in problems), problems)
    index = 0
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            row: dict[Any, Any] = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                row[None] = cells[len(header) :]
            yield row
            index += 1
    except csv.Error as exc:
        raise InvalidInputError(
            f"the CSV cannot be read after row {index}",
            [Problem(row=index, field="row", reason=f"malformed CSV ({exc})")],
        ) from None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_token_body(body: bytes, content_type: str) -> list[object]:
    """The rows of a ``POST /tokens`` body: a JSON array of objects, or a CSV with a header row."""
    check_body_size(len(body))
    media_type = _media_type(content_type)
    if media_type not in (JSON_TYPE, CSV_TYPE):
        raise InvalidInputError(
            f"a token batch is {JSON_TYPE} (an array of rows) or {CSV_TYPE} (with a header row)",
            [Problem(field="header.content-type", reason=f"{media_type or 'none given'} is not accepted")],
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            "the body is not UTF-8", [Problem(field="body", reason=f"byte {exc.start} is not UTF-8")]
        ) from None
    if media_type == CSV_TYPE:
        return list(csv_token_rows(text.splitlines()))
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            "the body is not valid JSON",
            [Problem(field="body", reason=f"{exc.msg} at line {exc.lineno}, column {exc.colno}")],
        ) from None
    if not isinstance(rows, list):
        raise InvalidInputError(
            "a JSON token batch is an array of rows",
            [Problem(field="body", reason=f"expected an array, got {json_type(rows)}")],
        )
    return rows


# --- checking and storing ---------------------------------------------------------------------


class ProbeResult(StrEnum):
    """What ORCID said when a token was tried (one read of the record)."""

    VALID = "valid"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - ORCID's OAuth error code, not a secret
    WRONG_RECORD = "wrong_record"
    NO_RECORD = "no_record"
    UNAVAILABLE = "unavailable"


class TokenProbe(Protocol):
    """Tries a token against ORCID (rate-limited by the implementation)."""

    def __call__(self, orcid: str, access_token: SecretStr, /) -> ProbeResult: ...


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


# --- what ORCID says about a stored token ---------------------------------------------------------


def invalidate_token(
    researchers: ResearcherStore,
    tokens: TokenStore,
    token: StoredToken,
    reason: TokenInvalidReason,
    *,
    at: datetime,
) -> bool:
    """ORCID refused a stored token (401 invalid_token, or 401/9017 for another record) on any call.

    The token is marked invalid, so no push or pull selects the researcher again, and the researcher's
    status says why (``revoked`` or ``token_invalid``) until they connect again. False, and nothing
    changed, when the stored token is no longer this one (the researcher reconnected meanwhile).
    """
    if not tokens.mark_invalid(token.researcher_id, at=at, reason=reason, fingerprint=token.fingerprint):
        logger.info("token replaced before it could be marked invalid", researcher_id=token.researcher_id)
        return False
    researchers.set_status(token.researcher_id, reason.status)
    logger.info("token marked invalid", researcher_id=token.researcher_id, reason=reason.value)
    return True


def confirm_orcid(researchers: ResearcherStore, researcher: Researcher, *, orcid: str) -> None:
    """ORCID accepted the researcher's token for ``orcid`` (a verify, or a push or pull that succeeded).

    From then on the iD counts as authenticated, as after the OAuth callback: a load cannot change it.
    """
    if researcher.orcid_authenticated or researcher.orcid != orcid:
        return
    if researchers.mark_authenticated(researcher.id, orcid=orcid):
        logger.info("ORCID accepted the token: iD authenticated", researcher_id=researcher.id, orcid=orcid)

"""Token rows as a legacy system sends them: one row checked, and the rows of a JSON or CSV request body.

Token values are ``SecretStr`` from parsing on, and a problem never quotes a cell of the row: any cell
of a misaligned row may hold a token.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, SecretStr, ValidationError, field_validator

from orcid_sync.domain.batches import check_body_size, json_type, problems_from
from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.identifiers import InvalidIdentifierError, OrcidId, parse_orcid
from orcid_sync.domain.models import ORCID_SCOPES, PULL_SCOPE, PUSH_SCOPE, EntityId, control_character_problem

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

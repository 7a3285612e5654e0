"""What every batch endpoint shares: the row limit, per-row outcomes and readable validation problems."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from orcid_sync.domain.errors import InvalidInputError, PayloadTooLargeError, Problem

MAX_BATCH_ROWS = 1000
"""Rows per request; one request must finish well inside API Gateway's 29 s limit."""

MAX_BODY_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous payload limit; the local stack has none, so the routes enforce it too."""


class RowOutcomeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    """The row's content is what is stored already: nothing was written (not even ``updated_at``)."""
    REJECTED = "rejected"


class RowOutcome(BaseModel):
    """What happened to one row of a batch; ``row`` is its 0-based position in the request.

    ``problems`` say why a row was rejected; ``warnings`` (same shape) what is odd about a row that
    was stored anyway, e.g. an asset naming a researcher not loaded yet. A row whose content equals
    what is stored is ``unchanged``: nothing is written, so nothing downstream (the push) sees a change.
    """

    row: int
    id: str | None = None
    outcome: RowOutcomeKind
    problems: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)


class BatchCounts(BaseModel):
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    with_warnings: int = 0
    """Rows accepted (created, updated or unchanged) with a warning."""


class BatchReport(BaseModel):
    """The result of a researcher or asset batch: counts, then one outcome per row in request order."""

    counts: BatchCounts
    rows: list[RowOutcome]

    @classmethod
    def of(cls, rows: list[RowOutcome]) -> BatchReport:
        tally = Counter(row.outcome for row in rows)
        counts = BatchCounts(
            received=len(rows),
            created=tally[RowOutcomeKind.CREATED],
            updated=tally[RowOutcomeKind.UPDATED],
            unchanged=tally[RowOutcomeKind.UNCHANGED],
            rejected=tally[RowOutcomeKind.REJECTED],
            with_warnings=sum(1 for row in rows if row.warnings),
        )
        return cls(counts=counts, rows=rows)


def check_batch_size(count: int, *, limit: int = MAX_BATCH_ROWS, hint: str = "") -> None:
    if count > limit:
        raise PayloadTooLargeError(f"a request may carry at most {limit:,} rows, this one has {count:,}{hint}")
    if count == 0:
        raise InvalidInputError("the batch is empty", [Problem(field="body", reason="send at least one row")])


def check_body_size(size: int, *, limit: int = MAX_BODY_BYTES) -> None:
    if size > limit:
        raise PayloadTooLargeError(f"the request body has {size:,} bytes; at most {limit:,} are accepted")


_ENUM_REPR = re.compile(r"<[A-Za-z_][\w.]*: ('[^']*'|\"[^\"]*\"|-?\d+)>")


def readable(message: str) -> str:
    """A validation message as a person reads it: values, never Python reprs.

    pydantic prefixes our validators' messages with "Value error, ", and names the members of an
    enum in a ``Literal`` by their repr (``<JobType.PUSH: 'push'>``): the value (``'push'``) is what
    the caller sends.
    """
    return _ENUM_REPR.sub(r"\1", message.removeprefix("Value error, ").removeprefix("Assertion failed, "))


def problems_from(error: ValidationError, *, row: int | None = None, prefix: str = "") -> list[Problem]:
    """One :class:`Problem` per pydantic error, the field as a dotted path."""
    problems = []
    for err in error.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in err["loc"]) or "row"
        problems.append(Problem(row=row, field=f"{prefix}{location}", reason=readable(err["msg"])))
    return problems


def duplicate_problem(row: int, first_row: int, field: str, value: str) -> Problem:
    return Problem(
        row=row,
        field=field,
        reason=f"{value} already appears in row {first_row} of this batch; only the first row for it is used",
    )


def as_mapping(row: object, index: int) -> Mapping[str, Any] | Problem:
    """A row must be a JSON object; anything else is a problem of that row."""
    if isinstance(row, Mapping):
        return row
    return Problem(row=index, field="row", reason=f"expected a JSON object, got {json_type(row)}")


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def rejected(index: int, problems: Iterable[Problem], *, row_id: str | None = None) -> RowOutcome:
    return RowOutcome(row=index, id=row_id, outcome=RowOutcomeKind.REJECTED, problems=list(problems))


class Identified(Protocol):
    """A validated row that names what it is about (an asset's or a researcher's ``id``)."""

    @property
    def id(self) -> str: ...


def parse_rows[RowT: Identified](
    rows: Sequence[object], validate: Callable[[Mapping[str, Any]], RowT], *, noun: str
) -> tuple[dict[int, RowT], dict[int, RowOutcome]]:
    """Each row validated (``validate`` raises pydantic's ``ValidationError``), by row index; rows that are not
    objects, do not validate, or repeat an earlier row's id are rejected outcomes naming the row and the field."""
    parsed: dict[int, RowT] = {}
    outcomes: dict[int, RowOutcome] = {}
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        mapping = as_mapping(row, index)
        if isinstance(mapping, Problem):
            outcomes[index] = rejected(index, [mapping])
            continue
        try:
            item = validate(mapping)
        except ValidationError as exc:
            row_id = mapping.get("id")
            outcomes[index] = rejected(index, problems_from(exc, row=index), row_id=str(row_id) if row_id else None)
            continue
        if item.id in first_row:
            problem = duplicate_problem(index, first_row[item.id], "id", f"{noun} {item.id}")
            outcomes[index] = rejected(index, [problem], row_id=item.id)
            continue
        first_row[item.id] = index
        parsed[index] = item
    return parsed, outcomes

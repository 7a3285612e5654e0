"""Token files checked on the administrator's machine before anything is sent (header, JSON syntax, row count).

The stack checks every row again (iD, researcher, scopes) and is the authority; this is only so that
a file that cannot be read is refused at once, with its line, instead of after an upload. The rules
for the header are the layer's (``orcid_sync.domain.tokens.importing``): a test keeps the two equal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orcid_sync_cli.errors import API_ERROR, CliError

REQUIRED_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("orcid",),
    ("access_token", "access.token"),
    ("scope", "scopes"),
    ("expires_in", "expires_at", "expiry"),
)
"""Each group: one of these columns must be in a CSV's header row."""


ORCID_SHAPE = re.compile(r"^(?:https?://(?:sandbox\.)?orcid\.org/)?\d{4}-?\d{4}-?\d{4}-?\d{3}[\dX]$")
"""What an ORCID iD looks like, checksum aside: 16 digits (the last may be X), with or without hyphens."""


class TokenFileError(CliError):
    """The file cannot be imported as it is; nothing was sent."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}", API_ERROR)


def file_format(path: Path) -> str:
    """``csv`` or ``json`` (a JSON array or JSON Lines), as ``POST /tokens/uploads`` takes it."""
    return "csv" if path.suffix.lower() == ".csv" else "json"


def check_header(header: list[str]) -> None:
    names = [name.strip().lower() for name in header]
    missing = [" or ".join(group) for group in REQUIRED_COLUMNS if not set(group) & set(names)]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1 and name)
    reasons = [f"missing column {name}" for name in missing] + [f"column {name} appears twice" for name in duplicates]
    if reasons:
        raise ValueError("the CSV header row is not usable: " + "; ".join(reasons))


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise TokenFileError(path, "the CSV is empty (no header row)") from None
        try:
            check_header(header)
        except ValueError as exc:
            raise TokenFileError(path, str(exc)) from None
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield cells
        except csv.Error as exc:
            raise TokenFileError(path, f"the CSV cannot be read at line {reader.line_num} ({exc})") from None


def json_rows(path: Path) -> list[Any]:
    """The rows of a JSON array or JSON Lines file."""
    return [row for _, row in _numbered_json_rows(path)]


def _numbered_json_rows(path: Path) -> list[tuple[int | None, Any]]:
    """The rows of a JSON array (line None) or JSON Lines file (each row's line; blank lines are not rows).

    Lines end at \\n only, as the stack reads them: ``splitlines()`` would also end one at a U+2028
    inside a JSON string, which JSON allows.
    """
    with path.open(encoding="utf-8-sig") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenFileError(path, f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(rows, list):
            raise TokenFileError(path, "holds a JSON value that is not an array")
        return [(None, row) for row in rows]
    numbered: list[tuple[int | None, Any]] = []
    for number, line in enumerate(io.StringIO(text, newline="\n"), start=1):
        if not line.strip():
            continue
        try:
            numbered.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise TokenFileError(path, f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}") from None
    return numbered


def count_rows(path: Path) -> int:
    """How many token rows the file holds, refusing one that cannot be read."""
    if file_format(path) == "csv":
        return sum(1 for _ in _csv_rows(path))
    return len(json_rows(path))


@dataclass(frozen=True)
class RowPlace:
    """Where a data row is in the file (``line``: None in a JSON array) and its iD, when the value has an iD's shape."""

    line: int | None
    orcid: str | None


def _id_shaped(value: Any) -> str | None:
    # Anything else could be anything, even a token in the wrong column: it is never repeated.
    return value.strip() if isinstance(value, str) and ORCID_SHAPE.match(value.strip()) else None


def row_places(path: Path) -> list[RowPlace]:
    """Each data row's line and iD-shaped ``orcid``, counted as the stack counts rows (blank ones are not rows)."""
    if file_format(path) == "json":
        return [
            RowPlace(line, _id_shaped(row.get("orcid") if isinstance(row, dict) else None))
            for line, row in _numbered_json_rows(path)
        ]
    places = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        column = header.index("orcid") if "orcid" in header else None
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                value = cells[column] if column is not None and column < len(cells) else None
                places.append(RowPlace(start, _id_shaped(value)))
            start = reader.line_num + 1
    return places


def request_body(path: Path) -> tuple[bytes, str]:
    """The ``POST /tokens`` body for a small file: the CSV as it is, or the JSON rows as one array."""
    if file_format(path) == "csv":
        return path.read_bytes(), "text/csv"
    return json.dumps(json_rows(path)).encode(), "application/json"

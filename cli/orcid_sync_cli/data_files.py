"""The files a data load reads and writes: input rows, ``<FILE>.rejected.jsonl``, ``<FILE>.warnings.jsonl``.

Input files are CSV (with a header row), JSON Lines, or a JSON array. Rows the API rejects go to
``<FILE>.rejected.jsonl`` with their row number, line and reasons, so they can be fixed and sent
again; rows it stored with a warning (an asset naming a researcher not loaded yet) go to
``<FILE>.warnings.jsonl``. Also here: the summary a load prints and its progress bar.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from orcid_sync_cli import output as output_module
from orcid_sync_cli.errors import CliError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

BATCH_ROWS = 1000
"""Rows per request: the API's limit."""
VERIFIED_BATCH_ROWS = 100
"""Rows per request with --verify (each costs an ORCID read); bigger files go through an upload."""
LIST_SEPARATORS = (";", "|")

FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)

FAIL_ON_REJECTED = click.option(
    "--fail-on-rejected", is_flag=True, help="Exit with status 1 when any row is rejected (the valid rows are stored)."
)


def progress_console() -> Console:
    """The console a load's progress goes to."""
    # Progress goes to stderr so that stdout carries only the summary.
    return output_module.console(stderr=True)


def progress_bar(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


# --- reading files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    """One row of an input file: its position among the data rows, the line it starts on, its values."""

    index: int
    line: int
    data: Any


BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
"""How a CSV cell says yes or no; the API takes JSON booleans, and a CSV has only text."""
RESEARCHER_BOOLEANS = ("update_orcid_profile", "active")
ASSET_BOOLEANS = ("visible",)


def _csv_value(
    column: str, value: str, list_columns: Sequence[str], json_columns: Sequence[str], bool_columns: Sequence[str]
) -> Any:
    if column in bool_columns:
        return BOOLEANS.get(value.strip().lower(), value)  # anything else: the API says what is wrong with it
    if column in json_columns:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # the API says what is wrong with it
    if column in list_columns:
        for separator in LIST_SEPARATORS:
            if separator in value:
                return [part.strip() for part in value.split(separator) if part.strip()]
        return [value.strip()]
    return value


def read_rows(
    path: Path,
    *,
    list_columns: Sequence[str] = (),
    json_columns: Sequence[str] = (),
    bool_columns: Sequence[str] = (),
) -> Iterator[FileRow]:
    """Rows of a CSV (empty cells left out, yes/no columns as booleans), JSON Lines or a JSON array, one at a time."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            line = 2
            for index, raw in enumerate(reader):
                data = {
                    key.strip(): _csv_value(key.strip(), value, list_columns, json_columns, bool_columns)
                    for key, value in raw.items()
                    if key is not None and isinstance(value, str) and value.strip()
                }
                yield FileRow(index, line, data)
                line = reader.line_num + 1
        return
    with path.open(encoding="utf-8-sig") as handle:
        first = handle.read(1)
        while first.isspace():
            first = handle.read(1)
        handle.seek(0)
        if first == "[":
            try:
                rows = json.load(handle)
            except json.JSONDecodeError as exc:
                raise CliError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
            if not isinstance(rows, list):
                raise CliError(f"{path} holds a JSON value that is not an array")
            for index, data in enumerate(rows):
                yield FileRow(index, 0, data)
            return
        index = 0
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CliError(f"{path}, line {line}: not valid JSON ({exc.msg})") from None
            yield FileRow(index, line, data)
            index += 1


def count_rows(rows: Iterator[Any]) -> int:
    return sum(1 for _ in rows)


REJECTED_SUFFIX = ".rejected.jsonl"
WARNINGS_SUFFIX = ".warnings.jsonl"
SHOWN_WARNINGS = 3
"""Warnings printed after a load's summary; the file has them all."""


class RowsFile:
    """``<FILE>.rejected.jsonl`` or ``<FILE>.warnings.jsonl``, created on the first line; a stale one from an earlier
    run goes. ``count`` is the lines written."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.source = path
        self.path = path.with_name(path.name + suffix)
        self.path.unlink(missing_ok=True)
        self._handle: IO[str] | None = None
        self.count = 0

    def write(self, entry: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def print_summary(
    path: Path,
    counts: Counter[str],
    order: Sequence[str],
    rejected: RowsFile,
    output_format: str,
    *,
    warnings: LoadWarnings | None = None,
) -> None:
    if output_format == "table":
        parts = ", ".join(f"{name.replace('_', ' ')} {counts[name]:,}" for name in order)
        click.echo(f"{path.name}: {counts['received']:,} rows: {parts}")
        if rejected.count:
            click.echo(f"{rejected.count:,} rejected rows, with the reasons, are in {rejected.path}")
        if warnings is not None:
            warnings.tell(err=False)
        return
    summary: dict[str, Any] = {"file": str(path), "received": counts["received"]}
    summary |= {name: counts[name] for name in order}
    summary["rejected_file"] = str(rejected.path) if rejected.count else None
    if warnings is not None:
        summary["with_warnings"] = warnings.rows
        summary["warnings_file"] = str(warnings.file.path) if warnings.file.count else None
    if output_format == "json":
        output_module.emit_json(summary)
    else:
        output_module.emit_fields_csv(summary)
    if warnings is not None:
        warnings.tell(err=True)  # for people; stdout stays the document


class LoadWarnings:
    """Rows the API stored with warnings: every warning to ``<FILE>.warnings.jsonl``, the first few for people."""

    def __init__(self, path: Path) -> None:
        self.file = RowsFile(path, WARNINGS_SUFFIX)
        self.rows = 0
        self.shown: list[str] = []

    def add(self, row: FileRow, outcome: dict[str, Any]) -> None:
        self.rows += 1
        for warning in outcome["warnings"]:
            entry = {
                "row": row.index,
                "line": row.line or None,  # a JSON array's rows have no line of their own
                "id": outcome.get("id"),
                "field": warning["field"],
                "reason": warning["reason"],
            }
            self.file.write({k: v for k, v in entry.items() if v is not None})
            if len(self.shown) < SHOWN_WARNINGS:
                where = ", ".join(
                    part for part in (f"line {row.line}" if row.line else "", outcome.get("id") or "") if part
                )
                self.shown.append(f"  {where or f'row {row.index + 1}'}: {warning['field']}: {warning['reason']}")

    def close(self) -> None:
        self.file.close()

    def tell(self, *, err: bool) -> None:
        """``N rows stored with warnings``, the first few, and where the rest are (nothing when there are none)."""
        if not self.rows:
            return
        click.echo(f"{self.rows:,} row{'' if self.rows == 1 else 's'} stored with warnings:", err=err)
        for line in self.shown:
            click.echo(line, err=err)
        if self.file.count > len(self.shown):
            click.echo(f"  … and {self.file.count - len(self.shown):,} more", err=err)
        click.echo(f"All warnings, with their rows, are in {self.file.path}", err=err)


def without_row(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    # The API numbers rows within its request; the file's own row number is given beside.
    return [{k: v for k, v in problem.items() if k != "row"} for problem in outcome["problems"]]

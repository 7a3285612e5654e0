"""What commands print: JSON for scripts, CSV for spreadsheets, tables for people (fitted to the terminal).

JSON is the API's own document for the resource, indented, keys sorted: stable for scripts. A
listing's CSV has one row per item; a single object's CSV has one ``field,value`` row per field
(nested fields as dotted names, as ``settings set`` takes them). Tables never cut a header or break
an id: columns that do not fit are left out (the JSON has everything), the rest wrap words.
Hints for people ("More: …") go to stderr, so stdout carries only the data.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def emit_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)


def emit_fields_csv(document: Mapping[str, Any]) -> None:
    """One object as ``field,value`` rows."""
    emit_csv(("field", "value"), flatten(document).items())


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` → ``{"a.b": "1"}``; lists and scalars as ``settings set`` would take them."""
    flat: dict[str, str] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _csv_cell(value) if not isinstance(value, Mapping) else "{}"
    return flat


def hint(text: str) -> None:
    """A line for people (what to run next); stderr, so that stdout stays data."""
    click.echo(text, err=True)


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (CliRunner, a pipe). Colour only on a terminal, never with NO_COLOR."""
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)


def when(value: str | None, *, seconds: bool = True) -> str:
    """An ISO timestamp as ``2026-11-21 02:00:00`` in UTC ("-" when absent)."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def styled(value: str, style: str | None = None) -> Text:
    from rich.text import Text

    return Text(value, style=style or "")


@dataclass(frozen=True)
class Column:
    """A table column. ``no_wrap`` for ids and dates; ``drop`` > 0: left out first (highest first) when narrow."""

    header: str
    no_wrap: bool = False
    drop: int = 0
    justify: str = "left"


def _plain(cell: Any) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


def _min_width(column: Column, cells: Sequence[Any]) -> int:
    """The narrowest the column may be without cutting its header or breaking a word (an id, a date)."""
    texts = [_plain(cell) for cell in cells]
    words = column.header.split() + [word for text in texts for word in text.split()]
    widest = max((len(word) for word in words), default=1)
    if column.no_wrap:
        widest = max([widest, *(len(line) for text in texts for line in text.splitlines())])
    return widest


def _natural_width(column: Column, cells: Sequence[Any]) -> int:
    """The column's width with nothing wrapped."""
    lines = [column.header] + [line for cell in cells for line in _plain(cell).splitlines()]
    return max(len(line) for line in lines)


def _share(minimum: list[int], natural: list[int], available: int) -> list[int]:
    """Widths from the minimum up: the space left goes to the columns needing least first, then evenly."""
    widths = list(minimum)
    spare = available - sum(widths)
    order = sorted(range(len(widths)), key=lambda i: natural[i] - minimum[i])
    for position, index in enumerate(order):
        give = min(natural[index] - minimum[index], max(0, spare) // (len(order) - position))
        widths[index] += give
        spare -= give
    return widths


GAP = 3
"""Between two columns: a space, the rule's blank, a space."""


def table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    show_header: bool = True,
    out: Console | None = None,
) -> Table:
    """A table that fits ``out``'s width: optional columns are left out until the rest fits unbroken.

    Widths are decided here, not by rich: rich shrinks a column below its header or its longest
    word when the table is too wide, which is what cut headers to "…" at 80 columns.
    """
    target = out or console()
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    minimum = [_min_width(column, cells[i]) for i, column in enumerate(columns)]
    natural = [max(minimum[i], _natural_width(column, cells[i])) for i, column in enumerate(columns)]
    keep = list(range(len(columns)))
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop > 0)
    while sum(minimum[i] for i in keep) + GAP * (len(keep) - 1) > target.width and droppable:
        keep.remove(droppable.pop()[1])
    available = target.width - GAP * (len(keep) - 1)
    widths = _share([minimum[i] for i in keep], [natural[i] for i in keep], available)
    return _build(
        title,
        [(columns[i], width) for i, width in zip(keep, widths, strict=True)],
        [[row[i] for i in keep] for row in rows],
        show_header,
    )


def _build(
    title: str | None, columns: Sequence[tuple[Column, int]], rows: Sequence[Sequence[Any]], show_header: bool
) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    built = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_header=show_header,
        show_edge=False,
    )
    for column, width in columns:
        built.add_column(
            column.header,
            no_wrap=column.no_wrap,
            overflow="fold",
            width=width,
            justify=column.justify,  # type: ignore[arg-type]
        )
    for row in rows:
        built.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    return built


def print_table(
    title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, show_header: bool = True
) -> None:
    """The table on stdout, without the padding rich leaves at the end of lines."""
    out = console()
    with out.capture() as captured:
        out.print(table(title, columns, rows, show_header=show_header, out=out))
    sys.stdout.write("".join(line.rstrip(" ") + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def print_fields(title: str | None, fields: Sequence[tuple[str, Any]]) -> None:
    """A single object as labels and values: labels whole, values wrapped at spaces within the terminal.

    A word longer than the space left (a URL, an ARN) stays whole on a line of its own, past the
    edge if it must: a broken URL cannot be copied.
    """
    import textwrap

    from rich.text import Text

    out = console()
    label_width = max((len(label) for label, _ in fields), default=0)
    value_width = max(20, out.width - label_width - GAP)
    lines: list[Text] = [Text(title, style="bold")] if title else []
    for label, value in fields:
        text = value if isinstance(value, Text) else Text(str(value))
        wrapped = textwrap.wrap(text.plain, value_width, break_long_words=False, break_on_hyphens=False) or [""]
        for number, part in enumerate(wrapped):
            head = (label if number == 0 else "").ljust(label_width + GAP)
            lines.append(Text(head, style="bold" if number == 0 else "") + Text(part, style=text.style))
    with out.capture() as captured:
        for line in lines:
            out.print(line, soft_wrap=True)
    sys.stdout.write("".join(line.rstrip(" ") + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()

"""``orcid-sync researchers|assets|tokens``: load data files into a stack, in batches, with a summary.

Files are CSV (with a header row), JSON Lines, or a JSON array. Rows the API rejects go to
``<FILE>.rejected.jsonl`` with their row number, line and reasons, so they can be fixed and sent
again; rows it stored with a warning (an asset naming a researcher not loaded yet) go to
``<FILE>.warnings.jsonl``. Token values are never echoed: the rejected-tokens file names rows by
number, line, iD and researcher only.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import batched
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as output_module
from orcid_sync_cli import token_files
from orcid_sync_cli.api import ApiClient, ApiError, api_options
from orcid_sync_cli.errors import API_ERROR, CliError
from orcid_sync_cli.options import output_option

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

BATCH_ROWS = 1000
"""Rows per request: the API's limit."""
VERIFIED_BATCH_ROWS = 100
"""Rows per request with --verify (each costs an ORCID read); bigger files go through an upload."""
LIST_SEPARATORS = (";", "|")

sleep: Callable[[float], None] = time.sleep
"""How ``tokens import`` pauses between polls (tests replace it)."""

FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def _console() -> Console:
    # Progress goes to stderr so that stdout carries only the summary.
    return output_module.console(stderr=True)


def _progress(console: Console) -> Progress:
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


def _count(rows: Iterator[Any]) -> int:
    return sum(1 for _ in rows)


REJECTED_SUFFIX = ".rejected.jsonl"
WARNINGS_SUFFIX = ".warnings.jsonl"
SHOWN_WARNINGS = 3
"""Warnings printed after a load's summary; the file has them all."""


class _RowsFile:
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


def _summary(
    path: Path,
    counts: Counter[str],
    order: Sequence[str],
    rejected: _RowsFile,
    output_format: str,
    *,
    warnings: _Warnings | None = None,
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


class _Warnings:
    """Rows the API stored with warnings: every warning to ``<FILE>.warnings.jsonl``, the first few for people."""

    def __init__(self, path: Path) -> None:
        self.file = _RowsFile(path, WARNINGS_SUFFIX)
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


# --- researchers and assets -------------------------------------------------------------------


def _post_batch(api: ApiClient, endpoint: str, batch: Sequence[FileRow]) -> list[tuple[FileRow, dict[str, Any]]]:
    """POST rows; a batch over the API's 6 MB limit (long abstracts, many contributors) is halved and retried."""
    try:
        report = api.call("POST", endpoint, json_body=[row.data for row in batch])
    except ApiError as exc:
        if exc.status == 413 and len(batch) > 1:
            half = len(batch) // 2
            return _post_batch(api, endpoint, batch[:half]) + _post_batch(api, endpoint, batch[half:])
        raise
    return [(batch[outcome["row"]], outcome) for outcome in report["rows"]]


def _load(
    api: ApiClient,
    path: Path,
    endpoint: str,
    noun: str,
    rows: Callable[[], Iterator[FileRow]],
    *,
    output_format: str,
    fail_on_rejected: bool,
) -> None:
    console = _console()
    total = _count(rows())
    counts: Counter[str] = Counter()
    rejected = _RowsFile(path, REJECTED_SUFFIX)
    warnings = _Warnings(path)
    try:
        with _progress(console) as progress:
            task = progress.add_task(f"Loading {noun}", total=total)
            for batch in batched(rows(), BATCH_ROWS, strict=False):
                for row, outcome in _post_batch(api, endpoint, batch):
                    counts["received"] += 1
                    counts[outcome["outcome"]] += 1
                    if outcome["outcome"] == "rejected":
                        rejected.write(
                            {"row": row.index, "line": row.line, "problems": _without_row(outcome), "data": row.data}
                        )
                    elif outcome.get("warnings"):  # stored, with something to look at
                        warnings.add(row, outcome)
                progress.advance(task, len(batch))
    finally:
        rejected.close()
        warnings.close()
    _summary(path, counts, ("created", "updated", "unchanged", "rejected"), rejected, output_format, warnings=warnings)
    if counts["rejected"] and fail_on_rejected:
        sys.exit(API_ERROR)


def _without_row(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    # The API numbers rows within its request; the file's own row number is given beside.
    return [{k: v for k, v in problem.items() if k != "row"} for problem in outcome["problems"]]


@click.group("researchers")
def researchers() -> None:
    """Researchers: load them from a file, show one."""


FAIL_ON_REJECTED = click.option(
    "--fail-on-rejected", is_flag=True, help="Exit with status 1 when any row is rejected (the valid rows are stored)."
)


@researchers.command("load")
@click.argument("file", type=FILE)
@FAIL_ON_REJECTED
@output_option()
@api_options
def load_researchers(api: ApiClient, file: Path, fail_on_rejected: bool, output: str) -> None:
    """Create or update the researchers in FILE (CSV, JSON Lines or a JSON array), 1,000 per request.

    Columns/keys as in PUT /researchers/{id}: id, given_names, family_name, email, orcid,
    update_orcid_profile, position (or role_title), department, profile_url, active. Rejected rows
    go to FILE.rejected.jsonl (with --fail-on-rejected the exit status is then 1); rows stored with a
    warning are counted, the first shown, all in FILE.warnings.jsonl (the exit status stays 0).
    """
    _load(
        api,
        file,
        "/researchers",
        "researchers",
        lambda: read_rows(file, bool_columns=RESEARCHER_BOOLEANS),
        output_format=output,
        fail_on_rejected=fail_on_rejected,
    )


REFUSED_STATUSES = {
    "revoked": "ORCID refused the token (invalid_token): revoked, expired or never valid",
    "token_invalid": "ORCID says the token belongs to another ORCID record (9017)",
}
"""Statuses only the researcher can mend, by connecting again through a new link; what each means."""


@researchers.command("show")
@click.argument("researcher_id")
@output_option()
@api_options
def show_researcher(api: ApiClient, researcher_id: str, output: str) -> None:
    """A researcher's profile and ORCID connection: iD, status, scopes, connected and last synced."""
    researcher: dict[str, Any] = api.call("GET", f"/researchers/{quote(researcher_id, safe='')}")
    if output == "json":
        output_module.emit_json(researcher)
    elif output == "csv":
        output_module.emit_fields_csv(researcher)
    else:
        output_module.print_fields(f"Researcher {researcher['id']}", _researcher_fields(researcher))
    if output == "table" and researcher.get("orcid_status") in REFUSED_STATUSES:
        output_module.hint(f"Send a new connect link: orcid-sync connect-link {researcher['id']}")


def _researcher_fields(researcher: dict[str, Any]) -> list[tuple[str, Any]]:
    name = " ".join(part for part in (researcher.get("given_names"), researcher.get("family_name")) if part)
    status = researcher.get("orcid_status") or "-"
    fields: list[tuple[str, Any]] = [
        ("Name", name or "-"),
        ("ORCID iD", researcher.get("orcid") or "-"),
        ("Status", f"{status}: {REFUSED_STATUSES[status]}" if status in REFUSED_STATUSES else status),
        ("Authenticated", "yes" if researcher.get("orcid_authenticated") else "no"),
        ("Scopes", " ".join(researcher.get("orcid_scopes") or []) or "-"),
        ("Connected", output_module.when(researcher.get("connected_at"))),
        ("Last synced", output_module.when(researcher.get("last_sync_at"))),
    ]
    for key, label in (("email", "Email"), ("position", "Position"), ("department", "Department")):
        if researcher.get(key):
            fields.append((label, researcher[key]))
    if researcher.get("profile_url"):
        fields.append(("Profile", researcher["profile_url"]))
    fields.append(("Updates ORCID profile", "yes" if researcher.get("update_orcid_profile", True) else "no"))
    fields.append(("Active", "yes" if researcher.get("active", True) else "no"))
    return fields


@click.group("assets")
def assets() -> None:
    """Research assets: load them from a file."""


@assets.command("load")
@click.argument("file", type=FILE)
@FAIL_ON_REJECTED
@output_option()
@api_options
def load_assets(api: ApiClient, file: Path, fail_on_rejected: bool, output: str) -> None:
    """Create or replace the assets in FILE (JSON Lines, a JSON array, or CSV), 1,000 per request.

    Keys as in PUT /assets/{id}. In a CSV, `researchers` lists ids separated by ";" or "|", and
    `contributors` is a JSON array. Rejected rows go to FILE.rejected.jsonl (exit status 1 with --fail-on-rejected).
    An asset naming a researcher not loaded yet is stored with a warning: counted, the first shown,
    all in FILE.warnings.jsonl (the exit status stays 0).
    """
    _load(
        api,
        file,
        "/assets",
        "assets",
        lambda: read_rows(
            file, list_columns=("researchers",), json_columns=("contributors",), bool_columns=ASSET_BOOLEANS
        ),
        output_format=output,
        fail_on_rejected=fail_on_rejected,
    )


# --- tokens -----------------------------------------------------------------------------------


def _count_token_rows(path: Path) -> int:
    """Rows in a token file, checked as the import will read it (header, JSON syntax) before anything is sent."""
    return token_files.count_rows(path)


def _record_token_outcomes(outcomes: Sequence[dict[str, Any]], rejected: _RowsFile) -> None:
    """Each rejected row as ``{row_number, line?, orcid?, researcher_id?, problems}``.

    Never another value from the file, any of which may be a token: the ``orcid`` is the API's (it
    sends every valid iD); only for an iD it could not accept is the file's value written instead,
    and only when it has an iD's shape (a token never has).
    """
    places: list[token_files.RowPlace] | None = None
    for outcome in outcomes:
        if outcome["outcome"] != "rejected":
            continue
        if places is None:
            places = token_files.row_places(rejected.source)
        index = outcome["row"]
        place = places[index] if 0 <= index < len(places) else None
        entry = {
            "row_number": outcome.get("row_number", index + 1),  # 1-based; a stack before issue 13 sends only row
            "line": place.line if place else None,
            "orcid": outcome.get("orcid") or (place.orcid if place else None),
            "researcher_id": outcome.get("researcher_id"),
            "problems": _without_row(outcome),
        }
        rejected.write({k: v for k, v in entry.items() if v is not None})


def _import_directly(api: ApiClient, path: Path, *, verify: bool, rejected: _RowsFile) -> Counter[str]:
    body, content_type = token_files.request_body(path)
    report = api.call(
        "POST", "/tokens", params={"verify": "true" if verify else None}, data=body, content_type=content_type
    )
    counts: Counter[str] = Counter(report["counts"])
    _record_token_outcomes(report["rows"], rejected)
    return counts


def _import_by_upload(
    api: ApiClient,
    path: Path,
    *,
    verify: bool,
    rejected: _RowsFile,
    total: int,
    poll_interval: float,
    wait: float,
) -> Counter[str]:
    import requests

    ticket = api.call("POST", "/tokens/uploads", json_body={"format": token_files.file_format(path), "verify": verify})
    console = _console()
    with _progress(console) as progress:
        task = progress.add_task(f"Uploading {path.name}", total=None)
        with path.open("rb") as handle:
            response = requests.put(ticket["url"], data=handle, timeout=300)
        if response.status_code >= 300:
            raise CliError(f"the upload was refused (HTTP {response.status_code}): {response.text[:200]}")
        progress.update(task, description=f"Importing upload {ticket['upload_id']}", total=total)
        deadline = time.monotonic() + wait
        while True:
            view = api.call("GET", f"/tokens/uploads/{ticket['upload_id']}")
            progress.update(task, completed=view["counts"]["received"])
            if view["status"] in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                raise CliError(
                    f"upload {ticket['upload_id']} is still {view['status']} after {wait:.0f} s; "
                    f"check again later (GET /tokens/uploads/{ticket['upload_id']})"
                )
            sleep(poll_interval)
    if view["rejected"] is not None:
        outcomes = view["rejected"]
    elif view["report_url"]:
        outcomes = requests.get(view["report_url"], timeout=300).json()["rejected"]
    else:
        outcomes = []
    counts: Counter[str] = Counter(view["counts"])
    _record_token_outcomes(outcomes, rejected)
    if view["status"] == "failed":
        click.echo(f"upload {ticket['upload_id']} failed: {view['message']}", err=True)
        counts["failed"] = 1
    return counts


@click.group("tokens")
def tokens() -> None:
    """ORCID tokens from a legacy system: import a file of them."""


@tokens.command("import")
@click.argument("file", type=FILE)
@click.option("--verify", is_flag=True, help="Try each token against ORCID first; dead or foreign ones are rejected.")
@click.option("--wait", type=float, default=3600, show_default=True, help="Seconds to wait for a large import.")
@click.option("--poll-interval", type=float, default=2.0, show_default=True, hidden=True)
@FAIL_ON_REJECTED
@output_option()
@api_options
def import_tokens(
    *, api: ApiClient, file: Path, verify: bool, wait: float, poll_interval: float, fail_on_rejected: bool, output: str
) -> None:
    """Import the tokens in FILE: CSV with a header row, JSON Lines or a JSON array.

    Each row has orcid, access_token (or access.token), optional refresh_token, scope (space-separated),
    expires_in or expires_at (or expiry) and optional researcher_id. Up to 1,000 rows (100 with
    --verify) go in one request; bigger files are uploaded and imported in the stack, and this
    command waits for the result. Rejected rows (row_number from 1, line, iD, researcher and
    reasons, never a token) go to FILE.rejected.jsonl (with --fail-on-rejected the exit status is then 1).
    """
    total = _count_token_rows(file)
    rejected = _RowsFile(file, REJECTED_SUFFIX)
    try:
        if total <= (VERIFIED_BATCH_ROWS if verify else BATCH_ROWS):
            counts = _import_directly(api, file, verify=verify, rejected=rejected)
        else:
            counts = _import_by_upload(
                api, file, verify=verify, rejected=rejected, total=total, poll_interval=poll_interval, wait=wait
            )
    finally:
        rejected.close()
    _summary(file, counts, ("stored", "replaced", "unchanged", "rejected", "without_pull"), rejected, output)
    if counts["failed"] or (counts["rejected"] and fail_on_rejected):
        sys.exit(API_ERROR)

"""``orcid-sync researchers|assets``: load researchers and assets from files, in batches, with a summary.

Rows the API rejects go to ``<FILE>.rejected.jsonl``, rows it stored with a warning to
``<FILE>.warnings.jsonl`` (see :mod:`orcid_sync_cli.data_files`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from itertools import batched
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as output_module
from orcid_sync_cli.api import ApiClient, ApiError, api_options
from orcid_sync_cli.data_files import (
    ASSET_BOOLEANS,
    BATCH_ROWS,
    FAIL_ON_REJECTED,
    FILE,
    REJECTED_SUFFIX,
    RESEARCHER_BOOLEANS,
    FileRow,
    LoadWarnings,
    RowsFile,
    count_rows,
    print_summary,
    progress_bar,
    progress_console,
    read_rows,
    without_row,
)
from orcid_sync_cli.errors import API_ERROR
from orcid_sync_cli.options import output_option


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
    console = progress_console()
    total = count_rows(rows())
    counts: Counter[str] = Counter()
    rejected = RowsFile(path, REJECTED_SUFFIX)
    warnings = LoadWarnings(path)
    try:
        with progress_bar(console) as progress:
            task = progress.add_task(f"Loading {noun}", total=total)
            for batch in batched(rows(), BATCH_ROWS, strict=False):
                for row, outcome in _post_batch(api, endpoint, batch):
                    counts["received"] += 1
                    counts[outcome["outcome"]] += 1
                    if outcome["outcome"] == "rejected":
                        rejected.write(
                            {"row": row.index, "line": row.line, "problems": without_row(outcome), "data": row.data}
                        )
                    elif outcome.get("warnings"):  # stored, with something to look at
                        warnings.add(row, outcome)
                progress.advance(task, len(batch))
    finally:
        rejected.close()
        warnings.close()
    print_summary(
        path, counts, ("created", "updated", "unchanged", "rejected"), rejected, output_format, warnings=warnings
    )
    if counts["rejected"] and fail_on_rejected:
        sys.exit(API_ERROR)


@click.group("researchers")
def researchers() -> None:
    """Researchers: load them from a file, show one, and what we send to their ORCID record."""


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


OUTPUT_STATE_LABELS = {
    "on_orcid": "on ORCID",
    "will_be_added": "will be added",
    "will_be_updated": "will be updated",
    "not_approved": "not approved",
    "not_visible": "not visible",
    "type_not_sent": "type not sent",
    "not_sending": "sending off",
    "opted_out": "opted out",
    "deleted_by_researcher": "deleted by researcher",
    "refused_by_orcid": "refused by ORCID",
    "held_back": "held back",
}
"""The states of GET /researchers/{id}/outputs, as the table shows them (the JSON keeps the API's values)."""

OUTPUT_CSV_COLUMNS = ("asset_id", "state", "year", "asset_type", "put_code", "title", "reason", "orcid_message")


@researchers.command("outputs")
@click.argument("researcher_id")
@output_option()
@api_options
def researcher_outputs(api: ApiClient, researcher_id: str, output: str) -> None:
    """What the researcher's "My ORCID" page shows: each of their assets, where it stands with ORCID, and why.

    From the sync ledger and the assets (no ORCID request): on ORCID, will be added or updated by the next push,
    not sent (not approved, not visible, type not sent, sending off, opted out by the researcher), deleted by the
    researcher on ORCID, refused by ORCID, or held back (a duplicate identifier). JSON: see cli/README.md.
    """
    view: dict[str, Any] = api.call("GET", f"/researchers/{quote(researcher_id, safe='')}/outputs")
    if output == "json":
        output_module.emit_json(view)
        return
    if output == "csv":
        output_module.emit_csv(
            OUTPUT_CSV_COLUMNS, [[item.get(name) for name in OUTPUT_CSV_COLUMNS] for item in view["outputs"]]
        )
        return
    counts = ", ".join(
        f"{OUTPUT_STATE_LABELS.get(state, state)} {count}" for state, count in view["counts"].items() if count
    )
    title = f"Outputs of researcher {view['researcher_id']} ({view.get('orcid') or 'no ORCID iD'}): {counts or 'none'}"
    columns = [
        output_module.Column("Asset", no_wrap=True),
        output_module.Column("State", no_wrap=True),
        output_module.Column("Year", no_wrap=True, drop=2),
        output_module.Column("Title", drop=1),
        output_module.Column("Why"),
    ]
    rows = [
        [
            item["asset_id"],
            OUTPUT_STATE_LABELS.get(item["state"], item["state"]),
            item.get("year") or "-",
            item["title"],
            item["reason"] + (f" ORCID said: {item['orcid_message']}" if item.get("orcid_message") else ""),
        ]
        for item in view["outputs"]
    ]
    output_module.print_table(title, columns, rows)


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

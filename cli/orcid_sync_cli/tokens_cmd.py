"""``orcid-sync tokens import``: import a legacy system's ORCID tokens, directly or through an upload.

Token values are never echoed: the rejected-tokens file names rows by number, line, iD and researcher only.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from orcid_sync_cli import token_files
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.data_files import (
    BATCH_ROWS,
    FAIL_ON_REJECTED,
    FILE,
    REJECTED_SUFFIX,
    VERIFIED_BATCH_ROWS,
    RowsFile,
    print_summary,
    progress_bar,
    progress_console,
    without_row,
)
from orcid_sync_cli.errors import API_ERROR, CliError
from orcid_sync_cli.options import output_option

sleep: Callable[[float], None] = time.sleep
"""How ``tokens import`` pauses between polls (tests replace it)."""


def _count_token_rows(path: Path) -> int:
    """Rows in a token file, checked as the import will read it (header, JSON syntax) before anything is sent."""
    return token_files.count_rows(path)


def _record_token_outcomes(outcomes: Sequence[dict[str, Any]], rejected: RowsFile) -> None:
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
            "problems": without_row(outcome),
        }
        rejected.write({k: v for k, v in entry.items() if v is not None})


def _import_directly(api: ApiClient, path: Path, *, verify: bool, rejected: RowsFile) -> Counter[str]:
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
    rejected: RowsFile,
    total: int,
    poll_interval: float,
    wait: float,
) -> Counter[str]:
    import requests

    ticket = api.call("POST", "/tokens/uploads", json_body={"format": token_files.file_format(path), "verify": verify})
    console = progress_console()
    with progress_bar(console) as progress:
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
    rejected = RowsFile(file, REJECTED_SUFFIX)
    try:
        if total <= (VERIFIED_BATCH_ROWS if verify else BATCH_ROWS):
            counts = _import_directly(api, file, verify=verify, rejected=rejected)
        else:
            counts = _import_by_upload(
                api, file, verify=verify, rejected=rejected, total=total, poll_interval=poll_interval, wait=wait
            )
    finally:
        rejected.close()
    print_summary(file, counts, ("stored", "replaced", "unchanged", "rejected", "without_pull"), rejected, output)
    if counts["failed"] or (counts["rejected"] and fail_on_rejected):
        sys.exit(API_ERROR)

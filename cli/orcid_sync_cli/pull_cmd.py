"""``orcid-sync pull download``: fetch a pull run's CSV for the repository's import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.errors import API_ERROR, USAGE, CliError
from orcid_sync_cli.options import output_option

if TYPE_CHECKING:
    import requests

CHUNK = 1024 * 1024


@click.group("pull")
def pull() -> None:
    """The works pulled from researchers' ORCID records."""


@pull.command("download")
@click.argument("job_id")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@output_option()
@api_options
def download(api: ApiClient, job_id: str, file: Path | None, output: str) -> None:
    """Save JOB_ID's CSV to FILE (default: orcid-works-JOB_ID.csv; "-" for standard output).

    Load the file in the repository (Esploro: Smart Harvesting > Manage Profiles > CSV) and run the
    Smart Expansion profile; the file is UTF-8 with a header row. --output json prints what was
    saved ({"job_id", "rows", "bytes", "file"}) on stdout.
    """
    import requests

    if output != "table" and file is not None and str(file) == "-":
        raise CliError('--output json/csv prints a summary on stdout: give FILE, not "-"', USAGE)
    link: dict[str, Any] = api.call("GET", f"/jobs/{quote(job_id, safe='')}/csv")
    target = file or Path(f"orcid-works-{job_id}.csv")
    # The link is presigned: no AWS signature of ours, and it must not be logged or shown (it grants access).
    with requests.get(link["url"], stream=True, timeout=60) as response:
        if response.status_code != 200:
            raise CliError(f"the download failed: HTTP {response.status_code} from the bucket", API_ERROR)
        if str(target) == "-":
            written = _copy(response, sys.stdout.buffer)
        else:
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as sink:
                written = _copy(response, sink)
            partial.replace(target)  # no half-written file under the final name if the transfer breaks
    where = "standard output" if str(target) == "-" else str(target)
    summary = {"job_id": job_id, "rows": link["rows"], "bytes": written, "file": where}
    if output == "json":
        out.emit_json(summary)
    elif output == "csv":
        out.emit_fields_csv(summary)
    else:
        out.hint(f"{job_id}: {link['rows']} rows, {written} bytes written to {where}")


def _copy(response: requests.Response, sink: IO[bytes]) -> int:
    written = 0
    for chunk in response.iter_content(CHUNK):
        sink.write(chunk)
        written += len(chunk)
    sink.flush()
    return written

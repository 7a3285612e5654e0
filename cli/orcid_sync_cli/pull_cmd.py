"""``orcid-sync pull download``: fetch a pull run's CSV for the repository's import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import click
import requests

from orcid_sync_cli.api import ApiClient, api_options

CHUNK = 1024 * 1024


@click.group("pull")
def pull() -> None:
    """The works pulled from researchers' ORCID records."""


@pull.command("download")
@click.argument("job_id")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@api_options
def download(api: ApiClient, job_id: str, file: Path | None) -> None:
    """Save JOB_ID's CSV to FILE (default: orcid-works-JOB_ID.csv; "-" for standard output).

    Load the file in the repository (Esploro: Smart Harvesting > Manage Profiles > CSV) and run the
    Smart Expansion profile; the file is UTF-8 with a header row.
    """
    link: dict[str, Any] = api.call("GET", f"/jobs/{quote(job_id, safe='')}/csv")
    target = file or Path(f"orcid-works-{job_id}.csv")
    # The link is presigned: no AWS signature of ours, and it must not be logged or shown (it grants access).
    with requests.get(link["url"], stream=True, timeout=60) as response:
        if response.status_code != 200:
            raise click.ClickException(f"the download failed: HTTP {response.status_code} from the bucket")
        if str(target) == "-":
            written = _copy(response, sys.stdout.buffer)
        else:
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as out:
                written = _copy(response, out)
            partial.replace(target)  # no half-written file under the final name if the transfer breaks
    where = "standard output" if str(target) == "-" else str(target)
    click.echo(f"{job_id}: {link['rows']} rows, {written} bytes written to {where}", err=True)


def _copy(response: requests.Response, out: IO[bytes]) -> int:
    written = 0
    for chunk in response.iter_content(CHUNK):
        out.write(chunk)
        written += len(chunk)
    out.flush()
    return written

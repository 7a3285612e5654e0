"""``orcid-sync connect-link`` and ``orcid-sync disconnect``: a researcher's ORCID connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.options import output_option


@click.command("connect-link")
@click.argument("researcher_id")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="How long the link works.",
)
@output_option()
@api_options
def connect_link(api: ApiClient, researcher_id: str, expires_in_days: int, output: str) -> None:
    """Print RESEARCHER_ID's personal connect URL (send it to them; it works until it expires)."""
    link: dict[str, Any] = api.call(
        "POST",
        f"/researchers/{quote(researcher_id, safe='')}/connect-link",
        json_body={"expires_in_days": expires_in_days},
    )
    if output == "json":
        out.emit_json(link)
    elif output == "csv":
        out.emit_fields_csv(link)
    else:
        click.echo(link["url"])
        out.hint(f"expires {link['expires_at']}")


@click.command("disconnect")
@click.argument("researcher_id")
@output_option()
@api_options
def disconnect(api: ApiClient, researcher_id: str, output: str) -> None:
    """Revoke RESEARCHER_ID's ORCID token and delete it; their works stay on ORCID."""
    result: dict[str, Any] = api.call("DELETE", f"/researchers/{quote(researcher_id, safe='')}/orcid")
    if output == "json":
        out.emit_json(result)
    elif output == "csv":
        out.emit_fields_csv(result)
    else:
        click.echo(f"{result['researcher_id']}: {result['orcid_status']} (token {result['token_revocation']})")

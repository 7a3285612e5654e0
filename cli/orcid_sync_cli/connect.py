"""``orcid-sync connect-link`` and ``orcid-sync disconnect``: a researcher's ORCID connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from orcid_sync_cli.api import ApiClient, api_options


@click.command("connect-link")
@click.argument("researcher_id")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="How long the link works.",
)
@api_options
def connect_link(api: ApiClient, researcher_id: str, expires_in_days: int) -> None:
    """Print RESEARCHER_ID's personal connect URL (send it to them; it works until it expires)."""
    link: dict[str, Any] = api.call(
        "POST",
        f"/researchers/{quote(researcher_id, safe='')}/connect-link",
        json_body={"expires_in_days": expires_in_days},
    )
    click.echo(link["url"])
    click.echo(f"expires {link['expires_at']}", err=True)


@click.command("disconnect")
@click.argument("researcher_id")
@api_options
def disconnect(api: ApiClient, researcher_id: str) -> None:
    """Revoke RESEARCHER_ID's ORCID token and delete it; their works stay on ORCID."""
    result: dict[str, Any] = api.call("DELETE", f"/researchers/{quote(researcher_id, safe='')}/orcid")
    click.echo(f"{result['researcher_id']}: {result['orcid_status']} (token {result['token_revocation']})")

"""``orcid-sync report tokens``: the researchers whose ORCID tokens need attention (never the tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column


@click.group("report")
def report() -> None:
    """Reports for administrators."""


RECONNECT_PROBLEMS = ("token_invalid", "revoked")
"""ORCID refused the token: only the researcher can fix it, by connecting again through a new link."""
SHOWN_RECONNECTS = 10


@report.command("tokens")
@click.option("--csv", "as_csv", is_flag=True, hidden=True, help="Same as --output csv.")
@output_option()
@api_options
def tokens(api: ApiClient, as_csv: bool, output: str) -> None:
    """Researchers whose ORCID tokens need attention (never the tokens).

    A token is revoked (ORCID said invalid_token) or token_invalid (it belongs to another ORCID
    record), the researcher disconnected, lacks a scope, or expires within 90 days; the reason says
    what ORCID said. Revoked and token_invalid researchers need a new link: orcid-sync connect-link ID.
    """
    if as_csv or output == "csv":
        click.echo(api.text("GET", "/reports/tokens", params={"format": "csv"}), nl=False)
        return
    body = api.call("GET", "/reports/tokens")
    if output == "json":
        out.emit_json(body)
        return
    # Narrower than everything: Status goes first (the problems say it), then Expires, then Name; the
    # reason (what ORCID said) stays. No row with a reason: no Reason column, and Name keeps its place.
    with_reason = any(row.get("reason") for row in body["rows"])
    columns = [
        Column("Researcher", no_wrap=True),
        Column("Name", drop=2 if with_reason else 0),
        Column("ORCID iD", no_wrap=True),
        Column("Status", drop=4),
        Column("Problems"),
        Column("Reason", drop=1),
        Column("Expires", no_wrap=True, drop=3),
    ]
    rows = []
    for row in body["rows"]:
        problems = ", ".join(p.replace("_", " ") for p in row["problems"])
        if row["missing_scopes"]:
            problems += f" ({' '.join(row['missing_scopes'])})"
        cells = [
            row["researcher_id"],
            f"{row['family_name']}, {row['given_names']}",
            row.get("orcid") or "-",
            row["orcid_status"],
            problems,
            row.get("reason") or "-",
            out.when(row.get("expires_at"))[:10],
        ]
        rows.append(cells if with_reason else cells[:5] + cells[6:])
    if not with_reason:
        del columns[5]
    out.print_table(
        f"Tokens needing attention ({len(body['rows'])} of {body['researchers_checked']} researchers)", columns, rows
    )
    if not body["rows"]:
        out.hint("Every connected researcher's token is healthy.")
    _hint_reconnect(body["rows"])


def _hint_reconnect(rows: Sequence[dict[str, Any]]) -> None:
    """ORCID refused these researchers' tokens: a new connect link each (stderr)."""
    ids = [row["researcher_id"] for row in rows if set(row["problems"]) & set(RECONNECT_PROBLEMS)]
    if not ids:
        return
    whose = "1 researcher's token" if len(ids) == 1 else f"{len(ids)} researchers' tokens"
    out.hint(f"ORCID refused {whose}: send a new connect link (they connect again):")
    for researcher_id in ids[:SHOWN_RECONNECTS]:
        out.hint(f"  orcid-sync connect-link {researcher_id}")
    if len(ids) > SHOWN_RECONNECTS:
        out.hint(f"  … and {len(ids) - SHOWN_RECONNECTS} more (orcid-sync report tokens --output csv lists them all)")

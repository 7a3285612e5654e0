"""``orcid-sync report tokens``: the researchers whose ORCID tokens need attention (never the tokens); ``report
connections``: what the invitation campaigns achieved (a PNG chart with matplotlib, the ``charts`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.errors import USAGE, CliError
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
    Researchers whose email address bounced or complained (SES) are listed too (email bounced, email
    complained): no invitation or reminder reaches them until their address is corrected.
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
    _hint_suppressed(body["rows"])


def _hint_suppressed(rows: Sequence[dict[str, Any]]) -> None:
    """SES said not to mail these addresses again (stderr)."""
    count = sum(1 for row in rows if row.get("email_suppressed"))
    if count:
        whose = "1 researcher's address" if count == 1 else f"{count} researchers' addresses"
        out.hint(f"{whose} bounced or complained: invitations skip them until the address is corrected.")


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


# --- connections ---------------------------------------------------------------------------------------------------

CHARTS_EXTRA = "orcid-sync-cli[charts]"


@report.command("connections")
@click.option("--campaign", "campaign_id", metavar="ID", help="Only this campaign.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), help="Same as --output.")
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, writable=True),
    help=f"Also draw the connection rate over time into this PNG file (needs {CHARTS_EXTRA}, i.e. matplotlib).",
)
@output_option()
@api_options
def connections(api: ApiClient, campaign_id: str | None, fmt: str | None, chart: str | None, output: str) -> None:
    """What the invitation campaigns achieved: invited, opened the link, connected, per campaign and overall.

    The connection rate is connected / invited; --output csv gives one table: a row per campaign, the
    overall row, then the overall row of each day (the rate over time). Campaigns are email
    invitations (orcid-sync invitations send) and ORCID inbox requests (invitations notify-orcid).
    """
    fmt = fmt or output
    params = {"campaign": campaign_id} if campaign_id else {}
    body = api.call("GET", "/reports/connections", params=params)
    if chart:
        _draw_chart(body, chart)
    if fmt == "csv":
        click.echo(api.text("GET", "/reports/connections", params={**params, "format": "csv"}), nl=False)
    elif fmt == "json":
        out.emit_json(body)
    else:
        _print_connections(body)
    if chart:
        out.hint(f"Chart written to {chart}")


def _rate(value: float) -> str:
    return f"{value * 100:.0f}%"


def _undelivered(counts: dict[str, Any]) -> str:
    return f"{counts.get('bounced', 0)}/{counts.get('complained', 0)}"


def _print_connections(body: dict[str, Any]) -> None:
    columns = [
        Column("Campaign", no_wrap=True),
        Column("Kind", drop=2),
        Column("Created", no_wrap=True, drop=1),
        Column("Invited"),
        Column("Opened"),
        Column("Connected"),
        Column("Rate"),
        Column("Bounced/complained", drop=3),
    ]
    rows = [
        [
            row["campaign_id"],
            row["kind"].replace("_", " "),
            out.when(row["created_at"])[:10],
            row["invited"],
            row["opened"],
            row["connected"],
            _rate(row["connection_rate"]),
            _undelivered(row),
        ]
        for row in body["campaigns"]
    ]
    overall = body["overall"]
    rows.append(
        [
            "overall",
            "",
            "",
            overall["invited"],
            overall["opened"],
            overall["connected"],
            _rate(overall["connection_rate"]),
            _undelivered(overall),
        ]
    )
    out.print_table("Connections", columns, rows)
    if not body["campaigns"]:
        out.hint("No campaign yet: orcid-sync invitations send (email) or invitations notify-orcid (ORCID inbox).")


def _draw_chart(body: dict[str, Any], path: str) -> None:
    """The daily connection rate (and the invited and connected counts) as a PNG; matplotlib only when asked."""
    try:
        import matplotlib  # an optional extra, loaded only for --chart

        matplotlib.use("Agg")  # no display: a file, on any machine
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError(
            f"--chart needs matplotlib, which is not installed: pip install '{CHARTS_EXTRA}' "
            "(the CLI's charts extra), or leave out --chart",
            exit_code=USAGE,
        ) from None
    from datetime import date  # only the chart parses dates

    # matplotlib plots dates on its own (its stubs only name arrays and numbers).
    days: list[Any] = [date.fromisoformat(point["day"]) for point in body["daily"]]
    figure, rate_axis = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        rate_axis.plot(days, [point["connection_rate"] * 100 for point in body["daily"]], marker="o", color="#0b5cad")
        rate_axis.set_ylabel("connected / invited (%)")
        rate_axis.set_ylim(0, 100)
        count_axis = rate_axis.twinx()
        count_axis.step(
            days, [point["invited"] for point in body["daily"]], where="post", color="#888888", label="invited"
        )
        count_axis.step(
            days, [point["connected"] for point in body["daily"]], where="post", color="#2e7d32", label="connected"
        )
        count_axis.set_ylabel("researchers")
        count_axis.legend(loc="upper left")
        scope = f"campaign {body['campaign_id']}" if body.get("campaign_id") else "all campaigns"
        rate_axis.set_title(f"ORCID connection rate over time ({scope})")
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)

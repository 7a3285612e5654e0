"""``orcid-sync invitations notify-orcid``: permission requests in the ORCID inboxes of researchers whose iD is known
but who have not connected.

The ``invitations`` group lives here until helper D's ``invitations_cmd.py`` (``invitations send``) lands; that module
then adds :func:`notify_orcid` to its own group (``invitations.add_command(notify_orcid)``) and main.py points at it.
"""

from __future__ import annotations

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column


@click.group("invitations")
def invitations() -> None:
    """Invite researchers to connect their ORCID iD."""


def _researcher_ids(values: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(part.strip() for value in values for part in value.split(",") if part.strip()))


@invitations.command("notify-orcid")
@click.option("--researchers", "researchers", multiple=True, metavar="ID[,ID…]", help="Only these researchers.")
@click.option("--campaign", "campaign_id", metavar="ID", help="Continue this ORCID inbox campaign.")
@click.option("--language", type=click.Choice(["en", "es"]), default="en", show_default=True)
@click.option("--dry-run", is_flag=True, help="Say who would be asked; send and store nothing.")
@output_option()
@api_options
def notify_orcid(  # noqa: PLR0917 - click passes every option
    api: ApiClient, researchers: tuple[str, ...], campaign_id: str | None, language: str, dry_run: bool, output: str
) -> None:
    """Ask researchers to connect through their ORCID inbox (an ORCID permission request).

    Every researcher whose iD is known but who has not connected (or only --researchers) gets one
    request; its button leads to their personal connect link. A campaign never asks anyone twice:
    --campaign ID continues one. Needs ORCID's premium notification feature on the client.
    """
    body: dict[str, object] = {"dry_run": dry_run, "language": language}
    if researchers:
        body["researchers"] = _researcher_ids(researchers)
    if campaign_id:
        body["campaign_id"] = campaign_id
    report = api.call("POST", "/invitations/orcid-inbox", json_body=body)
    if output == "json":
        out.emit_json(report)
        return
    if output == "csv":
        out.emit_csv(
            ["researcher_id", "outcome", "reason", "put_code"],
            (
                [row["researcher_id"], row["outcome"], row.get("reason") or "", row.get("put_code") or ""]
                for row in report["outcomes"]
            ),
        )
        return
    columns = [Column("Researcher", no_wrap=True), Column("Outcome"), Column("Reason", drop=1)]
    rows = [
        [row["researcher_id"], row["outcome"].replace("_", " "), row.get("reason") or "-"] for row in report["outcomes"]
    ]
    title = (
        "ORCID inbox requests (dry run: nothing sent)" if dry_run else f"ORCID inbox campaign {report['campaign_id']}"
    )
    out.print_table(title, columns, rows)
    if not dry_run:
        out.hint(
            f"{report['sent']} sent, {report['already_sent']} already asked, {report['skipped']} skipped, "
            f"{report['failed']} failed; {report['orcid_requests']} ORCID requests. "
            "Follow the result: orcid-sync report connections"
        )

"""``orcid-sync invitations …``: email campaigns inviting researchers to connect their ORCID iD (send, list, show),
and (from ``orcid_inbox_cmd``) ``notify-orcid``, the ORCID inbox permission requests.

The group is extensible: another module's command joins with ``invitations.add_command(...)`` below.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.errors import USAGE, CliError
from orcid_sync_cli.options import output_option
from orcid_sync_cli.orcid_inbox_cmd import notify_orcid
from orcid_sync_cli.output import Column

STATUSES = ("not_connected", "revoked", "token_invalid")
"""As the token health report names them; not_connected = never connected, or disconnected."""


@click.group("invitations")
def invitations() -> None:
    """Invite researchers to connect their ORCID iD (by email, or in their ORCID inbox)."""


invitations.add_command(notify_orcid)


def _split(values: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(part.strip() for value in values for part in value.split(",") if part.strip()))


@invitations.command("send")
@click.option("--researchers", "researchers", multiple=True, metavar="ID[,ID…]", help="Invite these researchers.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS[,STATUS…]",
    help=f"Invite every researcher in these connection statuses: {', '.join(STATUSES)}.",
)
@click.option("--dry-run", is_flag=True, help="List who would get mail; write and send nothing.")
@output_option()
@api_options
def send(api: ApiClient, researchers: tuple[str, ...], statuses: tuple[str, ...], dry_run: bool, output: str) -> None:
    """Email researchers their personal connect link (through SES).

    Researchers without an email, who unsubscribed, whose address bounced or complained (and, named by
    id, who are connected already) are skipped and listed with the reason. Nobody is mailed twice in
    one campaign. Reminders follow by the "remind" schedule (orcid-sync jobs activate remind).
    """
    ids, chosen = _split(researchers), _split(statuses)
    if bool(ids) == bool(chosen):
        raise CliError("give --researchers or --status (one of them)", exit_code=USAGE)
    unknown = [s for s in chosen if s not in STATUSES]
    if unknown:
        raise CliError(f"unknown status {', '.join(unknown)}: use {', '.join(STATUSES)}", exit_code=USAGE)
    body: dict[str, Any] = {"dry_run": dry_run, "researchers": ids, "statuses": chosen}
    result = api.call("POST", "/invitations", json_body=body)
    if output == "json":
        out.emit_json(result)
        return
    rows = [[rid, "would be invited" if dry_run else "invited", "-"] for rid in result["recipients"]]
    rows += [[s["researcher_id"], "skipped", s["reason"].replace("_", " ")] for s in result["skipped"]]
    if output == "csv":
        out.emit_csv(["researcher_id", "outcome", "reason"], rows)
        return
    campaign = result["campaign"]
    title = "Invitations (dry run: nothing sent)" if dry_run else f"Invitation campaign {campaign['campaign_id']}"
    out.print_table(title, [Column("Researcher", no_wrap=True), Column("Outcome"), Column("Reason")], rows)
    if not dry_run:
        out.hint(
            f"{len(result['recipients'])} queued, {len(result['skipped'])} skipped. "
            f"Follow it: orcid-sync invitations show {campaign['campaign_id']}"
        )


@invitations.command("list")
@output_option()
@api_options
def list_campaigns(api: ApiClient, output: str) -> None:
    """Invitation campaigns, newest first, with what they did."""
    campaigns = api.call("GET", "/invitations")["campaigns"]
    if output == "json":
        out.emit_json(campaigns)
        return
    header = ["campaign_id", "created_at", "created_by", "selected", "queued", "sent", "skipped", "bounced",
              "unsubscribed"]  # fmt: skip
    rows = [
        [c["campaign_id"], c["created_at"], c["created_by"]] + [c["counts"][name] for name in header[3:]]
        for c in campaigns
    ]
    if output == "csv":
        out.emit_csv(header, rows)
        return
    columns = [Column("Campaign", no_wrap=True), Column("Created", no_wrap=True), Column("By", drop=1)]
    columns += [Column(name.capitalize(), justify="right") for name in header[3:]]
    out.print_table("Invitation campaigns", columns, rows)
    if not campaigns:
        out.hint("No campaigns yet: orcid-sync invitations send --status not_connected --dry-run")


@invitations.command("show")
@click.argument("campaign_id")
@output_option()
@api_options
def show(api: ApiClient, campaign_id: str, output: str) -> None:
    """One campaign and what became of each invitation (sent, opened, connected, reminders)."""
    detail = api.call("GET", f"/invitations/{quote(campaign_id, safe='')}")
    if output == "json":
        out.emit_json(detail)
        return
    header = ["researcher_id", "status", "skip_reason", "language", "sent_at", "reminders_sent", "opened_at",
              "connected_at"]  # fmt: skip
    rows = [[i.get(name) if i.get(name) is not None else "-" for name in header] for i in detail["invitations"]]
    if output == "csv":
        out.emit_csv(header, rows)
        return
    campaign = detail["campaign"]
    counts = ", ".join(f"{name} {value}" for name, value in campaign["counts"].items() if value)
    columns = [Column(name.replace("_", " ").capitalize(), no_wrap=name.endswith("_at")) for name in header]
    out.print_table(f"Campaign {campaign['campaign_id']} ({counts or 'nothing yet'})", columns, rows)

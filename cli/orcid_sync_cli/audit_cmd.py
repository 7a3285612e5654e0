"""``orcid-sync audit``: the audit log (who changed what, when, before and after), newest first."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

AUDIT_CSV_COLUMNS = ("at", "actor", "actor_kind", "action", "target", "before", "after")


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def change_text(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """``field: old → new`` per field (``field: new`` when there was no state before), one per line."""
    before, after = before or {}, after or {}
    lines = []
    for key in sorted({*before, *after}):
        if key in before and key in after:
            lines.append(f"{key}: {_value(before[key])} → {_value(after[key])}")
        elif key in after:
            lines.append(f"{key}: {_value(after[key])}")
        else:
            lines.append(f"{key}: {_value(before[key])} → (none)")
    return "\n".join(lines) or "-"


@click.command("audit")
@click.option("--actor", help="Only this actor's entries (an email or an IAM ARN).")
@click.option("--action", help="Only this action, e.g. schedule.activate or settings.update.")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True, help="Entries per page.")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@output_option()
@api_options
def audit(
    *, api: ApiClient, actor: str | None, action: str | None, limit: int, cursor: str | None, output: str
) -> None:
    """Who changed what, and when: every state-changing action of the console and the admin API, newest first."""
    page = api.call("GET", "/audit", params={"actor": actor, "action": action, "limit": limit, "cursor": cursor})
    entries = page["entries"]
    if output == "json":
        out.emit_json(page)
    elif output == "csv":
        out.emit_csv(
            AUDIT_CSV_COLUMNS,
            [
                [
                    e["at"],
                    e["actor"],
                    e["actor_kind"],
                    e["action"],
                    e["target"],
                    *(
                        json.dumps(e[side], sort_keys=True) if e.get(side) is not None else ""
                        for side in ("before", "after")
                    ),
                ]
                for e in entries
            ],
        )
    else:
        columns = (
            Column("When (UTC)", no_wrap=True),
            Column("Who", drop=2),
            Column("Via", drop=3),
            Column("Action", no_wrap=True),
            Column("Target", drop=1),
            Column("Change"),
        )
        rows = [
            (
                out.when(e["at"]),
                e["actor"],
                e["actor_kind"],
                e["action"],
                e["target"] or "-",
                change_text(e.get("before"), e.get("after")),
            )
            for e in entries
        ]
        out.print_table("Audit log", columns, rows)
        if not entries:
            out.hint("Nothing recorded yet." if not (actor or action) else "No entry matches.")
    if page.get("next_cursor"):
        out.hint(f"More: orcid-sync audit --cursor {page['next_cursor']}")

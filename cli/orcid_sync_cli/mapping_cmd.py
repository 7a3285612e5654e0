"""``orcid-sync mapping``: the Esploro asset type → ORCID work type table, a stack's effective one or the default.

Without a stack it prints the table the stack starts from: a copy of the layer's
``orcid_sync/data/esploro-work-types.csv`` shipped with the CLI (a test keeps the two equal), with
ORCID API 2.x names resolved to their 3.0 work type as the layer does.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, optional_api_options
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

WORK_TYPE_ALIASES: dict[str, str] = {
    "article-journal": "journal-article",
    "chapter": "book-chapter",
    "dataset": "data-set",
    "standard": "standards-and-policy",
    "dissertation": "dissertation-thesis",
}
"""Old or alias names → ORCID API 3.0 work type (the layer's ``vocabulary.WORK_TYPE_ALIASES``)."""


def default_mapping() -> list[dict[str, Any]]:
    """The built-in table as the stack uses it before any override, sorted by asset type."""
    text = resources.files("orcid_sync_cli").joinpath("esploro-work-types.csv").read_text(encoding="utf-8")
    rows = {
        row["esploro_asset_type"]: WORK_TYPE_ALIASES.get(row["orcid_work_type"], row["orcid_work_type"])
        for row in csv.DictReader(text.splitlines())
    }
    return [{"asset_type": asset_type, "work_type": rows[asset_type]} for asset_type in sorted(rows)]


@click.command("mapping")
@output_option(default="csv")
@optional_api_options
def mapping(api: ApiClient | None, output: str) -> None:
    """The Esploro asset type → ORCID work type mapping (CSV by default).

    With a stack (--stack, --api, --local): its effective mapping, overrides applied, and whether
    the push sends each type. Without one: the default table every stack starts from.
    """
    rows: list[dict[str, Any]] = api.call("GET", "/settings/mapping") if api is not None else default_mapping()
    with_stack = api is not None
    if output == "json":
        out.emit_json(rows)
        return
    if output == "csv":
        header = ["esploro_asset_type", "orcid_work_type"] + (["overridden", "sent"] if with_stack else [])
        keys = ["asset_type", "work_type"] + (["overridden", "selected"] if with_stack else [])
        out.emit_csv(header, [[row[key] for key in keys] for row in rows])
        return
    columns = [Column("Esploro asset type", no_wrap=True), Column("ORCID work type", no_wrap=True)]
    if with_stack:
        columns += [Column("Overridden"), Column("Sent")]
    table_rows = [
        (row["asset_type"], row["work_type"])
        + ((("yes" if row["overridden"] else "no"), ("yes" if row["selected"] else "no")) if with_stack else ())
        for row in rows
    ]
    out.print_table("Asset type mapping" if with_stack else "Default asset type mapping", columns, table_rows)

"""``orcid-sync``: administer a running stack over its HTTPS API, or run the local stack."""

from __future__ import annotations

import csv
import sys

import click

from orcid_sync import __version__
from orcid_sync.mapping import WorkTypeMapping


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orcid-sync")
def cli() -> None:
    """Administer orcid-sync: researchers, tokens, jobs and reports."""


@cli.command()
def mapping() -> None:
    """Print the effective Esploro asset type → ORCID work type mapping as CSV."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["esploro_asset_type", "orcid_work_type"])
    writer.writerows(WorkTypeMapping().items())


if __name__ == "__main__":
    cli()

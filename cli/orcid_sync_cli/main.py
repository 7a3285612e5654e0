"""``orcid-sync``: administer a running stack over its HTTPS API, or run the local stack."""

from __future__ import annotations

import csv
import sys

import click

from orcid_sync import __version__
from orcid_sync.mapping import WorkTypeMapping
from orcid_sync_cli import connect, data, jobs, pull_cmd, settings_cmd
from orcid_sync_local.cli import local


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orcid-sync")
def cli() -> None:
    """Administer orcid-sync: researchers, tokens, jobs and reports."""


@cli.command()
@click.option("--api", "api_url", help="URL of a running stack: print its effective mapping (overrides applied).")
@click.option("--stack", "stack_name", help="Name of a deployed stack: print its effective mapping.")
def mapping(api_url: str | None, stack_name: str | None) -> None:
    """Print the Esploro asset type → ORCID work type mapping as CSV (a stack's effective one with --api/--stack)."""
    if api_url or stack_name:
        settings_cmd.print_effective_mapping(api_url, stack_name)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["esploro_asset_type", "orcid_work_type"])
    writer.writerows(WorkTypeMapping().items())


cli.add_command(connect.connect_link)
cli.add_command(connect.disconnect)
cli.add_command(settings_cmd.settings)
cli.add_command(jobs.jobs)
cli.add_command(jobs.report)
cli.add_command(pull_cmd.pull)
cli.add_command(data.researchers)
cli.add_command(data.assets)
cli.add_command(data.tokens)
cli.add_command(local)


if __name__ == "__main__":
    cli()

"""``orcid-sync``: administer a deployed or local stack over its HTTPS API.

Commands are loaded when they run (``orcid-sync --help`` imports click and nothing else of weight);
boto3, requests and rich are imported by the commands that use them. ``orcid-sync local`` is an
alias of the development install's ``orcid-sync-local``, loaded only when it is invoked.
"""

from __future__ import annotations

import importlib
import traceback

import click

from orcid_sync_cli import __version__
from orcid_sync_cli.errors import CONFIG, CliError, translate
from orcid_sync_cli.options import OUTPUT_FORMATS, debug_option, debugging

COMMANDS: dict[str, tuple[str, str]] = {
    "researchers": ("orcid_sync_cli.data_cmd", "researchers"),
    "assets": ("orcid_sync_cli.data_cmd", "assets"),
    "audit": ("orcid_sync_cli.audit_cmd", "audit"),
    "tokens": ("orcid_sync_cli.tokens_cmd", "tokens"),
    "console": ("orcid_sync_cli.console_cmd", "console"),
    "connect-link": ("orcid_sync_cli.connect", "connect_link"),
    "disconnect": ("orcid_sync_cli.connect", "disconnect"),
    "settings": ("orcid_sync_cli.settings_cmd", "settings"),
    "mapping": ("orcid_sync_cli.mapping_cmd", "mapping"),
    "jobs": ("orcid_sync_cli.jobs_cmd", "jobs"),
    "feeds": ("orcid_sync_cli.feeds_cmd", "feeds"),
    "report": ("orcid_sync_cli.report_cmd", "report"),
    "invitations": ("orcid_sync_cli.invitations_cmd", "invitations"),
    "pull": ("orcid_sync_cli.pull_cmd", "pull"),
    "secret": ("orcid_sync_cli.secret_cmd", "secret"),
}

EXIT_STATUSES = """\b
Exit status: 0 done; 1 the API answered with an error, or rows were
rejected, or the run failed; 2 usage; 3 AWS credentials or configuration
(also HTTP 401/403); 4 stack not found (or no local stack running);
5 API unreachable. --output json is stable for scripts."""


class LocalAlias(click.Group):
    """``orcid-sync local …``: the development install's ``orcid-sync-local``, imported only when used."""

    def _target(self) -> click.Group:
        try:
            module = importlib.import_module("orcid_sync_local.cli")
        except ModuleNotFoundError as exc:
            raise CliError(
                f"`orcid-sync local` needs the development install ({exc.name} is missing): "
                "in a checkout run `make venv`, then `.venv/bin/orcid-sync-local up`",
                CONFIG,
            ) from None
        target: click.Group = module.local
        return target

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._target().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._target().get_command(ctx, cmd_name)


class OrcidSyncGroup(click.Group):
    """The root: commands loaded on use, and errors as one or two lines (``--debug``: with the traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*sorted(COMMANDS), "local"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "local":
            return local
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.UsageError, KeyboardInterrupt, BrokenPipeError):
            raise
        except click.ClickException:
            if debugging():
                traceback.print_exc()
            raise
        except Exception as exc:
            if debugging():
                traceback.print_exc()
            raise translate(exc) from exc


local = LocalAlias(
    "local",
    help="Run the stack on this machine (alias of orcid-sync-local; development install only).",
    short_help="Run the stack on this machine (orcid-sync-local; development install).",
)


@click.group(cls=OrcidSyncGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUSES)
@click.version_option(__version__, "--version", "-V", prog_name="orcid-sync")
@click.option("--profile", metavar="NAME", envvar="AWS_PROFILE", help="AWS profile for every command (or AWS_PROFILE).")
@click.option(
    "--region",
    metavar="REGION",
    envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
    help="AWS region for every command (or AWS_REGION / AWS_DEFAULT_REGION).",
)
@click.option("-o", "--output", type=click.Choice(OUTPUT_FORMATS), help="Output of every command: table, json or csv.")
@debug_option
def cli(profile: str | None, region: str | None, output: str | None) -> None:
    """Administer orcid-sync: researchers, tokens, jobs and reports.

    Name the stack on any command: --stack NAME (deployed; --profile, --region), --api URL
    (or $ORCID_SYNC_API_URL), or --local (the stack `orcid-sync-local up` runs here).
    """


if __name__ == "__main__":
    cli()

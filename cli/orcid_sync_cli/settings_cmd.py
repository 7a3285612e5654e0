"""``orcid-sync settings show|set``: read and change the integration settings of a stack."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, ApiError, api_options
from orcid_sync_cli.errors import USAGE, CliError
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

# Kept by the server; never sent back as part of a change.
_READ_ONLY = ("updated_at",)


def parse_value(raw: str, current: Any) -> Any:
    """A command-line value: JSON when it parses (true, 3, ["a"], {…}), else the text itself.

    For a list setting a bare ``a,b`` means ``["a", "b"]``, so ``set asset_types.include publication,dataset``
    needs no quoting.
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if isinstance(current, list):
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


def set_path(document: dict[str, Any], key: str, raw: str) -> dict[str, Any]:
    """A copy of ``document`` with the dotted ``key`` (``organization.city``) set to the parsed value."""
    parts = key.split(".")
    if not all(parts):
        raise click.BadParameter(
            f"{key!r} is not a settings key like send_assets or organization.city", param_hint="KEY"
        )
    updated: dict[str, Any] = json.loads(json.dumps(document))
    node = updated
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise click.BadParameter(f"{part!r} is not a group of settings", param_hint="KEY")
        node = child
    node[parts[-1]] = parse_value(raw, node.get(parts[-1]))
    return updated


def _for_update(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in _READ_ONLY}


def _can_ask() -> bool:
    """Whether a person is there to answer (both ends a terminal)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _preview(api: ApiClient, body: dict[str, Any]) -> dict[str, Any] | None:
    """``POST /settings/preview``; None from a stack that predates it (it then cannot say what would go)."""
    try:
        preview: dict[str, Any] = api.call("POST", "/settings/preview", json_body=body)
    except ApiError as exc:
        if exc.status in (404, 405):
            click.echo("this stack cannot preview a settings change (upgrade it); saving without a preview", err=True)
            return None
        raise
    return preview


def confirm_deletions(preview: dict[str, Any] | None, *, yes: bool) -> None:
    """Show what the change would do; a change that deletes works from ORCID needs a yes (or --yes)."""
    if preview is None:
        return
    click.echo(preview["summary"], err=True)
    if (preview["delete"]["works"] == 0 and preview["complete"]) or yes:
        return
    works = preview["delete"]["works"]
    question = (
        f"Save, and let the next push delete {works:,} work{'s' if works != 1 else ''} from ORCID?"
        if preview["complete"]
        else "Save? The preview ran out of time, so more works than counted may be deleted."
    )
    if not _can_ask():
        raise CliError(
            "this change would delete works from ORCID (see above) and nobody is at a terminal to confirm it; "
            "nothing was saved. Run it in a terminal, or add --yes to save it anyway.",
            USAGE,
        )
    if not click.confirm(question, default=False, err=True):
        raise CliError("nothing was saved", USAGE)


@click.group("settings")
def settings() -> None:
    """Show or change the integration settings (what the push sends to ORCID)."""


@settings.command("show")
@output_option(default="json")
@api_options
def show(api: ApiClient, output: str) -> None:
    """Print the settings: JSON by default, as `settings set --file` takes them (with the version checked on change).

    The table and the CSV list one setting per line by its dotted key, as `settings set KEY VALUE` takes it.
    """
    document = api.call("GET", "/settings")
    if output == "json":
        out.emit_json(document)
    elif output == "csv":
        out.emit_fields_csv(document)
    else:
        rows = list(out.flatten(document).items())
        out.print_table("Integration settings", (Column("Setting", no_wrap=True), Column("Value")), rows)


@settings.command("set")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option(
    "--file",
    "settings_file",
    type=click.File("r"),
    help="Replace all settings with this JSON document (as `settings show` prints it).",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Save without asking, even when the next push would delete works from ORCID (for scripts).",
)
@api_options
def set_(api: ApiClient, key: str | None, value: str | None, settings_file: IO[str] | None, yes: bool) -> None:
    """Change one setting (KEY VALUE, e.g. `send_assets true`, `organization.city Boston`) or all (--file).

    The change is checked against the version read just before it, so a concurrent change by
    someone else is reported instead of overwritten. Before saving, the stack says what the next push
    would do under the new settings (works deleted from ORCID, by reason, added and updated); a change
    that deletes works asks for confirmation, and without a terminal it is refused unless --yes is given.
    """
    if settings_file is not None:
        if key is not None or value is not None:
            raise click.UsageError("give either KEY VALUE or --file, not both")
        try:
            document = json.load(settings_file)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--file") from None
        if not isinstance(document, dict):
            raise click.BadParameter("must hold a JSON object", param_hint="--file")
        if "version" not in document:
            document["version"] = api.call("GET", "/settings")["version"]
    else:
        if key is None or value is None:
            raise click.UsageError("give KEY VALUE (e.g. `settings set send_assets true`) or --file settings.json")
        if key in ("version", *_READ_ONLY):
            raise click.BadParameter(f"{key} is kept by the server", param_hint="KEY")
        document = set_path(api.call("GET", "/settings"), key, value)
    confirm_deletions(_preview(api, _for_update(document)), yes=yes)
    saved = api.call("PUT", "/settings", json_body=_for_update(document))
    click.echo(json.dumps(saved, indent=2, sort_keys=True))
    click.echo(f"saved as version {saved['version']}", err=True)

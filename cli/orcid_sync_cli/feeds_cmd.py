"""``orcid-sync feeds …``: harvest assets from the repository over OAI-PMH (add, show, list, remove, run, test).

A feed is an OAI-PMH endpoint, a metadata format, an optional set and a mapping profile; its harvest is a
job of type ``feed`` (``feeds run ID --wait`` follows it as ``jobs run --wait`` does). ``--profile`` here is
the mapping profile; the AWS profile is ``--aws-profile`` (or ``orcid-sync --profile NAME feeds …``, or
``AWS_PROFILE``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options, api_options_with_aws_profile_flag
from orcid_sync_cli.errors import USAGE, CliError
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

PROFILES = ("dspace", "eprints", "esploro", "datacite")
"""The mapping profiles the layer ships (``domain/feeds/profiles/*.json``)."""
FORMATS = ("auto", "oai_dc", "oai_datacite", "oai_openaire")
"""``auto``: the richest format the endpoint offers (``ListMetadataFormats``)."""

feed_stack_options = api_options_with_aws_profile_flag("--aws-profile")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def describe_schedule(schedule: dict[str, Any]) -> str:
    """``daily at 01:00 UTC``, as the API's FeedSchedule says it (the hourly FeedRule must be active)."""
    every, hour = schedule.get("every", "daily"), int(schedule.get("hour_utc", 1))
    if every == "hourly":
        return "every hour"
    at = f"at {hour:02d}:00 UTC"
    return f"daily {at}" if every == "daily" else f"weekly on {schedule.get('weekday') or 'mon'} {at}"


def feed_path(feed_id: str) -> str:
    return f"/feeds/{quote(feed_id, safe='')}"


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """``SRC=TYPE`` pairs (the source vocabulary's value, the asset type it becomes) as a mapping."""
    overrides: dict[str, str] = {}
    for value in values:
        source, equals, asset_type = value.partition("=")
        if not equals or not source.strip() or not asset_type.strip():
            raise click.BadParameter(
                f"{value!r} is not SRC=TYPE (e.g. 'info:eu-repo/semantics/lecture=publication.conference_paper')",
                param_hint="'--type-override'",
            )
        overrides[source.strip()] = asset_type.strip()
    return overrides


@click.group("feeds")
def feeds() -> None:
    """Harvest assets from your repository over OAI-PMH: configure feeds, test an endpoint, run a harvest."""


def feed_fields(feed: dict[str, Any]) -> list[tuple[str, Any]]:
    """A feed as label/value pairs: where from, how it maps, and how its last harvest went."""
    chosen = feed.get("chosen_prefix")
    prefix = feed.get("metadata_prefix") or "auto"
    fields: list[tuple[str, Any]] = [
        ("Endpoint", feed["base_url"]),
        ("Format", f"{prefix} ({chosen})" if prefix == "auto" and chosen else prefix),
        ("Set", feed.get("set_spec") or "- (the whole repository)"),
        ("Profile", feed["profile"]),
        ("Local id field", feed.get("local_id_field") or "- (creators matched by ORCID iD only)"),
    ]
    for source, asset_type in sorted((feed.get("type_overrides") or {}).items()):
        fields.append(("Type override", f"{source} → {asset_type}"))
    fields += [
        ("Enabled", "yes" if feed.get("enabled", True) else "no (the schedule skips it; feeds run still works)"),
        ("Schedule", describe_schedule(feed.get("schedule") or {})),
        ("Harvesting now", f"yes: job {feed.get('harvest_job_id')}" if feed.get("harvest_in_progress") else "no"),
        ("Last harvest (UTC)", out.when(feed.get("last_harvest_at"))),
        ("Next harvest from", feed.get("last_harvest_from") or "- (the beginning: a full harvest)"),
        ("Last job", feed.get("last_job_id") or "-"),
    ]
    return fields


def print_feed(feed: dict[str, Any], output: str, title: str | None = None) -> None:
    if output == "json":
        out.emit_json(feed)
    elif output == "csv":
        out.emit_fields_csv(feed)
    else:
        out.print_fields(title or f"Feed {feed['feed_id']}", feed_fields(feed))


@feeds.command("add")
@click.argument("feed_id")
@click.option("--url", "base_url", required=True, help="The OAI-PMH base URL (https; http for a loopback host).")
@click.option("--profile", "profile", type=click.Choice(PROFILES), required=True, help="The mapping profile.")
@click.option(
    "--format",
    "metadata_prefix",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="The metadata format; auto picks the richest the endpoint offers.",
)
@click.option("--set", "set_spec", metavar="SPEC", help="Harvest only this set (setSpec).")
@click.option(
    "--local-id-field", metavar="F", help="Match creators by this nameIdentifierScheme too (after ORCID iDs)."
)
@click.option(
    "--type-override",
    "type_overrides",
    multiple=True,
    metavar="SRC=TYPE",
    help="Map the source type SRC to the asset type TYPE instead of the profile's (repeatable).",
)
@click.option(
    "--schedule",
    "every",
    type=click.Choice(["hourly", "daily", "weekly"]),
    default="daily",
    show_default=True,
    help="How often the feed schedule harvests it (once `jobs activate feed`).",
)
@click.option("--at", "hour_utc", type=click.IntRange(0, 23), default=1, show_default=True, help="Hour (UTC).")
@click.option("--weekday", type=click.Choice(WEEKDAYS), help="For --schedule weekly: the day (default mon).")
@click.option("--disabled", is_flag=True, help="Add it switched off: the schedule skips it.")
@output_option()
@feed_stack_options
def add(
    *,
    api: ApiClient,
    feed_id: str,
    base_url: str,
    profile: str,
    metadata_prefix: str,
    set_spec: str | None,
    local_id_field: str | None,
    type_overrides: Sequence[str],
    every: str,
    hour_utc: int,
    weekday: str | None,
    disabled: bool,
    output: str,
) -> None:
    """Add a feed: where to harvest from, in which format, and how records map to assets.

    Nothing is harvested until `feeds run FEED_ID` or the schedule (`jobs activate feed`).
    Try the endpoint first with `feeds test URL --profile P`.
    """
    body: dict[str, Any] = {
        "feed_id": feed_id,
        "base_url": base_url,
        "metadata_prefix": metadata_prefix,
        "set_spec": set_spec,
        "profile": profile,
        "local_id_field": local_id_field,
        "type_overrides": parse_overrides(type_overrides),
        "enabled": not disabled,
        "schedule": {"every": every, "hour_utc": hour_utc, "weekday": weekday},
    }
    feed = api.call("POST", "/feeds", json_body=body)
    print_feed(feed, output, f"Feed {feed['feed_id']} added")
    if output == "table":
        out.hint(f"Harvest it now: orcid-sync feeds run {feed['feed_id']} --wait")


@feeds.command("show")
@click.argument("feed_id")
@output_option()
@api_options
def show(api: ApiClient, feed_id: str, output: str) -> None:
    """A feed: its endpoint, format, profile and overrides, and its last harvest."""
    feed = api.call("GET", feed_path(feed_id))
    print_feed(feed, output)
    if output == "table" and feed.get("last_job_id"):
        out.hint(f"Its last harvest: orcid-sync jobs show {feed['last_job_id']}")


FEED_CSV_COLUMNS = (
    "feed_id",
    "base_url",
    "metadata_prefix",
    "chosen_prefix",
    "set_spec",
    "profile",
    "local_id_field",
    "type_overrides",
    "enabled",
    "schedule",
    "last_harvest_at",
    "last_harvest_from",
    "last_job_id",
    "harvest_in_progress",
    "harvest_job_id",
)


@feeds.command("list")
@output_option()
@api_options
def list_(api: ApiClient, output: str) -> None:
    """Every feed, with its profile and last harvest."""
    listed: dict[str, Any] = api.call("GET", "/feeds")
    items: list[dict[str, Any]] = listed["feeds"]
    if output == "json":
        out.emit_json(listed)
        return
    if output == "csv":
        out.emit_csv(FEED_CSV_COLUMNS, [[feed.get(name) for name in FEED_CSV_COLUMNS] for feed in items])
        return
    columns = (
        Column("Feed", no_wrap=True),
        Column("Profile", no_wrap=True),
        Column("Format", no_wrap=True, drop=2),
        Column("Set", drop=3),
        Column("Enabled", no_wrap=True),
        Column("Last harvest (UTC)", no_wrap=True, drop=1),
        Column("Endpoint"),
    )
    rows = [
        (
            feed["feed_id"],
            feed["profile"],
            feed.get("chosen_prefix") or feed.get("metadata_prefix") or "auto",
            feed.get("set_spec") or "-",
            _enabled(feed),
            out.when(feed.get("last_harvest_at"), seconds=False),
            feed["base_url"],
        )
        for feed in items
    ]
    out.print_table("Feeds", columns, rows)
    if not items:
        out.hint("No feeds yet: orcid-sync feeds add FEED_ID --url URL --profile dspace")


def _enabled(feed: dict[str, Any]) -> str:
    return ("yes" if feed.get("enabled", True) else "no") + (" (harvesting)" if feed.get("harvest_in_progress") else "")


def _can_ask() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


@feeds.command("remove")
@click.argument("feed_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@output_option()
@api_options
def remove(api: ApiClient, feed_id: str, yes: bool, output: str) -> None:
    """Remove a feed. The assets it harvested stay (delete them, or let the repository withdraw them first).

    Asks for confirmation on a terminal; without one, --yes is required.
    """
    feed = api.call("GET", feed_path(feed_id))
    if not yes:
        if not _can_ask():
            raise CliError(f"removing feed {feed_id} needs a confirmation: run it in a terminal, or add --yes", USAGE)
        if not click.confirm(f"Remove feed {feed_id} ({feed['base_url']})?", default=False, err=True):
            raise CliError("nothing was removed", USAGE)
    api.call("DELETE", feed_path(feed_id))
    result = {"feed_id": feed_id, "removed": True}
    if output == "json":
        out.emit_json(result)
    elif output == "csv":
        out.emit_fields_csv(result)
    else:
        click.echo(f"Feed {feed_id} removed; the assets it harvested are kept.")


@feeds.command("run")
@click.argument("feed_id")
@click.option("--full", is_flag=True, help="Harvest everything again, not only what changed since the last harvest.")
@click.option("--wait", is_flag=True, help="Follow the harvest with a progress display until it ends.")
@click.option("--interval", type=click.FloatRange(0.0), default=5.0, show_default=True, help="Seconds between polls.")
@output_option()
@api_options
def run(*, api: ApiClient, feed_id: str, full: bool, wait: bool, interval: float, output: str) -> None:
    """Harvest a feed now (incremental: what changed since the last harvest; --full: everything).

    --output json prints the run as `jobs show --output json` does (when it started, or when it ended with --wait);
    with --wait, exit 1 if the harvest fails.
    """
    from orcid_sync_cli.jobs_cmd import follow_started_job

    job = api.call("POST", f"{feed_path(feed_id)}/run", json_body={"full": full})
    started = f"Started feed job {job['job_id']} for {feed_id}" + (" (full harvest)" if full else "")
    follow_started_job(api, job, started, wait=wait, interval=interval, output=output)


def _outcome(record: dict[str, Any]) -> tuple[str, str | None]:
    if record.get("withdraw"):
        return "withdraw", "yellow"
    if record.get("asset") is not None:
        return "import", "green"
    if record.get("problems"):
        return "refused", "red"
    return "no researcher", "yellow"


def _record_row(record: dict[str, Any]) -> tuple[Any, ...]:
    asset = record.get("asset") or {}
    outcome, style = _outcome(record)
    problems = "; ".join(f"{p['field']}: {p['why']}" for p in record.get("problems") or [])
    researchers = ", ".join(record.get("matched_researchers") or []) or "-"
    unmatched = record.get("unmatched_creators") or 0
    if unmatched:
        researchers += f" (+{unmatched} unmatched)"
    return (
        record["oai_identifier"],
        out.styled(outcome, style),
        asset.get("type") or "-",
        asset.get("title") or "-",
        researchers,
        problems or "-",
    )


@feeds.command("test")
@click.argument("url")
@click.option("--profile", "profile", type=click.Choice(PROFILES), required=True, help="The mapping profile.")
@click.option("--format", "metadata_prefix", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--set", "set_spec", metavar="SPEC", help="Only this set (setSpec).")
@click.option("--local-id-field", metavar="F", help="Match creators by this nameIdentifierScheme too (after iDs).")
@click.option(
    "--type-override",
    "type_overrides",
    multiple=True,
    metavar="SRC=TYPE",
    help="Map the source type SRC to the asset type TYPE instead of the profile's (repeatable).",
)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Records to map.")
@output_option()
@feed_stack_options
def test(
    *,
    api: ApiClient,
    url: str,
    profile: str,
    metadata_prefix: str,
    set_spec: str | None,
    local_id_field: str | None,
    type_overrides: Sequence[str],
    limit: int,
    output: str,
) -> None:
    """Check an OAI-PMH endpoint and print what its first records would become. Changes nothing.

    Identify, the formats and sets it offers, the format a feed would use, and for each record: import
    (the asset and the researchers its creators matched), withdraw (a deleted record), refused (the field
    and why) or no researcher (no creator matched anyone).
    """
    body = {
        "base_url": url,
        "metadata_prefix": metadata_prefix,
        "set_spec": set_spec,
        "profile": profile,
        "local_id_field": local_id_field,
        "type_overrides": parse_overrides(type_overrides),
        "limit": limit,
    }
    report: dict[str, Any] = api.call("POST", "/feeds/test", json_body=body)
    records: list[dict[str, Any]] = report.get("records") or []
    if output == "json":
        out.emit_json(report)
        return
    if output == "csv":
        out.emit_csv(
            ("oai_identifier", "outcome", "asset_id", "asset_type", "title", "researchers", "unmatched", "problems"),
            [
                (
                    r["oai_identifier"],
                    _outcome(r)[0],
                    (r.get("asset") or {}).get("id"),
                    (r.get("asset") or {}).get("type"),
                    (r.get("asset") or {}).get("title"),
                    ";".join(r.get("matched_researchers") or []),
                    r.get("unmatched_creators") or 0,
                    "; ".join(f"{p['field']}: {p['why']}" for p in r.get("problems") or []),
                )
                for r in records
            ],
        )
        return
    sets = report.get("sets") or []
    set_names = ", ".join(spec for spec, _name in sets[:8]) + (f" … ({len(sets)} in all)" if len(sets) > 8 else "")
    out.print_fields(
        f"OAI-PMH endpoint {url}",
        [
            ("Repository", report.get("repository_name") or "-"),
            ("Granularity", report.get("granularity") or "-"),
            ("Deleted records", report.get("deleted_record") or "-"),
            ("Formats", ", ".join(report.get("metadata_prefixes") or []) or "-"),
            ("A feed would use", report.get("chosen_prefix") or "-"),
            ("Sets", set_names or "-"),
        ],
    )
    click.echo()
    columns = (
        Column("OAI identifier", no_wrap=True),
        Column("Would", no_wrap=True),
        Column("Asset type", no_wrap=True, drop=2),
        Column("Title", drop=3),
        Column("Researchers", drop=1),
        Column("Problems"),
    )
    out.print_table(f"First {len(records)} records (nothing was imported)", columns, [_record_row(r) for r in records])
    if not records:
        out.hint("The endpoint returned no records (for this set and format).")

"""``orcid-sync jobs …`` and ``orcid-sync report tokens``: job history, runs on demand, schedules, reports."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.errors import API_ERROR
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

if TYPE_CHECKING:
    from rich.text import Text

JOB_TYPES = ("push", "pull", "upload")
SCHEDULED = ("push", "pull")
STATES = ("running", "succeeded", "completed_with_errors", "failed")
_STATE_STYLE = {"running": "cyan", "succeeded": "green", "completed_with_errors": "yellow", "failed": "bold red"}

sleep: Callable[[float], None] = time.sleep
"""How ``--wait`` pauses between polls (tests replace it to drive the run forward)."""


def _path(job_id: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}"


def _duration(job: dict[str, Any], *, compact: bool = False) -> str:
    """``1h 04m 05s`` (``1h04m`` compact, for a listing), ``3m 07s``, or "-" while running."""
    if not job.get("ended_at"):
        return "-"
    seconds = round(
        (datetime.fromisoformat(job["ended_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    )
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if compact:
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _state(state: str) -> Text:
    return out.styled(state.replace("_", " "), _STATE_STYLE.get(state))


def _progress_text(job: dict[str, Any]) -> str:
    counts = job["counts"]
    expected = job.get("expected")
    done = f"{counts['researchers_processed']}/{expected}" if expected is not None else "selecting researchers"
    return f"{done} (updated {counts['researchers_updated']}, failed {counts['researchers_failed']})"


def _processed(job: dict[str, Any]) -> str:
    return f"{job['counts']['researchers_processed']}/{job['expected'] if job.get('expected') is not None else '?'}"


@click.group("jobs")
def jobs() -> None:
    """Job history, events and reports; run push or pull now; activate the daily schedules."""


JOB_CSV_COLUMNS = (
    "job_id",
    "type",
    "dry_run",
    "trigger",
    "started_by",
    "state",
    "started_at",
    "ended_at",
    "expected",
    "researchers_processed",
    "researchers_updated",
    "researchers_failed",
    "csv_rows",
)


def _job_csv_row(job: dict[str, Any]) -> list[Any]:
    return [job["counts"].get(name) if name.startswith("researchers_") else job.get(name) for name in JOB_CSV_COLUMNS]


@jobs.command("list")
@click.option("--type", "job_type", type=click.Choice(JOB_TYPES), help="Only runs of this type.")
@click.option("--state", type=click.Choice(STATES), help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="Runs per page.")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@output_option()
@api_options
def list_(
    *, api: ApiClient, job_type: str | None, state: str | None, limit: int, cursor: str | None, output: str
) -> None:
    """The most recent runs, newest first."""
    page = api.call("GET", "/jobs", params={"type": job_type, "state": state, "limit": limit, "cursor": cursor})
    if output == "json":
        out.emit_json(page)
    elif output == "csv":
        out.emit_csv(JOB_CSV_COLUMNS, [_job_csv_row(job) for job in page["items"]])
    else:
        columns = (
            Column("Job", no_wrap=True),
            Column("Type"),
            Column("Trigger", drop=3),
            Column("Started (UTC)", no_wrap=True, drop=2),
            Column("Took", no_wrap=True, drop=1),
            Column("State"),
            Column("Processed", justify="right"),
            Column("Failed", justify="right"),
        )
        rows = [
            (
                job["job_id"],
                job["type"] + (" (dry run)" if job["dry_run"] else ""),
                job["trigger"],
                out.when(job["started_at"], seconds=False),
                _duration(job, compact=True),
                _state(job["state"]),
                _processed(job),
                str(job["counts"]["researchers_failed"]),
            )
            for job in page["items"]
        ]
        out.print_table("Job runs", columns, rows)
        if not page["items"]:
            out.hint("No job runs yet.")
    if page.get("next_cursor"):
        out.hint(f"More: orcid-sync jobs list --cursor {page['next_cursor']}")


def job_fields(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """A run as label/value pairs: what, when, how it went, the counts and how to get its CSV."""
    fields: list[tuple[str, Any]] = [
        ("Type", job["type"] + (" (dry run: nothing written to ORCID)" if job["dry_run"] else "")),
        ("State", _state(job["state"])),
        ("Trigger", f"{job['trigger']} by {job['started_by']}"),
        ("Started (UTC)", out.when(job["started_at"])),
        ("Ended (UTC)", out.when(job.get("ended_at"))),
        ("Duration", _duration(job)),
    ]
    options = job.get("options") or {}
    if options.get("researcher_ids"):
        ids = options["researcher_ids"]
        fields.append(
            ("Researchers asked for", ", ".join(ids[:10]) + (f" … ({len(ids)} in all)" if len(ids) > 10 else ""))
        )
    if options.get("resend_deleted"):
        fields.append(("Resend deleted", "yes: works deleted on ORCID are sent again"))
    fields.append(("Expected researchers", "selecting…" if job.get("expected") is None else str(job["expected"])))
    for name, value in job["counts"].items():
        if value or name.startswith("researchers_"):
            fields.append((name.replace("_", " ").capitalize(), str(value)))
    if job["type"] == "pull":
        if job.get("csv_uri"):
            fields.append(("CSV", f"{job.get('csv_rows') or 0} rows: orcid-sync pull download {job['job_id']}"))
        else:
            fields.append(("CSV", "written when the run finishes" if job["state"] == "running" else "none"))
    report = job.get("report") or {}
    if report.get("error"):
        fields.append(("Error", out.styled(str(report["error"]), "red")))
    return fields


def _print_job(job: dict[str, Any], output: str) -> None:
    if output == "json":
        out.emit_json(job)
    elif output == "csv":
        out.emit_fields_csv(job)
    else:
        out.print_fields(f"Job {job['job_id']}", job_fields(job))


@jobs.command("show")
@click.argument("job_id")
@output_option()
@api_options
def show(api: ApiClient, job_id: str, output: str) -> None:
    """One run: state, counts, duration and, for pull, its CSV (the JSON has its S3 URI as csv_uri)."""
    job = api.call("GET", _path(job_id))
    _print_job(job, output)
    if output == "table":
        out.hint(f"Events: orcid-sync jobs events {job_id}")


EVENT_CSV_COLUMNS = (
    "level",
    "researcher_id",
    "asset_id",
    "action",
    "message",
    "orcid_status",
    "orcid_error_code",
    "at",
)


@jobs.command("events")
@click.argument("job_id")
@click.option("--csv", "as_csv", is_flag=True, hidden=True, help="Same as --output csv.")
@click.option("--level", type=click.Choice(("error", "warning", "info")), help="Only events of this level.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Events per page.")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@output_option()
@api_options
def events(
    *,
    api: ApiClient,
    job_id: str,
    as_csv: bool,
    level: str | None,
    limit: int,
    cursor: str | None,
    output: str,
) -> None:
    """A run's events, errors first: what went wrong (or was noteworthy) and what was done about it.

    --output csv prints every event (no paging), as the API's CSV export does.
    """
    if as_csv or output == "csv":
        click.echo(api.text("GET", f"{_path(job_id)}/events", params={"format": "csv", "level": level}), nl=False)
        return
    page = api.call("GET", f"{_path(job_id)}/events", params={"level": level, "limit": limit, "cursor": cursor})
    if output == "json":
        out.emit_json(page)
    else:
        columns = (
            Column("Level", no_wrap=True),
            Column("Researcher", no_wrap=True),
            Column("Asset", no_wrap=True, drop=1),
            Column("Action", drop=2),
            Column("Message"),
        )
        rows = []
        for event in page["items"]:
            message = event["message"]
            if event.get("orcid_status") is not None:
                code = f"/{event['orcid_error_code']}" if event.get("orcid_error_code") else ""
                message += f" (ORCID {event['orcid_status']}{code})"
            style = {"error": "red", "warning": "yellow"}.get(event["level"])
            rows.append(
                (
                    out.styled(event["level"], style),
                    event.get("researcher_id") or "-",
                    event.get("asset_id") or "-",
                    event["action"],
                    message,
                )
            )
        out.print_table(f"Events of {job_id}", columns, rows)
        if not page["items"]:
            out.hint("No events.")
    if page.get("next_cursor"):
        out.hint(f"More: orcid-sync jobs events {job_id} --cursor {page['next_cursor']}")


def _researcher_ids(values: Sequence[str], ids_file: IO[str] | None) -> list[str] | None:
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if ids_file is not None:
        ids += [line.strip() for line in ids_file if line.strip() and not line.startswith("#")]
    return list(dict.fromkeys(ids)) or None


def wait_for(api: ApiClient, job: dict[str, Any], *, interval: float) -> dict[str, Any]:
    """Poll the run until it ends, with a progress bar of researchers processed (on stderr)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    console = out.console(stderr=True)
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{job['type']} {job['job_id']}", total=None, detail="selecting researchers")
        while job["state"] == "running":
            sleep(interval)
            job = api.call("GET", _path(job["job_id"]))
            progress.update(
                task,
                total=job["expected"],
                completed=job["counts"]["researchers_processed"],
                detail=_progress_text(job),
            )
    return job


@jobs.command("run")
@click.argument("job_type", type=click.Choice(SCHEDULED))
@click.option(
    "--researchers",
    "researchers",
    multiple=True,
    help="Only these researcher ids (comma-separated; repeatable). Default: everyone eligible.",
)
@click.option("--researchers-file", type=click.File("r"), help="Only the researcher ids in this file, one per line.")
@click.option("--dry-run", is_flag=True, help="Plan and report without writing to ORCID.")
@click.option("--resend-deleted", is_flag=True, help="Push: send again the works researchers deleted on ORCID.")
@click.option("--wait", is_flag=True, help="Follow the run with a progress bar until it ends.")
@click.option("--interval", type=click.FloatRange(0.0), default=5.0, show_default=True, help="Seconds between polls.")
@output_option()
@api_options
def run(
    *,
    api: ApiClient,
    job_type: str,
    researchers: Sequence[str],
    researchers_file: IO[str] | None,
    dry_run: bool,
    resend_deleted: bool,
    wait: bool,
    interval: float,
    output: str,
) -> None:
    """Run a push or pull now (for everyone eligible, or --researchers); with --wait, exit 1 if it fails.

    --output json prints the run as `jobs show --output json` does (when it started, or when it ended with --wait).
    """
    request: dict[str, Any] = {"type": job_type, "dry_run": dry_run}
    ids = _researcher_ids(researchers, researchers_file)
    if ids:
        request["researchers"] = ids
    if resend_deleted:
        if job_type != "push":
            raise click.UsageError("--resend-deleted only applies to push")
        request["resend_deleted"] = True
    job = api.call("POST", "/jobs", json_body=request)
    started = f"Started {job_type} job {job['job_id']}" + (" (dry run)" if dry_run else "")
    if output == "table":
        click.echo(started)
    else:
        out.hint(started)
    if not wait:
        if output == "table":
            out.hint(f"Follow it: orcid-sync jobs show {job['job_id']}")
        else:
            _print_job(job, output)
        return
    job = wait_for(api, job, interval=interval)
    _print_job(job, output)
    if job["state"] != "succeeded":
        out.hint(f"Events: orcid-sync jobs events {job['job_id']}")
    if job["state"] == "failed":
        sys.exit(API_ERROR)


def _warn(schedule: dict[str, Any]) -> None:
    if schedule.get("warning"):
        out.console(stderr=True).print(out.styled("Warning: ", "yellow") + out.styled(schedule["warning"]))


def _print_schedule(schedule: dict[str, Any], output: str, message: str) -> None:
    if output == "json":
        out.emit_json(schedule)
    elif output == "csv":
        out.emit_fields_csv(schedule)
    else:
        click.echo(message)


@jobs.command("activate")
@click.argument("job_type", type=click.Choice(SCHEDULED))
@output_option()
@api_options
def activate(api: ApiClient, job_type: str, output: str) -> None:
    """Run the job daily (enables its EventBridge schedule)."""
    schedule = api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": True})
    _print_schedule(schedule, output, f"The daily {job_type} job is active ({schedule['schedule']}, UTC).")
    _warn(schedule)


@jobs.command("deactivate")
@click.argument("job_type", type=click.Choice(SCHEDULED))
@output_option()
@api_options
def deactivate(api: ApiClient, job_type: str, output: str) -> None:
    """Stop running the job daily (runs on demand still work)."""
    schedule = api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": False})
    _print_schedule(schedule, output, f"The daily {job_type} job is inactive.")


STATUS_CSV_COLUMNS = (
    "type",
    "enabled",
    "schedule",
    "rule_name",
    "last_job_id",
    "last_started_at",
    "last_state",
    "warning",
)


@jobs.command("status")
@output_option()
@api_options
def status(api: ApiClient, output: str) -> None:
    """The daily schedules: active or not, when they run, how the last run went."""
    schedules: list[dict[str, Any]] = api.call("GET", "/jobs/schedules")
    if output == "json":
        out.emit_json(schedules)
    elif output == "csv":
        out.emit_csv(
            STATUS_CSV_COLUMNS,
            [
                (
                    s["type"],
                    s["enabled"],
                    s["schedule"],
                    s.get("rule_name"),
                    (s.get("last_run") or {}).get("job_id"),
                    (s.get("last_run") or {}).get("started_at"),
                    (s.get("last_run") or {}).get("state"),
                    s.get("warning"),
                )
                for s in schedules
            ],
        )
    else:
        columns = (
            Column("Job", no_wrap=True),
            Column("Active", no_wrap=True),
            Column("Schedule (UTC)"),
            Column("Last run", no_wrap=True),
            Column("Started (UTC)", no_wrap=True, drop=1),
            Column("State"),
        )
        rows = []
        for schedule in schedules:
            last = schedule.get("last_run")
            rows.append(
                (
                    schedule["type"],
                    out.styled("yes", "green") if schedule["enabled"] else "no",
                    schedule["schedule"],
                    last["job_id"] if last else "-",
                    out.when(last["started_at"], seconds=False) if last else "-",
                    _state(last["state"]) if last else "-",
                )
            )
        out.print_table("Daily jobs", columns, rows)
    for schedule in schedules:
        _warn(schedule)


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

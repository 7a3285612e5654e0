"""``orcid-sync jobs …``: job history and events, runs on demand (``--wait`` follows them), schedules."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import ApiClient, api_options
from orcid_sync_cli.errors import API_ERROR
from orcid_sync_cli.job_views import (
    JOB_CSV_COLUMNS,
    JOB_TYPES,
    SCHEDULED,
    SCHEDULES,
    STATES,
    duration,
    job_csv_row,
    job_path,
    print_job,
    print_schedule,
    processed,
    progress_of,
    progress_text,
    state_text,
    warn_about_schedule,
)
from orcid_sync_cli.options import output_option
from orcid_sync_cli.output import Column

sleep: Callable[[float], None] = time.sleep
"""How ``--wait`` pauses between polls (tests replace it to drive the run forward)."""


@click.group("jobs")
def jobs() -> None:
    """Job history, events and reports; run push or pull now; activate the daily schedules."""


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
        out.emit_csv(JOB_CSV_COLUMNS, [job_csv_row(job) for job in page["items"]])
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
                duration(job, compact=True),
                state_text(job["state"]),
                processed(job),
                str(job["counts"]["researchers_failed"]),
            )
            for job in page["items"]
        ]
        out.print_table("Job runs", columns, rows)
        if not page["items"]:
            out.hint("No job runs yet.")
    if page.get("next_cursor"):
        out.hint(f"More: orcid-sync jobs list --cursor {page['next_cursor']}")


@jobs.command("show")
@click.argument("job_id")
@output_option()
@api_options
def show(api: ApiClient, job_id: str, output: str) -> None:
    """One run: state, counts, duration and, for pull, its CSV (the JSON has its S3 URI as csv_uri)."""
    job = api.call("GET", job_path(job_id))
    print_job(job, output)
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
        click.echo(api.text("GET", f"{job_path(job_id)}/events", params={"format": "csv", "level": level}), nl=False)
        return
    page = api.call("GET", f"{job_path(job_id)}/events", params={"level": level, "limit": limit, "cursor": cursor})
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
    """Poll the run until it ends, with a progress bar (on stderr): researchers processed, records harvested."""
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
        first = "harvesting" if job["type"] == "feed" else "selecting researchers"
        task = progress.add_task(f"{job['type']} {job['job_id']}", total=None, detail=first)
        while job["state"] == "running":
            sleep(interval)
            job = api.call("GET", job_path(job["job_id"]))
            total, completed = progress_of(job)
            progress.update(task, total=total, completed=completed, detail=progress_text(job))
    return job


def follow_started_job(
    api: ApiClient, job: dict[str, Any], started: str, *, wait: bool, interval: float, output: str
) -> None:
    """Say a run started; with ``wait``, follow it to its end and exit 1 if it failed (jobs run, feeds run)."""
    if output == "table":
        click.echo(started)
    else:
        out.hint(started)
    if not wait:
        if output == "table":
            out.hint(f"Follow it: orcid-sync jobs show {job['job_id']}")
        else:
            print_job(job, output)
        return
    job = wait_for(api, job, interval=interval)
    print_job(job, output)
    if job["state"] != "succeeded":
        out.hint(f"Events: orcid-sync jobs events {job['job_id']}")
    if job["state"] == "failed":
        sys.exit(API_ERROR)


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
    follow_started_job(api, job, started, wait=wait, interval=interval, output=output)


@jobs.command("activate")
@click.argument("job_type", type=click.Choice(SCHEDULES))
@output_option()
@api_options
def activate(api: ApiClient, job_type: str, output: str) -> None:
    """Run the job on its schedule (enables its EventBridge rule; feed: harvests every enabled feed; remind:
    emails the invitation reminders that are due)."""
    schedule = api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": True})
    print_schedule(schedule, output, f"The {_scheduled(job_type)} job is active ({schedule['schedule']}, UTC).")
    warn_about_schedule(schedule)


@jobs.command("deactivate")
@click.argument("job_type", type=click.Choice(SCHEDULES))
@output_option()
@api_options
def deactivate(api: ApiClient, job_type: str, output: str) -> None:
    """Stop running the job on its schedule (runs on demand still work)."""
    schedule = api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": False})
    print_schedule(schedule, output, f"The {_scheduled(job_type)} job is inactive.")


def _scheduled(job_type: str) -> str:
    return {"feed": "scheduled feed harvest", "remind": "daily invitation reminder"}.get(job_type, f"daily {job_type}")


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
                    state_text(last["state"]) if last else "-",
                )
            )
        out.print_table("Daily jobs", columns, rows)
    for schedule in schedules:
        warn_about_schedule(schedule)

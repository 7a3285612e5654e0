"""``orcid-sync jobs …`` and ``orcid-sync report tokens``: job history, runs on demand, schedules, reports."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from orcid_sync_cli.api import ApiClient, ApiError, api_options

JOB_TYPES = ("push", "pull", "upload")
SCHEDULED = ("push", "pull")
STATES = ("running", "succeeded", "completed_with_errors", "failed")
_STATE_STYLE = {"running": "cyan", "succeeded": "green", "completed_with_errors": "yellow", "failed": "bold red"}

sleep: Callable[[float], None] = time.sleep
"""How ``--wait`` pauses between polls (tests replace it to drive the run forward)."""


def _console(*, stderr: bool = False) -> Console:
    # Built per command so that output goes to whatever stdout is at the time (CliRunner, a pipe).
    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _duration(job: dict[str, Any]) -> str:
    if not job.get("ended_at"):
        return "-"
    seconds = round(
        (datetime.fromisoformat(job["ended_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    )
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _state(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, 'white')}]{state.replace('_', ' ')}[/]"


def _progress_text(job: dict[str, Any]) -> str:
    counts = job["counts"]
    expected = job.get("expected")
    done = f"{counts['researchers_processed']}/{expected}" if expected is not None else "selecting researchers"
    return f"{done} (updated {counts['researchers_updated']}, failed {counts['researchers_failed']})"


@click.group("jobs")
def jobs() -> None:
    """Job history, events and reports; run push or pull now; activate the daily schedules."""


@jobs.command("list")
@click.option("--type", "job_type", type=click.Choice(JOB_TYPES), help="Only runs of this type.")
@click.option("--state", type=click.Choice(STATES), help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="Runs per page.")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@api_options
def list_(api: ApiClient, job_type: str | None, state: str | None, limit: int, cursor: str | None) -> None:
    """The most recent runs, newest first."""
    page = api.call("GET", "/jobs", params={"type": job_type, "state": state, "limit": limit, "cursor": cursor})
    table = Table(title="Job runs", title_justify="left")
    for column in ("Job", "Type", "Trigger", "Started", "Duration", "State", "Researchers", "Failed"):
        table.add_column(column, no_wrap=column in ("Job", "Started"))
    for job in page["items"]:
        counts = job["counts"]
        processed = f"{counts['researchers_processed']}/{job['expected'] if job['expected'] is not None else '?'}"
        dry = " (dry run)" if job["dry_run"] else ""
        table.add_row(
            job["job_id"],
            job["type"] + dry,
            job["trigger"],
            _when(job["started_at"]),
            _duration(job),
            _state(job["state"]),
            processed,
            str(counts["researchers_failed"]),
        )
    console = _console()
    console.print(table)
    if not page["items"]:
        console.print("No job runs yet.")
    if page.get("next_cursor"):
        console.print(f"More: orcid-sync jobs list --cursor {page['next_cursor']}")


def job_summary(job: dict[str, Any]) -> Table:
    """A run as a two-column table: what, when, how it went, the counts and where its CSV is."""
    table = Table(title=f"Job {job['job_id']}", title_justify="left", show_header=False)
    table.add_column("Field", style="bold")
    table.add_column("Value")
    table.add_row("Type", job["type"] + (" (dry run: nothing written to ORCID)" if job["dry_run"] else ""))
    table.add_row("State", _state(job["state"]))
    table.add_row("Trigger", f"{job['trigger']} by {job['started_by']}")
    table.add_row("Started", _when(job["started_at"]))
    table.add_row("Ended", _when(job.get("ended_at")))
    table.add_row("Duration", _duration(job))
    options = job.get("options") or {}
    if options.get("researcher_ids"):
        ids = options["researcher_ids"]
        table.add_row(
            "Researchers asked for", ", ".join(ids[:10]) + (f" … ({len(ids)} in all)" if len(ids) > 10 else "")
        )
    if options.get("resend_deleted"):
        table.add_row("Resend deleted", "yes: works deleted on ORCID are sent again")
    table.add_row("Expected researchers", "selecting…" if job.get("expected") is None else str(job["expected"]))
    for name, value in job["counts"].items():
        if value or name.startswith("researchers_"):
            table.add_row(name.replace("_", " ").capitalize(), str(value))
    if job["type"] == "pull":
        if job.get("csv_uri"):
            table.add_row("CSV", f"{job['csv_uri']} ({job.get('csv_rows') or 0} rows)")
        else:
            table.add_row("CSV", "written when the run finishes" if job["state"] == "running" else "none")
    report = job.get("report") or {}
    if report.get("error"):
        table.add_row("Error", f"[red]{report['error']}[/]")
    return table


@jobs.command("show")
@click.argument("job_id")
@api_options
def show(api: ApiClient, job_id: str) -> None:
    """One run: state, counts, duration and, for pull, where the CSV is."""
    job = api.call("GET", f"/jobs/{job_id}")
    console = _console()
    console.print(job_summary(job))
    console.print(f"Events: orcid-sync jobs events {job_id}  (--csv for all of them as CSV)")


@jobs.command("events")
@click.argument("job_id")
@click.option("--csv", "as_csv", is_flag=True, help="Every event as CSV on stdout.")
@click.option("--level", type=click.Choice(("error", "warning", "info")), help="Only events of this level.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Events per page.")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@api_options
def events(*, api: ApiClient, job_id: str, as_csv: bool, level: str | None, limit: int, cursor: str | None) -> None:
    """A run's events, errors first: what went wrong (or was noteworthy) and what was done about it."""
    if as_csv:
        response = api.request("GET", f"/jobs/{job_id}/events", params={"format": "csv", "level": level})
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.json() if response.content else None)
        click.echo(response.text, nl=False)
        return
    page = api.call("GET", f"/jobs/{job_id}/events", params={"level": level, "limit": limit, "cursor": cursor})
    table = Table(title=f"Events of {job_id}", title_justify="left")
    for column in ("Level", "Researcher", "Asset", "Action", "Message", "ORCID"):
        table.add_column(column)
    for event in page["items"]:
        orcid = ""
        if event.get("orcid_status") is not None:
            orcid = str(event["orcid_status"]) + (
                f"/{event['orcid_error_code']}" if event.get("orcid_error_code") else ""
            )
        style = {"error": "red", "warning": "yellow"}.get(event["level"], "white")
        table.add_row(
            f"[{style}]{event['level']}[/]",
            event.get("researcher_id") or "-",
            event.get("asset_id") or "-",
            event["action"],
            event["message"],
            orcid,
        )
    console = _console()
    console.print(table)
    if not page["items"]:
        console.print("No events.")
    if page.get("next_cursor"):
        console.print(f"More: orcid-sync jobs events {job_id} --cursor {page['next_cursor']}")


def _researcher_ids(values: Sequence[str], ids_file: IO[str] | None) -> list[str] | None:
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if ids_file is not None:
        ids += [line.strip() for line in ids_file if line.strip() and not line.startswith("#")]
    return list(dict.fromkeys(ids)) or None


def wait_for(api: ApiClient, job: dict[str, Any], *, interval: float) -> dict[str, Any]:
    """Poll the run until it ends, with a progress bar of researchers processed."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_console(stderr=True), transient=False) as progress:
        task = progress.add_task(f"{job['type']} {job['job_id']}", total=None, detail="selecting researchers")
        while job["state"] == "running":
            sleep(interval)
            job = api.call("GET", f"/jobs/{job['job_id']}")
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
) -> None:
    """Run a push or pull now (for everyone eligible, or --researchers)."""
    request: dict[str, Any] = {"type": job_type, "dry_run": dry_run}
    ids = _researcher_ids(researchers, researchers_file)
    if ids:
        request["researchers"] = ids
    if resend_deleted:
        if job_type != "push":
            raise click.UsageError("--resend-deleted only applies to push")
        request["resend_deleted"] = True
    job = api.call("POST", "/jobs", json_body=request)
    console = _console()
    console.print(f"Started {job_type} job {job['job_id']}" + (" (dry run)" if dry_run else ""))
    if not wait:
        console.print(f"Follow it: orcid-sync jobs show {job['job_id']}")
        return
    job = wait_for(api, job, interval=interval)
    console.print(job_summary(job))
    if job["state"] != "succeeded":
        console.print(f"Events: orcid-sync jobs events {job['job_id']}")
    if job["state"] == "failed":
        raise SystemExit(1)


def _warn(schedule: dict[str, Any]) -> None:
    if schedule.get("warning"):
        _console(stderr=True).print(f"[yellow]Warning:[/] {schedule['warning']}")


@jobs.command("activate")
@click.argument("job_type", type=click.Choice(SCHEDULED))
@api_options
def activate(api: ApiClient, job_type: str) -> None:
    """Run the job daily (enables its EventBridge schedule)."""
    schedule = api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": True})
    console = _console()
    console.print(f"The daily {job_type} job is active ({schedule['schedule']}, UTC).")
    _warn(schedule)


@jobs.command("deactivate")
@click.argument("job_type", type=click.Choice(SCHEDULED))
@api_options
def deactivate(api: ApiClient, job_type: str) -> None:
    """Stop running the job daily (runs on demand still work)."""
    api.call("PUT", f"/jobs/schedules/{job_type}", json_body={"enabled": False})
    _console().print(f"The daily {job_type} job is inactive.")


@jobs.command("status")
@api_options
def status(api: ApiClient) -> None:
    """The daily schedules: active or not, when they run, how the last run went."""
    schedules = api.call("GET", "/jobs/schedules")
    table = Table(title="Daily jobs", title_justify="left")
    for column in ("Job", "Active", "Schedule (UTC)", "Last run", "Started", "State"):
        table.add_column(column)
    for schedule in schedules:
        last = schedule.get("last_run")
        table.add_row(
            schedule["type"],
            "[green]yes[/]" if schedule["enabled"] else "no",
            schedule["schedule"],
            last["job_id"] if last else "-",
            _when(last["started_at"]) if last else "-",
            _state(last["state"]) if last else "-",
        )
    console = _console()
    console.print(table)
    for schedule in schedules:
        _warn(schedule)


@click.group("report")
def report() -> None:
    """Reports for administrators."""


@report.command("tokens")
@click.option("--csv", "as_csv", is_flag=True, help="One row per researcher as CSV on stdout.")
@api_options
def tokens(api: ApiClient, as_csv: bool) -> None:
    """Researchers whose ORCID tokens are revoked, lack a scope, or expire within 90 days (never the tokens)."""
    if as_csv:
        response = api.request("GET", "/reports/tokens", params={"format": "csv"})
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.json() if response.content else None)
        click.echo(response.text, nl=False)
        return
    body = api.call("GET", "/reports/tokens")
    table = Table(
        title=f"Tokens needing attention ({len(body['rows'])} of {body['researchers_checked']} researchers)",
        title_justify="left",
    )
    for column in ("Researcher", "Name", "ORCID iD", "Status", "Problems", "Expires"):
        table.add_column(column)
    for row in body["rows"]:
        problems = ", ".join(p.replace("_", " ") for p in row["problems"])
        if row["missing_scopes"]:
            problems += f" ({' '.join(row['missing_scopes'])})"
        table.add_row(
            row["researcher_id"],
            f"{row['family_name']}, {row['given_names']}",
            row.get("orcid") or "-",
            row["orcid_status"],
            problems,
            _when(row.get("expires_at")),
        )
    console = _console()
    console.print(table)
    if not body["rows"]:
        console.print("Every connected researcher's token is healthy.")

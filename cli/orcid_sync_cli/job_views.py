"""How the jobs commands show runs and schedules: durations, states, label/value fields, CSV rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from orcid_sync_cli import output as out

if TYPE_CHECKING:
    from rich.text import Text

JOB_TYPES = ("push", "pull", "upload", "feed", "remind")
SCHEDULED = ("push", "pull")
"""What ``jobs run`` starts (a feed's harvest is ``feeds run ID``: it names its feed)."""
SCHEDULES = ("push", "pull", "feed", "remind")
"""The EventBridge schedules ``jobs activate``/``deactivate`` flip (the feed rule harvests every enabled feed; the
remind rule emails the invitation reminders that are due)."""
PUSH_PULL_COUNTERS = ("researchers_", "works_", "rows_pulled", "orcid_requests")
"""Counters of push and pull; a harvest's own (records harvested, assets created, withdrawn, …) are the rest."""
STATES = ("running", "succeeded", "completed_with_errors", "failed")
_STATE_STYLE = {"running": "cyan", "succeeded": "green", "completed_with_errors": "yellow", "failed": "bold red"}


def job_path(job_id: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}"


def duration(job: dict[str, Any], *, compact: bool = False) -> str:
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


def state_text(state: str) -> Text:
    return out.styled(state.replace("_", " "), _STATE_STYLE.get(state))


def feed_counts(job: dict[str, Any]) -> dict[str, int]:
    """A harvest's own counters that moved, in the API's order (its researcher counters stay 0)."""
    return {
        name: int(value) for name, value in job["counts"].items() if value and not name.startswith(PUSH_PULL_COUNTERS)
    }


def progress_of(job: dict[str, Any]) -> tuple[int | None, int]:
    """(total, done) for a progress bar: researchers for push and pull; records for a harvest (total unknown
    until the endpoint says ``completeListSize``, which the run's ``expected`` then carries)."""
    if job["type"] == "feed":
        return job.get("expected"), int(job["counts"].get("records_harvested") or 0)
    return job.get("expected"), int(job["counts"]["researchers_processed"])


def progress_text(job: dict[str, Any]) -> str:
    if job["type"] == "feed":
        moved = feed_counts(job)
        return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in moved.items()) or "harvesting"
    counts = job["counts"]
    expected = job.get("expected")
    done = f"{counts['researchers_processed']}/{expected}" if expected is not None else "selecting researchers"
    return f"{done} (updated {counts['researchers_updated']}, failed {counts['researchers_failed']})"


def processed(job: dict[str, Any]) -> str:
    if job["type"] == "feed":
        return f"{job['counts'].get('records_harvested') or 0} records"
    return f"{job['counts']['researchers_processed']}/{job['expected'] if job.get('expected') is not None else '?'}"


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


def job_csv_row(job: dict[str, Any]) -> list[Any]:
    return [job["counts"].get(name) if name.startswith("researchers_") else job.get(name) for name in JOB_CSV_COLUMNS]


def job_fields(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """A run as label/value pairs: what, when, how it went, the counts and how to get its CSV."""
    fields: list[tuple[str, Any]] = [
        ("Type", job["type"] + (" (dry run: nothing written to ORCID)" if job["dry_run"] else "")),
        ("State", state_text(job["state"])),
        ("Trigger", f"{job['trigger']} by {job['started_by']}"),
        ("Started (UTC)", out.when(job["started_at"])),
        ("Ended (UTC)", out.when(job.get("ended_at"))),
        ("Duration", duration(job)),
    ]
    options = job.get("options") or {}
    if options.get("researcher_ids"):
        ids = options["researcher_ids"]
        fields.append(
            ("Researchers asked for", ", ".join(ids[:10]) + (f" … ({len(ids)} in all)" if len(ids) > 10 else ""))
        )
    if options.get("resend_deleted"):
        fields.append(("Resend deleted", "yes: works deleted on ORCID are sent again"))
    if job["type"] == "feed":
        fields += _harvest_fields(job)
    else:
        fields.append(("Expected researchers", "selecting…" if job.get("expected") is None else str(job["expected"])))
    for name, value in job["counts"].items():
        if value or (name.startswith("researchers_") and job["type"] != "feed"):
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


def _harvest_fields(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """A feed run: which feed, from when (its report says once the harvest has begun), in which format."""
    options = job.get("options") or {}
    report = job.get("report") or {}
    fields: list[tuple[str, Any]] = []
    if options.get("feed_id"):
        fields.append(("Feed", options["feed_id"]))
    if options.get("full"):
        harvest = "full: every record, from the beginning"
    elif "from" in report:
        harvest = f"incremental, from {report['from']}" if report["from"] else "everything (the feed's first harvest)"
    else:
        harvest = "incremental (what changed since the last successful harvest)"
    fields.append(("Harvest", harvest))
    if report.get("metadata_prefix"):
        in_set = f", set {report['set_spec']}" if report.get("set_spec") else ""
        fields.append(("Format", report["metadata_prefix"] + in_set))
    if report.get("pages"):
        fields.append(("Pages", str(report["pages"])))
    if job.get("expected") is not None:
        fields.append(("Records announced", str(job["expected"])))
    return fields


def print_job(job: dict[str, Any], output: str) -> None:
    if output == "json":
        out.emit_json(job)
    elif output == "csv":
        out.emit_fields_csv(job)
    else:
        out.print_fields(f"Job {job['job_id']}", job_fields(job))


def warn_about_schedule(schedule: dict[str, Any]) -> None:
    if schedule.get("warning"):
        out.console(stderr=True).print(out.styled("Warning: ", "yellow") + out.styled(schedule["warning"]))


def print_schedule(schedule: dict[str, Any], output: str, message: str) -> None:
    if output == "json":
        out.emit_json(schedule)
    elif output == "csv":
        out.emit_fields_csv(schedule)
    else:
        click.echo(message)

"""The email a finished job run sends through SNS: a subject SNS accepts, and a plain-text body."""

from __future__ import annotations

from collections.abc import Sequence

from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobType
from orcid_sync.domain.redaction import redact

SUBJECT_MAX = 99
"""SNS wants subjects "less than 100 characters long"."""

_STATE_WORDS = {
    JobState.RUNNING: "is running",
    JobState.SUCCEEDED: "succeeded",
    JobState.COMPLETED_WITH_ERRORS: "completed with errors",
    JobState.FAILED: "FAILED",
}


def notification_subject(job: Job) -> str:
    """E.g. ``orcid-sync push job 2026-11-21 succeeded: 120 researchers, 3 failed`` (< 100 characters)."""
    kind = f"{job.type.value} job" + (" (dry run)" if job.dry_run else "")
    if job.type is JobType.FEED:  # a harvest counts records, not researchers
        tally = f"{job.counts.records_harvested} records, {job.counts.records_refused} refused"
    else:
        tally = f"{job.counts.researchers_processed} researchers, {job.counts.researchers_failed} failed"
    subject = f"orcid-sync {kind} {job.started_at:%Y-%m-%d} {_STATE_WORDS[job.state]}: {tally}"
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "still running"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _event_line(event: JobEvent) -> str:
    where = " ".join(
        part
        for part in (
            f"researcher {event.researcher_id}" if event.researcher_id else "",
            f"asset {event.asset_id}" if event.asset_id else "",
        )
        if part
    )
    orcid = ""
    if event.orcid_status is not None:
        orcid = f" [ORCID {event.orcid_status}" + (
            f"/{event.orcid_error_code}]" if event.orcid_error_code is not None else "]"
        )
    return redact(f"- {where or 'job'}: {event.action}: {event.message}{orcid}")


def notification_body(job: Job, first_errors: Sequence[JobEvent]) -> str:
    """Plain text for an email: the outcome, the counts, the first errors and where to read the rest."""
    lines = [
        f"The orcid-sync {job.type.value} job {job.job_id} {_STATE_WORDS[job.state]}.",
        "",
        f"Started:  {job.started_at:%Y-%m-%d %H:%M:%S} UTC by {job.started_by} ({job.trigger.value})",
    ]
    if job.ended_at is not None:
        lines.append(f"Ended:    {job.ended_at:%Y-%m-%d %H:%M:%S} UTC")
    lines.append(f"Duration: {_duration(job.duration_seconds)}")
    if job.dry_run:
        lines.append("Dry run:  nothing was written to ORCID")
    if job.type is JobType.FEED and job.report and job.report.get("feed_id"):
        since = job.report.get("from") or "the beginning (a full harvest)"
        lines.append(f"Feed:     {job.report['feed_id']}, records changed since {since}")
    lines += ["", "Counts:"]
    counts = job.counts.model_dump()
    shown = {"researchers_eligible", "researchers_processed", "researchers_updated", "researchers_failed"}
    if job.type is JobType.FEED:
        shown = {"records_harvested", "assets_created", "assets_updated", "assets_withdrawn", "records_refused"}
    for name, value in counts.items():
        if name in shown or value:
            lines.append(f"  {name.replace('_', ' '):<24}{value}")
    if job.csv_uri:
        lines += ["", f"CSV ({job.csv_rows or 0} rows): {job.csv_uri}"]
    if job.report and job.report.get("error"):
        failed = "The harvest failed" if job.type is JobType.FEED else "The job failed while finishing"
        lines += ["", f"{failed}: {redact(str(job.report['error']))}"]
    if first_errors:
        lines += ["", f"First {len(first_errors)} errors:"]
        lines += [_event_line(event) for event in first_errors]
    lines += [
        "",
        "All events (errors, warnings and what was done about them):",
        f"  orcid-sync jobs events {job.job_id}",
        f"  orcid-sync jobs events {job.job_id} --csv > events.csv",
    ]
    return "\n".join(lines) + "\n"

"""The daily pull, one researcher at a time (the pull worker's use case): their new works on ORCID into a CSV part.

One researcher costs one ORCID request (``GET /works``): the summary carries every column of the
CSV. Full works (``GET /works/{put-codes}``, 100 at a time) are read only for kept summaries that
lack a title or a type.

Crash safety, in the order a worker writes: (1) the researcher's CSV part, whose key is fixed per
job and researcher, so a redelivery overwrites it; (2) the pull ledger, each entry naming its job;
(3) the job's outcome, exactly once. A crash after (1) or (2) is redelivered and redoes both with
the same rows, because ledger entries of the *current* job do not count as "pulled before". Entries
of a job that ended without a CSV (its assembly failed) do not count either: those works are
pulled again by the next run instead of being lost.

The rules that pick the rows are in ``pull_selection``; the run's CSV is assembled by ``pull_finish``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import batched
from typing import Literal, Protocol

from pydantic import SecretStr

from orcid_sync.domain.jobs.models import JobCounts, JobEvent, JobState, JobType, ResearcherOutcome, ResearcherTask
from orcid_sync.domain.jobs.ports import JobFinisher, Notifier
from orcid_sync.domain.jobs.runs import complete_researcher
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Researcher, SealedSecret, StoredToken, TokenInvalidReason
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import BULK_MAX_WORKS, OrcidError, Work, Works
from orcid_sync.domain.ports import AssetStore, ResearcherStore, TokenStore
from orcid_sync.domain.pull.csv_file import write_part
from orcid_sync.domain.pull.files import PullFiles
from orcid_sync.domain.pull.ledger import PulledEntry, PullLedgerStore
from orcid_sync.domain.pull.selection import SkipReason, asset_keys, build_row, needs_full_work, select_works
from orcid_sync.domain.tokens.importing import confirm_orcid, invalidate_token

Level = Literal["error", "warning", "info"]


class PullWorksApi(Protocol):
    """The ORCID Member API reads the pull makes (``orcid_sync.adapters.orcid_api.client.OrcidClient``)."""

    def read_works(self, orcid: str, token: SecretStr) -> Works:
        """``GET /works``: every work summary, grouped."""
        ...

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """``GET /works/{pc,…}`` (≤100): the full work, or ORCID's error, for each put-code in order."""
        ...


class TokenOpener(Protocol):
    def open(self, researcher_id: str, sealed: SealedSecret) -> str: ...


class JobDeliveries:
    """Whether a run's ledger entries mean "in a CSV": its file exists, or it may still write it.

    Answers that cannot change (a file was written; the run ended without one; the run expired
    from history) are remembered for the container's life: a run costs one read per container.
    """

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        self._settled: dict[str, bool] = {}

    def delivered(self, job_id: str) -> bool:
        if job_id in self._settled:
            return self._settled[job_id]
        job = self._jobs.get(job_id)
        if job is not None and job.state is JobState.RUNNING:
            return True  # it may still write its file; should it fail, a later run pulls these works again
        # Gone from history (runs expire after 400 days): delivered long ago. Ended: only if it wrote its file.
        answer = job is None or job.csv_uri is not None
        self._settled[job_id] = answer
        return answer


@dataclass
class PullPorts:
    """What a pull worker needs, built once per container by the handler."""

    researchers: ResearcherStore
    tokens: TokenStore
    assets: AssetStore
    ledger: PullLedgerStore
    files: PullFiles
    jobs: JobStore
    cipher: TokenOpener
    api: PullWorksApi
    finishers: Mapping[JobType, JobFinisher]
    notifier: Notifier
    client_id: str
    deliveries: JobDeliveries
    request_count: Callable[[], int]
    """ORCID requests sent so far by ``api`` (its retries included); the difference is one researcher's cost."""


class RetryLaterError(Exception):
    """ORCID failed in a way a later delivery may not (5xx after the client's retries, throttling, network)."""


@dataclass
class PullReport:
    """What pulling one researcher did."""

    rows: int = 0
    kept: int = 0
    requests: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    events: list[JobEvent] = field(default_factory=list)
    failed: bool = False


def researcher_outcome(researcher_id: str, report: PullReport) -> ResearcherOutcome:
    """What the run counts for this researcher; the skips per reason go in ``detail``."""
    return ResearcherOutcome(
        researcher_id=researcher_id,
        counts=JobCounts(rows_pulled=report.rows, works_skipped=report.skipped.total(), orcid_requests=report.requests),
        updated=report.rows > 0,
        failed=report.failed,
        events=report.events,
        detail={"kept": report.kept, "skipped": {reason.value: n for reason, n in sorted(report.skipped.items())}},
    )


def _orcid_message(error: orcid_errors.OrcidApiError) -> str:
    # The client redacts tokens from every message it builds (ORCID's 401 body echoes the token).
    return str(error) or type(error).__name__


class _Run:
    """One researcher's pull as it happens: its report and events."""

    def __init__(self, task: ResearcherTask, ports: PullPorts, now: datetime, *, last_attempt: bool) -> None:
        self.task = task
        self.ports = ports
        self.now = now
        self.last_attempt = last_attempt
        self.report = PullReport()
        self.token: StoredToken | None = None
        """The stored token being used, once opened."""

    def event(self, level: Level, action: str, message: str, error: orcid_errors.OrcidApiError | None = None) -> None:
        self.report.events.append(
            JobEvent(
                researcher_id=self.task.researcher_id,
                level=level,
                action=action,
                message=message,
                orcid_status=error.status if error is not None else None,
                orcid_error_code=error.error_code if error is not None else None,
                at=self.now,
            )
        )

    def fail(self, action: str, message: str, error: orcid_errors.OrcidApiError | None = None) -> None:
        self.event("error", action, message, error)
        self.report.failed = True

    def refused(self, error: orcid_errors.OrcidApiError) -> None:
        """Record why ORCID refused a read; RetryLaterError when a later delivery may succeed."""
        if isinstance(error, orcid_errors.InvalidTokenError) and self.token is not None:
            # Dead, or not this record's: stop using it until the researcher connects again.
            reason = TokenInvalidReason.WRONG_RECORD if error.wrong_record else TokenInvalidReason.INVALID_TOKEN
            invalidate_token(self.ports.researchers, self.ports.tokens, self.token, reason, at=self.now)
        if isinstance(error, orcid_errors.InvalidTokenError) and error.wrong_record:
            self.fail(
                "marked token invalid",
                "ORCID says the stored token belongs to another ORCID record (9017); the researcher is skipped until "
                "they connect again (send them a connect link)",
                error,
            )
        elif isinstance(error, orcid_errors.InvalidTokenError):
            self.fail(
                "marked token revoked",
                "ORCID says the access token is revoked or expired; the researcher must connect again "
                "before their works can be pulled",
                error,
            )
        elif isinstance(error, orcid_errors.DeprecatedRecordError):
            where = f" into {error.primary_location}" if error.primary_location else ""
            self.fail("skipped researcher", f"the ORCID record was merged{where}; update the researcher's iD", error)
        elif isinstance(error, orcid_errors.InsufficientScopeError):
            self.fail(
                "skipped researcher", f"the token lacks /read-limited (ORCID 9038): {_orcid_message(error)}", error
            )
        elif isinstance(error, orcid_errors.RetryableOrcidError):
            if not self.last_attempt:
                raise RetryLaterError(_orcid_message(error)) from error
            self.fail("gave up on researcher", f"ORCID failed on every delivery: {_orcid_message(error)}", error)
        else:
            self.fail("skipped researcher", f"ORCID refused to read the works: {_orcid_message(error)}", error)


def _open_token(run: _Run, researcher: Researcher) -> SecretStr | None:
    """The researcher's decrypted token, or None (with a warning) when there is none to use any more."""
    rid = researcher.id
    stored = run.ports.tokens.get(rid)
    if stored is None or not stored.can_pull or stored.orcid != researcher.orcid:
        # Revoked, deleted or replaced since the run selected them: nothing to pull, nothing to retry.
        run.event(
            "warning", "skipped researcher", "the researcher no longer has a live /read-limited token for their iD"
        )
        return None
    run.token = stored
    try:
        return SecretStr(run.ports.cipher.open(rid, stored.access_token))
    except Exception as exc:  # TokenDecryptionError or a KMS refusal: name it, never the token
        run.fail("skipped researcher", f"the stored token cannot be decrypted ({type(exc).__name__})")
        return None


def _full_works(run: _Run, orcid: str, token: SecretStr, put_codes: Sequence[int]) -> dict[int, Work] | None:
    """Full works for summaries that lack a column; None if ORCID refused the researcher meanwhile."""
    found: dict[int, Work] = {}
    for chunk in batched(put_codes, BULK_MAX_WORKS, strict=False):
        try:
            items = run.ports.api.read_works_by_put_codes(orcid, token, chunk)
        except orcid_errors.OrcidApiError as exc:
            run.refused(exc)
            return None
        # A put-code ORCID answers with an error (deleted meanwhile) keeps the summary's columns.
        found |= {pc: item for pc, item in zip(chunk, items, strict=False) if isinstance(item, Work)}
    return found


def pull_researcher_works(
    task: ResearcherTask, ports: PullPorts, *, now: datetime, last_attempt: bool = False
) -> PullReport:
    """Read one researcher's works, keep the new ones, write their CSV part, then mark them pulled.

    Raises RetryLaterError for a transient ORCID failure (unless ``last_attempt``); nothing has been
    written then, and the message is delivered again.
    """
    run = _Run(task, ports, now, last_attempt=last_attempt)
    requests_before = ports.request_count()
    try:
        _pull(run)
    finally:
        run.report.requests = ports.request_count() - requests_before
    return run.report


def _pull(run: _Run) -> None:
    task, ports, rid = run.task, run.ports, run.task.researcher_id
    researcher = ports.researchers.get(rid)
    if researcher is None or not researcher.orcid:
        run.event(
            "warning", "skipped researcher", "the researcher was deleted, or lost their ORCID iD, since the run began"
        )
        return
    orcid = researcher.orcid
    token = _open_token(run, researcher)
    if token is None:
        return
    try:
        works = ports.api.read_works(orcid, token)
    except orcid_errors.OrcidApiError as exc:
        run.refused(exc)
        return
    confirm_orcid(ports.researchers, researcher, orcid=orcid)  # ORCID accepted the token for this iD

    ledger = ports.ledger.load(rid)
    pulled = frozenset(
        key for key, entry in ledger.items() if entry.job_id != task.job_id and ports.deliveries.delivered(entry.job_id)
    )
    selection = select_works(
        works,
        orcid=orcid,
        client_id=ports.client_id,
        repository_keys=asset_keys(ports.assets.list_for_researcher(rid)),
        pulled_keys=pulled,
    )
    short = [w.chosen.put_code for w in selection.kept if needs_full_work(w.chosen) and w.chosen.put_code is not None]
    full = _full_works(run, orcid, token, short) if short else {}
    if full is None:
        return
    rows = [build_row(rid, orcid, work, full.get(work.chosen.put_code or 0)) for work in selection.kept]

    # The part first, the ledger second: a crash in between is redelivered and writes both again.
    write_part(ports.files, task.job_id, rid, rows)
    if not task.dry_run:  # a dry run shows what would be pulled and leaves it for the next real run
        ports.ledger.mark_pulled(
            rid,
            [
                PulledEntry(key=key, job_id=task.job_id, put_code=work.chosen.put_code, pulled_at=run.now)
                for work in selection.kept
                for key in sorted(work.keys)
            ],
        )
    run.report.rows = len(rows)
    run.report.kept = len(selection.kept)
    run.report.skipped = selection.skipped


def pull_researcher(
    task: ResearcherTask, ports: PullPorts, *, now: datetime, last_attempt: bool = False
) -> ResearcherOutcome | None:
    """The worker's use case: pull one researcher of a run and count them (the last one finishes the run).

    Returns the outcome, or None when the run is gone or over (a late part would never be assembled).
    """
    if task.job_type is not JobType.PULL:
        raise ValueError(f"the pull worker got a {task.job_type.value} task for job {task.job_id}")
    job = ports.jobs.get(task.job_id)
    if job is None or job.state is not JobState.RUNNING:
        logger.warning("pull task for a run that is not running", job_id=task.job_id, researcher_id=task.researcher_id)
        return None
    try:
        report = pull_researcher_works(task, ports, now=now, last_attempt=last_attempt)
    except Exception as exc:
        if not last_attempt:
            raise
        # SQS will not deliver it again: count the researcher as failed, so the run still finishes.
        logger.exception("pull failed on the last delivery", job_id=task.job_id, researcher_id=task.researcher_id)
        report = PullReport(failed=True)
        report.events.append(
            JobEvent(
                researcher_id=task.researcher_id,
                level="error",
                action="gave up on researcher",
                message=f"the pull failed on every delivery ({type(exc).__name__}); the next run tries again",
                at=now,
            )
        )
    outcome = researcher_outcome(task.researcher_id, report)
    logger.info(
        "researcher pulled",
        job_id=task.job_id,
        researcher_id=task.researcher_id,
        rows=report.rows,
        skipped=outcome.detail["skipped"] if outcome.detail else {},
        orcid_requests=report.requests,
        failed=report.failed,
    )
    complete_researcher(ports.jobs, task.job_id, outcome, finishers=ports.finishers, notifier=ports.notifier, now=now)
    return outcome

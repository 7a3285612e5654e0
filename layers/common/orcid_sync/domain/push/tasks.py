"""A push task from the queue: the researcher's lease, the push, and counting the researcher in its job once."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from orcid_sync.domain.jobs.models import JobEvent, JobType, ResearcherTask
from orcid_sync.domain.jobs.ports import JobFinisher, Notifier
from orcid_sync.domain.jobs.runs import complete_researcher
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.push import researcher_push
from orcid_sync.domain.push.leases import Lease, LeaseHeldError, LeaseStore
from orcid_sync.domain.push.researcher_push import PushOutcome, PushPorts
from orcid_sync.domain.push.run import OutOfTimeError

LEASE_DURATION = timedelta(seconds=360)
"""A researcher's lease: longer than the push worker's 300 s timeout (``template.yaml``), so no invocation
outlives the lease it holds; a crashed holder's lease lapses at most six minutes later."""
HANDBACK_FIRST_DELAY_SECONDS = 2
HANDBACK_MAX_DELAY_SECONDS = 60


_COMPLETIONS = threading.Lock()
"""A worker pushes the researchers of its batch at once, but counts them in their job one at a time: the job's
counts are one item, and DynamoDB cancels a transaction on it that meets another (TransactionConflict)."""


class ResearcherBusyError(Exception):
    """Another worker holds the researcher's lease: hand the task back, to come again after a delay."""

    def __init__(self, held: Lease) -> None:
        super().__init__(f"researcher {held.researcher_id} is being pushed by job {held.job_id}")
        self.held = held

    def retry_after(self, handbacks: int, now: datetime) -> int:
        """Seconds until the task should come back: doubling from 2 s per hand-back, at most 60 s and never
        (much) past the holder's lease, which lapses by itself if the holder died."""
        backoff: int = min(HANDBACK_MAX_DELAY_SECONDS, HANDBACK_FIRST_DELAY_SECONDS * 2 ** min(handbacks, 10))
        return max(1, min(backoff, math.ceil(self.held.seconds_left(now)) + 1))


def process_push_task(
    task: ResearcherTask,
    ports: PushPorts,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: Callable[[], datetime],
    last_attempt: bool = False,
    leases: LeaseStore | None = None,
) -> PushOutcome:
    """Push one researcher and count them in the job exactly once.

    A transient failure is re-raised so that SQS redelivers the message, except on its last
    attempt: then the researcher is recorded as failed, so the job still finishes.

    **One worker per researcher.** Two workers can reach the same researcher at once: an
    administrator's ``jobs run push`` during the nightly push, a redelivered or duplicated SQS message
    while the first delivery still runs. Both would plan from the same ledger and write the same works.
    So a push first takes the researcher's lease (a conditional write in DynamoDB, see
    ``orcid_sync.adapters.dynamodb.leases``) for :data:`LEASE_DURATION`, longer than the worker's timeout, and
    releases it when done, failed or not. A worker that cannot take it does nothing and raises
    :class:`ResearcherBusyError`; the push worker then hands the task back to the queue with a delay
    (a copy sent with ``DelaySeconds``, doubling from 2 s up to 60 s), so the same task runs again
    once the holder is done — for another job this means the administrator's run really pushes the
    researcher, after the nightly one, with its own options. The copy is a new message, so waiting
    for a busy researcher never uses up the message's receives on the way to the dead-letter queue.
    Should a task still find the researcher busy on its last SQS attempt, it does not wait any more:
    a task of another job is recorded "already in progress" (counted, not failed, naming the job
    that held the researcher); a duplicate of the holder's own task records nothing, since the
    holder counts the researcher. A dry run writes nothing and takes no lease.
    """
    started = now()
    lease: Lease | None = None
    if leases is not None and not task.dry_run:
        try:
            lease = leases.acquire(task.researcher_id, job_id=task.job_id, now=started, duration=LEASE_DURATION)
        except LeaseHeldError as held:
            if not last_attempt:
                raise ResearcherBusyError(held.held) from None
            return _already_in_progress(task, held.held, jobs, finishers=finishers, notifier=notifier, now=started)
    ended = _Ended()
    try:
        return _process(
            task,
            ports,
            jobs,
            finishers=finishers,
            notifier=notifier,
            now=now,
            last_attempt=last_attempt,
            lease=lease,
            ended=ended,
        )
    finally:
        if leases is not None and lease is not None and not ended.released:
            leases.release(lease)


def _already_in_progress(
    task: ResearcherTask,
    held: Lease,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> PushOutcome:
    if held.job_id == task.job_id:
        # A duplicate of the task the holder is running: the holder counts the researcher.
        logger.info(
            "duplicate task while its researcher is pushed", job_id=task.job_id, researcher_id=task.researcher_id
        )
        return PushOutcome(researcher_id=task.researcher_id)
    outcome = PushOutcome(
        researcher_id=task.researcher_id,
        events=[
            JobEvent(
                researcher_id=task.researcher_id,
                level="warning",
                action="already in progress",
                message=f"job {held.job_id} was pushing this researcher the whole time this run waited; this run "
                "left them to it",
                at=now,
            )
        ],
    )
    with _COMPLETIONS:
        complete_researcher(jobs, task.job_id, outcome, finishers=finishers, notifier=notifier, now=now)
    return outcome


class _Ended:
    """Whether the write that counted the researcher also gave their lease up."""

    released = False


def _process(
    task: ResearcherTask,
    ports: PushPorts,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: Callable[[], datetime],
    last_attempt: bool,
    lease: Lease | None,
    ended: _Ended,
) -> PushOutcome:
    started = now()
    try:
        # Looked up in its module on every call: the chaos bench wraps it there to count deliveries.
        outcome = researcher_push.push_researcher(task, ports, now=started)
    except OutOfTimeError:
        raise  # not a failure: the worker hands the task back to go on in another invocation
    except Exception as exc:
        if not last_attempt:
            raise
        logger.exception("push failed on the last attempt", researcher_id=task.researcher_id)
        outcome = PushOutcome(
            researcher_id=task.researcher_id,
            failed=True,
            events=[
                JobEvent(
                    researcher_id=task.researcher_id,
                    level="error",
                    action="gave up",
                    message=f"the push kept failing ({type(exc).__name__}); the next run tries again",
                    at=started,
                )
            ],
        )
    with _COMPLETIONS:
        if ports.completion is not None:
            # Events first, as complete_researcher writes them: by the time the run can finish, they are stored.
            jobs.add_events(task.job_id, outcome.events)
            if ports.completion.record_unless_last(task.job_id, outcome, lease=lease, sync=outcome.sync):
                # Counted, synced and released in one write, and the run is not complete: nothing to read back.
                ended.released = lease is not None
                if outcome.sync is not None and outcome.sync.confirm_orcid is not None:
                    logger.info("ORCID accepted the token: iD authenticated", researcher_id=task.researcher_id)
                return outcome
            # Possibly the run's last researcher, or a redelivery already counted: the usual way, a write at a time.
            _note_sync(ports, outcome, last_attempt=last_attempt)
        complete_researcher(jobs, task.job_id, outcome, finishers=finishers, notifier=notifier, now=now())
    return outcome


def _note_sync(ports: PushPorts, outcome: PushOutcome, *, last_attempt: bool) -> None:
    """Write the researcher's sync date (and iD confirmation) the push left for the outcome's write."""
    sync = outcome.sync
    if sync is None:
        return
    try:
        if sync.confirm_orcid is not None and ports.researchers.mark_authenticated(
            sync.researcher_id, orcid=sync.confirm_orcid
        ):
            logger.info("ORCID accepted the token: iD authenticated", researcher_id=sync.researcher_id)
        ports.researchers.mark_synced(sync.researcher_id, sync.at)
    except Exception:
        if not last_attempt:
            raise  # as when the push itself failed: SQS redelivers the message
        # The researcher is still counted, so the run finishes; only their sync date is missing (gone, most likely).
        logger.exception("researcher's sync date not written on the last attempt", researcher_id=sync.researcher_id)

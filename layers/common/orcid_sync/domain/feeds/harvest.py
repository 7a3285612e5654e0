"""Running a feed harvest: page through ``ListRecords``, map each record, upsert or withdraw its asset.

One job run of type ``feed`` per harvest of one feed. The feed harvester's queue carries "start or continue job
J"; each invocation takes pages while it has time, checkpointing after every page (the resumption token, the
counts) in the feed's item, and hands the rest to a new message before the Lambda's deadline. A crash or a
timeout brings the message back and the harvest resumes at the last checkpoint: the page in flight is read again,
and as an asset upsert is idempotent (the same content writes nothing) nothing is stored twice. Each checkpoint
is conditional on the previous one, so two invocations of the same harvest cannot both count a page.

Each page's assets go through ``load_assets``, the validation and store path of ``POST /assets``; a record with
``status="deleted"`` withdraws its asset (``delete_asset``), so the next push deletes the work from ORCID. A record
we cannot use is a job event naming its OAI identifier and the field, never a failed harvest; an endpoint that
cannot be harvested (after the adapter's retries) fails the run, and the next harvest starts from the same ``from``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orcid_sync.domain.feeds.config import choose_prefix, prefix_problem
from orcid_sync.domain.feeds.harvest_page import ResearcherMatcher, apply_records, job_counts
from orcid_sync.domain.feeds.mapping import load_profile
from orcid_sync.domain.feeds.models import FeedState, FeedStore, HarvestCheckpoint, StoredFeed
from orcid_sync.domain.feeds.ports import BadResumptionTokenError, OaiEndpointError, OaiHarvester
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState
from orcid_sync.domain.jobs.ports import ControlQueue, Notifier
from orcid_sync.domain.jobs.runs import close_run
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.ports import AssetStore, ResearcherStore

MIN_SECONDS_FOR_A_PAGE = 60.0
"""Hand the harvest to a new invocation when less than this is left: a page (its request and up to a few hundred
asset reads and writes) fits in it with room to spare."""


class HarvestStep(StrEnum):
    """What one invocation did with a harvest."""

    FINISHED = "finished"
    """The last page is done and the run closed (succeeded, completed with errors, or failed)."""
    CONTINUED = "continued"
    """Out of time: a message on the harvester's queue continues it from the checkpoint."""
    NOTHING_TO_DO = "nothing_to_do"
    """The run is over already, or another invocation recorded this page first (it goes on with the harvest)."""


@dataclass(frozen=True)
class HarvestPorts:
    feeds: FeedStore
    jobs: JobStore
    assets: AssetStore
    researchers: ResearcherStore
    harvester: OaiHarvester
    queue: ControlQueue
    """The harvester's own queue: ``request_start(job_id)`` starts or continues a harvest."""
    notifier: Notifier
    now: Callable[[], datetime]
    time_left: Callable[[], float] = field(default=lambda: math.inf)
    """Seconds this invocation has left (the Lambda context's; unbounded in tests)."""


def _from_at_granularity(value: str | None, granularity: str) -> str | None:
    """``from`` as the endpoint accepts it: a day-granularity endpoint refuses a time (``badArgument``)."""
    if value is None:
        return None
    return value[:10] if granularity == "YYYY-MM-DD" else value


# --- one invocation ---------------------------------------------------------------------------


def run_feed_job(ports: HarvestPorts, job_id: str, *, last_attempt: bool = False) -> HarvestStep:
    """Start or continue job ``job_id``'s harvest, for as many pages as this invocation has time for.

    Raises on an unexpected failure (DynamoDB, a bug) so that the message comes back and resumes at the
    checkpoint; on the ``last_attempt`` the run fails instead (with the reason) and the feed is freed.
    """
    job = ports.jobs.get(job_id)
    if job is None:
        logger.error("feed job does not exist", job_id=job_id)
        return HarvestStep.NOTHING_TO_DO
    if job.state is not JobState.RUNNING:
        return HarvestStep.NOTHING_TO_DO
    feed_id = str(job.options.get("feed_id", ""))
    try:
        return _run(ports, job, feed_id)
    except Exception as exc:
        if not last_attempt:
            raise
        logger.exception("feed harvest failed on its last attempt", job_id=job_id, feed_id=feed_id)
        _fail(ports, job, feed_id, f"the harvest kept failing: {type(exc).__name__}: {exc}", release=True)
        return HarvestStep.FINISHED


def _run(ports: HarvestPorts, job: Job, feed_id: str) -> HarvestStep:
    feed = ports.feeds.get(feed_id)
    if feed is None:
        _fail(ports, job, feed_id, f"feed {feed_id} no longer exists (it was removed)")
        return HarvestStep.FINISHED
    checkpoint = feed.state.checkpoint
    if checkpoint is None or checkpoint.job_id != job.job_id:
        begun = _begin(ports, job, feed)
        if begun is None:
            return HarvestStep.FINISHED
        checkpoint = begun
    return _pages(ports, job, feed, checkpoint)


def _begin(ports: HarvestPorts, job: Job, feed: StoredFeed) -> HarvestCheckpoint | None:
    """Describe the endpoint, choose the format and the ``from``, and claim the feed for this run."""
    config, state = feed.config, feed.state
    if state.checkpoint is not None:
        other = ports.jobs.get(state.checkpoint.job_id)
        if other is not None and other.state is JobState.RUNNING:
            _fail(ports, job, config.feed_id, f"feed {config.feed_id} is being harvested by job {other.job_id}")
            return None
        # A run that ended without freeing the feed (its end was interrupted): free it.
        ports.feeds.end_harvest(config.feed_id, state.checkpoint.job_id, succeeded_from=None, at=ports.now())
    try:
        description = ports.harvester.describe(config.base_url)
    except OaiEndpointError as exc:
        _fail(ports, job, config.feed_id, f"the endpoint cannot be harvested: {exc}")
        return None
    prefix = choose_prefix(config.metadata_prefix, description.metadata_prefixes)
    if prefix is None:
        _fail(ports, job, config.feed_id, prefix_problem(config.metadata_prefix, description))
        return None
    full = bool(job.options.get("full"))
    checkpoint = HarvestCheckpoint(
        job_id=job.job_id,
        metadata_prefix=prefix,
        set_spec=config.set_spec,
        from_=None if full else _from_at_granularity(state.last_harvest_from, description.granularity),
        started_at=ports.now(),
    )
    if not ports.feeds.begin_harvest(
        config.feed_id, checkpoint, chosen_prefix=prefix, granularity=description.granularity
    ):
        # Another run claimed the feed between our read and our write (or the feed was removed).
        _fail(ports, job, config.feed_id, f"feed {config.feed_id} is being harvested by another job")
        return None
    logger.info(
        "feed harvest begun",
        job_id=job.job_id,
        feed_id=config.feed_id,
        metadata_prefix=prefix,
        from_=checkpoint.from_,
        full=full,
    )
    return checkpoint


def _pages(ports: HarvestPorts, job: Job, feed: StoredFeed, checkpoint: HarvestCheckpoint) -> HarvestStep:
    """Page on from the checkpoint until the last page, the deadline, or a failure."""
    config = feed.config
    profile = load_profile(config.profile, config.type_overrides or None, local_id_field=config.local_id_field)
    matcher = ResearcherMatcher(ports.researchers)
    first = True
    while True:
        if not first and ports.time_left() < MIN_SECONDS_FOR_A_PAGE:
            ports.queue.request_start(job.job_id)
            logger.info("feed harvest continues in a new invocation", job_id=job.job_id, pages=checkpoint.pages)
            return HarvestStep.CONTINUED
        first = False
        try:
            page = ports.harvester.list_records(
                config.base_url,
                metadata_prefix=checkpoint.metadata_prefix,
                set_spec=checkpoint.set_spec if checkpoint.resumption_token is None else None,
                from_=checkpoint.from_ if checkpoint.resumption_token is None else None,
                resumption_token=checkpoint.resumption_token,
            )
        except BadResumptionTokenError as exc:
            restarted = _restart(ports, job, config.feed_id, checkpoint, exc)
            if restarted is None:
                return HarvestStep.FINISHED
            checkpoint = restarted
            continue
        except OaiEndpointError as exc:
            _fail(ports, job, config.feed_id, f"the endpoint cannot be harvested: {exc}", release=True)
            return HarvestStep.FINISHED
        if page.resumption_token is not None and page.resumption_token == checkpoint.resumption_token:
            reason = f"the endpoint answered with the same resumption token again ({page.resumption_token})"
            _fail(ports, job, config.feed_id, reason, release=True)
            return HarvestStep.FINISHED

        result = apply_records(
            page.records,
            metadata_prefix=checkpoint.metadata_prefix,
            profile=profile,
            matcher=matcher,
            assets=ports.assets,
            now=ports.now(),
        )
        # Events first: a crash before the checkpoint reads the page again and writes the same event items.
        ports.jobs.add_events(job.job_id, result.events)
        done = checkpoint.model_copy(
            update={
                "resumption_token": page.resumption_token,
                "pages": checkpoint.pages + 1,
                "counts": checkpoint.counts + result.counts,
                "first_response_date": checkpoint.first_response_date or page.response_date,
            }
        )
        if not ports.feeds.save_checkpoint(config.feed_id, done, previous_pages=checkpoint.pages):
            logger.warning("another invocation recorded this page first", job_id=job.job_id, pages=done.pages)
            return HarvestStep.NOTHING_TO_DO
        checkpoint = done
        ports.jobs.set_counts(job.job_id, job_counts(checkpoint.counts))
        logger.info(
            "feed page harvested",
            job_id=job.job_id,
            page=checkpoint.pages,
            records=len(page.records),
            complete_list_size=page.complete_list_size,
        )
        if checkpoint.resumption_token is None:
            _succeed(ports, job, config.feed_id, checkpoint)
            return HarvestStep.FINISHED


def _restart(
    ports: HarvestPorts, job: Job, feed_id: str, checkpoint: HarvestCheckpoint, exc: BadResumptionTokenError
) -> HarvestCheckpoint | None:
    """``badResumptionToken``: start the pages again from the harvest's ``from``, once; the second time fail.

    Records read before are read again; their assets are unchanged and write nothing.
    """
    if checkpoint.restarts >= 1:
        _fail(ports, job, feed_id, f"the endpoint refused its resumption token again: {exc}", release=True)
        return None
    restarted = checkpoint.model_copy(
        update={"resumption_token": None, "restarts": checkpoint.restarts + 1, "pages": checkpoint.pages + 1}
    )
    if not ports.feeds.save_checkpoint(feed_id, restarted, previous_pages=checkpoint.pages):
        return None  # another invocation has the harvest
    message = (
        f"feed {feed_id}: the endpoint no longer knew the resumption token ({exc}); the pages start again "
        f"from {checkpoint.from_ or 'the beginning'} (records read before are unchanged and write nothing)"
    )
    event = JobEvent(level="warning", action="restarted the harvest", message=message, at=ports.now())
    ports.jobs.add_events(job.job_id, [event])
    return restarted


def _succeed(ports: HarvestPorts, job: Job, feed_id: str, checkpoint: HarvestCheckpoint) -> None:
    now = ports.now()
    # The feed first: once it records the new ``from``, a redelivery of this message finds the run over.
    ports.feeds.end_harvest(feed_id, job.job_id, succeeded_from=checkpoint.first_response_date, at=now)
    finished = close_run(
        ports.jobs,
        job.job_id,
        counts=job_counts(checkpoint.counts),
        events=[],
        notifier=ports.notifier,
        now=now,
        report=_report(feed_id, checkpoint),
    )
    logger.info("feed harvested", job_id=job.job_id, feed_id=feed_id, state=finished.state.value)


def _report(feed_id: str, checkpoint: HarvestCheckpoint | None) -> dict[str, Any]:
    report: dict[str, Any] = {"feed_id": feed_id}
    if checkpoint is not None:
        report |= {
            "metadata_prefix": checkpoint.metadata_prefix,
            "set_spec": checkpoint.set_spec,
            "from": checkpoint.from_,
            "pages": checkpoint.pages,
            "next_from": checkpoint.first_response_date,
        }
    return report


def _fail(ports: HarvestPorts, job: Job, feed_id: str, reason: str, *, release: bool = False) -> None:
    """Fail the run (an error event naming the feed, the email); with ``release``, free the feed for the next run.

    The feed's ``from`` stays: the next harvest asks again for everything since the last successful one.
    """
    now = ports.now()
    checkpoint: HarvestCheckpoint | None = None
    if release:
        feed = ports.feeds.get(feed_id)
        state = feed.state if feed is not None else FeedState()
        if state.checkpoint is not None and state.checkpoint.job_id == job.job_id:
            checkpoint = state.checkpoint
            ports.feeds.end_harvest(feed_id, job.job_id, succeeded_from=None, at=now)
    counts = job_counts(checkpoint.counts) if checkpoint is not None else job.counts
    event = JobEvent(level="error", action="failed the harvest", message=f"feed {feed_id}: {reason}"[:2000], at=now)
    close_run(
        ports.jobs,
        job.job_id,
        counts=counts,
        events=[event],
        notifier=ports.notifier,
        now=now,
        report=_report(feed_id, checkpoint),
        error=reason,
    )
    logger.warning("feed harvest failed", job_id=job.job_id, feed_id=feed_id, reason=reason)

"""Configuring feeds (add, show, list, remove), testing an endpoint without changing anything, and starting harvests.

A harvest is a job run of type ``feed``: this module opens it (the admin's ``POST /feeds/{id}/run`` or the
``FeedRule`` schedule through the scheduler) and hands it to the feed harvester's queue; ``harvest.py`` runs it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError, Problem
from orcid_sync.domain.feeds.mapping import ProfileName, load_profile, map_record
from orcid_sync.domain.feeds.models import (
    HARVESTABLE_PREFIXES,
    FeedConfig,
    FeedStore,
    FeedView,
    MetadataPrefixChoice,
    StoredFeed,
    base_url_problem,
)
from orcid_sync.domain.feeds.ports import EndpointDescription, OaiEndpointError, OaiHarvester
from orcid_sync.domain.jobs.models import Job, JobState, JobTrigger, JobType
from orcid_sync.domain.jobs.ports import ControlQueue
from orcid_sync.domain.jobs.runs import close_unstarted, open_job
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import AssetInput
from orcid_sync.domain.type_mapping import default_mapping

MAX_TEST_RECORDS = 100
MAX_TEST_PAGES = 5
"""``POST /feeds/test`` follows resumption tokens for at most this many pages to find ``limit`` records."""


# --- the feed's configuration ------------------------------------------------------------------


def create_feed(feeds: FeedStore, config: FeedConfig, *, now: datetime) -> FeedView:
    """Store a new feed (409 if its id is taken); nothing is harvested until it is run or scheduled."""
    stored = StoredFeed(config=config, created_at=now)
    feeds.create(stored)
    logger.info("feed added", feed_id=config.feed_id, base_url=config.base_url, profile=str(config.profile))
    return FeedView.of(stored)


def get_feed(feeds: FeedStore, feed_id: str) -> FeedView:
    return FeedView.of(_stored(feeds, feed_id))


def list_feeds(feeds: FeedStore) -> list[FeedView]:
    return [FeedView.of(feed) for feed in feeds.list()]


def delete_feed(feeds: FeedStore, feed_id: str) -> None:
    """Forget a feed (its assets stay); a harvest still running for it fails at its next page."""
    if not feeds.delete(feed_id):
        raise NotFoundError(f"there is no feed {feed_id}")
    logger.info("feed removed", feed_id=feed_id)


def _stored(feeds: FeedStore, feed_id: str) -> StoredFeed:
    feed = feeds.get(feed_id)
    if feed is None:
        raise NotFoundError(f"there is no feed {feed_id}")
    return feed


def choose_prefix(choice: str, offered: Sequence[str]) -> str | None:
    """The format to harvest: the configured one if offered, for ``auto`` the richest we map; None if neither."""
    if choice != "auto":
        return choice if choice in offered else None
    return next((prefix for prefix in HARVESTABLE_PREFIXES if prefix in offered), None)


def prefix_problem(choice: str, description: EndpointDescription) -> str:
    offered = ", ".join(description.metadata_prefixes) or "none"
    if choice == "auto":
        return f"the endpoint offers none of {', '.join(HARVESTABLE_PREFIXES)} (it offers {offered})"
    return f"the endpoint does not offer {choice} (it offers {offered})"


# --- starting harvests -------------------------------------------------------------------------


class RunFeedRequest(BaseModel):
    """``POST /feeds/{id}/run``."""

    model_config = ConfigDict(extra="forbid")

    full: StrictBool = Field(
        default=False, description="Harvest everything, not only what changed since the last successful harvest"
    )


def _running_harvest(jobs: JobStore, feed: StoredFeed) -> Job | None:
    checkpoint = feed.state.checkpoint
    if checkpoint is None:
        return None
    job = jobs.get(checkpoint.job_id)
    return job if job is not None and job.state is JobState.RUNNING else None


def request_feed_run(
    feeds: FeedStore,
    jobs: JobStore,
    queue: ControlQueue,
    feed_id: str,
    request: RunFeedRequest,
    *,
    started_by: str,
    now: datetime,
) -> Job:
    """Open a harvest of one feed (a job of type ``feed``) and hand it to the harvester; 409 while one runs."""
    feed = _stored(feeds, feed_id)
    running = _running_harvest(jobs, feed)
    if running is not None:
        raise ConflictError(f"feed {feed_id} is being harvested by job {running.job_id}; wait for it to finish")
    job = open_job(
        jobs,
        job_type=JobType.FEED,
        trigger=JobTrigger.MANUAL,
        started_by=started_by,
        options={"feed_id": feed_id, "full": request.full},
        now=now,
    )
    _hand_over(jobs, queue, job, now=now)
    return job


def _hand_over(jobs: JobStore, queue: ControlQueue, job: Job, *, now: datetime) -> None:
    try:
        queue.request_start(job.job_id)
    except Exception as exc:
        # Nobody would ever run it: close the run instead of leaving it "running" forever.
        close_unstarted(jobs, job, f"the harvest could not be queued: {type(exc).__name__}", now=now)
        raise


def scheduled_feed_job_id(feed_id: str, now: datetime, invocation_id: str) -> str:
    """One run per feed per firing (Lambda retries an EventBridge invocation with the same request id).

    Job ids are path segments of ``/jobs/{id}`` (letters, digits, ``._:-``); a feed id may hold ``@`` or ``~``,
    so those become ``-`` and a short hash of the id keeps two such feeds apart.
    """
    safe = re.sub(r"[^A-Za-z0-9._:-]", "-", feed_id)[:100]
    digest = hashlib.sha256(feed_id.encode()).hexdigest()[:6]
    return f"feed-{now:%Y%m%d}-{invocation_id.replace('-', '')[:12]}-{safe}-{digest}"


def start_scheduled_feed_runs(
    feeds: FeedStore, jobs: JobStore, queue: ControlQueue, *, invocation_id: str, now: datetime
) -> list[Job]:
    """The feed schedule fired (hourly): an incremental harvest of every enabled feed whose own schedule is due
    at ``now`` and that is not being harvested already."""
    opened: list[Job] = []
    for feed in feeds.list():
        config = feed.config
        if not config.enabled:
            logger.info("scheduled harvest skips a disabled feed", feed_id=config.feed_id)
            continue
        if not config.schedule.due(now):
            continue
        running = _running_harvest(jobs, feed)
        if running is not None:
            logger.warning("feed is still being harvested", feed_id=config.feed_id, job_id=running.job_id)
            continue
        job = open_job(
            jobs,
            job_type=JobType.FEED,
            trigger=JobTrigger.SCHEDULE,
            started_by="schedule",
            options={"feed_id": config.feed_id, "full": False},
            now=now,
            job_id=scheduled_feed_job_id(config.feed_id, now, invocation_id),
        )
        if job.state is JobState.RUNNING:
            _hand_over(jobs, queue, job, now=now)
        opened.append(job)
    return opened


# --- testing an endpoint -----------------------------------------------------------------------


class FeedTestRequest(BaseModel):
    """``POST /feeds/test``: what a feed with these settings would import, changing nothing."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: Annotated[str, Field(min_length=1, max_length=2000)]
    metadata_prefix: MetadataPrefixChoice = "auto"
    set_spec: Annotated[str | None, Field(min_length=1, max_length=500)] = None
    profile: ProfileName = Field(description="The mapping profile: dspace, eprints, esploro or datacite")
    local_id_field: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    type_overrides: dict[Annotated[str, Field(min_length=1, max_length=300)], str] = Field(default_factory=dict)
    limit: Annotated[int, Field(ge=1, le=MAX_TEST_RECORDS)] = 10

    @field_validator("base_url")
    @classmethod
    def _harvestable_url(cls, value: str) -> str:
        problem = base_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("type_overrides")
    @classmethod
    def _known_asset_types(cls, value: dict[str, str]) -> dict[str, str]:
        known = default_mapping()
        for source, target in value.items():
            if target not in known:
                raise ValueError(f"{source!r} -> {target!r}: {target!r} is not a known Esploro asset type")
        return value


class TestedProblem(BaseModel):
    field: str
    why: str


class TestedRecord(BaseModel):
    """One record as the harvest would treat it."""

    oai_identifier: str
    asset: AssetInput | None
    withdraw: bool
    problems: list[TestedProblem]
    matched_researchers: list[str]
    unmatched_creators: int


class FeedTestReport(BaseModel):
    """What the endpoint says about itself, and its first records as we would import them."""

    repository_name: str
    granularity: str
    deleted_record: str
    metadata_prefixes: list[str]
    chosen_prefix: str
    sets: list[tuple[str, str]]
    records: list[TestedRecord]


def test_feed(
    harvester: OaiHarvester,
    request: FeedTestRequest,
    *,
    researcher_for_orcid: Callable[[str], str | None],
    researcher_for_local_id: Callable[[str], str | None] | None = None,
) -> FeedTestReport:
    """``Identify``, ``ListMetadataFormats``, ``ListSets`` and the first ``limit`` records, mapped; writes nothing.

    An endpoint that cannot be harvested (unreachable, not OAI-PMH, no format we read) is a 400 naming
    ``base_url`` or ``metadata_prefix`` and why.
    """
    try:
        description = harvester.describe(request.base_url)
    except OaiEndpointError as exc:
        raise InvalidInputError(
            "the endpoint cannot be harvested", [Problem(field="body.base_url", reason=str(exc))]
        ) from None
    prefix = choose_prefix(request.metadata_prefix, description.metadata_prefixes)
    if prefix is None:
        raise InvalidInputError(
            "the endpoint offers no format we read",
            [Problem(field="body.metadata_prefix", reason=prefix_problem(request.metadata_prefix, description))],
        )
    profile = load_profile(request.profile, request.type_overrides or None, local_id_field=request.local_id_field)
    records: list[TestedRecord] = []
    token: str | None = None
    for _ in range(MAX_TEST_PAGES):
        try:
            page = harvester.list_records(
                request.base_url,
                metadata_prefix=prefix,
                set_spec=request.set_spec if token is None else None,
                resumption_token=token,
            )
        except OaiEndpointError as exc:
            raise InvalidInputError(
                "the endpoint's records cannot be read", [Problem(field="body.base_url", reason=str(exc))]
            ) from None
        for record in page.records[: request.limit - len(records)]:
            mapped = map_record(
                record,
                metadata_prefix=prefix,
                profile=profile,
                researcher_for_orcid=researcher_for_orcid,
                researcher_for_local_id=researcher_for_local_id,
            )
            records.append(
                TestedRecord(
                    oai_identifier=mapped.oai_identifier,
                    asset=mapped.asset,
                    withdraw=mapped.withdraw_asset_id is not None,
                    problems=[TestedProblem(field=p.field, why=p.why) for p in mapped.problems],
                    matched_researchers=list(mapped.matched_researchers),
                    unmatched_creators=mapped.unmatched_creators,
                )
            )
        token = page.resumption_token
        if token is None or len(records) >= request.limit:
            break
    return FeedTestReport(
        repository_name=description.repository_name,
        granularity=description.granularity,
        deleted_record=description.deleted_record,
        metadata_prefixes=list(description.metadata_prefixes),
        chosen_prefix=prefix,
        sets=[(spec, name) for spec, name in description.sets],
        records=records,
    )


test_feed.__test__ = False  # type: ignore[attr-defined]  # a use case, not a test (pytest collects test_*)

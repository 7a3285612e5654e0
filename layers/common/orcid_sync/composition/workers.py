"""The workers' collaborators: the job scheduler's, the pull worker's and the push worker's, built once per container.

Part of the composition root (``orcid_sync.composition``, whose ``reset()`` forgets these too); each bundle imports
its use cases when first built, so a function loads only its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from orcid_sync.composition import (
    asset_store,
    dynamodb,
    feed_queue,
    feed_store,
    integration_settings_store,
    job_store,
    member_api_client,
    notifier,
    pull_files,
    push_ledger_store,
    researcher_store,
    settings,
    task_queue,
    token_cipher,
    token_store,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore
    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore
    from orcid_sync.adapters.messaging import SnsNotifier
    from orcid_sync.adapters.orcid_api.client import RequestStats
    from orcid_sync.domain.feeds.harvest import HarvestPorts
    from orcid_sync.domain.jobs.models import JobType
    from orcid_sync.domain.jobs.ports import JobFinisher, Notifier, ResearcherSelector, TaskQueue
    from orcid_sync.domain.pull.worker import PullPorts
    from orcid_sync.domain.push import PushPorts


# --- the job scheduler and the pull worker ---------------------------------------------------


@dataclass(frozen=True)
class SchedulerPorts:
    """What starting a run needs: who is selected, where their tasks go, and how a run that ends here ends."""

    jobs: DynamoJobStore
    selectors: Mapping[JobType, ResearcherSelector]
    queues: Mapping[JobType, TaskQueue]
    finishers: Mapping[JobType, JobFinisher]
    notifier: Notifier


@lru_cache(maxsize=1)
def scheduler_ports() -> SchedulerPorts:
    """The job scheduler's collaborators; the institution's settings are re-read at most once a minute."""
    # Imported here: only the scheduler loads both job types' eligibility rules.
    from orcid_sync.domain.jobs.models import JobType  # noqa: PLC0415
    from orcid_sync.domain.jobs.starts import StoredResearcherSelector  # noqa: PLC0415
    from orcid_sync.domain.models import utc_now  # noqa: PLC0415
    from orcid_sync.domain.pull.finish import PullJobFinisher  # noqa: PLC0415
    from orcid_sync.domain.pull.selection import select_pull_researchers  # noqa: PLC0415
    from orcid_sync.domain.push import ineligibility, select_push_researchers  # noqa: PLC0415
    from orcid_sync.domain.researchers import ExplainingSelector, Ineligibility, pull_ineligibility  # noqa: PLC0415
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings  # noqa: PLC0415

    researchers, tokens, jobs = researcher_store(), token_store(), job_store()
    # Not cached: the scheduler reads the settings a few times per job (once per page of researchers), and a job
    # started right after the settings were saved must select by them.
    integration = CachedIntegrationSettings(integration_settings_store(), ttl=0.0)

    def explained(select: ResearcherSelector, why: Ineligibility) -> ExplainingSelector:
        # A run asked for named researchers says, as a job event, why any of them was left out.
        return ExplainingSelector(select, researchers=researchers, tokens=tokens, events=jobs, why=why, now=utc_now)

    push = StoredResearcherSelector(
        researchers, tokens, lambda people, held, only: select_push_researchers(people, held, integration.get(), only)
    )
    pull = StoredResearcherSelector(researchers, tokens, select_pull_researchers)
    return SchedulerPorts(
        jobs=jobs,
        selectors={
            JobType.PUSH: explained(
                push, lambda researcher, token: ineligibility(researcher, token, integration.get())
            ),
            JobType.PULL: explained(pull, pull_ineligibility),
        },
        queues={job_type: task_queue(job_type) for job_type in (JobType.PUSH, JobType.PULL)},
        # A run can end in the scheduler (nobody eligible, or workers faster than the fan-out): pull's CSV then.
        finishers={JobType.PULL: PullJobFinisher(jobs, pull_files())},
        notifier=notifier(),
    )


class PullWorkerEnv(BaseModel):
    """The pull worker's own environment (the rest is the stack's ``Settings``)."""

    model_config = ConfigDict(extra="ignore")

    # The PullQueue's maxReceiveCount: the delivery after which SQS gives the message to the DLQ.
    max_receive_count: int = Field(default=5, ge=1, alias="PULL_MAX_RECEIVE_COUNT")


@dataclass(frozen=True)
class PullWorkerPorts:
    pull: PullPorts
    env: PullWorkerEnv


@lru_cache(maxsize=1)
def pull_worker_ports() -> PullWorkerPorts:
    """The pull worker's collaborators, built once per container."""
    # Imported here: only the pull worker loads the pull, its ledger and the ORCID client (see the docstring).
    from orcid_sync.adapters.dynamodb.pull_ledger import DynamoPullLedgerStore  # noqa: PLC0415
    from orcid_sync.domain.jobs.models import JobType  # noqa: PLC0415
    from orcid_sync.domain.pull.finish import PullJobFinisher  # noqa: PLC0415
    from orcid_sync.domain.pull.worker import JobDeliveries, PullPorts  # noqa: PLC0415

    config = settings()
    client = member_api_client()
    jobs, files = job_store(), pull_files()
    pull = PullPorts(
        researchers=researcher_store(),
        tokens=token_store(),
        assets=asset_store(),
        ledger=DynamoPullLedgerStore(dynamodb().Table(config.ledger_table)),
        files=files,
        jobs=jobs,
        cipher=token_cipher(),
        api=client,
        finishers={JobType.PULL: PullJobFinisher(jobs, files)},
        notifier=notifier(),
        client_id=config.orcid_client_id,
        deliveries=JobDeliveries(jobs),
        request_count=lambda: client.stats.total,
    )
    return PullWorkerPorts(pull=pull, env=PullWorkerEnv.model_validate(dict(os.environ)))


# --- the push worker -------------------------------------------------------------------------


class PushWorkerEnv(BaseModel):
    """The push worker's own environment (the rest is the stack's ``Settings``)."""

    model_config = ConfigDict(extra="ignore")

    # The PushQueue's maxReceiveCount: the delivery after which SQS gives the message to the DLQ.
    max_receive_count: int = Field(default=5, ge=1, alias="PUSH_MAX_RECEIVE_COUNT")


@dataclass(frozen=True)
class PushWorkerPorts:
    """What the push worker hands ``process_push_task``, and the ORCID client's counts for its request metrics."""

    push: PushPorts
    requests: RequestStats
    jobs: DynamoJobStore
    finishers: Mapping[JobType, JobFinisher]
    notifier: SnsNotifier
    leases: DynamoLeaseStore
    env: PushWorkerEnv


@lru_cache(maxsize=1)
def push_worker_ports() -> PushWorkerPorts:
    """The push worker's collaborators; the institution's settings are re-read at most once a minute."""
    # Imported here: only the push worker loads the push, its ledger and the ORCID client (see the docstring).
    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore, DynamoPushCompletion  # noqa: PLC0415
    from orcid_sync.adapters.dynamodb.stores import ResearcherWithToken  # noqa: PLC0415
    from orcid_sync.config import OrcidEnvironment  # noqa: PLC0415
    from orcid_sync.domain.models import StoredToken  # noqa: PLC0415
    from orcid_sync.domain.push import PushContext, PushPorts  # noqa: PLC0415
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings  # noqa: PLC0415

    config = settings()
    cipher = token_cipher()
    client = member_api_client()
    integration = CachedIntegrationSettings(integration_settings_store())
    researchers, tokens, jobs = researcher_store(), token_store(), job_store()
    leases = DynamoLeaseStore(dynamodb().Table(config.state_table))

    def open_token(token: StoredToken) -> SecretStr:
        return SecretStr(cipher.open(token.researcher_id, token.access_token))

    push = PushPorts(
        researchers=researchers,
        tokens=tokens,
        assets=asset_store(),
        ledger=push_ledger_store(),
        settings=integration.get,
        settings_read_since=integration.refresh_if_read_before,
        open_token=open_token,
        orcid=client,
        context=PushContext(
            client_id=config.orcid_client_id,
            sandbox=config.orcid_environment is OrcidEnvironment.SANDBOX,
            profile_url=config.profile_url,
        ),
        # Per thread: a worker pushes its batch's researchers at once, each counting its own requests.
        request_count=lambda: client.stats.thread_total,
        # Per researcher: one read for them and their token, one write to count them, sync them and free their lease.
        read_researcher=ResearcherWithToken(researchers, tokens),
        completion=DynamoPushCompletion(jobs, researchers, leases),
    )
    return PushWorkerPorts(
        push=push,
        requests=client.stats,
        jobs=jobs,
        finishers={},
        notifier=notifier(),
        leases=leases,
        env=PushWorkerEnv.model_validate(dict(os.environ)),
    )


# --- the feed harvester ----------------------------------------------------------------------


class FeedHarvesterEnv(BaseModel):
    """The feed harvester's own environment (the rest is the stack's ``Settings``)."""

    model_config = ConfigDict(extra="ignore")

    # The FeedQueue's maxReceiveCount: on that delivery a harvest that keeps failing fails its run and frees the feed.
    max_receive_count: int = Field(default=5, ge=1, alias="FEED_MAX_RECEIVE_COUNT")


@dataclass(frozen=True)
class FeedHarvesterPorts:
    harvest: HarvestPorts
    env: FeedHarvesterEnv


@lru_cache(maxsize=1)
def feed_harvester_ports() -> FeedHarvesterPorts:
    """The feed harvester's collaborators (the OAI-PMH client, the stores, its own queue to continue a harvest)."""
    from orcid_sync import composition  # noqa: PLC0415 - the OAI-PMH client's factory, built on first use
    from orcid_sync.domain.feeds.harvest import HarvestPorts  # noqa: PLC0415
    from orcid_sync.domain.models import utc_now  # noqa: PLC0415

    harvest = HarvestPorts(
        feeds=feed_store(),
        jobs=job_store(),
        assets=asset_store(),
        researchers=researcher_store(),
        harvester=composition.oai_harvester(),
        queue=feed_queue(),
        notifier=notifier(),
        now=utc_now,
    )
    return FeedHarvesterPorts(harvest=harvest, env=FeedHarvesterEnv.model_validate(dict(os.environ)))

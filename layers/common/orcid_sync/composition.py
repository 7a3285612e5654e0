"""The composition root: the one place that builds adapters, once per container, from the validated settings.

Handlers, the local stack and tests get every collaborator from here; ``reset()`` forgets them all (tests
and the local stack switch endpoints between runs). The SDK clients are built on first use, and the ORCID
client (requests, the ORCID models), the token cipher (cryptography) and the secrets are imported by the
factories that build them: a function that never calls ORCID or opens a token never pays for those imports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from orcid_sync.adapters.cloudwatch_metrics import CloudWatchJobMetrics
from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore
from orcid_sync.adapters.dynamodb.stores import DynamoAssetStore, DynamoResearcherStore, DynamoTokenStore
from orcid_sync.adapters.messaging import EventBridgeSchedules, SnsNotifier, SqsControlQueue, SqsTaskQueue
from orcid_sync.config import Settings, SettingsError, get_settings
from orcid_sync.domain.job_models import JobType
from orcid_sync.domain.job_runs import report_metrics_to

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore
    from orcid_sync.adapters.dynamodb.oauth_state import DynamoOAuthStateStore
    from orcid_sync.adapters.orcid_api.client import OrcidClient, RequestStats
    from orcid_sync.adapters.orcid_api.rate_limit import DynamoDbTokenBucket
    from orcid_sync.adapters.s3_pull_files import S3PullFiles
    from orcid_sync.adapters.secrets import AppSecrets
    from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher
    from orcid_sync.adapters.upload_store import DynamoUploadStore, S3UploadObjects
    from orcid_sync.domain.connect import OrcidSite
    from orcid_sync.domain.job_ports import JobFinisher, Notifier, ResearcherSelector, TaskQueue
    from orcid_sync.domain.oauth_callback import CallbackServices
    from orcid_sync.domain.pull import PullPorts
    from orcid_sync.domain.push import PushPorts
    from orcid_sync.domain.retry_policy import RetryPolicy
    from orcid_sync.domain.signing import Signer
    from orcid_sync.domain.token_upload_runs import JobUploadRuns
    from orcid_sync.domain.token_verdicts import TokenProbe
    from orcid_sync.domain.tokens import TokenImporter

ORCID_RATE_BUCKET_KEY = "ratelimit#orcid-member-api"
"""The one token bucket (in the state table) that every Lambda of the stack draws from: ORCID's limit is per client."""


def settings() -> Settings:
    """The stack's settings, validated once per cold start."""
    return get_settings()


# --- AWS SDK clients -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb")


@lru_cache(maxsize=1)
def _sqs() -> SQSClient:
    return boto3.client("sqs")


@lru_cache(maxsize=1)
def _s3() -> S3Client:
    from botocore.config import Config  # noqa: PLC0415 - only the functions that touch the bucket

    # SigV4 explicitly: the bucket is SSE-KMS, and S3 accepts only SigV4 presigned URLs for such objects.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


# --- stores ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def researcher_store() -> DynamoResearcherStore:
    return DynamoResearcherStore(dynamodb().Table(settings().researchers_table))


@lru_cache(maxsize=1)
def token_store() -> DynamoTokenStore:
    return DynamoTokenStore(dynamodb().Table(settings().tokens_table))


@lru_cache(maxsize=1)
def asset_store() -> DynamoAssetStore:
    return DynamoAssetStore(dynamodb().Table(settings().assets_table))


@lru_cache(maxsize=1)
def job_store() -> DynamoJobStore:
    return DynamoJobStore(dynamodb().Table(settings().jobs_table))


@lru_cache(maxsize=1)
def pull_files() -> S3PullFiles:
    """The stack's data bucket, for workers, the finisher and the admin API."""
    from orcid_sync.adapters.s3_pull_files import S3PullFiles  # noqa: PLC0415 - see the module docstring

    return S3PullFiles(_s3(), settings().data_bucket)


# --- secrets, encryption, ORCID --------------------------------------------------------------


@lru_cache(maxsize=1)
def token_cipher() -> EnvelopeTokenCipher:
    from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher, KmsDataKeys  # noqa: PLC0415 - see the docstring

    return EnvelopeTokenCipher(KmsDataKeys(boto3.client("kms"), settings().token_key_id))


def app_secrets() -> AppSecrets:
    """Cached by Powertools parameters for five minutes, so a rotated secret is picked up."""
    from orcid_sync.adapters.secrets import load_app_secrets  # noqa: PLC0415 - see the module docstring

    return load_app_secrets(settings().orcid_secret_id)


def orcid_rate_limiter() -> DynamoDbTokenBucket:
    from orcid_sync.adapters.orcid_api.rate_limit import DynamoDbTokenBucket  # noqa: PLC0415 - see the docstring

    config = settings()
    return DynamoDbTokenBucket(
        dynamodb().Table(config.state_table),
        ORCID_RATE_BUCKET_KEY,
        rate=config.orcid_rate_limit,
        burst=config.orcid_burst,
    )


def member_api_client(*, retry: RetryPolicy | None = None) -> OrcidClient:
    """An ORCID Member API client with the stack's credentials, under the rate limit shared by all Lambdas."""
    from orcid_sync.adapters.orcid_api.client import OrcidClient  # noqa: PLC0415 - see the module docstring

    config = settings()
    return OrcidClient.from_settings(
        config,
        client_secret=app_secrets().client_secret,
        rate_limiter=orcid_rate_limiter(),
        retry=retry,
    )


# --- queues, notifications, schedules --------------------------------------------------------


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier:
    return SnsNotifier(boto3.client("sns"), settings().notification_topic_arn)


def task_queue(job_type: JobType) -> SqsTaskQueue:
    """The push or pull workers' queue."""
    config = settings()
    urls = {JobType.PUSH: config.push_queue_url, JobType.PULL: config.pull_queue_url}
    url = urls.get(job_type)
    if not url:
        raise SettingsError(f"no task queue is configured for {job_type.value} jobs")
    return SqsTaskQueue(_sqs(), url)


def control_queue() -> SqsControlQueue:
    config = settings()
    if not config.job_control_queue_url:
        raise SettingsError("JOB_CONTROL_QUEUE_URL is not set")
    return SqsControlQueue(_sqs(), config.job_control_queue_url)


def schedules() -> EventBridgeSchedules:
    config = settings()
    return EventBridgeSchedules(
        boto3.client("events"), {JobType.PUSH: config.push_rule_name, JobType.PULL: config.pull_rule_name}
    )


# --- the job scheduler and the pull worker ---------------------------------------------------

# Runs finish inside every worker's use case (push, pull, uploads) and in the admin API (a run that could not be
# queued): the domain reports them, and the scheduler its census of researchers, through one port installed here.
report_metrics_to(CloudWatchJobMetrics())


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
    from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore  # noqa: PLC0415
    from orcid_sync.domain.job_starts import StoredResearcherSelector  # noqa: PLC0415
    from orcid_sync.domain.models import utc_now  # noqa: PLC0415
    from orcid_sync.domain.pull_finish import PullJobFinisher  # noqa: PLC0415
    from orcid_sync.domain.pull_selection import select_pull_researchers  # noqa: PLC0415
    from orcid_sync.domain.push import ineligibility, select_push_researchers  # noqa: PLC0415
    from orcid_sync.domain.researchers import ExplainingSelector, Ineligibility, pull_ineligibility  # noqa: PLC0415
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings  # noqa: PLC0415

    researchers, tokens, jobs = researcher_store(), token_store(), job_store()
    integration = CachedIntegrationSettings(DynamoIntegrationSettingsStore(dynamodb().Table(settings().state_table)))

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
    from orcid_sync.domain.pull import JobDeliveries, PullPorts  # noqa: PLC0415
    from orcid_sync.domain.pull_finish import PullJobFinisher  # noqa: PLC0415

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


# --- connecting researchers (the connect pages, the OAuth callback, disconnecting) -------------


def orcid_site() -> OrcidSite:
    """Where the browser goes for ORCID, and which host iD links use."""
    from orcid_sync.config import OrcidEnvironment  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.connect import OrcidSite  # noqa: PLC0415 - see the module docstring

    config = settings()
    return OrcidSite(
        client_id=config.orcid_client_id,
        site_url=config.orcid_site_url,
        sandbox=config.orcid_environment is OrcidEnvironment.SANDBOX,
    )


def public_base_url(*, domain_name: str | None, host: str | None) -> str:
    """The connect pages' public base URL: the configured one, else the request's own domain."""
    from orcid_sync.domain.connect import request_base_url  # noqa: PLC0415 - see the module docstring

    return request_base_url(configured=settings().public_base_url, domain_name=domain_name, host=host)


def link_signer() -> Signer:
    """Signs connect links and OAuth states; not cached, so a rotated signing key is picked up."""
    from orcid_sync.domain.signing import Signer  # noqa: PLC0415 - see the module docstring

    return Signer(app_secrets().signing_key)


@lru_cache(maxsize=1)
def oauth_states() -> DynamoOAuthStateStore:
    from orcid_sync.adapters.dynamodb.oauth_state import DynamoOAuthStateStore  # noqa: PLC0415 - see the docstring

    return DynamoOAuthStateStore(dynamodb().Table(settings().state_table))


def oauth_client() -> OrcidClient:
    """ORCID's OAuth endpoints (code exchange, revocation) while a person waits: one quick retry.

    OAuth calls are not Member API calls, so they draw on no shared rate limit.
    """
    from orcid_sync.adapters.orcid_api.client import OrcidClient  # noqa: PLC0415 - see the module docstring
    from orcid_sync.adapters.orcid_api.rate_limit import NoRateLimit  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.retry_policy import RetryPolicy  # noqa: PLC0415 - see the module docstring

    return OrcidClient.from_settings(
        settings(),
        client_secret=app_secrets().client_secret,
        rate_limiter=NoRateLimit(),
        retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, max_retry_after=2.0),
    )


def callback_services() -> CallbackServices:
    """What completing an authorization touches; built per callback, as the secret may have rotated."""
    from orcid_sync.domain.oauth_callback import CallbackServices  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.signing import Signer  # noqa: PLC0415 - see the module docstring

    secrets = app_secrets()
    return CallbackServices(
        researchers=researcher_store(),
        tokens=token_store(),
        states=oauth_states(),
        cipher=token_cipher(),
        oauth=oauth_client(),
        signer=Signer(secrets.signing_key),
        fingerprint_key=secrets.signing_key,
        site=orcid_site(),
    )


# --- importing tokens (POST /tokens and uploaded files) --------------------------------------


def token_probe() -> TokenProbe:
    """Tries a token against ORCID; only built when verification is asked for (the secret, an HTTP session)."""
    from orcid_sync.domain.token_probe import PROBE_RETRY, client_probe  # noqa: PLC0415 - see the module docstring

    return client_probe(member_api_client(retry=PROBE_RETRY))


def token_importer(verify: bool) -> TokenImporter:
    """The stores, cipher and fingerprint key an import needs, and a probe when ``verify`` asks for one."""
    from orcid_sync.domain.tokens import TokenImporter  # noqa: PLC0415 - see the module docstring

    return TokenImporter(
        researchers=researcher_store(),
        tokens=token_store(),
        cipher=token_cipher(),
        signing_key=app_secrets().signing_key,
        probe=token_probe() if verify else None,
    )


@lru_cache(maxsize=1)
def upload_store() -> DynamoUploadStore:
    from orcid_sync.adapters.upload_store import DynamoUploadStore  # noqa: PLC0415 - see the module docstring

    return DynamoUploadStore(dynamodb().Table(settings().state_table))


@lru_cache(maxsize=1)
def upload_objects() -> S3UploadObjects:
    """Uploaded token files and their reports in the data bucket (presigned with SigV4, see ``_s3``)."""
    from orcid_sync.adapters.upload_store import S3UploadObjects  # noqa: PLC0415 - see the module docstring

    return S3UploadObjects(_s3(), settings().data_bucket)


def upload_runs() -> JobUploadRuns:
    """Token uploads in the job history, with the end-of-job email."""
    from orcid_sync.domain.token_upload_runs import JobUploadRuns  # noqa: PLC0415 - see the module docstring

    return JobUploadRuns(job_store(), notifier())


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
    from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore  # noqa: PLC0415
    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore  # noqa: PLC0415
    from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore  # noqa: PLC0415
    from orcid_sync.config import OrcidEnvironment  # noqa: PLC0415
    from orcid_sync.domain.models import StoredToken  # noqa: PLC0415
    from orcid_sync.domain.push import PushContext, PushPorts  # noqa: PLC0415
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings  # noqa: PLC0415

    config = settings()
    cipher = token_cipher()
    client = member_api_client()
    integration = CachedIntegrationSettings(DynamoIntegrationSettingsStore(dynamodb().Table(config.state_table)))

    def open_token(token: StoredToken) -> SecretStr:
        return SecretStr(cipher.open(token.researcher_id, token.access_token))

    push = PushPorts(
        researchers=researcher_store(),
        tokens=token_store(),
        assets=asset_store(),
        ledger=DynamoLedgerStore(dynamodb().Table(config.ledger_table)),
        settings=integration.get,
        open_token=open_token,
        orcid=client,
        context=PushContext(
            client_id=config.orcid_client_id,
            sandbox=config.orcid_environment is OrcidEnvironment.SANDBOX,
            profile_url=config.profile_url,
        ),
        # Per thread: a worker pushes its batch's researchers at once, each counting its own requests.
        request_count=lambda: client.stats.thread_total,
    )
    return PushWorkerPorts(
        push=push,
        requests=client.stats,
        jobs=job_store(),
        finishers={},
        notifier=notifier(),
        leases=DynamoLeaseStore(dynamodb().Table(config.state_table)),
        env=PushWorkerEnv.model_validate(dict(os.environ)),
    )


def reset() -> None:
    """Forget every cached client, store and the settings (tests and the local stack switch endpoints)."""
    for value in list(globals().values()):
        clear = getattr(value, "cache_clear", None)
        if clear is not None and getattr(value, "__module__", None) == __name__:
            clear()
    get_settings.cache_clear()

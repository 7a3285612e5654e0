"""The composition root: the one place that builds adapters, once per container, from the validated settings.

Handlers, the local stack and tests get every collaborator from here; ``reset()`` forgets them all (tests
and the local stack switch endpoints between runs). The SDK clients are built on first use, and every
adapter (the stores, the queues, the ORCID client with requests and the ORCID models, the token cipher with
cryptography, the secrets) is imported by the factory that builds it: a cold start loads only what the
function's handler module names, and an invocation only what its path builds.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING

import boto3

from orcid_sync.config import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

    from orcid_sync.adapters.dynamodb.audit_log import DynamoAuditLog
    from orcid_sync.adapters.dynamodb.feeds import DynamoFeedStore
    from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore
    from orcid_sync.adapters.dynamodb.invitations import DynamoInvitationStore
    from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore
    from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore
    from orcid_sync.adapters.dynamodb.stores import DynamoAssetStore, DynamoResearcherStore, DynamoTokenStore
    from orcid_sync.adapters.messaging import EventBridgeSchedules, SnsNotifier, SqsControlQueue, SqsTaskQueue
    from orcid_sync.adapters.oai_pmh import OaiPmhHarvester
    from orcid_sync.adapters.orcid_api.client import OrcidClient
    from orcid_sync.adapters.orcid_api.inbox import OrcidInboxSender
    from orcid_sync.adapters.orcid_api.rate_limit import DynamoDbTokenBucket
    from orcid_sync.adapters.s3_pull_files import S3PullFiles
    from orcid_sync.adapters.secrets import AppSecrets
    from orcid_sync.adapters.ses_mail import SqsInvitationQueue
    from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher
    from orcid_sync.adapters.upload_store import DynamoUploadStore, S3UploadObjects
    from orcid_sync.domain.console.dashboard import DashboardPorts
    from orcid_sync.domain.invitations.campaigns import MailPorts
    from orcid_sync.domain.invitations.orcid_inbox import OrcidInboxPorts
    from orcid_sync.domain.jobs.models import JobType
    from orcid_sync.domain.me.outputs import OutputsPorts
    from orcid_sync.domain.retry_policy import RetryPolicy
    from orcid_sync.domain.tokens.importing import TokenImporter
    from orcid_sync.domain.tokens.upload_runs import JobUploadRuns
    from orcid_sync.domain.tokens.verdicts import TokenProbe

ORCID_RATE_BUCKET_KEY = "ratelimit#orcid-member-api"
SES_RATE_BUCKET_KEY = "ratelimit#ses-send"
"""SES's per-second sending rate, shared by every invitation worker (the same bucket as ORCID's, another key)."""
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
    from orcid_sync.adapters.dynamodb.stores import DynamoResearcherStore  # noqa: PLC0415 - see the module docstring

    return DynamoResearcherStore(dynamodb().Table(settings().researchers_table))


@lru_cache(maxsize=1)
def token_store() -> DynamoTokenStore:
    from orcid_sync.adapters.dynamodb.stores import DynamoTokenStore  # noqa: PLC0415 - see the module docstring

    return DynamoTokenStore(dynamodb().Table(settings().tokens_table))


@lru_cache(maxsize=1)
def asset_store() -> DynamoAssetStore:
    from orcid_sync.adapters.dynamodb.stores import DynamoAssetStore  # noqa: PLC0415 - see the module docstring

    return DynamoAssetStore(dynamodb().Table(settings().assets_table))


@lru_cache(maxsize=1)
def job_store() -> DynamoJobStore:
    """The job runs (the JobsTable); building it installs the runs' metrics port (every finished run is in it)."""
    from orcid_sync.adapters.cloudwatch_metrics import CloudWatchJobMetrics  # noqa: PLC0415 - see the module docstring
    from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.jobs.runs import report_metrics_to  # noqa: PLC0415 - see the module docstring

    # Runs finish inside every worker's use case (push, pull, uploads) and in the admin API (a run that could not
    # be queued), each with this store: the domain reports them, and the scheduler its census of researchers,
    # through one process-wide port, installed here before any run can finish.
    report_metrics_to(CloudWatchJobMetrics())
    return DynamoJobStore(dynamodb().Table(settings().jobs_table))


@lru_cache(maxsize=1)
def integration_settings_store() -> DynamoIntegrationSettingsStore:
    """The institution's push settings (one versioned item of the state table)."""
    from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore  # noqa: PLC0415

    return DynamoIntegrationSettingsStore(dynamodb().Table(settings().state_table))


@lru_cache(maxsize=1)
def feed_store() -> DynamoFeedStore:
    """The OAI-PMH feeds and their harvest state (the FeedsTable)."""
    from orcid_sync.adapters.dynamodb.feeds import DynamoFeedStore  # noqa: PLC0415 - only the feed routes and harvests

    config = settings()
    if not config.feeds_table:
        raise SettingsError("FEEDS_TABLE is not set")
    return DynamoFeedStore(dynamodb().Table(config.feeds_table))


@lru_cache(maxsize=1)
def audit_log() -> DynamoAuditLog:
    """Who changed what (the AuditTable): the console and the admin API record, both list."""
    from orcid_sync.adapters.dynamodb.audit_log import DynamoAuditLog  # noqa: PLC0415 - only the routes that change

    config = settings()
    if not config.audit_table:
        raise SettingsError("AUDIT_TABLE is not set")
    return DynamoAuditLog(dynamodb().Table(config.audit_table))


@lru_cache(maxsize=1)
def invitation_store() -> DynamoInvitationStore:
    """Invitation campaigns, their invitations and suppressed addresses (the InvitationsTable)."""
    from orcid_sync.adapters.dynamodb.invitations import DynamoInvitationStore  # noqa: PLC0415 - invitation paths only

    config = settings()
    if not config.invitations_table:
        raise SettingsError("INVITATIONS_TABLE is not set")
    return DynamoInvitationStore(dynamodb().Table(config.invitations_table))


@lru_cache(maxsize=1)
def push_ledger_store() -> DynamoLedgerStore:
    """What the push wrote to each ORCID record (the ledger table's push items)."""
    from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore  # noqa: PLC0415

    return DynamoLedgerStore(dynamodb().Table(settings().ledger_table))


@lru_cache(maxsize=1)
def pull_files() -> S3PullFiles:
    """The stack's data bucket, for workers, the finisher and the admin API."""
    from orcid_sync.adapters.s3_pull_files import S3PullFiles  # noqa: PLC0415 - see the module docstring

    return S3PullFiles(_s3(), settings().data_bucket)


def outputs_ports() -> OutputsPorts:
    """What a researcher's outputs page ("My ORCID") and the admin API's view of it read and write: DynamoDB only
    (assets, the ledger and its opt-outs, the settings, the researcher's push lease), never ORCID."""
    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore  # noqa: PLC0415 - see the module docstring
    from orcid_sync.config import OrcidEnvironment  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.me.outputs import OutputsPorts  # noqa: PLC0415 - see the module docstring

    config = settings()
    return OutputsPorts(
        researchers=researcher_store(),
        assets=asset_store(),
        ledger=push_ledger_store(),
        # Read on every call (a page view): an administrator's change shows at once.
        settings=lambda: integration_settings_store().get().settings,
        leases=DynamoLeaseStore(dynamodb().Table(config.state_table)),
        sandbox=config.orcid_environment is OrcidEnvironment.SANDBOX,
    )


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


@lru_cache(maxsize=1)
def orcid_inbox_sender() -> OrcidInboxSender:
    """ORCID inbox permission requests; cached so its 2-legged /premium-notification token is fetched once per
    container (the client under the shared rate limit, as every ORCID call)."""
    from orcid_sync.adapters.orcid_api.inbox import OrcidInboxSender  # noqa: PLC0415 - see the module docstring

    return OrcidInboxSender(member_api_client())


def orcid_inbox_ports(*, dry_run: bool) -> OrcidInboxPorts:
    """What ``invitations notify-orcid`` touches; a dry run builds no ORCID client (no secret read for it)."""
    from orcid_sync.domain.invitations.orcid_inbox import OrcidInboxPorts  # noqa: PLC0415 - see the module docstring

    return OrcidInboxPorts(
        researchers=researcher_store(),
        invitations=invitation_store(),
        signer=link_signer(),
        settings=integration_settings_store().get().settings,
        sender=None if dry_run else orcid_inbox_sender(),
    )


def oai_harvester() -> OaiPmhHarvester:
    """The OAI-PMH client a feed harvests with (requests, lxml and pyoai load only here)."""
    from orcid_sync.adapters.oai_pmh import OaiPmhHarvester  # noqa: PLC0415 - see the module docstring

    return OaiPmhHarvester()


# --- queues, notifications, schedules --------------------------------------------------------


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier:
    from orcid_sync.adapters.messaging import SnsNotifier  # noqa: PLC0415 - see the module docstring

    return SnsNotifier(boto3.client("sns"), settings().notification_topic_arn)


def task_queue(job_type: JobType) -> SqsTaskQueue:
    """The push or pull workers' queue."""
    from orcid_sync.adapters.messaging import SqsTaskQueue  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.jobs.models import JobType  # noqa: PLC0415 - see the module docstring

    config = settings()
    urls = {JobType.PUSH: config.push_queue_url, JobType.PULL: config.pull_queue_url}
    url = urls.get(job_type)
    if not url:
        raise SettingsError(f"no task queue is configured for {job_type.value} jobs")
    return SqsTaskQueue(_sqs(), url)


def control_queue() -> SqsControlQueue:
    from orcid_sync.adapters.messaging import SqsControlQueue  # noqa: PLC0415 - see the module docstring

    config = settings()
    if not config.job_control_queue_url:
        raise SettingsError("JOB_CONTROL_QUEUE_URL is not set")
    return SqsControlQueue(_sqs(), config.job_control_queue_url)


def feed_queue() -> SqsControlQueue:
    """The feed harvester's queue: "start or continue the harvest of job J" (``{"job_id": ...}``)."""
    from orcid_sync.adapters.messaging import SqsControlQueue  # noqa: PLC0415 - see the module docstring

    config = settings()
    if not config.feed_queue_url:
        raise SettingsError("FEED_QUEUE_URL is not set")
    return SqsControlQueue(_sqs(), config.feed_queue_url)


def schedules() -> EventBridgeSchedules:
    from orcid_sync.adapters.messaging import EventBridgeSchedules  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.jobs.models import JobType  # noqa: PLC0415 - see the module docstring

    config = settings()
    return EventBridgeSchedules(
        boto3.client("events"),
        {
            JobType.PUSH: config.push_rule_name,
            JobType.PULL: config.pull_rule_name,
            JobType.FEED: config.feed_rule_name,
            JobType.REMIND: config.remind_rule_name,
        },
    )


# --- invitation campaigns (email through SES) ------------------------------------------------


def invitation_queue() -> SqsInvitationQueue:
    """The invitation worker's queue: one message per email to send."""
    from orcid_sync.adapters.ses_mail import SqsInvitationQueue  # noqa: PLC0415 - invitation paths only

    config = settings()
    if not config.invitation_queue_url:
        raise SettingsError("INVITATION_QUEUE_URL is not set")
    return SqsInvitationQueue(_sqs(), config.invitation_queue_url)


def invitation_send_rate() -> DynamoDbTokenBucket:
    """SES's sending rate for all invitation workers together (the ORCID limiter's bucket, its own key)."""
    from orcid_sync.adapters.orcid_api.rate_limit import DynamoDbTokenBucket  # noqa: PLC0415 - see the docstring

    config = settings()
    rate = config.invitation_send_rate
    # A worker sends one email at a time: it reserves one token per call (batch_size 1), never a batch ahead.
    return DynamoDbTokenBucket(
        dynamodb().Table(config.state_table), SES_RATE_BUCKET_KEY, rate=rate, burst=max(1, int(rate)), batch_size=1
    )


@lru_cache(maxsize=1)
def mail_ports() -> MailPorts:
    """What the invitation worker sends with: SES, the templates, the signer, the shared rate, the branding."""
    from orcid_sync.adapters.ses_mail import JinjaInvitationRenderer, SesMailSender  # noqa: PLC0415
    from orcid_sync.domain.invitations.campaigns import InstitutionBrand, MailPorts  # noqa: PLC0415

    config = settings()
    if not (config.invitation_sender and config.ses_configuration_set):
        raise SettingsError("INVITATION_SENDER and SES_CONFIGURATION_SET must be set to send invitations")

    def brand() -> InstitutionBrand:
        current = cached_integration_settings().get()
        return InstitutionBrand(current.institution_name, current.logo_url, current.support_contact)

    return MailPorts(
        researchers=researcher_store(),
        invitations=invitation_store(),
        sender=SesMailSender(
            boto3.client("sesv2"),
            sender=config.invitation_sender,
            sender_name=config.invitation_sender_name,
            configuration_set=config.ses_configuration_set,
        ),
        renderer=JinjaInvitationRenderer(),
        signer=link_signer(),
        rate=invitation_send_rate(),
        brand=brand,
        configuration_tags={},
    )


# --- importing tokens (POST /tokens and uploaded files) --------------------------------------


def token_probe() -> TokenProbe:
    """Tries a token against ORCID; only built when verification is asked for (the secret, an HTTP session)."""
    from orcid_sync.domain.tokens.probe import PROBE_RETRY, client_probe  # noqa: PLC0415 - see the module docstring

    return client_probe(member_api_client(retry=PROBE_RETRY))


def token_importer(verify: bool) -> TokenImporter:
    """The stores, cipher and fingerprint key an import needs, and a probe when ``verify`` asks for one."""
    from orcid_sync.domain.tokens.importing import TokenImporter  # noqa: PLC0415 - see the module docstring

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
    from orcid_sync.domain.tokens.upload_runs import JobUploadRuns  # noqa: PLC0415 - see the module docstring

    return JobUploadRuns(job_store(), notifier())


# --- the admin console ---------------------------------------------------------------------


def dashboard_ports() -> DashboardPorts:
    """What the console's dashboard reads: counts, schedules, runs, dead-letter depths (never a researcher each)."""
    from orcid_sync.adapters.messaging import SqsDeadLetterDepths  # noqa: PLC0415 - only the console
    from orcid_sync.domain.console.dashboard import DashboardPorts  # noqa: PLC0415 - only the console

    pairs = (pair.partition("=") for pair in settings().dead_letter_queue_urls.split(",") if pair.strip())
    return DashboardPorts(
        census=researcher_store(),
        jobs=job_store(),
        schedules=schedules(),
        integration=integration_settings_store(),
        dead_letters=SqsDeadLetterDepths(_sqs(), {role.strip(): url.strip() for role, _, url in pairs}),
    )


def reset() -> None:
    """Forget every cached client, store, secret and the settings (tests and the local stack switch endpoints)."""
    for module in (sys.modules[__name__], workers, researcher_pages, console):
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if clear is not None and getattr(value, "__module__", None) == module.__name__:
                clear()
    get_settings.cache_clear()
    # The secrets are cached by Powertools parameters (five minutes), outside this module; cleared only if
    # something imported them, so a reset does not import Powertools parameters for nothing.
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


# The workers' port bundles, built from the factories above (imported last: they use them).
from orcid_sync.composition import console, researcher_pages, workers  # noqa: E402
from orcid_sync.composition.console import (  # noqa: E402
    console_identity_provider,
    console_login_site,
    console_sign_in_config,
)
from orcid_sync.composition.researcher_pages import (  # noqa: E402
    cached_integration_settings,
    callback_services,
    id_token_verifier,
    link_signer,
    oauth_client,
    oauth_states,
    orcid_site,
    public_base_url,
    sign_in_services,
)
from orcid_sync.composition.workers import (  # noqa: E402
    FeedHarvesterEnv,
    FeedHarvesterPorts,
    PullWorkerEnv,
    PullWorkerPorts,
    PushWorkerEnv,
    PushWorkerPorts,
    SchedulerPorts,
    feed_harvester_ports,
    pull_worker_ports,
    push_worker_ports,
    scheduler_ports,
)

__all__ = [
    "FeedHarvesterEnv",
    "FeedHarvesterPorts",
    "PullWorkerEnv",
    "PullWorkerPorts",
    "PushWorkerEnv",
    "PushWorkerPorts",
    "SchedulerPorts",
    "cached_integration_settings",
    "callback_services",
    "console_identity_provider",
    "console_login_site",
    "console_sign_in_config",
    "feed_harvester_ports",
    "id_token_verifier",
    "link_signer",
    "oauth_client",
    "oauth_states",
    "orcid_site",
    "public_base_url",
    "pull_worker_ports",
    "push_worker_ports",
    "scheduler_ports",
    "sign_in_services",
]

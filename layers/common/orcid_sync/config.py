"""The one settings model: read from environment variables once per cold start, failing fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orcid_sync.domain.identifiers import orcid_uri

CLIENT_ID_PATTERN = r"^APP-[0-9A-Za-z]{16}$"


class OrcidEnvironment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


# (browser host for OAuth and iD links, Member API host), per ORCID environment.
_ORCID_HOSTS: dict[OrcidEnvironment, tuple[str, str]] = {
    OrcidEnvironment.SANDBOX: ("https://sandbox.orcid.org", "https://api.sandbox.orcid.org"),
    OrcidEnvironment.PRODUCTION: ("https://orcid.org", "https://api.orcid.org"),
}

NonEmpty = Annotated[str, Field(min_length=1)]


class SettingsError(RuntimeError):
    """The function's environment is incomplete or invalid; raised at cold start."""


class Settings(BaseModel):
    """Everything a function needs to know about its stack, from its environment variables.

    Resource names are given to every function by the template's Globals so that one model
    serves all; what a function may *do* with them is decided by its IAM policy.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    orcid_environment: OrcidEnvironment = Field(alias="ORCID_ENVIRONMENT")
    orcid_client_id: Annotated[str, Field(pattern=CLIENT_ID_PATTERN)] = Field(alias="ORCID_CLIENT_ID")
    # Overrides for the local ORCID sandbox (or any stand-in); empty means "derive from the environment".
    orcid_site_url_override: str = Field(default="", alias="ORCID_SITE_URL")
    orcid_api_url_override: str = Field(default="", alias="ORCID_API_URL")
    orcid_secret_id: NonEmpty = Field(alias="ORCID_SECRET_ID")
    portal_base_url: NonEmpty = Field(alias="PORTAL_BASE_URL")
    # Public base URL of the connect pages (custom domain); empty: derived from each request.
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")

    token_key_id: NonEmpty = Field(alias="TOKEN_KEY_ID")
    researchers_table: NonEmpty = Field(alias="RESEARCHERS_TABLE")
    tokens_table: NonEmpty = Field(alias="TOKENS_TABLE")
    assets_table: NonEmpty = Field(alias="ASSETS_TABLE")
    ledger_table: NonEmpty = Field(alias="LEDGER_TABLE")
    jobs_table: NonEmpty = Field(alias="JOBS_TABLE")
    state_table: NonEmpty = Field(alias="STATE_TABLE")
    data_bucket: NonEmpty = Field(alias="DATA_BUCKET")
    notification_topic_arn: NonEmpty = Field(alias="NOTIFICATION_TOPIC_ARN")
    push_queue_url: str = Field(default="", alias="PUSH_QUEUE_URL")
    pull_queue_url: str = Field(default="", alias="PULL_QUEUE_URL")
    job_control_queue_url: str = Field(default="", alias="JOB_CONTROL_QUEUE_URL")
    # The daily schedules' EventBridge rule names (the admin API flips them to activate a job).
    push_rule_name: str = Field(default="", alias="PUSH_RULE_NAME")
    pull_rule_name: str = Field(default="", alias="PULL_RULE_NAME")
    # Feeds (OAI-PMH harvests): their table, the harvester's queue ("start or continue job J"), the schedule.
    feeds_table: str = Field(default="", alias="FEEDS_TABLE")
    feed_queue_url: str = Field(default="", alias="FEED_QUEUE_URL")
    feed_rule_name: str = Field(default="", alias="FEED_RULE_NAME")
    # Invitation campaigns by email (SES): the campaigns table.
    invitations_table: str = Field(default="", alias="INVITATIONS_TABLE")
    # The invitation worker's queue, the reminders' schedule, and SES: the sender identity, its configuration set
    # (bounce and complaint events), and the per-second sending rate all workers share (SES's account limit).
    invitation_queue_url: str = Field(default="", alias="INVITATION_QUEUE_URL")
    remind_rule_name: str = Field(default="", alias="REMIND_RULE_NAME")
    invitation_sender: str = Field(default="", alias="INVITATION_SENDER")
    invitation_sender_name: str = Field(default="", alias="INVITATION_SENDER_NAME")
    ses_configuration_set: str = Field(default="", alias="SES_CONFIGURATION_SET")
    invitation_send_rate: Annotated[float, Field(gt=0, le=1000)] = Field(default=1.0, alias="INVITATION_SEND_RATE")
    # The audit log (who changed what, console and admin API); empty only in tests that never record.
    audit_table: str = Field(default="", alias="AUDIT_TABLE")
    # The console's dashboard shows the dead-letter queues' depths: "role=url" pairs, comma-separated.
    dead_letter_queue_urls: str = Field(default="", alias="DEAD_LETTER_QUEUE_URLS")

    # The admin console's sign-in: the SSM parameter naming its Cognito user pool, public app client and
    # managed-login URL (a parameter because the template cannot hand the client id to the function, see
    # ConsoleSignInParameter), and an override of the pool's key set URL (empty: derived from the pool id; the local
    # stack points both the login URL and the key set at its Cognito stand-in, as ORCID_SITE_URL at its sandbox).
    console_sign_in_parameter: str = Field(default="", alias="CONSOLE_SIGN_IN_PARAMETER")
    console_login_url_override: str = Field(default="", alias="CONSOLE_LOGIN_URL")
    console_jwks_url_override: str = Field(default="", alias="CONSOLE_JWKS_URL")

    # All concurrent workers together stay under this many ORCID requests per second (ORCID allows 24).
    orcid_rate_limit: Annotated[float, Field(gt=0, le=24)] = Field(default=20.0, alias="ORCID_RATE_LIMIT")
    orcid_burst: Annotated[int, Field(ge=1, le=40)] = Field(default=20, alias="ORCID_BURST")
    orcid_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(default=10.0, alias="ORCID_TIMEOUT_SECONDS")

    @field_validator(
        "orcid_site_url_override",
        "orcid_api_url_override",
        "public_base_url",
        "portal_base_url",
        "console_login_url_override",
        "console_jwks_url_override",
    )
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @property
    def orcid_site_url(self) -> str:
        """Browser-facing ORCID host: OAuth authorize/token/revoke and iD links."""
        return self.orcid_site_url_override or _ORCID_HOSTS[self.orcid_environment][0]

    @property
    def orcid_api_url(self) -> str:
        """Member API host (without the /v3.0 suffix)."""
        return self.orcid_api_url_override or _ORCID_HOSTS[self.orcid_environment][1]

    def orcid_id_url(self, orcid: str) -> str:
        """The full iD link shown to people (sandbox iDs live on sandbox.orcid.org)."""
        return orcid_uri(orcid, sandbox=self.orcid_environment is OrcidEnvironment.SANDBOX)

    def profile_url(self, researcher_id: str) -> str:
        """Default repository profile link for a researcher without an explicit one."""
        return f"{self.portal_base_url}/{researcher_id}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Validate the environment; the error names every missing or invalid variable."""
        source = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(source))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
            )
            raise SettingsError(f"invalid orcid-sync configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this cold start (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings.from_env()

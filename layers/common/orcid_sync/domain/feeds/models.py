"""A feed (an OAI-PMH endpoint the institution points us at), its harvest state, and the store that keeps both."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from orcid_sync.domain.feeds.mapping import ProfileName
from orcid_sync.domain.models import EntityId
from orcid_sync.domain.type_mapping import default_mapping

MetadataPrefixChoice = Literal["auto", "oai_dc", "oai_datacite", "oai_openaire"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class FeedSchedule(BaseModel):
    """When the feed schedule (an hourly ``FeedRule``, activated with ``jobs activate feed``) harvests this feed.

    ``hourly`` every hour; ``daily`` at ``hour_utc``; ``weekly`` at ``hour_utc`` on ``weekday``. The default, daily at
    01:00 UTC, is what a repository's nightly export would do; a large repository harvested often costs little,
    because every scheduled harvest is incremental.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Literal["hourly", "daily", "weekly"] = "daily"
    hour_utc: Annotated[int, Field(ge=0, le=23)] = 1
    weekday: Weekday | None = Field(default=None, description="For weekly harvests: mon … sun")

    @field_validator("weekday")
    @classmethod
    def _weekday_only_when_weekly(cls, value: Weekday | None, info: ValidationInfo) -> Weekday | None:
        if value is not None and info.data.get("every") != "weekly":
            raise ValueError("a weekday is only for weekly harvests")
        return value

    def due(self, now: datetime) -> bool:
        """Whether the schedule's firing at ``now`` (UTC, at the top of an hour) should harvest this feed."""
        if self.every == "hourly":
            return True
        if now.hour != self.hour_utc:
            return False
        return self.every == "daily" or _WEEKDAYS[now.weekday()] == (self.weekday or "mon")

    def describe(self) -> str:
        """In words, for the CLI and the API: ``daily at 01:00 UTC``."""
        if self.every == "hourly":
            return "every hour"
        at = f"at {self.hour_utc:02d}:00 UTC"
        return f"daily {at}" if self.every == "daily" else f"weekly on {self.weekday or 'mon'} {at}"


HARVESTABLE_PREFIXES: tuple[str, ...] = ("oai_openaire", "oai_datacite", "oai_dc")
"""The formats we map, richest first: ``auto`` picks the first of these the endpoint offers."""

# OAI-PMH 2.0's setSpec: colon-separated parts of unreserved URI characters.
_SET_SPEC = r"^[A-Za-z0-9\-_.!~*'()]+(?::[A-Za-z0-9\-_.!~*'()]+)*$"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1: a provider on this machine (the local stack's)."""
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a feed's OAI-PMH base URL, or None."""
    if re.search(r"\s", url):
        return "contains whitespace"
    try:
        parts = urlsplit(url)
        _ = parts.port  # an invalid port raises here
    except ValueError as exc:
        return f"is not a URL ({exc})"
    checks = (
        (
            parts.scheme not in ("https", "http") or not parts.hostname,
            "must be an absolute https:// URL, e.g. https://repository.example.edu/oai/request",
        ),
        (
            parts.username is not None or parts.password is not None,
            "must not carry a user name or password (OAI-PMH endpoints are public)",
        ),
        (
            bool(parts.query or parts.fragment) or url.endswith(("?", "#")),
            "must be the base URL alone, without ?query or #fragment: the harvester adds verb=... itself",
        ),
        (
            parts.scheme == "http" and not is_loopback_host(parts.hostname or ""),
            f"must use https: plain http is only allowed for a provider on this machine (localhost), "
            f"not {parts.hostname}",
        ),
    )
    return next((why for failed, why in checks if failed), None)


class FeedConfig(BaseModel):
    """``POST /feeds``: an OAI-PMH endpoint to harvest assets from, and how to read its records."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    feed_id: EntityId = Field(description="Our name for the feed, e.g. dspace-main")
    base_url: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="The OAI-PMH base URL (https; plain http only for localhost)"
    )
    metadata_prefix: MetadataPrefixChoice = Field(
        default="auto", description="auto: the richest of oai_openaire, oai_datacite, oai_dc the endpoint offers"
    )
    set_spec: Annotated[str | None, Field(min_length=1, max_length=500, pattern=_SET_SPEC)] = Field(
        default=None, description="Harvest only this set (OAI-PMH setSpec)"
    )
    profile: ProfileName = Field(description="The mapping profile: dspace, eprints, esploro or datacite")
    local_id_field: Annotated[str | None, Field(min_length=1, max_length=200)] = Field(
        default=None, description="The metadata field holding a creator's researcher id (matched after ORCID iDs)"
    )
    type_overrides: dict[Annotated[str, Field(min_length=1, max_length=300)], str] = Field(
        default_factory=dict, description="Source type value -> Esploro asset type, on top of the profile's"
    )
    enabled: StrictBool = Field(default=True, description="Scheduled harvests skip a disabled feed")
    schedule: FeedSchedule = Field(
        default_factory=FeedSchedule, description="When scheduled harvests run: hourly, daily or weekly (UTC)"
    )

    @field_validator("base_url")
    @classmethod
    def _harvestable_url(cls, value: str) -> str:
        problem = base_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/") if urlsplit(value).path not in ("", "/") else value

    @field_validator("type_overrides")
    @classmethod
    def _known_asset_types(cls, value: dict[str, str]) -> dict[str, str]:
        known = default_mapping()
        for source, target in value.items():
            if target not in known:
                raise ValueError(
                    f"{source!r} -> {target!r}: {target!r} is not a known Esploro asset type (see `orcid-sync mapping`)"
                )
        return value


class HarvestCounts(BaseModel):
    """What a harvest did, record by record; checkpointed after every page."""

    model_config = ConfigDict(extra="forbid")

    records_harvested: int = 0
    assets_created: int = 0
    assets_updated: int = 0
    assets_unchanged: int = 0
    assets_withdrawn: int = 0
    records_refused: int = 0
    records_unmatched: int = 0
    """Records none of whose creators is one of our researchers (nothing to store)."""
    creators_unmatched: int = 0

    def __add__(self, other: HarvestCounts) -> HarvestCounts:
        return HarvestCounts(
            **{name: getattr(self, name) + getattr(other, name) for name in HarvestCounts.model_fields}
        )


class HarvestCheckpoint(BaseModel):
    """Where a running harvest is: enough to resume after a crash or a Lambda timeout without redoing a page."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    metadata_prefix: str
    set_spec: str | None = None
    from_: str | None = None
    """The incremental harvest's ``from`` (None: everything)."""
    resumption_token: str | None = None
    """The next page's token; None before the first page (and after the last)."""
    first_response_date: str | None = None
    """The first page's ``responseDate``: the next incremental harvest's ``from`` once this one succeeds."""
    pages: int = 0
    """Pages done; each checkpoint is written on condition that it is still the previous one's count."""
    restarts: int = 0
    """Times the page sequence restarted after ``badResumptionToken`` (once at most)."""
    counts: HarvestCounts = Field(default_factory=HarvestCounts)
    started_at: datetime


class FeedState(BaseModel):
    """What the harvests have done so far."""

    chosen_prefix: str | None = None
    granularity: str | None = None
    last_harvest_from: str | None = None
    """The ``from`` of the next incremental harvest: the last successful harvest's first ``responseDate``."""
    last_harvest_at: datetime | None = None
    last_job_id: str | None = None
    checkpoint: HarvestCheckpoint | None = None

    @property
    def harvest_in_progress(self) -> bool:
        return self.checkpoint is not None


class FeedView(FeedConfig):
    """A feed as the admin API shows it: its configuration and how its harvests went."""

    model_config = ConfigDict(extra="ignore")

    chosen_prefix: str | None = None
    last_harvest_from: str | None = None
    last_harvest_at: datetime | None = None
    last_job_id: str | None = None
    harvest_in_progress: bool = False
    harvest_job_id: str | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, feed: StoredFeed) -> FeedView:
        state = feed.state
        return cls.model_validate(
            {
                **feed.config.model_dump(),
                "chosen_prefix": state.chosen_prefix,
                "last_harvest_from": state.last_harvest_from,
                "last_harvest_at": state.last_harvest_at,
                "last_job_id": state.last_job_id,
                "harvest_in_progress": state.harvest_in_progress,
                "harvest_job_id": state.checkpoint.job_id if state.checkpoint else None,
                "created_at": feed.created_at,
            }
        )


class StoredFeed(BaseModel):
    """A feed as stored: its configuration and harvest state, in one item."""

    config: FeedConfig
    state: FeedState = Field(default_factory=FeedState)
    created_at: datetime


class FeedStore(Protocol):
    """Feeds and their harvest state (the FeedsTable). Checkpoints are conditional writes: two invocations of the
    same harvest (an SQS redelivery beside a continuation) cannot both record a page."""

    def create(self, feed: StoredFeed) -> None:
        """ConflictError if a feed has this id."""
        ...

    def get(self, feed_id: str) -> StoredFeed | None: ...

    def list(self) -> Sequence[StoredFeed]:
        """Every feed, by id."""
        ...

    def delete(self, feed_id: str) -> bool:
        """False if there was no such feed."""
        ...

    def begin_harvest(
        self, feed_id: str, checkpoint: HarvestCheckpoint, *, chosen_prefix: str, granularity: str
    ) -> bool:
        """Start ``checkpoint.job_id``'s harvest; False if another harvest's checkpoint is there (or no feed)."""
        ...

    def save_checkpoint(self, feed_id: str, checkpoint: HarvestCheckpoint, *, previous_pages: int) -> bool:
        """Record a page done; False if the stored checkpoint is not this job's at ``previous_pages``."""
        ...

    def end_harvest(self, feed_id: str, job_id: str, *, succeeded_from: str | None, at: datetime) -> bool:
        """Clear the job's checkpoint; on success (``succeeded_from`` set) record the next ``from`` and when.
        False if the checkpoint is not this job's."""
        ...

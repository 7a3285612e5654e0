"""The institution's integration settings (what to send to ORCID), as administrators edit them.

These are the settings Esploro keeps on its "ORCID integration" page (see the seeds): send assets
or not, which asset categories and types, which researchers, the institutional affiliation and
its organisation identifier. They live in one item of the state table (``store/integration_settings.py``)
and change at run time, unlike the stack's environment (``settings.py``).

Every field validates here, so a bad value is rejected with an error naming it before it is
stored, never discovered as an ORCID 400 during the nightly push.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from orcid_sync.domain.models import RefusesControlCharacters, Researcher
from orcid_sync.domain.orcid.models import (
    LONG_TEXT_MAX_LENGTH,
    URL_NAME_MAX_LENGTH,
    DisambiguatedOrganization,
    Organization,
    OrganizationAddress,
)
from orcid_sync.domain.orcid.vocabulary import COUNTRIES
from orcid_sync.domain.type_mapping import WorkTypeMapping, default_mapping, to_api3_work_type

ALL_TYPES = "all"

# The researcher pages' background: an accent colour must keep text on it (and it on text) readable.
PAGE_BACKGROUND = "#ffffff"
# WCAG 2.2 success criterion 1.4.3 (contrast, minimum) for normal text.
MIN_CONTRAST = 4.5
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_HTTPS_URL = re.compile(r"^https://[^\s/?#<>\"]+[^\s<>\"]*$")
# Look only: the researcher pages' branding never changes what is sent to ORCID (not in the fingerprint).
BRANDING_FIELDS = frozenset({"logo_url", "support_contact", "accent_color"})
# Invitation emails' reminders: when and how often; nothing of it goes to ORCID (not in the fingerprint either).
INVITATION_FIELDS = frozenset({"invitation_reminder_days", "invitation_max_reminders"})


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of a ``#rrggbb`` colour."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# ROR ids are 0 + 6 Crockford base-32 characters + 2 check digits; ORCID stores the full URL.
_ROR_BARE = re.compile(r"^(?:https?://)?(?:www\.)?(?:ror\.org/)?(0[0-9a-hjkmnp-tv-z]{6}[0-9]{2})/?$", re.IGNORECASE)


def known_asset_types() -> frozenset[str]:
    """Every Esploro asset type of the built-in table (assets can only have these)."""
    return frozenset(default_mapping())


def known_categories() -> frozenset[str]:
    """Asset categories: the part of a type before the dot (``publication``, ``creativeWork``…)."""
    return frozenset(asset_type.split(".", 1)[0] for asset_type in default_mapping())


def _selector_matches(selector: str, asset_type: str) -> bool:
    return selector in (ALL_TYPES, asset_type) or asset_type.split(".", 1)[0] == selector


class UpdateResearchers(StrEnum):
    """Which connected researchers the push job updates (Esploro's "Update Researchers ORCID Profile")."""

    ALL = "all"
    # Only researchers whose ``update_orcid_profile`` flag is set.
    SELECTED = "selected"


class OrganizationIdType(StrEnum):
    """Organisation identifier sources ORCID accepts for affiliations (OrgDisambiguatedSourceType)."""

    RINGGOLD = "RINGGOLD"
    ROR = "ROR"
    GRID = "GRID"
    FUNDREF = "FUNDREF"
    LEI = "LEI"


class AssetSelection(BaseModel):
    """Which assets go to ORCID: ``all``, categories (``publication``) or types (``publication.book``), minus some."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: [ALL_TYPES])
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _known_selectors(cls, value: list[str]) -> list[str]:
        types, categories = known_asset_types(), known_categories()
        for selector in value:
            if selector != ALL_TYPES and selector not in types and selector not in categories:
                raise ValueError(
                    f"{selector!r} is neither 'all', an asset category ({', '.join(sorted(categories))}) "
                    "nor an asset type (see `orcid-sync mapping`)"
                )
        return list(dict.fromkeys(value))

    def selects(self, asset_type: str) -> bool:
        """True when the type is included and not excluded (an exclusion always wins)."""
        return self.refusal(asset_type) is None

    def refusal(self, asset_type: str) -> str | None:
        """Why the settings leave this type out, in the words job events and previews use; None when selected."""
        if any(_selector_matches(selector, asset_type) for selector in self.exclude):
            return f"asset type {asset_type} excluded by settings"
        if not any(_selector_matches(selector, asset_type) for selector in self.include):
            return f"asset type {asset_type} not included by settings"
        return None


class OrganizationSettings(RefusesControlCharacters):
    """The institution as ORCID's affiliation needs it: name, city, country and a disambiguated identifier."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=LONG_TEXT_MAX_LENGTH)]
    city: Annotated[str, Field(min_length=1, max_length=LONG_TEXT_MAX_LENGTH)]
    region: Annotated[str | None, Field(min_length=1, max_length=LONG_TEXT_MAX_LENGTH)] = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. US")]
    identifier_type: OrganizationIdType
    identifier: Annotated[str, Field(min_length=1, max_length=500)]

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        # ORCID checks the code against its ISO 3166-1 list and refuses every employment with an unknown one
        # (400/9037): a slip like "UK" for "GB" must be caught here, not each night at ORCID.
        if value not in COUNTRIES:
            hint = " (the United Kingdom is GB)" if value == "UK" else ""
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code{hint}")
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _upper_country(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("identifier")
    @classmethod
    def _identifier_shape(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("identifier_type") is OrganizationIdType.ROR:
            match = _ROR_BARE.fullmatch(value)
            if match is None:
                raise ValueError(
                    f"{value!r} is not a ROR id; ORCID expects the full URL, like https://ror.org/05qwgg493"
                )
            return f"https://ror.org/{match.group(1).lower()}"
        return value

    def to_orcid(self) -> Organization:
        """The ``organization`` element of an ORCID affiliation."""
        return Organization(
            name=self.name,
            address=OrganizationAddress(city=self.city, region=self.region, country=self.country),
            disambiguated_organization=DisambiguatedOrganization(
                disambiguated_organization_identifier=self.identifier,
                disambiguation_source=self.identifier_type.value,
            ),
        )


class ResearcherUrlSettings(RefusesControlCharacters):
    """The link to each researcher's repository profile on their ORCID record."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    send: StrictBool = False
    # The link text; empty means "<institution_name> research profile".
    name: Annotated[str | None, Field(min_length=1, max_length=URL_NAME_MAX_LENGTH)] = None


class IntegrationSettings(RefusesControlCharacters):
    """What the push job sends to ORCID. The defaults send nothing, as Esploro's do."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    institution_name: Annotated[str, Field(max_length=300)] = ""
    # Esploro's "Send assets": out of the box No; works already on ORCID stay when it is turned off.
    send_assets: StrictBool = False
    asset_types: AssetSelection = Field(default_factory=AssetSelection)
    update_researchers: UpdateResearchers = UpdateResearchers.ALL
    send_affiliation: StrictBool = False
    organization: OrganizationSettings | None = Field(default=None, validate_default=True)
    researcher_url: ResearcherUrlSettings = Field(default_factory=ResearcherUrlSettings)
    # Esploro asset type → ORCID work type, on top of the built-in table.
    type_overrides: dict[str, str] = Field(default_factory=dict)
    # The researcher pages' branding (connect, success, problem, My ORCID); none of it goes to ORCID.
    logo_url: Annotated[str | None, Field(max_length=2000)] = None
    support_contact: Annotated[str | None, Field(max_length=2000)] = None
    accent_color: str | None = None
    # Invitation campaigns: a reminder this many days after the last email, at most this many reminders.
    invitation_reminder_days: Annotated[int, Field(ge=1, le=365)] = 14
    invitation_max_reminders: Annotated[int, Field(ge=0, le=10)] = 2

    @field_validator("logo_url")
    @classmethod
    def _https_logo(cls, value: str | None) -> str | None:
        if value is not None and not _HTTPS_URL.match(value):
            raise ValueError(f"logo_url must be an https:// URL (an image the pages load), not {value[:100]!r}")
        return value

    @field_validator("support_contact")
    @classmethod
    def _contact_shape(cls, value: str | None) -> str | None:
        if value is not None and not (_EMAIL.match(value) or _HTTPS_URL.match(value)):
            raise ValueError(f"support_contact must be an email address or an https:// URL, not {value[:100]!r}")
        return value

    @field_validator("accent_color")
    @classmethod
    def _readable_accent(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _HEX_COLOR.match(value):
            raise ValueError(f"accent_color must be a colour like #0b5cad (#rrggbb), not {value[:20]!r}")
        ratio = contrast_ratio(value, PAGE_BACKGROUND)
        if ratio < MIN_CONTRAST:
            raise ValueError(
                f"accent_color {value} has a contrast ratio of {ratio:.2f}:1 with the pages' white background; "
                f"at least {MIN_CONTRAST}:1 is needed for readable text (WCAG 1.4.3): choose a darker colour"
            )
        return value.lower()

    @field_validator("organization")
    @classmethod
    def _organization_when_sending(cls, value: OrganizationSettings | None, info: ValidationInfo) -> Any:
        if value is None and info.data.get("send_affiliation"):
            raise ValueError("send_affiliation needs the organization (name, city, country, identifier and its type)")
        return value

    @field_validator("type_overrides")
    @classmethod
    def _valid_overrides(cls, value: dict[str, str]) -> dict[str, str]:
        types = known_asset_types()
        resolved: dict[str, str] = {}
        for asset_type, work_type in value.items():
            if asset_type not in types:
                raise ValueError(f"{asset_type!r} is not a known asset type (see `orcid-sync mapping`)")
            resolved[asset_type] = to_api3_work_type(work_type)  # UnknownWorkTypeError is a ValueError
        return resolved

    @cached_property
    def mapping(self) -> WorkTypeMapping:
        """The effective asset type → work type mapping (built-in table plus overrides)."""
        return WorkTypeMapping(self.type_overrides)

    @cached_property
    def fingerprint(self) -> str:
        """A hash of every setting; part of the push's "did anything change?" comparison."""
        content = self.model_dump(mode="json", exclude=set(BRANDING_FIELDS | INVITATION_FIELDS))
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def selects(self, asset_type: str) -> bool:
        """True when assets of this type are to be on ORCID."""
        return self.send_assets and self.asset_types.selects(asset_type)

    def updates(self, researcher: Researcher) -> bool:
        """The ``update_researchers`` policy for one researcher."""
        return self.update_researchers is UpdateResearchers.ALL or researcher.update_orcid_profile

    @property
    def support_href(self) -> str | None:
        """The support contact as a link target (``mailto:`` for an email address)."""
        if self.support_contact is None:
            return None
        return self.support_contact if self.support_contact.startswith("https://") else f"mailto:{self.support_contact}"

    @property
    def researcher_url_name(self) -> str:
        """The researcher-url link text."""
        if self.researcher_url.name:
            return self.researcher_url.name
        prefix = f"{self.institution_name} research profile" if self.institution_name else "Research profile"
        return prefix[:URL_NAME_MAX_LENGTH]


class StoredIntegrationSettings(BaseModel):
    """The settings with their version (optimistic concurrency) and when they last changed."""

    model_config = ConfigDict(frozen=True)

    settings: IntegrationSettings = Field(default_factory=IntegrationSettings)
    # 0: never saved (the defaults); every save increments it.
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None


class SettingsDocument(IntegrationSettings):
    """The admin API's view: the settings, flat, plus ``version`` (send it back on PUT to detect lost updates)."""

    version: Annotated[int | None, Field(ge=0)] = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, stored: StoredIntegrationSettings) -> SettingsDocument:
        return cls(**stored.settings.model_dump(), version=stored.version, updated_at=stored.updated_at)

    def settings_only(self) -> IntegrationSettings:
        return IntegrationSettings.model_validate(self.model_dump(exclude={"version", "updated_at"}))


class MappingRow(BaseModel):
    """One line of the effective mapping: the ORCID work type and whether the push sends the type."""

    asset_type: str
    work_type: str
    overridden: bool
    selected: bool


def effective_mapping(settings: IntegrationSettings) -> list[MappingRow]:
    """Every asset type with its effective work type, as ``orcid-sync mapping --api`` prints it."""
    return [
        MappingRow(
            asset_type=asset_type,
            work_type=work_type,
            overridden=asset_type in settings.type_overrides,
            selected=settings.selects(asset_type),
        )
        for asset_type, work_type in settings.mapping.items()
    ]


class VersionConflictError(RuntimeError):
    """Someone saved the settings since the version the caller read."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"the settings were changed by someone else (version {actual}, you sent {expected})")
        self.expected = expected
        self.actual = actual


class IntegrationSettingsStore(Protocol):
    def get(self) -> StoredIntegrationSettings:
        """The saved settings, or the defaults at version 0 when none were ever saved."""
        ...

    def save(
        self, settings: IntegrationSettings, *, expected_version: int, at: datetime, by: str | None
    ) -> StoredIntegrationSettings:
        """Store the settings as ``expected_version + 1``; raise ``VersionConflictError`` if that version is gone."""
        ...

"""Domain models: researchers, research assets and ORCID tokens, as the institution and our store see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, StrictBool, ValidationInfo, field_validator

from orcid_sync.domain.identifiers import (
    DoiStr,
    IsbnStr,
    IssnStr,
    OrcidId,
    PartialDateStr,
    PmcidStr,
    PmidStr,
)
from orcid_sync.domain.orcid.vocabulary import CONTRIBUTOR_ROLES, CREDIT_ROLE_PREFIX
from orcid_sync.domain.type_mapping import default_mapping

REQUIRED_SCOPES = frozenset({"/activities/update", "/read-limited"})
"""What we ask researchers for besides /person/update; push needs the first, pull the second."""
PUSH_SCOPE = "/activities/update"
PULL_SCOPE = "/read-limited"
PERSON_SCOPE = "/person/update"
REQUESTED_SCOPES = ("/read-limited", "/activities/update", "/person/update")
ORCID_SCOPES = frozenset(
    {
        # The scopes of API 3.0 (docs/orcid-api.md §1.4).
        "/authenticate",
        "openid",
        "/read-limited",
        "/read-public",
        "/activities/read-limited",
        "/activities/update",
        "/person/read-limited",
        "/person/update",
        "/webhook",
        "/basic-notification",
        "/premium-notification",
        # The finer scopes they stand for, which older integrations requested and ORCID still grants
        # (orcid-model ScopeConstants / ScopePathType).
        "/orcid-profile/read-limited",
        "/orcid-profile/create",
        "/orcid-bio/read-limited",
        "/orcid-bio/update",
        "/orcid-bio/external-identifiers/create",
        "/orcid-works/read-limited",
        "/orcid-works/create",
        "/orcid-works/update",
        "/affiliations/read-limited",
        "/affiliations/create",
        "/affiliations/update",
        "/funding/read-limited",
        "/funding/create",
        "/funding/update",
        "/orcid-patents/read-limited",
        "/orcid-patents/create",
        "/orcid-patents/update",
        "/peer-review/read-limited",
        "/peer-review/create",
        "/peer-review/update",
        "/group-id-record/read",
        "/group-id-record/update",
        "/email/read-private",
    }
)
"""Every scope ORCID grants; anything else in a token row is a typo or not an ORCID token."""


def utc_now() -> datetime:
    return datetime.now(UTC)


EntityId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@~-]*$")]
"""Researcher and asset ids: the repository's own ids, safe in URLs and DynamoDB keys."""

_HANDLE = r"^(?:https?://hdl\.handle\.net/)?\d+(?:\.\d+)*/\S+$"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MULTILINE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def control_character_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` may not be sent on, or None: a control character (U+0000-U+001F, U+007F) anywhere.

    Multi-line fields (abstracts) may hold tabs and line breaks (LF or CRLF); no other field may.
    """
    found = (_MULTILINE_CONTROL if multiline else _CONTROL).search(text)
    if found is None:
        return None
    allowed = "only tabs and line breaks are allowed" if multiline else "no field but an abstract may hold one"
    return f"contains the control character U+{ord(found.group()[0]):04X} at position {found.start() + 1}; {allowed}"


class RefusesControlCharacters(BaseModel):
    """Input models: a control character in any text field is refused naming the field (never sent to ORCID)."""

    multiline_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object, info: ValidationInfo) -> object:
        texts = value if isinstance(value, list) else [value]
        multiline = info.field_name in cls.multiline_fields
        for text in texts:
            if isinstance(text, str) and (problem := control_character_problem(text, multiline=multiline)):
                raise ValueError(problem)
        return value


class OrcidStatus(StrEnum):
    """A researcher's connection to ORCID, as administrators see it."""

    NONE = "none"
    ACTIVE = "active"
    REVOKED = "revoked"
    """ORCID answered 401 invalid_token: the researcher revoked our access, or the token expired or never existed."""
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a status name, not a secret
    """ORCID answered 401/9017: the stored token belongs to another ORCID record than the researcher's iD."""
    DISCONNECTED = "disconnected"


class TokenInvalidReason(StrEnum):
    """Why ORCID refused a stored token; the researcher must connect again (or be given a new token)."""

    INVALID_TOKEN = "invalid_token"  # noqa: S105 - ORCID's OAuth error code, not a secret
    WRONG_RECORD = "wrong_record"

    @property
    def status(self) -> OrcidStatus:
        """The researcher's status once ORCID refused their token for this reason."""
        return OrcidStatus.REVOKED if self is TokenInvalidReason.INVALID_TOKEN else OrcidStatus.TOKEN_INVALID

    @property
    def description(self) -> str:
        if self is TokenInvalidReason.INVALID_TOKEN:
            return "ORCID refused the token (invalid_token): it was revoked, has expired or never existed"
        return "ORCID says the token belongs to a different ORCID record than the researcher's iD (error 9017)"


class _ResearcherFields(BaseModel):
    id: EntityId
    given_names: Annotated[str, Field(min_length=1, max_length=150)]
    family_name: Annotated[str, Field(min_length=1, max_length=150)]
    email: Annotated[str | None, Field(max_length=254)] = None
    orcid: OrcidId | None = None
    update_orcid_profile: StrictBool = True
    position: Annotated[str | None, Field(max_length=4000, validation_alias=AliasChoices("position", "role_title"))] = (
        None
    )
    department: Annotated[str | None, Field(max_length=4000)] = None
    profile_url: Annotated[str | None, Field(max_length=2000, pattern=r"^https?://\S+$")] = None
    active: StrictBool = True
    # The language the researcher reads (invitation emails); unset or another language: English.
    language: Literal["en", "es"] | None = None

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("is not an email address")
        return value


class ResearcherInput(_ResearcherFields, RefusesControlCharacters):
    """A researcher as the institution's systems send it (PUT/POST /researchers)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class Researcher(_ResearcherFields):
    """A researcher as stored: the institution's fields plus the ORCID connection we manage."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    orcid_status: OrcidStatus = OrcidStatus.NONE
    orcid_authenticated: bool = False
    orcid_scopes: list[str] = Field(default_factory=list)
    connected_at: datetime | None = None
    last_sync_at: datetime | None = None
    updated_at: datetime | None = None


ContributorRole = Annotated[str, Field(min_length=1, max_length=200)]


class AssetContributor(RefusesControlCharacters):
    """A contributor of a research asset; ``sequence`` 1 (or "first") marks the first author."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=150)]
    orcid: OrcidId | None = None
    role: ContributorRole | None = None
    sequence: Annotated[int, Field(ge=1)] | Literal["first", "additional"] | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = value.strip().lower().replace(" ", "-").replace("_", "-")
        if normalised in CONTRIBUTOR_ROLES:
            return normalised
        if value.startswith(CREDIT_ROLE_PREFIX):
            return value
        raise ValueError(
            f"{value!r} is not a contributor role ORCID accepts: use one of {sorted(CONTRIBUTOR_ROLES)} "
            f"or a CRediT URI starting with {CREDIT_ROLE_PREFIX}"
        )


class AssetInput(RefusesControlCharacters):
    """A research asset as the institution sends it (PUT/POST /assets)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"abstract"})

    id: EntityId
    researchers: Annotated[list[EntityId], Field(min_length=1, max_length=100)]
    type: Annotated[str, Field(min_length=1, max_length=100)]
    status: Annotated[str, Field(min_length=1, max_length=50)]
    visible: StrictBool
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    subtitle: Annotated[str | None, Field(max_length=1000)] = None
    date: PartialDateStr | None = None
    doi: DoiStr | None = None
    pmid: PmidStr | None = None
    pmcid: PmcidStr | None = None
    isbn: IsbnStr | None = None
    issn: IssnStr | None = None
    handle: Annotated[str | None, Field(max_length=500, pattern=_HANDLE)] = None
    url: Annotated[str | None, Field(max_length=2000, pattern=r"^https?://\S+$")] = None
    container_title: Annotated[str | None, Field(max_length=1000)] = None
    abstract: str | None = None
    language: Annotated[str | None, Field(pattern=r"^[a-z]{2}(?:[_-][A-Za-z]{2,4})?$")] = None
    contributors: Annotated[list[AssetContributor], Field(max_length=10000)] = Field(default_factory=list)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in default_mapping():
            raise ValueError(f"{value!r} is not a known Esploro asset type (see `orcid-sync mapping`)")
        return value

    @field_validator("researchers")
    @classmethod
    def _unique_researchers(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def is_approved(self) -> bool:
        return self.status.lower() == "approved"


class Asset(AssetInput):
    """A research asset as stored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    updated_at: datetime | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object, info: ValidationInfo) -> object:
        # Stored before the rule existed: readable as it was stored (the rule guards new input).
        return value


class TokenGrant(BaseModel):
    """A plaintext ORCID token in memory, from OAuth or an import row; never stored or logged as is."""

    model_config = ConfigDict(frozen=True)

    orcid: OrcidId
    access_token: SecretStr
    refresh_token: SecretStr | None = None
    scopes: frozenset[str]
    expires_at: datetime
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret

    @property
    def can_push(self) -> bool:
        return PUSH_SCOPE in self.scopes

    @property
    def can_pull(self) -> bool:
        return PULL_SCOPE in self.scopes


class TokenSource(StrEnum):
    OAUTH = "oauth"
    IMPORT = "import"


class SealedSecret(BaseModel):
    """An AES-GCM ciphertext and the KMS-encrypted data key that opens it."""

    model_config = ConfigDict(frozen=True)

    data_key: bytes
    nonce: bytes
    ciphertext: bytes


class StoredToken(BaseModel):
    """A researcher's token as stored: encrypted values plus what we may know in the clear."""

    model_config = ConfigDict(extra="ignore")

    researcher_id: EntityId
    orcid: OrcidId
    access_token: SealedSecret
    refresh_token: SealedSecret | None = None
    scopes: list[str]
    expires_at: datetime
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    source: TokenSource
    stored_at: datetime
    revoked_at: datetime | None = None
    # When and why ORCID refused the token (401 invalid_token, or 401/9017 for another record).
    invalid_at: datetime | None = None
    invalid_reason: TokenInvalidReason | None = None
    # HMAC of the token values: lets a resubmitted batch be recognised without decrypting anything.
    fingerprint: str

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.invalid_at is None and self.expires_at > utc_now()

    @property
    def can_push(self) -> bool:
        return self.is_active and PUSH_SCOPE in self.scopes

    @property
    def can_pull(self) -> bool:
        return self.is_active and PULL_SCOPE in self.scopes

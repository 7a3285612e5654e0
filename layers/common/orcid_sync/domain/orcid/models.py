"""Pydantic models of the ORCID API 3.0 JSON we send and read.

Field names are ORCID's keys with ``-`` → ``_`` (``put-code`` → ``put_code``); both spellings are
accepted on input. Keys ORCID adds later are ignored. ``to_orcid_json()`` returns exactly ORCID's
shape: hyphenated keys, no nulls, and none of the read-only keys ORCID sets itself.

Validators enforce ORCID's own rules (``docs/orcid-api.md`` §2.6, §4) and name the error ORCID
would answer with, so a payload that passes here is one ORCID accepts. ORCID's *read* output can
hold values its write rules no longer allow (legacy external-id types, old dates, organisations
without an identifier), so the read-side summaries use the lenient ``Read*`` types; the strict
types subclass them and add the write rules.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orcid_sync.domain.identifiers import OrcidId, PartialDate, parse_orcid
from orcid_sync.domain.orcid.vocabulary import (
    CITATION_TYPES,
    CONTRIBUTOR_ROLES,
    CONTRIBUTOR_SEQUENCES,
    COUNTRIES,
    CREDIT_ROLE_PREFIX,
    DISAMBIGUATION_SOURCES,
    EXTERNAL_ID_TYPES,
    RELATIONSHIPS,
    WORK_TYPE_ALIASES,
    WORK_TYPES,
)

BULK_MAX_WORKS = 100
"""ORCID's limit per bulk request (``org.orcid.core.works.bulk.write.max``)."""

# XSD length limits (common-3.0.xsd, work-3.0.xsd, researcher-url-3.0.xsd); URL limit per SiteConstants.
TITLE_MAX_LENGTH = 1000
SHORT_DESCRIPTION_MAX_LENGTH = 5000
CREDIT_NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 350
URL_NAME_MAX_LENGTH = 350
URL_MAX_LENGTH = 2000
LONG_TEXT_MAX_LENGTH = 4000
SHORT_TEXT_MAX_LENGTH = 500
YEAR_RANGE = (1900, 2100)

# The 14 CRediT roles; ORCID takes them as http://credit.niso.org/contributor-roles/<role>/.
CREDIT_ROLES: frozenset[str] = frozenset(
    {
        "conceptualization",
        "data-curation",
        "formal-analysis",
        "funding-acquisition",
        "investigation",
        "methodology",
        "project-administration",
        "resources",
        "software",
        "supervision",
        "validation",
        "visualization",
        "writing-original-draft",
        "writing-review-editing",
    }
)

_LOCALE = re.compile(r"^[a-zA-Z]{1,8}(?:[-_][a-zA-Z0-9]{1,8})*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@]+@[^.]+\..+$")
_ORCID_URI = re.compile(r"^https://(?:[^/]*orcid\.org|localhost.*/orcid-web)/((?:\d{4}-){3}\d{3}[\dX])$")
_ROR_ID = re.compile(r"^https://ror\.org/0[0-9a-z]{6}[0-9]{2}$")
_DUPLICATE_PUT_CODE = re.compile(r"put-code\s+(\d+)")
_DIGITS = re.compile(r"^[0-9]+$")

TITLE_REQUIRED = "work title is required (ORCID error 9022)"
SELF_ID_REQUIRED = "a work needs at least one external id with relationship 'self' (ORCID error 9023)"


def _orcid_key(name: str) -> str:
    return name.replace("_", "-")


def _check_length(text: str, limit: int, what: str) -> str:
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text)} characters long; ORCID allows at most {limit} (ORCID error 9047)")
    return text


def _check_text(text: str, limit: int, what: str) -> str:
    """XSD ``non-empty-string`` with a maximum length."""
    if not text.strip():
        raise ValueError(f"{what} must not be empty; leave it out instead (ORCID error 9047)")
    return _check_length(text, limit, what)


def _check_country(code: str, what: str) -> str:
    if not _COUNTRY.fullmatch(code) or code not in COUNTRIES:
        raise ValueError(f"{what} {code!r} is not an ISO 3166-1 alpha-2 code like 'US' (ORCID error 9037)")
    return code


def _check_language(code: str, what: str) -> str:
    if not _LOCALE.fullmatch(code):
        raise ValueError(f"{what} {code!r} is not a language code like 'en' or 'zh_CN' (ORCID error 9037)")
    return code


def _one_of(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


class OrcidModel(BaseModel):
    """Base of every ORCID payload: hyphenated keys, unknown keys ignored, ORCID's write shape on demand."""

    model_config = ConfigDict(alias_generator=_orcid_key, validate_by_name=True, validate_by_alias=True, extra="ignore")

    READ_ONLY_KEYS: ClassVar[frozenset[str]] = frozenset()
    """ORCID keys that ORCID sets itself; a client must not send them."""

    def to_orcid_json(self) -> dict[str, Any]:
        """The body ORCID expects: ORCID's keys, no nulls, no read-only keys."""
        data: dict[str, Any] = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude=_read_only_fields(self)
        )
        return data


def _models_in(annotation: Any) -> list[type[OrcidModel]]:
    """The ORCID models a field's type can hold (directly, in a list, a union or an ``Annotated``)."""
    if isinstance(annotation, type) and issubclass(annotation, OrcidModel):
        return [annotation]
    return [model for argument in get_args(annotation) for model in _models_in(argument)]


@cache
def _field_plan(model_class: type[OrcidModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A class's read-only fields, and the fields whose models can hold read-only ones: worked out once per class.

    A bulk POST serialises 100 works; walking every nested model of every work to find the few read-only keys
    (a work's own, its external ids' normalised values) was a measurable share of the push worker's CPU.
    """
    fields = model_class.model_fields
    read_only = tuple(name for name, field in fields.items() if field.alias in model_class.READ_ONLY_KEYS)
    nested = tuple(
        name
        for name, field in fields.items()
        if name not in read_only and any(_can_hold_read_only(model) for model in _models_in(field.annotation))
    )
    return read_only, nested


@cache
def _can_hold_read_only(model_class: type[OrcidModel]) -> bool:
    """Whether a model, or any model it can nest, has a read-only key (ORCID's models nest without cycles)."""
    read_only, nested = _field_plan(model_class)
    return bool(read_only or nested)


def _read_only_fields(model: OrcidModel) -> dict[str, Any]:
    """A ``model_dump`` exclude spec naming every read-only field in the model tree."""
    read_only, nested = _field_plan(type(model))
    exclude: dict[str, Any] = dict.fromkeys(read_only, True)
    for name in nested:
        value = getattr(model, name)
        if isinstance(value, OrcidModel):
            if spec := _read_only_fields(value):
                exclude[name] = spec
        elif isinstance(value, list):
            items = {
                i: spec
                for i, item in enumerate(value)
                if isinstance(item, OrcidModel) and (spec := _read_only_fields(item))
            }
            if items:
                exclude[name] = items
    return exclude


# --- value wrappers ------------------------------------------------------------------------------


class StringValue(OrcidModel):
    """ORCID's ``{"value": "…"}`` wrapper."""

    value: str

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_string(cls, data: Any) -> Any:
        # ORCID's Jackson mapping builds these from a bare JSON string too (the bulk samples use it).
        return {"value": data} if isinstance(data, str) else data


class Timestamp(OrcidModel):
    """``created-date`` / ``last-modified-date``: epoch milliseconds in JSON."""

    value: int

    @property
    def as_datetime(self) -> datetime:
        """The instant as an aware UTC datetime."""
        return datetime.fromtimestamp(self.value / 1000, tz=UTC)


class ReadFuzzyDate(OrcidModel):
    """A year, year-month or full date as ORCID returns it (not re-validated)."""

    year: StringValue | None = None
    month: StringValue | None = None
    day: StringValue | None = None

    @property
    def text(self) -> str:
        """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (empty when there is no year)."""
        parts: list[str] = []
        for part in (self.year, self.month, self.day):
            if part is None:
                break
            parts.append(part.value)
        return "-".join(parts)


class FuzzyDate(ReadFuzzyDate):
    """A date we send: zero-padded ``{"value": "2022"}`` parts, year 1900-2100, no day without a month."""

    @field_validator("year", mode="before")
    @classmethod
    def _pad_year(cls, value: Any) -> Any:
        return _padded_date_part(value, 4, "year")

    @field_validator("month", "day", mode="before")
    @classmethod
    def _pad_month_day(cls, value: Any) -> Any:
        return _padded_date_part(value, 2, "month or day")

    @model_validator(mode="after")
    def _check_calendar(self) -> FuzzyDate:
        if self.year is None:
            missing = "a month without a year" if self.month is not None else "no year"
            raise ValueError(f"a date cannot have {missing} (ORCID error 9049)")
        if self.day is not None and self.month is None:
            raise ValueError("a date cannot have a day without a month (ORCID error 9049)")
        year = int(self.year.value)
        if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
            raise ValueError(f"year {year} is outside {YEAR_RANGE[0]}-{YEAR_RANGE[1]} (ORCID error 9049)")
        if self.month is not None:
            month = int(self.month.value)
            if not 1 <= month <= 12:
                raise ValueError(f"month {self.month.value} is not between 01 and 12 (ORCID error 9049)")
            if self.day is not None:
                day = int(self.day.value)
                if not 1 <= day <= calendar.monthrange(year, month)[1]:
                    raise ValueError(f"{self.text} is not a calendar date (ORCID error 9049)")
        return self

    @classmethod
    def of(cls, year: int, month: int | None = None, day: int | None = None) -> FuzzyDate:
        """Build from numbers: ``FuzzyDate.of(2022, 5)`` → 2022-05."""
        return cls(
            year=StringValue(value=str(year)),
            month=None if month is None else StringValue(value=str(month)),
            day=None if day is None else StringValue(value=str(day)),
        )

    @classmethod
    def from_partial_date(cls, date: PartialDate) -> FuzzyDate:
        """Build from the repository's ``PartialDate``."""
        return cls.of(date.year, date.month, date.day)

    def as_partial_date(self) -> PartialDate:
        """The date as numbers."""
        assert self.year is not None  # the model validator guarantees it
        return PartialDate(
            year=int(self.year.value),
            month=None if self.month is None else int(self.month.value),
            day=None if self.day is None else int(self.day.value),
        )

    def _sort_key(self) -> tuple[int, ...]:
        date = self.as_partial_date()
        return tuple(part for part in (date.year, date.month, date.day) if part is not None)


PublicationDate = FuzzyDate
"""A work's ``publication-date`` is an ORCID fuzzy date."""


def _padded_date_part(value: Any, width: int, what: str) -> Any:
    if value is None:
        return None
    raw = value.value if isinstance(value, StringValue) else value.get("value") if isinstance(value, dict) else value
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw.strip()):
        raise ValueError(f"{what} must be digits, not {raw!r} (ORCID error 9049)")
    return {"value": raw.strip().zfill(width)}


# --- external identifiers --------------------------------------------------------------------------


class NormalizedValue(OrcidModel):
    """ORCID's transient ``external-id-normalized`` (read-only)."""

    value: str
    transient: bool = True


class NormalizationError(OrcidModel):
    """ORCID's transient ``external-id-normalized-error`` (read-only)."""

    error_code: str | None = None
    error_message: str | None = None
    transient: bool = True


class ReadExternalId(OrcidModel):
    """An external identifier as ORCID returns it; its type may be one ORCID no longer accepts on write."""

    READ_ONLY_KEYS = frozenset({"external-id-normalized", "external-id-normalized-error"})

    external_id_type: str
    external_id_value: str
    external_id_normalized: NormalizedValue | None = None
    external_id_normalized_error: NormalizationError | None = None
    external_id_url: StringValue | None = None
    external_id_relationship: str | None = None

    @property
    def comparable_value(self) -> str:
        """ORCID's normalised value when it sent one (its grouping and duplicate key), else the raw value."""
        if self.external_id_normalized is not None and self.external_id_normalized.value:
            return self.external_id_normalized.value
        return self.external_id_value


class ExternalId(ReadExternalId):
    """An external identifier we send: a known type, a value, and a relationship (ORCID error 9023)."""

    @field_validator("external_id_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EXTERNAL_ID_TYPES:
            guess = value.strip().lower().replace("_", "-")
            hint = f"; did you mean {guess!r}?" if guess in EXTERNAL_ID_TYPES else ""
            raise ValueError(f"unknown external-id type {value!r} (ORCID error 9023){hint}")
        return value

    @field_validator("external_id_value")
    @classmethod
    def _non_empty_value(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("external-id-value must not be empty (ORCID error 9023)")
        return value

    @field_validator("external_id_relationship")
    @classmethod
    def _known_relationship(cls, value: str | None) -> str | None:
        if value is not None and value not in RELATIONSHIPS:
            raise ValueError(
                f"external-id-relationship {value!r} is not one of {_one_of(RELATIONSHIPS)} (ORCID error 9023)"
            )
        return value

    @model_validator(mode="after")
    def _relationship_required(self) -> ExternalId:
        if self.external_id_relationship is None:
            raise ValueError(
                f"external id {self.external_id_type}:{self.external_id_value} needs an "
                "external-id-relationship (ORCID error 9023)"
            )
        return self


class ReadExternalIds(OrcidModel):
    """``external-ids`` as ORCID returns them."""

    external_id: list[ReadExternalId] = Field(default_factory=list)


class ExternalIds(OrcidModel):
    """``external-ids`` we send."""

    external_id: list[ExternalId] = Field(default_factory=list)


# --- sources -------------------------------------------------------------------------------------


class OrcidIdentifier(OrcidModel):
    """ORCID's ``{uri, path, host}`` naming an iD or an API client (``APP-…``)."""

    uri: str | None = None
    path: str | None = None
    host: str | None = None


class Source(OrcidModel):
    """Who added an item: a user (``source-orcid``) or a client, possibly on behalf of another."""

    source_orcid: OrcidIdentifier | None = None
    source_client: OrcidIdentifier | None = Field(default=None, alias="source-client-id")
    source_name: StringValue | None = None
    assertion_origin_orcid: OrcidIdentifier | None = None
    assertion_origin_client: OrcidIdentifier | None = Field(default=None, alias="assertion-origin-client-id")
    assertion_origin_name: StringValue | None = None

    @property
    def client_id(self) -> str | None:
        """The client that is the source (``source-client-id.path``), if any."""
        return self.source_client.path if self.source_client else None

    @property
    def assertion_origin_client_id(self) -> str | None:
        """The client the source wrote on behalf of (``assertion-origin-client-id.path``), if any."""
        return self.assertion_origin_client.path if self.assertion_origin_client else None

    def is_client(self, client_id: str) -> bool:
        """True when ``client_id`` is the source or the assertion origin of the item."""
        return client_id in (self.client_id, self.assertion_origin_client_id)


class OrcidItem(OrcidModel):
    """Fields ORCID sets on every activity or person item; ``put-code`` is sent only on PUT."""

    READ_ONLY_KEYS = frozenset(
        {"put-code", "created-date", "last-modified-date", "source", "path", "visibility", "display-index"}
    )

    put_code: int | None = None
    created_date: Timestamp | None = None
    last_modified_date: Timestamp | None = None
    source: Source | None = None
    path: str | None = None
    visibility: str | None = None
    display_index: int | str | None = None  # ORCID sends "0" for works, 2 for researcher-urls

    def to_orcid_json(self, include_put_code: bool = False) -> dict[str, Any]:
        """The write body: for POST without a put-code (ORCID error 9024), for PUT with it (9019)."""
        data = super().to_orcid_json()
        if not include_put_code:
            return data
        if self.put_code is None:
            raise ValueError(f"a PUT body must carry the {type(self).__name__}'s put-code (ORCID error 9019)")
        return {"put-code": self.put_code, **data}


# --- works ---------------------------------------------------------------------------------------


class TranslatedTitle(OrcidModel):
    """A title in another language; ORCID requires its language code."""

    value: str
    language_code: str

    @field_validator("value")
    @classmethod
    def _title_length(cls, value: str) -> str:
        return _check_text(value, TITLE_MAX_LENGTH, "translated-title")

    @field_validator("language_code")
    @classmethod
    def _language(cls, value: str) -> str:
        return _check_language(value, "translated-title language-code")


class WorkTitle(OrcidModel):
    """``title``: the title (required), optional subtitle and translated title."""

    title: StringValue
    subtitle: StringValue | None = None
    translated_title: TranslatedTitle | None = None

    @model_validator(mode="before")
    @classmethod
    def _title_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("title") is None:
            raise ValueError(TITLE_REQUIRED)
        return data

    @field_validator("title")
    @classmethod
    def _title_text(cls, value: StringValue) -> StringValue:
        if not value.value.strip():
            raise ValueError(TITLE_REQUIRED)
        _check_length(value.value, TITLE_MAX_LENGTH, "work title")
        return value

    @field_validator("subtitle")
    @classmethod
    def _subtitle_length(cls, value: StringValue | None) -> StringValue | None:
        if value is not None:
            _check_length(value.value, TITLE_MAX_LENGTH, "subtitle")
        return value


class Citation(OrcidModel):
    """A citation: a known ``citation-type`` and a non-empty value (ORCID error 9020)."""

    citation_type: str
    citation_value: str

    @field_validator("citation_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in CITATION_TYPES:
            raise ValueError(f"citation-type {value!r} is not one of {_one_of(CITATION_TYPES)} (ORCID error 9020)")
        return value

    @field_validator("citation_value")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("citation-value must not be empty (ORCID error 9020)")
        return value


class ContributorOrcid(OrcidIdentifier):
    """A contributor's iD; path and uri must be valid iDs and name the same one."""

    @model_validator(mode="after")
    def _valid_orcid(self) -> ContributorOrcid:
        if self.path is None and self.uri is None:
            raise ValueError("contributor-orcid needs a path or a uri")
        if self.path is not None:
            self.path = parse_orcid(self.path)
        if self.uri is not None:
            match = _ORCID_URI.fullmatch(self.uri)
            if match is None:
                raise ValueError(f"contributor-orcid uri {self.uri!r} is not an iD URI like https://orcid.org/<iD>")
            uri_orcid = parse_orcid(match.group(1))
            if self.path is not None and uri_orcid != self.path:
                raise ValueError(f"contributor-orcid uri {self.uri!r} and path {self.path!r} name different iDs")
        return self

    @classmethod
    def of(cls, orcid: str, *, sandbox: bool = False) -> ContributorOrcid:
        """The ``{uri, path, host}`` for an iD on production or sandbox ORCID."""
        path = parse_orcid(orcid)
        host = "sandbox.orcid.org" if sandbox else "orcid.org"
        return cls(uri=f"https://{host}/{path}", path=path, host=host)


class ContributorAttributes(OrcidModel):
    """A contributor's sequence (first/additional) and role (ORCID's legacy role or a CRediT role URI)."""

    contributor_sequence: str | None = None
    contributor_role: str | None = None

    @field_validator("contributor_sequence")
    @classmethod
    def _known_sequence(cls, value: str | None) -> str | None:
        if value is not None and value not in CONTRIBUTOR_SEQUENCES:
            raise ValueError(f"contributor-sequence {value!r} is not one of {_one_of(CONTRIBUTOR_SEQUENCES)}")
        return value

    @field_validator("contributor_role")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value is None or value in CONTRIBUTOR_ROLES:
            return value
        credit_role = value.removeprefix(CREDIT_ROLE_PREFIX).removesuffix("/")
        if value.startswith(CREDIT_ROLE_PREFIX) and credit_role in CREDIT_ROLES:
            return f"{CREDIT_ROLE_PREFIX}{credit_role}/"
        raise ValueError(
            f"contributor-role {value!r} is neither one of {_one_of(CONTRIBUTOR_ROLES)} "
            f"nor a CRediT role URI {CREDIT_ROLE_PREFIX}<role>/"
        )


class Contributor(OrcidModel):
    """One contributor of a work."""

    contributor_orcid: ContributorOrcid | None = None
    credit_name: StringValue | None = None
    contributor_email: str | None = None
    contributor_attributes: ContributorAttributes | None = None

    @field_validator("credit_name")
    @classmethod
    def _credit_name(cls, value: StringValue | None) -> StringValue | None:
        if value is not None:
            _check_text(value.value, CREDIT_NAME_MAX_LENGTH, "credit-name")
        return value

    @field_validator("contributor_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None:
            _check_length(value, EMAIL_MAX_LENGTH, "contributor-email")
            if not _EMAIL.fullmatch(value):
                raise ValueError(f"contributor-email {value!r} is not an email address (ORCID error 9047)")
        return value


class Contributors(OrcidModel):
    """``contributors`` of a work."""

    contributor: list[Contributor] = Field(default_factory=list)


class Work(OrcidItem):
    """A full work: what we POST/PUT and what ORCID returns for one work."""

    title: WorkTitle
    journal_title: StringValue | None = None
    short_description: str | None = None
    citation: Citation | None = None
    type: str
    publication_date: FuzzyDate | None = None
    external_ids: ExternalIds
    url: StringValue | None = None
    contributors: Contributors | None = None
    language_code: str | None = None
    country: StringValue | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_parts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("title") is None:
                raise ValueError(TITLE_REQUIRED)
            if data.get("type") is None:
                raise ValueError("work type is required (ORCID error 9037)")
            if data.get("external-ids", data.get("external_ids")) is None:
                raise ValueError(SELF_ID_REQUIRED)
        return data

    @field_validator("type")
    @classmethod
    def _known_work_type(cls, value: str) -> str:
        resolved = WORK_TYPE_ALIASES.get(value, value)
        if resolved not in WORK_TYPES:
            raise ValueError(f"{value!r} is not an ORCID API 3.0 work type (ORCID error 9037)")
        return resolved

    @field_validator("journal_title")
    @classmethod
    def _journal_title(cls, value: StringValue | None) -> StringValue | None:
        if value is not None:
            _check_text(value.value, TITLE_MAX_LENGTH, "journal-title")
        return value

    @field_validator("short_description")
    @classmethod
    def _short_description(cls, value: str | None) -> str | None:
        return None if value is None else _check_length(value, SHORT_DESCRIPTION_MAX_LENGTH, "short-description")

    @field_validator("language_code")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else _check_language(value, "language-code")

    @field_validator("country")
    @classmethod
    def _country(cls, value: StringValue | None) -> StringValue | None:
        if value is not None:
            _check_country(value.value, "country")
        return value

    @model_validator(mode="after")
    def _has_self_id(self) -> Work:
        if not any(eid.external_id_relationship == "self" for eid in self.external_ids.external_id):
            raise ValueError(SELF_ID_REQUIRED)
        return self


class WorkSummary(OrcidItem):
    """One source's version of a work in ``GET /works`` (no contributors, citation or description)."""

    title: WorkTitle | None = None
    external_ids: ReadExternalIds | None = None
    url: StringValue | None = None
    type: str | None = None
    publication_date: ReadFuzzyDate | None = None
    journal_title: StringValue | None = None


class WorkGroup(OrcidModel):
    """Works ORCID grouped as one logical work (by shared identifiers): one summary per source."""

    last_modified_date: Timestamp | None = None
    external_ids: ReadExternalIds | None = None
    work_summary: list[WorkSummary] = Field(default_factory=list)


class Works(OrcidModel):
    """The ``GET /v3.0/{orcid}/works`` response."""

    last_modified_date: Timestamp | None = None
    group: list[WorkGroup] = Field(default_factory=list)
    path: str | None = None

    @property
    def work_summaries(self) -> list[WorkSummary]:
        """Every summary of every group, in ORCID's order."""
        return [summary for group in self.group for summary in group.work_summary]


# --- errors and bulk -------------------------------------------------------------------------------


class OrcidError(OrcidModel):
    """ORCID's error body (every non-OAuth error, and failed items of a bulk response)."""

    response_code: int
    developer_message: str | None = None
    user_message: str | None = None
    error_code: int | None = None
    more_info: str | None = None

    @property
    def duplicate_put_code(self) -> int | None:
        """For a 9021 duplicate, the put-code of the work we already added (named in the message)."""
        if self.error_code != 9021 or not self.developer_message:
            return None
        match = _DUPLICATE_PUT_CODE.search(self.developer_message)
        return int(match.group(1)) if match else None


class BulkWork(OrcidModel):
    """A ``{"work": …}`` element of a bulk body."""

    work: Work


class BulkError(OrcidModel):
    """An ``{"error": …}`` element of a bulk response."""

    error: OrcidError


class BulkWorkRequest(OrcidModel):
    """The body of ``POST /works``: 1 to 100 works, none with a put-code."""

    bulk: list[BulkWork]

    @field_validator("bulk")
    @classmethod
    def _size(cls, value: list[BulkWork]) -> list[BulkWork]:
        if not value:
            raise ValueError("a bulk request needs at least one work")
        if len(value) > BULK_MAX_WORKS:
            raise ValueError(
                f"a bulk request holds at most {BULK_MAX_WORKS} works, not {len(value)} (ORCID error 9006); "
                "split it into several requests"
            )
        return value

    @classmethod
    def of(cls, works: Iterable[Work]) -> BulkWorkRequest:
        """Wrap works in a bulk body."""
        return cls(bulk=[BulkWork(work=work) for work in works])

    @property
    def works(self) -> list[Work]:
        """The works, in order."""
        return [item.work for item in self.bulk]


def _bulk_item_kind(item: Any) -> str | None:
    if isinstance(item, dict):
        return "work" if "work" in item else "error" if "error" in item else None
    return "work" if isinstance(item, BulkWork) else "error" if isinstance(item, BulkError) else None


BulkItem = Annotated[
    Annotated[BulkWork, Tag("work")] | Annotated[BulkError, Tag("error")], Discriminator(_bulk_item_kind)
]


class BulkWorkResponse(OrcidModel):
    """ORCID's answer to a bulk POST or a bulk GET: per item, in request order, the work or its error."""

    bulk: list[BulkItem] = Field(default_factory=list)

    @classmethod
    def of(cls, items: Iterable[Work | OrcidError]) -> BulkWorkResponse:
        """Build a response from works and errors (used by the local ORCID sandbox and tests)."""
        return cls(bulk=[BulkWork(work=item) if isinstance(item, Work) else BulkError(error=item) for item in items])

    @property
    def items(self) -> list[Work | OrcidError]:
        """Each item: the saved ``Work`` (with its put-code) or the ``OrcidError`` for that item."""
        return [item.work if isinstance(item, BulkWork) else item.error for item in self.bulk]


# --- researcher URLs -----------------------------------------------------------------------------


class ResearcherUrl(OrcidItem):
    """A link on the researcher's record (``/researcher-urls``)."""

    url_name: str | None = None
    url: StringValue

    @model_validator(mode="before")
    @classmethod
    def _url_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url") is None:
            raise ValueError("researcher-url needs a url")
        return data

    @field_validator("url_name")
    @classmethod
    def _name_length(cls, value: str | None) -> str | None:
        return None if value is None else _check_text(value, URL_NAME_MAX_LENGTH, "url-name")

    @field_validator("url")
    @classmethod
    def _url_length(cls, value: StringValue) -> StringValue:
        _check_text(value.value, URL_MAX_LENGTH, "researcher-url url")
        return value


class ResearcherUrls(OrcidModel):
    """The ``GET /researcher-urls`` response."""

    last_modified_date: Timestamp | None = None
    researcher_url: list[ResearcherUrl] = Field(default_factory=list)
    path: str | None = None


# --- employment ----------------------------------------------------------------------------------


class OrganizationAddress(OrcidModel):
    """An organisation's city, region and ISO 3166-1 alpha-2 country."""

    city: str | None = None
    region: str | None = None
    country: str | None = None


class DisambiguatedOrganization(OrcidModel):
    """The organisation identifier (ROR, GRID, FUNDREF, LEI, RINGGOLD) ORCID looks up."""

    disambiguated_organization_identifier: str
    disambiguation_source: str


class ReadOrganization(OrcidModel):
    """An organisation as ORCID returns it (older ones may lack an identifier or address)."""

    name: str | None = None
    address: OrganizationAddress | None = None
    disambiguated_organization: DisambiguatedOrganization | None = None


class Organization(ReadOrganization):
    """An organisation we send: name, city and country, and an identifier ORCID knows."""

    @model_validator(mode="after")
    def _complete(self) -> Organization:
        if self.name is None or not self.name.strip():
            raise ValueError("organization name is required (ORCID error 9046)")
        _check_length(self.name, LONG_TEXT_MAX_LENGTH, "organization name")
        address = self.address
        if address is None or not (address.city or "").strip() or not (address.country or "").strip():
            raise ValueError("organization address needs a city and a country (ORCID error 9060)")
        assert address.city is not None and address.country is not None  # checked just above
        _check_length(address.city, LONG_TEXT_MAX_LENGTH, "organization city")
        if address.region is not None:
            _check_text(address.region, LONG_TEXT_MAX_LENGTH, "organization region")
        _check_country(address.country, "organization country")
        self._check_disambiguation(self.disambiguated_organization)
        return self

    @staticmethod
    def _check_disambiguation(org: DisambiguatedOrganization | None) -> None:
        if org is None or not org.disambiguated_organization_identifier.strip():
            raise ValueError("organization needs a disambiguated-organization identifier (ORCID error 9045)")
        if org.disambiguation_source not in DISAMBIGUATION_SOURCES:
            raise ValueError(
                f"disambiguation-source {org.disambiguation_source!r} is not one of "
                f"{_one_of(DISAMBIGUATION_SOURCES)} (ORCID error 9045)"
            )
        identifier = org.disambiguated_organization_identifier
        _check_length(identifier, SHORT_TEXT_MAX_LENGTH, "disambiguated-organization-identifier")
        if org.disambiguation_source == "ROR" and not _ROR_ID.fullmatch(identifier):
            raise ValueError(
                f"ROR identifier {identifier!r} must be the full URL ORCID stores, like https://ror.org/05qwgg493 "
                "(ORCID error 9045)"
            )


class Employment(OrcidItem):
    """An employment affiliation we send (and ORCID returns for one put-code)."""

    department_name: str | None = None
    role_title: str | None = None
    start_date: FuzzyDate | None = None
    end_date: FuzzyDate | None = None
    organization: Organization
    url: StringValue | None = None
    external_ids: ExternalIds | None = None

    @model_validator(mode="before")
    @classmethod
    def _organization_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("organization") is None:
            raise ValueError("an employment needs an organization (ORCID error 9046)")
        return data

    @field_validator("department_name", "role_title")
    @classmethod
    def _long_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        return (
            None if value is None else _check_text(value, LONG_TEXT_MAX_LENGTH, _orcid_key(info.field_name or "text"))
        )

    @model_validator(mode="after")
    def _dates_in_order(self) -> Employment:
        if self.end_date is not None and self.start_date is None:
            raise ValueError("an employment with an end date needs a start date (ORCID error 9050)")
        if self.start_date is not None and self.end_date is not None:
            start, end = self.start_date._sort_key(), self.end_date._sort_key()
            common = min(len(start), len(end))
            if start[:common] > end[:common]:
                raise ValueError(
                    f"start date {self.start_date.text} is after end date {self.end_date.text} (ORCID error 9055)"
                )
        return self


class EmploymentSummary(OrcidItem):
    """An employment in ``GET /employments`` (not re-validated)."""

    department_name: str | None = None
    role_title: str | None = None
    start_date: ReadFuzzyDate | None = None
    end_date: ReadFuzzyDate | None = None
    organization: ReadOrganization | None = None
    url: StringValue | None = None
    external_ids: ReadExternalIds | None = None


class EmploymentSummaryEntry(OrcidModel):
    """A ``{"employment-summary": …}`` element of an affiliation group."""

    employment_summary: EmploymentSummary


class AffiliationGroup(OrcidModel):
    """Employments ORCID grouped together (by shared identifiers)."""

    last_modified_date: Timestamp | None = None
    external_ids: ReadExternalIds | None = None
    summaries: list[EmploymentSummaryEntry] = Field(default_factory=list)


class Employments(OrcidModel):
    """The ``GET /v3.0/{orcid}/employments`` response."""

    last_modified_date: Timestamp | None = None
    affiliation_group: list[AffiliationGroup] = Field(default_factory=list)
    path: str | None = None

    @property
    def employment_summaries(self) -> list[EmploymentSummary]:
        """Every employment of every group, in ORCID's order."""
        return [entry.employment_summary for group in self.affiliation_group for entry in group.summaries]


# --- OAuth ---------------------------------------------------------------------------------------


class OAuthToken(BaseModel):
    """The ``/oauth/token`` response; the tokens stay ``SecretStr`` so they never reach a log."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    token_type: str
    expires_in: int = Field(ge=0)
    scope: str
    name: str | None = None
    orcid: OrcidId | None = None
    id_token: SecretStr | None = None
    """ORCID's signed OpenID ``id_token``, present when the code was granted with the ``openid`` scope."""

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes (``scope`` is space-separated)."""
        return frozenset(self.scope.split())

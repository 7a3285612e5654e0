"""What the local OAI-PMH provider stores: one repository item, as its platform (DSpace, EPrints, Esploro,
DataCite) describes it. The writers (:mod:`.writers`) turn an item into ``oai_dc`` and ``oai_datacite`` the way that
platform does.

Items arrive as JSON through ``/_provider/records`` or from :mod:`.fixtures`; pydantic refuses unknown fields and
names the bad one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"


class Platform(StrEnum):
    """Whose OAI-PMH output an item imitates."""

    DSPACE = "dspace"
    EPRINTS = "eprints"
    ESPLORO = "esploro"
    DATACITE = "datacite"


def utc_now() -> datetime:
    """Now, to the second, as the naive UTC datetime pyoai's server expects."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


def parse_datestamp(value: str) -> datetime:
    """``YYYY-MM-DDThh:mm:ssZ`` or ``YYYY-MM-DD`` to a naive UTC datetime; ``ValueError`` says what is wrong."""
    text = value.strip()
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not an OAI-PMH datestamp (YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DD)")


def format_datestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


NonEmpty = Annotated[str, Field(min_length=1, max_length=2000)]


class Creator(BaseModel):
    """An author as the platform lists them. ``orcid`` is written as given (bare iD or ``https://orcid.org/`` URI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    """``Family, Given`` as repositories write ``dc:creator``."""
    given_name: str | None = None
    family_name: str | None = None
    orcid: str | None = None
    local_id: str | None = None
    """The institution's own id for the person (DataCite ``nameIdentifier nameIdentifierScheme="local"``)."""
    affiliation: str | None = None


class ProviderRecord(BaseModel):
    """One item of the repository. ``datestamp`` is set by the store (now) when absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: NonEmpty
    platform: Platform
    type: NonEmpty
    """The platform's own type value: DSpace ``dc.type`` ("Article", "Book chapter"), EPrints ``eprint.type``
    ("article", "book_section"), Esploro's asset type ("publication.journalArticle"), DataCite's
    ``resourceTypeGeneral`` ("Dataset")."""
    title: NonEmpty
    datestamp: datetime | None = None
    sets: tuple[str, ...] = ()
    deleted: bool = False
    coar_type: str | None = None
    """A COAR resource type URI (DSpace 7 writes one beside, or instead of, its ``dc.type`` label)."""
    resource_type_general: str | None = None
    """DataCite's ``resourceTypeGeneral`` in ``oai_datacite``; derived from ``type`` when absent."""
    creators: tuple[Creator, ...] = ()
    date: str | None = None
    """Issued: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    doi: str | None = None
    """As the platform writes it: ``https://doi.org/10…`` (DSpace), ``doi:10…`` (EPrints) or bare ``10…``."""
    handle: str | None = None
    """``http://hdl.handle.net/…`` (DSpace)."""
    urls: tuple[str, ...] = ()
    isbn: str | None = None
    issn: str | None = None
    pmid: str | None = None
    journal: str | None = None
    publisher: str | None = None
    abstract: str | None = None
    language: str | None = None
    subjects: tuple[str, ...] = ()
    rights: str | None = None

    @field_validator("identifier")
    @classmethod
    def _no_whitespace(cls, value: str) -> str:
        if value != value.strip() or any(character.isspace() for character in value):
            raise ValueError("an OAI identifier has no whitespace")
        return value

    @field_validator("datestamp", mode="before")
    @classmethod
    def _datestamp(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_datestamp(value)
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    @field_validator("sets")
    @classmethod
    def _set_specs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for spec in value:
            if not spec or any(character.isspace() for character in spec):
                raise ValueError(f"setSpec {spec!r} must be non-empty without whitespace")
        return value

    @field_serializer("datestamp")
    def _datestamp_out(self, value: datetime | None) -> str | None:
        return format_datestamp(value) if value else None

    def summary(self) -> dict[str, object]:
        """What ``GET /_provider/records`` lists."""
        return {
            "identifier": self.identifier,
            "datestamp": format_datestamp(self.datestamp) if self.datestamp else None,
            "deleted": self.deleted,
            "sets": list(self.sets),
            "platform": self.platform.value,
            "type": self.type,
            "title": self.title,
        }

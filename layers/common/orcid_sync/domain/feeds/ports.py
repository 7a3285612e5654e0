"""What a harvest needs from an OAI-PMH endpoint, as plain values (the adapter speaks the protocol and XML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class OaiEndpointError(Exception):
    """The endpoint cannot be harvested now: unreachable, an OAI-PMH error other than noRecordsMatch, bad XML,
    or still 503 after the retries. The message says which, in words an administrator can act on."""


class BadResumptionTokenError(OaiEndpointError):
    """The endpoint no longer knows the resumption token (``badResumptionToken``): the harvest must restart."""


@dataclass(frozen=True)
class HarvestedRecord:
    """One record of a ``ListRecords`` page."""

    identifier: str
    """The OAI identifier, e.g. ``oai:dspace.example.edu:123456789/42``."""
    datestamp: str
    """As the endpoint wrote it (its granularity kept)."""
    deleted: bool
    """``<header status="deleted">``: the item was withdrawn from the repository."""
    set_specs: tuple[str, ...] = ()
    metadata_xml: bytes | None = None
    """The single child of ``<metadata>`` (e.g. ``<oai_dc:dc>``), serialised; ``None`` for a deleted record."""


@dataclass(frozen=True)
class RecordPage:
    """One ``ListRecords`` answer. ``noRecordsMatch`` is an empty page with no token, not an error."""

    records: list[HarvestedRecord]
    resumption_token: str | None
    """The token for the next page; ``None`` when this page is the last."""
    response_date: str
    """``<responseDate>``: the next incremental harvest asks ``from`` this (at the endpoint's granularity)."""
    complete_list_size: int | None = None


@dataclass(frozen=True)
class EndpointDescription:
    """``Identify``, ``ListMetadataFormats`` and ``ListSets``, for configuring and testing a feed."""

    repository_name: str
    base_url: str
    protocol_version: str
    granularity: str
    """``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ssZ``."""
    earliest_datestamp: str
    deleted_record: str
    """``no``, ``transient`` or ``persistent``."""
    metadata_prefixes: tuple[str, ...]
    sets: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """``(setSpec, setName)`` pairs; empty when the endpoint has no sets."""


class OaiHarvester(Protocol):
    """An OAI-PMH client, one request (after its own retries) per call."""

    def describe(self, base_url: str) -> EndpointDescription: ...

    def list_records(
        self,
        base_url: str,
        *,
        metadata_prefix: str,
        set_spec: str | None = None,
        from_: str | None = None,
        resumption_token: str | None = None,
    ) -> RecordPage:
        """One page: the first (``metadata_prefix``, ``set_spec``, ``from_``) or the next (``resumption_token``
        alone, as OAI-PMH requires). Retries 503 with ``Retry-After`` and network errors with backoff."""
        ...

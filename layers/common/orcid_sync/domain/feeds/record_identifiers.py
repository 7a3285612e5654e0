"""The identifiers a harvested record carries (DOI, Handle, ISBN, ISSN, PMID, PMCID, URI): recognised by their
form (``oai_dc``'s free text) or by the type DataCite names, and how they relate to the record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class IdScheme(StrEnum):
    DOI = "doi"
    HANDLE = "handle"
    ISBN = "isbn"
    ISSN = "issn"
    PMID = "pmid"
    PMCID = "pmcid"
    URI = "uri"


class IdRelation(StrEnum):
    SELF = "self"
    """Identifies the record's own work."""
    PART_OF = "part-of"
    """Identifies what the work is part of (the journal's ISSN, the book's ISBN)."""
    RELATED = "related"
    """A ``dc:relation``: usually the work itself (EPrints' official URL), sometimes another work."""


@dataclass(frozen=True)
class RecordIdentifier:
    scheme: IdScheme
    value: str
    """As the record wrote it (trimmed); normalised where it becomes an asset field."""
    relation: IdRelation = IdRelation.SELF


_DOI_CLAIM = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/|10\.[^\s/]*/)", re.IGNORECASE)


_HANDLE_CLAIM = re.compile(r"^(?:hdl:\s*|https?://hdl\.handle\.net/)", re.IGNORECASE)


_ISBN_CLAIM = re.compile(r"^(?:urn:isbn:|isbn(?:-1[03])?:?\s*)", re.IGNORECASE)


_ISSN_CLAIM = re.compile(r"^(?:urn:issn:|e?issn:?\s*)", re.IGNORECASE)


_PMID_CLAIM = re.compile(
    r"^(?:pmid:?\s*|https?://(?:www\.)?(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/))", re.IGNORECASE
)


_PMCID_CLAIM = re.compile(r"^(?:pmcid:\s*)?PMC[0-9]+$", re.IGNORECASE)


_BARE_ISSN = re.compile(r"^[0-9]{4}-[0-9]{3}[0-9Xx]$")


_BARE_ISBN = re.compile(r"^(?:97[89][- ]?)?[0-9]{1,5}[- ][0-9]{1,7}[- ][0-9]{1,7}[- ][0-9Xx]$|^97[89][0-9]{10}$")


_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


_BY_FORM: tuple[tuple[tuple[re.Pattern[str], ...], IdScheme], ...] = (
    ((_DOI_CLAIM,), IdScheme.DOI),
    ((_HANDLE_CLAIM,), IdScheme.HANDLE),
    ((_PMID_CLAIM,), IdScheme.PMID),
    ((_PMCID_CLAIM,), IdScheme.PMCID),
    ((_ISBN_CLAIM, _BARE_ISBN), IdScheme.ISBN),
    ((_ISSN_CLAIM, _BARE_ISSN), IdScheme.ISSN),
    ((_URL,), IdScheme.URI),
)
"""In this order: a DOI URL is a DOI, not a URL."""


def recognise_identifier(value: str, relation: IdRelation = IdRelation.SELF) -> RecordIdentifier | None:
    """An untyped identifier (``dc:identifier``) by its form; ``None`` for citations and other free text.

    Anything written as a DOI (``doi:``, ``https://doi.org/``, ``10.x/``) is a DOI claim, valid or not: a bad
    one must be refused, not quietly turned into a URL. An ISSN always names the serial the work appeared in.
    """
    raw = value.strip()
    if not raw or len(raw) > 2000:
        return None
    for patterns, scheme in _BY_FORM:
        if any(pattern.match(raw) for pattern in patterns):
            return RecordIdentifier(scheme, raw, IdRelation.PART_OF if scheme is IdScheme.ISSN else relation)
    return None


_TYPED_SCHEMES = {
    "doi": IdScheme.DOI,
    "handle": IdScheme.HANDLE,
    "hdl": IdScheme.HANDLE,
    "isbn": IdScheme.ISBN,
    "issn": IdScheme.ISSN,
    "eissn": IdScheme.ISSN,
    "pissn": IdScheme.ISSN,
    "pmid": IdScheme.PMID,
    "pmcid": IdScheme.PMCID,
    "url": IdScheme.URI,
    "uri": IdScheme.URI,
    "purl": IdScheme.URI,
}


def typed_identifier(kind: str | None, value: str, relation: IdRelation) -> RecordIdentifier | None:
    """A DataCite identifier whose type is written (``identifierType``, ``alternateIdentifierType``...)."""
    raw = value.strip()
    scheme = _TYPED_SCHEMES.get((kind or "").strip().casefold())
    if not raw:
        return None
    if scheme is None:
        # An unknown or missing type: only a value of an unmistakable form is taken.
        return recognise_identifier(raw, relation) if kind is None else None
    if scheme is IdScheme.URI and not _URL.match(raw):
        return None
    if scheme is IdScheme.ISSN:
        relation = IdRelation.PART_OF
    return RecordIdentifier(scheme, raw, relation)

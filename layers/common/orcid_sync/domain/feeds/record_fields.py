"""A harvested record's fields as an asset wants them: the publication date, the language code, the landing page
and the identifiers (normalised the way ``POST /assets`` expects them)."""

from __future__ import annotations

import re

from orcid_sync.domain.feeds.metadata import (
    RecordMetadata,
)
from orcid_sync.domain.feeds.record_identifiers import IdRelation, IdScheme
from orcid_sync.domain.identifiers import InvalidIdentifierError, parse_partial_date

_PARTIAL = re.compile(r"^\s*([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?(?=$|[T\s/]|[+-][0-9]{2}:?[0-9]{2}$|Z$)")


def publication_date(candidates: tuple[str, ...]) -> str | None:
    """The first candidate that is a date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, a timestamp, a range's start),
    as precise as it is valid: ``2019-02-30`` gives ``2019-02``. ``None`` if none is a date."""
    for raw in candidates:
        match = _PARTIAL.match(raw)
        if match is None:
            continue
        year, month, day = match.groups()
        parts = [year, f"{int(month):02d}" if month else None, f"{int(day):02d}" if day else None]
        for length in (3, 2, 1):
            if length > 1 and parts[length - 1] is None:
                continue
            text = "-".join(part for part in parts[:length] if part)
            try:
                return str(parse_partial_date(text))
            except InvalidIdentifierError:
                continue
    return None


_LANGUAGE_NAMES = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "swedish": "sv", "norwegian": "no", "danish": "da", "finnish": "fi", "polish": "pl",
    "russian": "ru", "chinese": "zh", "japanese": "ja", "welsh": "cy", "irish": "ga", "maori": "mi",
    "māori": "mi", "latin": "la",
}  # fmt: skip


_LANGUAGE = re.compile(r"^([A-Za-z]{2})(?:[_-]([A-Za-z]{2,4}))?$")


def language_code(value: str | None) -> str | None:
    """``en``, ``en_US``, ``eng`` and ``English`` as the two-letter code ``POST /assets`` takes; ``None`` for
    what is not a language we can name (a record is never refused for its language)."""
    if not value:
        return None
    raw = value.strip()
    if match := _LANGUAGE.match(raw):
        language, region = match.groups()
        return f"{language.lower()}_{region}" if region else language.lower()
    return _ISO_639_2.get(raw.lower()) or _LANGUAGE_NAMES.get(raw.lower())


_HANDLE_PREFIX = re.compile(r"^(?:hdl:\s*|https?://hdl\.handle\.net/)", re.IGNORECASE)


_ISBN_PREFIX = re.compile(r"^urn:isbn:", re.IGNORECASE)


_ISSN_PREFIX = re.compile(r"^(?:urn:issn:|e?issn:?\s*)", re.IGNORECASE)


_PMCID_PREFIX = re.compile(r"^pmcid:\s*", re.IGNORECASE)


_FILE = re.compile(r"\.(?:pdf|docx?|odt|rtf|txt|zip|gz|xlsx?|csv|pptx?|jpe?g|png|tiff?|mp[34]|wav)$", re.IGNORECASE)


_DOI_OR_HANDLE_URL = re.compile(r"^https?://(?:dx\.)?(?:doi\.org|hdl\.handle\.net)/", re.IGNORECASE)


def landing_page(metadata: RecordMetadata) -> str | None:
    """The work's page: the first URL that is neither a DOI or Handle link (those have their own fields) nor a
    file (EPrints lists the full texts' URLs as dc:identifier)."""
    for relation in (IdRelation.SELF, IdRelation.RELATED):
        for identifier in metadata.identifiers:
            if identifier.scheme is IdScheme.URI and identifier.relation is relation:
                url = identifier.value
                if not _DOI_OR_HANDLE_URL.match(url) and not _FILE.search(url.split("?", 1)[0]):
                    return url
    return None


def identifier_fields(metadata: RecordMetadata) -> dict[str, str]:
    """The asset's identifier fields, each as the record wrote it minus the prefixes ``POST /assets`` does not
    strip itself; the asset's validation then normalises or refuses it."""
    fields: dict[str, str] = {}
    # A dc:relation DOI is the work's own only when no dc:identifier gives one (EPrints writes the official URL,
    # most often the DOI, as a relation).
    doi = metadata.first(IdScheme.DOI, IdRelation.SELF, IdRelation.RELATED)
    if doi:
        fields["doi"] = doi
    if handle := metadata.first(IdScheme.HANDLE, IdRelation.SELF, IdRelation.RELATED):
        fields["handle"] = _HANDLE_PREFIX.sub("", handle.strip())
    if isbn := metadata.first(IdScheme.ISBN, IdRelation.SELF, IdRelation.PART_OF):
        fields["isbn"] = _ISBN_PREFIX.sub("", isbn)
    if issn := metadata.first(IdScheme.ISSN, IdRelation.PART_OF, IdRelation.SELF):
        fields["issn"] = _ISSN_PREFIX.sub("", issn)
    if pmid := metadata.first(IdScheme.PMID, IdRelation.SELF, IdRelation.RELATED):
        fields["pmid"] = pmid
    if pmcid := metadata.first(IdScheme.PMCID, IdRelation.SELF, IdRelation.RELATED):
        fields["pmcid"] = _PMCID_PREFIX.sub("", pmcid)
    if url := landing_page(metadata):
        fields["url"] = url
    return fields


_ISO_639_2 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "ita": "it", "por": "pt",
    "dut": "nl", "nld": "nl", "swe": "sv", "nor": "no", "nob": "nb", "nno": "nn", "dan": "da", "fin": "fi",
    "pol": "pl", "cze": "cs", "ces": "cs", "rus": "ru", "chi": "zh", "zho": "zh", "jpn": "ja", "kor": "ko",
    "ara": "ar", "tur": "tr", "gre": "el", "ell": "el", "hun": "hu", "cat": "ca", "wel": "cy", "cym": "cy",
    "gle": "ga", "ice": "is", "isl": "is", "est": "et", "lav": "lv", "lit": "lt", "slv": "sl", "slo": "sk",
    "slk": "sk", "hrv": "hr", "srp": "sr", "ukr": "uk", "heb": "he", "hin": "hi", "ind": "id", "may": "ms",
    "msa": "ms", "vie": "vi", "tha": "th", "per": "fa", "fas": "fa", "afr": "af", "lat": "la", "mao": "mi",
    "mri": "mi",
}  # fmt: skip

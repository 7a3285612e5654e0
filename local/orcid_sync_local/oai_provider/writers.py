"""``oai_dc`` and ``oai_datacite`` as each platform writes them, registered with an ``oaipmh.metadata`` registry.

``oai_dc`` goes through pyoai's own writer (:func:`oaipmh.server.oai_dc_writer`); what differs between platforms
is which Dublin Core elements they fill and how (modelled on their real output):

- DSpace (XOAI): every ``dc.date.*`` becomes a ``dc:date`` (accessioned and available timestamps, then issued);
  ``dc:type`` is the label ("Article") and, in DSpace 7, also a COAR URI; ``dc:identifier`` holds the Handle URI,
  the DOI as ``https://doi.org/…``, the ISBN and ISSN.
- EPrints: ``dc:type`` is the type's phrase ("Book Section") followed by ``PeerReviewed``; ``dc:identifier`` holds the
  full-text URL, ``doi:…`` and a citation; ``dc:relation`` the item's page.
- Esploro: ``dc:type`` is the asset type code ("publication.journalArticle"); the DOI is bare.
- DataCite: ``dc:type`` is ``resourceTypeGeneral``; ``dc:identifier`` the DOI URL.

``oai_datacite`` is DataCite's OAI envelope (``oai_datacite`` → ``payload`` → kernel-4 ``resource``), as DataCite's
and Zenodo's providers serve it, with ``nameIdentifier nameIdentifierScheme="ORCID"`` for creators with an iD.
"""

from __future__ import annotations

from typing import Any

from lxml.etree import SubElement, _Element
from oaipmh.common import Metadata
from oaipmh.metadata import MetadataRegistry
from oaipmh.server import NS_XSI, oai_dc_writer

from .records import Creator, Platform, ProviderRecord, format_datestamp

NS_OAI_DATACITE = "http://schema.datacite.org/oai/oai-1.1/"
NS_DATACITE = "http://datacite.org/schema/kernel-4"
NS_XML = "http://www.w3.org/XML/1998/namespace"

METADATA_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
    ("oai_datacite", "http://schema.datacite.org/oai/oai-1.1/oai.xsd", NS_OAI_DATACITE),
)
"""``(metadataPrefix, schema, metadataNamespace)`` as ``ListMetadataFormats`` answers."""

DATACENTRE_SYMBOL = "EXAMPLE.REPO"

EPRINTS_PHRASES = {
    "article": "Article",
    "book_section": "Book Section",
    "monograph": "Monograph",
    "conference_item": "Conference or Workshop Item",
    "book": "Book",
    "thesis": "Thesis",
    "patent": "Patent",
    "dataset": "Dataset",
    "experiment": "Experiment",
    "teaching_resource": "Teaching Resource",
    "other": "Other",
}
"""EPrints' type phrases (``eprint_typename_*``): what its ``oai_dc`` writes for each ``eprint.type``."""

_GENERAL_BY_TYPE: dict[Platform, dict[str, str]] = {
    Platform.DSPACE: {
        "Article": "JournalArticle",
        "Journal article": "JournalArticle",
        "Book": "Book",
        "Book chapter": "BookChapter",
        "Conference paper": "ConferencePaper",
        "Conference Object": "ConferencePaper",
        "Dataset": "Dataset",
        "Preprint": "Preprint",
        "Technical Report": "Report",
        "Thesis": "Dissertation",
        "Software": "Software",
        "Working Paper": "Preprint",
    },
    Platform.EPRINTS: {
        "article": "JournalArticle",
        "book_section": "BookChapter",
        "conference_item": "ConferencePaper",
        "book": "Book",
        "monograph": "Report",
        "thesis": "Dissertation",
        "dataset": "Dataset",
        "patent": "Text",
        "other": "Other",
    },
    Platform.ESPLORO: {
        "publication.journalArticle": "JournalArticle",
        "publication.bookChapter": "BookChapter",
        "publication.book": "Book",
        "publication.editedBook": "Book",
        "publication.report": "Report",
        "conference.conferencePaper": "ConferencePaper",
        "conference.presentation": "Event",
        "dataset.dataset": "Dataset",
        "software.code": "Software",
        "etd.doctoral": "Dissertation",
        "postedContent.preprint": "Preprint",
    },
}


def resource_type_general(record: ProviderRecord) -> str:
    """DataCite's ``resourceTypeGeneral`` for an item (``Text`` for what the table does not know)."""
    if record.resource_type_general:
        return record.resource_type_general
    if record.platform is Platform.DATACITE:
        return record.type
    return _GENERAL_BY_TYPE[record.platform].get(record.type, "Text")


def _year(date: str | None) -> str | None:
    return date[:4] if date and len(date) >= 4 and date[:4].isdigit() else None


def bare_doi(doi: str) -> str:
    """``10.…`` from ``https://doi.org/10.…``, ``doi:10.…`` or ``10.…`` (kept as given when it is none of them)."""
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            return doi[len(prefix) :]
    return doi


def _accessioned(record: ProviderRecord) -> str | None:
    return format_datestamp(record.datestamp) if record.datestamp else None


def dublin_core(record: ProviderRecord) -> dict[str, list[str]]:
    """The item's ``oai_dc`` elements, as its platform fills them (pyoai's writer orders them)."""
    elements: dict[str, list[str]] = {"title": [record.title], "creator": [c.name for c in record.creators]}
    elements["subject"] = list(record.subjects)
    if record.abstract:
        elements["description"] = [record.abstract]
    if record.publisher:
        elements["publisher"] = [record.publisher]
    if record.language:
        elements["language"] = [record.language]
    if record.rights:
        elements["rights"] = [record.rights]
    if record.platform is Platform.DSPACE:
        _dspace(record, elements)
    elif record.platform is Platform.EPRINTS:
        _eprints(record, elements)
    elif record.platform is Platform.ESPLORO:
        _esploro(record, elements)
    else:
        _datacite(record, elements)
    return elements


def _dspace(record: ProviderRecord, elements: dict[str, list[str]]) -> None:
    stamp = _accessioned(record)
    elements["date"] = [value for value in (stamp, stamp, record.date) if value]  # accessioned, available, issued
    elements["type"] = [value for value in (record.type, record.coar_type) if value]
    identifiers = [record.handle, record.doi, record.isbn, record.issn, *record.urls]
    elements["identifier"] = [value for value in identifiers if value]
    if record.journal:
        elements["source"] = [record.journal]


def _eprints(record: ProviderRecord, elements: dict[str, list[str]]) -> None:
    if record.date:
        elements["date"] = [record.date]
    elements["type"] = [EPRINTS_PHRASES.get(record.type, record.type), "PeerReviewed"]
    elements["format"] = ["text"]
    identifiers = [f"{url}1/fulltext.pdf" for url in record.urls[:1]]
    if record.doi:
        identifiers.append(record.doi)
    authors = ", ".join(c.name for c in record.creators[:3]) or "Anon"
    citation = f"{authors} ({_year(record.date) or 'n.d.'}) {record.title}."
    if record.journal:
        citation += f" {record.journal}."
    if record.issn:
        citation += f" ISSN {record.issn}"
    identifiers.append(citation)
    elements["identifier"] = identifiers
    elements["relation"] = list(record.urls)


def _esploro(record: ProviderRecord, elements: dict[str, list[str]]) -> None:
    if record.date:
        elements["date"] = [record.date]
    elements["type"] = [record.type]
    identifiers = [record.doi, record.isbn, record.issn, *record.urls]
    elements["identifier"] = [value for value in identifiers if value]
    if record.journal:
        elements["source"] = [record.journal]


def _datacite(record: ProviderRecord, elements: dict[str, list[str]]) -> None:
    year = _year(record.date)
    if year:
        elements["date"] = [year]
    elements["type"] = [record.type]
    identifiers = [f"https://doi.org/{bare_doi(record.doi)}" if record.doi else None, *record.urls]
    elements["identifier"] = [value for value in identifiers if value]


def write_oai_dc(element: _Element, record: ProviderRecord) -> None:
    """pyoai's ``oai_dc`` writer over the platform's Dublin Core."""
    oai_dc_writer(element, Metadata(None, dublin_core(record)))


def _sub(parent: _Element, name: str, text: str | None = None, **attributes: str) -> _Element:
    child = SubElement(parent, f"{{{NS_DATACITE}}}{name}", attributes)
    if text is not None:
        child.text = text
    return child


def _creator(creators: _Element, creator: Creator) -> None:
    node = _sub(creators, "creator")
    _sub(node, "creatorName", creator.name, nameType="Personal")
    if creator.given_name:
        _sub(node, "givenName", creator.given_name)
    if creator.family_name:
        _sub(node, "familyName", creator.family_name)
    if creator.orcid:
        _sub(node, "nameIdentifier", creator.orcid, nameIdentifierScheme="ORCID", schemeURI="https://orcid.org")
    if creator.local_id:
        _sub(node, "nameIdentifier", creator.local_id, nameIdentifierScheme="local")
    if creator.affiliation:
        _sub(node, "affiliation", creator.affiliation)


def write_oai_datacite(element: _Element, record: ProviderRecord) -> None:
    """DataCite's OAI envelope around a kernel-4 ``resource``."""
    envelope = SubElement(element, f"{{{NS_OAI_DATACITE}}}oai_datacite", nsmap={None: NS_OAI_DATACITE, "xsi": NS_XSI})
    envelope.set(f"{{{NS_XSI}}}schemaLocation", f"{NS_OAI_DATACITE} http://schema.datacite.org/oai/oai-1.1/oai.xsd")
    SubElement(envelope, f"{{{NS_OAI_DATACITE}}}schemaVersion").text = "4.4"
    SubElement(envelope, f"{{{NS_OAI_DATACITE}}}datacentreSymbol").text = DATACENTRE_SYMBOL
    payload = SubElement(envelope, f"{{{NS_OAI_DATACITE}}}payload")
    resource = SubElement(payload, f"{{{NS_DATACITE}}}resource", nsmap={None: NS_DATACITE, "xsi": NS_XSI})
    resource.set(
        f"{{{NS_XSI}}}schemaLocation", f"{NS_DATACITE} http://schema.datacite.org/meta/kernel-4.4/metadata.xsd"
    )
    if record.doi:
        _sub(resource, "identifier", bare_doi(record.doi), identifierType="DOI")
    elif record.handle:
        _sub(resource, "identifier", record.handle.removeprefix("http://hdl.handle.net/"), identifierType="Handle")
    else:
        _sub(resource, "identifier", record.urls[0] if record.urls else record.identifier, identifierType="URL")
    creators = _sub(resource, "creators")
    for creator in record.creators:
        _creator(creators, creator)
    titles = _sub(resource, "titles")
    title = _sub(titles, "title", record.title)
    if record.language:
        title.set(f"{{{NS_XML}}}lang", record.language[:2])
    _sub(resource, "publisher", record.publisher or "Example University")
    year = _year(record.date)
    if year:
        _sub(resource, "publicationYear", year)
    _sub(resource, "resourceType", record.type, resourceTypeGeneral=resource_type_general(record))
    _descriptive(resource, record)


def _descriptive(resource: _Element, record: ProviderRecord) -> None:
    """The kernel-4 properties after ``resourceType``, in the schema's order."""
    if record.subjects:
        subjects = _sub(resource, "subjects")
        for subject in record.subjects:
            _sub(subjects, "subject", subject)
    if record.date:
        _sub(_sub(resource, "dates"), "date", record.date, dateType="Issued")
    if record.language:
        _sub(resource, "language", record.language)
    _alternate_identifiers(resource, record)
    if record.issn:
        related = _sub(resource, "relatedIdentifiers")
        _sub(related, "relatedIdentifier", record.issn, relatedIdentifierType="ISSN", relationType="IsPublishedIn")
    if record.rights:
        _sub(_sub(resource, "rightsList"), "rights", record.rights)
    if record.abstract:
        _sub(_sub(resource, "descriptions"), "description", record.abstract, descriptionType="Abstract")
    if record.journal:
        item = _sub(
            _sub(resource, "relatedItems"), "relatedItem", relationType="IsPublishedIn", relatedItemType="Journal"
        )
        _sub(_sub(item, "titles"), "title", record.journal)


def _alternate_identifiers(resource: _Element, record: ProviderRecord) -> None:
    pairs: list[tuple[str, str]] = []
    if record.handle and record.doi:
        pairs.append(("Handle", record.handle))
    if record.isbn:
        pairs.append(("ISBN", record.isbn))
    if record.pmid:
        pairs.append(("PMID", record.pmid))
    pairs += [("URL", url) for url in record.urls]
    if pairs:
        node = _sub(resource, "alternateIdentifiers")
        for kind, value in pairs:
            _sub(node, "alternateIdentifier", value, alternateIdentifierType=kind)


def metadata_registry() -> MetadataRegistry:
    """A registry (not pyoai's global one) with this provider's two writers."""
    registry = MetadataRegistry()
    writers: dict[str, Any] = {"oai_dc": write_oai_dc, "oai_datacite": write_oai_datacite}
    for prefix, writer in writers.items():
        registry.registerWriter(prefix, writer)
    return registry

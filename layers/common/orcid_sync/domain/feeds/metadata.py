"""A harvested record's metadata (``oai_dc``, ``oai_datacite``, ``oai_openaire``) read into one neutral value.

The adapter has already parsed the OAI-PMH page with a hardened parser and hands us the single child of
``<metadata>`` as bytes; the domain still does not trust it: a document type declaration (hence any entity) is
refused before the standard library's ElementTree sees the bytes, and nothing here resolves anything.

What is read, per format:

- ``oai_dc`` (DSpace, EPrints, Esploro, ...): ``dc:title``, ``dc:creator`` (an ``https://orcid.org/`` iD written
  in the name is taken as the creator's iD and removed from the name), ``dc:type``, ``dc:date``,
  ``dc:identifier`` / ``dc:relation`` / ``dc:source`` (DOIs, Handles, ISBNs, ISSNs, PMIDs, URLs recognised by
  their form), ``dc:description``, ``dc:language``, a free-text ``dc:relation`` as the container (DSpace's
  ``dc.relation.ispartof``).
- DataCite kernel 3/4, bare or in ``oai_datacite``'s ``payload``: ``titles``, ``creators`` with
  ``nameIdentifier`` (scheme ORCID, or another scheme kept for local-id matching), ``resourceType`` and its
  ``resourceTypeGeneral``, ``dates`` / ``publicationYear``, ``identifier``, ``alternateIdentifiers``,
  ``relatedIdentifiers`` (only ``IsPartOf`` ISSN/ISBN and ``IsIdenticalTo``), ``relatedItems`` (the journal),
  ``descriptions``, ``language``.
- OpenAIRE Guidelines for Literature Repositories v4 (``oaire:resource``): its ``datacite:*`` elements as
  above, ``oaire:resourceType`` (COAR URI and label), ``dc:type``, ``dc:identifier``, ``dc:date``,
  ``oaire:citationTitle``, ``dc:description``, ``dc:language``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # nosec B405 - for its types only: parsing goes through defusedxml
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from orcid_sync.domain.feeds.record_identifiers import (
    IdRelation,
    IdScheme,
    RecordIdentifier,
    recognise_identifier,
    typed_identifier,
)
from orcid_sync.domain.identifiers import InvalidIdentifierError, parse_orcid

MAX_METADATA_BYTES = 2_000_000
"""A record's metadata larger than this is refused (real records are a few kilobytes)."""

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
OAI_DATACITE = ("http://schema.datacite.org/oai/oai-1.1/", "http://schema.datacite.org/oai/oai-1.0/")
OAIRE = "http://namespace.openaire.eu/schema/oaire/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DATACITE_KERNEL = re.compile(r"^http://datacite\.org/schema/kernel-[0-9.]+$")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class MetadataError(ValueError):
    """The record's metadata cannot be read: not XML, a DTD, too large, or not a format we know."""


@dataclass(frozen=True)
class Creator:
    name: str
    orcid: str | None = None
    """The bare iD (``0000-0002-1825-0097``), checked; ``None`` if none was given or it was not valid."""
    orcid_problem: str | None = None
    """Why an iD the record gave for this creator was not taken."""
    name_identifiers: tuple[tuple[str, str], ...] = ()
    """Other ``nameIdentifier`` values as ``(scheme, value)``: the researchers' local ids, ISNI, ..."""

    def local_ids(self, scheme: str) -> tuple[str, ...]:
        wanted = scheme.casefold()
        return tuple(value for found, value in self.name_identifiers if found.casefold() == wanted)


@dataclass(frozen=True)
class RecordMetadata:
    """What a record says about its work, format-neutral; every tuple in the record's order."""

    format: str
    """``oai_dc``, ``datacite`` or ``oai_openaire``: what the metadata turned out to be."""
    titles: tuple[str, ...] = ()
    subtitle: str | None = None
    creators: tuple[Creator, ...] = ()
    types: tuple[str, ...] = ()
    """Most specific first: COAR URIs, then the repository's own labels, then ``resourceTypeGeneral``."""
    dates: tuple[str, ...] = ()
    """Publication date candidates, best first, as written."""
    identifiers: tuple[RecordIdentifier, ...] = ()
    container_title: str | None = None
    abstract: str | None = None
    language: str | None = None
    """As written (``en``, ``en_US``, ``eng``, ``English``)."""

    def first(self, scheme: IdScheme, *relations: IdRelation) -> str | None:
        wanted = relations or (IdRelation.SELF,)
        for relation in wanted:
            for identifier in self.identifiers:
                if identifier.scheme is scheme and identifier.relation is relation:
                    return identifier.value
        return None


# --- Reading the bytes -------------------------------------------------------------------------------------------

_DOCTYPE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_record_metadata(metadata_xml: bytes, metadata_prefix: str | None = None) -> RecordMetadata:
    """Read one record's metadata; :class:`MetadataError` says why it cannot be read."""
    if not metadata_xml or not metadata_xml.strip():
        raise MetadataError("the record has no metadata")
    if len(metadata_xml) > MAX_METADATA_BYTES:
        raise MetadataError(f"the metadata has {len(metadata_xml):,} bytes; at most {MAX_METADATA_BYTES:,} are read")
    if _DOCTYPE.search(metadata_xml):
        raise MetadataError("the metadata declares a DOCTYPE or an ENTITY, which is refused (no DTDs, no entities)")
    try:
        # defusedxml refuses any DTD, entity or external reference, whatever the check above missed.
        root = defused_fromstring(metadata_xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MetadataError(f"the metadata is refused: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise MetadataError(f"the metadata is not well-formed XML: {exc}") from None
    namespace, local = _split(root.tag)
    if namespace == OAI_DC and local == "dc":
        return _read_dc(root)
    if namespace in OAI_DATACITE and local == "oai_datacite":
        payload = root.find(f"{{{namespace}}}payload")
        resource = next(iter(payload), None) if payload is not None else None
        if resource is None or not _is_datacite_resource(resource):
            raise MetadataError("the oai_datacite record has no DataCite <resource> in its <payload>")
        return _read_datacite(resource)
    if _is_datacite_resource(root):
        return _read_datacite(root)
    if namespace == OAIRE and local == "resource":
        return _read_openaire(root)
    announced = f" (announced as {metadata_prefix})" if metadata_prefix else ""
    raise MetadataError(
        f"the metadata's root element {root.tag!r}{announced} is none of oai_dc:dc, oai_datacite, a DataCite "
        "resource or an OpenAIRE oaire:resource"
    )


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _is_datacite_resource(element: ET.Element) -> bool:
    namespace, local = _split(element.tag)
    return local == "resource" and bool(_DATACITE_KERNEL.match(namespace))


def _text(element: ET.Element | None) -> str:
    """The element's text with runs of whitespace (line breaks included) made one space."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _block_text(element: ET.Element) -> str:
    """An abstract: line breaks kept, each line's indentation and trailing blanks removed."""
    lines = [" ".join(line.split()) for line in "".join(element.itertext()).splitlines()]
    return "\n".join(lines).strip()


def _texts(elements: list[ET.Element]) -> tuple[str, ...]:
    return tuple(text for element in elements if (text := _text(element)))


# --- Creators -----------------------------------------------------------------------------------------------------

_ORCID_IN_NAME = re.compile(
    r"[\s,;(\[]*(?:orcid:\s*|https?://(?:www\.)?orcid\.org/)([0-9]{4}-?[0-9]{4}-?[0-9]{4}-?[0-9]{3}[0-9Xx])[)\]]?\s*$",
    re.IGNORECASE,
)


def _orcid_of(value: str) -> tuple[str | None, str | None]:
    try:
        return parse_orcid(value), None
    except InvalidIdentifierError as exc:
        return None, str(exc)


def _dc_creator(text: str) -> Creator:
    match = _ORCID_IN_NAME.search(text)
    if match is None:
        return Creator(name=text)
    orcid, problem = _orcid_of(match.group(1))
    return Creator(name=text[: match.start()].strip(" ,;"), orcid=orcid, orcid_problem=problem)


def _datacite_creator(element: ET.Element, ns: str, *, name_tag: str) -> Creator | None:
    name = _text(element.find(f"{{{ns}}}{name_tag}"))
    if not name:
        given = _text(element.find(f"{{{ns}}}givenName"))
        family = _text(element.find(f"{{{ns}}}familyName"))
        name = f"{family}, {given}" if family and given else family or given
    if not name:
        return None
    orcid: str | None = None
    problem: str | None = None
    others: list[tuple[str, str]] = []
    for identifier in element.findall(f"{{{ns}}}nameIdentifier"):
        value = _text(identifier)
        scheme = (identifier.get("nameIdentifierScheme") or "").strip()
        if not value:
            continue
        if scheme.casefold() == "orcid":
            if orcid is None:
                orcid, problem = _orcid_of(value)
        else:
            others.append((scheme, value))
    return Creator(name=name, orcid=orcid, orcid_problem=problem, name_identifiers=tuple(others))


# --- oai_dc -------------------------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"T[0-9]{2}:[0-9]{2}")


def _read_dc(root: ET.Element) -> RecordMetadata:
    def values(name: str) -> tuple[str, ...]:
        return _texts(root.findall(f"{{{DC}}}{name}"))

    identifiers: list[RecordIdentifier] = []
    for value in values("identifier"):
        if (found := recognise_identifier(value)) is not None:
            identifiers.append(found)
    container: str | None = None
    for name in ("relation", "source"):
        for value in values(name):
            found = recognise_identifier(value, IdRelation.RELATED)
            if found is not None:
                identifiers.append(found)
            elif name == "relation" and container is None and len(value) <= 1000:
                container = value  # DSpace's dc.relation.ispartof: the journal or series
    dates = values("date")
    # DSpace writes dc.date.accessioned and .available (timestamps) next to .issued (a plain date): plain first.
    ordered_dates = tuple(d for d in dates if not _TIMESTAMP.search(d)) + tuple(
        d for d in dates if _TIMESTAMP.search(d)
    )
    descriptions = [_block_text(e) for e in root.findall(f"{{{DC}}}description")]
    descriptions = [d for d in descriptions if d]
    languages = values("language")
    return RecordMetadata(
        format="oai_dc",
        titles=values("title"),
        creators=tuple(_dc_creator(name) for name in values("creator")),
        types=values("type"),
        dates=ordered_dates,
        identifiers=tuple(identifiers),
        container_title=container,
        # DSpace maps abstract, sponsorship and provenance notes all to dc:description: the longest is the abstract.
        abstract=max(descriptions, key=len) if descriptions else None,
        language=languages[0] if languages else None,
    )


# --- DataCite -----------------------------------------------------------------------------------------------------

_SELF_RELATIONS = {"isidenticalto"}
_PART_OF_RELATIONS = {"ispartof", "ispublishedin"}


def _children(resource: ET.Element, ns: str, wrapper: str, name: str) -> list[ET.Element]:
    """``<wrapper><name>`` under the resource, and ``<name>`` directly under it (early OpenAIRE v4 drafts);
    never the same names inside a ``relatedItem``."""
    return [*resource.findall(f"{{{ns}}}{wrapper}/{{{ns}}}{name}"), *resource.findall(f"{{{ns}}}{name}")]


def _datacite_identifiers(resource: ET.Element, ns: str) -> list[RecordIdentifier]:
    found: list[RecordIdentifier | None] = []
    for element in resource.findall(f"{{{ns}}}identifier"):
        found.append(typed_identifier(element.get("identifierType"), _text(element), IdRelation.SELF))
    for element in _children(resource, ns, "alternateIdentifiers", "alternateIdentifier"):
        found.append(typed_identifier(element.get("alternateIdentifierType"), _text(element), IdRelation.SELF))
    for element in _children(resource, ns, "relatedIdentifiers", "relatedIdentifier"):
        relation = (element.get("relationType") or "").casefold()
        kind = element.get("relatedIdentifierType")
        if relation in _SELF_RELATIONS:
            found.append(typed_identifier(kind, _text(element), IdRelation.SELF))
        elif relation in _PART_OF_RELATIONS and (kind or "").casefold() in {"issn", "eissn", "isbn"}:
            found.append(typed_identifier(kind, _text(element), IdRelation.PART_OF))
    return [identifier for identifier in found if identifier is not None]


def _datacite_titles(resource: ET.Element, ns: str) -> tuple[tuple[str, ...], str | None]:
    titles: list[str] = []
    subtitle: str | None = None
    for element in _children(resource, ns, "titles", "title"):
        text = _text(element)
        kind = (element.get("titleType") or "").casefold()
        if not text:
            continue
        if kind == "subtitle":
            subtitle = subtitle or text
        elif not kind:
            titles.append(text)
    return tuple(titles), subtitle


def _datacite_dates(resource: ET.Element, ns: str) -> tuple[str, ...]:
    by_type: dict[str, list[str]] = {}
    for element in _children(resource, ns, "dates", "date"):
        by_type.setdefault((element.get("dateType") or "").casefold(), []).append(_text(element))
    year = _text(resource.find(f"{{{ns}}}publicationYear"))
    ordered = [*by_type.pop("issued", []), *([year] if year else [])]
    for kind in ("available", "accepted", "created", ""):
        ordered.extend(by_type.pop(kind, []))
    return tuple(d for d in ordered if d)


def _datacite_container(resource: ET.Element, ns: str) -> str | None:
    for item in _children(resource, ns, "relatedItems", "relatedItem"):
        if (item.get("relationType") or "").casefold() in _PART_OF_RELATIONS:
            title = _text(item.find(f"{{{ns}}}titles/{{{ns}}}title"))
            if title:
                return title
    return None


def _datacite_abstract(resource: ET.Element, ns: str) -> str | None:
    for element in _children(resource, ns, "descriptions", "description"):
        if (element.get("descriptionType") or "").casefold() == "abstract" and (text := _block_text(element)):
            return text
    return None


def _datacite_creators(resource: ET.Element, ns: str) -> tuple[Creator, ...]:
    return tuple(
        creator
        for element in _children(resource, ns, "creators", "creator")
        if (creator := _datacite_creator(element, ns, name_tag="creatorName")) is not None
    )


def _read_datacite(resource: ET.Element) -> RecordMetadata:
    ns, _ = _split(resource.tag)
    titles, subtitle = _datacite_titles(resource, ns)
    types: list[str] = []
    resource_type = resource.find(f"{{{ns}}}resourceType")
    if resource_type is not None:
        if label := _text(resource_type):
            types.append(label)
        if general := (resource_type.get("resourceTypeGeneral") or "").strip():
            types.append(general)
    language = _text(resource.find(f"{{{ns}}}language"))
    return RecordMetadata(
        format="datacite",
        titles=titles,
        subtitle=subtitle,
        creators=_datacite_creators(resource, ns),
        types=tuple(types),
        dates=_datacite_dates(resource, ns),
        identifiers=tuple(_datacite_identifiers(resource, ns)),
        container_title=_datacite_container(resource, ns),
        abstract=_datacite_abstract(resource, ns),
        language=language or None,
    )


# --- OpenAIRE Guidelines for Literature Repositories v4 ---------------------------------------------------------

_OPENAIRE_DATACITE = "http://datacite.org/schema/kernel-4"


def _read_openaire(root: ET.Element) -> RecordMetadata:
    ns = _OPENAIRE_DATACITE
    titles, subtitle = _datacite_titles(root, ns)
    titles = titles or _texts(root.findall(f"{{{DC}}}title"))
    types: list[str] = []
    for element in [*root.findall(f"{{{OAIRE}}}resourceType"), *root.findall(f"{{{DC}}}type")]:
        uri = (element.get("uri") or element.get(f"{{{RDF}}}resource") or "").strip()
        if uri:
            types.append(uri)
    for element in [*root.findall(f"{{{OAIRE}}}resourceType"), *root.findall(f"{{{DC}}}type")]:
        if label := _text(element):
            types.append(label)
    identifiers = _datacite_identifiers(root, ns)
    for value in _texts(root.findall(f"{{{DC}}}identifier")):
        if (found := recognise_identifier(value)) is not None:
            identifiers.append(found)
    dates = [*_datacite_dates(root, ns), *_texts(root.findall(f"{{{DC}}}date"))]
    abstracts = [text for element in root.findall(f"{{{DC}}}description") if (text := _block_text(element))]
    languages = _texts(root.findall(f"{{{DC}}}language"))
    return RecordMetadata(
        format="oai_openaire",
        titles=titles,
        subtitle=subtitle,
        creators=_datacite_creators(root, ns),
        types=tuple(types),
        dates=tuple(dates),
        identifiers=tuple(identifiers),
        container_title=_text(root.find(f"{{{OAIRE}}}citationTitle")) or _datacite_container(root, ns),
        abstract=abstracts[0] if abstracts else None,
        language=languages[0] if languages else None,
    )

"""Render our outgoing ORCID payloads as ORCID XML, in the element order the 3.0 XSDs require.

ORCID validates single-work JSON by way of the same XSDs, so rendering a payload here and
validating it against ``orcid-model/record_3.0/*.xsd`` proves the JSON we send is acceptable too.
Read-only parts (source, dates, visibility) are never rendered.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # nosec B405 - we only build XML here, nothing is parsed

from orcid_sync.domain.orcid.models import (
    BulkWorkRequest,
    Citation,
    Contributor,
    Employment,
    ExternalIds,
    FuzzyDate,
    OrcidItem,
    ReadExternalIds,
    ResearcherUrl,
    StringValue,
    Work,
    WorkTitle,
)

NAMESPACES: dict[str, str] = {
    "common": "http://www.orcid.org/ns/common",
    "work": "http://www.orcid.org/ns/work",
    "bulk": "http://www.orcid.org/ns/bulk",
    "researcher-url": "http://www.orcid.org/ns/researcher-url",
    "employment": "http://www.orcid.org/ns/employment",
}
"""ORCID's namespace prefixes, as used in its XSDs and samples."""

for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

OutgoingPayload = Work | BulkWorkRequest | ResearcherUrl | Employment


def to_orcid_xml(payload: OutgoingPayload, *, include_put_code: bool = False) -> str:
    """The payload as an ORCID XML document; ``include_put_code`` for a PUT body."""
    match payload:
        case BulkWorkRequest():
            if include_put_code:
                raise ValueError("a bulk request creates works, so it never carries put-codes")
            root = ET.Element(_tag("bulk", "bulk"))
            for work in payload.works:
                root.append(_work(work, include_put_code=False))
        case Work():
            root = _work(payload, include_put_code=include_put_code)
        case ResearcherUrl():
            root = _researcher_url(payload, include_put_code=include_put_code)
        case Employment():
            root = _employment(payload, include_put_code=include_put_code)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _tag(prefix: str, name: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{name}"


def _add(parent: ET.Element, prefix: str, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _tag(prefix, name))
    if text is not None:
        element.text = text
    return element


def _add_optional(parent: ET.Element, prefix: str, name: str, value: str | StringValue | None) -> None:
    if value is not None:
        _add(parent, prefix, name, value.value if isinstance(value, StringValue) else value)


def _root(prefix: str, name: str, item: OrcidItem, *, include_put_code: bool) -> ET.Element:
    root = ET.Element(_tag(prefix, name))
    if include_put_code:
        if item.put_code is None:
            raise ValueError(f"a PUT body must carry the {type(item).__name__}'s put-code (ORCID error 9019)")
        root.set("put-code", str(item.put_code))
    return root


def _fuzzy_date(parent: ET.Element, name: str, date: FuzzyDate | None) -> None:
    if date is None:
        return
    element = _add(parent, "common", name)
    for part_name, part in (("year", date.year), ("month", date.month), ("day", date.day)):
        _add_optional(element, "common", part_name, part)


def _external_ids(parent: ET.Element, external_ids: ExternalIds | ReadExternalIds | None) -> None:
    if external_ids is None:
        return
    container = _add(parent, "common", "external-ids")
    for external_id in external_ids.external_id:
        element = _add(container, "common", "external-id")
        _add(element, "common", "external-id-type", external_id.external_id_type)
        _add(element, "common", "external-id-value", external_id.external_id_value)
        _add_optional(element, "common", "external-id-url", external_id.external_id_url)
        _add_optional(element, "common", "external-id-relationship", external_id.external_id_relationship)


def _work_title(parent: ET.Element, title: WorkTitle) -> None:
    element = _add(parent, "work", "title")
    _add(element, "common", "title", title.title.value)
    _add_optional(element, "common", "subtitle", title.subtitle)
    if title.translated_title is not None:
        translated = _add(element, "common", "translated-title", title.translated_title.value)
        translated.set("language-code", title.translated_title.language_code)


def _citation(parent: ET.Element, citation: Citation | None) -> None:
    if citation is None:
        return
    element = _add(parent, "work", "citation")
    _add(element, "work", "citation-type", citation.citation_type)
    _add(element, "work", "citation-value", citation.citation_value)


def _contributor(parent: ET.Element, contributor: Contributor) -> None:
    element = _add(parent, "work", "contributor")
    if contributor.contributor_orcid is not None:
        orcid = _add(element, "common", "contributor-orcid")
        _add_optional(orcid, "common", "uri", contributor.contributor_orcid.uri)
        _add_optional(orcid, "common", "path", contributor.contributor_orcid.path)
        _add_optional(orcid, "common", "host", contributor.contributor_orcid.host)
    _add_optional(element, "work", "credit-name", contributor.credit_name)
    _add_optional(element, "work", "contributor-email", contributor.contributor_email)
    attributes = contributor.contributor_attributes
    if attributes is not None:
        attributes_element = _add(element, "work", "contributor-attributes")
        _add_optional(attributes_element, "work", "contributor-sequence", attributes.contributor_sequence)
        _add_optional(attributes_element, "work", "contributor-role", attributes.contributor_role)


def _work(work: Work, *, include_put_code: bool) -> ET.Element:
    # Sequence of work:work in work-3.0.xsd.
    root = _root("work", "work", work, include_put_code=include_put_code)
    _work_title(root, work.title)
    _add_optional(root, "work", "journal-title", work.journal_title)
    _add_optional(root, "work", "short-description", work.short_description)
    _citation(root, work.citation)
    _add(root, "work", "type", work.type)
    _fuzzy_date(root, "publication-date", work.publication_date)
    _external_ids(root, work.external_ids)
    _add_optional(root, "common", "url", work.url)
    if work.contributors is not None:
        contributors = _add(root, "work", "contributors")
        for contributor in work.contributors.contributor:
            _contributor(contributors, contributor)
    _add_optional(root, "common", "language-code", work.language_code)
    _add_optional(root, "common", "country", work.country)
    return root


def _researcher_url(researcher_url: ResearcherUrl, *, include_put_code: bool) -> ET.Element:
    root = _root("researcher-url", "researcher-url", researcher_url, include_put_code=include_put_code)
    _add_optional(root, "researcher-url", "url-name", researcher_url.url_name)
    _add(root, "researcher-url", "url", researcher_url.url.value)
    return root


def _employment(employment: Employment, *, include_put_code: bool) -> ET.Element:
    # employment:employment is a common:affiliation, whose children live in the common namespace.
    root = _root("employment", "employment", employment, include_put_code=include_put_code)
    _add_optional(root, "common", "department-name", employment.department_name)
    _add_optional(root, "common", "role-title", employment.role_title)
    _fuzzy_date(root, "start-date", employment.start_date)
    _fuzzy_date(root, "end-date", employment.end_date)
    organization = employment.organization
    org = _add(root, "common", "organization")
    _add_optional(org, "common", "name", organization.name)
    if organization.address is not None:
        address = _add(org, "common", "address")
        _add_optional(address, "common", "city", organization.address.city)
        _add_optional(address, "common", "region", organization.address.region)
        _add_optional(address, "common", "country", organization.address.country)
    disambiguated = organization.disambiguated_organization
    if disambiguated is not None:
        element = _add(org, "common", "disambiguated-organization")
        _add(
            element,
            "common",
            "disambiguated-organization-identifier",
            disambiguated.disambiguated_organization_identifier,
        )
        _add(element, "common", "disambiguation-source", disambiguated.disambiguation_source)
    _add_optional(root, "common", "url", employment.url)
    _external_ids(root, employment.external_ids)
    return root

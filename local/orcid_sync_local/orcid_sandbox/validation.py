"""ORCID's write-side rules for works, researcher URLs and employments (independent of orcid_sync)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import OrcidApiError, orcid_error
from .identifiers import is_valid_orcid, normalize_external_id

JsonObject = dict[str, Any]
ExternalIdKey = tuple[str, str]

WORK_TYPES = frozenset(
    {
        "annotation", "artistic-performance", "blog-post", "book-chapter", "book-review", "book",
        "cartographic-material", "clinical-study", "conference-abstract", "conference-output", "conference-paper",
        "conference-poster", "conference-presentation", "conference-proceedings", "data-management-plan", "data-set",
        "design", "dictionary-entry", "disclosure", "dissertation-thesis", "edited-book", "encyclopedia-entry",
        "image", "invention", "journal-article", "journal-issue", "learning-object", "lecture-speech", "license",
        "magazine-article", "manual", "moving-image", "musical-composition", "newsletter-article",
        "newspaper-article", "online-resource", "other", "patent", "physical-object", "preprint", "public-speech",
        "registered-copyright", "report", "research-technique", "research-tool", "review", "software", "sound",
        "spin-off-company", "standards-and-policy", "supervised-student-publication", "technical-standard", "test",
        "trademark", "transcription", "translation", "website", "working-paper", "undefined",
    }
)  # fmt: skip
WORK_TYPE_ALIASES = {
    "article-journal": "journal-article",
    "chapter": "book-chapter",
    "dataset": "data-set",
    "standard": "standards-and-policy",
}
EXTERNAL_ID_TYPES = frozenset(
    {
        "agr", "arxiv", "asin", "asin-tld", "authenticusid", "ark", "bibcode", "cba", "cienciaiul", "cit", "cgn",
        "cstr", "ctx", "dnb", "doi", "eid", "emdb", "empiar", "ethos", "grant-number", "hal", "handle", "hir",
        "isbn", "ismn", "issn", "jfm", "jstor", "k10plus", "kuid", "lccn", "lensid", "mr", "oclc", "ol", "osti",
        "other-id", "pat", "pdb", "pmc", "pmid", "ppr", "proposal-id", "raid", "rfc", "rrid", "source-work-id",
        "ssrn", "uri", "urn", "wosuid", "zbl",
    }
)  # fmt: skip
RELATIONSHIPS = frozenset({"self", "part-of", "version-of", "funded-by"})
# Relationships ORCID leaves out of grouping and of the duplicate check.
_NON_GROUPING_RELATIONSHIPS = frozenset({"part-of", "funded-by"})
CITATION_TYPES = frozenset(
    {
        "formatted-unspecified", "bibtex", "formatted-apa", "formatted-harvard", "formatted-ieee", "formatted-mla",
        "formatted-vancouver", "formatted-chicago", "ris",
    }
)  # fmt: skip
LEGACY_CONTRIBUTOR_ROLES = frozenset(
    {
        "author", "assignee", "editor", "chair-or-translator", "co-investigator", "co-inventor", "graduate-student",
        "other-inventor", "principal-investigator", "postdoctoral-researcher", "support-staff",
    }
)  # fmt: skip
CREDIT_ROLES = frozenset(
    {
        "conceptualization", "data-curation", "formal-analysis", "funding-acquisition", "investigation",
        "methodology", "project-administration", "resources", "software", "supervision", "validation",
        "visualization", "writing-original-draft", "writing-review-editing",
    }
)  # fmt: skip
CONTRIBUTOR_SEQUENCES = frozenset({"first", "additional"})
DISAMBIGUATION_SOURCES = frozenset({"RINGGOLD", "GRID", "FUNDREF", "LEI", "ROR"})
VISIBILITIES = frozenset({"public", "limited", "registered-only", "private"})

_ROR_ID = re.compile(r"^https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
_YEAR = re.compile(r"^\d{4}$")
_TWO_DIGITS = re.compile(r"^\d{2}$")

TITLE_MAX = 1000
SHORT_DESCRIPTION_MAX = 5000
CREDIT_NAME_MAX = 150
URL_NAME_MAX = 350
URL_MAX = 2000
LONG_TEXT_MAX = 4000

_WORK_FIELDS = (
    "title", "journal-title", "short-description", "citation", "type", "publication-date", "external-ids", "url",
    "contributors", "language-code", "country",
)  # fmt: skip
_EMPLOYMENT_FIELDS = ("department-name", "role-title", "start-date", "end-date", "organization", "url", "external-ids")


@dataclass(frozen=True)
class ValidatedActivity:
    """A work or employment that passed ORCID's rules, in the form the sandbox stores it."""

    body: JsonObject
    self_keys: frozenset[ExternalIdKey]
    group_keys: frozenset[ExternalIdKey]
    put_code: int | None
    visibility: str | None


@dataclass(frozen=True)
class ValidatedResearcherUrl:
    """A researcher URL that passed ORCID's rules."""

    url: str
    url_name: str | None
    put_code: int | None
    visibility: str | None


def _child(container: object, key: str) -> Any:
    return container.get(key) if isinstance(container, dict) else None


def _value_of(container: object, key: str) -> Any:
    """The `value` inside `container[key]`, accepting ORCID's `{"value": …}` wrapper or a bare string."""
    item = _child(container, key)
    return _child(item, "value") if isinstance(item, dict) else item


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _require_object(raw: object) -> JsonObject:
    if not isinstance(raw, dict):
        raise orcid_error(9001, detail="The request body must be a JSON object")
    return raw


def _too_long(value: str, maximum: int, xsd_type: str) -> OrcidApiError:
    error = (
        f"cvc-maxLength-valid: Value with length = '{len(value)}' is not facet-valid with respect to "
        f"maxLength '{maximum}' for type '{xsd_type}'."
    )
    return orcid_error(9047, error=error)


def _check_length(value: object, maximum: int, xsd_type: str) -> None:
    text = _text(value)
    if len(text) > maximum:
        raise _too_long(text, maximum, xsd_type)


def _put_code(raw: JsonObject) -> int | None:
    value = raw.get("put-code")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise orcid_error(9006, detail=f"Invalid put-code '{value}'")
    return int(value)


def _visibility(raw: JsonObject) -> str | None:
    value = raw.get("visibility")
    if value is None:
        return None
    if value not in VISIBILITIES:
        raise orcid_error(9037, type="visibility", values=", ".join(sorted(VISIBILITIES)))
    return str(value)


def parse_fuzzy_date(raw: object) -> tuple[int, int, int] | None:
    """Validate an ORCID fuzzy date (zero-padded strings, no day without month); None when absent."""
    if raw is None:
        return None
    year, month, day = (_text(_value_of(raw, part)) for part in ("year", "month", "day"))
    date_string = "-".join(part for part in (year, month, day) if part) or str(raw)
    invalid = orcid_error(9049, dateString=date_string)
    if not isinstance(raw, dict) or not year or not _YEAR.match(year) or not 1900 <= int(year) <= 2100:
        raise invalid
    if day and not month:
        raise invalid
    if month and (not _TWO_DIGITS.match(month) or not 1 <= int(month) <= 12):
        raise invalid
    if day and (not _TWO_DIGITS.match(day) or not 1 <= int(day) <= 31):
        raise invalid
    return int(year), int(month or 0), int(day or 0)


def _read_form_external_id(id_type: str, value: str, url: object, relationship: str) -> tuple[JsonObject, str]:
    normalized = normalize_external_id(id_type, value)
    url_value = _text(_child(url, "value") if isinstance(url, dict) else url)
    entry: JsonObject = {
        "external-id-type": id_type,
        "external-id-value": value,
        "external-id-normalized": {"value": normalized, "transient": True} if normalized else None,
        "external-id-normalized-error": None
        if normalized
        else {
            "error-code": "8001",
            "error-message": f"Cannot normalize identifier value {id_type}:{value}",
            "transient": True,
        },
        "external-id-url": {"value": url_value} if url_value else None,
        "external-id-relationship": relationship,
    }
    return entry, normalized


def _validate_external_ids(
    raw: object, *, required: bool
) -> tuple[JsonObject | None, frozenset[ExternalIdKey], frozenset[ExternalIdKey]]:
    entries = _child(raw, "external-id")
    if not entries:
        if required:
            raise orcid_error(9023)
        return None, frozenset(), frozenset()
    if not isinstance(entries, list):
        raise orcid_error(9023, detail="external-id must be a list")
    stored: list[JsonObject] = []
    self_keys: set[ExternalIdKey] = set()
    group_keys: set[ExternalIdKey] = set()
    for entry in entries:
        id_type = _text(_child(entry, "external-id-type")).strip()
        value = _text(_child(entry, "external-id-value"))
        relationship = _text(_child(entry, "external-id-relationship"))
        if not id_type or id_type.replace("_", "-") not in EXTERNAL_ID_TYPES:
            raise orcid_error(9023, detail=f"Invalid external-id type: '{id_type}'")
        if not value.strip():
            raise orcid_error(9023, detail=f"Empty external-id value for type '{id_type}'")
        if not relationship:
            raise orcid_error(9023, detail=f"Missing external-id relationship for '{id_type}:{value}'")
        if relationship not in RELATIONSHIPS:
            raise orcid_error(9023, detail=f"Invalid external-id relationship '{relationship}'")
        read_form, normalized = _read_form_external_id(id_type, value, _child(entry, "external-id-url"), relationship)
        stored.append(read_form)
        if relationship in _NON_GROUPING_RELATIONSHIPS:
            continue
        if relationship == "self":
            # An id ORCID cannot normalise still takes part in the duplicate check, by its raw value.
            self_keys.add((id_type, normalized or value.strip().lower()))
        if normalized:
            group_keys.add((id_type, normalized))
    return {"external-id": stored}, frozenset(self_keys), frozenset(group_keys)


def _validate_contributors(raw: object) -> None:
    contributors = _child(raw, "contributor")
    if contributors is None:
        return
    if not isinstance(contributors, list):
        raise orcid_error(9001, detail="contributor must be a list")
    for contributor in contributors:
        orcid_path = _child(_child(contributor, "contributor-orcid"), "path")
        if orcid_path is not None and not is_valid_orcid(_text(orcid_path)):
            raise orcid_error(9020, detail=f"Invalid contributor-orcid path '{orcid_path}'")
        _check_length(_value_of(contributor, "credit-name"), CREDIT_NAME_MAX, "string-150")
        attributes = _child(contributor, "contributor-attributes")
        sequence = _child(attributes, "contributor-sequence")
        if sequence is not None and sequence not in CONTRIBUTOR_SEQUENCES:
            raise orcid_error(9037, type="contributor-sequence", values=", ".join(sorted(CONTRIBUTOR_SEQUENCES)))
        role = _child(attributes, "contributor-role")
        if role is not None and not _is_contributor_role(_text(role)):
            raise orcid_error(9058, role=role, validRoles=", ".join(sorted(LEGACY_CONTRIBUTOR_ROLES)))


def _is_contributor_role(role: str) -> bool:
    if role in LEGACY_CONTRIBUTOR_ROLES:
        return True
    prefix = "http://credit.niso.org/contributor-roles/"
    return role.startswith(prefix) and role[len(prefix) :].rstrip("/") in CREDIT_ROLES


def _canonical_work_type(raw_type: object) -> str:
    work_type = WORK_TYPE_ALIASES.get(_text(raw_type), _text(raw_type))
    if work_type not in WORK_TYPES:
        raise orcid_error(9037, type="work type", values=", ".join(sorted(WORK_TYPES)))
    return work_type


def _validate_work_lengths(raw: JsonObject) -> None:
    title = _child(raw, "title")
    _check_length(_value_of(title, "title"), TITLE_MAX, "string-1000")
    _check_length(_value_of(title, "subtitle"), TITLE_MAX, "string-1000")
    _check_length(_value_of(title, "translated-title"), TITLE_MAX, "string-1000")
    _check_length(_value_of(raw, "journal-title"), TITLE_MAX, "string-1000")
    _check_length(raw.get("short-description"), SHORT_DESCRIPTION_MAX, "string-5000")


def _validate_citation(raw: object) -> None:
    if raw is None:
        return
    if _child(raw, "citation-type") not in CITATION_TYPES:
        raise orcid_error(9037, type="citation type", values=", ".join(sorted(CITATION_TYPES)))
    if not _text(_child(raw, "citation-value")).strip():
        raise orcid_error(9020, detail="citation-value is required when a citation is given")


def _validate_country_and_language(raw: JsonObject) -> None:
    country = _value_of(raw, "country")
    if country is not None and not _COUNTRY.match(_text(country)):
        raise orcid_error(9037, type="country", values="ISO 3166-1 alpha-2 codes")
    language = raw.get("language-code")
    if language is not None and not _LANGUAGE.match(_text(language)):
        raise orcid_error(9037, type="language code", values="ORCID language codes such as en, fr, zh_CN")


def validate_work(raw: object, *, creating: bool) -> ValidatedActivity:
    """Apply ORCID's work rules; raise the ORCID error the API would answer with."""
    work = _require_object(raw)
    _validate_work_lengths(work)
    put_code = _put_code(work)
    if creating and put_code is not None:
        raise orcid_error(9024)
    if not _text(_value_of(_child(work, "title"), "title")).strip():
        raise orcid_error(9022)
    work_type = _canonical_work_type(work.get("type"))
    parse_fuzzy_date(work.get("publication-date"))
    _validate_citation(work.get("citation"))
    _validate_country_and_language(work)
    _validate_contributors(work.get("contributors"))
    external_ids, self_keys, group_keys = _validate_external_ids(work.get("external-ids"), required=True)
    if not self_keys:
        raise orcid_error(9023, detail="At least one identifier with 'self' relationship is required")
    body: JsonObject = {field: work.get(field) for field in _WORK_FIELDS}
    body["type"] = work_type
    body["external-ids"] = external_ids
    return ValidatedActivity(body, self_keys, group_keys, put_code, _visibility(work))


def validate_researcher_url(raw: object, *, creating: bool) -> ValidatedResearcherUrl:
    """Apply ORCID's researcher-url rules."""
    item = _require_object(raw)
    url = _text(_value_of(item, "url")).strip()
    url_name = item.get("url-name")
    _check_length(url_name, URL_NAME_MAX, "string-350")
    _check_length(url, URL_MAX, "url")
    put_code = _put_code(item)
    if creating and put_code is not None:
        raise orcid_error(9024)
    if not url:
        raise orcid_error(9006, detail="The researcher-url url must not be empty")
    return ValidatedResearcherUrl(url, _text(url_name) or None, put_code, _visibility(item))


def _validate_organization(organization: object) -> None:
    if not isinstance(organization, dict) or not _text(organization.get("name")).strip():
        raise orcid_error(9046)
    _check_length(organization.get("name"), LONG_TEXT_MAX, "long-text")
    address = organization.get("address")
    city = _text(_child(address, "city")).strip()
    country = _text(_child(address, "country")).strip()
    if not city or not country:
        raise orcid_error(9060)
    _check_length(city, LONG_TEXT_MAX, "long-text")
    _check_length(_child(address, "region"), LONG_TEXT_MAX, "long-text")
    if not _COUNTRY.match(country):
        raise orcid_error(9037, type="country", values="ISO 3166-1 alpha-2 codes")
    disambiguated = organization.get("disambiguated-organization")
    identifier = _text(_child(disambiguated, "disambiguated-organization-identifier")).strip()
    source = _text(_child(disambiguated, "disambiguation-source")).strip()
    if not identifier or source not in DISAMBIGUATION_SOURCES:
        raise orcid_error(9045)
    if source == "ROR" and not _ROR_ID.match(identifier):
        raise orcid_error(9045, detail=f"Unknown ROR identifier '{identifier}'")


def _precedes(first: tuple[int, int, int], second: tuple[int, int, int]) -> bool:
    """Whether `first` is before `second`, compared only as precisely as both dates are given."""
    precision = min(sum(1 for part in first if part), sum(1 for part in second if part))
    return first[:precision] < second[:precision]


def validate_employment(raw: object, *, creating: bool) -> ValidatedActivity:
    """Apply ORCID's affiliation rules to an employment."""
    employment = _require_object(raw)
    _check_length(employment.get("department-name"), LONG_TEXT_MAX, "long-text")
    _check_length(employment.get("role-title"), LONG_TEXT_MAX, "long-text")
    put_code = _put_code(employment)
    if creating and put_code is not None:
        raise orcid_error(9024)
    _validate_organization(employment.get("organization"))
    start = parse_fuzzy_date(employment.get("start-date"))
    end = parse_fuzzy_date(employment.get("end-date"))
    if end is not None and start is None:
        raise orcid_error(9050)
    if start is not None and end is not None and _precedes(end, start):
        raise orcid_error(9055)
    external_ids, self_keys, group_keys = _validate_external_ids(employment.get("external-ids"), required=False)
    body: JsonObject = {field: employment.get(field) for field in _EMPLOYMENT_FIELDS}
    body["external-ids"] = external_ids
    return ValidatedActivity(body, self_keys, group_keys, put_code, _visibility(employment))

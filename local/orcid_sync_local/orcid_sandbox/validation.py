"""ORCID's write-side rules for works, researcher URLs and employments (independent of orcid_sync).

Every item is first checked against ORCID's 3.0 XSD (``xsd.py``): its shape, required elements, lengths, patterns,
number ranges and attribute types all come from there, with ORCID's 400/9047. What follows here is only what ORCID
checks in code because the XSD cannot say it: vocabularies the XSD leaves as plain strings, zero-padded and real
calendar dates, a `self` id, a citation value, the organization rules, the date range, put-codes on create, and where a
contributor's iD lives. Duplicates, ownership, visibility changes and 9019 need the stored record (``state.py``,
``member_api.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from .errors import OrcidApiError, orcid_error
from .identifiers import normalize_external_id
from .vocabularies import Vocabularies
from .xsd import OrcidModel

JsonObject = dict[str, Any]
ExternalIdKey = tuple[str, str]

# Relationships ORCID leaves out of grouping and of the duplicate check.
_NON_GROUPING_RELATIONSHIPS = frozenset({"part-of", "funded-by"})
# The hosts a contributor's iD URI may name: ORCID's, which this sandbox stands in for. ORCID's own pattern,
# https://[^/]*orcid\.org/<iD>, would also let look-alikes such as notorcid.org through.
ORCID_ID_HOSTS = frozenset({"orcid.org", "sandbox.orcid.org"})
_ROR_ID = re.compile(r"^https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}$")
_YEAR = re.compile(r"^\d{4}$")
_TWO_DIGITS = re.compile(r"^\d{2}$")
URL_MAX = 2000  # ORCID's SiteConstants.URL_MAX_LENGTH; the XSD's xs:anyURI has no limit


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


def _text(value: object) -> str:
    """The text of an XSD-valid value, given bare or as ORCID's ``{"value": ...}``."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value_of(container: object, key: str) -> str:
    return _text(_child(container, key))


def _put_code(raw: JsonObject) -> int | None:
    # The XSD has already checked that it is an xs:integer.
    value = raw.get("put-code")
    return None if value is None else int(str(value).strip())


def _visibility(raw: JsonObject) -> str | None:
    value = raw.get("visibility")
    return None if value is None else str(value)


def _invalid_value(kind: str, values: frozenset[str]) -> OrcidApiError:
    return orcid_error(9037, type=kind, values=", ".join(sorted(values)))


def parse_fuzzy_date(raw: object) -> tuple[int, int, int] | None:
    """An XSD-valid fuzzy date that ORCID also accepts: zero-padded and on the calendar (else 9049); None if absent."""
    if raw is None:
        return None
    year, month, day = (_value_of(raw, part).strip() for part in ("year", "month", "day"))
    date_string = "-".join(part for part in (year, month, day) if part)
    invalid = orcid_error(9049, dateString=date_string)
    if not _YEAR.match(year) or any(part and not _TWO_DIGITS.match(part) for part in (month, day)):
        raise invalid
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise invalid from None
    return int(year), int(month or 0), int(day or 0)


def _read_form_external_id(id_type: str, value: str, url: str, relationship: str) -> tuple[JsonObject, str]:
    normalized = normalize_external_id(id_type, value)
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
        "external-id-url": {"value": url} if url else None,
        "external-id-relationship": relationship,
    }
    return entry, normalized


def _as_object(raw: object) -> JsonObject:
    # The XSD check maps nothing but a JSON object onto an item, so this only narrows the type.
    if not isinstance(raw, dict):
        raise orcid_error(9047, error="The request body must be a JSON object")
    return raw


def _entries(container: object, key: str) -> list[Any]:
    """A repeated element's items (Jackson also takes a single object where an array belongs)."""
    items = _child(container, key)
    if items is None:
        return []
    return [item for item in (items if isinstance(items, list) else [items]) if item is not None]


@dataclass(frozen=True)
class OrcidRules:
    """ORCID's rules for each item it receives: the XSD first, then the rules ORCID enforces in code."""

    model: OrcidModel

    @property
    def vocabularies(self) -> Vocabularies:
        """The code-enforced value lists."""
        return self.model.vocabularies

    def _external_ids(
        self, raw: object, *, required: bool
    ) -> tuple[JsonObject | None, frozenset[ExternalIdKey], frozenset[ExternalIdKey]]:
        entries = _entries(raw, "external-id")
        if not entries:
            if required:
                raise orcid_error(9023)
            return None, frozenset(), frozenset()
        stored: list[JsonObject] = []
        self_keys: set[ExternalIdKey] = set()
        group_keys: set[ExternalIdKey] = set()
        for entry in entries:
            id_type = _value_of(entry, "external-id-type")
            value = _value_of(entry, "external-id-value")
            relationship = _value_of(entry, "external-id-relationship")
            if id_type.replace("_", "-") not in self.vocabularies.external_id_types:
                raise orcid_error(9023, detail=f"Invalid external-id type: '{id_type}'")
            if not relationship:
                raise orcid_error(9023, detail=f"Missing external-id relationship for '{id_type}:{value}'")
            if relationship not in self.vocabularies.relationships:
                raise orcid_error(9023, detail=f"Invalid external-id relationship '{relationship}'")
            url = _value_of(entry, "external-id-url")
            read_form, normalized = _read_form_external_id(id_type, value, url, relationship)
            stored.append(read_form)
            if relationship in _NON_GROUPING_RELATIONSHIPS:
                continue
            if relationship == "self":
                # An id ORCID cannot normalise still takes part in the duplicate check, by its raw value.
                self_keys.add((id_type, normalized or value.strip().lower()))
            if normalized:
                group_keys.add((id_type, normalized))
        return {"external-id": stored}, frozenset(self_keys), frozenset(group_keys)

    def _contributors(self, raw: object) -> None:
        vocabularies = self.vocabularies
        for contributor in _entries(raw, "contributor"):
            orcid_id = _child(contributor, "contributor-orcid")
            uri = _value_of(orcid_id, "uri")
            if uri and urlsplit(uri).hostname not in ORCID_ID_HOSTS:
                raise orcid_error(9020, detail=f"Invalid contributor URI '{uri}': iDs live on orcid.org")
            host = _value_of(orcid_id, "host")
            if host and host not in ORCID_ID_HOSTS:
                raise orcid_error(9020, detail=f"Invalid contributor host '{host}': iDs live on orcid.org")
            # contributor-sequence is an XSD enumeration (first, additional); the role is only a string there.
            role = _value_of(_child(contributor, "contributor-attributes"), "contributor-role")
            if role and not vocabularies.is_contributor_role(role):
                raise orcid_error(9058, role=role, validRoles=", ".join(sorted(vocabularies.legacy_contributor_roles)))

    def _work_type(self, raw_type: str) -> str:
        work_type = self.vocabularies.work_type_aliases.get(raw_type, raw_type)
        if work_type not in self.vocabularies.work_types:
            raise _invalid_value("work type", self.vocabularies.work_types)
        return work_type

    def work(self, raw: object, *, creating: bool) -> ValidatedActivity:
        """Apply ORCID's work rules, in ActivityValidator's order; raise the ORCID error the API would answer with."""
        self.model.items["work"].validate(raw)
        raw = _as_object(raw)
        vocabularies = self.vocabularies
        country = _value_of(raw, "country")
        if country and country not in vocabularies.countries:
            raise _invalid_value("country", vocabularies.countries)
        translated = _child(_child(raw, "title"), "translated-title")
        if translated is not None and _value_of(translated, "language-code") not in vocabularies.languages:
            raise _invalid_value("translated title -> language code", vocabularies.languages)
        work_type = self._work_type(_value_of(raw, "type"))
        language = _value_of(raw, "language-code")
        if language.strip() and language not in vocabularies.languages:
            raise _invalid_value("language code", vocabularies.languages)
        parse_fuzzy_date(raw.get("publication-date"))
        citation = raw.get("citation")
        if citation is not None:
            if _value_of(citation, "citation-type") not in vocabularies.citation_types:
                raise _invalid_value("citation type", vocabularies.citation_types)
            if not _value_of(citation, "citation-value").strip():
                raise orcid_error(9020, detail="Please specify a citation or remove the parent tag")
        if not _entries(raw.get("external-ids"), "external-id"):
            raise orcid_error(9023)
        self._contributors(raw.get("contributors"))
        put_code = _put_code(raw)
        if creating and put_code is not None:
            raise orcid_error(9024)
        external_ids, self_keys, group_keys = self._external_ids(raw.get("external-ids"), required=True)
        if not self_keys:
            raise orcid_error(9023, detail="At least one identifier with 'self' relationship is required")
        body: JsonObject = {field: raw.get(field) for field in _WORK_FIELDS}
        body["type"] = work_type
        body["external-ids"] = external_ids
        return ValidatedActivity(body, self_keys, group_keys, put_code, _visibility(raw))

    def researcher_url(self, raw: object, *, creating: bool) -> ValidatedResearcherUrl:
        """Apply ORCID's researcher-url rules."""
        self.model.items["researcher-url"].validate(raw)
        raw = _as_object(raw)
        url = _value_of(raw, "url").strip()
        put_code = _put_code(raw)
        if creating and put_code is not None:
            raise orcid_error(9024)
        if not url:
            raise orcid_error(9006, detail="The researcher-url url must not be empty")
        if len(url) > URL_MAX:
            raise orcid_error(9047, error=f"url is {len(url)} characters long; ORCID allows at most {URL_MAX}")
        return ValidatedResearcherUrl(url, _value_of(raw, "url-name") or None, put_code, _visibility(raw))

    def _organization(self, organization: object) -> None:
        if organization is None:
            raise orcid_error(9046)
        address = _child(organization, "address")
        city = _value_of(address, "city")
        country = _value_of(address, "country")
        if not city.strip() or not country.strip():
            raise orcid_error(9060)
        if country not in self.vocabularies.countries:
            raise _invalid_value("country", self.vocabularies.countries)
        disambiguated = _child(organization, "disambiguated-organization")
        identifier = _value_of(disambiguated, "disambiguated-organization-identifier").strip()
        source = _value_of(disambiguated, "disambiguation-source").strip()
        if not identifier or source not in self.vocabularies.disambiguation_sources:
            raise orcid_error(9045)
        if source == "ROR" and not _ROR_ID.match(identifier):
            raise orcid_error(9045, detail=f"Unknown ROR identifier '{identifier}'")

    def employment(self, raw: object, *, creating: bool) -> ValidatedActivity:
        """Apply ORCID's affiliation rules to an employment."""
        self.model.items["employment"].validate(raw)
        raw = _as_object(raw)
        put_code = _put_code(raw)
        if creating and put_code is not None:
            raise orcid_error(9024)
        self._organization(raw.get("organization"))
        start = parse_fuzzy_date(raw.get("start-date"))
        end = parse_fuzzy_date(raw.get("end-date"))
        if end is not None and start is None:
            raise orcid_error(9050)
        if start is not None and end is not None and _precedes(end, start):
            raise orcid_error(9055)
        external_ids, self_keys, group_keys = self._external_ids(raw.get("external-ids"), required=False)
        body: JsonObject = {field: raw.get(field) for field in _EMPLOYMENT_FIELDS}
        body["external-ids"] = external_ids
        return ValidatedActivity(body, self_keys, group_keys, put_code, _visibility(raw))


_WORK_FIELDS = (
    "title", "journal-title", "short-description", "citation", "type", "publication-date", "external-ids", "url",
    "contributors", "language-code", "country",
)  # fmt: skip
_EMPLOYMENT_FIELDS = ("department-name", "role-title", "start-date", "end-date", "organization", "url", "external-ids")


def _precedes(first: tuple[int, int, int], second: tuple[int, int, int]) -> bool:
    """Whether `first` is before `second`, compared only as precisely as both dates are given."""
    precision = min(sum(1 for part in first if part), sum(1 for part in second if part))
    return first[:precision] < second[:precision]

"""ORCID iDs (ISO 7064 MOD 11-2) and ORCID's normalisation of work external identifiers."""

from __future__ import annotations

import re
from collections.abc import Callable

_ORCID_PATTERN = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
# The range ORCID issues new iDs from (0009-0000-0000-0000 to 0009-0010-0000-...).
FIRST_SANDBOX_ORCID_BASE = 900_000_000_000
LAST_SANDBOX_ORCID_BASE = 900_100_000_000

# Types whose values ORCID compares case-insensitively (the identifier-types table flags the others).
_CASE_INSENSITIVE_TYPES = frozenset(
    {"doi", "pmid", "pmc", "isbn", "issn", "arxiv", "handle", "eid", "wosuid", "urn", "ethos", "ssrn", "jstor", "ol"}
)
_DOI = re.compile(r"10(?:\.[0-9a-zA-Z]+)+/\S+")
_PMID_PREFIXES = ("pmid:", "pmid", "https://pubmed.ncbi.nlm.nih.gov/", "http://pubmed.ncbi.nlm.nih.gov/")
_PMID_EMBEDDED = re.compile(r"(?:pubmed|med)/(\d+)/?$")
_PMC = re.compile(r"^(?:pmc)?(\d+)$")
_ISSN = re.compile(r"(\d{4})-?(\d{3}[\dx])")
_XML_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'"}


def orcid_check_digit(base15: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 15 digits of an iD."""
    total = 0
    for digit in base15:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def format_orcid(base_number: int) -> str:
    """The hyphenated iD for a 15-digit base number, check character included."""
    digits = f"{base_number:015d}"
    full = digits + orcid_check_digit(digits)
    return "-".join(full[index : index + 4] for index in range(0, 16, 4))


def is_valid_orcid(orcid: str) -> bool:
    """True for a hyphenated 16-character iD whose check character is right."""
    if not _ORCID_PATTERN.match(orcid):
        return False
    digits = orcid.replace("-", "")
    return orcid_check_digit(digits[:15]) == digits[15]


def _unescape_xml(value: str) -> str:
    # Values may arrive XML-escaped more than once; ORCID unescapes until nothing changes.
    previous = None
    while previous != value and "&" in value and ";" in value:
        previous = value
        for entity, character in _XML_ENTITIES.items():
            value = value.replace(entity, character)
    return value


def _normalize_doi(value: str) -> str:
    match = _DOI.search(_unescape_xml(value))
    return match.group(0) if match else ""


def _normalize_pmid(value: str) -> str:
    candidate = value.strip()
    for prefix in _PMID_PREFIXES:
        if candidate.startswith(prefix):
            candidate = candidate[len(prefix) :].strip()
            break
    candidate = candidate.rstrip("/")
    if candidate.isdigit():
        return candidate
    embedded = _PMID_EMBEDDED.search(value.strip())
    return embedded.group(1) if embedded else ""


def _normalize_pmc(value: str) -> str:
    match = _PMC.match(value.strip().removeprefix("pmcid:").strip())
    return f"PMC{match.group(1)}" if match else ""


def _normalize_issn(value: str) -> str:
    match = _ISSN.search(value)
    return f"{match.group(1)}-{match.group(2).upper()}" if match else ""


def _normalize_isbn(value: str) -> str:
    compact = re.sub(r"[\s-]", "", value.removeprefix("isbn:"))
    return compact if re.fullmatch(r"\d{9}[\dx]|\d{13}", compact) else ""


def normalize_external_id(id_type: str, value: str) -> str:
    """ORCID's transient normalised form of an external id; "" when it cannot be normalised."""
    normalized = value.strip()
    if id_type in _CASE_INSENSITIVE_TYPES:
        normalized = normalized.lower()
    normalizer = _NORMALIZERS.get(id_type)
    return normalizer(normalized) if normalizer is not None else normalized


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "doi": _normalize_doi,
    "pmid": _normalize_pmid,
    "pmc": _normalize_pmc,
    "issn": _normalize_issn,
    "isbn": _normalize_isbn,
    "arxiv": lambda value: value.removeprefix("arxiv:"),
}

"""Parsing and normalising the identifiers we exchange with ORCID and the repository.

Every parser returns the canonical form or raises :class:`InvalidIdentifierError` with a
message a person can act on ("check character should be 7, not 8").

The check-character arithmetic is python-stdnum's (ISO 7064 MOD 11-2 for ORCID iDs, ISBN,
EAN-13, ISSN); the shapes we accept, the canonical forms and the messages are ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import AfterValidator

# python-stdnum is imported where a check character is computed, not here: every function imports this module
# (through the models), and stdnum's package imports pydoc and ssl, about 20 ms of cold start for nothing.


class InvalidIdentifierError(ValueError):
    """An identifier that cannot be what it claims to be."""


# --- ORCID iD (ISO 7064 MOD 11-2) -------------------------------------------------------------

_ORCID_PREFIXES = re.compile(r"^(?:https?://)?(?:www\.)?(?:sandbox\.)?orcid\.org/", re.IGNORECASE)
_ORCID_SHAPE = re.compile(r"^([0-9]{4})-?([0-9]{4})-?([0-9]{4})-?([0-9]{3}[0-9X])$")


def orcid_check_character(base_digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 15 digits of an iD."""
    from stdnum.iso7064 import mod_11_2  # noqa: PLC0415 - see the imports above

    return mod_11_2.calc_check_digit(base_digits)


def parse_orcid(value: str) -> str:
    """Accept a bare or ``https://orcid.org/`` iD and return the bare hyphenated form."""
    if not isinstance(value, str):
        raise InvalidIdentifierError("an ORCID iD must be a string")
    raw = _ORCID_PREFIXES.sub("", value.strip()).rstrip("/").upper()
    match = _ORCID_SHAPE.match(raw)
    if match is None:
        raise InvalidIdentifierError(
            f"{value!r} is not an ORCID iD: expected 16 characters like 0000-0002-1825-0097 (last may be X)"
        )
    digits = "".join(match.groups())
    expected = orcid_check_character(digits[:15])
    if digits[15] != expected:
        raise InvalidIdentifierError(
            f"{value!r} is not a valid ORCID iD: its check character should be {expected}, not {digits[15]}"
        )
    return "-".join(match.groups())


def orcid_uri(orcid: str, *, sandbox: bool = False) -> str:
    """The full https form ORCID's display guidelines ask for."""
    host = "sandbox.orcid.org" if sandbox else "orcid.org"
    return f"https://{host}/{parse_orcid(orcid)}"


OrcidId = Annotated[str, AfterValidator(parse_orcid)]
"""A pydantic field type: validated and normalised to ``0000-0000-0000-0000``."""


# --- DOI, PMID, PMCID (with ORCID's normalisation for dedupe keys) -----------------------------
# Kept our own on purpose: python-stdnum has no DOI, PMID or PMCID module, and the ``*_key``
# functions must reproduce ORCID's own normalisation (the first ``10.…/…`` match, lower-cased;
# the digits without leading zeros), which is what the push matches our works on ORCID by.
# A general identifier library would normalise differently and break that match.

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"^10\.[0-9]{4,9}/\S+$")
_DOI_SEARCH = re.compile(r"10(?:\.[0-9a-zA-Z]+)+/\S+")


def parse_doi(value: str) -> str:
    """Accept ``10.x/y``, ``doi:10.x/y`` or ``https://doi.org/10.x/y``; return the bare DOI (case kept)."""
    raw = _DOI_PREFIX.sub("", value.strip())
    if not _DOI_SHAPE.match(raw):
        raise InvalidIdentifierError(f"{value!r} is not a DOI: expected 10.<registrant>/<suffix>, e.g. 10.1234/abc")
    return raw


def doi_key(value: str) -> str:
    """ORCID's DOI normalisation (first ``10.…/…`` match, lower-cased); "" if there is none."""
    match = _DOI_SEARCH.search(_DOI_PREFIX.sub("", value.strip()))
    return match.group(0).lower() if match else ""


_PMID_PREFIX = re.compile(
    r"^(?:pmid:?\s*|https?://(?:www\.)?(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/)|pubmed/|med/)",
    re.IGNORECASE,
)


def parse_pmid(value: str) -> str:
    """Accept ``12345``, ``PMID:12345`` or a PubMed URL; return the digits."""
    raw = _PMID_PREFIX.sub("", str(value).strip()).rstrip("/")
    if not re.fullmatch(r"[1-9][0-9]{0,8}", raw):
        raise InvalidIdentifierError(f"{value!r} is not a PMID: expected 1 to 9 digits, e.g. 31452104")
    return raw


def pmid_key(value: str) -> str:
    """ORCID's PMID normalisation: the digits, or "" if there are none."""
    match = re.search(r"[0-9]+", _PMID_PREFIX.sub("", str(value).strip()))
    return match.group(0).lstrip("0") if match else ""


def parse_pmcid(value: str) -> str:
    """Accept ``PMC123`` (any case) or bare digits; return ``PMC123``."""
    raw = value.strip().upper()
    raw = raw if raw.startswith("PMC") else f"PMC{raw}"
    if not re.fullmatch(r"PMC[0-9]{1,10}", raw):
        raise InvalidIdentifierError(f"{value!r} is not a PMCID: expected PMC followed by digits, e.g. PMC6780471")
    return raw


# --- ISBN, ISSN -------------------------------------------------------------------------------
# We check the shape ourselves first (ASCII digits only, no 9-digit SBN padded to an ISBN-10 as
# stdnum's compact() does) and leave the check-digit arithmetic to python-stdnum.


def _isbn_check_digit_holds(compact: str) -> bool:
    from stdnum import ean, isbn  # noqa: PLC0415 - see the imports above
    from stdnum.exceptions import ValidationError as StdnumValidationError  # noqa: PLC0415

    try:
        if len(compact) == 10:
            isbn.validate(compact)
        else:
            # An ISBN-13 is an EAN-13. stdnum.isbn also demands the 978/979 "Bookland" prefix; we have
            # always accepted any EAN-13 with a correct check digit here, and keep doing so.
            ean.validate(compact)
    except StdnumValidationError:
        return False
    return True


def parse_isbn(value: str) -> str:
    """ISBN-10 or ISBN-13 with a valid check digit; returned without hyphens or spaces."""
    raw = re.sub(r"[\s-]", "", value.strip().upper().removeprefix("ISBN").removeprefix(":").strip())
    if re.fullmatch(r"[0-9]{9}[0-9X]|[0-9]{13}", raw) and _isbn_check_digit_holds(raw):
        return raw
    raise InvalidIdentifierError(f"{value!r} is not a valid ISBN-10 or ISBN-13 (wrong length or check digit)")


def parse_issn(value: str) -> str:
    """ISSN with a valid check digit, returned as ``1234-567X``."""
    from stdnum import issn  # noqa: PLC0415 - see the imports above

    raw = re.sub(r"[\s-]", "", value.strip().upper().removeprefix("ISSN").strip())
    if re.fullmatch(r"[0-9]{7}[0-9X]", raw) and issn.is_valid(raw):
        return issn.format(raw)
    raise InvalidIdentifierError(f"{value!r} is not a valid ISSN (expected 1234-567X with a correct check digit)")


# --- Partial dates (YYYY, YYYY-MM, YYYY-MM-DD) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A publication date as precise as the repository knows it."""

    year: int
    month: int | None = None
    day: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.year:04d}"]
        if self.month is not None:
            parts.append(f"{self.month:02d}")
            if self.day is not None:
                parts.append(f"{self.day:02d}")
        return "-".join(parts)


def parse_partial_date(value: str) -> PartialDate:
    """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` and check it is a real calendar date."""
    match = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", value.strip())
    if match is None:
        raise InvalidIdentifierError(f"{value!r} is not a date: expected YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(p) if p else None for p in match.groups())
    assert year is not None  # the regex requires it
    if month is not None and not 1 <= month <= 12:
        raise InvalidIdentifierError(f"{value!r} has month {month:02d}; months run from 01 to 12")
    if day is not None:
        try:
            date(year, month or 1, day)
        except ValueError:
            raise InvalidIdentifierError(f"{value!r} is not a real date (day {day:02d} does not exist)") from None
    return PartialDate(year, month, day)


def _check_partial_date(value: str) -> str:
    return str(parse_partial_date(value))


PartialDateStr = Annotated[str, AfterValidator(_check_partial_date)]
"""A pydantic field type for ``YYYY[-MM[-DD]]`` strings."""
DoiStr = Annotated[str, AfterValidator(parse_doi)]
PmidStr = Annotated[str, AfterValidator(parse_pmid)]
PmcidStr = Annotated[str, AfterValidator(parse_pmcid)]
IsbnStr = Annotated[str, AfterValidator(parse_isbn)]
IssnStr = Annotated[str, AfterValidator(parse_issn)]

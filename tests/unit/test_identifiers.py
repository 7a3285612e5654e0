"""Identifier parsing: ORCID iDs (MOD 11-2), DOIs, PMIDs, PMCIDs, ISBNs, ISSNs and partial dates."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from orcid_sync.domain.identifiers import (
    DoiStr,
    InvalidIdentifierError,
    OrcidId,
    PartialDate,
    PartialDateStr,
    doi_key,
    orcid_check_character,
    orcid_uri,
    parse_doi,
    parse_isbn,
    parse_issn,
    parse_orcid,
    parse_partial_date,
    parse_pmcid,
    parse_pmid,
    pmid_key,
)

# --- ORCID iD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("orcid", ["0000-0002-1825-0097", "0000-0002-9079-593X", "0000-0001-2345-6789"])
def test_known_valid_ids(orcid: str) -> None:
    assert parse_orcid(orcid) == orcid


@pytest.mark.parametrize(
    "written",
    [
        "0000-0002-9079-593X",
        "0000-0002-9079-593x",
        "000000029079593X",
        "https://orcid.org/0000-0002-9079-593X",
        "http://orcid.org/0000-0002-9079-593X/",
        "https://sandbox.orcid.org/0000-0002-9079-593X",
        "orcid.org/0000-0002-9079-593x",
        "  https://www.orcid.org/0000-0002-9079-593X ",
    ],
)
def test_id_forms_normalise_to_the_bare_hyphenated_id(written: str) -> None:
    assert parse_orcid(written) == "0000-0002-9079-593X"


def test_wrong_check_character_names_the_expected_one() -> None:
    with pytest.raises(InvalidIdentifierError, match="check character should be 7, not 8"):
        parse_orcid("0000-0002-1825-0098")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0000-0002-1825-009",
        "0000-0002-1825-00977",
        "0000-0002-1825-009Y",
        "https://example.org/0000-0002-1825-0097",
    ],
)
def test_malformed_ids_are_rejected_with_the_expected_shape(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=re.escape("expected 16 characters like 0000-0002-1825-0097")):
        parse_orcid(bad)


def test_orcid_uri_uses_the_right_host() -> None:
    assert orcid_uri("0000000218250097") == "https://orcid.org/0000-0002-1825-0097"
    assert orcid_uri("0000-0002-1825-0097", sandbox=True) == "https://sandbox.orcid.org/0000-0002-1825-0097"


fifteen_digits = st.text(alphabet="0123456789", min_size=15, max_size=15)


def hyphenated(digits: str) -> str:
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


@given(fifteen_digits)
def test_any_15_digits_with_their_check_character_parse(base: str) -> None:
    orcid = hyphenated(base + orcid_check_character(base))

    assert parse_orcid(orcid) == orcid
    assert parse_orcid(orcid.replace("-", "").lower()) == orcid


@given(fifteen_digits, st.sampled_from("0123456789X"))
def test_any_other_check_character_is_rejected(base: str, check: str) -> None:
    expected = orcid_check_character(base)
    if check == expected:
        return

    with pytest.raises(InvalidIdentifierError, match=f"should be {expected}, not {check}"):
        parse_orcid(hyphenated(base + check))


@given(fifteen_digits, st.integers(min_value=0, max_value=14), st.integers(min_value=1, max_value=9))
def test_a_single_changed_digit_is_always_caught(base: str, position: int, shift: int) -> None:
    valid = base + orcid_check_character(base)
    changed = str((int(valid[position]) + shift) % 10)
    typo = valid[:position] + changed + valid[position + 1 :]

    with pytest.raises(InvalidIdentifierError):
        parse_orcid(typo)


def test_orcid_id_field_type_validates_and_normalises() -> None:
    class Researcher(BaseModel):
        orcid: OrcidId

    assert Researcher(orcid="https://orcid.org/0000-0002-9079-593x").orcid == "0000-0002-9079-593X"
    with pytest.raises(ValidationError, match="check character"):
        Researcher(orcid="0000-0002-9079-5930")


# --- DOI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "10.1087/20120404",
        "doi:10.1087/20120404",
        "DOI: 10.1087/20120404",
        "https://doi.org/10.1087/20120404",
        "http://dx.doi.org/10.1087/20120404",
    ],
)
def test_doi_forms_parse_to_the_bare_doi(written: str) -> None:
    assert parse_doi(written) == "10.1087/20120404"


def test_doi_case_is_kept_but_the_key_is_lower_case() -> None:
    assert parse_doi("10.1000/ABC.Def") == "10.1000/ABC.Def"
    assert doi_key("https://doi.org/10.1000/ABC.Def") == "10.1000/abc.def"


@pytest.mark.parametrize("bad", ["work:doi", "10.12/short-registrant", "11.1234/x", "10.1234/"])
def test_non_dois_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="is not a DOI"):
        parse_doi(bad)


def test_doi_key_is_empty_when_orcid_could_not_normalise() -> None:
    assert doi_key("work:doi") == ""


dois = st.builds(
    lambda registrant, suffix, prefix: f"{prefix}10.{registrant}/{suffix}",
    st.integers(min_value=1000, max_value=999_999_999),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    st.sampled_from(["", "doi:", "https://doi.org/", "HTTPS://DX.DOI.ORG/"]),
)


@given(dois)
def test_doi_key_is_idempotent_and_lower_case(doi: str) -> None:
    key = doi_key(doi)

    assert key == key.lower()
    assert doi_key(key) == key
    assert key == parse_doi(doi).lower()


@given(st.text(max_size=60))
def test_doi_key_never_fails_and_is_idempotent_on_any_text(text: str) -> None:
    key = doi_key(text)

    assert doi_key(key) == key


def test_doi_field_type() -> None:
    class Asset(BaseModel):
        doi: DoiStr

    assert Asset(doi="https://doi.org/10.1234/abc").doi == "10.1234/abc"


# --- PMID, PMCID ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "31452104",
        "PMID:31452104",
        "pmid: 31452104",
        "https://pubmed.ncbi.nlm.nih.gov/31452104/",
        "https://www.ncbi.nlm.nih.gov/pubmed/31452104",
        "pubmed/31452104",
        "med/31452104",
    ],
)
def test_pmid_forms_parse_to_digits(written: str) -> None:
    assert parse_pmid(written) == "31452104"
    assert pmid_key(written) == "31452104"


@pytest.mark.parametrize("bad", ["", "0123", "PMC6780471", "1234567890", "12a4"])
def test_non_pmids_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="is not a PMID"):
        parse_pmid(bad)


@pytest.mark.parametrize("written", ["PMC6780471", "pmc6780471", "6780471", " PMC6780471 "])
def test_pmcid_forms_parse_to_pmc_digits(written: str) -> None:
    assert parse_pmcid(written) == "PMC6780471"


def test_non_pmcids_are_rejected() -> None:
    with pytest.raises(InvalidIdentifierError, match="is not a PMCID"):
        parse_pmcid("PMCX12")


# --- ISBN, ISSN ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("978-0-306-40615-7", "9780306406157"),
        ("ISBN 978 0 306 40615 7", "9780306406157"),
        ("0-306-40615-2", "0306406152"),
        ("0-8044-2957-x", "080442957X"),
    ],
)
def test_isbns_with_valid_check_digits(written: str, expected: str) -> None:
    assert parse_isbn(written) == expected


@pytest.mark.parametrize("bad", ["978-0-306-40615-8", "0-306-40615-3", "12345", "97803064061X7"])
def test_isbns_with_wrong_check_digits_or_length(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="not a valid ISBN"):
        parse_isbn(bad)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0028-0836", "0028-0836"),
        ("00280836", "0028-0836"),
        ("ISSN 2049-3630", "2049-3630"),
        ("0000-006x", "0000-006X"),
    ],
)
def test_issns_with_valid_check_digits(written: str, expected: str) -> None:
    assert parse_issn(written) == expected


@pytest.mark.parametrize("bad", ["0028-0837", "0028-083", "abcd-efgh"])
def test_issns_with_wrong_check_digits(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="not a valid ISSN"):
        parse_issn(bad)


# --- partial dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2022", PartialDate(2022)),
        ("2022-05", PartialDate(2022, 5)),
        ("2024-02-29", PartialDate(2024, 2, 29)),
        (" 1999-12-31 ", PartialDate(1999, 12, 31)),
    ],
)
def test_partial_dates(written: str, expected: PartialDate) -> None:
    assert parse_partial_date(written) == expected
    assert str(expected) == written.strip()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("2022-13", "months run from 01 to 12"),
        ("2023-02-29", "day 29 does not exist"),
        ("22-05-01", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("2022/05/01", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("2022-5", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
    ],
)
def test_bad_partial_dates(bad: str, message: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=re.escape(message)):
        parse_partial_date(bad)


@given(st.dates(), st.integers(min_value=1, max_value=3))
def test_partial_dates_round_trip_through_text(day: date, precision: int) -> None:
    text = day.isoformat()[: (4, 7, 10)[precision - 1]]

    assert str(parse_partial_date(text)) == text


def test_partial_date_field_type_normalises() -> None:
    class Asset(BaseModel):
        published: PartialDateStr

    assert Asset(published=" 2021-07 ").published == "2021-07"
    with pytest.raises(ValidationError, match="is not a real date"):
        Asset(published="2021-04-31")

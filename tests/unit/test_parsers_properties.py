"""Bad input, generated: every parser accepts or refuses *any* input cleanly, and what it accepts is canonical.

These extend the example-based and property tests beside them (test_identifiers.py covers ORCID iDs,
``doi_key`` on any text and partial-date round trips; test_token_rows.py the token row parser, CSV/JSON
equivalence and streaming): here are the other identifier parsers, the asset and researcher batches,
the integration settings and raw token bodies. Example counts are bounded for CI (``PROPERTY_EXAMPLES``).
"""

from __future__ import annotations

import io
import json
import os
import string
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orcid_sync.domain.assets import load_assets
from orcid_sync.domain.batches import RowOutcomeKind
from orcid_sync.domain.errors import InvalidInputError
from orcid_sync.domain.identifiers import (
    InvalidIdentifierError,
    PartialDate,
    doi_key,
    parse_doi,
    parse_isbn,
    parse_issn,
    parse_orcid,
    parse_partial_date,
    parse_pmcid,
    parse_pmid,
    pmid_key,
)
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.models import Asset, AssetInput, Researcher, ResearcherInput
from orcid_sync.domain.ports import AssetState
from orcid_sync.domain.researchers import load_researchers
from orcid_sync.domain.tokens.importing import parse_token_body
from orcid_sync.domain.tokens.upload_models import UploadFormat
from orcid_sync.domain.tokens.uploads import upload_rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
bounded = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

PARSERS: dict[str, Callable[[str], object]] = {
    "doi": parse_doi,
    "pmid": parse_pmid,
    "pmcid": parse_pmcid,
    "isbn": parse_isbn,
    "issn": parse_issn,
    "date": parse_partial_date,
}
# Text that looks like identifiers often enough to reach the deeper branches, and anything else.
identifier_like = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.digits + "-X x:/.", max_size=20),
    st.from_regex(r"(?:doi:|https://doi\.org/)?10\.\d{1,10}/\S{0,12}", fullmatch=True),
    st.from_regex(r"(?:ISBN:? ?|ISSN ?|PMID:? ?|PMC)?[\d -]{1,17}X?", fullmatch=True),
)


# --- identifiers -------------------------------------------------------------------------------


@bounded
@given(st.sampled_from(sorted(PARSERS)), identifier_like)
def test_every_identifier_parser_accepts_or_refuses_any_text(name: str, text: str) -> None:
    # Given any text at all
    # When a parser reads it
    try:
        parsed = PARSERS[name](text)
    except InvalidIdentifierError as exc:
        # Then a refusal is a ValueError (pydantic turns it into a field problem) that quotes the input
        assert isinstance(exc, ValueError)
        assert repr(text) in str(exc)
        return
    # Then what it accepts is canonical: reading the canonical form again gives it back
    canonical = str(parsed)
    assert str(PARSERS[name](canonical)) == canonical


doi_prefixes = st.sampled_from(["", "doi:", "DOI: ", "https://doi.org/", "http://dx.doi.org/", "HTTPS://DOI.ORG/"])
doi_suffixes = st.text(alphabet=string.ascii_letters + string.digits + "-._;()/:<>", min_size=1, max_size=30)


@bounded
@given(doi_prefixes, st.from_regex(r"[0-9]{4,9}", fullmatch=True), doi_suffixes, st.sampled_from(["", " ", "\t"]))
def test_any_written_doi_parses_to_the_bare_doi_and_keys_like_orcid(
    prefix: str, registrant: str, suffix: str, space: str
) -> None:
    written = f"{space}{prefix}10.{registrant}/{suffix}{space}"
    bare = parse_doi(written)
    assert bare == f"10.{registrant}/{suffix}"
    # The push matches our works on ORCID by this key: it must not depend on how the DOI was written.
    assert doi_key(written) == doi_key(bare) == bare.lower()


pmid_prefixes = st.sampled_from(
    ["", "PMID:", "pmid: ", "https://pubmed.ncbi.nlm.nih.gov/", "http://www.ncbi.nlm.nih.gov/pubmed/"]
)


@bounded
@given(pmid_prefixes, st.integers(min_value=1, max_value=999_999_999), st.sampled_from(["", "/"]))
def test_any_written_pmid_parses_to_its_digits_and_keys_alike(prefix: str, number: int, slash: str) -> None:
    written = f"{prefix}{number}{slash if prefix.startswith('http') else ''}"
    assert parse_pmid(written) == str(number)
    assert pmid_key(written) == str(number)


def isbn10(digits: Sequence[int]) -> str:
    total = sum((10 - i) * d for i, d in enumerate(digits))
    check = (11 - total % 11) % 11
    return "".join(map(str, digits)) + ("X" if check == 10 else str(check))


def isbn13(digits: Sequence[int]) -> str:
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def issn(digits: Sequence[int]) -> str:
    total = sum((8 - i) * d for i, d in enumerate(digits))
    check = (11 - total % 11) % 11
    raw = "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    return f"{raw[:4]}-{raw[4:]}"


def hyphenate(value: str, cuts: Sequence[int], sep: str) -> str:
    out, last = [], 0
    for cut in sorted(set(cuts)):
        if 0 < cut < len(value):
            out.append(value[last:cut])
            last = cut
    return sep.join([*out, value[last:]])


CODES: dict[str, tuple[int, Callable[[Sequence[int]], str], Callable[[str], str], str]] = {
    # kind: (digits before the check character, builder, parser, prefix people write)
    "isbn10": (9, isbn10, parse_isbn, "ISBN "),
    "isbn13": (12, isbn13, parse_isbn, "ISBN: "),
    "issn": (7, issn, parse_issn, "ISSN "),
}


@st.composite
def check_coded(draw: st.DrawFn) -> tuple[str, str, str]:
    kind = draw(st.sampled_from(sorted(CODES)))
    length, build, _, prefix = CODES[kind]
    canonical = build(draw(st.lists(st.integers(0, 9), min_size=length, max_size=length)))
    compact = canonical.replace("-", "")
    written = hyphenate(
        compact, draw(st.lists(st.integers(1, len(compact) - 1), max_size=4)), draw(st.sampled_from("- "))
    )
    return kind, canonical, draw(st.sampled_from(["", prefix])) + written


@bounded
@given(check_coded())
def test_isbns_and_issns_with_their_check_character_parse_however_written(case: tuple[str, str, str]) -> None:
    kind, canonical, written = case
    assert CODES[kind][2](written) == canonical


@bounded
@given(check_coded(), st.data())
def test_any_single_changed_digit_of_an_isbn_or_issn_is_caught(case: tuple[str, str, str], data: st.DataObject) -> None:
    # ISBN-10 and ISSN (mod 11) and ISBN-13 (weights 1 and 3, mod 10) catch every single-digit substitution.
    kind, canonical, _ = case
    compact = canonical.replace("-", "")
    position = data.draw(st.integers(0, len(compact) - 2))  # a data digit, not the check character
    digit = data.draw(st.sampled_from([d for d in string.digits if d != compact[position]]))
    changed = compact[:position] + digit + compact[position + 1 :]
    with pytest.raises(InvalidIdentifierError):
        CODES[kind][2](changed)


@bounded
@given(st.dates(), st.sampled_from(["", " ", "\n"]))
def test_dates_are_stored_in_their_canonical_form(day: Any, space: str) -> None:
    # The asset model keeps str(parse_partial_date(value)): whatever the precision, it reads back the same.
    for written, expected in (
        (f"{day.year:04d}", PartialDate(day.year)),
        (f"{day.year:04d}-{day.month:02d}", PartialDate(day.year, day.month)),
        (day.isoformat(), PartialDate(day.year, day.month, day.day)),
    ):
        assert parse_partial_date(space + written + space) == expected
        assert AssetInput.model_validate({**ASSET, "date": written}).date == str(expected)


# Python's re treats every Unicode digit as \d, and int() reads them. An identifier written with, say,
# Arabic-Indic digits (U+0660..U+0669) in its digit positions is no identifier ORCID knows; a parser must
# refuse it or return it in ASCII (as parse_partial_date does), never pass the foreign digits on.
NON_ASCII = str.maketrans(string.digits, "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def _foreign(text: str) -> str:
    return text.translate(NON_ASCII)


@pytest.mark.parametrize(
    ("name", "foreign"),
    [
        ("doi", "10." + _foreign("1234") + "/abc"),
        ("isbn", _foreign("9780306406157")),
        ("pmcid", "PMC" + _foreign("6780471")),
        ("pmid", "3" + _foreign("1452104")),
        ("issn", _foreign("0378-595") + "5"),
        ("orcid", _foreign("0000-0002-1825-009") + "7"),
        ("date", _foreign("2020-01-31")),
    ],
)
def test_identifiers_with_non_ascii_digits_are_refused_or_made_ascii(name: str, foreign: str) -> None:
    parser = parse_orcid if name == "orcid" else PARSERS[name]
    try:
        canonical = str(parser(foreign))
    except InvalidIdentifierError:
        return
    assert canonical.isascii(), f"{name} {canonical!r} would be stored and sent to ORCID"


# --- asset and researcher batches -----------------------------------------------------------------


class MemoryAssets:
    """The AssetStore port, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, Asset] = {}

    def get(self, asset_id: str) -> Asset | None:
        return self.items.get(asset_id)

    def states(self, asset_ids: Sequence[str]) -> dict[str, AssetState]:
        return {aid: AssetState.of(self.items[aid]) for aid in asset_ids if aid in self.items}

    def write(self, asset: Asset, *, previous: AssetState | None) -> None:
        self.items[asset.id] = asset


class MemoryResearchers:
    """The parts of the ResearcherStore port a batch load uses, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, Researcher] = {}
        self.writes = 0

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, Researcher]:
        return {rid: self.items[rid] for rid in researcher_ids if rid in self.items}

    def upsert_profile(self, profile: ResearcherInput) -> Researcher:
        self.writes += 1
        current = self.items.get(profile.id)
        extra = current.model_dump(exclude=set(ResearcherInput.model_fields)) if current else {}
        self.items[profile.id] = Researcher(**profile.model_dump(), **extra)
        return self.items[profile.id]


ASSET: dict[str, Any] = {
    "id": "a-1",
    "researchers": ["r-1"],
    "type": "publication.journalArticle",
    "status": "approved",
    "visible": True,
    "title": "On computable numbers",
    "date": "1936-11",
    "doi": "10.1112/plms/s2-42.1.230",
}
RESEARCHER: dict[str, Any] = {
    "id": "r-1",
    "given_names": "Alan",
    "family_name": "Turing",
    "email": "alan@example.edu",
    "orcid": "0000-0002-1825-0097",
}
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
ids = st.sampled_from(["a-1", "a-2", "a-3", "x" * 300, "", "has space", "ok_id.7"])


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], id_values: st.SearchStrategy[Any]) -> Any:
    """A valid row, a row with some fields dropped, replaced or added, or no object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    row = dict(base, id=draw(id_values))
    for key in draw(st.lists(st.sampled_from([*base, "unexpected"]), max_size=3)):
        action = draw(st.sampled_from(["drop", "replace", "keep"]))
        if action == "drop":
            row.pop(key, None)
        elif action == "replace":
            row[key] = draw(json_values)
    return row


def assert_report_is_complete(report: Any, rows: list[Any], stored_ids: set[str]) -> None:
    counts = report.counts
    assert counts.received == len(rows) == len(report.rows)
    assert counts.created + counts.updated + counts.unchanged + counts.rejected == counts.received
    assert [outcome.row for outcome in report.rows] == list(range(len(rows)))
    for outcome in report.rows:
        if outcome.outcome is RowOutcomeKind.REJECTED:
            # Every refusal names the field and says what is wrong with it.
            assert outcome.problems
            assert all(p.field and p.reason for p in outcome.problems)
    accepted = {o.id for o in report.rows if o.outcome is not RowOutcomeKind.REJECTED}
    assert accepted == stored_ids


@bounded
@given(st.lists(mutated(ASSET, ids), min_size=1, max_size=12))
def test_any_asset_batch_stores_exactly_its_valid_rows_and_names_every_problem(rows: list[Any]) -> None:
    store = MemoryAssets()
    report = load_assets(store, rows, now=NOW)
    assert_report_is_complete(report, rows, set(store.items))
    # Each stored asset is its first valid row, as given; a rejected row changed nothing.
    for asset_id, stored in store.items.items():
        first = next(o.row for o in report.rows if o.id == asset_id and o.outcome is not RowOutcomeKind.REJECTED)
        assert stored.model_dump(exclude={"updated_at"}) == AssetInput.model_validate(rows[first]).model_dump()


@bounded
@given(st.lists(mutated(RESEARCHER, ids), min_size=1, max_size=12))
def test_any_researcher_batch_stores_exactly_its_valid_rows_and_names_every_problem(rows: list[Any]) -> None:
    store = MemoryResearchers()
    report = load_researchers(store, rows)  # type: ignore[arg-type]  # the two methods a batch load uses
    assert_report_is_complete(report, rows, set(store.items))


@bounded
@given(st.lists(mutated(ASSET, ids), min_size=1, max_size=8))
def test_sending_an_asset_batch_twice_creates_nothing_new(rows: list[Any]) -> None:
    store = MemoryAssets()
    first = load_assets(store, rows, now=NOW)
    before = dict(store.items)
    second = load_assets(store, rows, now=NOW.replace(year=NOW.year + 1))
    assert (second.counts.created, second.counts.updated) == (0, 0)
    assert second.counts.unchanged == first.counts.created + first.counts.updated
    assert store.items == before  # nothing written: not even updated_at moved


@bounded
@given(st.lists(mutated(RESEARCHER, ids), min_size=1, max_size=8))
def test_sending_a_researcher_batch_twice_writes_nothing(rows: list[Any]) -> None:
    store = MemoryResearchers()
    first = load_researchers(store, rows)  # type: ignore[arg-type]  # the two methods a batch load uses
    before, writes = dict(store.items), store.writes
    second = load_researchers(store, rows)  # type: ignore[arg-type]
    assert (second.counts.created, second.counts.updated) == (0, 0)
    assert second.counts.unchanged == first.counts.created + first.counts.updated
    assert (store.items, store.writes) == (before, writes)


# --- integration settings ------------------------------------------------------------------------

SETTINGS: dict[str, Any] = {
    "institution_name": "Example University",
    "send_assets": True,
    "asset_types": {"include": ["publication"], "exclude": ["publication.letter"]},
    "update_researchers": "all",
    "send_affiliation": True,
    "organization": {
        "name": "Example University",
        "city": "Cambridge",
        "region": "MA",
        "country": "US",
        "identifier_type": "ROR",
        "identifier": "https://ror.org/042nb2s44",
    },
    "researcher_url": {"send": True},
    "type_overrides": {"publication.letter": "other"},
}


@st.composite
def settings_documents(draw: st.DrawFn) -> Any:
    document = json.loads(json.dumps(SETTINGS))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(
            st.sampled_from(
                [(key,) for key in [*SETTINGS, "unknown"]]
                + [("organization", key) for key in [*SETTINGS["organization"], "unknown"]]
                + [("asset_types", "include"), ("asset_types", "exclude"), ("researcher_url", "name")]
            )
        )
        parent = document
        for key in path[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(parent.get(key), dict) else parent
        if draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_values)
    return document


@bounded
@given(settings_documents())
def test_any_settings_document_is_accepted_canonically_or_refused_field_by_field(document: Any) -> None:
    try:
        accepted = IntegrationSettings.model_validate(document)
    except ValidationError as exc:
        assert all(error["loc"] for error in exc.errors())
        return
    # Saved and read back (JSON, as the store and the API do), the settings and their fingerprint are the same.
    again = IntegrationSettings.model_validate(json.loads(accepted.model_dump_json()))
    assert again == accepted
    assert again.fingerprint == accepted.fingerprint


# --- token bodies and uploads -------------------------------------------------------------------------


@bounded
@given(
    st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
    st.sampled_from(["application/json", "text/csv", "text/csv; charset=utf-8", "text/plain", ""]),
)
def test_any_token_body_gives_rows_or_a_clear_refusal(body: bytes, content_type: str) -> None:
    # Given any bytes, under any of the content types a caller might send
    try:
        rows = parse_token_body(body, content_type)
    except InvalidInputError as exc:
        # Then a refusal says what is wrong, and where
        assert exc.message
        assert all(p.field and p.reason for p in exc.problems)
        return
    # Or the rows come out, one object per row for CSV, the array's items for JSON
    assert isinstance(rows, list)
    if content_type.startswith("text/csv"):
        assert all(isinstance(row, dict) for row in rows)
    else:
        assert rows == json.loads(body.decode("utf-8-sig"))


@bounded
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps)), st.sampled_from(list(UploadFormat)))
def test_any_uploaded_text_streams_rows_or_says_where_it_breaks(text: str, file_format: UploadFormat) -> None:
    # Given any text as an uploaded file: rows come out, or an InvalidInputError (nothing else escapes)
    try:
        rows = list(upload_rows(io.StringIO(text), file_format))
    except InvalidInputError as exc:
        assert exc.message
        return
    if file_format is UploadFormat.JSON and text.strip().startswith("["):
        # A JSON array streamed row by row is exactly what json.loads reads.
        assert rows == json.loads(text)

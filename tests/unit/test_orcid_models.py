"""ORCID 3.0 payload models: ORCID's samples round-trip, ORCID's rules reject what ORCID would reject."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

from orcid_sync.domain.identifiers import PartialDate
from orcid_sync.domain.orcid.models import (
    BULK_MAX_WORKS,
    BulkWorkRequest,
    BulkWorkResponse,
    Citation,
    ContributorAttributes,
    ContributorOrcid,
    Employment,
    Employments,
    ExternalId,
    ExternalIds,
    FuzzyDate,
    OAuthToken,
    OrcidError,
    OrcidModel,
    ResearcherUrl,
    ResearcherUrls,
    Source,
    StringValue,
    Work,
    Works,
    WorkSummary,
    WorkTitle,
)

# Keys ORCID sets itself on an item and on its external ids; none of them may be in a body we send.
ITEM_READ_ONLY_KEYS = {
    "put-code",
    "created-date",
    "last-modified-date",
    "source",
    "path",
    "visibility",
    "display-index",
}
ID_READ_ONLY_KEYS = {"external-id-normalized", "external-id-normalized-error"}
# {"value": …} wrappers that ORCID's bulk sample gives as a bare string.
VALUE_WRAPPERS = {"subtitle", "url"}
OUR_CLIENT = "APP-OQYKBIN9CXD9U3SH"  # the client that wrote ORCID's read samples

DUPLICATE_MESSAGE = (
    "409 Conflict: You have already added this activity (matched by external identifiers), please see element "
    "with put-code 123456. If you are trying to edit the item, please use PUT instead of POST."
)


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "orcid-model" / "record_3.0" / "samples"


@pytest.fixture(scope="module")
def record(samples: Path) -> dict[str, Any]:
    return load(samples / "read_samples" / "record-full-3.0.json")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def canonical(value: Any, key: str = "") -> Any:
    """ORCID's JSON as we emit it: nulls dropped, bare strings in value wrappers wrapped."""
    if isinstance(value, dict):
        return {k: canonical(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if key in VALUE_WRAPPERS and isinstance(value, str):
        return {"value": value}
    return value


def without_keys(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_keys(v, keys) for v in value]
    return value


def write_shape(raw: dict[str, Any]) -> dict[str, Any]:
    """What we must send for an ORCID sample: its canonical form without the keys ORCID sets."""
    body: dict[str, Any] = without_keys(canonical(raw), ID_READ_ONLY_KEYS)
    items = [entry["work"] for entry in body["bulk"]] if "bulk" in body else [body]
    for item in items:
        for key in ITEM_READ_ONLY_KEYS:
            item.pop(key, None)
    return body


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


def full_dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def doi(value: str = "10.1234/abcd", relationship: str = "self") -> dict[str, Any]:
    return {
        "external-id-type": "doi",
        "external-id-value": value,
        "external-id-url": {"value": f"https://doi.org/{value}"},
        "external-id-relationship": relationship,
    }


def simple_work(**changes: Any) -> dict[str, Any]:
    work: dict[str, Any] = {
        "title": {"title": {"value": "Article title"}},
        "type": "journal-article",
        "external-ids": {"external-id": [doi()]},
    }
    work.update(changes)
    return {k: v for k, v in work.items() if v is not None}


def employment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "department-name": "School of X",
        "role-title": "Professor",
        "start-date": {"year": {"value": "2021"}, "month": {"value": "01"}},
        "organization": {
            "name": "Boston University",
            "address": {"city": "Boston", "region": "Massachusetts", "country": "US"},
            "disambiguated-organization": {
                "disambiguated-organization-identifier": "https://ror.org/05qwgg493",
                "disambiguation-source": "ROR",
            },
        },
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def rejects(model: type[BaseModel], data: Any, message: str) -> ValidationError:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        model.model_validate(data)
    return caught.value


# --- ORCID's write samples -------------------------------------------------------------------------

VALID_WRITE_SAMPLES: dict[str, type[OrcidModel]] = {
    # Its self DOI is the placeholder "work:doi": ORCID only logs unresolvable DOIs, so it is accepted.
    "work-full-3.0.json": Work,
    "work-51-contributors-3.0.json": Work,
    "work-with-NISO-roles-51-contributors-3.0.json": Work,
    "bulk-works-100-works-3.0.json": BulkWorkRequest,
    # Gives subtitle and url as bare strings (Jackson builds the wrappers from them) and sets visibility.
    "bulk-works-3-works-3.0.json": BulkWorkRequest,
    "researcher-url-3.0.json": ResearcherUrl,
    "researcher-url-no-name-3.0.json": ResearcherUrl,
}
# Samples that break ORCID's live rules: (model, where, the message we must give).
INVALID_WRITE_SAMPLES: dict[str, tuple[type[BaseModel], str, str]] = {
    # The second work (a book chapter) has only a part-of ISBN; API 3.0 requires a self id.
    "bulk-work-3.0.json": (
        BulkWorkRequest,
        "bulk.1.work",
        "a work needs at least one external id with relationship 'self' (ORCID error 9023)",
    ),
    # grant_number is the old spelling; GET /v3.0/identifiers lists grant-number.
    "employment-3.0.json": (
        Employment,
        "external-ids.external-id.0.external-id-type",
        "unknown external-id type 'grant_number' (ORCID error 9023); did you mean 'grant-number'?",
    ),
}


def test_every_json_write_sample_is_classified(samples: Path) -> None:
    on_disk = {path.name for path in (samples / "write_samples").glob("*.json")}
    assert on_disk == set(VALID_WRITE_SAMPLES) | set(INVALID_WRITE_SAMPLES)


@pytest.mark.parametrize("name", sorted(VALID_WRITE_SAMPLES))
def test_write_sample_round_trips(samples: Path, name: str) -> None:
    model_class = VALID_WRITE_SAMPLES[name]
    raw = load(samples / "write_samples" / name)

    parsed = model_class.model_validate(raw)
    dumped = full_dump(parsed)

    assert dumped == canonical(raw)
    assert model_class.model_validate(dumped) == parsed


@pytest.mark.parametrize("name", sorted(VALID_WRITE_SAMPLES))
def test_write_sample_body_has_orcid_keys_and_no_read_only_ones(samples: Path, name: str) -> None:
    raw = load(samples / "write_samples" / name)

    body = VALID_WRITE_SAMPLES[name].model_validate(raw).to_orcid_json()

    assert body == write_shape(raw)
    # "path" is legitimately inside contributor-orcid {uri, path, host}.
    assert not all_keys(body) & (ITEM_READ_ONLY_KEYS - {"path"} | ID_READ_ONLY_KEYS)


@pytest.mark.parametrize("name", sorted(INVALID_WRITE_SAMPLES))
def test_write_sample_that_breaks_orcid_rules_is_rejected(samples: Path, name: str) -> None:
    model_class, location, message = INVALID_WRITE_SAMPLES[name]

    error = rejects(model_class, load(samples / "write_samples" / name), message)

    assert location in {".".join(str(part) for part in detail["loc"]) for detail in error.errors()}


def test_bare_string_wrappers_are_emitted_as_value_objects(samples: Path) -> None:
    bulk = BulkWorkRequest.model_validate(load(samples / "write_samples" / "bulk-works-3-works-3.0.json"))

    first = bulk.to_orcid_json()["bulk"][0]["work"]

    assert first["title"]["subtitle"] == {"value": "Work 1 subtitle"}
    assert "visibility" not in first


# --- ORCID's read sample ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_class", "path"),
    [
        (Works, ("activities-summary", "works")),
        (Employments, ("activities-summary", "employments")),
        (ResearcherUrls, ("person", "researcher-urls")),
    ],
)
def test_read_sample_parts_round_trip(
    record: dict[str, Any], model_class: type[BaseModel], path: tuple[str, str]
) -> None:
    raw = record[path[0]][path[1]]

    parsed = model_class.model_validate(raw)

    assert full_dump(parsed) == canonical(raw)
    assert model_class.model_validate(full_dump(parsed)) == parsed


def test_works_summary_exposes_source_ids_and_normalised_values(record: dict[str, Any]) -> None:
    works = Works.model_validate(record["activities-summary"]["works"])

    [summary] = works.work_summaries

    assert summary.put_code == 178602
    assert summary.source is not None
    assert summary.source.client_id == OUR_CLIENT
    assert summary.source.is_client(OUR_CLIENT)
    assert not summary.source.is_client("APP-0000000000000000")
    assert summary.external_ids is not None
    by_relationship = {e.external_id_relationship: e for e in summary.external_ids.external_id}
    assert by_relationship["version-of"].comparable_value == "10.1087/20120404"
    # ORCID could not normalise the placeholder DOI; the raw value is the key then.
    assert by_relationship["self"].external_id_normalized_error is not None
    assert by_relationship["self"].comparable_value == "work:doi"
    assert summary.publication_date is not None
    assert summary.publication_date.text == "2012-10-01"
    assert summary.last_modified_date is not None
    assert summary.last_modified_date.as_datetime.year == 2019


def test_read_employments_are_tolerated_but_not_writable_as_they_are(record: dict[str, Any]) -> None:
    employments = Employments.model_validate(record["activities-summary"]["employments"])
    [summary] = employments.employment_summaries
    assert summary.external_ids is not None
    assert summary.external_ids.external_id[0].external_id_type == "grant_number"

    rejects(Employment, summary.to_orcid_json(), "unknown external-id type 'grant_number' (ORCID error 9023)")


def test_researcher_url_sources_tell_client_from_user(record: dict[str, Any]) -> None:
    urls = ResearcherUrls.model_validate(record["person"]["researcher-urls"]).researcher_url

    assert [url.source.is_client(OUR_CLIENT) for url in urls if url.source] == [True, False]
    assert urls[1].to_orcid_json(include_put_code=True) == {
        "put-code": 9519,
        "url-name": "{{}}{}",
        "url": {"value": "http://www.fjksbl.com"},
    }


def test_source_counts_the_assertion_origin_client_as_the_client() -> None:
    source = Source.model_validate(
        {
            "source-client-id": {"path": "APP-AAAAAAAAAAAAAAAA"},
            "assertion-origin-client-id": {"path": OUR_CLIENT},
        }
    )

    assert source.client_id == "APP-AAAAAAAAAAAAAAAA"
    assert source.assertion_origin_client_id == OUR_CLIENT
    assert source.is_client(OUR_CLIENT)
    assert source.is_client("APP-AAAAAAAAAAAAAAAA")
    assert not Source().is_client(OUR_CLIENT)


def test_unknown_keys_from_orcid_are_ignored() -> None:
    summary = WorkSummary.model_validate({"put-code": 1, "type": "book", "some-new-orcid-field": {"x": 1}})

    assert "some-new-orcid-field" not in full_dump(summary)


# --- put-codes on POST and PUT ---------------------------------------------------------------------


def test_post_body_never_carries_a_put_code_and_put_body_must() -> None:
    work = Work.model_validate({**simple_work(), "put-code": 42, "visibility": "public"})

    assert "put-code" not in work.to_orcid_json()
    assert work.to_orcid_json(include_put_code=True)["put-code"] == 42
    with pytest.raises(ValueError, match=re.escape("put-code (ORCID error 9019)")):
        Work.model_validate(simple_work()).to_orcid_json(include_put_code=True)


def test_minimal_work_built_in_python_is_exactly_orcids_shape() -> None:
    work = Work(
        title=WorkTitle(title=StringValue(value="Article title")),
        type="journal-article",
        external_ids=ExternalIds(
            external_id=[
                ExternalId(
                    external_id_type="doi",
                    external_id_value="10.1234/abcd",
                    external_id_url=StringValue(value="https://doi.org/10.1234/abcd"),
                    external_id_relationship="self",
                )
            ]
        ),
    )

    assert work.to_orcid_json() == simple_work()


def test_external_id_normalisation_is_read_but_never_sent() -> None:
    external_id = ExternalId.model_validate(
        {**doi(), "external-id-normalized": {"value": "10.1234/abcd", "transient": True}}
    )

    assert external_id.comparable_value == "10.1234/abcd"
    assert "external-id-normalized" not in external_id.to_orcid_json()


# --- bulk ------------------------------------------------------------------------------------------


def test_bulk_request_wraps_each_work() -> None:
    works = [Work.model_validate(simple_work(**{"external-ids": {"external-id": [doi(f"10.1/{i}")]}})) for i in "ab"]

    body = BulkWorkRequest.of(works).to_orcid_json()

    assert [item["work"]["external-ids"]["external-id"][0]["external-id-value"] for item in body["bulk"]] == [
        "10.1/a",
        "10.1/b",
    ]


def test_bulk_request_holds_at_most_100_works() -> None:
    work = simple_work()
    BulkWorkRequest.model_validate({"bulk": [{"work": work}] * BULK_MAX_WORKS})

    rejects(
        BulkWorkRequest,
        {"bulk": [{"work": work}] * (BULK_MAX_WORKS + 1)},
        "a bulk request holds at most 100 works, not 101 (ORCID error 9006)",
    )
    rejects(BulkWorkRequest, {"bulk": []}, "a bulk request needs at least one work")


def test_bulk_response_keeps_works_and_errors_in_order() -> None:
    saved = {**simple_work(), "put-code": 1001, "path": "/0000-0002-1825-0097/work/1001", "visibility": "public"}
    duplicate = {"response-code": 409, "developer-message": DUPLICATE_MESSAGE, "error-code": 9021}
    raw = {"bulk": [{"work": saved}, {"error": duplicate}, {"work": {**saved, "put-code": 1002}}]}

    response = BulkWorkResponse.model_validate(raw)

    kinds = [type(item).__name__ for item in response.items]
    assert kinds == ["Work", "OrcidError", "Work"]
    first, error, third = response.items
    assert isinstance(first, Work) and first.put_code == 1001
    assert isinstance(third, Work) and third.put_code == 1002
    assert isinstance(error, OrcidError) and error.duplicate_put_code == 123456
    assert full_dump(response) == raw
    assert BulkWorkResponse.of(response.items) == response


def test_bulk_response_item_must_be_a_work_or_an_error() -> None:
    with pytest.raises(ValidationError, match=r"union_tag_not_found|Unable to extract tag"):
        BulkWorkResponse.model_validate({"bulk": [{"something": {}}]})


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_code", "message", "expected"),
    [
        (9021, DUPLICATE_MESSAGE, 123456),
        (9021, DUPLICATE_MESSAGE + " Full validation error: (duplicate)", 123456),
        (9021, "409 Conflict: You have already added this activity.", None),
        (9010, "please see element with put-code 99", None),
        (9021, None, None),
    ],
)
def test_duplicate_put_code_is_read_from_9021_messages_only(
    error_code: int, message: str | None, expected: int | None
) -> None:
    error = OrcidError.model_validate({"response-code": 409, "developer-message": message, "error-code": error_code})

    assert error.duplicate_put_code == expected


def test_error_body_round_trips() -> None:
    raw = {
        "response-code": 409,
        "developer-message": DUPLICATE_MESSAGE,
        "user-message": "There was an error when updating the record.",
        "error-code": 9021,
        "more-info": "https://members.orcid.org/api/resources/troubleshooting",
    }

    assert OrcidError.model_validate(raw).to_orcid_json() == raw


# --- ORCID's validation rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (simple_work(title=None), "work title is required (ORCID error 9022)"),
        (simple_work(title={"subtitle": {"value": "only a subtitle"}}), "work title is required (ORCID error 9022)"),
        (simple_work(title={"title": {"value": "   "}}), "work title is required (ORCID error 9022)"),
        (
            simple_work(title={"title": {"value": "t" * 1001}}),
            "work title is 1001 characters long; ORCID allows at most 1000",
        ),
        (
            simple_work(title={"title": {"value": "t"}, "subtitle": {"value": "s" * 1001}}),
            "subtitle is 1001 characters long",
        ),
        (
            simple_work(title={"title": {"value": "t"}, "translated-title": {"value": "t", "language-code": "e n"}}),
            "translated-title language-code 'e n' is not a language code",
        ),
        (simple_work(type="journal-articel"), "'journal-articel' is not an ORCID API 3.0 work type (ORCID error 9037)"),
        (simple_work(type=None), "work type is required (ORCID error 9037)"),
        (simple_work(**{"external-ids": None}), "at least one external id with relationship 'self' (ORCID error 9023)"),
        (
            simple_work(**{"external-ids": {"external-id": [doi(relationship="part-of")]}}),
            "at least one external id with relationship 'self' (ORCID error 9023)",
        ),
        (
            simple_work(**{"external-ids": {"external-id": [{**doi(), "external-id-type": "DOI"}]}}),
            "unknown external-id type 'DOI' (ORCID error 9023); did you mean 'doi'?",
        ),
        (
            simple_work(**{"external-ids": {"external-id": [{**doi(), "external-id-type": "isni"}]}}),
            "unknown external-id type 'isni' (ORCID error 9023)",
        ),
        (
            simple_work(**{"external-ids": {"external-id": [{**doi(), "external-id-value": " "}]}}),
            "external-id-value must not be empty (ORCID error 9023)",
        ),
        (
            simple_work(**{"external-ids": {"external-id": [{**doi(), "external-id-relationship": "same-as"}]}}),
            "external-id-relationship 'same-as' is not one of funded-by, part-of, self, version-of",
        ),
        (
            simple_work(**{"external-ids": {"external-id": [{**doi(), "external-id-relationship": None}]}}),
            "needs an external-id-relationship (ORCID error 9023)",
        ),
        (simple_work(**{"journal-title": {"value": "j" * 1001}}), "journal-title is 1001 characters long"),
        (simple_work(**{"journal-title": {"value": ""}}), "journal-title must not be empty"),
        (simple_work(**{"short-description": "d" * 5001}), "short-description is 5001 characters long"),
        (
            simple_work(citation={"citation-type": "harvard", "citation-value": "x"}),
            "citation-type 'harvard' is not one of",
        ),
        (
            simple_work(citation={"citation-type": "bibtex", "citation-value": " "}),
            "citation-value must not be empty (ORCID error 9020)",
        ),
        (simple_work(**{"language-code": "english language"}), "language-code 'english language' is not a language"),
        (simple_work(country={"value": "ca"}), "country 'ca' is not an ISO 3166-1 alpha-2 code"),
        (simple_work(country={"value": "CAN"}), "country 'CAN' is not an ISO 3166-1 alpha-2 code"),
    ],
)
def test_work_rules(data: dict[str, Any], message: str) -> None:
    rejects(Work, data, message)


def test_work_accepts_the_limits_exactly() -> None:
    work = Work.model_validate(
        simple_work(
            title={"title": {"value": "t" * 1000}},
            **{"short-description": "d" * 5000, "journal-title": {"value": "j" * 1000}},
            contributors={"contributor": [{"credit-name": {"value": "c" * 150}}]},
        )
    )

    assert len(work.title.title.value) == 1000


def test_work_type_aliases_become_api3_types() -> None:
    assert Work.model_validate(simple_work(type="dissertation")).type == "dissertation-thesis"
    assert Work.model_validate(simple_work(type="dataset")).type == "data-set"


@pytest.mark.parametrize(
    ("contributor", "message"),
    [
        ({"credit-name": {"value": "c" * 151}}, "credit-name is 151 characters long; ORCID allows at most 150"),
        ({"credit-name": {"value": ""}}, "credit-name must not be empty"),
        ({"contributor-email": "not-an-email"}, "contributor-email 'not-an-email' is not an email address"),
        ({"contributor-orcid": {"path": "0000-0002-1825-0098"}}, "its check character should be 7, not 8"),
        (
            {"contributor-orcid": {"uri": "https://orcid.org/0000-0002-1825-0097", "path": "0000-0001-2345-6789"}},
            "name different iDs",
        ),
        ({"contributor-orcid": {"uri": "http://example.org/0000-0002-1825-0097"}}, "is not an iD URI"),
        ({"contributor-orcid": {"host": "orcid.org"}}, "contributor-orcid needs a path or a uri"),
        ({"contributor-attributes": {"contributor-sequence": "second"}}, "contributor-sequence 'second' is not one"),
        ({"contributor-attributes": {"contributor-role": "writer"}}, "contributor-role 'writer' is neither"),
        (
            {"contributor-attributes": {"contributor-role": "http://credit.niso.org/contributor-roles/typing/"}},
            "nor a CRediT role URI",
        ),
    ],
)
def test_contributor_rules(contributor: dict[str, Any], message: str) -> None:
    rejects(Work, simple_work(contributors={"contributor": [contributor]}), message)


def test_contributor_helpers_build_and_normalise() -> None:
    sandbox = ContributorOrcid.of("https://sandbox.orcid.org/0000-0002-9079-593x", sandbox=True)
    role = ContributorAttributes(contributor_role="http://credit.niso.org/contributor-roles/software")

    assert sandbox.to_orcid_json() == {
        "uri": "https://sandbox.orcid.org/0000-0002-9079-593X",
        "path": "0000-0002-9079-593X",
        "host": "sandbox.orcid.org",
    }
    assert role.contributor_role == "http://credit.niso.org/contributor-roles/software/"


def test_citation_needs_a_known_type() -> None:
    assert Citation(citation_type="ris", citation_value="TY  - JOUR").citation_type == "ris"


# --- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ({"year": {"value": "2022"}, "day": {"value": "01"}}, "a date cannot have a day without a month"),
        ({"month": {"value": "05"}}, "a date cannot have a month without a year"),
        ({}, "a date cannot have no year"),
        ({"year": {"value": "1899"}}, "year 1899 is outside 1900-2100 (ORCID error 9049)"),
        ({"year": {"value": "2101"}}, "year 2101 is outside 1900-2100"),
        ({"year": {"value": "2022"}, "month": {"value": "13"}}, "month 13 is not between 01 and 12"),
        ({"year": {"value": "2023"}, "month": {"value": "02"}, "day": {"value": "29"}}, "2023-02-29 is not a calendar"),
        ({"year": {"value": "20x2"}}, "year must be digits, not '20x2'"),
    ],
)
def test_fuzzy_date_rules(date: dict[str, Any], message: str) -> None:
    rejects(FuzzyDate, date, message)
    rejects(Work, simple_work(**{"publication-date": date}), message)


def test_fuzzy_date_parts_are_zero_padded() -> None:
    date = FuzzyDate.model_validate({"year": {"value": "2022"}, "month": {"value": "5"}, "day": 3})

    assert date.to_orcid_json() == {"year": {"value": "2022"}, "month": {"value": "05"}, "day": {"value": "03"}}
    assert FuzzyDate.of(2024, 2, 29).text == "2024-02-29"
    assert FuzzyDate.from_partial_date(PartialDate(2021, 7)).to_orcid_json() == {
        "year": {"value": "2021"},
        "month": {"value": "07"},
    }


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=1, max_value=3))
def test_any_real_date_in_range_is_accepted_padded_and_kept(day: date, precision: int) -> None:
    parts = (day.year, day.month, day.day)[:precision]

    fuzzy = FuzzyDate.of(*parts)

    assert fuzzy.text == day.isoformat()[: (4, 7, 10)[precision - 1]]
    assert fuzzy.as_partial_date() == PartialDate(*parts)


# --- employment ------------------------------------------------------------------------------------


def test_employment_body_is_orcids_shape() -> None:
    body = employment(**{"put-code": 7, "end-date": {"year": {"value": "2023"}}})

    emp = Employment.model_validate(body)

    assert emp.to_orcid_json() == without_keys(body, {"put-code"})
    assert emp.to_orcid_json(include_put_code=True)["put-code"] == 7


def test_employment_dates_compare_at_their_common_precision() -> None:
    emp = Employment.model_validate(
        employment(
            **{
                "start-date": {"year": {"value": "2021"}, "month": {"value": "05"}},
                "end-date": {"year": {"value": "2021"}},
            }
        )
    )

    assert emp.end_date is not None


def organization(**changes: Any) -> dict[str, Any]:
    org: dict[str, Any] = employment()["organization"]
    org.update(changes)
    return {k: v for k, v in org.items() if v is not None}


def disambiguated(identifier: str, source: str) -> dict[str, str]:
    return {"disambiguated-organization-identifier": identifier, "disambiguation-source": source}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (employment(organization=None), "an employment needs an organization (ORCID error 9046)"),
        (employment(organization=organization(name=" ")), "organization name is required (ORCID error 9046)"),
        (
            employment(organization=organization(address={"country": "US"})),
            "organization address needs a city and a country (ORCID error 9060)",
        ),
        (
            employment(organization=organization(address={"city": "Boston", "country": "USA"})),
            "organization country 'USA' is not an ISO 3166-1 alpha-2 code",
        ),
        (
            employment(organization=organization(**{"disambiguated-organization": None})),
            "organization needs a disambiguated-organization identifier (ORCID error 9045)",
        ),
        (
            employment(
                organization=organization(
                    **{"disambiguated-organization": disambiguated("https://ror.org/05qwgg493", "RORR")}
                )
            ),
            "disambiguation-source 'RORR' is not one of FUNDREF, GRID, LEI, RINGGOLD, ROR (ORCID error 9045)",
        ),
        (
            employment(organization=organization(**{"disambiguated-organization": disambiguated("05qwgg493", "ROR")})),
            "ROR identifier '05qwgg493' must be the full URL ORCID stores",
        ),
        (
            employment(**{"start-date": None, "end-date": {"year": {"value": "2023"}}}),
            "an employment with an end date needs a start date (ORCID error 9050)",
        ),
        (
            employment(**{"end-date": {"year": {"value": "2020"}, "month": {"value": "12"}}}),
            "start date 2021-01 is after end date 2020-12 (ORCID error 9055)",
        ),
        (employment(**{"role-title": "r" * 4001}), "role-title is 4001 characters long; ORCID allows at most 4000"),
        (employment(**{"department-name": ""}), "department-name must not be empty"),
    ],
)
def test_employment_rules(data: dict[str, Any], message: str) -> None:
    rejects(Employment, data, message)


def test_other_disambiguation_sources_are_accepted() -> None:
    org = organization(
        **{"disambiguated-organization": disambiguated("http://dx.doi.org/10.13039/100000001", "FUNDREF")}
    )

    assert Employment.model_validate(employment(organization=org)).organization.disambiguated_organization is not None


# --- researcher URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url-name": "profile"}, "researcher-url needs a url"),
        ({"url": {"value": "https://x.org/" + "p" * 1987}}, "researcher-url url is 2001 characters long"),
        ({"url": {"value": ""}}, "researcher-url url must not be empty"),
        ({"url-name": "n" * 351, "url": {"value": "https://x.org"}}, "url-name is 351 characters long"),
    ],
)
def test_researcher_url_rules(data: dict[str, Any], message: str) -> None:
    rejects(ResearcherUrl, data, message)


# --- OAuth token -----------------------------------------------------------------------------------

TOKEN_RESPONSE: dict[str, Any] = {
    "access_token": "f5af9f51-07e6-4332-8f1a-c0c11c1e3728",
    "token_type": "bearer",
    "refresh_token": "f725f747-3a65-49f6-a231-3e8944ce464d",
    "expires_in": 631138518,
    "scope": "/activities/update /read-limited",
    "name": "Sofia Garcia",
    "orcid": "0000-0001-2345-6789",
}


def test_token_response_is_parsed_with_its_scopes() -> None:
    token = OAuthToken.model_validate({**TOKEN_RESPONSE, "id_token": "ignored"})

    assert token.scopes == frozenset({"/activities/update", "/read-limited"})
    assert token.orcid == "0000-0001-2345-6789"
    assert isinstance(token.access_token, SecretStr)
    assert token.access_token.get_secret_value() == TOKEN_RESPONSE["access_token"]
    assert token.expires_in == 631138518


def test_token_values_never_show_in_text_or_json() -> None:
    token = OAuthToken.model_validate(TOKEN_RESPONSE)

    for text in (repr(token), str(token), token.model_dump_json()):
        assert TOKEN_RESPONSE["access_token"] not in text
        assert TOKEN_RESPONSE["refresh_token"] not in text


def test_client_credentials_token_has_no_orcid_and_bad_ids_are_rejected() -> None:
    assert OAuthToken.model_validate({**TOKEN_RESPONSE, "orcid": None, "name": None}).orcid is None
    rejects(OAuthToken, {**TOKEN_RESPONSE, "orcid": "0000-0001-2345-6788"}, "check character should be 9, not 8")

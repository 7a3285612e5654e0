"""The local ORCID sandbox's Member API enforces ORCID's rules for works, researcher URLs and employments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from orcid_sync_local.orcid_sandbox.testing import (
    ALL_SCOPES,
    ORCID_HEADERS,
    FakeClock,
    employment_payload,
    work_payload,
)

OUR_CLIENT = RegisteredClient("APP-OURREPOSITORY001", "our-secret", ["https://repo.example"], "Our Repository")
OTHER_CLIENT = RegisteredClient("APP-OTHERMEMBER00001", "other-secret", ["https://other.example"], "Other Member")
BASE_URL = "http://sandbox.test:8090"
ORCID_JSON = "application/vnd.orcid+json"
DUPLICATE_MESSAGE = (
    "409 Conflict: You have already added this activity (matched by external identifiers), please see element with "
    "put-code {put_code}. If you are trying to edit the item, please use PUT instead of POST."
)


@dataclass(frozen=True)
class Connection:
    """A researcher connected to a client: their iD and the client's token."""

    orcid: str
    access_token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {**ORCID_HEADERS, "Authorization": f"Bearer {self.access_token}", **extra}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    sandbox = create_app(
        SandboxConfig(clients=[OUR_CLIENT, OTHER_CLIENT], clock=clock, rate=0, public_base_url=BASE_URL)
    )
    sandbox.testing = True
    return sandbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def connect(
    client: FlaskClient, registered: RegisteredClient = OUR_CLIENT, scope: str = ALL_SCOPES, orcid: str | None = None
) -> Connection:
    """A new researcher (or `orcid`, when it exists already, gets another token) granting `scope`."""
    grant = {"client_id": registered.client_id, "scope": scope}
    if orcid is None:
        body = client.post("/_sandbox/researchers", json={"given_names": "Ada", "family_name": "Byron", "grant": grant})
        return Connection(body.json["orcid"], body.json["access_token"])
    state = client.application.extensions["orcid_sandbox"]
    token = state.issue_token(registered.client_id, orcid, frozenset(scope.split()))
    return Connection(orcid, token.access_token)


@pytest.fixture
def researcher(client: FlaskClient) -> Connection:
    return connect(client)


def post_work(client: FlaskClient, connection: Connection, work: Any) -> Any:
    return client.post(f"/v3.0/{connection.orcid}/work", headers=connection.headers(), data=json.dumps(work))


def put_code_of(response: Any) -> int:
    assert response.status_code == 201, response.json
    return int(response.headers["Location"].rsplit("/", 1)[1])


def get(client: FlaskClient, connection: Connection, path: str) -> Any:
    return client.get(f"/v3.0/{connection.orcid}{path}", headers=connection.headers())


def assert_orcid_error(response: Any, status: int, error_code: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.headers["Content-Type"] == ORCID_JSON
    body: dict[str, Any] = response.json
    assert set(body) == {"response-code", "developer-message", "user-message", "error-code", "more-info"}
    assert body["response-code"] == status
    assert body["error-code"] == error_code
    return body


def seed_work(client: FlaskClient, orcid: str, work: Any, **options: Any) -> int:
    response = client.post(f"/_sandbox/records/{orcid}/works", json={"work": work, **options})
    assert response.status_code == 201, response.json
    put_code: int = response.json["put_code"]
    return put_code


# --- creating and reading works ---------------------------------------------------------------------------------


def test_post_work_answers_201_with_location_and_no_body(client: FlaskClient, researcher: Connection) -> None:
    response = post_work(client, researcher, work_payload())

    assert response.status_code == 201
    assert response.data == b""
    put_code = put_code_of(response)
    assert response.headers["Location"] == f"{BASE_URL}/v3.0/{researcher.orcid}/work/{put_code}"


def test_put_codes_are_unique_and_increasing_across_the_sandbox(client: FlaskClient) -> None:
    first, second = connect(client), connect(client)

    codes = [
        put_code_of(post_work(client, first, work_payload("10.1/a"))),
        put_code_of(post_work(client, second, work_payload("10.1/a"))),
        put_code_of(post_work(client, first, work_payload("10.1/b"))),
    ]

    assert codes == sorted(codes)
    assert len(set(codes)) == 3


def test_full_work_has_source_dates_and_normalised_ids(
    client: FlaskClient, researcher: Connection, clock: FakeClock
) -> None:
    # Given a work posted with a DOI in URL form and mixed case
    work = work_payload("https://doi.org/10.1234/ABC.Def", short_description="Abstract", publication_date=None)
    put_code = put_code_of(post_work(client, researcher, work))

    # When it is read back
    body = get(client, researcher, f"/work/{put_code}").json

    # Then it carries ORCID's read-only fields
    assert body["put-code"] == put_code
    assert body["path"] == f"/{researcher.orcid}/work/{put_code}"
    assert body["visibility"] == "public"
    assert body["created-date"] == {"value": int(clock.now * 1000)}
    assert body["last-modified-date"] == {"value": int(clock.now * 1000)}
    assert body["source"]["source-client-id"] == {
        "uri": f"{BASE_URL}/client/{OUR_CLIENT.client_id}",
        "path": OUR_CLIENT.client_id,
        "host": "sandbox.test",
    }
    assert body["source"]["source-name"] == {"value": "Our Repository"}
    assert body["source"]["source-orcid"] is None
    external_id = body["external-ids"]["external-id"][0]
    assert external_id["external-id-value"] == "https://doi.org/10.1234/ABC.Def"
    assert external_id["external-id-normalized"] == {"value": "10.1234/abc.def", "transient": True}
    assert body["short-description"] == "Abstract"
    assert body["title"] == {"title": {"value": "A sample article"}}


def test_works_summary_groups_by_shared_normalised_ids(client: FlaskClient, researcher: Connection) -> None:
    # Given our work, the researcher's own copy of the same DOI (other spelling) and an unrelated work
    ours = put_code_of(post_work(client, researcher, work_payload("10.1234/SHARED")))
    theirs = seed_work(client, researcher.orcid, work_payload("doi:10.1234/shared", title="My copy"))
    unrelated = put_code_of(post_work(client, researcher, work_payload("10.1234/other")))

    # When the works summary is read
    response = get(client, researcher, "/works")

    # Then the two copies share one group, each summary keeping its own source
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ORCID_JSON
    body = response.json
    assert body["path"] == f"/{researcher.orcid}/works"
    groups = {tuple(summary["put-code"] for summary in group["work-summary"]) for group in body["group"]}
    assert groups == {(ours, theirs), (unrelated,)}
    shared = next(group for group in body["group"] if len(group["work-summary"]) == 2)
    assert [entry["external-id-normalized"]["value"] for entry in shared["external-ids"]["external-id"]] == [
        "10.1234/shared"
    ]
    summary_sources = [summary["source"] for summary in shared["work-summary"]]
    assert summary_sources[0]["source-client-id"]["path"] == OUR_CLIENT.client_id
    assert summary_sources[1]["source-orcid"]["path"] == researcher.orcid
    summary = shared["work-summary"][0]
    assert set(summary) >= {
        "put-code", "created-date", "last-modified-date", "source", "title", "external-ids", "url", "type",
        "publication-date", "journal-title", "visibility", "path",
    }  # fmt: skip
    assert summary["title"]["title"] == {"value": "A sample article"}


def test_part_of_ids_do_not_group_works(client: FlaskClient, researcher: Connection) -> None:
    issn = {"external-id-type": "issn", "external-id-value": "1234-5678", "external-id-relationship": "part-of"}
    for doi in ("10.1/one", "10.1/two"):
        work = work_payload(doi)
        work["external-ids"]["external-id"].append(issn)
        put_code_of(post_work(client, researcher, work))

    assert len(get(client, researcher, "/works").json["group"]) == 2


# --- duplicates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("doi", "10.1234/abc"), ("doi", "10.1234/ABC")),
        (("doi", "10.1234/abc"), ("doi", "https://doi.org/10.1234/abc")),
        (("doi", "doi:10.1234/abc"), ("doi", "10.1234/abc")),
        (("pmid", "123456"), ("pmid", "PMID:123456")),
        (("pmid", "123456"), ("pmid", "https://pubmed.ncbi.nlm.nih.gov/123456/")),
    ],
)
def test_same_source_same_normalised_self_id_is_a_409_naming_the_put_code(
    client: FlaskClient, researcher: Connection, first: tuple[str, str], second: tuple[str, str]
) -> None:
    def work_with(id_type: str, value: str) -> dict[str, Any]:
        work = work_payload(None)
        work["external-ids"]["external-id"] = [
            {"external-id-type": id_type, "external-id-value": value, "external-id-relationship": "self"}
        ]
        return work

    # Given our work with one spelling of an id
    existing = put_code_of(post_work(client, researcher, work_with(*first)))

    # When we post another work whose self id normalises the same
    response = post_work(client, researcher, work_with(*second))

    # Then ORCID's 409 names the existing put-code
    body = assert_orcid_error(response, 409, 9021)
    assert body["developer-message"] == DUPLICATE_MESSAGE.format(put_code=existing)
    assert "Our Repository" in body["user-message"]


def test_same_doi_from_the_researcher_or_another_client_is_not_a_duplicate(client: FlaskClient) -> None:
    # Given the same DOI already added by the researcher and by another member
    ours = connect(client)
    other = connect(client, OTHER_CLIENT, orcid=ours.orcid)
    seed_work(client, ours.orcid, work_payload("10.5555/same"))
    put_code_of(post_work(client, other, work_payload("10.5555/same")))

    # When we add it too
    response = post_work(client, ours, work_payload("10.5555/same"))

    # Then it is accepted and grouped with the others
    assert response.status_code == 201
    groups = get(client, ours, "/works").json["group"]
    assert len(groups) == 1
    assert len(groups[0]["work-summary"]) == 3


def test_only_self_ids_count_for_duplicates(client: FlaskClient, researcher: Connection) -> None:
    # Given our work whose DOI is only part-of (a chapter's book) besides its own self id
    first = work_payload("10.1/chapter-one")
    first["external-ids"]["external-id"].append(
        {"external-id-type": "doi", "external-id-value": "10.1/book", "external-id-relationship": "part-of"}
    )
    put_code_of(post_work(client, researcher, first))

    # When another chapter shares the part-of DOI
    second = work_payload("10.1/chapter-two")
    second["external-ids"]["external-id"].append(
        {"external-id-type": "doi", "external-id-value": "10.1/book", "external-id-relationship": "part-of"}
    )

    # Then it is not a duplicate
    assert post_work(client, researcher, second).status_code == 201


def test_researchers_may_add_duplicates_themselves(client: FlaskClient, researcher: Connection) -> None:
    seed_work(client, researcher.orcid, work_payload("10.1/mine"))

    assert (
        client.post(f"/_sandbox/records/{researcher.orcid}/works", json={"work": work_payload("10.1/mine")}).status_code
        == 201
    )


# --- bulk -------------------------------------------------------------------------------------------------------


def post_bulk(client: FlaskClient, connection: Connection, works: list[Any]) -> Any:
    body = {"bulk": [{"work": work} for work in works]}
    return client.post(f"/v3.0/{connection.orcid}/works", headers=connection.headers(), data=json.dumps(body))


def test_bulk_post_answers_each_item_in_order(client: FlaskClient, researcher: Connection) -> None:
    # Given an existing work, then a bulk mixing new, invalid, duplicate and in-bulk duplicate items
    existing = put_code_of(post_work(client, researcher, work_payload("10.1/existing")))
    untitled = work_payload("10.1/untitled")
    del untitled["title"]
    works = [
        work_payload("10.1/new"),
        untitled,
        work_payload("10.1/EXISTING"),
        work_payload("10.1/twice"),
        work_payload("https://doi.org/10.1/twice"),
    ]

    # When they are posted in one request
    response = post_bulk(client, researcher, works)

    # Then each item got its own answer, in order, and only the good ones were stored
    assert response.status_code == 200
    bulk = response.json["bulk"]
    assert [next(iter(item)) for item in bulk] == ["work", "error", "error", "work", "error"]
    assert bulk[0]["work"]["put-code"] > existing
    assert bulk[0]["work"]["source"]["source-client-id"]["path"] == OUR_CLIENT.client_id
    assert bulk[1]["error"]["error-code"] == 9047  # each item is checked against the XSD too
    assert bulk[2]["error"]["error-code"] == 9021
    assert bulk[2]["error"]["developer-message"] == DUPLICATE_MESSAGE.format(put_code=existing)
    assert bulk[4]["error"]["developer-message"] == DUPLICATE_MESSAGE.format(put_code=bulk[3]["work"]["put-code"])
    stored = client.get(f"/_sandbox/records/{researcher.orcid}").json["works"]
    assert len(stored) == 3


def test_bulk_post_over_100_items_is_refused_whole(client: FlaskClient, researcher: Connection) -> None:
    response = post_bulk(client, researcher, [work_payload(f"10.1/{index}") for index in range(101)])

    body = assert_orcid_error(response, 400, 9006)
    assert "100" in body["developer-message"]
    assert client.get(f"/_sandbox/records/{researcher.orcid}").json["works"] == []


def test_bulk_post_of_exactly_100_items_is_accepted(client: FlaskClient, researcher: Connection) -> None:
    response = post_bulk(client, researcher, [work_payload(f"10.1/{index}") for index in range(100)])

    assert response.status_code == 200
    assert all("work" in item for item in response.json["bulk"])


def test_bulk_read_returns_works_and_errors(client: FlaskClient, researcher: Connection) -> None:
    first = put_code_of(post_work(client, researcher, work_payload("10.1/a")))
    second = put_code_of(post_work(client, researcher, work_payload("10.1/b")))

    response = get(client, researcher, f"/works/{first},999999,{second}")

    assert response.status_code == 200
    bulk = response.json["bulk"]
    assert bulk[0]["work"]["put-code"] == first
    assert bulk[1]["error"]["error-code"] == 9016
    assert bulk[2]["work"]["put-code"] == second


def test_bulk_read_over_100_put_codes_is_refused(client: FlaskClient, researcher: Connection) -> None:
    codes = ",".join(str(1_000_000 + index) for index in range(101))

    assert_orcid_error(get(client, researcher, f"/works/{codes}"), 400, 9006)


# --- updating and deleting --------------------------------------------------------------------------------------


def put_work(client: FlaskClient, connection: Connection, put_code: int, work: Any) -> Any:
    return client.put(f"/v3.0/{connection.orcid}/work/{put_code}", headers=connection.headers(), data=json.dumps(work))


def test_put_updates_our_work_and_returns_it(client: FlaskClient, researcher: Connection, clock: FakeClock) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload("10.1/a")))
    clock.advance(60)

    response = put_work(client, researcher, put_code, {**work_payload("10.1/a", title="Renamed"), "put-code": put_code})

    assert response.status_code == 200
    body = response.json
    assert body["title"]["title"]["value"] == "Renamed"
    assert body["last-modified-date"]["value"] > body["created-date"]["value"]
    assert get(client, researcher, f"/work/{put_code}").json["title"]["title"]["value"] == "Renamed"


def test_put_without_changes_leaves_the_work_untouched(
    client: FlaskClient, researcher: Connection, clock: FakeClock
) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload("10.1/a")))
    clock.advance(60)

    body = put_work(client, researcher, put_code, {**work_payload("10.1/a"), "put-code": put_code}).json

    assert body["last-modified-date"] == body["created-date"]


@pytest.mark.parametrize("body_put_code", [None, 1])
def test_put_code_in_body_must_match_the_url(
    client: FlaskClient, researcher: Connection, body_put_code: int | None
) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload()))
    work = work_payload()
    if body_put_code is not None:
        work["put-code"] = body_put_code

    body = assert_orcid_error(put_work(client, researcher, put_code, work), 400, 9019)
    assert body["developer-message"] == (
        f"400 Bad Request: The put code in the URL was {put_code} whereas the one in the body was {body_put_code}."
    )


def test_put_and_delete_need_us_to_be_the_source(client: FlaskClient, researcher: Connection) -> None:
    # Given a work of the researcher and one of another member on the same record
    own_work = seed_work(client, researcher.orcid, work_payload("10.1/theirs"))
    other = connect(client, OTHER_CLIENT, orcid=researcher.orcid)
    other_work = put_code_of(post_work(client, other, work_payload("10.1/other")))

    # When we try to change or delete them, ORCID says we are not the source
    for put_code in (own_work, other_work):
        update = {**work_payload("10.1/x"), "put-code": put_code}
        body = assert_orcid_error(put_work(client, researcher, put_code, update), 403, 9010)
        assert body["developer-message"] == (
            "403 Forbidden: You are not the source of the work, so you are not allowed to update it."
        )
        delete = client.delete(f"/v3.0/{researcher.orcid}/work/{put_code}", headers=researcher.headers())
        assert_orcid_error(delete, 403, 9010)


def test_put_into_a_duplicate_of_another_own_work_is_a_409(client: FlaskClient, researcher: Connection) -> None:
    first = put_code_of(post_work(client, researcher, work_payload("10.1/a")))
    second = put_code_of(post_work(client, researcher, work_payload("10.1/b")))

    response = put_work(client, researcher, second, {**work_payload("10.1/A"), "put-code": second})

    body = assert_orcid_error(response, 409, 9021)
    assert f"put-code {first}." in body["developer-message"]


def test_put_cannot_change_visibility(client: FlaskClient, researcher: Connection) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload()))

    response = put_work(client, researcher, put_code, {**work_payload(), "put-code": put_code, "visibility": "private"})

    assert_orcid_error(response, 403, 9035)


def test_delete_answers_204_then_the_work_is_gone(client: FlaskClient, researcher: Connection) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload()))

    response = client.delete(f"/v3.0/{researcher.orcid}/work/{put_code}", headers=researcher.headers())

    assert response.status_code == 204
    assert_orcid_error(get(client, researcher, f"/work/{put_code}"), 404, 9016)
    assert post_work(client, researcher, work_payload()).status_code == 201


def test_work_deleted_by_the_researcher_is_a_404_on_put(client: FlaskClient, researcher: Connection) -> None:
    put_code = put_code_of(post_work(client, researcher, work_payload()))
    assert client.delete(f"/_sandbox/records/{researcher.orcid}/works/{put_code}").status_code == 204

    assert_orcid_error(put_work(client, researcher, put_code, {**work_payload(), "put-code": put_code}), 404, 9016)


# --- validation -------------------------------------------------------------------------------------------------


def without(work: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in work.items() if name != key}


def with_ids(*external_ids: dict[str, Any]) -> dict[str, Any]:
    return {**work_payload(None), "external-ids": {"external-id": list(external_ids)}}


SELF_DOI = {"external-id-type": "doi", "external-id-value": "10.1/x", "external-id-relationship": "self"}


@pytest.mark.parametrize(
    ("work", "error_code"),
    [
        # ORCID validates a single work against its XSD before its own rules, so what the XSD says is a 9047
        (without(work_payload(), "title"), 9047),
        ({**work_payload(), "title": {"title": {"value": "  "}}}, 9047),
        (without(work_payload(), "type"), 9047),
        ({**work_payload(), "type": "journal-paper"}, 9037),
        (without(work_payload(), "external-ids"), 9023),
        (with_ids(), 9023),
        (with_ids({**SELF_DOI, "external-id-type": "made-up"}), 9023),
        (with_ids({**SELF_DOI, "external-id-value": ""}), 9047),
        (with_ids(without(SELF_DOI, "external-id-relationship")), 9023),
        (with_ids({**SELF_DOI, "external-id-relationship": "version-of"}), 9023),
        ({**work_payload(), "publication-date": {"year": {"value": "2020"}, "month": {"value": "5"}}}, 9049),
        (
            {
                **work_payload(),
                "publication-date": {"year": {"value": "2021"}, "month": {"value": "02"}, "day": {"value": "29"}},
            },
            9049,
        ),
        ({**work_payload(), "publication-date": {"year": {"value": "2020"}, "day": {"value": "01"}}}, 9047),
        ({**work_payload(), "publication-date": {"year": {"value": "20"}}}, 9047),
        ({**work_payload(), "publication-date": {"year": {"value": "2020"}, "month": {"value": "13"}}}, 9047),
        ({**work_payload(), "title": {"title": {"value": "x" * 1001}}}, 9047),
        ({**work_payload(), "journal-title": {"value": "x" * 1001}}, 9047),
        ({**work_payload(), "short-description": "x" * 5001}, 9047),
        ({**work_payload(), "put-code": 123}, 9024),
        ({**work_payload(), "citation": {"citation-type": "latex", "citation-value": "x"}}, 9037),
        ({**work_payload(), "country": {"value": "Canada"}}, 9037),
        (
            {
                **work_payload(),
                "contributors": {"contributor": [{"contributor-attributes": {"contributor-role": "writer"}}]},
            },
            9058,
        ),
        (
            {
                **work_payload(),
                "contributors": {"contributor": [{"contributor-orcid": {"path": "0000-0002-1825-009"}}]},
            },
            9047,
        ),
        ([work_payload()], 9047),
    ],
)
def test_invalid_works_get_orcids_400(client: FlaskClient, researcher: Connection, work: Any, error_code: int) -> None:
    response = post_work(client, researcher, work)

    assert_orcid_error(response, 400, error_code)
    assert client.get(f"/_sandbox/records/{researcher.orcid}").json["works"] == []


@pytest.mark.parametrize(
    "work",
    [
        {**work_payload(), "title": {"title": {"value": "x" * 1000}}},
        {**work_payload(), "short-description": "x" * 5000},
        {**work_payload(), "publication-date": {"year": {"value": "2020"}}},
        {**work_payload(), "publication-date": {"year": {"value": "2020"}, "month": {"value": "05"}, "day": None}},
        {
            **work_payload(),
            "contributors": {
                "contributor": [
                    {
                        "contributor-orcid": {"path": "0000-0002-1825-0097"},
                        "credit-name": {"value": "Josiah Carberry"},
                        "contributor-attributes": {
                            "contributor-sequence": "first",
                            "contributor-role": "http://credit.niso.org/contributor-roles/writing-original-draft/",
                        },
                    }
                ]
            },
        },
        {**work_payload(), "citation": {"citation-type": "bibtex", "citation-value": "@article{x}"}},
        with_ids({**SELF_DOI, "external-id-type": "source-work-id", "external-id-value": "asset-1"}),
        # ORCID checks a contributor iD's pattern, not its check character
        {**work_payload(), "contributors": {"contributor": [{"contributor-orcid": {"path": "0000-0002-1825-0098"}}]}},
        {**work_payload(), "language-code": ""},
    ],
)
def test_valid_edge_cases_are_accepted(client: FlaskClient, researcher: Connection, work: Any) -> None:
    assert post_work(client, researcher, work).status_code == 201


def test_type_aliases_are_stored_canonically(client: FlaskClient, researcher: Connection) -> None:
    put_code = put_code_of(post_work(client, researcher, {**work_payload(), "type": "dataset"}))

    assert get(client, researcher, f"/work/{put_code}").json["type"] == "data-set"


def test_a_record_holds_at_most_the_configured_number_of_works(clock: FakeClock) -> None:
    # Given a sandbox whose cap is 3 (ORCID's is 10,000)
    app = create_app(SandboxConfig(clients=[OUR_CLIENT], clock=clock, rate=0, max_works_per_record=3))
    client = app.test_client()
    researcher = connect(client)
    for index in range(2):
        put_code_of(post_work(client, researcher, work_payload(f"10.1/{index}")))

    # When a bulk tries to go past it
    bulk = post_bulk(client, researcher, [work_payload("10.1/2"), work_payload("10.1/3")]).json["bulk"]

    # Then the item over the cap gets 409/9048, and so does any later POST
    assert "work" in bulk[0]
    assert bulk[1]["error"]["error-code"] == 9048
    assert_orcid_error(post_work(client, researcher, work_payload("10.1/4")), 409, 9048)


def test_default_cap_is_orcids_ten_thousand() -> None:
    assert SandboxConfig().max_works_per_record == 10_000


# --- authorization and content types ---------------------------------------------------------------------------


def test_missing_and_unknown_tokens_are_401(client: FlaskClient, researcher: Connection) -> None:
    missing = client.get(f"/v3.0/{researcher.orcid}/works")
    unknown = client.get(f"/v3.0/{researcher.orcid}/works", headers={"Authorization": "Bearer not-a-token"})

    assert missing.status_code == 401
    assert missing.json["error"] == "unauthorized"
    assert unknown.status_code == 401
    assert unknown.json == {"error": "invalid_token", "error_description": "Invalid access token: not-a-token"}


def test_token_for_another_record_is_401_9017(client: FlaskClient, researcher: Connection) -> None:
    someone_else = connect(client)

    response = client.get(f"/v3.0/{someone_else.orcid}/works", headers=researcher.headers())

    body = assert_orcid_error(response, 401, 9017)
    assert "Access token is for a different record" in body["developer-message"]


def test_unknown_orcid_is_404(client: FlaskClient, researcher: Connection) -> None:
    response = client.get("/v3.0/0000-0002-1825-0097/works", headers=researcher.headers())

    assert_orcid_error(response, 404, 9016)


@pytest.mark.parametrize(
    ("scope", "method", "path", "payload"),
    [
        ("/activities/update /person/update", "GET", "/works", None),
        ("/activities/update /person/update", "GET", "/record", None),
        ("/read-limited /person/update", "POST", "/work", work_payload()),
        ("/read-limited /person/update", "POST", "/works", {"bulk": []}),
        ("/read-limited /person/update", "POST", "/employment", employment_payload()),
        ("/read-limited /activities/update", "POST", "/researcher-urls", {"url": {"value": "https://x.example"}}),
    ],
)
def test_missing_scope_is_403_9038(client: FlaskClient, scope: str, method: str, path: str, payload: Any) -> None:
    connection = connect(client, scope=scope)

    response = client.open(
        f"/v3.0/{connection.orcid}{path}", method=method, headers=connection.headers(), data=json.dumps(payload)
    )

    body = assert_orcid_error(response, 403, 9038)
    assert body["developer-message"].startswith("409 Conflict")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_writes_need_a_json_content_type(client: FlaskClient, researcher: Connection, content_type: str | None) -> None:
    headers = {"Authorization": f"Bearer {researcher.access_token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post(f"/v3.0/{researcher.orcid}/work", headers=headers, data=json.dumps(work_payload()))

    assert_orcid_error(response, 415, 9001)


def test_plain_application_json_is_accepted(client: FlaskClient, researcher: Connection) -> None:
    headers = researcher.headers(**{"Content-Type": "application/json", "Accept": "application/json"})

    response = client.post(f"/v3.0/{researcher.orcid}/work", headers=headers, data=json.dumps(work_payload()))

    assert response.status_code == 201


def test_unparseable_json_is_400_9001(client: FlaskClient, researcher: Connection) -> None:
    response = client.post(f"/v3.0/{researcher.orcid}/work", headers=researcher.headers(), data="{not json")

    assert_orcid_error(response, 400, 9001)


def test_xml_only_accept_header_is_406(client: FlaskClient, researcher: Connection) -> None:
    response = get_with(client, researcher, "/works", Accept="application/vnd.orcid+xml")

    assert_orcid_error(response, 406, 9001)


def get_with(client: FlaskClient, connection: Connection, path: str, **headers: str) -> Any:
    return client.get(f"/v3.0/{connection.orcid}{path}", headers=connection.headers(**headers))


def test_unknown_member_api_path_is_an_orcid_404(client: FlaskClient, researcher: Connection) -> None:
    assert_orcid_error(get(client, researcher, "/fundings-and-more"), 404, 9016)


# --- private items of other sources -----------------------------------------------------------------------------


def test_private_items_of_other_sources_are_hidden(client: FlaskClient, researcher: Connection) -> None:
    hidden = seed_work(client, researcher.orcid, work_payload("10.1/secret"), visibility="private")
    ours = put_code_of(post_work(client, researcher, work_payload("10.1/public")))

    summary = get(client, researcher, "/works").json

    put_codes = [item["put-code"] for group in summary["group"] for item in group["work-summary"]]
    assert put_codes == [ours]
    assert_orcid_error(get(client, researcher, f"/work/{hidden}"), 403, 9013)


# --- researcher URLs --------------------------------------------------------------------------------------------


def post_url(client: FlaskClient, connection: Connection, url: str, name: str | None = "Repository profile") -> Any:
    body = {"url-name": name, "url": {"value": url}}
    return client.post(f"/v3.0/{connection.orcid}/researcher-urls", headers=connection.headers(), data=json.dumps(body))


def test_researcher_urls_are_created_listed_updated_and_deleted(client: FlaskClient, researcher: Connection) -> None:
    # Given a researcher URL we added
    response = post_url(client, researcher, "https://repo.example/people/1")
    assert response.status_code == 201
    put_code = put_code_of(response)
    assert response.headers["Location"] == f"{BASE_URL}/v3.0/{researcher.orcid}/researcher-urls/{put_code}"

    # When we list, update and delete it
    listed = get(client, researcher, "/researcher-urls").json
    update = {"put-code": put_code, "url-name": "Profile", "url": {"value": "https://repo.example/people/1b"}}
    updated = client.put(
        f"/v3.0/{researcher.orcid}/researcher-urls/{put_code}", headers=researcher.headers(), data=json.dumps(update)
    )
    deleted = client.delete(f"/v3.0/{researcher.orcid}/researcher-urls/{put_code}", headers=researcher.headers())

    # Then each step answers as ORCID does
    assert listed["path"] == f"/{researcher.orcid}/researcher-urls"
    assert listed["researcher-url"][0]["url"] == {"value": "https://repo.example/people/1"}
    assert listed["researcher-url"][0]["source"]["source-client-id"]["path"] == OUR_CLIENT.client_id
    assert updated.status_code == 200
    assert updated.json["url"] == {"value": "https://repo.example/people/1b"}
    assert deleted.status_code == 204
    assert_orcid_error(get(client, researcher, f"/researcher-urls/{put_code}"), 404, 9016)


def test_same_url_from_the_same_source_is_a_409_9030(client: FlaskClient, researcher: Connection) -> None:
    put_code_of(post_url(client, researcher, "https://repo.example/people/1"))
    other = connect(client, OTHER_CLIENT, orcid=researcher.orcid)

    again = post_url(client, researcher, "https://repo.example/people/1", name="Another name")
    from_other = post_url(client, other, "https://repo.example/people/1")

    body = assert_orcid_error(again, 409, 9030)
    assert (
        body["developer-message"]
        == "The element 'https://repo.example/people/1' of type 'researcher-url' is duplicated."
    )
    assert from_other.status_code == 201


def test_researcher_url_rules(client: FlaskClient, researcher: Connection) -> None:
    other = connect(client, OTHER_CLIENT, orcid=researcher.orcid)
    theirs = put_code_of(post_url(client, other, "https://other.example/ada"))
    path = f"/v3.0/{researcher.orcid}/researcher-urls"

    empty = post_url(client, researcher, "")
    long_name = post_url(client, researcher, "https://x.example", name="x" * 351)
    with_put_code = client.post(
        path, headers=researcher.headers(), data=json.dumps({"put-code": 1, "url": {"value": "https://y.example"}})
    )
    not_ours = client.delete(f"{path}/{theirs}", headers=researcher.headers())

    assert_orcid_error(empty, 400, 9006)
    assert_orcid_error(long_name, 400, 9047)
    assert_orcid_error(with_put_code, 400, 9024)
    assert_orcid_error(not_ours, 403, 9010)


# --- employments ------------------------------------------------------------------------------------------------


def post_employment(client: FlaskClient, connection: Connection, employment: Any) -> Any:
    return client.post(
        f"/v3.0/{connection.orcid}/employment", headers=connection.headers(), data=json.dumps(employment)
    )


def test_employments_are_created_grouped_updated_and_deleted(client: FlaskClient, researcher: Connection) -> None:
    # Given an employment we added
    response = post_employment(client, researcher, employment_payload())
    put_code = put_code_of(response)
    assert response.headers["Location"] == f"{BASE_URL}/v3.0/{researcher.orcid}/employment/{put_code}"

    # When it is listed, read, updated and deleted
    groups = get(client, researcher, "/employments").json
    single = get(client, researcher, f"/employment/{put_code}").json
    update = {**employment_payload(role_title="Head of Research Data"), "put-code": put_code}
    updated = client.put(
        f"/v3.0/{researcher.orcid}/employment/{put_code}", headers=researcher.headers(), data=json.dumps(update)
    )
    deleted = client.delete(f"/v3.0/{researcher.orcid}/employment/{put_code}", headers=researcher.headers())

    # Then the shapes are ORCID's
    assert groups["path"] == f"/{researcher.orcid}/employments"
    summary = groups["affiliation-group"][0]["summaries"][0]["employment-summary"]
    assert summary["put-code"] == put_code
    assert summary["organization"]["disambiguated-organization"]["disambiguation-source"] == "ROR"
    assert summary["path"] == f"/{researcher.orcid}/employment/{put_code}"
    assert single["role-title"] == "Research Software Engineer"
    assert updated.json["role-title"] == "Head of Research Data"
    assert deleted.status_code == 204


def organization_with(**changes: Any) -> dict[str, Any]:
    organization: dict[str, Any] = dict(employment_payload()["organization"])
    organization.update(changes)
    return organization


@pytest.mark.parametrize(
    ("employment", "error_code"),
    [
        (without(employment_payload(), "organization"), 9046),
        (employment_payload(organization=organization_with(**{"disambiguated-organization": None})), 9045),
        (
            employment_payload(
                organization=organization_with(
                    **{
                        "disambiguated-organization": {
                            "disambiguated-organization-identifier": "05qwgg493",
                            "disambiguation-source": "ROR",
                        }
                    }
                )
            ),
            9045,
        ),
        (
            employment_payload(
                organization=organization_with(
                    **{
                        "disambiguated-organization": {
                            "disambiguated-organization-identifier": "x",
                            "disambiguation-source": "WIKIDATA",
                        }
                    }
                )
            ),
            9045,
        ),
        (employment_payload(organization=organization_with(address={"country": "US"})), 9060),
        (employment_payload(organization=organization_with(address={"city": "Boston"})), 9060),
        (
            employment_payload(end_date={"year": {"value": "2020"}, "month": {"value": "01"}, "day": {"value": "01"}}),
            9055,
        ),
        (
            {**without(employment_payload(), "start-date"), "end-date": {"year": {"value": "2020"}}},
            9050,
        ),
        (employment_payload(start_date={"year": {"value": "2021"}, "month": {"value": "1"}}), 9049),
        ({**employment_payload(), "put-code": 5}, 9024),
    ],
)
def test_invalid_employments_get_orcids_400(
    client: FlaskClient, researcher: Connection, employment: Any, error_code: int
) -> None:
    assert_orcid_error(post_employment(client, researcher, employment), 400, error_code)


def test_employments_without_external_ids_are_never_duplicates(client: FlaskClient, researcher: Connection) -> None:
    assert post_employment(client, researcher, employment_payload()).status_code == 201
    assert post_employment(client, researcher, employment_payload()).status_code == 201

    assert len(client.get(f"/_sandbox/records/{researcher.orcid}").json["employments"]) == 2


def test_employments_with_the_same_self_id_are_duplicates(client: FlaskClient, researcher: Connection) -> None:
    self_id = {
        "external-id": [
            {"external-id-type": "source-work-id", "external-id-value": "staff-1", "external-id-relationship": "self"}
        ]
    }
    first = put_code_of(post_employment(client, researcher, employment_payload(external_ids=self_id)))

    body = assert_orcid_error(post_employment(client, researcher, employment_payload(external_ids=self_id)), 409, 9021)
    assert f"put-code {first}." in body["developer-message"]


# --- the record and inspection ----------------------------------------------------------------------------------


def test_record_has_identifier_person_and_activities(client: FlaskClient, researcher: Connection) -> None:
    work = put_code_of(post_work(client, researcher, work_payload()))
    put_code_of(post_url(client, researcher, "https://repo.example/people/1"))
    put_code_of(post_employment(client, researcher, employment_payload()))

    record = get(client, researcher, "/record").json

    assert set(record) == {"orcid-identifier", "preferences", "history", "person", "activities-summary", "path"}
    assert record["orcid-identifier"] == {
        "uri": f"{BASE_URL}/{researcher.orcid}",
        "path": researcher.orcid,
        "host": "sandbox.test",
    }
    assert record["person"]["name"]["given-names"] == {"value": "Ada"}
    assert len(record["person"]["researcher-urls"]["researcher-url"]) == 1
    activities = record["activities-summary"]
    assert activities["works"]["group"][0]["work-summary"][0]["put-code"] == work
    assert len(activities["employments"]["affiliation-group"]) == 1
    assert get(client, researcher, "").json == record


def test_inspection_shows_the_full_state(client: FlaskClient, researcher: Connection) -> None:
    ours = put_code_of(post_work(client, researcher, work_payload("https://doi.org/10.1/ABC")))
    theirs = seed_work(client, researcher.orcid, work_payload("10.1/mine"))

    state = client.get(f"/_sandbox/records/{researcher.orcid}").json

    assert state["orcid"] == researcher.orcid
    works = {work["put_code"]: work for work in state["works"]}
    assert works[ours]["source"] == {"client_id": OUR_CLIENT.client_id, "orcid": None, "name": "Our Repository"}
    assert works[ours]["self_ids"] == [{"type": "doi", "normalized": "10.1/abc"}]
    assert works[theirs]["source"]["orcid"] == researcher.orcid
    assert works[ours]["work"]["put-code"] == ours
    assert state["tokens"][0]["client_id"] == OUR_CLIENT.client_id
    assert "access_token" not in str(state["tokens"])
    listed = client.get("/_sandbox/records").json["records"]
    assert listed == [
        {
            "orcid": researcher.orcid,
            "name": "Ada Byron",
            "email": None,
            "works": 2,
            "researcher_urls": 0,
            "employments": 0,
        }
    ]


def test_seeding_rejects_invalid_works_and_unknown_clients(client: FlaskClient, researcher: Connection) -> None:
    invalid = client.post(f"/_sandbox/records/{researcher.orcid}/works", json={"work": without(work_payload(), "type")})
    unknown_client = client.post(
        f"/_sandbox/records/{researcher.orcid}/works",
        json={"work": work_payload(), "source_client_id": "APP-ZZZZZZZZZZZZZZZZ"},
    )
    unknown_record = client.post("/_sandbox/records/0000-0002-1825-0097/works", json={"work": work_payload()})

    assert_orcid_error(invalid, 400, 9047)
    assert unknown_client.status_code == 400
    assert unknown_record.status_code == 404


def test_seeding_as_a_client_applies_its_duplicate_check(client: FlaskClient, researcher: Connection) -> None:
    existing = put_code_of(post_work(client, researcher, work_payload("10.1/a")))

    response = client.post(
        f"/_sandbox/records/{researcher.orcid}/works",
        json={"work": work_payload("10.1/A"), "source_client_id": OUR_CLIENT.client_id},
    )

    body = assert_orcid_error(response, 409, 9021)
    assert f"put-code {existing}." in body["developer-message"]


def test_reset_forgets_records_but_keeps_clients(client: FlaskClient, researcher: Connection) -> None:
    assert client.post("/_sandbox/reset").status_code == 204

    assert client.get("/_sandbox/records").json == {"records": []}
    assert client.get(f"/v3.0/{researcher.orcid}/works", headers=researcher.headers()).status_code == 401
    assert connect(client).orcid

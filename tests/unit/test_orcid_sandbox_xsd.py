"""The local ORCID sandbox refuses what ORCID refuses: every orcid-model sample gets ORCID's answer, and mutations of
valid items (bad vocabularies, unknown or mistyped fields, missing elements, foreign iD hosts) get ORCID's error."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, SandboxState, create_app
from orcid_sync_local.orcid_sandbox.errors import OrcidApiError
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, ORCID_HEADERS, employment_payload, work_payload
from orcid_sync_local.orcid_sandbox.xsd import ItemSchema

CLIENT = RegisteredClient("APP-OURREPOSITORY001", "our-secret", ["https://repo.example"], "Our Repository")
PATHS = {"work": "work", "researcher-url": "researcher-urls", "employment": "employment"}
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
ACCEPTED = 0  # expected "error code" of an item ORCID takes
DROP = object()  # a mutation's value: leave the key out


@pytest.fixture(scope="module")
def app() -> Flask:
    sandbox = create_app(SandboxConfig(clients=[CLIENT], rate=0, public_base_url="http://sandbox.test:8090"))
    sandbox.testing = True
    return sandbox


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def state(app: Flask) -> SandboxState:
    sandbox_state = app.extensions["orcid_sandbox"]
    assert isinstance(sandbox_state, SandboxState)
    return sandbox_state


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "orcid-model"


@dataclass(frozen=True)
class Researcher:
    orcid: str
    headers: dict[str, str]


def connect(client: FlaskClient) -> Researcher:
    grant = {"client_id": CLIENT.client_id, "scope": ALL_SCOPES}
    body = client.post("/_sandbox/researchers", json={"given_names": "Ada", "grant": grant}).json
    return Researcher(body["orcid"], {**ORCID_HEADERS, "Authorization": f"Bearer {body['access_token']}"})


def answer(response: Any) -> int:
    """ACCEPTED for a 2xx, else the ORCID error code (checking the error body is ORCID's)."""
    if response.status_code < 300:
        return ACCEPTED
    body = response.json
    assert response.status_code in (400, 409), body
    assert body["response-code"] == response.status_code
    assert set(body) == {"response-code", "developer-message", "user-message", "error-code", "more-info"}
    code: int = body["error-code"]
    return code


def post(client: FlaskClient, kind: str, item: Any) -> int:
    researcher = connect(client)
    path = f"/v3.0/{researcher.orcid}/{PATHS[kind]}"
    return answer(client.post(path, headers=researcher.headers, data=json.dumps(item)))


def post_bulk(client: FlaskClient, items: list[Any]) -> list[int]:
    researcher = connect(client)
    path = f"/v3.0/{researcher.orcid}/works"
    response = client.post(path, headers=researcher.headers, data=json.dumps({"bulk": items}))
    assert response.status_code == 200, response.json
    return [ACCEPTED if "work" in entry else entry["error"]["error-code"] for entry in response.json["bulk"]]


VALID = {
    "work": work_payload("10.5555/seed"),
    "researcher-url": {"url": {"value": "https://seed.example"}},
    "employment": employment_payload(),
}


def put_back(client: FlaskClient, kind: str, item: dict[str, Any]) -> int:
    """What a client does with an item it read: PUT it onto its own item (that put-code, visibility left out)."""
    researcher = connect(client)
    path = f"/v3.0/{researcher.orcid}/{PATHS[kind]}"
    created = client.post(path, headers=researcher.headers, data=json.dumps(VALID[kind]))
    put_code = int(created.headers["Location"].rsplit("/", 1)[1])
    body = {**{key: value for key, value in item.items() if key != "visibility"}, "put-code": put_code}
    return answer(client.put(f"{path}/{put_code}", headers=researcher.headers, data=json.dumps(body)))


# --- every sample in orcid-model --------------------------------------------------------------------------------


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_to_orcid_json(element: ET.Element, schema: ItemSchema) -> dict[str, Any]:
    """ORCID's JSON for an XML item: hyphenated local names, `value` for wrapped text, arrays for repeated elements.

    The sandbox speaks JSON only, so the XML samples go in as the JSON ORCID would have read from the same item."""

    def convert(elem: ET.Element, node: Any) -> Any:
        attributes = {name: value for name, value in elem.attrib.items() if not name.startswith(XSI)}
        if node.has_text:
            text = elem.text or ""
            return {"value": text, **attributes} if node.wrapped or attributes else text
        converted: dict[str, Any] = attributes
        for child in elem:
            name = local_name(child.tag)
            child_node = node.children[name]
            value = convert(child, child_node)
            if child_node.repeated:
                converted.setdefault(name, []).append(value)
            else:
                converted[name] = value
        return converted

    result: dict[str, Any] = convert(element, schema.node)
    return result


def echoed(item: dict[str, Any]) -> dict[str, Any]:
    """A read item sent back in a create: without its put-code and visibility."""
    return {key: value for key, value in item.items() if key not in ("put-code", "visibility")}


# Which writes each sample becomes: (kind, how, item) with how "post", "bulk" (the item is the list) or "put".
Feed = tuple[str, str, Any]
ITEM_KINDS = {"work": "work", "work-summary": "work", "researcher-url": "researcher-url", "employment": "employment"}
ITEM_KINDS["employment-summary"] = "employment"


def feeds(sample: Path, schemas: dict[str, ItemSchema]) -> Iterator[Feed]:
    """Write samples are request bodies and are sent as they are. Read samples are responses: each item in them is
    sent back as a client would after reading it (a PUT onto its own item; a bulk's works POSTed again)."""
    read = "read_samples" in sample.parts
    if sample.suffix == ".json":
        data = json.loads(sample.read_text(encoding="utf-8"))
        if "bulk" in data:
            yield "work", "bulk", data["bulk"]
        elif "orcid-identifier" in data:  # record-full-3.0.json
            for url in data["person"]["researcher-urls"]["researcher-url"]:
                yield "researcher-url", "put", url
            for group in data["activities-summary"]["employments"]["affiliation-group"]:
                for summary in group["summaries"]:
                    yield "employment", "put", summary["employment-summary"]
            for group in data["activities-summary"]["works"]["group"]:
                for summary in group["work-summary"]:
                    yield "work", "put", summary
        else:
            kind = next(kind for kind in PATHS if sample.name.startswith(kind))
            yield kind, "post", data
        return
    root = ET.parse(sample).getroot()
    name = local_name(root.tag)
    if name == "bulk":
        entries = []
        for child in root:
            if local_name(child.tag) == "work":
                work = xml_to_orcid_json(child, schemas["work"])
                entries.append({"work": echoed(work) if read else work})
            else:  # an <error:error> of a bulk response is no work
                entries.append({local_name(child.tag): {local_name(part.tag): part.text for part in child}})
        yield "work", "bulk", entries
    elif name in ITEM_KINDS:
        kind = ITEM_KINDS[name]
        yield kind, "put" if read else "post", xml_to_orcid_json(root, schemas[kind])
    elif name == "error":  # an error response, sent as if it were a work
        yield "work", "post", {local_name(part.tag): part.text for part in root}
    else:  # lists: works, researcher-urls, employments
        for element in root.iter():
            if local_name(element.tag) in ITEM_KINDS:
                kind = ITEM_KINDS[local_name(element.tag)]
                yield kind, "put", xml_to_orcid_json(element, schemas[kind])


# Every sample file and ORCID's answer to each write it becomes, with why when it is not accepted.
SAMPLE_ANSWERS: dict[str, list[Any]] = {
    "read_samples/bulk-work-err.xml": [[ACCEPTED, 9047]],  # its <error:error> entry is no work
    "read_samples/employment-3.0.xml": [ACCEPTED],
    "read_samples/employment-full-3.0.xml": [ACCEPTED],
    "read_samples/employments-3.0.xml": [9045, 9045],  # the summaries have no disambiguated organization
    "read_samples/error-3.0.xml": [9047],  # an error body: "Unrecognized field response-code" for a work
    "read_samples/record-full-3.0.json": [ACCEPTED] * 4,
    "read_samples/researcher-url-3.0.xml": [ACCEPTED],
    "read_samples/researcher-urls-3.0.xml": [ACCEPTED],
    "read_samples/work-3.0.xml": [9047],  # <work:journal-title /> is empty: not a non-empty string-1000
    "read_samples/work-full-3.0.xml": [ACCEPTED],
    "read_samples/work-review-3.0.xml": [ACCEPTED],
    "read_samples/works-3.0.xml": [9023, ACCEPTED, ACCEPTED],  # work # 0 has only a part-of id, no self id
    "write_samples/bulk-work-3.0.json": [[ACCEPTED, 9023]],  # the second work's only id is part-of
    "write_samples/bulk-work-3.0.xml": [[ACCEPTED, ACCEPTED]],
    "write_samples/bulk-works-100-works-3.0.json": [[ACCEPTED] * 100],
    "write_samples/bulk-works-3-works-3.0.json": [[ACCEPTED] * 3],
    "write_samples/employment-3.0.json": [ACCEPTED],
    "write_samples/employment-3.0.xml": [ACCEPTED],
    "write_samples/researcher-url-3.0-no-name.xml": [ACCEPTED],
    "write_samples/researcher-url-3.0.json": [ACCEPTED],
    "write_samples/researcher-url-3.0.xml": [ACCEPTED],
    "write_samples/researcher-url-no-name-3.0.json": [ACCEPTED],
    "write_samples/work-51-contributors-3.0.json": [ACCEPTED],
    "write_samples/work-full-3.0.json": [ACCEPTED],
    "write_samples/work-full-3.0.xml": [ACCEPTED],
    "write_samples/work-simple-3.0.xml": [ACCEPTED],
    "write_samples/work-with-NISO-roles-51-contributors-3.0.json": [ACCEPTED],
}


SAMPLES_DIR = Path("record_3.0", "samples")


def test_every_sample_in_orcid_model_has_an_expected_answer(samples: Path) -> None:
    found = [path.relative_to(samples) for path in samples.rglob("*") if path.is_file() and "samples" in path.parts]

    assert sorted(str(path.relative_to(SAMPLES_DIR)) for path in found) == sorted(SAMPLE_ANSWERS)
    assert all(path.is_relative_to(SAMPLES_DIR) for path in found)


@pytest.mark.parametrize("name", sorted(SAMPLE_ANSWERS))
def test_each_sample_gets_orcids_answer(client: FlaskClient, state: SandboxState, samples: Path, name: str) -> None:
    schemas = state.rules.model.items
    answers: list[Any] = []
    for kind, how, item in feeds(samples / SAMPLES_DIR / name, schemas):
        if how == "bulk":
            answers.append(post_bulk(client, item))
        elif how == "put":
            answers.append(put_back(client, kind, item))
        else:
            answers.append(post(client, kind, item))

    assert answers == SAMPLE_ANSWERS[name]


# --- mutations of valid items -----------------------------------------------------------------------------------


def mutated(item: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A deep copy of `item` with the value at `path` replaced (or left out, for DROP)."""
    result = copy.deepcopy(item)
    target = result
    for key in path[:-1]:
        target = target[key]
    if value is DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result


@pytest.fixture(scope="module")
def full_work(samples: Path) -> dict[str, Any]:
    """ORCID's own full write sample: every work element, two contributors."""
    work: dict[str, Any] = json.loads(
        (samples / "record_3.0" / "samples" / "write_samples" / "work-full-3.0.json").read_text(encoding="utf-8")
    )
    return work


ORCID_ID = ("contributors", "contributor", 0, "contributor-orcid")
ATTRIBUTES = ("contributors", "contributor", 0, "contributor-attributes")
FIRST_ID = ("external-ids", "external-id", 1)
ORGANIZATION = ("organization",)

# (what, kind, path, value, ORCID's error code)
MUTATIONS: list[tuple[str, str, tuple[str | int, ...], Any, int]] = [
    # vocabularies ORCID checks in code (the XSD says "a string")
    ("language ORCID does not know", "work", ("language-code",), "xx", 9037),
    ("language in another case", "work", ("language-code",), "EN", 9037),
    ("translated title in an unknown language", "work", ("title", "translated-title", "language-code"), "xx", 9037),
    ("country ORCID does not know", "work", ("country",), {"value": "ZZ"}, 9037),
    ("country as a name", "work", ("country",), {"value": "Canada"}, 9037),
    ("organization in an unknown country", "employment", (*ORGANIZATION, "address", "country"), "ZZ", 9037),
    ("work type", "work", ("type",), "journal-paper", 9037),
    ("2.x work type", "work", ("type",), "dissertation", 9037),
    ("citation type", "work", ("citation", "citation-type"), "latex", 9037),
    ("external-id type", "work", (*FIRST_ID, "external-id-type"), "made-up", 9023),
    ("external-id relationship", "work", (*FIRST_ID, "external-id-relationship"), "sibling-of", 9023),
    ("no external-id relationship", "work", (*FIRST_ID, "external-id-relationship"), DROP, 9023),
    ("contributor role", "work", (*ATTRIBUTES, "contributor-role"), "writer", 9058),
    (
        "CRediT role ORCID does not know",
        "work",
        (*ATTRIBUTES, "contributor-role"),
        "http://credit.niso.org/contributor-roles/typing/",
        9058,
    ),
    (
        "disambiguation source",
        "employment",
        (*ORGANIZATION, "disambiguated-organization", "disambiguation-source"),
        "WIKIDATA",
        9045,
    ),
    # vocabularies the XSD enumerates
    ("contributor sequence", "work", (*ATTRIBUTES, "contributor-sequence"), "middle", 9047),
    ("visibility", "work", ("visibility",), "secret", 9047),
    # the XSD's structure: unknown fields, wrong JSON types, missing elements
    ("unknown top-level field", "work", ("subject",), "Frogs", 9047),
    ("unknown field in the title", "work", ("title", "original-title"), {"value": "x"}, 9047),
    ("unknown field in an external id", "work", (*FIRST_ID, "external-id-note"), "x", 9047),
    ("unknown field in a contributor", "work", ("contributors", "contributor", 0, "affiliation"), "x", 9047),
    ("unknown field beside a value", "work", ("journal-title", "lang"), "en", 9047),
    ("unknown employment field", "employment", ("salary",), "1", 9047),
    ("unknown researcher-url field", "researcher-url", ("url-title",), "x", 9047),
    ("title as a string", "work", ("title",), "Work Title", 9047),
    ("type as an object", "work", ("type",), {"value": "journal-article"}, 9047),
    ("short description as an object", "work", ("short-description",), {"value": "x"}, 9047),
    ("external ids as an array", "work", ("external-ids",), [], 9047),
    ("external id as a string", "work", ("external-ids", "external-id"), ["10.1/x"], 9047),
    ("put-code that is no number", "work", ("put-code",), "one", 9047),
    ("year that is no number", "work", ("publication-date", "year"), {"value": "MMXX"}, 9047),
    ("two journal titles", "work", ("journal-title",), [{"value": "a"}, {"value": "b"}], 9047),
    ("no title", "work", ("title",), DROP, 9047),
    ("a title without its title", "work", ("title", "title"), DROP, 9047),
    ("no type", "work", ("type",), DROP, 9047),
    ("external id without a value", "work", (*FIRST_ID, "external-id-value"), DROP, 9047),
    ("citation without a value", "work", ("citation", "citation-value"), DROP, 9047),
    ("translated title without its language code", "work", ("title", "translated-title", "language-code"), DROP, 9047),
    ("researcher-url without a url", "researcher-url", ("url",), DROP, 9047),
    ("organization without a name", "employment", (*ORGANIZATION, "name"), DROP, 9047),
    ("organization without an address", "employment", (*ORGANIZATION, "address"), DROP, 9047),
    # the XSD's facets
    ("blank title", "work", ("title", "title"), {"value": " \n"}, 9047),
    ("title over 1000 characters", "work", ("title", "title"), {"value": "x" * 1001}, 9047),
    ("subtitle over 1000 characters", "work", ("title", "subtitle"), {"value": "x" * 1001}, 9047),
    ("short description over 5000 characters", "work", ("short-description",), "x" * 5001, 9047),
    ("credit name over 150 characters", "work", ("contributors", "contributor", 0, "credit-name"), "x" * 151, 9047),
    ("contributor email that is none", "work", ("contributors", "contributor", 0, "contributor-email"), "me", 9047),
    ("url-name over 350 characters", "researcher-url", ("url-name",), "x" * 351, 9047),
    ("role title over 4000 characters", "employment", ("role-title",), "x" * 4001, 9047),
    ("year before 1900", "work", ("publication-date", "year"), {"value": "1899"}, 9047),
    ("month 13", "work", ("publication-date", "month"), {"value": "13"}, 9047),
    ("day without a month", "work", ("publication-date", "month"), DROP, 9047),
    ("contributor iD that is no iD", "work", (*ORCID_ID, "path"), "0000-0002-5391-543", 9047),
    # contributor iDs live on ORCID
    (
        "contributor iD URI on a foreign host",
        "work",
        (*ORCID_ID, "uri"),
        "https://example.com/0000-0002-5391-5437",
        9047,
    ),
    (
        "contributor iD URI on an orcid.org look-alike",
        "work",
        (*ORCID_ID, "uri"),
        "https://notorcid.org/0000-0002-5391-5437",
        9020,
    ),
    ("contributor iD host that is not ORCID's", "work", (*ORCID_ID, "host"), "example.com", 9020),
    # rules ORCID checks in code that the XSD cannot say
    ("no external ids", "work", ("external-ids",), DROP, 9023),
    ("no self id", "work", (*FIRST_ID, "external-id-relationship"), "part-of", 9023),
    ("blank citation", "work", ("citation", "citation-value"), "  ", 9020),
    ("month not zero-padded", "work", ("publication-date", "month"), {"value": "5"}, 9049),
    ("date not on the calendar", "work", ("publication-date", "day"), {"value": "31"}, 9049),
    ("put-code on create", "work", ("put-code",), 12, 9024),
    ("empty researcher url", "researcher-url", ("url",), {"value": ""}, 9006),
    ("no organization", "employment", ORGANIZATION, DROP, 9046),
    ("organization without a city", "employment", (*ORGANIZATION, "address", "city"), DROP, 9060),
    ("end date before start date", "employment", ("end-date",), {"year": {"value": "2020"}}, 9055),
    ("end date without start date", "employment", ("start-date",), DROP, 9050),
]


def base_item(kind: str, full_work: dict[str, Any]) -> Any:
    if kind == "work":
        return mutated(full_work, ("publication-date", "month"), {"value": "04"})  # so that day 31 is the mistake
    if kind == "employment":
        return employment_payload(end_date={"year": {"value": "2023"}, "month": {"value": "06"}})
    return {"url-name": "Profile", "url": {"value": "https://repository.example/people/1"}}


@pytest.mark.parametrize("kind", ["work", "researcher-url", "employment"])
def test_the_unmutated_items_are_accepted(client: FlaskClient, full_work: dict[str, Any], kind: str) -> None:
    assert post(client, kind, base_item(kind, full_work)) == ACCEPTED


@pytest.mark.parametrize(
    ("kind", "path", "value", "error_code"),
    [mutation[1:] for mutation in MUTATIONS],
    ids=[mutation[0] for mutation in MUTATIONS],
)
def test_a_mutated_item_gets_orcids_error(
    client: FlaskClient,
    full_work: dict[str, Any],
    kind: str,
    path: tuple[str | int, ...],
    value: Any,
    error_code: int,
) -> None:
    item = mutated(base_item(kind, full_work), path, value)

    assert post(client, kind, item) == error_code
    if kind == "work":
        # each work of a bulk is checked the same way, and a seeded work too
        assert post_bulk(client, [{"work": base_item(kind, full_work)}, {"work": item}]) == [ACCEPTED, error_code]
        seeded = client.post(f"/_sandbox/records/{connect(client).orcid}/works", json={"work": item})
        assert answer(seeded) == error_code


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (("subject",), 'invalid JSON - Unrecognized field "subject" at /work, not marked as ignorable'),
        (("title", "translated-title", "language-code"), "missing required attribute 'language-code'"),
        (("title", "title"), "value length cannot be greater than 1000 for type 'string-1000' (at /work:work/"),
        (("type",), "Unexpected child with tag 'common:publication-date' at position 5. Tag 'work:type' expected."),
    ],
)
def test_the_developer_message_quotes_the_schema_error(
    client: FlaskClient, full_work: dict[str, Any], problem: tuple[str, ...], message: str
) -> None:
    value = {"value": "x" * 1001} if problem == ("title", "title") else DROP if len(problem) > 1 else "x"
    item = mutated(full_work, problem, DROP if problem == ("type",) else value)
    researcher = connect(client)

    response = client.post(f"/v3.0/{researcher.orcid}/work", headers=researcher.headers, data=json.dumps(item))

    assert response.json["error-code"] == 9047
    assert response.json["developer-message"].startswith("400 Bad request: invalid JSON - ")
    assert message in response.json["developer-message"]
    assert response.json["user-message"] == "Invalid JSON."


# --- generated mutations ----------------------------------------------------------------------------------------

# Each vocabulary ORCID enforces in code: where it sits in a work, how to wrap a value there, and ORCID's error.
VOCABULARY_FIELDS: dict[str, tuple[tuple[str | int, ...], Callable[[str], Any], int]] = {
    "languages": (("language-code",), str, 9037),
    "countries": (("country",), lambda code: {"value": code}, 9037),
    "work_types": (("type",), str, 9037),
    "citation_types": (("citation", "citation-type"), str, 9037),
    "external_id_types": ((*FIRST_ID, "external-id-type"), str, 9023),
    "relationships": ((*FIRST_ID, "external-id-relationship"), str, 9023),
    "legacy_contributor_roles": ((*ATTRIBUTES, "contributor-role"), str, 9058),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_values_outside_each_vocabulary_are_refused_and_inside_accepted(
    client: FlaskClient, state: SandboxState, full_work: dict[str, Any], data: st.DataObject
) -> None:
    vocabularies = state.rules.vocabularies
    name = data.draw(st.sampled_from(sorted(VOCABULARY_FIELDS)))
    path, wrap, error_code = VOCABULARY_FIELDS[name]
    allowed: frozenset[str] = getattr(vocabularies, name)
    base = base_item("work", full_work)
    if name == "relationships":  # keep a self id elsewhere, so that any relationship here is allowed
        base = mutated(base, ("external-ids", "external-id", 0, "external-id-relationship"), "self")
    good = data.draw(st.sampled_from(sorted(allowed)), label="allowed")
    bad = data.draw(st.text(min_size=1, max_size=12).filter(lambda text: text.strip() and text not in allowed))
    if name == "external_id_types":  # ORCID also reads grant_number as grant-number
        bad = bad if bad.replace("_", "-") not in allowed else bad + "!"

    assert post(client, "work", mutated(base, path, wrap(good))) == ACCEPTED
    assert post(client, "work", mutated(base, path, wrap(bad))) == error_code


def object_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every JSON object inside `value`."""
    if isinstance(value, dict):
        yield path
        for key, item in value.items():
            yield from object_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from object_paths(item, (*path, index))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_unknown_field_anywhere_is_refused(
    client: FlaskClient, state: SandboxState, full_work: dict[str, Any], data: st.DataObject
) -> None:
    item = base_item("work", full_work)
    where = data.draw(st.sampled_from(list(object_paths(item))))
    node = state.rules.model.items["work"].node
    target = item
    for step in where:
        target = target[step]
        node = node if isinstance(step, int) else node.children[step]
    known = {*node.children, *node.attributes, "value"}
    key = data.draw(st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True).filter(lambda name: name not in known))

    target[key] = data.draw(st.one_of(st.text(max_size=5), st.integers(), st.just({"value": "x"})))

    assert post(client, "work", item) == 9047


TEXT_FIELDS: list[tuple[str | int, ...]] = [
    ("title", "title"),
    ("title", "subtitle"),
    ("title", "translated-title"),
    ("journal-title",),
    ("short-description",),
    ("citation", "citation-value"),
    ("publication-date", "year"),
    ("publication-date", "month"),
    ("publication-date", "day"),
    (*FIRST_ID, "external-id-value"),
    (*FIRST_ID, "external-id-url"),
    ("url",),
    (*ORCID_ID, "uri"),
    (*ORCID_ID, "path"),
    ("contributors", "contributor", 0, "credit-name"),
    ("contributors", "contributor", 0, "contributor-email"),
    (*ATTRIBUTES, "contributor-sequence"),
]


def set_text(item: dict[str, Any], path: tuple[str | int, ...], text: str) -> dict[str, Any]:
    target: Any = item
    for step in path[:-1]:
        target = target[step]
    current = target[path[-1]]
    target[path[-1]] = {**current, "value": text} if isinstance(current, dict) else text
    return item


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(TEXT_FIELDS),
    text=st.one_of(
        st.text(max_size=8),
        st.from_regex(r"\s*[+-]?\d{1,5}\s*", fullmatch=True),
        st.sampled_from(["", " ", "\n", "x" * 1000, "x" * 1001, "first", "https://orcid.org/0000-0002-5391-5437"]),
        st.builds(lambda n: "y" * n, st.integers(min_value=140, max_value=5001)),
    ),
)
def test_validating_by_shape_agrees_with_xmlschema_on_the_whole_tree(
    state: SandboxState, full_work: dict[str, Any], field: tuple[str | int, ...], text: str
) -> None:
    # Given a work whose shape the sandbox has already validated whole
    schema = state.rules.model.items["work"]
    item = base_item("work", full_work)
    schema.validate(item)
    candidate = set_text(copy.deepcopy(item), field, text)

    # When one value changes, the verdict from the shape's value types is the verdict of xmlschema on the whole tree
    whole_tree_valid = schema.declaration.is_valid(schema.to_xml(candidate))
    try:
        schema.validate(candidate)
        by_shape_valid = True
    except OrcidApiError as error:
        assert error.error_code == 9047
        by_shape_valid = False

    assert by_shape_valid == whole_tree_valid


def test_valid_shapes_are_remembered_so_later_items_cost_only_their_values(state: SandboxState) -> None:
    schema = state.rules.model.items["work"]
    first, second = work_payload("10.1/first", title="First"), work_payload("10.1/second", title="Second")
    schema.validate(first)
    before = dict(schema.counts)

    schema.validate(second)

    assert schema.counts["by_shape"] == before["by_shape"] + 1
    assert schema.counts["whole"] == before["whole"]

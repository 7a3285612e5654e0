"""Our payloads, rendered as ORCID XML, are valid against ORCID's 3.0 XSDs (which ORCID applies to our JSON too)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orcid_sync.domain.orcid.models import (
    BulkWorkRequest,
    Employment,
    ResearcherUrl,
    StringValue,
    Work,
    WorkTitle,
)
from tests.support.orcid_xml import NAMESPACES, to_orcid_xml

SCHEMA_FILES = {
    "work": "work-3.0.xsd",
    "bulk": "bulk-3.0.xsd",
    "researcher-url": "researcher-url-3.0.xsd",
    "employment": "employment-3.0.xsd",
}


@pytest.fixture(scope="module")
def schemas(shared_dir: Path) -> dict[str, xmlschema.XMLSchema]:
    """Each XSD built once for the module (building them is the slow part)."""
    record_dir = shared_dir / "orcid-model" / "record_3.0"
    return {name: xmlschema.XMLSchema(str(record_dir / file)) for name, file in SCHEMA_FILES.items()}


def assert_valid(schema: xmlschema.XMLSchema, document: str) -> None:
    errors = list(schema.iter_errors(document))
    assert not errors, "\n".join(str(error.reason) for error in errors)


def external_id(kind: str, value: str, relationship: str = "self", url: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external-id-type": kind,
        "external-id-value": value,
        "external-id-relationship": relationship,
    }
    if url is not None:
        data["external-id-url"] = {"value": url}
    return data


def simple_work(number: int = 1) -> Work:
    return Work.model_validate(
        {
            "title": {"title": {"value": f"Article {number}"}},
            "type": "journal-article",
            "external-ids": {
                "external-id": [external_id("doi", f"10.5555/{number}", url=f"https://doi.org/10.5555/{number}")]
            },
        }
    )


def full_work() -> Work:
    return Work.model_validate(
        {
            "title": {
                "title": {"value": 'Frogs & <toads>: a "review"'},
                "subtitle": {"value": "Second edition"},
                "translated-title": {"value": "Grenouilles et crapauds", "language-code": "fr"},
            },
            "journal-title": {"value": "Journal of Amphibians"},
            "short-description": "An abstract with unicode: Žluťoučký kůň, 蛙.",
            "citation": {"citation-type": "bibtex", "citation-value": "@article{frogs2022, title={Frogs}}"},
            "type": "journal-article",
            "publication-date": {"year": {"value": "2022"}, "month": {"value": "5"}, "day": {"value": "24"}},
            "external-ids": {
                "external-id": [
                    external_id("doi", "10.1234/frogs.2022", url="https://doi.org/10.1234/frogs.2022"),
                    external_id("handle", "1234/5678", url="https://hdl.handle.net/1234/5678"),
                    external_id("source-work-id", "9912345678901234"),
                    external_id("issn", "0028-0836", relationship="part-of"),
                    external_id("doi", "10.1101/2021.01.01.123", relationship="version-of"),
                ]
            },
            "url": {"value": "https://repository.example.edu/esploro/outputs/9912345678901234"},
            "contributors": {
                "contributor": [
                    {
                        "contributor-orcid": {
                            "uri": "https://orcid.org/0000-0002-1825-0097",
                            "path": "0000-0002-1825-0097",
                            "host": "orcid.org",
                        },
                        "credit-name": {"value": "Josiah Carberry"},
                        "contributor-attributes": {"contributor-sequence": "first", "contributor-role": "author"},
                    },
                    {
                        "credit-name": {"value": "Ann Other"},
                        "contributor-email": "ann@example.edu",
                        "contributor-attributes": {
                            "contributor-sequence": "additional",
                            "contributor-role": "http://credit.niso.org/contributor-roles/software/",
                        },
                    },
                    {"contributor-orcid": {"path": "0000-0002-9079-593X"}},
                ]
            },
            "language-code": "en",
            "country": {"value": "US"},
        }
    )


def researcher_url(name: str | None = "Institutional repository profile") -> ResearcherUrl:
    data: dict[str, Any] = {"url": {"value": "https://repository.example.edu/people/123"}}
    if name is not None:
        data["url-name"] = name
    return ResearcherUrl.model_validate(data)


def full_employment() -> Employment:
    return Employment.model_validate(
        {
            "department-name": "School of Biology",
            "role-title": "Professor",
            "start-date": {"year": {"value": "2015"}, "month": {"value": "09"}},
            "end-date": {"year": {"value": "2024"}, "month": {"value": "08"}, "day": {"value": "31"}},
            "organization": {
                "name": "Boston University",
                "address": {"city": "Boston", "region": "Massachusetts", "country": "US"},
                "disambiguated-organization": {
                    "disambiguated-organization-identifier": "https://ror.org/05qwgg493",
                    "disambiguation-source": "ROR",
                },
            },
            "url": {"value": "https://www.bu.edu/biology/"},
            "external-ids": {"external-id": [external_id("source-work-id", "staff-role-42")]},
        }
    )


def minimal_employment() -> Employment:
    return Employment.model_validate(
        {
            "organization": {
                "name": "Boston University",
                "address": {"city": "Boston", "country": "US"},
                "disambiguated-organization": {
                    "disambiguated-organization-identifier": "385612",
                    "disambiguation-source": "RINGGOLD",
                },
            }
        }
    )


PAYLOADS: dict[str, tuple[str, Any]] = {
    "simple work": ("work", simple_work),
    "full work": ("work", full_work),
    "bulk of 3": ("bulk", lambda: BulkWorkRequest.of([simple_work(1), full_work(), simple_work(3)])),
    "researcher-url": ("researcher-url", researcher_url),
    "researcher-url without name": ("researcher-url", lambda: researcher_url(None)),
    "full employment": ("employment", full_employment),
    "minimal employment": ("employment", minimal_employment),
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_payload_is_valid_orcid_xml(schemas: dict[str, xmlschema.XMLSchema], name: str) -> None:
    schema_name, build = PAYLOADS[name]

    assert_valid(schemas[schema_name], to_orcid_xml(build()))


@pytest.mark.parametrize("name", [name for name, (schema, _) in PAYLOADS.items() if schema != "bulk"])
def test_put_body_with_put_code_is_valid(schemas: dict[str, xmlschema.XMLSchema], name: str) -> None:
    schema_name, build = PAYLOADS[name]
    payload = build().model_copy(update={"put_code": 123456})

    document = to_orcid_xml(payload, include_put_code=True)

    assert_valid(schemas[schema_name], document)
    assert ET.fromstring(document).get("put-code") == "123456"


def test_post_body_has_no_put_code_and_bulk_refuses_one() -> None:
    work = simple_work().model_copy(update={"put_code": 7})

    assert ET.fromstring(to_orcid_xml(work)).get("put-code") is None
    with pytest.raises(ValueError, match="put-code"):
        to_orcid_xml(BulkWorkRequest.of([work]), include_put_code=True)
    with pytest.raises(ValueError, match=r"ORCID error 9019"):
        to_orcid_xml(simple_work(), include_put_code=True)


def test_full_work_keeps_every_part(schemas: dict[str, xmlschema.XMLSchema]) -> None:
    document = to_orcid_xml(full_work())
    root = ET.fromstring(document)

    assert root.findtext("work:title/common:title", namespaces=NAMESPACES) == 'Frogs & <toads>: a "review"'
    assert root.findtext("common:publication-date/common:month", namespaces=NAMESPACES) == "05"
    assert len(root.findall("common:external-ids/common:external-id", NAMESPACES)) == 5
    assert len(root.findall("work:contributors/work:contributor", NAMESPACES)) == 3
    assert root.findtext("common:country", namespaces=NAMESPACES) == "US"


def test_bulk_holds_the_works_in_order(schemas: dict[str, xmlschema.XMLSchema]) -> None:
    document = to_orcid_xml(BulkWorkRequest.of([simple_work(n) for n in (1, 2, 3)]))

    titles = [element.text for element in ET.fromstring(document).iter(f"{{{NAMESPACES['common']}}}title")]
    assert titles == ["Article 1", "Article 2", "Article 3"]


def test_the_schema_does_catch_a_wrong_element_order(schemas: dict[str, xmlschema.XMLSchema]) -> None:
    root = ET.fromstring(to_orcid_xml(simple_work()))
    work_type = root.find("work:type", NAMESPACES)
    assert work_type is not None
    root.remove(work_type)
    root.insert(0, work_type)

    assert not schemas["work"].is_valid(ET.tostring(root, encoding="unicode"))


# Each limit as the model enforces it and as the XSD does: at the limit both accept, past it both reject.
LIMITS: list[tuple[str, str, int, Any]] = [
    ("work", "title", 1000, lambda text: {"title": WorkTitle.model_construct(title=StringValue(value=text))}),
    ("work", "journal-title", 1000, lambda text: {"journal_title": StringValue(value=text)}),
    ("work", "short-description", 5000, lambda text: {"short_description": text}),
    ("researcher-url", "url-name", 350, lambda text: {"url_name": text}),
    ("employment", "role-title", 4000, lambda text: {"role_title": text}),
]
BUILDERS: dict[str, Callable[[], Work | ResearcherUrl | Employment]] = {
    "work": simple_work,
    "researcher-url": researcher_url,
    "employment": full_employment,
}


@pytest.mark.parametrize(("schema_name", "field", "limit", "update"), LIMITS, ids=[limit[1] for limit in LIMITS])
def test_model_length_limits_match_the_xsd(
    schemas: dict[str, xmlschema.XMLSchema], schema_name: str, field: str, limit: int, update: Any
) -> None:
    payload = BUILDERS[schema_name]()
    model_class = type(payload)
    at_limit = payload.model_copy(update=update("x" * limit))
    past_limit = payload.model_copy(update=update("x" * (limit + 1)))  # model_copy does not validate

    assert_valid(schemas[schema_name], to_orcid_xml(at_limit))
    model_class.model_validate(at_limit.to_orcid_json())
    assert not schemas[schema_name].is_valid(to_orcid_xml(past_limit))
    with pytest.raises(ValidationError, match=f"at most {limit}"):
        model_class.model_validate(past_limit.to_orcid_json())


# Characters XML 1.0 can carry (no control characters or lone surrogates).
xml_characters = st.characters(blacklist_categories=("Cs", "Cc"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=st.text(xml_characters, min_size=1, max_size=200), subtitle=st.none() | st.text(xml_characters, max_size=50)
)
def test_any_title_the_model_accepts_is_valid_xml(
    schemas: dict[str, xmlschema.XMLSchema], title: str, subtitle: str | None
) -> None:
    assume(title.strip())
    work_title = WorkTitle.model_validate(
        {"title": {"value": title}, "subtitle": None if subtitle is None else {"value": subtitle}}
    )

    work = simple_work().model_copy(update={"title": work_title})

    assert_valid(schemas["work"], to_orcid_xml(work))


SAMPLE_SCHEMAS = {
    "work-simple-3.0.xml": "work",
    "work-full-3.0.xml": "work",
    "bulk-work-3.0.xml": "bulk",
    "researcher-url-3.0.xml": "researcher-url",
    "researcher-url-3.0-no-name.xml": "researcher-url",
    "employment-3.0.xml": "employment",
}


def test_every_xml_write_sample_is_listed(shared_dir: Path) -> None:
    write_samples = shared_dir / "orcid-model" / "record_3.0" / "samples" / "write_samples"

    assert {path.name for path in write_samples.glob("*.xml")} == set(SAMPLE_SCHEMAS)


@pytest.mark.parametrize("name", SAMPLE_SCHEMAS)
def test_orcid_xml_write_samples_are_valid_against_our_schema_objects(
    schemas: dict[str, xmlschema.XMLSchema], shared_dir: Path, name: str
) -> None:
    sample = shared_dir / "orcid-model" / "record_3.0" / "samples" / "write_samples" / name

    assert_valid(schemas[SAMPLE_SCHEMAS[name]], sample.read_text(encoding="utf-8"))

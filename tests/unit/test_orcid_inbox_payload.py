"""The ORCID inbox permission request we build, rendered as ORCID XML, is valid against ORCID's
notification-permission-3.0.xsd (read as XSD 1.1, its 2.1 imports resolved to the 3.0 copies), whatever the
institution's settings; and its texts follow ORCID's guide (short subject, intro within 1,000 characters)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.invitations.orcid_inbox import permission_request
from orcid_sync.domain.models import Researcher
from orcid_sync.domain.orcid.notifications import NotificationItem, NotificationPermission

NOTIFICATION = "http://www.orcid.org/ns/notification"
LINK = "https://orcid-sync.example.edu/connect?link=eyJhIjoxfQ.c2ln"


@pytest.fixture(scope="module")
def schema(shared_dir: Path) -> xmlschema.XMLSchema11:
    model = shared_dir / "orcid-model"

    def to_3_0(uri: str) -> str:
        if uri.endswith("common_2.1/common-2.1.xsd"):
            return str(model / "common_3.0" / "common-3.0.xsd")
        if uri.endswith("record_2.1/activities-2.1.xsd"):
            return str(model / "record_3.0" / "activities-3.0.xsd")
        return uri

    return xmlschema.XMLSchema11(str(model / "notification_3.0" / "notification-permission-3.0.xsd"), uri_mapper=to_3_0)


def to_xml(body: dict[str, Any]) -> str:
    """ORCID's XML for our JSON body, element by element in the XSD's order."""
    root = ET.Element(f"{{{NOTIFICATION}}}notification")

    def add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{NOTIFICATION}}}{name}")
        element.text = text
        return element

    add(root, "notification-type", body["notification-type"])
    url = add(root, "authorization-url")
    add(url, "uri", body["authorization-url"]["uri"])
    add(root, "notification-subject", body["notification-subject"])
    add(root, "notification-intro", body["notification-intro"])
    items = add(root, "items")
    for entry in body["items"]["item"]:
        item = add(items, "item")
        add(item, "item-type", entry["item-type"])
        add(item, "item-name", entry["item-name"])
    assert set(body) == {
        "notification-type",
        "authorization-url",
        "notification-subject",
        "notification-intro",
        "items",
    }
    return ET.tostring(root, encoding="unicode")


def researcher() -> Researcher:
    return Researcher(id="r1", given_names="Ada", family_name="Lovelace", orcid="0000-0002-1825-0097")


def assert_valid(schema: xmlschema.XMLSchema11, document: str) -> None:
    errors = list(schema.iter_errors(document))
    assert not errors, "\n".join(str(error.reason) for error in errors)


@pytest.mark.parametrize("language", ["en", "es", "fr"])
def test_the_built_request_is_valid_against_the_xsd(schema: xmlschema.XMLSchema11, language: str) -> None:
    branding = IntegrationSettings(institution_name="Universidad de Ejemplo", support_contact="orcid@example.edu")
    request = permission_request(researcher(), authorization_url=LINK, settings=branding, language=language)
    assert_valid(schema, to_xml(request.to_orcid_json()))
    assert len(request.subject) < 40
    assert "Universidad de Ejemplo" in request.intro
    assert "orcid@example.edu" in request.intro


def test_the_schema_is_really_applied(schema: xmlschema.XMLSchema11) -> None:
    body = permission_request(researcher(), authorization_url=LINK, settings=IntegrationSettings()).to_orcid_json()
    body["items"]["item"][0]["item-type"] = "book"
    assert list(schema.iter_errors(to_xml(body)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=300))
def test_any_institution_name_gives_a_valid_request(schema: xmlschema.XMLSchema11, name: str) -> None:
    try:
        branding = IntegrationSettings(institution_name=name)
    except ValidationError:
        return
    request = permission_request(researcher(), authorization_url=LINK, settings=branding)
    assert len(request.intro) <= 1000
    assert_valid(schema, to_xml(request.to_orcid_json()))


@pytest.mark.parametrize(
    "url", ["https://example.edu/connect?link=a b", "ftp://example.edu/", "/connect?link=a", 'https://x/"']
)
def test_an_authorization_url_orcid_would_refuse_is_refused_before_sending(url: str) -> None:
    with pytest.raises(ValidationError):
        NotificationPermission(
            authorization_url=url, subject="s", intro="i", items=(NotificationItem(item_name="Outputs"),)
        )

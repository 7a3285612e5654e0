"""What orcid-sync itself sends passes the sandbox's ORCID rules: every work it builds (every asset type, full and
minimal, production and sandbox iDs, as POST, bulk and PUT), its researcher URL and its employment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.models import Asset, Researcher
from orcid_sync.domain.orcid.models import BulkWorkRequest, Work
from orcid_sync.domain.push import PushContext, employment_payload, researcher_url_payload
from orcid_sync.domain.push.works import BuiltWork, build_work
from orcid_sync.domain.type_mapping import default_mapping
from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, ORCID_HEADERS

CLIENT = RegisteredClient("APP-OURREPOSITORY001", "our-secret", ["https://repo.example"], "Our Repository")
ASSET_TYPES = sorted(default_mapping())
FIRST_AUTHOR = "0000-0002-1825-0097"


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    app: Flask = create_app(SandboxConfig(clients=[CLIENT], rate=0, public_base_url="http://127.0.0.1:8090"))
    app.testing = True
    return app.test_client()


def connect(client: FlaskClient) -> tuple[str, dict[str, str]]:
    grant = {"client_id": CLIENT.client_id, "scope": ALL_SCOPES}
    body = client.post("/_sandbox/researchers", json={"given_names": "Ada", "grant": grant}).json
    return body["orcid"], {**ORCID_HEADERS, "Authorization": f"Bearer {body['access_token']}"}


def isbn13(first12: str) -> str:
    """A valid ISBN-13, so that each book-like asset has its own."""
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def asset(asset_type: str, number: int, *, full: bool) -> Asset:
    fields: dict[str, Any] = {
        "id": f"asset-{number}",
        "researchers": ["r1"],
        "type": asset_type,
        "status": "approved",
        "visible": True,
        "title": f"Reproducible pipelines for repository metadata, part {number}",
    }
    if full:
        fields |= {
            "subtitle": "A case study",
            "date": "2021-03-04",
            "doi": f"10.1234/ABC.def-{number}",
            "pmid": f"3145{number:04d}",
            "pmcid": f"PMC678{number:04d}",
            "isbn": isbn13(f"978316148{number:03d}"),
            "issn": "0317-8471",
            "handle": f"https://hdl.handle.net/2027/spo.3336451.{number}",
            "url": f"https://repository.example.edu/outputs/{number}",
            "container_title": "Journal of Examples",
            "abstract": "An abstract with unicode: Žluťoučký kůň, 蛙. " * 40,
            "language": "zh-TW",
            "contributors": [
                {"name": "Josiah Carberry", "orcid": FIRST_AUTHOR, "role": "author", "sequence": 1},
                {"name": "Jane Roe", "role": "editor", "sequence": 2},
                {"name": "A. N. Other", "role": "http://credit.niso.org/contributor-roles/software/"},
                {"name": "X" * 150, "orcid": "0000-0002-9079-593X"},
            ],
        }
    return Asset.model_validate(fields)


def works(*, sandbox: bool) -> list[Work]:
    """The work orcid-sync builds for a full and a minimal asset of every asset type."""
    built = []
    for number, asset_type in enumerate(ASSET_TYPES):
        for full in (True, False):
            result = build_work(asset(asset_type, 2 * number + full, full=full), IntegrationSettings(), sandbox=sandbox)
            assert isinstance(result, BuiltWork), result
            built.append(result.work)
    return built


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox iDs", "production iDs"])
def test_every_work_orcid_sync_builds_is_accepted_alone_in_bulk_and_as_a_put(
    client: FlaskClient, sandbox: bool
) -> None:
    all_works = works(sandbox=sandbox)
    orcid, headers = connect(client)
    base = f"/v3.0/{orcid}"

    # One POST per work
    created = [
        client.post(f"{base}/work", headers=headers, data=json.dumps(work.to_orcid_json())) for work in all_works
    ]
    assert [response.status_code for response in created] == [201] * len(all_works), [
        response.json for response in created if response.status_code != 201
    ]

    # The same works as PUT bodies, with their put-codes
    for work, response in zip(all_works, created, strict=True):
        put_code = int(response.headers["Location"].rsplit("/", 1)[1])
        body = work.model_copy(update={"put_code": put_code}).to_orcid_json(include_put_code=True)
        updated = client.put(f"{base}/work/{put_code}", headers=headers, data=json.dumps(body))
        assert updated.status_code == 200, updated.json

    # And in bulks of up to 100, on another record (so that none is a duplicate)
    orcid, headers = connect(client)
    for start in range(0, len(all_works), 100):
        request = BulkWorkRequest.of(all_works[start : start + 100])
        response = client.post(f"/v3.0/{orcid}/works", headers=headers, data=json.dumps(request.to_orcid_json()))
        assert response.status_code == 200
        assert [next(iter(entry)) for entry in response.json["bulk"]] == ["work"] * len(request.bulk), response.json


ORGANIZATIONS = {
    "ROR": "05qwgg493",
    "RINGGOLD": "1846",
    "GRID": "grid.189504.1",
    "FUNDREF": "http://dx.doi.org/10.13039/100007161",
    "LEI": "549300Q2IOVGEXF8CN38",
}


@pytest.mark.parametrize("identifier_type", sorted(ORGANIZATIONS))
@pytest.mark.parametrize("with_details", [True, False], ids=["department and position", "bare"])
def test_the_researcher_url_and_employment_orcid_sync_sends_are_accepted(
    client: FlaskClient, identifier_type: str, with_details: bool
) -> None:
    organization = {
        "name": "Boston University",
        "city": "Boston",
        "region": "Massachusetts" if with_details else None,
        "country": "us",
        "identifier_type": identifier_type,
        "identifier": ORGANIZATIONS[identifier_type],
    }
    settings = IntegrationSettings.model_validate(
        {
            "institution_name": "Boston University",
            "send_affiliation": True,
            "organization": organization,
            "researcher_url": {"send": True, "name": "Research profile" if with_details else None},
        }
    )
    researcher = Researcher.model_validate(
        {
            "id": "r1",
            "given_names": "Ada",
            "family_name": "Lovelace",
            "department": "School of Computing" if with_details else None,
            "position": "Professor" if with_details else None,
        }
    )
    context = PushContext(CLIENT.client_id, sandbox=True, profile_url=lambda rid: f"https://repo.example/p/{rid}")
    orcid, headers = connect(client)

    url = client.post(
        f"/v3.0/{orcid}/researcher-urls",
        headers=headers,
        data=json.dumps(researcher_url_payload(researcher, settings, context).to_orcid_json()),
    )
    employment = client.post(
        f"/v3.0/{orcid}/employment",
        headers=headers,
        data=json.dumps(employment_payload(researcher, settings).to_orcid_json()),
    )

    assert url.status_code == 201, url.json
    assert employment.status_code == 201, employment.json

"""GET/PUT /settings and GET /settings/mapping through the admin API handler, against moto."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from click.testing import CliRunner

from orcid_sync.adapters.dynamodb.institution_settings import SETTINGS_ITEM_ID, DynamoIntegrationSettingsStore
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.settings_changes import CachedIntegrationSettings
from orcid_sync_cli.main import cli
from tests.conftest import FakeLambdaContext
from tests.support.aws import AwsEnv

CALLER = "arn:aws:iam::123456789012:user/admin"

VALID = {
    "institution_name": "Example University",
    "send_assets": True,
    "asset_types": {"include": ["publication", "dataset.dataset"], "exclude": ["publication.letter"]},
    "update_researchers": "selected",
    "send_affiliation": True,
    "organization": {
        "name": "Example University",
        "city": "Boston",
        "region": "Massachusetts",
        "country": "us",
        "identifier_type": "ROR",
        "identifier": "05qwgg493",
    },
    "researcher_url": {"send": True},
    "type_overrides": {"publication.letter": "journal-article", "etdexternal.doctoral_external": "dissertation"},
}


def http_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as API Gateway sends it for an IAM-signed request."""
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "authorizer": {"iam": {"userArn": CALLER, "callerId": "AIDAEXAMPLE", "accountId": "123456789012"}},
            "domainName": "api.example.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "21/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795312800000,
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    from functions.admin_api.app import lambda_handler

    response = lambda_handler(http_event(method, path, body), FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


@pytest.fixture
def store(aws: AwsEnv) -> DynamoIntegrationSettingsStore:
    return DynamoIntegrationSettingsStore(aws.table("STATE_TABLE"))


def test_defaults_send_nothing_until_saved(store: DynamoIntegrationSettingsStore) -> None:
    # When nobody saved settings yet
    status, body = call("GET", "/settings")
    # Then the API shows the defaults at version 0: no assets, no affiliation, no researcher-url
    assert status == 200
    assert body["version"] == 0
    assert body["send_assets"] is False
    assert body["send_affiliation"] is False
    assert body["researcher_url"]["send"] is False
    assert body["update_researchers"] == "all"


def test_put_stores_normalised_settings_with_a_new_version(store: DynamoIntegrationSettingsStore) -> None:
    # When an administrator saves valid settings
    status, body = call("PUT", "/settings", VALID)
    # Then they are stored normalised (full ROR URL, upper-case country, API 3.0 work types) as version 1
    assert status == 200, body
    assert body["version"] == 1
    assert body["organization"]["identifier"] == "https://ror.org/05qwgg493"
    assert body["organization"]["country"] == "US"
    assert body["type_overrides"]["etdexternal.doctoral_external"] == "dissertation-thesis"
    stored = store.get()
    assert stored.version == 1
    assert stored.updated_by == CALLER
    assert stored.settings.selects("publication.journalArticle")
    assert not stored.settings.selects("publication.letter")
    # And reading them back gives the same document
    assert call("GET", "/settings")[1] == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"send_assets": "sometimes"}, "body.send_assets"),
        ({"update_researchers": "some"}, "body.update_researchers"),
        ({"asset_types": {"include": ["publication.novel"]}}, "body.asset_types.include"),
        ({"organization": None}, "body.organization"),
        ({"organization": {**VALID["organization"], "identifier": "https://ror.org/not-a-ror"}}, "body.organization"),
        ({"organization": {**VALID["organization"], "country": "USA"}}, "body.organization.country"),
        ({"organization": {**VALID["organization"], "identifier_type": "ISNI"}}, "body.organization.identifier_type"),
        ({"type_overrides": {"publication.letter": "letter"}}, "body.type_overrides"),
        ({"type_overrides": {"publication.novel": "book"}}, "body.type_overrides"),
        ({"researcher_url": {"send": True, "name": "x" * 351}}, "body.researcher_url.name"),
        ({"sned_assets": True}, "body.sned_assets"),
    ],
)
def test_invalid_settings_are_rejected_naming_the_field(
    store: DynamoIntegrationSettingsStore, change: dict[str, Any], field: str
) -> None:
    # Given saved settings
    call("PUT", "/settings", VALID)
    # When a change makes them invalid
    status, body = call("PUT", "/settings", {**VALID, **change})
    # Then the API answers 400 naming the field, and nothing changed
    assert status == 400, body
    fields = [problem["field"] for problem in body["problems"]]
    assert any(f.startswith(field) for f in fields), fields
    assert store.get().version == 1


def test_a_stale_version_is_a_conflict(store: DynamoIntegrationSettingsStore) -> None:
    # Given two administrators who both read version 1
    call("PUT", "/settings", VALID)
    first = {**VALID, "institution_name": "First", "version": 1}
    second = {**VALID, "institution_name": "Second", "version": 1}
    # When both save
    assert call("PUT", "/settings", first)[0] == 200
    status, body = call("PUT", "/settings", second)
    # Then the second gets 409 and the first one's change stands
    assert status == 409
    assert "version 2" in body["message"]
    assert store.get().settings.institution_name == "First"


def test_the_effective_mapping_shows_overrides_and_selection(store: DynamoIntegrationSettingsStore) -> None:
    call("PUT", "/settings", VALID)
    status, rows = call("GET", "/settings/mapping")
    assert status == 200
    by_type = {row["asset_type"]: row for row in rows}
    assert by_type["publication.letter"] == {
        "asset_type": "publication.letter",
        "work_type": "journal-article",
        "overridden": True,
        "selected": False,
    }
    assert by_type["publication.book"]["selected"] is True
    assert by_type["dataset.dataset"] == {
        "asset_type": "dataset.dataset",
        "work_type": "data-set",
        "overridden": False,
        "selected": True,
    }
    assert by_type["software.code"]["selected"] is False


def test_invalid_stored_settings_fall_back_to_sending_nothing(
    aws: AwsEnv, store: DynamoIntegrationSettingsStore
) -> None:
    # Given an item a newer release wrote with a field this one does not know
    aws.table("STATE_TABLE").put_item(
        Item={"id": SETTINGS_ITEM_ID, "doc": json.dumps({"send_assets": True, "future": 1}), "version": 7}
    )
    # Then the functions run with the defaults (nothing is sent) and keep the version for the next save
    stored = store.get()
    assert stored.version == 7
    assert stored.settings == IntegrationSettings()


def test_functions_cache_the_settings_for_a_minute(store: DynamoIntegrationSettingsStore) -> None:
    now = [0.0]
    cached = CachedIntegrationSettings(store, ttl=60, clock=lambda: now[0])
    assert cached.get().send_assets is False
    call("PUT", "/settings", VALID)
    # Within the minute the cached copy is used; after it, the new settings are read
    now[0] = 59.0
    assert cached.get().send_assets is False
    now[0] = 60.0
    assert cached.get().send_assets is True


def test_a_job_started_after_the_cached_read_gets_the_settings_saved_before_it(
    store: DynamoIntegrationSettingsStore,
) -> None:
    from orcid_sync.domain.models import utc_now

    # Given a worker that read (and cached) the settings
    cached = CachedIntegrationSettings(store, ttl=60, clock=lambda: 0.0)
    assert cached.get().send_assets is False
    read_before = utc_now()
    # When an administrator saves new settings, then starts a job, within the cache's minute
    call("PUT", "/settings", VALID)
    job_started = utc_now()
    # Then a task of a job older than the cached read keeps the cache, and one of the new job re-reads once
    cached.refresh_if_read_before(read_before.replace(year=read_before.year - 1))
    assert cached.get().send_assets is False
    cached.refresh_if_read_before(job_started)
    assert cached.get().send_assets is True


# --- previewing a change (issue 13, section 3) ----------------------------------------------------------

SENDING = {"send_assets": True}
LETTERS_EXCLUDED = {"send_assets": True, "asset_types": {"include": ["all"], "exclude": ["publication.letter"]}}


def seed_pushed_researcher(researcher_id: str, letters: int, articles: int) -> None:
    """A connected researcher whose letters and articles the last push put on ORCID (ledger entries)."""
    from datetime import timedelta

    from orcid_sync import composition
    from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore
    from orcid_sync.domain.models import Asset, ResearcherInput, SealedSecret, StoredToken, TokenSource, utc_now
    from orcid_sync.domain.push.ledger import WorkEntry

    orcid = {"r1": "0000-0002-1825-0097", "r2": "0000-0001-5109-3700"}[researcher_id]
    researchers = composition.researcher_store()
    researchers.upsert_profile(
        ResearcherInput.model_validate({"id": researcher_id, "given_names": "Josiah", "family_name": "Carberry"})
    )
    scopes = ["/read-limited", "/activities/update", "/person/update"]
    researchers.record_connection(researcher_id, orcid=orcid, scopes=scopes, connected_at=utc_now())
    composition.token_store().put(
        StoredToken(
            researcher_id=researcher_id,
            orcid=orcid,
            access_token=SealedSecret(data_key=b"k", nonce=b"n", ciphertext=b"c"),
            scopes=scopes,
            expires_at=utc_now() + timedelta(days=7300),
            source=TokenSource.OAUTH,
            stored_at=utc_now(),
            fingerprint=f"f-{researcher_id}",
        )
    )
    ledger = DynamoLedgerStore(composition.dynamodb().Table(composition.get_settings().ledger_table))
    for number in range(letters + articles):
        item = Asset.model_validate(
            {
                "id": f"{researcher_id}-a{number}",
                "researchers": [researcher_id],
                "type": "publication.letter" if number < letters else "publication.journalArticle",
                "status": "approved",
                "visible": True,
                "title": f"Output {number}",
            }
        )
        composition.asset_store().put(item)
        ledger.put_work(
            researcher_id,
            WorkEntry(asset_id=item.id, put_code=1000 + number, content_hash="h", last_pushed_at=utc_now()),
        )


def test_a_preview_says_what_excluding_a_type_would_delete_and_saves_nothing(
    store: DynamoIntegrationSettingsStore,
) -> None:
    # Given letters on two researchers' ORCID records, pushed under settings that send everything
    assert call("PUT", "/settings", SENDING)[0] == 200
    seed_pushed_researcher("r1", letters=3, articles=2)
    seed_pushed_researcher("r2", letters=1, articles=1)
    # When an administrator previews excluding letters
    status, preview = call("POST", "/settings/preview", {**LETTERS_EXCLUDED, "version": 1})
    # Then the answer counts the works and records the next push would delete, and why
    assert status == 200, preview
    assert preview["delete"] == {
        "works": 4,
        "records": 2,
        "reasons": [{"reason": "asset type publication.letter excluded by settings", "works": 4, "records": 2}],
    }
    assert preview["create"] == {"works": 0, "records": 0}
    assert preview["version"] == 1
    assert preview["records_examined"] == 2
    assert preview["complete"] is True
    assert "delete 4 works on 2 ORCID records" in preview["summary"]
    # And nothing was saved
    assert store.get().version == 1
    assert store.get().settings.selects("publication.letter")


def test_a_preview_of_invalid_settings_is_refused_naming_the_field(store: DynamoIntegrationSettingsStore) -> None:
    status, body = call("POST", "/settings/preview", {"asset_types": {"include": ["publication.novel"]}})
    assert status == 400
    assert "body.asset_types.include" in json.dumps(body)


# --- the CLI, over the same handler ----------------------------------------------------------------

API_URL = "https://api.orcid-sync.test"


@pytest.fixture
def cli_api(store: DynamoIntegrationSettingsStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Route the CLI's signed HTTP requests to the admin API handler in-process."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def handle(request: Any) -> tuple[int, dict[str, str], str]:
        path = urlsplit(request.url).path
        body = json.loads(request.body) if request.body else None
        status, answer = call(request.method, path, body)
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(f"{API_URL}/.*"), callback=handle)
        mock.add_callback(responses.PUT, re.compile(f"{API_URL}/.*"), callback=handle)
        mock.add_callback(responses.POST, re.compile(f"{API_URL}/.*"), callback=handle)
        yield


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_sets_one_key_at_a_time(cli_api: None, store: DynamoIntegrationSettingsStore) -> None:
    # When an administrator sets keys one by one, nested ones by dotted path, lists comma-separated
    assert run_cli("settings", "set", "send_assets", "true", "--api", API_URL).exit_code == 0
    assert run_cli("settings", "set", "asset_types.include", "publication,dataset", "--api", API_URL).exit_code == 0
    assert run_cli("settings", "set", "researcher_url.name", "Profile at Example U", "--api", API_URL).exit_code == 0
    # Then each change is stored on top of the last
    stored = store.get()
    assert stored.version == 3
    assert stored.settings.send_assets is True
    assert stored.settings.asset_types.include == ["publication", "dataset"]
    assert stored.settings.researcher_url_name == "Profile at Example U"


def test_cli_reports_the_invalid_field(cli_api: None, store: DynamoIntegrationSettingsStore) -> None:
    # When a setting needs another one that is missing
    result = CliRunner().invoke(cli, ["settings", "set", "send_affiliation", "true", "--api", API_URL])
    # Then the CLI fails with the API's 400, naming the field, and nothing is saved
    assert result.exit_code != 0
    assert "HTTP 400" in result.output
    assert "body.organization" in result.output
    assert store.get().version == 0


def test_cli_replaces_everything_from_a_file_and_shows_it(
    cli_api: None, store: DynamoIntegrationSettingsStore, tmp_path: Path
) -> None:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps(VALID))
    assert run_cli("settings", "set", "--file", str(settings_file), "--api", API_URL).exit_code == 0
    shown = json.loads(run_cli("settings", "show", "--api", API_URL).output)
    assert shown["version"] == 1
    assert shown["organization"]["identifier"] == "https://ror.org/05qwgg493"


def test_cli_mapping_shows_the_stacks_effective_mapping(cli_api: None, store: DynamoIntegrationSettingsStore) -> None:
    call("PUT", "/settings", VALID)
    lines = run_cli("mapping", "--api", API_URL).output.splitlines()
    assert lines[0] == "esploro_asset_type,orcid_work_type,overridden,sent"
    assert "publication.letter,journal-article,true,false" in lines
    assert "publication.book,book,false,true" in lines
    # Without a stack it prints the built-in table
    assert "publication.letter,other" in run_cli("mapping").output.splitlines()


@pytest.mark.parametrize("name", ["admin_settings_put", "admin_settings_get", "admin_settings_mapping"])
def test_the_sample_events_work(store: DynamoIntegrationSettingsStore, name: str) -> None:
    from functions.admin_api.app import lambda_handler

    event = json.loads((Path(__file__).resolve().parents[2] / "events" / f"{name}.json").read_text())
    response = lambda_handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response.get("body")


# --- the CLI shows what a change would delete before saving it (issue 13, section 3) ----------------------


def test_cli_set_shows_what_would_be_deleted_and_refuses_without_a_terminal(
    cli_api: None, store: DynamoIntegrationSettingsStore
) -> None:
    assert call("PUT", "/settings", SENDING)[0] == 200
    seed_pushed_researcher("r1", letters=2, articles=1)
    # When a script excludes letters without --yes
    result = CliRunner().invoke(cli, ["settings", "set", "asset_types.exclude", "publication.letter", "--api", API_URL])
    # Then the CLI says what the next push would delete, and refuses (usage error) without saving
    assert result.exit_code == 2, result.output
    assert "delete 2 works on 1 ORCID record" in result.output
    assert "asset type publication.letter excluded by settings" in result.output
    assert "--yes" in result.output
    assert store.get().version == 1


def test_cli_set_with_yes_saves_a_change_that_deletes_works(
    cli_api: None, store: DynamoIntegrationSettingsStore
) -> None:
    assert call("PUT", "/settings", SENDING)[0] == 200
    seed_pushed_researcher("r1", letters=2, articles=1)
    result = CliRunner().invoke(
        cli, ["settings", "set", "asset_types.exclude", "publication.letter", "--yes", "--api", API_URL]
    )
    assert result.exit_code == 0, result.output
    assert "delete 2 works on 1 ORCID record" in result.output
    assert store.get().version == 2
    assert not store.get().settings.selects("publication.letter")


def test_cli_set_asks_a_person_before_the_next_push_deletes_works(
    cli_api: None, store: DynamoIntegrationSettingsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orcid_sync_cli import settings_cmd

    assert call("PUT", "/settings", SENDING)[0] == 200
    seed_pushed_researcher("r1", letters=2, articles=1)
    monkeypatch.setattr(settings_cmd, "_can_ask", lambda: True)
    args = ["settings", "set", "asset_types.exclude", "publication.letter", "--api", API_URL]
    # Answering no saves nothing
    declined = CliRunner().invoke(cli, args, input="n\n")
    assert declined.exit_code == 2, declined.output
    assert "delete 2 works from ORCID?" in declined.output
    assert "nothing was saved" in declined.output
    assert store.get().version == 1
    # Answering yes saves
    accepted = CliRunner().invoke(cli, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert store.get().version == 2


def test_cli_set_saves_without_asking_when_nothing_would_be_deleted(
    cli_api: None, store: DynamoIntegrationSettingsStore
) -> None:
    assert call("PUT", "/settings", SENDING)[0] == 200
    seed_pushed_researcher("r1", letters=2, articles=1)
    result = run_cli("settings", "set", "institution_name", "Example University", "--api", API_URL)
    assert result.exit_code == 0, result.output
    assert "delete 0 works on 0 ORCID records" in result.output
    assert store.get().version == 2

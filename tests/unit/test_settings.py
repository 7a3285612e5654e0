"""Settings: one validated model per cold start, failing fast and naming what is wrong."""

from __future__ import annotations

import pytest

from orcid_sync.config import OrcidEnvironment, Settings, SettingsError, get_settings

FULL_ENV = {
    "ORCID_ENVIRONMENT": "sandbox",
    "ORCID_CLIENT_ID": "APP-ABCDEFGHIJ123456",
    "ORCID_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:orcid-AbCdEf",
    "PORTAL_BASE_URL": "https://repository.example.edu/esploro/profiles/",
    "TOKEN_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "RESEARCHERS_TABLE": "orcid-sync-researchers",
    "TOKENS_TABLE": "orcid-sync-tokens",
    "ASSETS_TABLE": "orcid-sync-assets",
    "LEDGER_TABLE": "orcid-sync-ledger",
    "JOBS_TABLE": "orcid-sync-jobs",
    "STATE_TABLE": "orcid-sync-state",
    "DATA_BUCKET": "orcid-sync-data",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:orcid-sync-jobs",
}
REQUIRED = sorted(FULL_ENV)


def env(**changes: str | None) -> dict[str, str]:
    merged: dict[str, str | None] = {**FULL_ENV, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def test_full_environment_is_read() -> None:
    settings = Settings.from_env({**FULL_ENV, "UNRELATED_VARIABLE": "ignored"})

    assert settings.orcid_environment is OrcidEnvironment.SANDBOX
    assert settings.orcid_client_id == "APP-ABCDEFGHIJ123456"
    assert settings.ledger_table == "orcid-sync-ledger"
    assert settings.push_queue_url == ""
    assert settings.orcid_rate_limit == 20.0
    assert settings.orcid_burst == 20


@pytest.mark.parametrize(
    ("environment", "site", "api", "id_url"),
    [
        ("sandbox", "https://sandbox.orcid.org", "https://api.sandbox.orcid.org", "https://sandbox.orcid.org"),
        ("production", "https://orcid.org", "https://api.orcid.org", "https://orcid.org"),
    ],
)
def test_hosts_follow_the_orcid_environment(environment: str, site: str, api: str, id_url: str) -> None:
    settings = Settings.from_env(env(ORCID_ENVIRONMENT=environment))

    assert settings.orcid_site_url == site
    assert settings.orcid_api_url == api
    assert settings.orcid_id_url("0000000218250097") == f"{id_url}/0000-0002-1825-0097"


def test_overrides_replace_the_derived_hosts_without_trailing_slashes() -> None:
    settings = Settings.from_env(
        env(ORCID_SITE_URL="http://127.0.0.1:8081/", ORCID_API_URL="http://127.0.0.1:8081/api/", PUBLIC_BASE_URL="")
    )

    assert settings.orcid_site_url == "http://127.0.0.1:8081"
    assert settings.orcid_api_url == "http://127.0.0.1:8081/api"
    assert settings.public_base_url == ""


def test_profile_url_joins_the_portal_base() -> None:
    settings = Settings.from_env(FULL_ENV)

    assert settings.profile_url("R123") == "https://repository.example.edu/esploro/profiles/R123"


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_variable_is_named(name: str) -> None:
    with pytest.raises(SettingsError, match=rf"\b{name}\b"):
        Settings.from_env(env(**{name: None}))


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})

    assert all(name in str(caught.value) for name in REQUIRED)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORCID_CLIENT_ID", "APP-TOO-SHORT"),
        ("ORCID_CLIENT_ID", "0000-0002-1825-0097"),
        ("ORCID_CLIENT_ID", "app-abcdefghij123456"),
        ("ORCID_ENVIRONMENT", "staging"),
        ("ORCID_SITE_URL", "sandbox.orcid.org"),
        ("PORTAL_BASE_URL", "repository.example.edu"),
        ("ORCID_RATE_LIMIT", "30"),
        ("ORCID_BURST", "0"),
        ("ORCID_TIMEOUT_SECONDS", "-1"),
        ("DATA_BUCKET", ""),
    ],
)
def test_an_invalid_value_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"\b{name}\b"):
        Settings.from_env(env(**{name: value}))


def test_get_settings_reads_the_process_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        first = get_settings()
        monkeypatch.setenv("ORCID_ENVIRONMENT", "production")

        assert get_settings() is first
        assert first.orcid_environment is OrcidEnvironment.SANDBOX
    finally:
        get_settings.cache_clear()

"""The token health report and the CSV exports: who needs attention and why, never a token."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from orcid_sync.domain.jobs.models import JobEvent
from orcid_sync.domain.models import OrcidStatus, Researcher, SealedSecret, StoredToken, TokenSource
from orcid_sync.domain.reports import (
    TokenHealthReport,
    TokenProblem,
    job_events_csv,
    token_health,
    token_health_csv,
    token_health_report,
)

NOW = datetime(2026, 11, 21, tzinfo=UTC)
ALL_SCOPES = ["/activities/update", "/person/update", "/read-limited"]
SECRET_BYTES = b"ciphertext-that-must-never-leak"


def _researcher(rid: str, status: OrcidStatus = OrcidStatus.ACTIVE, **extra: object) -> Researcher:
    return Researcher.model_validate(
        {
            "id": rid,
            "given_names": "Josiah",
            "family_name": f"Carberry {rid}",
            "orcid": "0000-0002-1825-0097",
            "orcid_status": status,
            **extra,
        }
    )


def _token(
    rid: str, *, scopes: list[str] = ALL_SCOPES, expires_in: timedelta = timedelta(days=7000), **extra: object
) -> StoredToken:
    sealed = SealedSecret(data_key=b"k" * 16, nonce=b"n" * 12, ciphertext=SECRET_BYTES)
    return StoredToken.model_validate(
        {
            "researcher_id": rid,
            "orcid": "0000-0002-1825-0097",
            "access_token": sealed,
            "refresh_token": sealed,
            "scopes": scopes,
            "expires_at": NOW + expires_in,
            "source": TokenSource.IMPORT,
            "stored_at": NOW - timedelta(days=400),
            "fingerprint": "f" * 64,
            **extra,
        }
    )


def test_revoked_missing_scope_and_expiring_tokens_are_reported_healthy_ones_are_not() -> None:
    # Given one healthy researcher and one of each problem
    researchers = [
        _researcher("healthy"),
        _researcher("revoked", OrcidStatus.REVOKED),
        _researcher("revoked-token"),
        _researcher("no-person-scope"),
        _researcher("expiring"),
        _researcher("not-yet-expiring"),
        _researcher("expired"),
        _researcher("disconnected", OrcidStatus.DISCONNECTED),
        _researcher("active-without-token"),
        _researcher("never-connected", OrcidStatus.NONE, orcid=None),
    ]
    tokens = {
        "healthy": _token("healthy"),
        "revoked": _token("revoked"),
        "revoked-token": _token("revoked-token", revoked_at=NOW - timedelta(days=1)),
        "no-person-scope": _token("no-person-scope", scopes=["/activities/update", "/read-limited"]),
        "expiring": _token("expiring", expires_in=timedelta(days=89)),
        "not-yet-expiring": _token("not-yet-expiring", expires_in=timedelta(days=91)),
        "expired": _token("expired", expires_in=timedelta(days=-1)),
    }
    # When
    rows = {row.researcher_id: row for row in token_health(researchers, tokens, now=NOW)}
    # Then
    assert set(rows) == {
        "revoked",
        "revoked-token",
        "no-person-scope",
        "expiring",
        "expired",
        "disconnected",
        "active-without-token",
    }
    assert rows["revoked"].problems == [TokenProblem.REVOKED]
    assert rows["revoked-token"].problems == [TokenProblem.REVOKED]
    assert rows["no-person-scope"].problems == [TokenProblem.MISSING_SCOPE]
    assert rows["no-person-scope"].missing_scopes == ["/person/update"]
    assert rows["expiring"].problems == [TokenProblem.EXPIRING]
    assert rows["expiring"].expires_at == NOW + timedelta(days=89)
    assert rows["expired"].problems == [TokenProblem.EXPIRED]
    assert rows["disconnected"].problems == [TokenProblem.DISCONNECTED]
    assert rows["active-without-token"].problems == [TokenProblem.NO_TOKEN]


def test_several_problems_are_all_named() -> None:
    token = _token("r1", scopes=["/read-limited"], expires_in=timedelta(days=10))
    [row] = token_health([_researcher("r1")], {"r1": token}, now=NOW)
    assert row.problems == [TokenProblem.EXPIRING, TokenProblem.MISSING_SCOPE]
    assert row.missing_scopes == ["/activities/update", "/person/update"]


class _Researchers:
    def __init__(self, researchers: list[Researcher]) -> None:
        self.researchers = researchers

    def iter_all(self) -> list[Researcher]:
        return self.researchers


class _Tokens:
    def __init__(self, tokens: dict[str, StoredToken]) -> None:
        self.tokens = tokens
        self.calls: list[int] = []

    def get_many(self, ids: list[str]) -> dict[str, StoredToken]:
        self.calls.append(len(ids))
        return {i: self.tokens[i] for i in ids if i in self.tokens}


def test_the_report_reads_tokens_in_batches_and_sorts_by_name() -> None:
    researchers = [_researcher(f"r{i:03d}", OrcidStatus.REVOKED) for i in range(250)][::-1]
    tokens = _Tokens({})
    report = token_health_report(_Researchers(researchers), tokens, now=NOW)  # type: ignore[arg-type]
    assert tokens.calls == [100, 100, 50]
    assert report.researchers_checked == 250
    assert report.expiring_within_days == 90
    assert [r.researcher_id for r in report.rows[:2]] == ["r000", "r001"]


def test_the_csv_has_one_row_per_researcher_and_no_token_material() -> None:
    researchers = [_researcher("r1", email="=cmd@example.org"), _researcher("r2")]
    tokens = {"r1": _token("r1", revoked_at=NOW), "r2": _token("r2", scopes=["/read-limited"])}
    report = token_health_report(_Researchers(researchers), _Tokens(tokens), now=NOW)  # type: ignore[arg-type]
    text = token_health_csv(report)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["researcher_id"], r["problems"]) for r in rows] == [("r1", "revoked"), ("r2", "missing_scope")]
    assert rows[1]["missing_scopes"] == "/activities/update /person/update"
    assert rows[0]["email"] == "'=cmd@example.org"  # no spreadsheet formula
    assert "ciphertext" not in text and "access_token" not in text and "fingerprint" not in text
    assert "ciphertext" not in report.model_dump_json()


def test_events_csv_columns() -> None:
    event = JobEvent(
        researcher_id="r1",
        asset_id="a1",
        level="error",
        action="skipped asset",
        message='bad, "quoted" title',
        orcid_status=400,
        orcid_error_code=9001,
        at=NOW,
    )
    rows = list(csv.reader(io.StringIO(job_events_csv([event]))))
    assert rows[0] == [
        "at",
        "level",
        "researcher_id",
        "asset_id",
        "action",
        "message",
        "orcid_status",
        "orcid_error_code",
    ]
    assert rows[1] == [NOW.isoformat(), "error", "r1", "a1", "skipped asset", 'bad, "quoted" title', "400", "9001"]


def test_a_bounced_or_complained_address_is_reported_even_without_an_orcid_connection() -> None:
    # Given a never-connected researcher whose address bounced, a connected one who complained, and one unsubscribed
    researchers = [
        _researcher("bounced", OrcidStatus.NONE, orcid=None, email="b@example.edu"),
        _researcher("complained", email="c@example.edu"),
        _researcher("unsubscribed", OrcidStatus.NONE, orcid=None, email="u@example.edu"),
    ]
    suppressed = {"bounced": "bounced", "complained": "complained", "unsubscribed": "unsubscribed"}
    # When
    rows = {
        row.researcher_id: row
        for row in token_health(researchers, {"complained": _token("complained")}, now=NOW, suppressed=suppressed)
    }
    # Then the bounce and the complaint are problems to fix; an unsubscribe is the researcher's choice
    assert set(rows) == {"bounced", "complained"}
    assert rows["bounced"].problems == [TokenProblem.EMAIL_BOUNCED]
    assert rows["bounced"].email_suppressed == "bounced"
    assert rows["complained"].problems == [TokenProblem.EMAIL_COMPLAINED]
    report = TokenHealthReport(
        generated_at=NOW, expiring_within_days=90, researchers_checked=3, rows=list(rows.values())
    )
    csv_rows = list(csv.DictReader(io.StringIO(token_health_csv(report))))
    assert [(r["researcher_id"], r["problems"], r["email_suppressed"]) for r in csv_rows] == [
        ("bounced", "email_bounced", "bounced"),
        ("complained", "email_complained", "complained"),
    ]

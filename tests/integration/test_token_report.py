"""``GET /reports/tokens`` through the admin API handler against moto: real stores, real encrypted tokens."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from orcid_sync import composition
from orcid_sync.domain.models import OrcidStatus, ResearcherInput, StoredToken, TokenSource
from orcid_sync.domain.tokens.crypto import token_fingerprint
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv

ORCID = "0000-0002-1825-0097"
ACCESS_TOKEN = "5e1c4b4a-1f5e-4d1a-9d4c-2d6f7e8a9b0c"
ALL_SCOPES = ["/activities/update", "/person/update", "/read-limited"]


def call(path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event("GET", path, **kwargs), lambda_context())
    if "text/csv" in response["headers"].get("Content-Type", ""):
        return response["statusCode"], response["headers"], response["body"]
    return response["statusCode"], response["headers"], response_json(response)


def _connected(rid: str, *, scopes: list[str] = ALL_SCOPES, expires_in: timedelta = timedelta(days=7300)) -> None:
    researchers = composition.researcher_store()
    researchers.upsert_profile(
        ResearcherInput(id=rid, given_names="Josiah", family_name=f"Carberry-{rid}", orcid=ORCID)
    )
    now = datetime.now(UTC)
    researchers.record_connection(rid, orcid=ORCID, scopes=scopes, connected_at=now)
    batch = composition.token_cipher().batch()
    composition.token_store().put(
        StoredToken(
            researcher_id=rid,
            orcid=ORCID,
            access_token=batch.seal(rid, ACCESS_TOKEN),
            scopes=scopes,
            expires_at=now + expires_in,
            source=TokenSource.IMPORT,
            stored_at=now,
            fingerprint=token_fingerprint("k" * 48, rid, ACCESS_TOKEN),
        )
    )


def _seed() -> None:
    _connected("healthy")
    _connected("expiring", expires_in=timedelta(days=30))
    _connected("no-update-scope", scopes=["/read-limited", "/person/update"])
    _connected("revoked")
    composition.token_store().mark_revoked("revoked", datetime.now(UTC))
    composition.researcher_store().set_status("revoked", OrcidStatus.REVOKED)
    composition.researcher_store().upsert_profile(
        ResearcherInput(id="never", given_names="Ada", family_name="Lovelace")
    )


def test_the_report_lists_only_researchers_needing_attention(aws: AwsEnv) -> None:
    _seed()
    status, _, body = call("/reports/tokens")
    assert status == 200
    assert body["researchers_checked"] == 5
    assert body["expiring_within_days"] == 90
    problems = {row["researcher_id"]: row["problems"] for row in body["rows"]}
    assert problems == {"expiring": ["expiring"], "no-update-scope": ["missing_scope"], "revoked": ["revoked"]}
    [scope_row] = [row for row in body["rows"] if row["researcher_id"] == "no-update-scope"]
    assert scope_row["missing_scopes"] == ["/activities/update"]


def test_the_report_downloads_as_csv_and_never_holds_a_token(aws: AwsEnv) -> None:
    _seed()
    status, headers, text = call("/reports/tokens", query={"format": "csv"})
    assert status == 200
    assert headers["Content-Disposition"] == 'attachment; filename="token-report.csv"'
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["researcher_id"] for r in rows) == ["expiring", "no-update-scope", "revoked"]
    assert ACCESS_TOKEN not in text
    _, _, by_accept = call("/reports/tokens", headers={"Accept": "text/csv"})
    assert by_accept == text
    _, _, as_json = call("/reports/tokens")
    assert ACCESS_TOKEN not in str(as_json)
    assert "ciphertext" not in str(as_json)

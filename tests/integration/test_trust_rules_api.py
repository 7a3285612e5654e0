"""Issue 13 through the admin API, the scheduler and the pull worker, in-process against moto (and the sandbox).

Each test is a regression test for a finding of the issue: it failed before the fix. Names the fix
introduced are imported inside the tests, so that each test fails on its own on the old code.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from orcid_sync import composition
from orcid_sync.domain.jobs.models import JobType
from orcid_sync.domain.jobs.starts import StartJobRequest, request_job
from orcid_sync.domain.models import ResearcherInput, StoredToken, TokenSource
from orcid_sync.domain.tokens.importing import ProbeResult
from tests.integration.test_admin_tokens import (
    ORCIDS,
    call,
    post_json,
    researcher,
    token_row,
)
from tests.integration.test_job_scheduler import _connected, _control_event, invoke, scheduler
from tests.integration.test_pull_worker import Sandbox, deliver, sandbox, start_run
from tests.support.aws import AwsEnv

__all__ = ["sandbox", "scheduler"]  # fixtures used here by name

ASSET: dict[str, Any] = {
    "type": "publication.journalArticle",
    "status": "approved",
    "visible": True,
    "title": "On computable numbers",
}


def verifying(monkeypatch: pytest.MonkeyPatch, verdict: ProbeResult) -> list[str]:
    """``verify=true`` answered with ``verdict`` for every token; returns the iDs tried."""
    tried: list[str] = []

    def probe(orcid: str, token: SecretStr) -> ProbeResult:
        tried.append(orcid)
        return verdict

    monkeypatch.setattr(composition, "token_probe", lambda: probe)
    return tried


def load_researcher(rid: str, orcid: str) -> dict[str, Any]:
    status, body, _ = call(
        "POST", "/researchers", body=[{"id": rid, "given_names": "J", "family_name": "C", "orcid": orcid}]
    )
    assert status == 200
    return dict(body["rows"][0])


# --- §1 an imported token proves nothing until ORCID says so ------------------------------------------------------


def test_a_token_imported_without_verify_does_not_authenticate_the_orcid_id(aws: AwsEnv) -> None:
    # Given a researcher loaded with the wrong iD, and a legacy token imported for it
    researcher("r1", ORCIDS[0])
    status, body, _ = post_json([token_row(ORCIDS[0])])
    assert (status, body["rows"][0]["outcome"]) == (200, "stored")
    # Then the token is used, but the iD is not taken as authenticated
    stored = composition.researcher_store().get("r1")
    assert stored is not None and stored.orcid_status.value == "active"
    assert stored.orcid_authenticated is False
    # And a load correcting the iD is accepted, not refused with 409
    outcome = load_researcher("r1", ORCIDS[1])
    assert outcome["outcome"] == "updated", outcome
    assert composition.researcher_store().get("r1").orcid == ORCIDS[1]  # type: ignore[union-attr]


def test_a_token_orcid_accepted_for_the_id_authenticates_it(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    researcher("r1", ORCIDS[0])
    verifying(monkeypatch, ProbeResult.VALID)
    status, body, _ = post_json([token_row(ORCIDS[0])], verify="true")
    assert (status, body["rows"][0]["outcome"]) == (200, "stored")
    assert composition.researcher_store().get("r1").orcid_authenticated is True  # type: ignore[union-attr]
    assert load_researcher("r1", ORCIDS[1])["outcome"] == "rejected"


def test_verify_refusing_the_stored_token_marks_it_invalid_reports_it_and_offers_a_connect_link(
    aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token imported without verification, for a record that is not the researcher's
    researcher("r1", ORCIDS[0])
    row = token_row(ORCIDS[0])
    post_json([row])
    # When the same file is imported again with verify, and ORCID says 9017
    verifying(monkeypatch, ProbeResult.WRONG_RECORD)
    status, body, raw = post_json([row], verify="true")
    assert (status, body["rows"][0]["outcome"]) == (200, "rejected")
    # Then the stored token (the same one) is marked invalid, and the researcher says so
    token = composition.token_store().get("r1")
    assert token is not None and token.invalid_reason is not None and token.invalid_reason.value == "wrong_record"
    assert composition.researcher_store().get("r1").orcid_status.value == "token_invalid"  # type: ignore[union-attr]
    status, listed, _ = call("GET", "/researchers", query={"status": "token_invalid"})
    assert (status, [r["id"] for r in listed["items"]]) == (200, ["r1"])
    # And the token report names them and why
    status, report, _ = call("GET", "/reports/tokens")
    assert status == 200
    [line] = report["rows"]
    assert (line["researcher_id"], line["problems"]) == ("r1", ["token_invalid"])
    assert "9017" in line["reason"]
    # And importing the same token again without verify does not bring it back
    status, body, _ = post_json([row])
    assert body["rows"][0]["outcome"] == "rejected"
    assert "another ORCID record" in body["rows"][0]["problems"][0]["reason"]
    # And the researcher gets a fresh connect link on request
    status, link, _ = call("POST", "/researchers/r1/connect-link")
    assert status == 200 and link["url"].startswith("https://")
    assert row["access_token"] not in raw + json.dumps(report)


def test_verify_refusing_a_new_token_leaves_a_different_stored_token_alone(
    aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    researcher("r1", ORCIDS[0])
    post_json([token_row(ORCIDS[0])])
    verifying(monkeypatch, ProbeResult.WRONG_RECORD)
    post_json([token_row(ORCIDS[0])], verify="true")
    token = composition.token_store().get("r1")
    assert token is not None and token.is_active
    assert composition.researcher_store().get("r1").orcid_status.value == "active"  # type: ignore[union-attr]


def test_rejected_token_rows_carry_their_row_number_and_their_id(aws: AwsEnv) -> None:
    researcher("r1", ORCIDS[0])
    researcher("r2", ORCIDS[1])
    rows = [token_row(ORCIDS[0]), token_row(ORCIDS[1], scope="/activites/update"), token_row("not-an-id")]
    status, body, _ = post_json(rows)
    assert status == 200
    rejected = [(o["row_number"], o.get("orcid")) for o in body["rows"] if o["outcome"] == "rejected"]
    assert rejected == [(2, ORCIDS[1]), (3, None)]


# --- §1 ORCID refusing the token on a pull ------------------------------------------------------------------------


def _import_token_for(sandbox: Sandbox, rid: str, orcid: str, token_of: str) -> None:
    """Researcher ``rid`` with iD ``orcid``, holding (as a legacy import would) the token of record ``token_of``."""
    composition.researcher_store().upsert_profile(
        ResearcherInput(id=rid, given_names="Gil", family_name="T", orcid=orcid)
    )
    status, body, _ = post_json(
        [
            {
                "orcid": orcid,
                "access_token": sandbox.tokens[token_of],
                "scope": "/read-limited /activities/update",
                "expires_in": 631138518,
            }
        ]
    )
    assert (status, body["rows"][0]["outcome"]) == (200, "stored")


def test_a_pull_answered_9017_marks_the_token_invalid_once_and_later_runs_skip_the_researcher(
    sandbox: Sandbox,
) -> None:
    # Given Gil's record, and Gil holding the token of Hal's record
    gil, hal = sandbox.researcher("Gil"), sandbox.researcher("Hal")
    _import_token_for(sandbox, "gil", gil, token_of=hal)
    job, tasks = start_run()
    # When the pull reads Gil's works with it
    assert deliver(tasks) == []
    # Then ORCID's 9017 marks the token invalid, with one event saying so
    token = composition.token_store().get("gil")
    assert token is not None and token.invalid_reason is not None and token.invalid_reason.value == "wrong_record"
    assert composition.researcher_store().get("gil").orcid_status.value == "token_invalid"  # type: ignore[union-attr]
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert [(e.action, e.orcid_error_code) for e in events] == [("marked token invalid", 9017)]
    assert sandbox.tokens[hal] not in events[0].message
    # And the next run leaves Gil out (no error event every night)
    _, tasks = start_run()
    assert [t.researcher_id for t in tasks] == []


def test_the_first_successful_pull_with_an_imported_token_authenticates_the_orcid_id(sandbox: Sandbox) -> None:
    ivy = sandbox.researcher("Ivy")
    _import_token_for(sandbox, "ivy", ivy, token_of=ivy)
    assert composition.researcher_store().get("ivy").orcid_authenticated is False  # type: ignore[union-attr]
    _, tasks = start_run()
    assert deliver(tasks) == []
    assert composition.researcher_store().get("ivy").orcid_authenticated is True  # type: ignore[union-attr]


# --- §3 an asset for a researcher not loaded yet --------------------------------------------------------------------


def test_an_asset_naming_an_unknown_researcher_is_stored_with_a_warning(aws: AwsEnv) -> None:
    researcher("r1", ORCIDS[0])
    status, body, _ = call(
        "POST",
        "/assets",
        body=[{"id": "a1", "researchers": ["r1", "ghost"], **ASSET}, {"id": "a2", "researchers": ["r1"], **ASSET}],
    )
    assert status == 200
    assert [o["outcome"] for o in body["rows"]] == ["created", "created"]
    [warning] = body["rows"][0]["warnings"]
    assert (warning["row"], warning["field"]) == (0, "researchers.1")
    assert "ghost" in warning["reason"]
    assert body["rows"][1]["warnings"] == []
    assert body["counts"]["with_warnings"] == 1
    assert composition.asset_store().get("a1") is not None
    # One at a time too
    status, stored, _ = call("PUT", "/assets/a3", body={"id": "a3", "researchers": ["ghost"], **ASSET})
    assert status == 201
    assert [(w["field"], "ghost" in w["reason"]) for w in stored["warnings"]] == [("body.researchers.0", True)]


# --- §4 bad input is refused, not coerced ---------------------------------------------------------------------------


def test_a_boolean_sent_as_text_is_refused_naming_the_field(aws: AwsEnv) -> None:
    status, body, _ = call("PUT", "/assets/a1", body={"id": "a1", "researchers": ["r1"], **ASSET, "visible": "yes"})
    assert status == 400
    assert [p["field"] for p in body["problems"]] == ["body.visible"]
    assert composition.asset_store().get("a1") is None
    status, body, _ = call("POST", "/assets", body=[{"id": "a1", "researchers": ["r1"], **ASSET, "visible": "yes"}])
    assert [p["field"] for p in body["rows"][0]["problems"]] == ["visible"]
    status, body, _ = call(
        "PUT", "/researchers/r1", body={"id": "r1", "given_names": "J", "family_name": "C", "active": "false"}
    )
    assert (status, [p["field"] for p in body["problems"]]) == (400, ["body.active"])
    status, body, _ = call("POST", "/tokens/uploads", body={"format": "csv", "verify": "yes"})
    assert (status, [p["field"] for p in body["problems"]]) == (400, ["body.verify"])


def test_text_with_a_control_character_is_refused_naming_the_field(aws: AwsEnv) -> None:
    status, body, _ = call("PUT", "/assets/a1", body={"id": "a1", "researchers": ["r1"], **ASSET, "title": "Ding\x07"})
    assert status == 400
    assert [p["field"] for p in body["problems"]] == ["body.title"]
    assert "U+0007" in body["problems"][0]["reason"]
    status, body, _ = call("PUT", "/researchers/r1", body={"id": "r1", "given_names": "J\x00", "family_name": "C"})
    assert (status, [p["field"] for p in body["problems"]]) == (400, ["body.given_names"])
    abstract = "Two paragraphs.\n\n\tThe second."
    status, stored, _ = call(
        "PUT", "/assets/a2", body={"id": "a2", "researchers": ["r1"], **ASSET, "abstract": abstract}
    )
    assert (status, stored["abstract"]) == (201, abstract)


def test_an_invalid_job_type_is_named_by_its_value(aws: AwsEnv) -> None:
    status, body, raw = call("POST", "/jobs", body={"type": "upload"})
    assert status == 400
    assert "<JobType" not in raw
    assert body["problems"][0]["field"] == "body.type"
    assert "'push'" in body["problems"][0]["reason"] and "'pull'" in body["problems"][0]["reason"]


def test_a_second_disconnect_says_the_researcher_is_already_disconnected(aws: AwsEnv) -> None:
    researcher("r1", ORCIDS[0])
    composition.researcher_store().record_connection("r1", orcid=ORCIDS[0], scopes=[], connected_at=datetime.now(UTC))
    first, body, _ = call("DELETE", "/researchers/r1/orcid")
    assert (first, body["token_revocation"]) == (200, "no_token")
    second, body, _ = call("DELETE", "/researchers/r1/orcid")
    assert second == 409
    assert "already disconnected" in body["message"]


def test_a_push_asked_for_an_ineligible_researcher_says_why_in_the_job_events(scheduler: dict[str, str]) -> None:
    # Given one connected researcher and one who never connected
    _connected("r1", ORCIDS[0])
    composition.researcher_store().upsert_profile(ResearcherInput(id="r2", given_names="Ada", family_name="Lovelace"))
    job = request_job(
        composition.job_store(),
        composition.control_queue(),
        composition.researcher_store(),
        StartJobRequest(type=JobType.PUSH, researchers=["r1", "r2"]),
        started_by="admin",
        now=datetime.now(UTC),
    )
    # When the scheduler starts the run
    assert invoke(_control_event(job.job_id)) == {"batchItemFailures": []}
    # Then r2 is not pushed, and the run says why
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert [(e.researcher_id, e.level, e.action) for e in events] == [("r2", "warning", "skipped researcher")]
    assert events[0].message == "not included in this push run: the researcher has no ORCID iD"


def test_a_stored_token_fingerprint_guards_the_invalid_mark(aws: AwsEnv) -> None:
    from orcid_sync.domain.models import TokenInvalidReason

    researcher("r1", ORCIDS[0])
    post_json([token_row(ORCIDS[0])])
    stored = composition.token_store().get("r1")
    assert stored is not None
    at = datetime.now(UTC)
    tokens = composition.token_store()
    assert not tokens.mark_invalid("r1", at=at, reason=TokenInvalidReason.WRONG_RECORD, fingerprint=uuid.uuid4().hex)
    assert not tokens.mark_invalid("nobody", at=at, reason=TokenInvalidReason.WRONG_RECORD, fingerprint="f")
    assert tokens.mark_invalid("r1", at=at, reason=TokenInvalidReason.WRONG_RECORD, fingerprint=stored.fingerprint)
    after = tokens.get("r1")
    assert after is not None and after.invalid_at is not None and after.revoked_at is None
    assert isinstance(after, StoredToken) and after.source is TokenSource.IMPORT

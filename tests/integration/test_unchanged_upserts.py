"""Issue 15 §5: re-sending researchers and assets unchanged writes nothing, and the next push costs nothing.

An institution's nightly export or feed sends everything again. Through the admin API handler
against moto: the DynamoDB calls of a re-send are counted with a botocore event hook on the stores'
client, and the push after it runs in the push worker handler against the local ORCID sandbox.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore
from orcid_sync.adapters.dynamodb.push_ledger import PUSH_STATE_ITEM
from orcid_sync.domain.jobs.models import Job, JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.runs import open_job
from orcid_sync.domain.models import StoredToken, TokenSource, utc_now
from tests.conftest import FakeLambdaContext
from tests.integration.test_push_worker import EVERYTHING, Sandbox, sandbox, sqs_record
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv
from tests.support.template_env import function_environment

__all__ = ["sandbox"]  # the push worker tests' sandbox fixture, used here by name

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
MANAGED = ("orcid_status", "orcid_authenticated", "orcid_scopes", "connected_at", "last_sync_at", "updated_at")


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response)


def person(rid: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "given_names": "Josiah",
        "family_name": "Carberry",
        "email": f"{rid}@example.edu",
        "department": "Psychoceramics",
        **extra,
    }


def asset(rid: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{rid}-a{n:03d}",
        "researchers": [rid],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": f"Output {n} of {rid}",
        "doi": f"10.5555/{rid}.{n}",
        "date": "2024-05",
        "contributors": [{"name": "Josiah Carberry", "sequence": 1, "role": "author"}],
        **extra,
    }


class DynamoCalls:
    """Every DynamoDB call the stores' client makes (one per API call, as billed), by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.audit_entries = 0
        self._audit_table = os.environ["AUDIT_TABLE"]
        composition.dynamodb().meta.client.meta.events.register("before-parameter-build.dynamodb", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        # The audit log's entry for a batch that changed something is counted apart: it is one write per request,
        # not per row, and a re-send that changed nothing writes none (asserted below).
        if params.get("TableName") == self._audit_table:
            self.audit_entries += 1
            return
        self.calls[model.name] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.audit_entries = 0

    @property
    def writes(self) -> dict[str, int]:
        return {name: count for name, count in self.calls.items() if name in WRITES}

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def dynamo(aws: AwsEnv) -> DynamoCalls:
    return DynamoCalls()


def scan(aws: AwsEnv, table: str) -> list[dict[str, Any]]:
    return sorted(aws.table(table).scan()["Items"], key=lambda item: sorted(item.items()))


# --- assets -------------------------------------------------------------------------------------------------------


def test_a_resent_unchanged_asset_batch_writes_nothing_and_says_unchanged(aws: AwsEnv, dynamo: DynamoCalls) -> None:
    # Given 10 researchers with 30 assets each, loaded
    people = [person(f"r{n}") for n in range(10)]
    assets = [asset(p["id"], n) for p in people for n in range(30)]
    assert call("POST", "/researchers", body=people)[1]["counts"]["created"] == 10
    status, body = call("POST", "/assets", body=assets)
    assert (status, body["counts"]["created"]) == (200, 300)
    before = scan(aws, "ASSETS_TABLE")

    # When the institution sends all of them again, unchanged
    dynamo.reset()
    status, body = call("POST", "/assets", body=assets)

    # Then every row says unchanged
    assert status == 200
    assert body["counts"] == {
        "received": 300,
        "created": 0,
        "updated": 0,
        "unchanged": 300,
        "rejected": 0,
        "with_warnings": 0,
    }
    assert {row["outcome"] for row in body["rows"]} == {"unchanged"}
    # And nothing was written: one consistent read per 100 assets and one for their researchers
    assert dynamo.writes == {}
    assert dynamo.audit_entries == 0  # and nothing changed, so nothing for the audit log
    assert dynamo.calls == {"BatchGetItem": 3 + 1}
    assert dynamo.total * 25 / len(assets) <= 1
    # And every item, updated_at included, is as it was
    assert scan(aws, "ASSETS_TABLE") == before


def test_one_changed_field_is_updated_and_only_that_asset_is_written(aws: AwsEnv, dynamo: DynamoCalls) -> None:
    assets = [asset("r1", n) for n in range(5)]
    call("POST", "/researchers", body=[person("r1")])
    call("POST", "/assets", body=assets)
    store = composition.asset_store()
    stamped = {a["id"]: store.get(a["id"]).updated_at for a in assets}  # type: ignore[union-attr]

    # When one asset of the batch has a corrected title
    changed = [*assets[:2], {**assets[2], "title": "Corrected"}, *assets[3:]]
    dynamo.reset()
    status, body = call("POST", "/assets", body=changed)

    # Then that one is updated (and its copy for the researcher with it) and the others are untouched
    assert status == 200
    assert [row["outcome"] for row in body["rows"]] == ["unchanged", "unchanged", "updated", "unchanged", "unchanged"]
    assert (body["counts"]["updated"], body["counts"]["unchanged"]) == (1, 4)
    assert dynamo.writes == {"TransactWriteItems": 1}
    assert store.get(assets[2]["id"]).title == "Corrected"  # type: ignore[union-attr]
    assert [a.title for a in store.list_for_researcher("r1") if a.id == assets[2]["id"]] == ["Corrected"]
    after = {a["id"]: store.get(a["id"]).updated_at for a in assets}  # type: ignore[union-attr]
    assert after[assets[2]["id"]] != stamped[assets[2]["id"]]
    assert {k: v for k, v in after.items() if k != assets[2]["id"]} == {
        k: v for k, v in stamped.items() if k != assets[2]["id"]
    }


def test_moving_an_asset_to_another_researcher_still_moves_its_copies(aws: AwsEnv) -> None:
    call("POST", "/researchers", body=[person("r1"), person("r2")])
    call("POST", "/assets", body=[asset("r1", 1)])
    status, body = call("POST", "/assets", body=[asset("r1", 1, researchers=["r2"])])
    assert (status, body["rows"][0]["outcome"]) == (200, "updated")
    store = composition.asset_store()
    assert store.list_for_researcher("r1") == []
    assert [a.id for a in store.list_for_researcher("r2")] == ["r1-a001"]


def test_an_asset_stored_before_content_hashes_is_compared_by_its_document(aws: AwsEnv, dynamo: DynamoCalls) -> None:
    # Given assets stored by an earlier version: a document, no content_hash or researcher_ids
    call("POST", "/researchers", body=[person("r1")])
    assets = [asset("r1", n) for n in range(3)]
    call("POST", "/assets", body=assets)
    table = aws.table("ASSETS_TABLE")
    for item in table.scan()["Items"]:
        if item["sk"] == "META":
            table.update_item(
                Key={"pk": item["pk"], "sk": "META"}, UpdateExpression="REMOVE content_hash, researcher_ids"
            )
    # When they are sent again, one of them moved to another researcher
    moved = {**assets[1], "researchers": ["r2"]}
    dynamo.reset()
    status, body = call("POST", "/assets", body=[assets[0], moved, assets[2]])
    assert status == 200
    # Then the unchanged ones are found unchanged from their documents and not written
    assert [row["outcome"] for row in body["rows"]] == ["unchanged", "updated", "unchanged"]
    assert dynamo.writes == {"TransactWriteItems": 1}
    # And the moved one's old copy went (its researchers came from the document)
    store = composition.asset_store()
    assert [a.id for a in store.list_for_researcher("r1")] == [assets[0]["id"], assets[2]["id"]]
    assert [a.id for a in store.list_for_researcher("r2")] == [assets[1]["id"]]


def test_put_asset_says_created_updated_or_unchanged(aws: AwsEnv, dynamo: DynamoCalls) -> None:
    call("PUT", "/researchers/r1", body=person("r1"))
    body = asset("r1", 1)
    status, created = call("PUT", "/assets/r1-a001", body=body)
    assert (status, created["outcome"]) == (201, "created")
    dynamo.reset()
    status, again = call("PUT", "/assets/r1-a001", body=body)
    assert (status, again["outcome"]) == (200, "unchanged")
    assert again["updated_at"] == created["updated_at"]
    assert dynamo.writes == {}
    assert dynamo.audit_entries == 0  # and nothing changed, so nothing for the audit log
    status, changed = call("PUT", "/assets/r1-a001", body={**body, "title": "Corrected"})
    assert (status, changed["outcome"], changed["title"]) == (200, "updated", "Corrected")
    # A field sent at its default is the same content as one left out
    status, same = call("PUT", "/assets/r1-a001", body={**body, "title": "Corrected", "subtitle": None})
    assert (status, same["outcome"]) == (200, "unchanged")


# --- researchers ---------------------------------------------------------------------------------------------------


def test_a_resent_unchanged_researcher_batch_writes_nothing_and_keeps_the_managed_fields(
    aws: AwsEnv, dynamo: DynamoCalls
) -> None:
    # Given researchers, one of whom connected (an authenticated iD the feed does not know) and was synced
    people = [person(f"r{n}") for n in range(30)]
    call("POST", "/researchers", body=people)
    researchers = composition.researcher_store()
    orcid = "0000-0002-1825-0097"
    researchers.record_connection("r0", orcid=orcid, scopes=["/activities/update"], connected_at=utc_now())
    researchers.mark_synced("r0", utc_now())
    before = scan(aws, "RESEARCHERS_TABLE")

    # When the feed sends them all again, unchanged (r0 still without the iD)
    dynamo.reset()
    status, body = call("POST", "/researchers", body=people)

    # Then they are unchanged, nothing is written, and r0 keeps its iD, status and dates
    assert status == 200
    assert (body["counts"]["unchanged"], body["counts"]["created"], body["counts"]["updated"]) == (30, 0, 0)
    assert dynamo.writes == {}
    assert dynamo.audit_entries == 0  # and nothing changed, so nothing for the audit log
    assert dynamo.calls == {"BatchGetItem": 1}
    assert scan(aws, "RESEARCHERS_TABLE") == before
    stored = researchers.get("r0")
    assert stored is not None and (stored.orcid, stored.orcid_status.value, stored.orcid_authenticated) == (
        orcid,
        "active",
        True,
    )


def test_researcher_iD_rules_hold_for_resent_rows(aws: AwsEnv, dynamo: DynamoCalls) -> None:
    orcid, other = "0000-0002-1825-0097", "0000-0001-5109-3700"
    call("POST", "/researchers", body=[person("r1"), person("r2", orcid=orcid)])
    researchers = composition.researcher_store()
    researchers.record_connection("r1", orcid=orcid, scopes=["/activities/update"], connected_at=utc_now())
    # An imported token's iD (not authenticated) on r2's record
    researchers.record_connection(
        "r2", orcid=orcid, scopes=["/activities/update"], connected_at=utc_now(), authenticated=False
    )
    before = {rid: researchers.get(rid) for rid in ("r1", "r2")}

    # A load changing r1's authenticated iD is still refused, with the same row otherwise unchanged
    dynamo.reset()
    status, body = call("POST", "/researchers", body=[person("r1", orcid=other)])
    assert (status, body["rows"][0]["outcome"]) == (200, "rejected")
    assert call("PUT", "/researchers/r1", body=person("r1", orcid=other))[0] == 409
    # Sending r1's iD itself is the same content as leaving it out
    status, body = call("PUT", "/researchers/r1", body=person("r1", orcid=orcid))
    assert (status, body["outcome"], body["orcid"]) == (200, "unchanged", orcid)
    assert dynamo.writes == {}
    assert dynamo.audit_entries == 0  # and nothing changed, so nothing for the audit log
    assert researchers.get("r1") == before["r1"]

    # r2 re-sent with the iD it was loaded with: unchanged; with none (the iD was not authenticated): updated
    status, body = call("PUT", "/researchers/r2", body=person("r2", orcid=orcid))
    assert (status, body["outcome"]) == (200, "unchanged")
    status, body = call("PUT", "/researchers/r2", body=person("r2"))
    assert (status, body["outcome"], body["orcid"]) == (200, "updated", None)
    assert dynamo.writes == {"UpdateItem": 1}
    stored = researchers.get("r2")
    assert stored is not None and (stored.orcid_status, stored.connected_at) == (
        before["r2"].orcid_status,  # type: ignore[union-attr]
        before["r2"].connected_at,  # type: ignore[union-attr]
    )


def test_put_researcher_says_created_updated_or_unchanged(aws: AwsEnv) -> None:
    status, body = call("PUT", "/researchers/r1", body=person("r1"))
    assert (status, body["outcome"]) == (201, "created")
    status, body = call("PUT", "/researchers/r1", body=person("r1"))
    assert (status, body["outcome"]) == (200, "unchanged")
    status, body = call("PUT", "/researchers/r1", body=person("r1", department="Applied Psychoceramics"))
    assert (status, body["outcome"], body["department"]) == (200, "updated", "Applied Psychoceramics")


# --- the next push --------------------------------------------------------------------------------------------------


@dataclass
class Pusher:
    aws: AwsEnv
    sandbox: Sandbox

    def connect(self, rid: str) -> str:
        """The researcher on the sandbox with a token for us, stored as the connect page would."""
        orcid, access_token = self.sandbox.new_researcher()
        scopes = ["/activities/update", "/person/update", "/read-limited"]
        composition.researcher_store().record_connection(rid, orcid=orcid, scopes=scopes, connected_at=utc_now())
        sealed = composition.token_cipher().batch().seal(rid, access_token)
        composition.token_store().put(
            StoredToken(
                researcher_id=rid,
                orcid=orcid,
                access_token=sealed,
                scopes=scopes,
                expires_at=utc_now() + timedelta(days=7300),
                source=TokenSource.OAUTH,
                stored_at=utc_now(),
                fingerprint=uuid.uuid4().hex,
            )
        )
        return orcid

    def push(self, researcher_ids: list[str]) -> Job:
        from functions.push_worker import app

        jobs = composition.job_store()
        job = open_job(
            jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="test", options={}, now=utc_now()
        )
        jobs.set_expected(job.job_id, len(researcher_ids))
        records = [
            sqs_record(ResearcherTask(job_id=job.job_id, job_type=JobType.PUSH, researcher_id=rid))
            for rid in researcher_ids
        ]
        response = app.lambda_handler({"Records": records}, FakeLambdaContext())
        assert response["batchItemFailures"] == []
        finished = jobs.get(job.job_id)
        assert finished is not None
        return finished

    def push_states(self) -> dict[str, str]:
        """When each researcher's push fingerprint was last written: a re-plan rewrites it."""
        items = self.aws.table("LEDGER_TABLE").scan()["Items"]
        return {item["researcher_id"]: item["at"] for item in items if item["item"] == PUSH_STATE_ITEM}


@pytest.fixture
def pusher(aws: AwsEnv, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pusher]:
    monkeypatch.setenv("ORCID_API_URL", sandbox.url)
    monkeypatch.setenv("ORCID_SITE_URL", sandbox.url)
    monkeypatch.setenv("PUSH_MAX_RECEIVE_COUNT", function_environment("PushWorkerFunction")["PUSH_MAX_RECEIVE_COUNT"])
    composition.reset()
    store = DynamoIntegrationSettingsStore(aws.table("STATE_TABLE"))
    store.save(EVERYTHING, expected_version=store.get().version, at=utc_now(), by="test")
    yield Pusher(aws, sandbox)
    composition.reset()


def test_the_push_after_an_unchanged_resend_makes_no_orcid_request_and_plans_nobody(pusher: Pusher) -> None:
    # Given researchers and assets loaded through the API, connected, and pushed
    people = [person(f"r{n}", position="Professor") for n in range(3)]
    assets = [asset(p["id"], n) for p in people for n in range(4)]
    call("POST", "/researchers", body=people)
    call("POST", "/assets", body=assets)
    orcids = {p["id"]: pusher.connect(p["id"]) for p in people}
    first = pusher.push(list(orcids))
    assert first.counts.works_created == 12
    planned = pusher.push_states()
    assert sorted(planned) == sorted(orcids)

    # When the institution re-sends everything unchanged
    assert call("POST", "/researchers", body=people)[1]["counts"]["unchanged"] == 3
    assert call("POST", "/assets", body=assets)[1]["counts"]["unchanged"] == 12

    # Then the next push makes no ORCID request and re-plans nobody (every fingerprint still matches)
    pusher.sandbox.reset_stats()
    again = pusher.push(list(orcids))
    assert pusher.sandbox.stats()["total"] == 0
    assert again.counts.orcid_requests == 0
    assert again.counts.works_unchanged == 12
    assert pusher.push_states() == planned

    # And when one asset changes, the push sends that one work
    changed = [{**a, "title": "Corrected"} if a["id"] == assets[5]["id"] else a for a in assets]
    counts = call("POST", "/assets", body=changed)[1]["counts"]
    assert (counts["updated"], counts["unchanged"]) == (1, 11)
    pusher.sandbox.reset_stats()
    last = pusher.push(list(orcids))
    assert pusher.sandbox.requests_by_route() == {"PUT work/{put_code}": 1}
    assert last.counts.works_updated == 1
    replanned = {rid for rid, at in pusher.push_states().items() if at != planned[rid]}
    assert replanned == {assets[5]["researchers"][0]}

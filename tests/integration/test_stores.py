"""The DynamoDB stores against moto tables built from template.yaml."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.batch_retry import BatchRetry, UnprocessedKeysError, batch_get_items
from orcid_sync.adapters.dynamodb.pagination import query_items, scan_items
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError, ResearcherWithToken
from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher, KmsDataKeys
from orcid_sync.domain.models import (
    Asset,
    OrcidStatus,
    ResearcherInput,
    StoredToken,
    TokenSource,
)
from tests.support.aws import AwsEnv

ORCID = "0000-0002-1825-0097"


def _researcher(rid: str, **extra: object) -> ResearcherInput:
    return ResearcherInput.model_validate({"id": rid, "given_names": "Josiah", "family_name": "Carberry", **extra})


def test_upsert_keeps_the_connection_fields(aws: AwsEnv) -> None:
    store = composition.researcher_store()
    store.upsert_profile(_researcher("r1", orcid=ORCID))
    store.record_connection("r1", orcid=ORCID, scopes=["/read-limited"], connected_at=datetime.now(UTC))
    updated = store.upsert_profile(_researcher("r1", orcid=ORCID, department="Psychoceramics"))
    assert updated.orcid_status is OrcidStatus.ACTIVE
    assert updated.orcid_authenticated
    assert updated.department == "Psychoceramics"


def test_new_researchers_start_with_status_none_and_are_listed_by_status(aws: AwsEnv) -> None:
    store = composition.researcher_store()
    for i in range(5):
        store.upsert_profile(_researcher(f"r{i}"))
    store.set_status("r3", OrcidStatus.REVOKED)
    first = store.list(status=OrcidStatus.NONE, limit=2, cursor=None)
    second = store.list(status=OrcidStatus.NONE, limit=10, cursor=first.next_cursor)
    assert len(first.items) == 2
    assert {r.id for r in first.items + second.items} == {"r0", "r1", "r2", "r4"}
    assert [r.id for r in store.list(status=OrcidStatus.REVOKED, limit=10, cursor=None).items] == ["r3"]
    with pytest.raises(InvalidCursorError):
        store.list(status=None, limit=10, cursor="not-a-cursor")


def test_record_connection_refuses_a_different_orcid(aws: AwsEnv) -> None:
    store = composition.researcher_store()
    store.upsert_profile(_researcher("r1", orcid=ORCID))
    with pytest.raises(ClientError) as excinfo:
        store.record_connection("r1", orcid="0000-0002-9079-593X", scopes=[], connected_at=datetime.now(UTC))
    assert excinfo.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_find_by_orcid_and_get_many(aws: AwsEnv) -> None:
    store = composition.researcher_store()
    store.upsert_profile(_researcher("r1", orcid=ORCID))
    store.upsert_profile(_researcher("r2"))
    assert [r.id for r in store.find_by_orcid(ORCID)] == ["r1"]
    assert set(store.get_many(["r1", "r2", "missing"])) == {"r1", "r2"}


def test_tokens_are_stored_encrypted(aws: AwsEnv) -> None:
    cipher = EnvelopeTokenCipher(KmsDataKeys(boto3.client("kms"), aws.key_id))
    batch = cipher.batch()
    plaintext = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
    token = StoredToken(
        researcher_id="r1",
        orcid=ORCID,
        access_token=batch.seal("r1", plaintext),
        scopes=["/activities/update", "/read-limited"],
        expires_at=datetime.now(UTC) + timedelta(days=365),
        source=TokenSource.IMPORT,
        stored_at=datetime.now(UTC),
        fingerprint="abc",
    )
    store = composition.token_store()
    store.put(token)
    raw = aws.table("TOKENS_TABLE").get_item(Key={"researcher_id": "r1"})["Item"]
    assert plaintext not in repr(raw)
    loaded = store.get("r1")
    assert loaded is not None
    assert cipher.open("r1", loaded.access_token) == plaintext
    assert loaded.can_push and loaded.can_pull
    store.mark_revoked("r1", datetime.now(UTC))
    revoked = store.get_many(["r1"])["r1"]
    assert not revoked.is_active and not revoked.can_push


def _asset(aid: str, researchers: list[str], **extra: object) -> Asset:
    return Asset.model_validate(
        {
            "id": aid,
            "researchers": researchers,
            "type": "publication.journalArticle",
            "status": "approved",
            "visible": True,
            "title": f"Title {aid}",
            **extra,
        }
    )


def test_assets_are_listed_per_researcher_and_follow_reassignment(aws: AwsEnv) -> None:
    store = composition.asset_store()
    store.put(_asset("a1", ["r1", "r2"]))
    store.put(_asset("a2", ["r1"], doi="10.1234/ABC"))
    assert {a.id for a in store.list_for_researcher("r1")} == {"a1", "a2"}
    previous = store.put(_asset("a1", ["r2"]))
    assert previous is not None and previous.researchers == ["r1", "r2"]
    assert {a.id for a in store.list_for_researcher("r1")} == {"a2"}
    assert store.delete("a2") is not None
    assert store.list_for_researcher("r1") == []
    assert store.get("a2") is None
    got = store.get("a1")
    assert got is not None and got.researchers == ["r2"]


# --- the shared paging and batch-read helpers -------------------------------------------------------


def test_every_page_of_a_query_and_a_scan_is_read(aws: AwsEnv) -> None:
    table = aws.table("LEDGER_TABLE")
    for n in range(7):
        table.put_item(Item={"researcher_id": "r1", "item": f"work#a{n}"})
    table.put_item(Item={"researcher_id": "r2", "item": "work#a0"})
    pages: list[int] = []
    real_query = table.query

    def counting_query(**kwargs: Any) -> Any:
        response = real_query(**kwargs)
        pages.append(len(response["Items"]))
        return response

    table.query = counting_query

    # Three items a page: the helper follows LastEvaluatedKey until there is none
    items = list(query_items(table, KeyConditionExpression=Key("researcher_id").eq("r1"), Limit=3))

    assert [item["item"] for item in items] == [f"work#a{n}" for n in range(7)]
    assert pages[:3] == [3, 3, 1]
    assert len(list(scan_items(table, Limit=2))) == 8


class UnprocessedKeys:
    """The table, but its client's BatchGetItem leaves the last key unprocessed, the first ``times`` calls."""

    def __init__(self, table: Any, *, times: int) -> None:
        self._table = table
        self.name = table.name
        self.calls: list[int] = []
        outer = self

        def batch_get_item(RequestItems: dict[str, Any]) -> dict[str, Any]:
            keys = RequestItems[outer.name]["Keys"]
            outer.calls.append(len(keys))
            left = keys[-1:] if len(outer.calls) <= times else []
            done = [key for key in keys if key not in left]
            response = table.meta.client.batch_get_item(RequestItems={outer.name: {"Keys": done}}) if done else {}
            unprocessed = {outer.name: {"Keys": left}} if left else {}
            return {"Responses": response.get("Responses", {}), "UnprocessedKeys": unprocessed}

        self.meta = type("Meta", (), {"client": type("Client", (), {"batch_get_item": staticmethod(batch_get_item)})})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_unprocessed_keys_are_asked_again_with_backoff_and_fail_the_read_when_they_stay(aws: AwsEnv) -> None:
    real = aws.table("RESEARCHERS_TABLE")
    for rid in ("r1", "r2", "r3"):
        real.put_item(Item={"id": rid})
    keys = [{"id": rid} for rid in ("r1", "r2", "r3")]
    sleeps: list[float] = []
    retry = BatchRetry(rng=random.Random(1), sleep=sleeps.append)

    # Left unprocessed twice: asked again twice, after waits under a ceiling that doubles
    table = UnprocessedKeys(real, times=2)
    assert sorted(item["id"] for item in batch_get_items(table, keys, retry=retry)) == ["r1", "r2", "r3"]  # type: ignore[arg-type]
    assert table.calls == [3, 1, 1]
    assert len(sleeps) == 2
    assert all(0 <= wait <= 0.05 * 2**attempt for attempt, wait in enumerate(sleeps, start=1))

    # Left unprocessed on every attempt: the read fails rather than pass a key off as missing
    stuck = UnprocessedKeys(real, times=99)
    with pytest.raises(UnprocessedKeysError, match="1 key"):
        list(batch_get_items(stuck, keys, retry=BatchRetry(attempts=3, sleep=lambda _: None)))  # type: ignore[arg-type]
    assert stuck.calls == [3, 1, 1]


def test_a_researcher_and_their_token_are_read_in_one_call(aws: AwsEnv) -> None:
    researchers, tokens = composition.researcher_store(), composition.token_store()
    researchers.upsert_profile(_researcher("r1", orcid=ORCID))
    researchers.upsert_profile(_researcher("r2"))
    cipher = EnvelopeTokenCipher(KmsDataKeys(boto3.client("kms"), aws.key_id))
    token = StoredToken(
        researcher_id="r1",
        orcid=ORCID,
        access_token=cipher.batch().seal("r1", "secret"),
        scopes=["/activities/update"],
        expires_at=datetime.now(UTC) + timedelta(days=365),
        source=TokenSource.IMPORT,
        stored_at=datetime.now(UTC),
        fingerprint="abc",
    )
    tokens.put(token)
    read = ResearcherWithToken(researchers, tokens)
    # Then both come back as the two stores read them, in one TransactGetItems
    assert read("r1") == (researchers.get("r1"), tokens.get("r1"))
    assert read("r2") == (researchers.get("r2"), None)
    assert read("nobody") == (None, None)

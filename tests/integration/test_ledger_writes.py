"""The push ledger's batched writes against moto: BatchWriteItem of 25, unprocessed items, the fingerprint last."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.client import BaseClient

from orcid_sync.adapters.dynamodb.batch_retry import BatchRetry
from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore
from orcid_sync.domain.push.ledger import (
    EmploymentEntry,
    LedgerBuffer,
    LedgerChanges,
    LedgerWriteError,
    ResearcherUrlEntry,
    WorkEntry,
)
from tests.support.aws import AwsEnv

AT = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def entry(n: int) -> WorkEntry:
    return WorkEntry(asset_id=f"a{n:03d}", put_code=1000 + n, content_hash=f"h{n}", last_pushed_at=AT)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """DynamoDB operations made during the test, by name."""
    made: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(client: BaseClient, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            made[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return made


def test_a_bulk_answer_of_100_works_is_four_batch_writes(aws: AwsEnv, calls: Counter[str]) -> None:
    store = DynamoLedgerStore(aws.table("LEDGER_TABLE"))
    buffer = LedgerBuffer(store, "r1")
    for n in range(100):
        buffer.put_work(entry(n))

    buffer.flush()

    assert calls == {"BatchWriteItem": 4}
    assert len(store.load("r1").works) == 100


def test_the_last_answer_the_link_the_employment_and_the_fingerprint_are_one_call(
    aws: AwsEnv, calls: Counter[str]
) -> None:
    store = DynamoLedgerStore(aws.table("LEDGER_TABLE"))
    buffer = LedgerBuffer(store, "r1")
    for n in range(20):
        buffer.put_work(entry(n))
    buffer.put_researcher_url(ResearcherUrlEntry(put_code=7, content_hash="u", last_pushed_at=AT))
    buffer.put_employment(EmploymentEntry(put_code=8, content_hash="e", last_pushed_at=AT))
    buffer.set_fingerprint("fp", AT)

    buffer.flush()

    assert calls == {"BatchWriteItem": 1}
    ledger = store.load("r1")
    assert (len(ledger.works), ledger.fingerprint) == (20, "fp")
    assert ledger.researcher_url is not None and ledger.researcher_url.put_code == 7
    assert ledger.employment is not None and ledger.employment.put_code == 8
    # The push-state item keeps its shape (the resend benchmark reads its "at")
    item = aws.table("LEDGER_TABLE").get_item(Key={"researcher_id": "r1", "item": "push-state"})["Item"]
    assert item["at"] == AT.isoformat()


def test_the_last_write_of_an_item_wins_and_a_single_change_is_one_plain_call(aws: AwsEnv, calls: Counter[str]) -> None:
    store = DynamoLedgerStore(aws.table("LEDGER_TABLE"))
    store.put_work("r1", entry(1))
    buffer = LedgerBuffer(store, "r1")
    buffer.put_work(entry(2))
    buffer.delete_work("a002")  # a put, then a delete: a delete (BatchWriteItem refuses one key twice)
    buffer.delete_work("a001")
    buffer.set_fingerprint(None, AT)
    buffer.set_fingerprint("new", AT)  # forgotten, then recorded: recorded

    buffer.flush()
    buffer.flush()  # nothing held: no call

    assert calls == {"PutItem": 1, "BatchWriteItem": 1}
    ledger = store.load("r1")
    assert (ledger.works, ledger.fingerprint) == ({}, "new")


class Unprocessing:
    """The table, but its client leaves items unprocessed: the last item of each of the first ``times`` calls,
    or with ``stuck``, every item whose sort key it names, always."""

    def __init__(self, table: Any, *, times: int = 0, stuck: str | None = None) -> None:
        self._table = table
        self.name = table.name
        self.batches: list[int] = []
        outer = self

        def batch_write_item(RequestItems: dict[str, Any]) -> dict[str, Any]:
            requests = RequestItems[outer.name]
            outer.batches.append(len(requests))
            if stuck is not None:
                left = [r for r in requests if _sort_key(r) == stuck]
            else:
                left = requests[-1:] if len(outer.batches) <= times else []
            done = [r for r in requests if r not in left]
            if done:
                table.meta.client.batch_write_item(RequestItems={outer.name: done})
            return {"UnprocessedItems": {outer.name: left}} if left else {}

        self.meta = type(
            "Meta", (), {"client": type("Client", (), {"batch_write_item": staticmethod(batch_write_item)})}
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _sort_key(request: dict[str, Any]) -> str:
    body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key") or {}
    return str(body.get("item"))


def test_unprocessed_items_are_sent_again_with_exponential_backoff_and_jitter(aws: AwsEnv) -> None:
    table = Unprocessing(aws.table("LEDGER_TABLE"), times=3)
    sleeps: list[float] = []
    store = DynamoLedgerStore(table, retry=BatchRetry(rng=random.Random(1), sleep=sleeps.append))  # type: ignore[arg-type]

    store.write("r1", LedgerChanges(works={e.asset_id: e for e in map(entry, range(10))}))

    assert table.batches == [10, 1, 1, 1]
    assert len(sleeps) == 3
    # Full jitter under a ceiling that doubles: 0.05 s x 2, x 4, x 8
    assert all(0 <= wait <= 0.05 * 2**attempt for attempt, wait in enumerate(sleeps, start=1))
    assert len(store.load("r1").works) == 10


def test_items_left_unprocessed_for_good_fail_the_write_and_forget_a_fingerprint_that_landed(aws: AwsEnv) -> None:
    # Given a work entry DynamoDB never takes, in the same call as the fingerprint
    real = aws.table("LEDGER_TABLE")
    table = Unprocessing(real, stuck="work#a001")
    store = DynamoLedgerStore(table, retry=BatchRetry(attempts=3, sleep=lambda _: None))  # type: ignore[arg-type]
    changes = LedgerChanges(works={e.asset_id: e for e in map(entry, range(3))}, fingerprint=("fp", AT))

    with pytest.raises(LedgerWriteError, match="stayed unprocessed"):
        store.write("r1", changes)

    # Then the fingerprint that landed is gone again: the next push is not skipped with an entry missing
    assert table.batches == [4, 1, 1]
    ledger = store.load("r1")
    assert ledger.fingerprint is None
    assert sorted(ledger.works) == ["a000", "a002"]


def test_opt_outs_are_items_of_the_researchers_partition_read_in_the_same_query(
    aws: AwsEnv, calls: Counter[str]
) -> None:
    from orcid_sync.adapters.dynamodb.pull_ledger import DynamoPullLedgerStore
    from orcid_sync.domain.pull.ledger import PulledEntry

    table = aws.table("LEDGER_TABLE")
    store = DynamoLedgerStore(table)
    store.write("r1", LedgerChanges(works={"a001": entry(1)}))
    DynamoPullLedgerStore(table).mark_pulled("r1", [PulledEntry(key="doi:10.1/x", job_id="j", pulled_at=AT)])
    # When the researcher opts out of two assets (one we never sent), and another researcher of one
    store.set_opted_out("r1", "a001", True, at=AT)
    store.set_opted_out("r1", "a002", True, at=AT)
    store.set_opted_out("r2", "a003", True, at=AT)
    calls.clear()
    ledger = store.load("r1")
    # Then one Query reads them with the entries, nothing of the pull's or another researcher's
    assert calls == {"Query": 1}
    assert ledger.opted_out == {"a001", "a002"}
    assert set(ledger.works) == {"a001"}
    item = table.get_item(Key={"researcher_id": "r1", "item": "optout#a001"})["Item"]
    assert (item["kind"], item["by"], item["at"]) == ("preference", "researcher", AT.isoformat())
    # And the pull ledger still reads only its own items
    assert set(DynamoPullLedgerStore(table).load("r1")) == {"doi:10.1/x"}
    # Opting back in removes the item
    store.set_opted_out("r1", "a001", False, at=AT)
    assert store.load("r1").opted_out == {"a002"}
    assert "Item" not in table.get_item(Key={"researcher_id": "r1", "item": "optout#a001"})

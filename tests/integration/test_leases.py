"""Per-researcher leases in the StateTable against moto: one holder at a time, lapsing, released only by the holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore, lease_key
from orcid_sync.domain.push.leases import LeaseHeldError
from tests.support.aws import AwsEnv

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
SIX_MINUTES = timedelta(minutes=6)


@pytest.fixture
def leases(aws: AwsEnv) -> DynamoLeaseStore:
    return DynamoLeaseStore(aws.table("STATE_TABLE"))


def test_a_held_lease_refuses_everyone_else_and_names_its_holder(leases: DynamoLeaseStore) -> None:
    held = leases.acquire("r1", job_id="push-nightly", now=NOW, duration=SIX_MINUTES)
    with pytest.raises(LeaseHeldError) as refused:
        leases.acquire("r1", job_id="push-manual", now=NOW + timedelta(seconds=5), duration=SIX_MINUTES)
    assert refused.value.held.job_id == "push-nightly"
    assert refused.value.held.holder == held.holder
    assert refused.value.held.expires_at == NOW + SIX_MINUTES
    # Another researcher is free
    leases.acquire("r2", job_id="push-manual", now=NOW, duration=SIX_MINUTES)


def test_a_released_lease_is_free_and_only_its_holder_can_release_it(leases: DynamoLeaseStore) -> None:
    first = leases.acquire("r1", job_id="push-a", now=NOW, duration=SIX_MINUTES)
    leases.release(first)
    second = leases.acquire("r1", job_id="push-b", now=NOW, duration=SIX_MINUTES)
    # The first holder releasing again (late) does not free the second holder's lease
    leases.release(first)
    with pytest.raises(LeaseHeldError):
        leases.acquire("r1", job_id="push-c", now=NOW, duration=SIX_MINUTES)
    leases.release(second)


def test_a_lease_whose_holder_died_lapses(leases: DynamoLeaseStore, aws: AwsEnv) -> None:
    leases.acquire("r1", job_id="push-crashed", now=NOW, duration=SIX_MINUTES)
    with pytest.raises(LeaseHeldError):
        leases.acquire("r1", job_id="push-next", now=NOW + SIX_MINUTES - timedelta(seconds=1), duration=SIX_MINUTES)
    taken = leases.acquire("r1", job_id="push-next", now=NOW + SIX_MINUTES, duration=SIX_MINUTES)
    assert taken.job_id == "push-next"
    item = aws.table("STATE_TABLE").get_item(Key={"id": lease_key("push", "r1")})["Item"]
    # The table's TTL removes a forgotten lease a day after it lapsed
    assert int(item["expiration"]) == int((NOW + 2 * SIX_MINUTES + timedelta(days=1)).timestamp())

"""Per-researcher leases in the StateTable against moto: one holder at a time, lapsing, released only by the holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore
from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore, DynamoPushCompletion, lease_key
from orcid_sync.adapters.dynamodb.stores import DynamoResearcherStore
from orcid_sync.domain.jobs.models import Job, JobCounts, JobTrigger, JobType, ResearcherOutcome
from orcid_sync.domain.models import ResearcherInput
from orcid_sync.domain.push.leases import LeaseHeldError, ResearcherSync
from tests.support.aws import AwsEnv

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
SIX_MINUTES = timedelta(minutes=6)
ORCID = "0000-0002-1825-0097"


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


# --- the write that ends a push: counted, synced, lease given up, unless the run may be complete -------------


@pytest.fixture
def completion(aws: AwsEnv, leases: DynamoLeaseStore) -> tuple[DynamoPushCompletion, DynamoJobStore]:
    jobs = DynamoJobStore(aws.table("JOBS_TABLE"))
    researchers = DynamoResearcherStore(aws.table("RESEARCHERS_TABLE"))
    researchers.upsert_profile(ResearcherInput(id="r1", given_names="Josiah", family_name="Carberry", orcid=ORCID))
    jobs.create(Job(job_id="push-1", type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="t", started_at=NOW))
    return DynamoPushCompletion(jobs, researchers, leases), jobs


def _outcome(rid: str = "r1") -> ResearcherOutcome:
    return ResearcherOutcome(researcher_id=rid, counts=JobCounts(works_created=2), updated=True)


def test_a_push_that_cannot_end_its_run_is_counted_synced_and_released_in_one_write(
    completion: tuple[DynamoPushCompletion, DynamoJobStore], leases: DynamoLeaseStore, aws: AwsEnv
) -> None:
    recorder, jobs = completion
    jobs.set_expected("push-1", 2)
    lease = leases.acquire("r1", job_id="push-1", now=NOW, duration=SIX_MINUTES)
    sync = ResearcherSync(researcher_id="r1", at=NOW, confirm_orcid=ORCID)
    assert recorder.record_unless_last("push-1", _outcome(), lease=lease, sync=sync)
    job = jobs.get("push-1")
    assert job is not None and job.counts.researchers_processed == 1 and job.counts.works_created == 2
    assert not job.is_complete
    researcher = aws.table("RESEARCHERS_TABLE").get_item(Key={"id": "r1"})["Item"]
    assert researcher["last_sync_at"] == NOW.isoformat() and researcher["orcid_authenticated"] is True
    leases.acquire("r1", job_id="push-2", now=NOW, duration=SIX_MINUTES)  # free again
    # A redelivery of the same researcher writes nothing: counted once
    assert not recorder.record_unless_last("push-1", _outcome(), lease=None, sync=None)
    assert jobs.get("push-1").counts.researchers_processed == 1  # type: ignore[union-attr]


def test_the_runs_last_researcher_is_left_to_the_usual_way(
    completion: tuple[DynamoPushCompletion, DynamoJobStore], leases: DynamoLeaseStore
) -> None:
    recorder, jobs = completion
    # Before the fan-out has said how many to expect, no researcher can complete the run
    assert recorder.record_unless_last("push-1", _outcome("r0"), lease=None, sync=None)
    jobs.set_expected("push-1", 2)
    lease = leases.acquire("r1", job_id="push-1", now=NOW, duration=SIX_MINUTES)
    sync = ResearcherSync(researcher_id="r1", at=NOW)
    # r1 would complete the run: nothing is written (the lease is still held, nobody counted)
    assert not recorder.record_unless_last("push-1", _outcome(), lease=lease, sync=sync)
    assert jobs.get("push-1").counts.researchers_processed == 1  # type: ignore[union-attr]
    with pytest.raises(LeaseHeldError):
        leases.acquire("r1", job_id="push-2", now=NOW, duration=SIX_MINUTES)
    # The usual way counts it and reads the run back, complete
    job = jobs.record_outcome("push-1", _outcome())
    assert job is not None and job.is_complete


@pytest.mark.parametrize("why", ["lease lost", "researcher gone", "iD changed"])
def test_nothing_is_written_when_any_write_of_the_end_fails_its_condition(
    completion: tuple[DynamoPushCompletion, DynamoJobStore], leases: DynamoLeaseStore, aws: AwsEnv, why: str
) -> None:
    recorder, jobs = completion
    jobs.set_expected("push-1", 5)
    lease = leases.acquire("r1", job_id="push-1", now=NOW, duration=SIX_MINUTES)
    sync = ResearcherSync(researcher_id="r1", at=NOW, confirm_orcid=ORCID)
    if why == "lease lost":
        leases.release(lease)
        leases.acquire("r1", job_id="push-2", now=NOW, duration=SIX_MINUTES)
    elif why == "researcher gone":
        aws.table("RESEARCHERS_TABLE").delete_item(Key={"id": "r1"})
    else:
        sync = ResearcherSync(researcher_id="r1", at=NOW, confirm_orcid="0000-0001-5109-3700")
    assert not recorder.record_unless_last("push-1", _outcome(), lease=lease, sync=sync)
    assert jobs.get("push-1").counts.researchers_processed == 0  # type: ignore[union-attr]

"""Per-researcher leases: one worker at a time writes a researcher's ORCID record and ledger.

StateTable item ``id = lease#<scope>#<researcher_id>`` (scope ``push``): ``holder`` (this attempt's
unique id), ``job_id``, ``acquired_at``, ``expires_at`` (epoch seconds) and ``expiration`` (the
table's TTL attribute, a day later, so abandoned leases clean themselves up).

Taking a lease is one conditional UpdateItem: it succeeds when nobody holds the lease or the
holder's lease has expired; otherwise DynamoDB hands back the current holder
(``ReturnValuesOnConditionCheckFailure``), so the caller learns who is busy and until when without
a second read. Releasing is conditional on still being the holder: a worker whose lease expired
and was taken over can never free the new holder's lease.

A push usually gives its lease up in the write that counts the researcher in the run
(:class:`DynamoPushCompletion`): one TransactWriteItems instead of four calls.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orcid_sync.domain.jobs.models import ResearcherOutcome
from orcid_sync.domain.push.leases import Lease, LeaseHeldError, ResearcherSync

if TYPE_CHECKING:
    from orcid_sync.adapters.dynamodb.job_store import DynamoJobStore
    from orcid_sync.adapters.dynamodb.stores import DynamoResearcherStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_PREFIX = "lease#"
_TTL_GRACE = timedelta(days=1)


def lease_key(scope: str, researcher_id: str) -> str:
    return f"{_PREFIX}{scope}#{researcher_id}"


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


class DynamoLeaseStore:
    """Leases in the StateTable (GetItem/UpdateItem only, which every worker already may do there)."""

    def __init__(self, table: Table, *, scope: str = "push") -> None:
        self._table = table
        self._scope = scope

    def acquire(self, researcher_id: str, *, job_id: str, now: datetime, duration: timedelta) -> Lease:
        lease = Lease(
            researcher_id=researcher_id,
            holder=f"{job_id}#{uuid.uuid4().hex}",
            job_id=job_id,
            expires_at=now + duration,
        )
        try:
            self._table.update_item(
                Key={"id": lease_key(self._scope, researcher_id)},
                UpdateExpression=(
                    "SET holder = :holder, job_id = :job, researcher_id = :rid, acquired_at = :at, "
                    "expires_at = :expires, expiration = :ttl"
                ),
                ConditionExpression="attribute_not_exists(holder) OR expires_at <= :now",
                ExpressionAttributeValues={
                    ":holder": lease.holder,
                    ":job": job_id,
                    ":rid": researcher_id,
                    ":at": now.astimezone(UTC).isoformat(),
                    ":expires": _epoch(lease.expires_at),
                    ":ttl": _epoch(lease.expires_at + _TTL_GRACE),
                    ":now": _epoch(now),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise LeaseHeldError(self._held(researcher_id, exc.response.get("Item"))) from None  # type: ignore[arg-type]
        return lease

    @staticmethod
    def _held(researcher_id: str, item: dict[str, Any] | None) -> Lease:
        """The holder as DynamoDB returned it (low-level attribute values)."""
        item = item or {}

        def text(name: str) -> str:
            return str((item.get(name) or {}).get("S", ""))

        expires = int((item.get("expires_at") or {}).get("N", "0"))
        return Lease(
            researcher_id=researcher_id,
            holder=text("holder"),
            job_id=text("job_id"),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def _release(self, lease: Lease) -> dict[str, Any]:
        return {
            "Key": {"id": lease_key(self._scope, lease.researcher_id)},
            "UpdateExpression": "REMOVE holder SET expires_at = :zero",
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeValues": {":holder": lease.holder, ":zero": 0},
        }

    def release_write(self, lease: Lease) -> dict[str, Any]:
        """Releasing ``lease`` as one write of a transaction (on condition it is still held by its holder)."""
        return {"Update": {"TableName": self._table.name, **self._release(lease)}}

    def release(self, lease: Lease) -> None:
        try:
            self._table.update_item(**self._release(lease))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class DynamoPushCompletion:
    """The end of a researcher's push in one TransactWriteItems: the run's DONE marker and counters (JobsTable), the
    researcher's sync date (ResearchersTable) and the lease given up (StateTable), on condition that the run is not
    complete after it: then nobody needs to read the run back (see ``PushCompletion``).

    Each write keeps its own condition (a new marker, the researcher still there with the same iD, the lease still
    ours); when any fails, or the researcher may be the run's last, nothing is written and the push ends the usual
    way. IAM authorises each write as the PutItem/UpdateItem it is, which the push worker may do on those tables.
    """

    def __init__(self, jobs: DynamoJobStore, researchers: DynamoResearcherStore, leases: DynamoLeaseStore) -> None:
        self._jobs = jobs
        self._researchers = researchers
        self._leases = leases

    def record_unless_last(
        self, job_id: str, outcome: ResearcherOutcome, *, lease: Lease | None, sync: ResearcherSync | None
    ) -> bool:
        writes = [*self._jobs.outcome_writes(job_id, outcome, unless_last=True)]
        if sync is not None:
            writes.append(self._researchers.sync_write(sync))
        if lease is not None:
            writes.append(self._leases.release_write(lease))
        try:
            self._jobs.transact(writes)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return False
        return True

"""Job runs in the JobsTable: the run (META), its events (EVENT#…) and exactly-once markers (DONE#…).

Item layout under one partition ``job_id``:

- ``META``: the run; each counter is its own top-level number attribute (``c_<name>``) so that
  concurrent workers ADD to it without reading it first.
- ``DONE#<researcher_id>``: written in the same transaction as the ADD, on condition that it does
  not exist yet, so a redelivered SQS message cannot count a researcher twice.
- ``EVENT#<rank>-<level>#<researcher or ->#<sha256 of the content>``: a redelivered message
  rewrites the same items instead of adding copies; the level prefix lists errors first and
  lets the finisher read the first errors with one Query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from orcid_sync.adapters.dynamodb.pagination import query_pages
from orcid_sync.adapters.dynamodb.stores import decode_cursor, encode_cursor
from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.jobs.models import COUNT_FIELDS, Job, JobCounts, JobEvent, JobState, JobType, ResearcherOutcome
from orcid_sync.domain.jobs.store import outcome_delta
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.ports import Page

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

META = "META"
DONE_PREFIX = "DONE#"
EVENT_PREFIX = "EVENT#"
LIST_PK = "JOB"
"""Every run shares this GSI partition key: a few runs a day never make it hot."""
RETENTION = timedelta(days=400)
"""Job history outlives a year of daily runs, so last year's run of the same day can be compared."""
BEFORE_LAST = "before_last"
"""``expected - 1``, set with ``expected``: fewer researchers processed than this, and one more cannot complete the run
(a condition expression compares attributes but does no arithmetic)."""
FINISH_CLAIM_STALE_AFTER = timedelta(minutes=15)
"""No Lambda invocation lives longer than 15 minutes: an older claim belongs to a finisher that crashed."""


def _iso(value: datetime) -> str:
    # One timezone and one format, so ISO strings sort as the instants they are (the GSI sorts on them).
    return value.astimezone(UTC).isoformat()


def _expires_at(started_at: datetime) -> int:
    return int((started_at + RETENTION).timestamp())


def _count_attr(name: str) -> str:
    return f"c_{name}"


_LEVEL_RANK = {"error": "1-error", "warning": "2-warning", "info": "3-info"}


def event_sort_key(event: JobEvent) -> str:
    """Deterministic key of an event: the same event reported twice lands on the same item."""
    content = event.model_dump(mode="json", exclude={"at"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]
    return f"{EVENT_PREFIX}{_LEVEL_RANK[event.level]}#{event.researcher_id or '-'}#{digest}"


class DynamoJobStore:
    """Job runs, their events and completion markers in the JobsTable."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # --- the run --------------------------------------------------------------------------

    def create(self, job: Job) -> None:
        item: dict[str, Any] = {
            "job_id": job.job_id,
            "sk": META,
            "list_pk": LIST_PK,
            "started_at": _iso(job.started_at),
            "type": job.type.value,
            "trigger": job.trigger.value,
            "started_by": job.started_by,
            "state": job.state.value,
            "dry_run": job.dry_run,
            # JSON text: options may hold floats, which the DynamoDB serialiser refuses.
            "options": json.dumps(job.options, sort_keys=True),
            "expires_at": _expires_at(job.started_at),
        }
        item |= {_count_attr(name): value for name, value in job.counts.model_dump().items()}
        if job.expected is not None:
            item["expected"] = job.expected
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"job {job.job_id} already exists") from None
            raise

    @staticmethod
    def _job(item: dict[str, Any]) -> Job:
        counts = JobCounts(**{name: int(item.get(_count_attr(name), 0)) for name in COUNT_FIELDS})
        return Job(
            job_id=item["job_id"],
            type=item["type"],
            trigger=item["trigger"],
            started_by=item["started_by"],
            started_at=item["started_at"],
            ended_at=item.get("ended_at"),
            state=item["state"],
            dry_run=bool(item.get("dry_run", False)),
            options=json.loads(item.get("options") or "{}"),
            counts=counts,
            expected=int(item["expected"]) if "expected" in item else None,
            csv_uri=item.get("csv_uri"),
            csv_rows=int(item["csv_rows"]) if "csv_rows" in item else None,
            report=json.loads(item["report"]) if item.get("report") else None,
        )

    def get(self, job_id: str) -> Job | None:
        item = self._table.get_item(Key={"job_id": job_id, "sk": META}, ConsistentRead=True).get("Item")
        return self._job(item) if item else None

    def list(
        self, *, job_type: JobType | None = None, state: JobState | None = None, limit: int, cursor: str | None = None
    ) -> Page[Job]:
        # A filter applies after DynamoDB's Limit, so read on until the page is full and hand out
        # the key of the last job returned: filtered pages are never short or empty by accident.
        start = decode_cursor(cursor)
        filters = [Attr(name).eq(value.value) for name, value in (("type", job_type), ("state", state)) if value]
        condition: ConditionBase | None = None
        for clause in filters:
            condition = clause if condition is None else condition & clause
        kwargs: dict[str, Any] = {
            "IndexName": "by-start",
            "KeyConditionExpression": Key("list_pk").eq(LIST_PK),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if condition is not None:
            kwargs["FilterExpression"] = condition
        if start:
            kwargs["ExclusiveStartKey"] = start
        jobs: list[Job] = []
        for response in query_pages(self._table, **kwargs):
            for item in response["Items"]:
                jobs.append(self._job(item))
                if len(jobs) == limit:
                    last = {k: item[k] for k in ("job_id", "sk", "list_pk", "started_at")}
                    more = "LastEvaluatedKey" in response or item is not response["Items"][-1]
                    return Page[Job](items=jobs, next_cursor=encode_cursor(last) if more else None)
        return Page[Job](items=jobs)

    def _update(self, job_id: str, expression: str, values: dict[str, Any], names: dict[str, str] | None = None) -> Job:
        kwargs: dict[str, Any] = {
            "Key": {"job_id": job_id, "sk": META},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(job_id)",
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            response = self._table.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError(f"job {job_id} does not exist") from None
            raise
        return self._job(response["Attributes"])

    def set_expected(self, job_id: str, expected: int) -> Job:
        return self._update(
            job_id,
            f"SET expected = :e, {_count_attr('researchers_eligible')} = :e, {BEFORE_LAST} = :b",
            {":e": expected, ":b": expected - 1},
        )

    def set_csv(self, job_id: str, *, csv_uri: str, csv_rows: int) -> Job:
        return self._update(job_id, "SET csv_uri = :u, csv_rows = :r", {":u": csv_uri, ":r": csv_rows})

    def set_counts(self, job_id: str, counts: JobCounts) -> None:
        values = {f":{name}": value for name, value in counts.model_dump().items()}
        sets = ", ".join(f"{_count_attr(name)} = :{name}" for name in COUNT_FIELDS)
        self._update(job_id, "SET " + sets, values)

    def outcome_writes(
        self, job_id: str, outcome: ResearcherOutcome, *, unless_last: bool = False
    ) -> Sequence[dict[str, Any]]:
        """The two writes of a transaction that counts ``outcome`` once: the DONE marker (on condition it is new),
        then the counters' ADD (on condition the run exists; with ``unless_last``, also that the run is not complete
        after it: ``expected`` not set yet, or fewer than ``expected - 1`` researchers processed before it)."""
        delta = outcome_delta(outcome).model_dump()
        adds = [f"{_count_attr(name)} :{name}" for name, value in delta.items() if value]
        values: dict[str, Any] = {f":{n}": v for n, v in delta.items() if v}
        condition = "attribute_exists(job_id)"
        if unless_last:
            processed = _count_attr("researchers_processed")
            condition += f" AND (attribute_not_exists(expected) OR {processed} < {BEFORE_LAST})"
        marker: dict[str, Any] = {
            "job_id": job_id,
            "sk": f"{DONE_PREFIX}{outcome.researcher_id}",
            "updated": outcome.updated,
            "failed": outcome.failed,
            "recorded_at": _iso(utc_now()),
            "expires_at": _expires_at(utc_now()),
        }
        return [
            {"Put": {"TableName": self._table.name, "Item": marker, "ConditionExpression": "attribute_not_exists(sk)"}},
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": {"job_id": job_id, "sk": META},
                    "UpdateExpression": "ADD " + ", ".join(adds),
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            },
        ]

    def transact(self, writes: Sequence[dict[str, Any]]) -> None:
        """One TransactWriteItems (the resource's client (de)serialises plain Python values itself)."""
        self._table.meta.client.transact_write_items(TransactItems=list(writes))  # type: ignore[arg-type]

    def record_outcome(self, job_id: str, outcome: ResearcherOutcome) -> Job | None:
        try:
            self.transact(self.outcome_writes(job_id, outcome))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise NotFoundError(f"job {job_id} does not exist") from None
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return None
            raise
        job = self.get(job_id)
        if job is None:  # deleted between the transaction and the read: only by hand
            raise NotFoundError(f"job {job_id} does not exist")
        return job

    def claim_finish(self, job_id: str, *, now: datetime | None = None) -> bool:
        now = now or utc_now()
        try:
            self._table.update_item(
                Key={"job_id": job_id, "sk": META},
                UpdateExpression="SET finish_claimed_at = :now",
                ConditionExpression=(
                    "#state = :running AND (attribute_not_exists(finish_claimed_at) OR finish_claimed_at < :stale)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":now": _iso(now),
                    ":running": JobState.RUNNING.value,
                    ":stale": _iso(now - FINISH_CLAIM_STALE_AFTER),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        ended_at: datetime,
        csv_uri: str | None = None,
        csv_rows: int | None = None,
        report: dict[str, Any] | None = None,
        counts: JobCounts | None = None,
    ) -> Job:
        sets = ["#state = :state", "ended_at = :ended"]
        values: dict[str, Any] = {":state": state.value, ":ended": _iso(ended_at)}
        if csv_uri is not None:
            sets.append("csv_uri = :csv_uri")
            values[":csv_uri"] = csv_uri
        if csv_rows is not None:
            sets.append("csv_rows = :csv_rows")
            values[":csv_rows"] = csv_rows
        if report is not None:
            sets.append("report = :report")
            values[":report"] = json.dumps(report, sort_keys=True, default=str)
        if counts is not None:
            for name, value in counts.model_dump().items():
                sets.append(f"{_count_attr(name)} = :{name}")
                values[f":{name}"] = value
        return self._update(job_id, "SET " + ", ".join(sets), values, {"#state": "state"})

    # --- events ---------------------------------------------------------------------------

    def add_events(self, job_id: str, events: Sequence[JobEvent]) -> None:
        if not events:
            return
        expires_at = _expires_at(utc_now())
        with self._table.batch_writer(overwrite_by_pkeys=["job_id", "sk"]) as writer:
            for event in events:
                writer.put_item(
                    Item={
                        "job_id": job_id,
                        "sk": event_sort_key(event),
                        "doc": event.model_dump_json(),
                        "expires_at": expires_at,
                    }
                )

    def list_events(
        self, job_id: str, *, limit: int, cursor: str | None = None, level: str | None = None
    ) -> Page[JobEvent]:
        prefix = EVENT_PREFIX + (f"{_LEVEL_RANK[level]}#" if level else "")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("job_id").eq(job_id) & Key("sk").begins_with(prefix),
            "Limit": limit,
            "ConsistentRead": True,
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._table.query(**kwargs)
        events = [JobEvent.model_validate_json(item["doc"]) for item in response["Items"]]  # type: ignore[arg-type]
        return Page[JobEvent](items=events, next_cursor=encode_cursor(response.get("LastEvaluatedKey")))

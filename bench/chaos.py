"""``make chaos``: push and pull under injected faults, then prove nothing was lost or written twice.

The ORCID sandbox answers a share of requests with 500/503, delays every request, drops connections
(nothing applied) and loses responses (applied, but the client gets a 500). On top of that, some push
workers "crash" between an ORCID write and its ledger write (the ledger store raises once, the worker
fails the message, SQS brings it back), and some researchers' tasks are delivered twice more, as SQS
may. When the jobs and their retries have settled, the checks compare ORCID (the sandbox's record
state) with what the repository wants and with the ledger, and read the jobs' events and the DLQs.

Two workers on one researcher (issue 13): while the first push runs, an administrator starts a
second ``jobs run push`` for the same researchers (the overlapping job), and one researcher's task is
delivered twice at the same moment (two invocations of the push worker with the same SQS record). A
rendezvous holds the first worker to reach each of those researchers until the other one has come
(refused by the researcher's lease, or — without leases — inside the push beside it); for the
overlapping job, the other job's task for that researcher is delivered as the first worker starts
(as SQS would, had it been at the head of the queue), so the meetings happen on every run, whatever
its size. The check is that no researcher is ever pushed by two workers at once.

``tests/e2e/test_chaos.py`` runs a small plan in CI; ``make chaos`` a bigger one.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import requests
from rich.console import Console
from rich.table import Table

from orcid_sync_local.stack import REPO_ROOT, LocalStack

from .scenarios import ORCID_BURST, ORCID_RATE, landed_template
from .workload import OTHER_SOURCE, Fleet, Workload, asset, assets_for, pulled_work

SOURCE_WORK_ID = "source-work-id"


@dataclass(frozen=True)
class ChaosPlan:
    """How big the run is and what goes wrong in it."""

    researchers: int = 6
    assets_per_researcher: int = 30
    pull_works: int = 8
    error_rate: float = 0.10
    error_statuses: tuple[int, ...] = (500, 503)
    latency_ms: float = 20.0
    drop_rate: float = 0.03
    lost_response_rate: float = 0.05
    seed: int = 9
    crashes: int = 2  # researchers whose push worker dies once between an ORCID write and its ledger write
    crash_after_writes: int = 1  # ... after this many of their ledger entries were written
    duplicate_deliveries: int = 2  # researchers whose push and pull tasks SQS delivers twice more
    overlapping_job: bool = True  # a second push job for the same researchers while the first runs
    concurrent_duplicates: bool = True  # one researcher's push task delivered twice at the same moment
    # Failed messages come back after VisibilityTimeout x this (at least 1 s) instead of 30 minutes.
    visibility_scale: float = 0.001


@dataclass
class ChaosReport:
    """The figures of a run, and every check that did not hold (empty when all is well)."""

    plan: ChaosPlan
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def check(self, holds: bool, violation: str) -> None:
        if not holds:
            self.violations.append(violation)


class SimulatedCrashError(RuntimeError):
    """Raised by the ledger store in place of a worker dying after its ORCID write."""


class CrashInjector:
    """Makes a ledger write raise once per chosen researcher, after a given number of their writes.

    Push: ``DynamoLedgerStore.write``, which writes what ORCID accepted (a bulk answer's entries, in
    BatchWriteItem calls of 25) before the researcher's next works request and at the end: the writes
    are counted per entry, and the write that would record entry ``after_writes + 1`` records only the
    first ``after_writes`` of its works and raises, as a worker dying between two BatchWriteItem calls.
    Pull: ``DynamoPullLedgerStore.mark_pulled``, called right after the researcher's CSV part was
    written, counted per call. Either way the worker fails the message, as if it had died there, and
    SQS delivers it again.
    """

    def __init__(self, kind: str, researchers: set[str], after_writes: int) -> None:
        self.kind = kind
        self.researchers = researchers
        self.after_writes = after_writes
        self.writes: Counter[str] = Counter()
        self.crashed: set[str] = set()
        self._lock = threading.Lock()

    def _allowance(self, researcher_id: str, size: int) -> int | None:
        """None to let a write of ``size`` through; else how many of it to write before crashing."""
        with self._lock:
            if researcher_id not in self.researchers or researcher_id in self.crashed:
                self.writes[researcher_id] += size
                return None
            left = self.after_writes - self.writes[researcher_id]
            if size <= left:
                self.writes[researcher_id] += size
                return None
            self.crashed.add(researcher_id)
            self.writes[researcher_id] += max(0, left)
            return max(0, left)

    @contextmanager
    def installed(self) -> Iterator[CrashInjector]:
        # Imported only now: the stack has set the functions' environment (see bench.workload).
        from orcid_sync.adapters.dynamodb.pull_ledger import DynamoPullLedgerStore
        from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore
        from orcid_sync.domain.push.ledger import LedgerChanges

        injector = self
        message = f"simulated {self.kind} worker crash before its ledger write"
        owner: Any
        if self.kind == "push":
            owner, name = DynamoLedgerStore, "write"
            original = owner.write

            def crashing(store: Any, researcher_id: str, changes: Any) -> None:
                allowed = injector._allowance(researcher_id, len(changes))
                if allowed is None:
                    original(store, researcher_id, changes)
                    return
                first = dict(list(changes.works.items())[:allowed])
                if first:
                    original(store, researcher_id, LedgerChanges(works=first))
                raise SimulatedCrashError(message)

        else:
            owner, name = DynamoPullLedgerStore, "mark_pulled"
            original = owner.mark_pulled

            def crashing(store: Any, researcher_id: str, changes: Any) -> None:
                if injector._allowance(researcher_id, 1) is not None:
                    raise SimulatedCrashError(message)
                original(store, researcher_id, changes)

        setattr(owner, name, crashing)
        try:
            yield self
        finally:
            setattr(owner, name, original)


class DeliveryCounter:
    """Counts how often each (job, researcher) task reached the use case: SQS redeliveries included.

    The handlers call ``process_push_task`` / ``pull_researcher``, which look ``push_researcher`` /
    ``pull_researcher_works`` up in their module on every call, so wrapping those counts every container.
    """

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()  # a push worker runs its batch's tasks in threads

    @contextmanager
    def installed(self) -> Iterator[DeliveryCounter]:
        target = importlib.import_module(self.module)
        original = getattr(target, self.function)
        counter = self

        def counted(task: Any, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:
                counter.deliveries[(task.job_id, task.researcher_id)] += 1
            return original(task, *args, **kwargs)

        setattr(target, self.function, counted)
        try:
            yield self
        finally:
            setattr(target, self.function, original)

    @property
    def redeliveries(self) -> int:
        return sum(count - 1 for count in self.deliveries.values())


@dataclass
class Rendezvous:
    """Holds the first worker to reach ``researcher_id`` inside the push until a second one came for them.

    ``other_job``: the second must belong to another job (the overlapping job) or the same job (a
    duplicate delivery). It comes either refused by the lease (``refused``) or, without leases, into the
    push beside the first (``concurrent``). ``met`` says whether it came within ``timeout`` seconds.
    ``bring_second``, if given, is called (in a thread) with the first worker's job when it arrives: it
    delivers the other job's task for the researcher then, instead of waiting for the queue to reach it
    (in a big run the other job's task for one researcher can be minutes behind).
    """

    researcher_id: str
    other_job: bool
    timeout: float
    bring_second: Callable[[str], None] | None = None
    first_job: str | None = None
    met: str = ""
    _event: threading.Event = field(default_factory=threading.Event)

    def matches(self, first_job: str, second_job: str) -> bool:
        return (first_job != second_job) == self.other_job

    def release(self, how: str) -> None:
        if not self.met:
            self.met = how
        self._event.set()

    def wait(self) -> None:
        self._event.wait(self.timeout)


class OverlapWatch:
    """Watches the push while two workers meet on one researcher: how many push them at once (must stay 1),
    the lease's refusals (another job's or a duplicate of the holder's own task), the tasks handed back,
    and the rendezvous that make the meetings happen.

    Wraps ``orcid_sync.domain.push.researcher_push.push_researcher`` (looked up on every call, so every container is
    seen), ``DynamoLeaseStore.acquire`` and ``SqsTaskQueue.hand_back`` where they exist.
    """

    def __init__(self, rendezvous: list[Rendezvous]) -> None:
        self.rendezvous = {r.researcher_id: r for r in rendezvous}
        self.in_flight: Counter[str] = Counter()
        self.jobs_inside: dict[str, list[str]] = {}
        self.most_at_once: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # "same_job" / "other_job"
        self.hand_backs = 0
        self._lock = threading.Lock()

    def _entering(self, job_id: str, rid: str) -> Rendezvous | None:
        with self._lock:
            inside = self.jobs_inside.setdefault(rid, [])
            inside.append(job_id)
            self.in_flight[rid] += 1
            self.most_at_once[rid] = max(self.most_at_once[rid], self.in_flight[rid])
            meeting = self.rendezvous.get(rid)
            if meeting is None:
                return None
            if meeting.first_job is None:
                meeting.first_job = job_id
                if meeting.bring_second is not None:
                    threading.Thread(target=meeting.bring_second, args=(job_id,), daemon=True).start()
                return meeting  # the first worker waits for the second
            if len(inside) > 1 and meeting.matches(meeting.first_job, job_id):
                meeting.release("concurrent")
            return None

    def _leaving(self, job_id: str, rid: str) -> None:
        with self._lock:
            self.in_flight[rid] -= 1
            self.jobs_inside[rid].remove(job_id)

    def _refused(self, job_id: str, rid: str, held_by: str) -> None:
        with self._lock:
            self.refusals["same_job" if held_by == job_id else "other_job"] += 1
            meeting = self.rendezvous.get(rid)
            if meeting is not None and meeting.first_job == held_by and meeting.matches(held_by, job_id):
                meeting.release("refused")

    @contextmanager
    def installed(self) -> Iterator[OverlapWatch]:
        push = importlib.import_module("orcid_sync.domain.push.researcher_push")
        original_push = push.push_researcher
        watch = self

        def watched_push(task: Any, *args: Any, **kwargs: Any) -> Any:
            meeting = watch._entering(task.job_id, task.researcher_id)
            try:
                if meeting is not None:
                    meeting.wait()
                return original_push(task, *args, **kwargs)
            finally:
                watch._leaving(task.job_id, task.researcher_id)

        patches: list[tuple[Any, str, Any]] = [(push, "push_researcher", watched_push)]
        try:  # the lease and the hand-back exist from issue 13 on; without them there is nothing to count
            from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore
            from orcid_sync.adapters.messaging import SqsTaskQueue
            from orcid_sync.domain.push.leases import LeaseHeldError

            original_acquire = DynamoLeaseStore.acquire
            original_hand_back = SqsTaskQueue.hand_back

            def watched_acquire(store: Any, researcher_id: str, **kwargs: Any) -> Any:
                try:
                    return original_acquire(store, researcher_id, **kwargs)
                except LeaseHeldError as held:
                    watch._refused(str(kwargs["job_id"]), researcher_id, held.held.job_id)
                    raise

            def watched_hand_back(queue: Any, *args: Any, **kwargs: Any) -> None:
                with watch._lock:
                    watch.hand_backs += 1
                original_hand_back(queue, *args, **kwargs)

            patches += [(DynamoLeaseStore, "acquire", watched_acquire), (SqsTaskQueue, "hand_back", watched_hand_back)]
        except (ImportError, AttributeError):
            pass
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        try:
            yield self
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def figures(self) -> dict[str, Any]:
        return {
            "most_workers_on_one_researcher": max(self.most_at_once.values(), default=0),
            "lease_refusals_other_job": self.refusals["other_job"],
            "lease_refusals_same_job": self.refusals["same_job"],
            "tasks_handed_back": self.hand_backs,
            "meetings": {
                ("overlapping job" if r.other_job else "concurrent duplicate"): {
                    "researcher": r.researcher_id,
                    "met": r.met or "never",
                }
                for r in self.rendezvous.values()
            },
        }


def _deliver_at_once(stack: LocalStack, task_json: str, copies: int) -> list[threading.Thread]:
    """Invoke the push worker ``copies`` times at the same moment with the same SQS record (one message, as
    SQS may hand to two pollers), in threads; join them when done."""
    now_ms = str(int(time.time() * 1000))
    arn = str(stack.resource("PushQueue").get_att("Arn"))
    message_id = str(uuid.uuid4())
    start = threading.Barrier(copies)

    def deliver(copy: int) -> None:
        record = {
            "messageId": message_id,
            "receiptHandle": f"chaos-{message_id}-{copy}",
            "body": task_json,
            "attributes": {
                "ApproximateReceiveCount": str(copy + 1),
                "SentTimestamp": now_ms,
                "SenderId": "chaos",
                "ApproximateFirstReceiveTimestamp": now_ms,
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(task_json.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": arn.split(":")[3],
        }
        start.wait()
        stack.invoke("PushWorkerFunction", {"Records": [record]})

    threads = [threading.Thread(target=deliver, args=(copy,), name=f"chaos-duplicate-{copy}") for copy in range(copies)]
    for thread in threads:
        thread.start()
    return threads


def desired_assets(rid: str, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The assets the repository wants on ORCID, and two it does not (one in review, one hidden)."""
    wanted = assets_for(rid, count)
    unwanted = [
        {**asset(rid, count + 1), "status": "in review"},
        {**asset(rid, count + 2), "visible": False},
    ]
    return wanted, unwanted


def _send_duplicates(stack: LocalStack, queue_logical_id: str, job_id: str, job_type: str, ids: list[str]) -> int:
    """Deliver these researchers' tasks again (SQS is at-least-once), as the scheduler would have sent them."""
    from orcid_sync.domain.jobs.models import JobType, ResearcherTask  # after the stack set the functions' environment

    sqs = stack.client("sqs")
    url = stack.resource(queue_logical_id).ref
    for rid in ids:
        task = ResearcherTask(job_id=job_id, job_type=JobType(job_type), researcher_id=rid)
        sqs.send_message(QueueUrl=url, MessageBody=task.model_dump_json())
    return len(ids)


def _queue_depth(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resource(logical_id).ref,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _ledger(stack: LocalStack, rid: str) -> dict[str, dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": stack.resource("LedgerTable").ref,
        "KeyConditionExpression": "researcher_id = :r",
        "ExpressionAttributeValues": {":r": {"S": rid}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {item["item"]["S"]: {k: next(iter(v.values())) for k, v in item.items()} for item in items}


def _ours(items: list[dict[str, Any]], client_id: str) -> list[dict[str, Any]]:
    return [item for item in items if (item.get("source") or {}).get("client_id") == client_id]


def check_push(
    report: ChaosReport, stack: LocalStack, work: Workload, fleet: Fleet, wanted: dict[str, set[str]]
) -> None:
    """Every wanted work on ORCID exactly once, nothing unwanted, and the ledger's put-codes are ORCID's."""
    duplicates = missing = unwanted = ledger_mismatches = 0
    for rid in fleet.ids:
        record = work.sandbox.record(fleet.orcids[rid])
        ours = _ours(record["works"], work.client_id)
        by_asset: dict[str, list[int]] = {}
        for item in ours:
            ids = [i["normalized"] for i in item["self_ids"] if i["type"] == SOURCE_WORK_ID]
            for asset_id in ids or ["<no source-work-id>"]:
                by_asset.setdefault(asset_id, []).append(int(item["put_code"]))
        for asset_id, put_codes in by_asset.items():
            if len(put_codes) > 1:
                duplicates += len(put_codes) - 1
                report.violations.append(f"{rid}: {asset_id} is on ORCID {len(put_codes)} times: {put_codes}")
            if asset_id not in wanted[rid]:
                unwanted += 1
                report.violations.append(f"{rid}: {asset_id} is on ORCID but is not approved and visible")
        for asset_id in sorted(wanted[rid] - by_asset.keys()):
            missing += 1
            report.violations.append(f"{rid}: {asset_id} is missing on ORCID")

        ledger = _ledger(stack, rid)
        for asset_id, put_codes in by_asset.items():
            entry = ledger.get(f"work#{asset_id}")
            recorded = int(entry["put_code"]) if entry and entry.get("put_code") is not None else None
            if recorded not in put_codes:
                ledger_mismatches += 1
                report.violations.append(f"{rid}: ledger has put-code {recorded} for {asset_id}, ORCID {put_codes}")
        for kind, ledger_item in (("researcher_urls", "researcher-url"), ("employments", "employment")):
            items = _ours(record[kind], work.client_id)
            report.check(len(items) == 1, f"{rid}: {len(items)} {kind} of ours on ORCID, expected 1")
            entry = ledger.get(ledger_item)
            if items and (entry is None or int(entry.get("put_code", -1)) != int(items[0]["put_code"])):
                ledger_mismatches += 1
                report.violations.append(f"{rid}: the ledger's {ledger_item} put-code is not ORCID's")
    report.figures["push_checks"] = {
        "works_wanted": sum(len(ids) for ids in wanted.values()),
        "duplicates": duplicates,
        "missing": missing,
        "unwanted_on_orcid": unwanted,
        "ledger_mismatches": ledger_mismatches,
    }


def check_job(report: ChaosReport, work: Workload, job: dict[str, Any], expected: int, name: str) -> None:
    """The run finished, counted each researcher once, and every failed researcher has an error event."""
    counts = job["counts"]
    events = work.job_events(job["job_id"])
    with_errors = {e["researcher_id"] for e in events if e["level"] == "error" and e.get("researcher_id")}
    report.figures[f"{name}_job"] = {
        "state": job["state"],
        "researchers_processed": counts["researchers_processed"],
        "researchers_failed": counts["researchers_failed"],
        "error_events": sum(1 for e in events if e["level"] == "error"),
        "warning_events": sum(1 for e in events if e["level"] == "warning"),
    }
    report.check(job["state"] != "running", f"the {name} job never finished")
    report.check(
        counts["researchers_processed"] == expected,
        f"the {name} job counted {counts['researchers_processed']} researchers, not {expected}",
    )
    report.check(
        counts["researchers_failed"] <= len(with_errors),
        f"the {name} job has {counts['researchers_failed']} failed researchers but error events for only "
        f"{len(with_errors)}",
    )
    report.check(
        counts["researchers_failed"] == 0,
        f"{counts['researchers_failed']} researcher(s) failed the {name} for good: "
        + "; ".join(f"{e.get('researcher_id')}: {e['message']}" for e in events if e["level"] == "error")[:500],
    )


def check_overlap(report: ChaosReport, overlap: OverlapWatch, job: dict[str, Any] | None) -> None:
    """No researcher was pushed by two workers at once, and the meetings really happened."""
    figures = overlap.figures()
    if job is not None:
        counts = job["counts"]
        figures["overlapping_job"] = {
            "state": job["state"],
            "researchers_processed": counts["researchers_processed"],
            "works_created": counts["works_created"],
            "works_updated": counts["works_updated"],
            "works_adopted": counts["works_adopted"],
            "orcid_requests": counts["orcid_requests"],
        }
    report.figures["overlap"] = figures
    for rid, most in sorted(overlap.most_at_once.items()):
        report.check(most <= 1, f"{rid} was pushed by {most} workers at the same time")
    for meeting in overlap.rendezvous.values():
        kind = "the overlapping job" if meeting.other_job else "the concurrent duplicate delivery"
        report.check(bool(meeting.met), f"{kind} never met the first worker on {meeting.researcher_id}")


def check_pull(
    report: ChaosReport, work: Workload, job: dict[str, Any], seeded: dict[int, str], ours: set[int]
) -> None:
    """The pull's CSV holds every seeded work exactly once and none of ours."""
    link = work.api.call("GET", f"/jobs/{job['job_id']}/csv")
    text = requests.get(link["url"], timeout=60).content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    pulled = Counter(int(row["put_code"]) for row in rows)
    duplicates = sum(count - 1 for count in pulled.values() if count > 1)
    missing = sorted(set(seeded) - pulled.keys())
    ours_pulled = sorted(ours & pulled.keys())
    report.figures["pull_checks"] = {
        "works_seeded": len(seeded),
        "rows": len(rows),
        "duplicates": duplicates,
        "missing": len(missing),
        "ours_pulled": len(ours_pulled),
    }
    report.check(duplicates == 0, f"the pull CSV has {duplicates} duplicate rows")
    report.check(not missing, f"the pull CSV misses {len(missing)} works, e.g. put-codes {missing[:5]}")
    report.check(not ours_pulled, f"the pull CSV has {len(ours_pulled)} works of ours, e.g. {ours_pulled[:5]}")


def run_chaos(plan: ChaosPlan, log: Callable[[str], None] = print) -> ChaosReport:
    """Run the plan on a fresh local stack and return the figures and violations."""
    report = ChaosReport(plan)
    with tempfile.TemporaryDirectory(prefix="orcid-sync-chaos-") as workdir:
        template, dropped = landed_template(Path(workdir))
        report.figures["left_out_of_stack"] = dropped
        stack = LocalStack(
            template_path=template,
            repo_root=REPO_ROOT,
            visibility_scale=plan.visibility_scale,
            sandbox_settings={"rate": ORCID_RATE, "burst": ORCID_BURST},
        )
        with stack:
            _run(plan, report, stack, log, pull="PullWorkerFunction" not in dropped)
    return report


def _run(plan: ChaosPlan, report: ChaosReport, stack: LocalStack, log: Callable[[str], None], *, pull: bool) -> None:
    work = Workload(stack)
    log(f"[chaos] setting up {plan.researchers} researchers x {plan.assets_per_researcher} assets")
    work.configure_push()
    fleet = work.connected_researchers("c", plan.researchers)
    wanted: dict[str, set[str]] = {}
    rows: list[dict[str, Any]] = []
    for rid in fleet.ids:
        good, bad = desired_assets(rid, plan.assets_per_researcher)
        wanted[rid] = {a["id"] for a in good}
        rows += good + bad
    work.load_assets(rows, seed=True)
    seeded: dict[int, str] = {}
    if pull:
        work.register_other_source()
        for rid in fleet.ids:
            for n in range(1, plan.pull_works + 1):
                put_code = work.sandbox.add_work(fleet.orcids[rid], pulled_work(n, rid), source_client_id=OTHER_SOURCE)
                seeded[put_code] = rid

    faults = {
        "error_rate": plan.error_rate,
        "error_statuses": list(plan.error_statuses),
        "latency_ms": plan.latency_ms,
        "drop_rate": plan.drop_rate,
        "lost_response_rate": plan.lost_response_rate,
        "seed": plan.seed,
    }
    work.sandbox.set_faults(**faults)
    work.sandbox.reset_stats()
    twice = fleet.ids[-plan.duplicate_deliveries :] if plan.duplicate_deliveries else []
    push_crash = CrashInjector("push", set(fleet.ids[: plan.crashes]), plan.crash_after_writes)
    push_deliveries = DeliveryCounter("orcid_sync.domain.push.researcher_push", "push_researcher")
    # Two researchers neither crashed nor duplicated by SQS: one meets the overlapping job, one the duplicate.
    calm = [rid for rid in fleet.ids if rid not in push_crash.researchers and rid not in twice]
    meetings: list[Rendezvous] = []
    if plan.concurrent_duplicates and calm:
        meetings.append(Rendezvous(calm[0], other_job=False, timeout=10.0))
    started_jobs: dict[str, str] = {}

    def bring_other_job(first_job: str) -> None:
        """The other push job's task for the researcher, delivered as the first job's worker starts on them."""
        from orcid_sync.domain.jobs.models import (  # after the stack set the functions' environment
            JobType,
            ResearcherTask,
        )

        deadline = time.monotonic() + 10
        while len(started_jobs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        others = [job_id for job_id in started_jobs.values() if job_id != first_job]
        if others:
            task = ResearcherTask(job_id=others[0], job_type=JobType.PUSH, researcher_id=calm[1])
            for thread in _deliver_at_once(stack, task.model_dump_json(), copies=1):
                thread.join()

    if plan.overlapping_job and len(calm) > 1:
        meetings.append(Rendezvous(calm[1], other_job=True, timeout=30.0, bring_second=bring_other_job))
    overlap = OverlapWatch(meetings)
    overlap_job: dict[str, Any] | None = None
    started = time.monotonic()
    with push_crash.installed(), push_deliveries.installed(), overlap.installed():
        log("[chaos] push under faults")
        push_id = work.start_job("push")
        started_jobs["first"] = push_id
        at_once: list[threading.Thread] = []
        if plan.concurrent_duplicates and calm:
            from orcid_sync.domain.jobs.models import (  # after the stack set the functions' environment
                JobType,
                ResearcherTask,
            )

            task = ResearcherTask(job_id=push_id, job_type=JobType.PUSH, researcher_id=calm[0])
            at_once = _deliver_at_once(stack, task.model_dump_json(), copies=2)
        push_duplicates = _send_duplicates(stack, "PushQueue", push_id, "push", twice)
        overlap_id = None
        if plan.overlapping_job:
            log("[chaos] a second push job for the same researchers while the first runs")
            overlap_id = work.start_job("push", researchers=fleet.ids)
            started_jobs["overlap"] = overlap_id
        push_job = work.wait_job(push_id)
        if overlap_id is not None:
            overlap_job = work.wait_job(overlap_id)
        for thread in at_once:
            thread.join()
        stack.wait_for_queues_idle()
    push_seconds = time.monotonic() - started
    push_stats = work.sandbox.stats()

    pull_job: dict[str, Any] | None = None
    pull_crash = CrashInjector("pull", set(fleet.ids[: plan.crashes]), 0)
    pull_deliveries = DeliveryCounter("orcid_sync.domain.pull.worker", "pull_researcher_works")
    pull_duplicates = 0
    pull_stats: dict[str, Any] = {}
    if pull:
        log("[chaos] pull under faults")
        work.sandbox.reset_stats()
        started = time.monotonic()
        with pull_crash.installed(), pull_deliveries.installed():
            pull_id = work.start_job("pull")
            pull_duplicates = _send_duplicates(stack, "PullQueue", pull_id, "pull", twice)
            pull_job = work.wait_job(pull_id)
        pull_seconds = time.monotonic() - started
        pull_stats = work.sandbox.stats()
    work.sandbox.set_faults()  # all knobs back to "no faults"

    log("[chaos] checking ORCID, the ledger, the jobs and the DLQs")
    check_job(report, work, push_job, plan.researchers, "push")
    if overlap_job is not None:
        check_job(report, work, overlap_job, plan.researchers, "overlapping_push")
    check_overlap(report, overlap, overlap_job)
    check_push(report, stack, work, fleet, wanted)
    dead = {name: _queue_depth(stack, name) for name in ("PushDeadLetterQueue", "PullDeadLetterQueue")}
    report.check(not any(dead.values()), f"messages in the dead-letter queues: {dead}")
    report.figures["dead_letters"] = dead
    report.figures["push_faults"] = _fault_figures(
        push_stats, push_seconds, push_crash, push_duplicates, push_deliveries
    )
    report.figures["push_faults"]["client_counted_requests"] = push_job["counts"].get("orcid_requests")
    report.check(
        len(push_crash.crashed) == plan.crashes,
        f"only {len(push_crash.crashed)} of {plan.crashes} push crashes happened",
    )
    if pull and pull_job is not None:
        ours = {
            int(item["put_code"])
            for rid in fleet.ids
            for item in _ours(work.sandbox.record(fleet.orcids[rid])["works"], work.client_id)
        }
        check_job(report, work, pull_job, plan.researchers, "pull")
        check_pull(report, work, pull_job, seeded, ours)
        report.figures["pull_faults"] = _fault_figures(
            pull_stats, pull_seconds, pull_crash, pull_duplicates, pull_deliveries
        )
        report.check(
            len(pull_crash.crashed) == plan.crashes,
            f"only {len(pull_crash.crashed)} of {plan.crashes} pull crashes happened",
        )
    else:
        report.figures["pull_checks"] = "not run: the pull worker has not landed"

    # With the faults gone, the next push must find nothing to do: the ledger knows every put-code.
    work.sandbox.reset_stats()
    again = work.wait_job(work.start_job("push"))
    methods: Counter[str] = Counter()
    for row in work.sandbox.stats()["requests"]:
        methods[row["method"]] += row["count"]
    writes = {m: n for m, n in methods.items() if m in ("POST", "PUT", "DELETE")}
    report.figures["follow_up_push"] = {"state": again["state"], "orcid_writes": sum(writes.values())}
    report.check(not writes, f"a fault-free push afterwards still wrote to ORCID: {writes}")


def _fault_figures(
    stats: dict[str, Any], seconds: float, crash: CrashInjector, duplicates: int, deliveries: DeliveryCounter
) -> dict[str, Any]:
    by_status = stats.get("by_status", {})
    failed = sum(n for status, n in by_status.items() if status == "dropped" or status.startswith("5"))
    return {
        "orcid_requests": stats.get("total", 0),
        "by_status": by_status,
        "faults_injected": stats.get("faults", {}),
        "rate_limited_503": stats.get("rate_limited", 0),
        # Every 5xx or dropped answer is a request the client had to send again (or an SQS retry).
        "answers_forcing_a_retry": failed,
        "worker_crashes": len(crash.crashed),
        "duplicate_deliveries_sent": duplicates,
        "task_redeliveries": deliveries.redeliveries,
        "seconds": round(seconds, 1),
    }


def print_report(report: ChaosReport, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="chaos: what was injected, and what it proved", show_header=False)
    table.add_column("what")
    table.add_column("figure")
    table.add_row("plan", ", ".join(f"{k}={v}" for k, v in asdict(report.plan).items()))
    for key, value in report.figures.items():
        if key != "overlap":
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    overlap = report.figures.get("overlap")
    if overlap:
        section = Table(title="chaos: two workers on one researcher (overlapping job, concurrent duplicate)")
        section.add_column("what")
        section.add_column("figure")
        for key, value in overlap.items():
            section.add_row(key.replace("_", " "), str(value))
        console.print(section)
    if report.violations:
        console.print(f"[red]{len(report.violations)} check(s) failed:[/red]")
        for violation in report.violations:
            console.print(f"  - {violation}")
    else:
        console.print(
            "[green]every check held: nothing lost, nothing written twice, ledger = ORCID, DLQs empty[/green]"
        )


@click.command()
@click.option("--researchers", type=int, default=40, show_default=True)
@click.option("--assets-per-researcher", type=int, default=120, show_default=True)
@click.option("--pull-works", type=int, default=20, show_default=True)
@click.option("--crashes", type=int, default=8, show_default=True, help="researchers whose workers crash once")
@click.option("--duplicates", type=int, default=5, show_default=True, help="researchers whose tasks come twice")
@click.option(
    "--overlapping-job/--no-overlapping-job",
    default=True,
    show_default=True,
    help="a second push job for the same researchers while the first runs",
)
@click.option(
    "--concurrent-duplicates/--no-concurrent-duplicates",
    default=True,
    show_default=True,
    help="one researcher's push task delivered twice at the same moment",
)
@click.option("--error-rate", type=float, default=ChaosPlan.error_rate, show_default=True, help="500/503 answers")
@click.option("--latency-ms", type=float, default=ChaosPlan.latency_ms, show_default=True)
@click.option("--drop-rate", type=float, default=ChaosPlan.drop_rate, show_default=True, help="connections dropped")
@click.option("--lost-response-rate", type=float, default=ChaosPlan.lost_response_rate, show_default=True)
@click.option("--seed", type=int, default=9, show_default=True)
@click.option("--json-output", type=click.Path(path_type=Path), help="also write the report as JSON here")
def main(
    researchers: int,
    assets_per_researcher: int,
    pull_works: int,
    crashes: int,
    duplicates: int,
    overlapping_job: bool,
    concurrent_duplicates: bool,
    error_rate: float,
    latency_ms: float,
    drop_rate: float,
    lost_response_rate: float,
    seed: int,
    json_output: Path | None,
) -> None:
    """Push and pull under faults (10% 500/503, latency, drops, lost responses, crashes, redeliveries, two
    workers on one researcher)."""
    plan = ChaosPlan(
        researchers=researchers,
        assets_per_researcher=assets_per_researcher,
        pull_works=pull_works,
        crashes=min(crashes, researchers),
        duplicate_deliveries=min(duplicates, researchers),
        overlapping_job=overlapping_job,
        concurrent_duplicates=concurrent_duplicates,
        error_rate=error_rate,
        latency_ms=latency_ms,
        drop_rate=drop_rate,
        lost_response_rate=lost_response_rate,
        seed=seed,
    )
    report = run_chaos(plan, log=lambda message: click.echo(message, err=True))
    if json_output is not None:
        json_output.write_text(json.dumps(asdict(report), indent=2, default=str), encoding="utf-8")
    print_report(report)
    if report.violations:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

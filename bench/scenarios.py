"""The benchmark scenarios, in groups; each group runs in a process of its own, on a stack of its own.

A fresh process per group keeps the figures apart: the peak RSS is that group's, and no cached
client or setting leaks from one stack into the next. Inside a group the scenarios share the stack
and run in order (the steady-state push needs the first push's ledger).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from orcid_sync.config import get_settings
from orcid_sync_local.stack import REPO_ROOT, LocalStack
from orcid_sync_local.template import CfnYamlLoader

from . import partition_query, transact_backup
from .measure import AwsCallCounter, Window, measure
from .workload import Fleet, Workload, assets_for, fake_orcid

TEMPLATE = REPO_ROOT / "template.yaml"
ORCID_RATE = 24.0  # ORCID's Member API limit per client (requests/s) ...
ORCID_BURST = 40  # ... and its burst; the sandbox enforces both, answering 503 past the burst


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; ``scaled`` shrinks the researcher and row counts together."""

    researchers: int = 200
    assets_per_researcher: int = 120
    changed_fraction: float = 0.01
    pull_researchers: int = 200
    pull_works: int = 50
    token_rows: int = 10_000
    mode_researchers: int = 10  # the bulk-vs-one-by-one comparison runs on this many researchers per variant
    resend_researchers: int = 50  # the unchanged re-send: this many researchers x assets_per_researcher
    feed_records: int = 50_000  # records in the local OAI-PMH provider for the feed harvests

    def scaled(self, scale: float) -> Sizes:
        def n(value: int) -> int:
            return max(1, round(value * scale))

        return Sizes(
            researchers=n(self.researchers),
            assets_per_researcher=self.assets_per_researcher,
            changed_fraction=self.changed_fraction,
            pull_researchers=n(self.pull_researchers),
            pull_works=self.pull_works,
            token_rows=n(self.token_rows),
            mode_researchers=max(1, min(self.mode_researchers, n(self.researchers))),
            resend_researchers=n(self.resend_researchers),
            feed_records=n(self.feed_records),
        )


@dataclass
class Scenario:
    """One row of the results: what ran, how big, and what it cost."""

    id: str
    title: str
    group: str
    size: dict[str, int]
    works: int  # ORCID works written (push) or read (pull); token rows for an import
    wall_seconds: float
    orcid: dict[str, Any]
    rate: dict[str, float]
    aws: dict[str, dict[str, int]]
    aws_seconds: dict[str, dict[str, float]]
    peak_rss_mb: float
    job: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    measured_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # ORCID requests (and rate-limit 503s) in each second from the first request on.
    per_second: dict[str, list[int]] = field(default_factory=dict)
    # What the scenario was run under (ORCID latency injected by the sandbox, in ms).
    conditions: dict[str, Any] = field(default_factory=dict)
    # CPU seconds the local stack's process used in the window (the sandbox, the functions and the harness share it),
    # and moto's own process.
    cpu_seconds: float = 0.0
    aws_cpu_seconds: float = 0.0
    aws_peak_rss_mb: float = 0.0

    @property
    def requests_per_work(self) -> float | None:
        return self.orcid.get("total", 0) / self.works if self.works else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests_per_work"] = self.requests_per_work
        data["dynamodb_calls"] = sum(self.aws.get("dynamodb", {}).values())
        data["dynamodb_calls_per_work"] = data["dynamodb_calls"] / self.works if self.works else None
        data["kms_calls"] = sum(self.aws.get("kms", {}).values())
        return data


class GroupRun:
    """A running stack plus what every scenario of a group needs to measure itself."""

    def __init__(self, group: str, stack: LocalStack, aws: AwsCallCounter) -> None:
        self.group = group
        self.stack = stack
        self.aws = aws
        self.work = Workload(stack)
        self.scenarios: list[Scenario] = []
        self.log: Callable[[str], None] = print
        self.conditions: dict[str, Any] = {}
        self.work.sandbox.set_rate_limit(ORCID_RATE, ORCID_BURST)
        # The client's ceiling as the functions see it (ORCID_RATE_LIMIT, from the template's OrcidRateLimit).
        self.ceiling = get_settings().orcid_rate_limit

    @contextmanager
    def scenario(
        self, scenario_id: str, title: str, *, size: dict[str, int], works: int, notes: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Measure the block; it fills the yielded dict with ``job`` (and may add ``works``, ``notes``)."""
        self.log(f"[{self.group}] {title}: running")
        extra: dict[str, Any] = {"works": works, "notes": list(notes or [])}
        window: Window
        with measure(self.work.sandbox, self.aws, self.stack.client_id, self.stack.aws_process_id) as window:
            yield extra
        rate = dict(window.rate)
        rate["ceiling_per_second"] = self.ceiling
        rate["orcid_limit_per_second"] = ORCID_RATE
        result = Scenario(
            id=scenario_id,
            title=title,
            group=self.group,
            size=size,
            works=int(extra["works"]),
            wall_seconds=window.wall_seconds,
            orcid=window.orcid,
            rate=rate,
            aws=window.aws,
            aws_seconds=window.aws_seconds,
            peak_rss_mb=window.peak_rss_mb,
            job=extra.get("job", {}),
            notes=extra["notes"],
            per_second=window.per_second,
            conditions=dict(self.conditions),
            cpu_seconds=window.cpu_seconds,
            aws_cpu_seconds=window.aws_cpu_seconds,
            aws_peak_rss_mb=window.aws_peak_rss_mb,
        )
        self.scenarios.append(result)
        self.log(
            f"[{self.group}] {title}: {result.wall_seconds:.1f} s, {result.orcid.get('total', 0)} ORCID requests, "
            f"{window.rate.get('mean_per_second', 0):.1f}/s, {result.orcid.get('rate_limited_503', 0)} x 503"
        )


def _job_summary(job: dict[str, Any]) -> dict[str, Any]:
    return {key: job.get(key) for key in ("job_id", "state", "counts", "started_at", "ended_at", "csv_rows")}


def _written(job: dict[str, Any]) -> int:
    counts = job.get("counts", {})
    return int(sum(counts.get(k, 0) for k in ("works_created", "works_updated", "works_deleted", "works_adopted")))


# --- groups --------------------------------------------------------------------------------------


def push_group(run: GroupRun, sizes: Sizes) -> None:
    """First push of R researchers x A assets, then the next day's push with 1% of the assets changed."""
    work = run.work
    run.log(f"[push] setting up {sizes.researchers} researchers x {sizes.assets_per_researcher} assets")
    work.configure_push()
    fleet = work.connected_researchers("r", sizes.researchers)
    assets = [a for rid in fleet.ids for a in assets_for(rid, sizes.assets_per_researcher)]
    work.load_assets(assets, seed=True)
    size = {"researchers": sizes.researchers, "assets_per_researcher": sizes.assets_per_researcher}

    with run.scenario("push_first", "First push (bulk)", size=size, works=len(assets)) as extra:
        job = work.wait_job(work.start_job("push"))
        extra["job"] = _job_summary(job)
        extra["works"] = _written(job)

    # The next day: 1% of the assets changed (every 100th, spread over the researchers).
    step = max(1, round(1 / sizes.changed_fraction))
    changed = [dict(a, title=a["title"] + " (corrected)") for a in assets[::step]]
    work.load_assets(changed, seed=True)
    steady_size = {**size, "assets_changed": len(changed)}
    notes = [
        f"{len(changed):,} of {len(assets):,} assets changed since the first push; requests/work is per changed work"
    ]
    title = "Next-day push, 1% changed"
    with run.scenario("push_steady", title, size=steady_size, works=len(changed), notes=notes) as extra:
        job = work.wait_job(work.start_job("push"))
        extra["job"] = _job_summary(job)
        extra["works"] = _written(job)


def push_modes_group(run: GroupRun, sizes: Sizes) -> None:
    """The same first push with bulk POSTs and with one POST per work, on two equal sets of researchers."""
    work = run.work
    n = sizes.mode_researchers
    run.log(f"[push-modes] setting up 2 x {n} researchers x {sizes.assets_per_researcher} assets")
    work.configure_push()
    bulk_fleet = work.connected_researchers("b", n)
    single_fleet = work.connected_researchers("s", n)
    for fleet in (bulk_fleet, single_fleet):
        work.load_assets([a for rid in fleet.ids for a in assets_for(rid, sizes.assets_per_researcher)], seed=True)
    size = {"researchers": n, "assets_per_researcher": sizes.assets_per_researcher}
    works = n * sizes.assets_per_researcher
    full = sizes.researchers * sizes.assets_per_researcher
    notes = [f"{n} researchers per variant, each with the same assets as in the full first push"]
    for scenario_id, title, fleet, bulk in (
        ("push_first_subset_bulk", "First push (bulk), subset", bulk_fleet, True),
        ("push_first_subset_single", "First push (one POST per work), subset", single_fleet, False),
    ):
        with run.scenario(scenario_id, title, size=size, works=works, notes=notes) as extra:
            job = work.wait_job(work.start_job_with_options("push", {"researcher_ids": fleet.ids, "bulk": bulk}))
            extra["job"] = _job_summary(job)
            extra["works"] = _written(job)
    # Extrapolated, not measured: the full-size first push sent one work per POST.
    for scenario in run.scenarios:
        if scenario.requests_per_work:
            requests = math.ceil(scenario.requests_per_work * full)
            scenario.notes.append(
                f"extrapolated to the full first push ({full:,} works): about {requests:,} ORCID requests, "
                f"{requests / run.ceiling / 60:.1f} minutes at the {run.ceiling:g}/s ceiling"
            )


def resend_group(run: GroupRun, sizes: Sizes) -> None:
    """Load R researchers x A assets and push; the institution re-sends everything unchanged; push again.

    An export or feed sends every row every night. The re-send must write nothing (its rows are
    ``unchanged``) and leave every researcher's push fingerprint as it was, so the next push makes no
    ORCID request and plans nobody again. A re-plan rewrites the researcher's ``push-state`` ledger
    item, so comparing those items' ``at`` before and after (read outside the measured windows) counts them.
    """
    work = run.work
    n = sizes.resend_researchers
    run.log(f"[resend] setting up {n} researchers x {sizes.assets_per_researcher} assets, and their first push")
    work.configure_push()
    fleet = work.connected_researchers("u", n)
    people = Workload.researcher_rows(fleet.ids, fleet.orcids)
    assets = [a for rid in fleet.ids for a in assets_for(rid, sizes.assets_per_researcher)]
    work.load_assets(assets, seed=True)
    first = work.wait_job(work.start_job("push"))
    if first["state"] != "succeeded":
        raise RuntimeError(f"the first push did not succeed: {_job_summary(first)}")
    planned = _push_states()
    size = {"researchers": n, "assets_per_researcher": sizes.assets_per_researcher}

    title = "Re-send everything unchanged"
    with run.scenario("resend_unchanged", title, size=size, works=len(assets)) as extra:
        counts = {"researchers": _resend(work, "/researchers", people), "assets": _resend(work, "/assets", assets)}
        extra["job"] = {"counts": counts}
    resend = run.scenarios[-1]
    dynamodb = resend.aws.get("dynamodb", {})
    writes = sum(dynamodb.get(op, 0) for op in _DYNAMODB_WRITES)
    per_25 = sum(dynamodb.values()) / (len(assets) / 25)
    resend.notes.append(
        f"{len(people):,} researchers and {len(assets):,} assets sent again as loaded, in POSTs of 1,000: "
        f"{counts['researchers'].get('unchanged', 0):,} + {counts['assets'].get('unchanged', 0):,} unchanged, "
        f"{writes:,} DynamoDB writes, {per_25:.2f} DynamoDB calls per 25 assets (researchers' reads included)"
    )

    with run.scenario("resend_push", "Push after the unchanged re-send", size=size, works=0) as extra:
        job = work.wait_job(work.start_job("push"))
        extra["job"] = _job_summary(job)
        extra["works"] = _written(job)
    after = _push_states()
    replanned = sum(1 for rid, at in planned.items() if after.get(rid) != at)
    push = run.scenarios[-1]
    push.notes.append(
        f"{replanned:,} of {len(planned):,} researchers planned again (their push fingerprint changed); "
        f"{job['counts'].get('works_unchanged', 0):,} works unchanged"
    )
    run.log(
        f"[resend] re-send: {writes:,} DynamoDB writes, {per_25:.2f} DynamoDB calls per 25 assets (goal <= 1); "
        f"next push: {push.orcid.get('total', 0):,} ORCID requests (goal 0), {replanned:,} re-planned (goal 0)"
    )


_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _resend(work: Workload, path: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """POST the rows again in batches of 1,000, as a nightly export would; the summed counts."""
    counts: dict[str, int] = {}
    for start in range(0, len(rows), 1000):
        report = work.api.call("POST", path, json_body=rows[start : start + 1000])
        for key, value in report["counts"].items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts


def _push_states() -> dict[str, str]:
    """When each researcher's push fingerprint was last written (the ledger's ``push-state`` items)."""
    # Imported only now: the stack has set the functions' environment (see Workload.start_job_with_options).
    from boto3.dynamodb.conditions import Attr

    from orcid_sync import composition
    from orcid_sync.adapters.dynamodb.push_ledger import PUSH_STATE_ITEM

    table = composition.dynamodb().Table(get_settings().ledger_table)
    states: dict[str, str] = {}
    kwargs: dict[str, Any] = {"FilterExpression": Attr("item").eq(PUSH_STATE_ITEM)}
    while True:
        response = table.scan(**kwargs)
        states |= {str(item["researcher_id"]): str(item.get("at")) for item in response["Items"]}
        if "LastEvaluatedKey" not in response:
            return states
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


LATENCY_MS = 250.0
"""The ORCID latency the latency group injects (the sandbox's ``latency_ms`` fault knob), as a worker in AWS sees it."""
RATE_GOAL = 0.9  # of ORCID's 24/s, held by the one-by-one push under that latency ...
FLOOR_GOAL = 1.2  # ... and the bulk first push's wall time at most this many times its request floor (requests / 24)


def latency_group(run: GroupRun, sizes: Sizes) -> None:
    """The first push with 250 ms of ORCID latency: bulk (R researchers) and one POST per work (the subset's size).

    Measures whether the shared rate limit, not the number of workers times the latency, bounds the
    request rate: the one-by-one push should hold ORCID's 24/s (at least 90%, no 503), and the bulk
    push finish within 1.2 x its request floor (its requests at 24/s).
    """
    work = run.work
    n = sizes.mode_researchers
    run.log(
        f"[push-latency] setting up {sizes.researchers} + {n} researchers x {sizes.assets_per_researcher} assets, "
        f"ORCID latency {LATENCY_MS:g} ms"
    )
    work.configure_push()
    bulk_fleet = work.connected_researchers("l", sizes.researchers)
    single_fleet = work.connected_researchers("o", n)
    for fleet in (bulk_fleet, single_fleet):
        work.load_assets([a for rid in fleet.ids for a in assets_for(rid, sizes.assets_per_researcher)], seed=True)
    work.sandbox.set_faults(latency_ms=LATENCY_MS)
    run.conditions = {"orcid_latency_ms": LATENCY_MS}
    try:
        single_works = n * sizes.assets_per_researcher
        title = f"First push (one POST per work), subset, {LATENCY_MS:g} ms ORCID latency"
        size = {"researchers": n, "assets_per_researcher": sizes.assets_per_researcher}
        with run.scenario("latency_push_single", title, size=size, works=single_works) as extra:
            job = work.wait_job(
                work.start_job_with_options("push", {"researcher_ids": single_fleet.ids, "bulk": False})
            )
            extra["job"] = _job_summary(job)
            extra["works"] = _written(job)
        _rate_goal(run.scenarios[-1])

        title = f"First push (bulk), {LATENCY_MS:g} ms ORCID latency"
        size = {"researchers": sizes.researchers, "assets_per_researcher": sizes.assets_per_researcher}
        works = sizes.researchers * sizes.assets_per_researcher
        with run.scenario("latency_push_first", title, size=size, works=works) as extra:
            job = work.wait_job(work.start_job_with_options("push", {"researcher_ids": bulk_fleet.ids}))
            extra["job"] = _job_summary(job)
            extra["works"] = _written(job)
        _floor_goal(run.scenarios[-1])
    finally:
        work.sandbox.set_faults()
        run.conditions = {}


def _rate_goal(scenario: Scenario) -> None:
    mean = scenario.rate.get("mean_per_second", 0.0)
    refused = scenario.orcid.get("rate_limited_503", 0)
    goal = RATE_GOAL * ORCID_RATE
    held = "held" if mean >= goal and refused == 0 else "missed"
    scenario.notes.append(
        f"{mean:.1f} requests/s over {scenario.rate.get('active_seconds', 0):.1f} s = {mean / ORCID_RATE:.0%} of "
        f"ORCID's {ORCID_RATE:g}/s, {refused} x 503 (goal: >= {goal:.1f}/s with no 503: {held})"
    )


def _floor_goal(scenario: Scenario) -> None:
    requests = scenario.orcid.get("total", 0)
    floor = requests / ORCID_RATE
    active = scenario.rate.get("active_seconds", 0.0)
    wall = scenario.wall_seconds
    held = "held" if wall <= FLOOR_GOAL * floor else "missed"
    scenario.notes.append(
        f"{requests:,} requests: a floor of {floor:.1f} s at {ORCID_RATE:g}/s; the job took {wall:.1f} s = "
        f"{wall / floor:.2f} x the floor (goal: <= {FLOOR_GOAL:g} x: {held}), ORCID busy for {active:.1f} s = "
        f"{active / floor:.2f} x, {scenario.orcid.get('rate_limited_503', 0)} x 503; meanwhile the functions' "
        f"process (with the sandbox) used {scenario.cpu_seconds:.0f} s of CPU, moto's {scenario.aws_cpu_seconds:.0f} s"
    )


def pull_group(run: GroupRun, sizes: Sizes) -> None:
    """Pull of R researchers x W works that are on ORCID but not ours (DOI or PMID, never pulled before)."""
    work = run.work
    run.log(f"[pull] setting up {sizes.pull_researchers} researchers x {sizes.pull_works} works on ORCID")
    fleet = work.connected_researchers("p", sizes.pull_researchers)
    seeded = work.seed_works(fleet, sizes.pull_works)
    size = {"researchers": sizes.pull_researchers, "works_per_researcher": sizes.pull_works}
    with run.scenario("pull", "Pull", size=size, works=seeded) as extra:
        job = work.wait_job(work.start_job("pull"))
        extra["job"] = _job_summary(job)
        extra["notes"].append(f"{job.get('csv_rows') or job['counts'].get('rows_pulled', 0):,} CSV rows written")


def tokens_group(run: GroupRun, sizes: Sizes) -> None:
    """Token import of N rows: as one uploaded file (S3 → the import function), and as API batches of 1,000."""
    work = run.work
    rows = sizes.token_rows
    run.log(f"[tokens] setting up 2 x {rows} researchers with iDs")
    upload_fleet = _token_fleet(work, series=1, rows=rows)
    api_fleet = _token_fleet(work, series=2, rows=rows)
    size = {"rows": rows}
    notes = ["tokens are not checked against ORCID (verify=false), so no ORCID requests"]

    title = "Token import, one uploaded CSV file"
    with run.scenario("tokens_upload", title, size=size, works=rows, notes=notes) as extra:
        extra["job"] = _upload(work, Workload.token_csv(work.token_rows(upload_fleet)))

    with run.scenario("tokens_api", "Token import, API batches of 1,000", size=size, works=rows, notes=notes) as extra:
        counts: dict[str, int] = {}
        for start in range(0, rows, 1000):
            batch = list(work.token_rows(api_fleet.subset(api_fleet.ids[start : start + 1000])))
            report = work.api.call("POST", "/tokens", json_body=batch)
            for key, value in report["counts"].items():
                counts[key] = counts.get(key, 0) + int(value)
        extra["job"] = {"counts": counts}


def _token_fleet(work: Workload, *, series: int, rows: int) -> Fleet:
    ids = [f"t{series}-{n:06d}" for n in range(rows)]
    fleet = Fleet(ids, orcids={rid: fake_orcid(series, n) for n, rid in enumerate(ids)})
    for n, rid in enumerate(ids):
        # Shaped like ORCID's tokens (a UUID each), unique per row.
        fleet.access_tokens[rid] = f"{series:08x}-{n >> 16:04x}-4{n & 0xFFF:03x}-8000-{n:012x}"
        fleet.refresh_tokens[rid] = f"{series:08x}-{n >> 16:04x}-4{n & 0xFFF:03x}-9000-{n:012x}"
    work.load_researchers(Workload.researcher_rows(ids, fleet.orcids))
    return fleet


def _upload(work: Workload, body: bytes) -> dict[str, Any]:
    ticket = work.api.call("POST", "/tokens/uploads", json_body={"format": "csv"})
    response = work.api._http.put(ticket["url"], data=body, timeout=300)
    response.raise_for_status()
    while True:
        upload = work.api.call("GET", f"/tokens/uploads/{ticket['upload_id']}")
        if upload["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    work.stack.wait_for_queues_idle(timeout=600)
    return {k: upload.get(k) for k in ("upload_id", "status", "rows", "counts", "message", "started_at", "finished_at")}


def feed_group(run: GroupRun, sizes: Sizes) -> None:
    """A first harvest of N records from the local OAI-PMH provider, then an incremental one with 1% changed.

    The provider (pyoai's server, in the stack's process) serves fixture records modelled on DSpace, EPrints,
    Esploro and DataCite output, 100 a page; every 7th has one of the three demo researchers among its creators,
    with their iD, so a seventh of the records become assets and the rest are counted as not ours (each still
    costs the researcher look-ups of its creators). The feed uses the DSpace profile and ``auto`` (oai_datacite).
    """
    from orcid_sync_local.oai_provider import DEMO_ORCIDS

    work = run.work
    stack = run.stack
    records = sizes.feed_records
    run.log(
        f"[feed] setting up {records:,} records in the OAI-PMH provider and the {len(DEMO_ORCIDS)} demo researchers"
    )
    work.load_researchers(Workload.researcher_rows(list(DEMO_ORCIDS), dict(DEMO_ORCIDS)))
    stack.oai_provider.load_fixtures(records, orcids=dict(DEMO_ORCIDS))
    work.api.call(
        "POST", "/feeds", json_body={"feed_id": "bench", "base_url": stack.oai_provider_url, "profile": "dspace"}
    )
    size = {"records": records, "page_size": stack.oai_provider.page_size}

    with run.scenario("feed_first", "Feed: first harvest", size=size, works=records) as extra:
        job = work.wait_job(_run_feed(work))
        extra["job"] = _feed_summary(job)
        extra["works"] = job["counts"].get("records_harvested", 0)
    _feed_notes(run.scenarios[-1], job)

    # The next day: 1% of the records changed in the repository (every 100th live one: a corrected title).
    step = max(1, round(1 / sizes.changed_fraction))
    live = [record for record in stack.oai_provider.store.snapshot() if not record.deleted]
    changed = live[::step]
    for record in changed:
        stack.oai_provider.store.change(record.identifier, {"title": f"{record.title} (corrected)"})
    steady_size = {**size, "records_changed": len(changed)}
    notes = [
        f"{len(changed):,} of {records:,} records changed since the first harvest; "
        "per-record figures are per changed record"
    ]
    with run.scenario(
        "feed_incremental", "Feed: next-day harvest, 1% changed", size=steady_size, works=len(changed), notes=notes
    ) as extra:
        job = work.wait_job(_run_feed(work))
        extra["job"] = _feed_summary(job)
        extra["works"] = job["counts"].get("records_harvested", 0)
    _feed_notes(run.scenarios[-1], job)
    harvested = run.scenarios[-1].works
    if harvested != len(changed):
        run.scenarios[-1].notes.append(
            f"expected {len(changed):,} records in the incremental harvest, got {harvested:,}"
        )


def _run_feed(work: Workload) -> str:
    """``POST /feeds/bench/run``, as ``orcid-sync feeds run bench`` does; the job id."""
    return str(work.api.call("POST", "/feeds/bench/run", json_body={"full": False})["job_id"])


def _feed_summary(job: dict[str, Any]) -> dict[str, Any]:
    return {**_job_summary(job), "report": job.get("report")}


def _feed_notes(scenario: Scenario, job: dict[str, Any]) -> None:
    counts = job["counts"]
    harvested = counts.get("records_harvested", 0)
    pages = (job.get("report") or {}).get("pages", 0)
    per_second = harvested / scenario.wall_seconds if scenario.wall_seconds else 0.0
    dynamodb = sum(scenario.aws.get("dynamodb", {}).values())
    scenario.notes.append(
        f"{harvested:,} records in {pages:,} pages: {per_second:,.0f} records/s, "
        f"{dynamodb / harvested if harvested else 0:.2f} DynamoDB calls per record; job {job['state']}: "
        + ", ".join(f"{name} {value:,}" for name, value in counts.items() if value and name != "records_harvested")
    )
    scenario.notes.append(
        "peak RSS is the local stack's process (the provider and its records, the functions; moto runs apart); "
        "DynamoDB calls include the admin API's GET /jobs polls (2 a second) while the run is followed"
    )


GROUPS: dict[str, Callable[[GroupRun, Sizes], None]] = {
    "push": push_group,
    "push-modes": push_modes_group,
    "push-latency": latency_group,
    "resend": resend_group,
    "pull": pull_group,
    "tokens": tokens_group,
    "feed": feed_group,
}
# What each group needs from the template; a group whose function has not landed is reported, not run.
GROUP_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "push": ("JobSchedulerFunction", "PushWorkerFunction"),
    "push-modes": ("JobSchedulerFunction", "PushWorkerFunction"),
    "push-latency": ("JobSchedulerFunction", "PushWorkerFunction"),
    "resend": ("AdminApiFunction", "JobSchedulerFunction", "PushWorkerFunction"),
    "pull": ("JobSchedulerFunction", "PullWorkerFunction"),
    "tokens": ("AdminApiFunction", "TokenImportFunction"),
    "feed": ("AdminApiFunction", "FeedHarvesterFunction"),
}


def handler_file(resource: dict[str, Any]) -> Path | None:
    """The source file of a function's handler module (``CodeUri`` + ``Handler``), if it exists yet."""
    props = resource.get("Properties") or {}
    code, handler = props.get("CodeUri"), props.get("Handler")
    if not isinstance(code, str) or not isinstance(handler, str) or "." not in handler:
        return None
    source = (REPO_ROOT / code).joinpath(*handler.rpartition(".")[0].split(".")).with_suffix(".py")
    return source if source.is_file() else None


def landed_template(workdir: Path) -> tuple[Path, list[str]]:
    """template.yaml, or a copy without the functions whose code has not landed yet (and what refers to them).

    While features are still landing, one missing handler would stop the whole local stack; the groups
    that do not need it can still be measured. The copy sits in ``workdir`` beside links to the code.
    """
    body = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # a SafeLoader subclass
    resources: dict[str, Any] = body["Resources"]
    missing = {
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function" and handler_file(resource) is None
    }
    if not missing:
        return TEMPLATE, []
    dropped = set(missing)
    while True:
        referring = {
            logical_id
            for logical_id, resource in resources.items()
            if logical_id not in dropped and any(name in json.dumps(resource) for name in dropped)
        }
        if not referring:
            break
        dropped |= referring
    body["Resources"] = {k: v for k, v in resources.items() if k not in dropped}
    body["Outputs"] = {
        k: v for k, v in body.get("Outputs", {}).items() if not any(name in json.dumps(v) for name in dropped)
    }
    for entry in REPO_ROOT.iterdir():
        if entry.is_dir() and entry.name in ("functions", "layers"):
            (workdir / entry.name).symlink_to(entry)
    path = workdir / "template.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path, sorted(dropped)


def run_group(group: str, sizes: Sizes, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Start a stack (ORCID's rate limit on), run one group's scenarios, and return their results."""
    aws = AwsCallCounter.install()  # before the stack, so that every client the functions make is counted
    with tempfile.TemporaryDirectory(prefix="orcid-sync-bench-") as workdir:
        template, dropped = landed_template(Path(workdir))
        if dropped:
            log(f"[{group}] left out of the stack, their code has not landed: {', '.join(dropped)}")
        stack = LocalStack(
            template_path=template,
            repo_root=REPO_ROOT,
            sandbox_settings={"rate": ORCID_RATE, "burst": ORCID_BURST},
            # DynamoDB's work is not done on a Lambda's CPU: moto serves from a process of its own, with moto's
            # Query reading one partition, as DynamoDB does, instead of sorting the table; and its transactions
            # backing up the items they touch, where moto copies every table they name, whole (a feed's asset
            # upserts and each pushed researcher's closing transaction paid for the tables' size).
            aws_process=[f"{partition_query.__name__}:install", f"{transact_backup.__name__}:install"],
        )
        with stack:
            run = GroupRun(group, stack, aws)
            run.log = log
            GROUPS[group](run, sizes)
            for scenario in run.scenarios:
                if dropped:
                    scenario.notes.append(f"measured on a stack without {', '.join(dropped)} (not landed yet)")
            return [scenario.to_json() for scenario in run.scenarios]

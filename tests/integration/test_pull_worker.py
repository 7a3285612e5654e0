"""The pull worker's handler end to end: SQS events in-process, AWS in moto, ORCID in the local sandbox over HTTP.

The sandbox runs in a thread on 127.0.0.1 and answers as ORCID does (401 for a revoked token,
grouping by normalised ids, sources); a small WSGI wrapper makes it answer 503 for one record.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from werkzeug.serving import WSGIRequestHandler, make_server

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.pull_ledger import DynamoPullLedgerStore
from orcid_sync.adapters.orcid_api.client import OrcidClient
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.runs import fan_out, open_job
from orcid_sync.domain.jobs.starts import StoredResearcherSelector
from orcid_sync.domain.models import (
    Asset,
    OrcidStatus,
    ResearcherInput,
    StoredToken,
    TokenSource,
    utc_now,
)
from orcid_sync.domain.pull.csv_file import CSV_COLUMNS, PulledWorkRow, csv_key, part_key, read_rows
from orcid_sync.domain.pull.finish import PullJobFinisher
from orcid_sync.domain.pull.selection import select_pull_researchers
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from tests.conftest import FakeLambdaContext
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, AwsEnv

OTHER_CLIENT = "APP-CROSSREFSEARCH01"
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)


# --- the ORCID sandbox over HTTP ----------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log per request."""


class _FailingRecords:
    """WSGI wrapper: requests for the listed iDs get ``status`` with ORCID's proxy page, as when ORCID is down."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.orcids: set[str] = set()
        self.status = "503 Service Temporarily Unavailable"
        self.hits = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/v3.0/") and path.split("/")[2] in self.orcids:
            self.hits += 1
            start_response(self.status, [("Content-Type", "text/html")])
            return [b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"]
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


@dataclass
class Sandbox:
    url: str
    failing: _FailingRecords
    tokens: dict[str, str] = field(default_factory=dict)

    def researcher(self, name: str) -> str:
        """A new ORCID record that granted our client all scopes; returns its iD."""
        body = {"given_names": name, "family_name": "Tester", "grant": {"client_id": CLIENT_ID}}
        answer = requests.post(f"{self.url}/_sandbox/researchers", json=body, timeout=10).json()
        self.tokens[answer["orcid"]] = answer["access_token"]
        return str(answer["orcid"])

    def add_work(self, orcid: str, work: dict[str, Any], source_client_id: str | None = None) -> int:
        body: dict[str, Any] = {"work": work}
        if source_client_id:
            body["source_client_id"] = source_client_id
        answer = requests.post(f"{self.url}/_sandbox/records/{orcid}/works", json=body, timeout=10)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["put_code"])

    def revoke(self, orcid: str) -> None:
        answer = requests.post(f"{self.url}/_sandbox/records/{orcid}/revoke", json={"client_id": CLIENT_ID}, timeout=10)
        assert answer.json()["revoked"] >= 1

    def member_api_requests(self) -> int:
        stats = requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()
        return sum(r["count"] for r in stats["requests"] if r["route"].startswith("/v3.0/"))


@pytest.fixture
def sandbox(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    clients = [
        RegisteredClient(CLIENT_ID, CLIENT_SECRET, ["https://orcid-sync.example.edu"], "Our Repository"),
        RegisteredClient(OTHER_CLIENT, "other-secret", ["https://crossref.example.org"], "Crossref Metadata Search"),
    ]
    failing = _FailingRecords(create_app(SandboxConfig(clients=clients)))
    server = make_server("127.0.0.1", 0, failing, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="orcid-sandbox", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("ORCID_API_URL", url)
    monkeypatch.setenv("ORCID_SITE_URL", url)
    # ORCID's 503s are retried by the client with backoff; the test does not need to sit through it.
    real_from_settings = OrcidClient.from_settings

    def without_waiting(*args: Any, **kwargs: Any) -> OrcidClient:
        return real_from_settings(*args, **{**kwargs, "retry": RetryPolicy(sleep=lambda _seconds: None)})

    monkeypatch.setattr(OrcidClient, "from_settings", without_waiting)
    composition.reset()
    try:
        yield Sandbox(url=url, failing=failing)
    finally:
        composition.reset()
        server.shutdown()
        thread.join(timeout=10)


# --- our side: researchers, tokens, assets, runs -----------------------------------------------------------


def connect(sandbox: Sandbox, rid: str, orcid: str, *, scopes: tuple[str, ...] = ("/read-limited",)) -> None:
    """The researcher in our store, connected with the sandbox's token (sealed as the connect flow does)."""
    composition.researcher_store().upsert_profile(
        ResearcherInput(id=rid, given_names="Ada", family_name="Tester", orcid=orcid)
    )
    composition.researcher_store().record_connection(rid, orcid=orcid, scopes=list(scopes), connected_at=NOW)
    sealed = composition.token_cipher().batch().seal(rid, sandbox.tokens[orcid])
    composition.token_store().put(
        StoredToken(
            researcher_id=rid,
            orcid=orcid,
            access_token=sealed,
            scopes=list(scopes),
            expires_at=datetime(2046, 1, 1, tzinfo=UTC),
            source=TokenSource.OAUTH,
            stored_at=NOW,
            fingerprint=uuid.uuid4().hex,
        )
    )


class CapturingQueue:
    def __init__(self) -> None:
        self.tasks: list[ResearcherTask] = []

    def send_tasks(self, tasks: Iterable[ResearcherTask]) -> None:
        self.tasks.extend(tasks)


class NoNotifier:
    def job_finished(self, job: Job, first_errors: Iterable[JobEvent]) -> None:
        """Emails are the jobs tests' business."""


def start_run(*, dry_run: bool = False, only: list[str] | None = None) -> tuple[Job, list[ResearcherTask]]:
    """Open a pull run and fan it out as the scheduler does, capturing the messages instead of sending them."""
    jobs = composition.job_store()
    options: dict[str, Any] = {"researcher_ids": only} if only else {}
    job = open_job(
        jobs,
        job_type=JobType.PULL,
        trigger=JobTrigger.MANUAL,
        started_by="test",
        dry_run=dry_run,
        options=options,
        now=utc_now(),
    )
    selector = StoredResearcherSelector(
        composition.researcher_store(), composition.token_store(), select_pull_researchers
    )
    queue = CapturingQueue()
    finishers = {JobType.PULL: PullJobFinisher(jobs, composition.pull_files())}
    fan_out(jobs, queue, job, selector(job), finishers=finishers, notifier=NoNotifier(), now=utc_now())
    return job, queue.tasks


def sqs_event(tasks: Iterable[ResearcherTask], *, receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{task.researcher_id}",
                "receiptHandle": f"handle-{task.researcher_id}",
                "body": task.model_dump_json(),
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1795320000000",
                    "SenderId": "AROAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795320000050",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orcid-sync-PullQueue",
                "awsRegion": "us-east-1",
            }
            for task in tasks
        ]
    }


def deliver(tasks: Iterable[ResearcherTask], *, receive_count: int = 1) -> list[str]:
    """Run the handler on one SQS batch; returns the researcher ids whose messages failed."""
    from functions.pull_worker import app

    batch = list(tasks)
    try:
        answer = app.lambda_handler(sqs_event(batch, receive_count=receive_count), FakeLambdaContext())
    except BatchProcessingError:  # every message failed: Powertools fails the invocation, SQS returns them all
        return sorted(task.researcher_id for task in batch)
    return sorted(item["itemIdentifier"].removeprefix("msg-") for item in answer["batchItemFailures"])


def run_job(job_id: str) -> Job:
    job = composition.job_store().get(job_id)
    assert job is not None
    return job


def csv_rows(job: Job) -> list[PulledWorkRow]:
    data = composition.pull_files().read(csv_key(job.job_id))
    assert data.startswith((",".join(CSV_COLUMNS) + "\r\n").encode())
    return read_rows(data, header=True)


def doi(value: str, relationship: str = "self") -> dict[str, Any]:
    return {"external-id-type": "doi", "external-id-value": value, "external-id-relationship": relationship}


def ext(kind: str, value: str, relationship: str = "self") -> dict[str, Any]:
    return {"external-id-type": kind, "external-id-value": value, "external-id-relationship": relationship}


def work(title: str, *ids: dict[str, Any], work_type: str = "journal-article") -> dict[str, Any]:
    return {"title": {"title": {"value": title}}, "type": work_type, "external-ids": {"external-id": list(ids)}}


# --- the tests -----------------------------------------------------------------------------------------------


def test_a_run_writes_one_csv_of_new_works_and_the_next_run_finds_nothing_new(sandbox: Sandbox) -> None:
    # Given Ada, whose record has every kind of work the rules must sort out
    ada = sandbox.researcher("Ada")
    kept_own = sandbox.add_work(ada, work("Cracked pots, revisited", doi("10.5555/A1")))
    sandbox.add_work(ada, work("Cracked pots, revisited", doi("https://doi.org/10.5555/a1")), OTHER_CLIENT)
    sandbox.add_work(ada, work("Pushed from the repository", doi("10.5555/ours")), CLIENT_ID)
    sandbox.add_work(ada, work("Pushed from the repository", doi("doi:10.5555/OURS")), OTHER_CLIENT)
    sandbox.add_work(ada, work("A book", ext("isbn", "9780306406157"), work_type="book"))
    sandbox.add_work(
        ada,
        work(
            "A chapter", ext("uri", "https://example.org/ch"), doi("10.5555/book", "part-of"), work_type="book-chapter"
        ),
    )
    kept_pmid = sandbox.add_work(ada, work("Only in PubMed", ext("pmid", "PMID:31452104")))
    sandbox.add_work(ada, work("Already in the repository", doi("10.5555/IN-REPO")))
    awkward = 'Pots, "kettles"\nand pans'
    kept_awkward = sandbox.add_work(ada, work(awkward, doi("10.5555/a3")))
    # ... Bea, with two works from another source; and Cy, with none
    bea = sandbox.researcher("Bea")
    bea_works = [sandbox.add_work(bea, work(f"Bea's paper {n}", doi(f"10.5555/b{n}")), OTHER_CLIENT) for n in (1, 2)]
    cy = sandbox.researcher("Cy")
    for rid, orcid in (("ada", ada), ("bea", bea), ("cy", cy)):
        connect(sandbox, rid, orcid)
    composition.asset_store().put(
        Asset.model_validate(
            {
                "id": "asset-1",
                "researchers": ["ada"],
                "type": "publication.journalArticle",
                "status": "approved",
                "visible": True,
                "title": "Already in the repository",
                "doi": "10.5555/in-repo",
            }
        )
    )
    before = sandbox.member_api_requests()

    # When the run's three messages are delivered in one batch
    job, tasks = start_run()
    failed = deliver(tasks)

    # Then the run is finished with its CSV: one row per new work, and one ORCID request per researcher
    assert failed == []
    finished = run_job(job.job_id)
    assert finished.state is JobState.SUCCEEDED
    assert finished.csv_uri == f"s3://orcid-sync-data/{csv_key(job.job_id)}"
    rows = csv_rows(finished)
    assert finished.csv_rows == len(rows) == 5
    assert {(r.researcher_id, r.put_code) for r in rows} == {
        ("ada", kept_own),
        ("ada", kept_pmid),
        ("ada", kept_awkward),
        ("bea", bea_works[0]),
        ("bea", bea_works[1]),
    }
    by_code = {r.put_code: r for r in rows}
    assert by_code[kept_own].doi == "10.5555/a1" and by_code[kept_own].source_name == "Ada Tester"
    assert by_code[kept_pmid].pmid == "31452104" and by_code[kept_pmid].doi is None
    assert by_code[kept_awkward].title == awkward
    assert by_code[bea_works[0]].source_name == "Crossref Metadata Search"
    assert all(r.orcid == {"ada": ada, "bea": bea}[r.researcher_id] for r in rows)
    assert sandbox.member_api_requests() - before == 3
    assert finished.counts.orcid_requests == 3
    assert finished.counts.rows_pulled == 5
    assert finished.counts.researchers_updated == 2
    # every summary but the five rows was skipped: ours, grouped with ours, ISBN, part-of, in repository, duplicate
    assert finished.counts.works_skipped == 6
    assert list(composition.pull_files().list_keys(f"pull/{job.job_id}/parts/")) == []

    # When the next run comes
    second, tasks = start_run()
    assert deliver(tasks) == []
    # Then nothing is new
    again = run_job(second.job_id)
    assert again.state is JobState.SUCCEEDED
    assert again.csv_rows == 0 and csv_rows(again) == []
    assert again.counts.orcid_requests == 3

    # When Ada adds a work, only that one is pulled
    newest = sandbox.add_work(ada, work("Newest", doi("10.5555/a4")))
    third, tasks = start_run()
    assert deliver(tasks) == []
    assert [(r.researcher_id, r.put_code) for r in csv_rows(run_job(third.job_id))] == [("ada", newest)]


def test_a_revoked_token_fails_the_researcher_and_orcid_down_is_retried_by_sqs(sandbox: Sandbox) -> None:
    # Given three researchers: Dee revoked our access, ORCID fails for Eve's record, Fay is fine
    dee, eve, fay = sandbox.researcher("Dee"), sandbox.researcher("Eve"), sandbox.researcher("Fay")
    for orcid, name in ((dee, "dee"), (eve, "eve"), (fay, "fay")):
        sandbox.add_work(orcid, work(f"{name} 1", doi(f"10.5555/{name}.1")))
        sandbox.add_work(orcid, work(f"{name} 2", ext("pmid", f"{len(name)}0042")), OTHER_CLIENT)
        connect(sandbox, name, orcid)
    sandbox.revoke(dee)
    sandbox.failing.orcids.add(eve)
    job, tasks = start_run()

    # When the batch is delivered
    failed = deliver(tasks)

    # Then Eve's message goes back to the queue, Dee is counted as failed and disconnected, Fay is done
    assert failed == ["eve"]
    assert sandbox.failing.hits == 4  # the client's own retries before giving up
    running = run_job(job.job_id)
    assert running.state is JobState.RUNNING
    assert (running.counts.researchers_processed, running.counts.researchers_failed) == (2, 1)
    token = composition.token_store().get("dee")
    researcher = composition.researcher_store().get("dee")
    assert token is not None and token.revoked_at is not None
    assert researcher is not None and researcher.orcid_status is OrcidStatus.REVOKED
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert [(e.researcher_id, e.action, e.orcid_status) for e in events] == [("dee", "marked token revoked", 401)]
    assert all(dee_token not in e.message for e in events for dee_token in [sandbox.tokens[dee]])

    # When SQS delivers Eve's message for the last time and ORCID still fails
    assert deliver([t for t in tasks if t.researcher_id == "eve"], receive_count=5) == []

    # Then the run finishes with errors, and its CSV has Fay's rows
    finished = run_job(job.job_id)
    assert finished.state is JobState.COMPLETED_WITH_ERRORS
    assert (finished.counts.researchers_processed, finished.counts.researchers_failed) == (3, 2)
    assert sorted((r.researcher_id, r.title) for r in csv_rows(finished)) == [("fay", "fay 1"), ("fay", "fay 2")]
    actions = {(e.researcher_id, e.action) for e in composition.job_store().list_events(job.job_id, limit=10).items}
    assert actions == {("dee", "marked token revoked"), ("eve", "gave up on researcher")}

    # When ORCID is back, the next run pulls Eve's works (they were never marked pulled), and leaves Dee out
    sandbox.failing.orcids.clear()
    second, tasks = start_run()
    assert sorted(t.researcher_id for t in tasks) == ["eve", "fay"]
    assert deliver(tasks) == []
    assert sorted((r.researcher_id, r.title) for r in csv_rows(run_job(second.job_id))) == [
        ("eve", "eve 1"),
        ("eve", "eve 2"),
    ]


def test_a_crash_after_the_part_or_after_the_ledger_loses_no_row_and_duplicates_none(
    aws: AwsEnv, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two researchers with two new works each
    for name in ("gus", "hal"):
        orcid = sandbox.researcher(name)
        for n in (1, 2):
            sandbox.add_work(orcid, work(f"{name} {n}", doi(f"10.5555/{name}.{n}")))
        connect(sandbox, name, orcid)
    job, tasks = start_run()
    # ... the ledger write fails once for Gus (after his part is written) ...
    real_mark = DynamoPullLedgerStore.mark_pulled
    crashed: set[str] = set()

    def mark_then_crash(self: DynamoPullLedgerStore, researcher_id: str, entries: Any) -> None:
        if researcher_id == "gus" and "gus" not in crashed:
            crashed.add("gus")
            raise ConnectionError("DynamoDB went away")
        real_mark(self, researcher_id, entries)
        if researcher_id == "hal" and "hal" not in crashed:
            # ... and Hal's invocation dies after the ledger write, before the run counted him
            crashed.add("hal")
            raise TimeoutError("Lambda timed out")

    monkeypatch.setattr(DynamoPullLedgerStore, "mark_pulled", mark_then_crash)

    # When the first delivery fails for both, and SQS delivers again
    assert deliver(tasks) == ["gus", "hal"]
    part = composition.pull_files().read(part_key(job.job_id, "gus"))
    assert len(read_rows(part)) == 2  # written before the crash
    assert run_job(job.job_id).state is JobState.RUNNING
    assert deliver(tasks, receive_count=2) == []

    # Then every row is in the CSV exactly once
    finished = run_job(job.job_id)
    assert finished.state is JobState.SUCCEEDED
    assert sorted(r.title for r in csv_rows(finished)) == ["gus 1", "gus 2", "hal 1", "hal 2"]
    ledger = DynamoPullLedgerStore(aws.table("LEDGER_TABLE")).load("hal")
    assert {e.job_id for e in ledger.values()} == {job.job_id}


def test_works_of_a_run_that_never_wrote_its_csv_are_pulled_again(aws: AwsEnv, sandbox: Sandbox) -> None:
    # Given a run whose assembly failed: its workers marked Ida's works pulled, but there is no file
    ida = sandbox.researcher("Ida")
    sandbox.add_work(ida, work("Ida 1", doi("10.5555/ida.1")))
    connect(sandbox, "ida", ida)
    jobs = composition.job_store()
    lost, tasks = start_run()

    class BrokenBucket:
        def finish(self, job: Job) -> None:
            raise OSError("S3 unavailable")

    pull_ports = composition.pull_worker_ports().pull
    real_finishers = pull_ports.finishers
    pull_ports.finishers = {JobType.PULL: BrokenBucket()}
    try:
        assert deliver(tasks) == []
    finally:
        pull_ports.finishers = real_finishers
    failed_run = run_job(lost.job_id)
    assert failed_run.state is JobState.FAILED and failed_run.csv_uri is None
    assert {e.job_id for e in DynamoPullLedgerStore(aws.table("LEDGER_TABLE")).load("ida").values()} == {lost.job_id}
    # When the next run comes
    second, tasks = start_run()
    assert deliver(tasks) == []
    # Then Ida's work is in its CSV after all
    assert [r.title for r in csv_rows(run_job(second.job_id))] == ["Ida 1"]
    assert jobs.get(second.job_id) is not None


def test_a_dry_run_writes_the_csv_but_leaves_the_works_for_the_next_real_run(sandbox: Sandbox) -> None:
    jon = sandbox.researcher("Jon")
    sandbox.add_work(jon, work("Jon 1", doi("10.5555/jon.1")))
    connect(sandbox, "jon", jon)
    dry, tasks = start_run(dry_run=True)
    assert deliver(tasks) == []
    assert [r.title for r in csv_rows(run_job(dry.job_id))] == ["Jon 1"]
    real, tasks = start_run()
    assert deliver(tasks) == []
    assert [r.title for r in csv_rows(run_job(real.job_id))] == ["Jon 1"]


def test_a_researcher_disconnected_after_the_fan_out_is_skipped_with_a_warning(sandbox: Sandbox) -> None:
    kim = sandbox.researcher("Kim")
    sandbox.add_work(kim, work("Kim 1", doi("10.5555/kim.1")))
    connect(sandbox, "kim", kim)
    job, tasks = start_run()
    composition.token_store().delete("kim")
    before = sandbox.member_api_requests()
    assert deliver(tasks) == []
    finished = run_job(job.job_id)
    assert finished.state is JobState.SUCCEEDED and finished.csv_rows == 0
    assert sandbox.member_api_requests() == before
    [event] = composition.job_store().list_events(job.job_id, limit=10).items
    assert (event.level, event.action) == ("warning", "skipped researcher")


def test_the_sample_event_is_a_pull_task_batch() -> None:
    event = json.loads((Path(__file__).parents[2] / "events" / "pull_worker_sqs.json").read_text())
    tasks = [ResearcherTask.model_validate_json(record["body"]) for record in event["Records"]]
    assert {t.job_type for t in tasks} == {JobType.PULL}
    assert [t.researcher_id for t in tasks] == ["researcher-0001", "researcher-0002"]

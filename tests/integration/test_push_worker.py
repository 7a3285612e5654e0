"""The push worker handler against moto and the local ORCID sandbox over HTTP on 127.0.0.1.

Every branch of the push meets a real (local) ORCID here: bulk POSTs, 409 adoption after a crash
or a lost response, researcher-deleted works, revoked tokens, 503 storms, and the request counts.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from werkzeug.serving import BaseWSGIServer, make_server

from functions.push_worker import app
from orcid_sync import composition
from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore
from orcid_sync.adapters.dynamodb.push_ledger import DynamoLedgerStore
from orcid_sync.adapters.orcid_api.client import OrcidClient
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import Job, JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.runs import open_job
from orcid_sync.domain.models import Asset, ResearcherInput, StoredToken, TokenSource, utc_now
from orcid_sync.domain.orcid.models import StringValue, WorkTitle
from orcid_sync.domain.push import planning as push_planning
from orcid_sync.domain.push.ledger import EmploymentEntry, EntryState, ResearcherUrlEntry, WorkEntry
from orcid_sync.domain.push.works import BuiltWork, content_hash
from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from orcid_sync_local.template import PhysicalResource
from tests.conftest import FakeLambdaContext
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, AwsEnv
from tests.support.template_env import function_environment

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORG = {
    "name": "Example University",
    "city": "Boston",
    "country": "US",
    "identifier_type": "ROR",
    "identifier": "05qwgg493",
}
EVERYTHING = IntegrationSettings(
    institution_name="Example University",
    send_assets=True,
    send_affiliation=True,
    organization=ORG,  # type: ignore[arg-type]
    researcher_url={"send": True},  # type: ignore[arg-type]
)


@dataclass
class Sandbox:
    """The local ORCID sandbox served on 127.0.0.1, and its /_sandbox inspection endpoints."""

    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=10)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def new_researcher(self, scope: str = "/read-limited /activities/update /person/update") -> tuple[str, str]:
        created = self.admin(
            "POST",
            "/researchers",
            {"given_names": "Josiah", "family_name": "Carberry", "grant": {"client_id": CLIENT_ID, "scope": scope}},
        )
        return created["orcid"], created["access_token"]

    def record(self, orcid: str) -> dict[str, Any]:
        return self.admin("GET", f"/records/{orcid}")  # type: ignore[no-any-return]

    def works(self, orcid: str) -> list[dict[str, Any]]:
        return self.record(orcid)["works"]  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "/stats")  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        self.admin("POST", "/stats/reset")

    def faults(self, **knobs: Any) -> None:
        self.admin("PUT", "/faults", knobs)

    def rate_limit(self, rate: float, burst: int) -> None:
        self.admin("PUT", "/rate-limit", {"rate": rate, "burst": burst})

    def requests_by_route(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.stats()["requests"]:
            key = f"{row['method']} {row['route'].removeprefix('/v3.0/{orcid}/')}"
            counts[key] = counts.get(key, 0) + row["count"]
        return counts


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    app = create_app(
        SandboxConfig(
            clients=[
                RegisteredClient(
                    CLIENT_ID, CLIENT_SECRET, ["https://orcid-sync.example.edu/orcid/callback"], "orcid-sync test"
                )
            ],
            rate=24,
            burst=40,
        )
    )
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Sandbox(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class Stack:
    """moto with the template's tables, wired to the sandbox, plus helpers to seed and run push jobs."""

    aws: AwsEnv
    sandbox: Sandbox

    def settings(self, settings: IntegrationSettings) -> None:
        store = DynamoIntegrationSettingsStore(self.aws.table("STATE_TABLE"))
        store.save(settings, expected_version=store.get().version, at=utc_now(), by="test")
        # A warm worker would see the change within a minute; a new container (as here) at once.
        composition.reset()

    def researcher(self, researcher_id: str, *, scope: str | None = None, **profile: Any) -> str:
        """A connected researcher: an ORCID record with a token for our client, stored encrypted."""
        orcid, access_token = self.sandbox.new_researcher(*([scope] if scope else []))
        researchers = composition.researcher_store()
        researchers.upsert_profile(
            ResearcherInput.model_validate(
                {"id": researcher_id, "given_names": "Josiah", "family_name": "Carberry", **profile}
            )
        )
        scopes = (scope or "/read-limited /activities/update /person/update").split()
        researchers.record_connection(researcher_id, orcid=orcid, scopes=scopes, connected_at=utc_now())
        sealed = composition.token_cipher().batch().seal(researcher_id, access_token)
        composition.token_store().put(
            StoredToken(
                researcher_id=researcher_id,
                orcid=orcid,
                access_token=sealed,
                scopes=scopes,
                expires_at=utc_now() + timedelta(days=7300),
                source=TokenSource.OAUTH,
                stored_at=utc_now(),
                fingerprint=uuid.uuid4().hex,
            )
        )
        self.tokens[researcher_id] = access_token
        return orcid

    def assets(self, researcher_id: str, count: int, *, start: int = 0, **fields: Any) -> list[Asset]:
        store = composition.asset_store()
        made = []
        for number in range(start, start + count):
            made_asset = asset(researcher_id, number, **fields)
            store.put(made_asset)
            made.append(made_asset)
        return made

    def put_asset(self, item: Asset) -> None:
        composition.asset_store().put(item)

    def job(self, researcher_ids: Sequence[str], *, dry_run: bool = False, **options: Any) -> Job:
        jobs = composition.job_store()
        job = open_job(
            jobs,
            job_type=JobType.PUSH,
            trigger=JobTrigger.MANUAL,
            started_by="test",
            dry_run=dry_run,
            options=options,
            now=utc_now(),
        )
        jobs.set_expected(job.job_id, len(researcher_ids))
        return job

    def run(
        self,
        researcher_ids: Sequence[str],
        *,
        dry_run: bool = False,
        receive_count: int = 1,
        job: Job | None = None,
        **options: Any,
    ) -> tuple[Job, dict[str, Any]]:
        """One push job for these researchers, delivered as one SQS batch to the handler."""
        job = job or self.job(researcher_ids, dry_run=dry_run, **options)
        records = [
            sqs_record(
                ResearcherTask(
                    job_id=job.job_id, job_type=JobType.PUSH, researcher_id=rid, dry_run=dry_run, options=options
                ),
                receive_count,
            )
            for rid in researcher_ids
        ]
        self.messages = {record["messageId"]: json.loads(record["body"])["researcher_id"] for record in records}
        try:
            response = app.lambda_handler({"Records": records}, FakeLambdaContext())
        except BatchProcessingError:
            # Every record failed: Lambda reports the invocation failed and SQS redelivers them all.
            response = {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
        finished = composition.job_store().get(job.job_id)
        assert finished is not None
        return finished, response

    def failed_researchers(self, response: dict[str, Any]) -> list[str]:
        """The researchers whose messages the handler reported as failed (SQS redelivers those)."""
        failed = set(failures(response))
        return [rid for message_id, rid in self.messages.items() if message_id in failed]

    def ledger(self, researcher_id: str) -> Any:
        return DynamoLedgerStore(self.aws.table("LEDGER_TABLE")).load(researcher_id)

    tokens: dict[str, str]
    messages: dict[str, str] = field(default_factory=dict)


def asset(researcher_id: str, number: int, **fields: Any) -> Asset:
    base: dict[str, Any] = {
        "id": f"{researcher_id}-a{number:03d}",
        "researchers": [researcher_id],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": f"Output {number} of {researcher_id}",
        "doi": f"10.5555/{researcher_id}.{number}",
        "date": "2024-05",
        "contributors": [{"name": "Josiah Carberry", "sequence": 1, "role": "author"}],
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
    }
    return Asset.model_validate(base | fields)


def sqs_record(task: ResearcherTask, receive_count: int = 1) -> dict[str, Any]:
    template = json.loads((EVENTS / "push_worker_sqs.json").read_text())["Records"][0]
    return {
        **template,
        "messageId": str(uuid.uuid4()),
        "body": task.model_dump_json(),
        "attributes": {**template["attributes"], "ApproximateReceiveCount": str(receive_count)},
    }


@pytest.fixture
def stack(aws: AwsEnv, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("ORCID_API_URL", sandbox.url)
    monkeypatch.setenv("ORCID_SITE_URL", sandbox.url)
    # The worker's own variable (not in Globals), as the template gives it.
    monkeypatch.setenv("PUSH_MAX_RECEIVE_COUNT", function_environment("PushWorkerFunction")["PUSH_MAX_RECEIVE_COUNT"])
    composition.reset()
    yield Stack(aws=aws, sandbox=sandbox, tokens={})
    composition.reset()


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


# --- request economy ---------------------------------------------------------------------------------------------


def test_first_push_of_120_works_costs_two_bulk_posts_then_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a researcher with 120 approved, visible assets and every push option on
    orcid = stack.researcher("r1", department="Psychoceramics", position="Professor")
    stack.assets("r1", 120)
    stack.settings(EVERYTHING)
    stack.sandbox.reset_stats()

    # When the push job runs
    job, response = stack.run(["r1"])

    # Then the record holds 120 works, the profile link and the affiliation
    assert failures(response) == []
    record = stack.sandbox.record(orcid)
    assert len(record["works"]) == 120
    assert all(work["source"]["client_id"] == CLIENT_ID for work in record["works"])
    assert [u["url"] for u in record["researcher_urls"]] == ["https://repository.example.edu/profiles/r1"]
    assert len(record["employments"]) == 1
    # And it took exactly two bulk POSTs, one researcher-url POST and one employment POST
    first = stack.sandbox.requests_by_route()
    works_requests = sum(count for route, count in first.items() if "work" in route)
    assert first == {
        "POST works": 2,
        "POST researcher-urls": 1,
        "POST employment": 1,
    }, first
    assert job.state.value == "succeeded"
    assert job.counts.works_created == 120
    assert job.counts.orcid_requests == 4

    # When it runs again with nothing changed
    stack.sandbox.reset_stats()
    again, _ = stack.run(["r1"])
    # Then no ORCID request at all
    assert stack.sandbox.stats()["total"] == 0
    assert again.counts.orcid_requests == 0
    assert again.counts.works_unchanged == 120
    with capsys.disabled():
        print(
            f"\n[push] first push, 120 new works: {works_requests} work requests "
            f"({works_requests / 120:.4f} per new work) + researcher-url {first['POST researcher-urls']} "
            f"+ employment {first['POST employment']}; second run, nothing changed: "
            f"{again.counts.orcid_requests} requests"
        )


def test_one_post_per_work_when_bulk_is_off(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    orcid = stack.researcher("r1")
    stack.assets("r1", 30)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.sandbox.reset_stats()
    stack.run(["r1"], bulk=False)
    counts = stack.sandbox.requests_by_route()
    assert counts == {"POST work": 30}
    assert len(stack.sandbox.works(orcid)) == 30
    with capsys.disabled():
        print(f"\n[push] bulk off, 30 new works: {counts['POST work']} requests (1.0 per work)")


# --- changes in the repository and the settings -----------------------------------------------------------------


def test_changed_withdrawn_and_new_assets(stack: Stack) -> None:
    orcid = stack.researcher("r1")
    made = stack.assets("r1", 10)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.run(["r1"])
    stack.sandbox.reset_stats()

    stack.put_asset(made[0].model_copy(update={"title": "A better title", "updated_at": utc_now()}))
    stack.put_asset(made[1].model_copy(update={"status": "withdrawn", "updated_at": utc_now()}))
    stack.put_asset(made[2].model_copy(update={"visible": False, "updated_at": utc_now()}))
    composition.asset_store().delete(made[3].id)
    stack.assets("r1", 2, start=100)
    job, _ = stack.run(["r1"])

    assert stack.sandbox.requests_by_route() == {
        "PUT work/{put_code}": 1,
        "DELETE work/{put_code}": 3,
        "POST works": 1,
    }
    assert (job.counts.works_updated, job.counts.works_deleted, job.counts.works_created) == (1, 3, 2)
    titles = sorted(work["work"]["title"]["title"]["value"] for work in stack.sandbox.works(orcid))
    assert len(titles) == 9
    assert "A better title" in titles


def test_excluding_a_type_deletes_its_works(stack: Stack) -> None:
    orcid = stack.researcher("r1")
    stack.assets("r1", 3)
    stack.assets("r1", 2, start=10, type="dataset.dataset")
    stack.settings(IntegrationSettings(send_assets=True))
    stack.run(["r1"])
    assert len(stack.sandbox.works(orcid)) == 5

    stack.settings(IntegrationSettings(send_assets=True, asset_types={"include": ["all"], "exclude": ["dataset"]}))  # type: ignore[arg-type]
    stack.sandbox.reset_stats()
    job, _ = stack.run(["r1"])

    assert job.counts.works_deleted == 2
    assert stack.sandbox.requests_by_route() == {"DELETE work/{put_code}": 2}
    assert {work["work"]["type"] for work in stack.sandbox.works(orcid)} == {"journal-article"}


# --- crash safety -----------------------------------------------------------------------------------------------


def test_a_crash_after_orcid_accepted_leaves_no_duplicates(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a ledger that dies after two BatchWriteItem calls (50 entries), while ORCID accepted the first bulk
    # POST of 100
    orcid = stack.researcher("r1")
    stack.assets("r1", 120)
    stack.settings(IntegrationSettings(send_assets=True))
    written = {"items": 0}
    original = DynamoLedgerStore._batch_write

    def dying_batch_write(self: DynamoLedgerStore, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if written["items"] + len(requests) > 50:
            raise RuntimeError("Lambda killed")
        written["items"] += len(requests)
        return original(self, requests)

    monkeypatch.setattr(DynamoLedgerStore, "_batch_write", dying_batch_write)
    job = stack.job(["r1"])
    _, response = stack.run(["r1"], job=job)
    # Then the message fails (SQS redelivers it), with 100 works on ORCID and 50 in the ledger
    assert len(failures(response)) == 1
    assert len(stack.sandbox.works(orcid)) == 100
    assert len(stack.ledger("r1").works) == 50

    # When the message comes back
    monkeypatch.setattr(DynamoLedgerStore, "_batch_write", original)
    stack.sandbox.reset_stats()
    finished, response = stack.run(["r1"], job=job, receive_count=2)

    # Then the 50 unrecorded works are adopted (ORCID's 409 names them), nothing is created twice
    assert failures(response) == []
    works = stack.sandbox.works(orcid)
    assert len(works) == 120
    assert len({tuple(sorted(map(str, w["self_ids"]))) for w in works}) == 120
    assert finished.counts.works_adopted == 50
    assert finished.counts.works_created == 20
    assert finished.counts.researchers_processed == 1
    ledger = stack.ledger("r1")
    assert len({entry.put_code for entry in ledger.works.values()}) == 120
    routes = stack.sandbox.requests_by_route()
    assert routes.get("POST works") == 1  # the 70 not recorded: 50 come back as 409s, 20 are new
    assert "PUT work/{put_code}" not in routes  # same content: no PUT needed


def test_lost_responses_never_duplicate_works(stack: Stack) -> None:
    # Given ORCID that applies every other write but loses the answer
    orcid = stack.researcher("r1")
    stack.assets("r1", 60)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.sandbox.faults(lost_response_rate=0.5, seed=7)
    job = stack.job(["r1"])
    # When the message is delivered until the researcher is done
    for attempt in range(1, 6):
        finished, response = stack.run(["r1"], job=job, receive_count=attempt)
        if not failures(response):
            break
    # Then every work is on ORCID exactly once and recorded
    stack.sandbox.faults()
    assert finished.counts.researchers_processed == 1
    works = stack.sandbox.works(orcid)
    assert len(works) == 60
    assert len(stack.ledger("r1").works) == 60
    assert len({w["put_code"] for w in works}) == 60


# --- the researcher on ORCID --------------------------------------------------------------------------------------


def test_a_work_the_researcher_deleted_stays_deleted(stack: Stack) -> None:
    orcid = stack.researcher("r1")
    made = stack.assets("r1", 3)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.run(["r1"])
    gone = stack.ledger("r1").works[made[0].id].put_code
    # The researcher deletes the work on orcid.org
    stack.sandbox.admin("DELETE", f"/records/{orcid}/works/{gone}")
    # The repository edits the asset: our PUT meets 404
    stack.put_asset(made[0].model_copy(update={"title": "Edited", "updated_at": utc_now()}))
    job, _ = stack.run(["r1"])
    assert stack.ledger("r1").works[made[0].id].state is EntryState.DELETED_BY_RESEARCHER
    assert len(stack.sandbox.works(orcid)) == 2
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert any(e.asset_id == made[0].id and e.action == "stopped sending work" for e in events)
    # Nothing changes: nothing is sent
    stack.sandbox.reset_stats()
    stack.run(["r1"])
    assert stack.sandbox.stats()["total"] == 0
    # The repository edits the asset again: still not sent, but counted as withheld
    stack.put_asset(made[0].model_copy(update={"title": "Edited again", "updated_at": utc_now()}))
    job, _ = stack.run(["r1"])
    assert stack.sandbox.stats()["total"] == 0
    assert job.counts.works_withheld_deleted_by_researcher == 1
    # An administrator asks to resend: it is back
    stack.run(["r1"], resend_deleted=True)
    assert len(stack.sandbox.works(orcid)) == 3
    assert stack.ledger("r1").works[made[0].id].state is EntryState.SYNCED


def test_the_researchers_choices_on_their_page_reach_their_orcid_record(stack: Stack) -> None:
    """Issue 16: "don't send this one" deletes our work on the next push and keeps it off; opting back in sends it
    once; "send it again" brings back a work the researcher deleted, once. The page itself asks ORCID nothing."""
    from orcid_sync.domain.me.outputs import OutputState, opt_in, opt_out, researcher_outputs, send_again

    orcid = stack.researcher("r1")
    made = stack.assets("r1", 3)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.run(["r1"])
    assert len(stack.sandbox.works(orcid)) == 3
    page = composition.outputs_ports()
    # The page: three works on ORCID, no request to ORCID to say so
    stack.sandbox.reset_stats()
    shown = researcher_outputs(page, "r1")
    assert shown.counts[OutputState.ON_ORCID] == 3
    assert stack.sandbox.stats()["total"] == 0

    # When the researcher opts out of one, the next push deletes it from their record, with one event
    opt_out(page, "r1", made[0].id, now=utc_now())
    job, _ = stack.run(["r1"])
    titles = sorted(w["work"]["title"]["title"]["value"] for w in stack.sandbox.works(orcid))
    assert titles == ["Output 1 of r1", "Output 2 of r1"]
    assert job.counts.works_deleted == 1
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert [e.message for e in events if e.action == "deleted works"] == [
        "the researcher chose not to send: 1 work deleted from ORCID"
    ]
    # and never sends it again, however the asset changes
    stack.put_asset(made[0].model_copy(update={"title": "Edited", "updated_at": utc_now()}))
    job, _ = stack.run(["r1"])
    assert len(stack.sandbox.works(orcid)) == 2
    assert job.counts.works_withheld_opted_out == 1

    # When they opt back in, the next push sends it once, the one after nothing
    assert opt_in(page, "r1", made[0].id, now=utc_now()).state is OutputState.WILL_BE_ADDED
    stack.run(["r1"])
    stack.sandbox.reset_stats()
    stack.run(["r1"])
    assert stack.sandbox.stats()["total"] == 0
    assert sorted(w["work"]["title"]["title"]["value"] for w in stack.sandbox.works(orcid)) == [
        "Edited",
        "Output 1 of r1",
        "Output 2 of r1",
    ]

    # When they delete a work on orcid.org, it stays deleted until they press "send it again"; then it is back once
    gone = stack.ledger("r1").works[made[1].id].put_code
    stack.sandbox.admin("DELETE", f"/records/{orcid}/works/{gone}")
    stack.put_asset(made[1].model_copy(update={"title": "Edited 1", "updated_at": utc_now()}))
    stack.run(["r1"])
    assert researcher_outputs(page, "r1").counts[OutputState.DELETED_BY_RESEARCHER] == 1
    assert send_again(page, "r1", made[1].id, now=utc_now()).state is OutputState.WILL_BE_ADDED
    stack.run(["r1"])
    stack.run(["r1"])
    titles = [w["work"]["title"]["title"]["value"] for w in stack.sandbox.works(orcid)]
    assert sorted(titles) == ["Edited", "Edited 1", "Output 2 of r1"]
    assert researcher_outputs(page, "r1").counts[OutputState.ON_ORCID] == 3


def test_a_token_revoked_mid_job_disconnects_the_researcher(stack: Stack) -> None:
    stack.researcher("r1")
    orcid2 = stack.researcher("r2")
    stack.assets("r1", 2)
    stack.assets("r2", 2)
    stack.settings(IntegrationSettings(send_assets=True))
    # r1 revokes our access in their ORCID account settings after the job was fanned out
    stack.sandbox.admin("POST", f"/tokens/{stack.tokens['r1']}/revoke")
    job, response = stack.run(["r1", "r2"])
    assert failures(response) == []
    assert job.counts.researchers_failed == 1
    assert job.state.value == "completed_with_errors"
    assert composition.researcher_store().get("r1").orcid_status.value == "revoked"  # type: ignore[union-attr]
    assert composition.token_store().get("r1").revoked_at is not None  # type: ignore[union-attr]
    events = composition.job_store().list_events(job.job_id, limit=10).items
    [revoked] = [e for e in events if e.researcher_id == "r1"]
    assert revoked.action == "marked token revoked"
    assert revoked.orcid_status == 401
    assert stack.tokens["r1"] not in revoked.message
    # The other researcher was pushed as usual
    assert len(stack.sandbox.works(orcid2)) == 2


def test_a_token_without_the_write_scope_is_reported(stack: Stack) -> None:
    # A legacy token imported with /activities/update in its stored scopes, but ORCID knows better
    stack.researcher("r1", scope="/read-limited /person/update")
    stack.assets("r1", 1)
    stack.settings(IntegrationSettings(send_assets=True))
    composition.token_store().put(
        composition.token_store().get("r1").model_copy(update={"scopes": ["/read-limited", "/activities/update"]})  # type: ignore[union-attr]
    )
    job, _ = stack.run(["r1"])
    events = composition.job_store().list_events(job.job_id, limit=10).items
    assert [(e.orcid_status, e.orcid_error_code) for e in events] == [(403, 9038)]
    assert "scope" in events[0].message


def test_orcid_validation_errors_name_the_asset_and_the_others_go(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an asset whose work breaks a rule of ORCID's that our models do not check (here: the XSD's
    # 1000-character subtitle, slipped past our validation), among good ones
    orcid = stack.researcher("r1")
    stack.assets("r1", 4)
    bad_id = "r1-a002"
    real_build = push_planning.build_work

    def build_with_a_gap(item: Asset, settings: IntegrationSettings, *, sandbox: bool = False) -> Any:
        built = real_build(item, settings, sandbox=sandbox)
        if item.id != bad_id or not isinstance(built, BuiltWork):
            return built
        title = WorkTitle.model_construct(title=built.work.title.title, subtitle=StringValue(value="y" * 1001))
        work = built.work.model_copy(update={"title": title})
        return BuiltWork(built.asset_id, work, content_hash(work.to_orcid_json()))

    monkeypatch.setattr(push_planning, "build_work", build_with_a_gap)
    stack.settings(IntegrationSettings(send_assets=True))
    # When the push runs
    job, response = stack.run(["r1"])
    # Then the other works are on ORCID, and the event names the asset and ORCID's message
    assert failures(response) == []
    assert len(stack.sandbox.works(orcid)) == 3
    events = composition.job_store().list_events(job.job_id, limit=10).items
    [event] = [e for e in events if e.asset_id == bad_id]
    assert event.level == "error"
    assert (event.orcid_status, event.orcid_error_code) == (400, 9047)
    assert "1000" in event.message
    assert "subtitle" in event.message
    assert stack.ledger("r1").works[bad_id].state is EntryState.REJECTED
    # And while the asset is unchanged it costs no further request
    stack.sandbox.reset_stats()
    stack.run(["r1"])
    assert stack.sandbox.stats()["total"] == 0


# --- ORCID overloaded ----------------------------------------------------------------------------------------------


def test_a_503_storm_is_ridden_out_without_duplicates(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # Given ORCID limited far below our own limit, failing a quarter of requests with 5xx and losing some answers,
    # and one POST per work so that there are many requests to throttle
    researchers = [f"r{n}" for n in range(3)]
    orcids = [stack.researcher(rid) for rid in researchers]
    for rid in researchers:
        stack.assets(rid, 15)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.sandbox.rate_limit(rate=6, burst=3)
    stack.sandbox.faults(error_rate=0.25, error_statuses=[500, 502, 503], lost_response_rate=0.1, seed=3)
    stack.sandbox.reset_stats()
    job = stack.job(researchers, bulk=False)
    pending = list(researchers)
    deliveries = 0
    for attempt in range(1, 6):
        finished, response = stack.run(pending, job=job, receive_count=attempt, bulk=False)
        deliveries += len(pending)
        pending = stack.failed_researchers(response)
        if not pending:
            break
    stack.sandbox.faults()
    stats = stack.sandbox.stats()
    # Then every researcher is done and every work is on ORCID exactly once
    assert finished.counts.researchers_processed == 3
    assert finished.counts.researchers_failed == 0
    for orcid in orcids:
        works = stack.sandbox.works(orcid)
        assert len(works) == 15
        assert len({w["work"]["title"]["title"]["value"] for w in works}) == 15
    assert stats["by_status"].get("503", 0) > 0  # it was a storm
    # And the throttling was reported for the alarm, as many times as ORCID throttled us
    assert emitted_metrics(capsys.readouterr().out)[("OrcidThrottled", "")] == stats["by_status"]["503"]
    with capsys.disabled():
        print(
            f"\n[push] 503 storm (ORCID at 6/s burst 3, 25% 5xx, 10% lost answers; 45 works, one POST each): "
            f"{stats['total']} requests, {stats['rate_limited']} rate-limited 503s, by status {stats['by_status']}; "
            f"{deliveries} deliveries for {len(researchers)} researchers, "
            f"{finished.counts.works_created} created + {finished.counts.works_adopted} adopted"
        )


# --- one worker per researcher (issue 13, section 6) -----------------------------------------------------------------


def _push_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """The PushQueue in moto, and the worker's queue variable as the template gives it now that the queue exists."""
    queue_url = boto3.client("sqs").create_queue(QueueName="orcid-sync-PushQueue")["QueueUrl"]
    queue = PhysicalResource("PushQueue", "AWS::SQS::Queue", queue_url, {"QueueName": "orcid-sync-PushQueue"})
    environment = function_environment("PushWorkerFunction", resources={"PushQueue": queue})
    monkeypatch.setenv("PUSH_QUEUE_URL", environment["PUSH_QUEUE_URL"])
    composition.reset()
    return queue_url


def test_a_researcher_another_worker_holds_is_handed_back_with_a_delay(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orcid_sync.adapters.dynamodb.leases import DynamoLeaseStore
    from orcid_sync.domain.push import LEASE_DURATION

    # Given the nightly push holds researcher r1 while an administrator's run reaches them
    orcid = stack.researcher("r1")
    stack.assets("r1", 2)
    stack.settings(IntegrationSettings(send_assets=True))
    sqs = boto3.client("sqs")
    queue_url = _push_queue(monkeypatch)
    leases = DynamoLeaseStore(stack.aws.table("STATE_TABLE"))
    nightly = leases.acquire("r1", job_id="push-nightly", now=utc_now(), duration=LEASE_DURATION)
    stack.sandbox.reset_stats()
    job, response = stack.run(["r1"])
    # Then the message succeeds without a request or a count, and a delayed copy waits in the queue
    assert failures(response) == []
    assert stack.sandbox.stats()["total"] == 0
    assert job.counts.researchers_processed == 0
    delayed = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    # When the nightly push is done and the copy comes back (2 s later)
    leases.release(nightly)
    [copy] = sqs.receive_message(
        QueueUrl=queue_url, WaitTimeSeconds=5, MessageAttributeNames=["All"], MaxNumberOfMessages=1
    )["Messages"]
    assert copy["MessageAttributes"]["orcid_sync_handbacks"]["StringValue"] == "1"
    record = {
        **sqs_record(ResearcherTask.model_validate_json(copy["Body"])),
        "messageAttributes": {"orcid_sync_handbacks": {"stringValue": "1", "dataType": "Number"}},
    }
    app.lambda_handler({"Records": [record]}, FakeLambdaContext())
    # Then this run pushes r1, once
    finished = composition.job_store().get(job.job_id)
    assert finished is not None
    assert finished.counts.researchers_processed == 1
    assert finished.counts.works_created == 2
    assert len(stack.sandbox.works(orcid)) == 2


# --- several researchers per worker ----------------------------------------------------------------------------------


def test_a_batch_of_researchers_is_pushed_at_once_each_counting_its_own_requests(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given five researchers and an ORCID that takes half a second to answer
    ids = [f"r{n}" for n in range(5)]
    for rid in ids:
        stack.researcher(rid)
        stack.assets(rid, 10)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.sandbox.faults(latency_ms=500)
    job = stack.job(ids)
    # (counting the bulk POSTs in flight at once, not timing them: a busy machine makes any time limit flaky)
    in_flight, most_in_flight, lock = 0, 0, threading.Lock()
    create_works = OrcidClient.create_works

    def counted(self: OrcidClient, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        try:
            return create_works(self, *args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(OrcidClient, "create_works", counted)
    # When one invocation gets all five
    finished, response = stack.run(ids, job=job)
    # Then their bulk POSTs were in flight together, not one after the other
    assert failures(response) == []
    assert most_in_flight > 1, most_in_flight
    # And each researcher counted its own request, not its neighbours'
    assert finished.counts.researchers_processed == 5
    assert finished.counts.orcid_requests == 5
    assert finished.counts.works_created == 50


class ShortOfTime(FakeLambdaContext):
    """An invocation that has time to start a researcher (61 s), and then only 10 s left."""

    def __init__(self) -> None:
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return 61_000 if self.asked == 1 else 10_000


def test_a_push_near_the_timeout_is_handed_back_to_go_on_in_another_invocation(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    orcid = stack.researcher("r1")
    stack.assets("r1", 3)
    stack.settings(IntegrationSettings(send_assets=True))
    sqs = boto3.client("sqs")
    queue_url = _push_queue(monkeypatch)
    job = stack.job(["r1"])
    record = sqs_record(ResearcherTask(job_id=job.job_id, job_type=JobType.PUSH, researcher_id="r1"))
    stack.sandbox.reset_stats()
    # When the invocation has too little time left for an ORCID request
    response = app.lambda_handler({"Records": [record]}, ShortOfTime())
    # Then the message succeeds without a request, and a copy waits in the queue, not counted yet
    assert failures(response) == []
    assert stack.sandbox.stats()["total"] == 0
    [copy] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MessageAttributeNames=["All"])["Messages"]
    assert copy["MessageAttributes"]["orcid_sync_handbacks"]["StringValue"] == "1"
    pending = composition.job_store().get(job.job_id)
    assert pending is not None and pending.counts.researchers_processed == 0
    # When the copy comes to an invocation with time
    again = {
        **sqs_record(ResearcherTask.model_validate_json(copy["Body"])),
        "messageAttributes": {"orcid_sync_handbacks": {"stringValue": "1", "dataType": "Number"}},
    }
    app.lambda_handler({"Records": [again]}, FakeLambdaContext())
    # Then the researcher is pushed, once
    finished = composition.job_store().get(job.job_id)
    assert finished is not None and finished.counts.researchers_processed == 1
    assert len(stack.sandbox.works(orcid)) == 3


# --- dry run ---------------------------------------------------------------------------------------------------------


def test_a_dry_run_reports_and_writes_nothing(stack: Stack) -> None:
    orcid = stack.researcher("r1")
    stack.assets("r1", 3)
    stack.put_asset(asset("r1", 50, status="draft"))
    stack.settings(EVERYTHING)
    stack.sandbox.reset_stats()
    job, _ = stack.run(["r1"], dry_run=True)
    assert stack.sandbox.stats()["total"] == 0
    assert stack.sandbox.works(orcid) == []
    assert stack.ledger("r1").works == {}
    assert job.dry_run
    assert job.counts.orcid_requests == 0
    events = composition.job_store().list_events(job.job_id, limit=50).items
    assert sorted(e.action for e in events) == [
        "would create employment",
        "would create researcher-url",
        "would create work",
        "would create work",
        "would create work",
    ]


# --- the ledger in DynamoDB -------------------------------------------------------------------------------------------


def test_the_ledger_is_read_in_one_query_without_the_pull_ledgers_items(aws: AwsEnv) -> None:
    table = aws.table("LEDGER_TABLE")
    ledger = DynamoLedgerStore(table)
    at = datetime(2026, 11, 21, tzinfo=UTC)
    ledger.put_work("r1", WorkEntry(asset_id="a1", put_code=11, content_hash="h1", last_pushed_at=at))
    ledger.put_work(
        "r1",
        WorkEntry(asset_id="a2", content_hash="h2", state=EntryState.REJECTED, last_pushed_at=at, message="no"),
    )
    ledger.put_researcher_url("r1", ResearcherUrlEntry(put_code=12, content_hash="u", last_pushed_at=at))
    ledger.put_employment("r1", EmploymentEntry(put_code=13, content_hash="e", last_pushed_at=at))
    ledger.set_fingerprint("r1", "fp", at)
    ledger.put_work("r2", WorkEntry(asset_id="a1", put_code=21, content_hash="x", last_pushed_at=at))
    # The pull worker's items share the partition
    table.put_item(Item={"researcher_id": "r1", "item": "pulled#doi:10.1/x", "pulled_at": at.isoformat()})

    calls: list[dict[str, Any]] = []
    real_query = table.query

    def counting_query(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_query(**kwargs)

    table.query = counting_query  # type: ignore[method-assign]
    loaded = ledger.load("r1")
    assert len(calls) == 1
    assert sorted(loaded.works) == ["a1", "a2"]
    assert loaded.works["a1"].put_code == 11
    assert loaded.works["a2"].state is EntryState.REJECTED
    assert loaded.works["a2"].message == "no"
    assert loaded.researcher_url is not None and loaded.researcher_url.put_code == 12
    assert loaded.employment is not None and loaded.employment.put_code == 13
    assert loaded.fingerprint == "fp"

    ledger.delete_work("r1", "a1")
    ledger.set_fingerprint("r1", None, at)
    loaded = ledger.load("r1")
    assert sorted(loaded.works) == ["a2"]
    assert loaded.fingerprint is None
    assert table.get_item(Key={"researcher_id": "r1", "item": "pulled#doi:10.1/x"}).get("Item") is not None


# --- metrics ---------------------------------------------------------------------------------------------------------


def emitted_metrics(output: str) -> dict[tuple[str, str], float]:
    """(metric name, outcome dimension or "") → value, from the EMF lines Powertools printed."""
    found: dict[tuple[str, str], float] = {}
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                total = sum(value) if isinstance(value, list) else value
                key = (metric["Name"], document.get("outcome", ""))
                found[key] = found.get(key, 0) + total
    return found


def test_the_worker_emits_works_researchers_and_orcid_request_metrics(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.researcher("r1")
    stack.researcher("r2")
    stack.assets("r1", 3)
    stack.assets("r2", 1)
    stack.settings(IntegrationSettings(send_assets=True))
    stack.sandbox.admin("POST", f"/tokens/{stack.tokens['r2']}/revoke")
    capsys.readouterr()
    stack.run(["r1", "r2"])
    found = emitted_metrics(capsys.readouterr().out)
    assert found[("WorksCreated", "")] == 3
    assert found[("ResearchersUpdated", "")] == 1
    assert found[("ResearchersFailed", "")] == 1
    assert found[("ResearchersDisconnected", "")] == 1
    assert found[("OrcidRequests", "success")] == 1
    assert found[("OrcidRequests", "unauthorized")] == 1
    assert ("OrcidThrottled", "") not in found

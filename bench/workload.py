"""Synthetic institutions for the benchmarks and the chaos run, fed through the admin API like a real one.

Researchers get a record and a token on the local ORCID sandbox (``/_sandbox/researchers``, as if they
had clicked "Authorize access"); the institution then loads them, their assets and their tokens over
the SigV4-signed admin API, exactly as ``make demo`` does. Nothing here touches DynamoDB directly.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import batched
from typing import Any

from orcid_sync.domain.identifiers import orcid_check_character
from orcid_sync_cli.api import ApiClient
from orcid_sync_local.stack import LocalStack

from .measure import Sandbox

SCOPES = "/read-limited /activities/update /person/update"
BATCH_ROWS = 1000  # the admin API's batch limit for researchers, assets and tokens
OTHER_SOURCE = "APP-BENCHOTHER000001"  # another member's client id, for works that are not ours
# A few Esploro types, so the works are not all alike (journal articles dominate, as in a repository).
ASSET_TYPES = (
    ("publication.journalArticle", 6),
    ("publication.bookChapter", 1),
    ("publication.conferenceProceeding", 1),
    ("dataset.dataset", 1),
    ("publication.report", 1),
)
PUSH_SETTINGS: dict[str, Any] = {
    "institution_name": "Example University",
    "send_assets": True,
    "researcher_url": {"send": True},
    "send_affiliation": True,
    "organization": {
        "name": "Example University",
        "city": "Cambridge",
        "region": "MA",
        "country": "US",
        "identifier_type": "ROR",
        "identifier": "https://ror.org/042nb2s44",
    },
}


@contextmanager
def seeding_assets() -> Iterator[None]:
    """While setting up, let the asset store apply its writes as batch writes instead of one transaction each.

    moto's TransactWriteItems deep-copies the whole table before every transaction (to roll back), so
    loading N assets through the API costs O(N²) there (and gigabytes of RSS at 10,000 assets), where
    DynamoDB's cost is per item. The store still builds the items (``DynamoAssetStore.put``); only their
    atomicity is dropped, which a setup without concurrent writers does not need. Never used while measuring.
    """
    # Imported only now: the stack has set the functions' environment (see start_job_with_options).
    from orcid_sync.adapters.dynamodb.stores import DynamoAssetStore

    original = DynamoAssetStore._transact

    def batch_writes(store: DynamoAssetStore, writes: list[dict[str, Any]]) -> None:
        with store._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for write in writes:
                [(operation, item)] = write.items()
                if operation == "Put":
                    batch.put_item(Item=item)
                else:
                    batch.delete_item(Key=item)

    DynamoAssetStore._transact = batch_writes  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        DynamoAssetStore._transact = original  # type: ignore[method-assign]


def fake_orcid(series: int, n: int) -> str:
    """A well-formed iD (valid check character) that no sandbox record has: for token rows never sent to ORCID."""
    base = f"0009{series:04d}{n:07d}"
    digits = base + orcid_check_character(base)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def asset_type(n: int) -> str:
    cycle = [name for name, weight in ASSET_TYPES for _ in range(weight)]
    return cycle[n % len(cycle)]


def assets_for(researcher_id: str, count: int, *, revision: int = 0) -> list[dict[str, Any]]:
    """``count`` approved, visible assets with a DOI each; ``revision`` changes their titles."""
    suffix = f" (revised {revision})" if revision else ""
    return [asset(researcher_id, n, suffix=suffix) for n in range(1, count + 1)]


def asset(researcher_id: str, n: int, *, suffix: str = "") -> dict[str, Any]:
    return {
        "id": f"{researcher_id}-a{n:04d}",
        "researchers": [researcher_id],
        "type": asset_type(n),
        "status": "approved",
        "visible": True,
        "title": f"Findings on topic {n} by {researcher_id}{suffix}",
        "date": f"{2000 + n % 25}-{1 + n % 12:02d}",
        "doi": f"10.5555/{researcher_id}.{n}",
        "container_title": "Journal of Synthetic Results",
    }


def pulled_work(n: int, researcher_id: str) -> dict[str, Any]:
    """A work as another source (or the researcher) put it on ORCID: a DOI, or a PMID for every fifth."""
    external: dict[str, str] = (
        {"external-id-type": "pmid", "external-id-value": str(30_000_000 + n)}
        if n % 5 == 0
        else {"external-id-type": "doi", "external-id-value": f"10.7777/{researcher_id}.{n}"}
    )
    return {
        "title": {"title": {"value": f"Elsewhere published work {n}"}},
        "type": "journal-article",
        "publication-date": {"year": {"value": str(1990 + n % 30)}},
        "external-ids": {"external-id": [{**external, "external-id-relationship": "self"}]},
    }


@dataclass
class Fleet:
    """Researchers known to the stack: their ids, and iD and tokens where they are on the sandbox."""

    ids: list[str]
    orcids: dict[str, str] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    def subset(self, ids: Sequence[str]) -> Fleet:
        return Fleet(
            list(ids),
            {i: self.orcids[i] for i in ids if i in self.orcids},
            {i: self.access_tokens[i] for i in ids if i in self.access_tokens},
            {i: self.refresh_tokens[i] for i in ids if i in self.refresh_tokens},
        )


class Workload:
    """Drives one running local stack as an institution, a researcher population and an administrator."""

    def __init__(self, stack: LocalStack, *, threads: int = 8) -> None:
        self.stack = stack
        self.api = ApiClient(stack.api_url, session=stack.session, timeout=300)
        self.sandbox = Sandbox(stack.orcid_url)
        self.client_id = stack.client_id
        self.threads = threads

    # --- researchers ---------------------------------------------------------------------------

    def connected_researchers(self, prefix: str, count: int) -> Fleet:
        """``count`` researchers on the sandbox with a token for us, loaded and with their tokens imported."""
        ids = [f"{prefix}{n:05d}" for n in range(count)]
        with ThreadPoolExecutor(self.threads) as pool:
            grants = list(pool.map(self._sandbox_researcher, ids))
        fleet = Fleet(ids)
        for rid, grant in zip(ids, grants, strict=True):
            fleet.orcids[rid] = grant["orcid"]
            fleet.access_tokens[rid] = grant["access_token"]
            fleet.refresh_tokens[rid] = grant["refresh_token"]
        self.load_researchers(self.researcher_rows(ids, fleet.orcids))
        for rows in batched(self.token_rows(fleet), BATCH_ROWS, strict=False):
            report = self.api.call("POST", "/tokens", json_body=list(rows))
            rejected = [row for row in report["rows"] if row["outcome"] == "rejected"]
            if rejected:
                raise RuntimeError(f"token rows rejected while setting up: {rejected[:3]}")
        return fleet

    def _sandbox_researcher(self, rid: str) -> dict[str, Any]:
        return self.sandbox.create_researcher(
            given_names="Bench", family_name=rid, client_id=self.client_id, scope=SCOPES
        )

    @staticmethod
    def researcher_rows(ids: Iterable[str], orcids: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "id": rid,
                "given_names": "Bench",
                "family_name": rid,
                "email": f"{rid}@example.edu",
                "orcid": orcids[rid],
                "position": "Researcher",
                "department": "Benchmarks",
            }
            for rid in ids
        ]

    def load_researchers(self, rows: Sequence[dict[str, Any]]) -> None:
        for batch in batched(rows, BATCH_ROWS, strict=False):
            self._load("/researchers", list(batch))

    def load_assets(self, rows: Sequence[dict[str, Any]], *, seed: bool = False) -> None:
        """``POST /assets`` in batches of 1,000; ``seed`` for setting up thousands (see ``seeding_assets``)."""
        with seeding_assets() if seed else nullcontext():
            for batch in batched(rows, BATCH_ROWS, strict=False):
                self._load("/assets", list(batch))

    def _load(self, path: str, rows: list[dict[str, Any]]) -> None:
        result = self.api.call("POST", path, json_body=rows)
        problems = [row for row in result["rows"] if row["outcome"] == "rejected"]
        if problems:
            raise RuntimeError(f"{path}: rows refused while setting up: {problems[:3]}")

    def token_rows(self, fleet: Fleet) -> Iterator[dict[str, Any]]:
        for rid in fleet.ids:
            yield {
                "orcid": fleet.orcids[rid],
                "access_token": fleet.access_tokens[rid],
                "refresh_token": fleet.refresh_tokens.get(rid),
                "scope": SCOPES,
                "expires_in": 631138518,
                "researcher_id": rid,
            }

    @staticmethod
    def token_csv(rows: Iterable[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(
            out, ["orcid", "access_token", "refresh_token", "scope", "expires_in", "researcher_id"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")

    def register_other_source(self) -> None:
        self.sandbox.register_client(OTHER_SOURCE, "Another member (benchmarks)")

    def seed_works(self, fleet: Fleet, per_researcher: int) -> int:
        """Works on the researchers' records that are not ours (the pull's input), through /_sandbox."""
        self.register_other_source()

        def seed(rid: str) -> int:
            for n in range(1, per_researcher + 1):
                source = None if n % 3 == 0 else OTHER_SOURCE
                self.sandbox.add_work(fleet.orcids[rid], pulled_work(n, rid), source_client_id=source)
            return per_researcher

        with ThreadPoolExecutor(self.threads) as pool:
            return sum(pool.map(seed, fleet.ids))

    # --- the administrator -----------------------------------------------------------------------

    def configure_push(self) -> None:
        current = self.api.call("GET", "/settings")
        self.api.call("PUT", "/settings", json_body={**current, **PUSH_SETTINGS})

    def start_job(self, job_type: str, *, researchers: Sequence[str] | None = None) -> str:
        """``POST /jobs``, as ``orcid-sync jobs run`` does."""
        body: dict[str, Any] = {"type": job_type}
        if researchers:
            body["researchers"] = list(researchers)
        return str(self.api.call("POST", "/jobs", json_body=body)["job_id"])

    def start_job_with_options(self, job_type: str, options: dict[str, Any]) -> str:
        """Open a run with task options the admin API does not expose (``bulk``), the way the API opens one.

        ``request_job`` behind ``POST /jobs`` does exactly this: store a running job, then put its id
        on the job-control queue for the scheduler. Runs in this process, inside the stack's environment.
        """
        # Imported only now: orcid_sync.observability reads POWERTOOLS_* when first imported, and the stack
        # sets the functions' environment when it starts (the shared Metrics would have no namespace).
        from orcid_sync import composition
        from orcid_sync.domain.jobs.models import JobTrigger, JobType
        from orcid_sync.domain.jobs.runs import open_job
        from orcid_sync.domain.models import utc_now

        job = open_job(
            composition.job_store(),
            job_type=JobType(job_type),
            trigger=JobTrigger.MANUAL,
            started_by="bench",
            options=options,
            now=utc_now(),
        )
        composition.control_queue().request_start(job.job_id)
        return job.job_id

    def wait_job(self, job_id: str, *, timeout: float = 7200.0, poll: float = 0.5) -> dict[str, Any]:
        """Poll until the run leaves ``running``, then until every queue is drained and no handler runs."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.api.call("GET", f"/jobs/{job_id}")
            if job["state"] != "running":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still running after {timeout:.0f} s: {job['counts']}")
            time.sleep(poll)
        self.stack.wait_for_queues_idle(timeout=max(60.0, deadline - time.monotonic()))
        return dict(job)

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.api.call("GET", f"/jobs/{job_id}/events", params={"limit": 500, "cursor": cursor})
            events.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return events

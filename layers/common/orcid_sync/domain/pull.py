"""The daily pull: each connected researcher's works on ORCID, filtered, into one CSV for the repository.

The repository imports the CSV (Esploro's Smart Expansion via CSV), which deduplicates on import,
but every row still costs an administrator a look: we send only works that have a DOI or PMID,
that we did not write ourselves, that the repository does not hold already and that no earlier
run sent — and each work once, however many sources it has on ORCID.

One researcher costs one ORCID request (``GET /works``): the summary carries every column of the
CSV. Full works (``GET /works/{put-codes}``, 100 at a time) are read only for kept summaries that
lack a title or a type.

Crash safety, in the order a worker writes: (1) the researcher's CSV part, whose key is fixed per
job and researcher, so a redelivery overwrites it; (2) the pull ledger, each entry naming its job;
(3) the job's outcome, exactly once. A crash after (1) or (2) is redelivered and redoes both with
the same rows, because ledger entries of the *current* job do not count as "pulled before". Entries
of a job that ended without a CSV (its assembly failed) do not count either: those works are
pulled again by the next run instead of being lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import batched
from typing import Literal, Protocol

from pydantic import BaseModel, SecretStr

from orcid_sync.domain.errors import NotFoundError
from orcid_sync.domain.identifiers import InvalidIdentifierError, doi_key, parse_pmcid, pmid_key
from orcid_sync.domain.job_models import Job, JobCounts, JobEvent, JobState, JobType, ResearcherOutcome, ResearcherTask
from orcid_sync.domain.job_runs import JobFinisher, Notifier, complete_researcher, get_job
from orcid_sync.domain.job_store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Asset, Researcher, SealedSecret, StoredToken, TokenInvalidReason
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import (
    BULK_MAX_WORKS,
    OrcidError,
    ReadExternalIds,
    Work,
    Works,
    WorkSummary,
)
from orcid_sync.domain.ports import AssetStore, ResearcherStore, TokenStore
from orcid_sync.domain.pull_csv import (
    AssemblyResult,
    PulledWorkRow,
    PullFiles,
    assemble,
    csv_key,
    delete_parts,
    write_part,
)
from orcid_sync.domain.pull_ledger import PulledEntry, PullLedgerStore
from orcid_sync.domain.tokens import confirm_orcid, invalidate_token

PULLED_ROWS_METRIC = "PulledRows"
"""Rows one researcher added to a pull CSV (dimension: service)."""
DOWNLOAD_URL_SECONDS = 900
"""A presigned CSV link lives 15 minutes: long enough to start the download, short if it leaks."""

Level = Literal["error", "warning", "info"]


# --- eligibility ---------------------------------------------------------------------------------------------


def select_pull_researchers(
    researchers: Iterable[Researcher], tokens: Mapping[str, StoredToken], only: set[str] | None
) -> list[str]:
    """Researchers whose works we may read: an ORCID iD and a live token for that iD with ``/read-limited``.

    ``only`` limits the run to some researchers (a manual run); the order of ``researchers`` is kept.
    """
    selected: list[str] = []
    for researcher in researchers:
        if only is not None and researcher.id not in only:
            continue
        token = tokens.get(researcher.id)
        if not researcher.orcid or token is None or not token.can_pull:
            continue
        # A token issued for another iD would only earn a 401 (ORCID 9017) for this record.
        if token.orcid != researcher.orcid:
            continue
        selected.append(researcher.id)
    return list(dict.fromkeys(selected))


# --- which works become rows (pure) --------------------------------------------------------------------------


class SkipReason(StrEnum):
    """Why a work summary did not become a row."""

    OURS = "ours"
    """We wrote it (source or assertion origin is our client): it came from the repository."""
    NO_DOI_OR_PMID = "no_doi_or_pmid"
    """No ``self`` DOI or PMID (ISBN-only, or only a ``part-of`` DOI of its journal or book)."""
    GROUPED_WITH_OURS = "grouped_with_ours"
    """ORCID grouped it with a work we wrote, or it shares an identifier with one: the same work."""
    IN_REPOSITORY = "in_repository"
    """Its DOI or PMID is on one of the researcher's assets in our store."""
    PULLED_BEFORE = "pulled_before"
    """An earlier run put it into a CSV."""
    DUPLICATE = "duplicate"
    """Another version of the same work (same DOI or PMID) became the row."""


@dataclass(frozen=True)
class WorkIds:
    """A summary's ``self`` identifiers, normalised as ORCID does for grouping."""

    dois: tuple[str, ...] = ()
    pmids: tuple[str, ...] = ()
    pmcids: tuple[str, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        """Ledger and matching keys: ``doi:<doi>`` and ``pmid:<digits>``."""
        return frozenset([*(f"doi:{d}" for d in self.dois), *(f"pmid:{p}" for p in self.pmids)])


def _normalised(external_id_value: str, normalized: str | None, key: Callable[[str], str]) -> str:
    # ORCID's own normalised value is what it groups by; our key function on top keeps both sides
    # (ORCID's works and our assets) in exactly the same form, and is a no-op on ORCID's output.
    return key(normalized) if normalized else key(external_id_value)


def work_ids(external_ids: ReadExternalIds | None) -> WorkIds:
    """The ``self`` DOIs, PMIDs and PMCIDs; ``part-of`` ids name the container (journal, book), not the work."""
    dois: list[str] = []
    pmids: list[str] = []
    pmcids: list[str] = []
    for eid in external_ids.external_id if external_ids else []:
        if (eid.external_id_relationship or "").lower() != "self":
            continue
        kind = eid.external_id_type.strip().lower()
        normalized = eid.external_id_normalized.value if eid.external_id_normalized else None
        if kind == "doi":
            value = _normalised(eid.external_id_value, normalized, doi_key)
            if value:
                dois.append(value)
        elif kind == "pmid":
            value = _normalised(eid.external_id_value, normalized, pmid_key)
            if value:
                pmids.append(value)
        elif kind == "pmc":
            try:
                pmcids.append(parse_pmcid(eid.external_id_value))
            except InvalidIdentifierError:
                continue
    return WorkIds(tuple(dict.fromkeys(dois)), tuple(dict.fromkeys(pmids)), tuple(dict.fromkeys(pmcids)))


def asset_keys(assets: Iterable[Asset]) -> frozenset[str]:
    """The DOI and PMID keys of the researcher's assets in our store (already in the repository)."""
    keys: set[str] = set()
    for asset in assets:
        if asset.doi and (doi := doi_key(asset.doi)):
            keys.add(f"doi:{doi}")
        if asset.pmid and (pmid := pmid_key(asset.pmid)):
            keys.add(f"pmid:{pmid}")
    return frozenset(keys)


@dataclass(frozen=True)
class PulledWork:
    """One logical work to write as a row: the chosen version and every version it stands for."""

    chosen: WorkSummary
    versions: tuple[WorkSummary, ...]
    ids: WorkIds
    """The chosen version's ids, with any it lacks taken from the other versions."""
    keys: frozenset[str]
    """Every DOI/PMID key of every version: all of them are marked pulled."""


@dataclass
class WorkSelection:
    """The works that become rows, and how many summaries were left out for each reason."""

    kept: list[PulledWork] = field(default_factory=list)
    skipped: Counter[SkipReason] = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _is_ours(summary: WorkSummary, client_id: str) -> bool:
    return summary.source is not None and summary.source.is_client(client_id)


def _is_researchers_own(summary: WorkSummary, orcid: str) -> bool:
    source = summary.source
    return source is not None and source.source_orcid is not None and source.source_orcid.path == orcid


def _preference(summary: WorkSummary, orcid: str) -> tuple[bool, int, int]:
    # The researcher's own version first: it is the one they entered or curated on ORCID and stand
    # behind. Between other sources (Crossref, Scopus, …) the most recently modified carries the
    # latest corrections. The put-code only breaks ties, so the choice is the same on every run.
    modified = summary.last_modified_date.value if summary.last_modified_date else 0
    return (_is_researchers_own(summary, orcid), modified, summary.put_code or 0)


def _merge_ids(versions: Sequence[WorkSummary], ids_of: Mapping[int, WorkIds]) -> WorkIds:
    """The first version's ids, each missing kind filled from the next versions (in preference order)."""
    merged = WorkIds()
    for index, _ in enumerate(versions):
        ids = ids_of[index]
        merged = WorkIds(
            dois=merged.dois or ids.dois, pmids=merged.pmids or ids.pmids, pmcids=merged.pmcids or ids.pmcids
        )
    return merged


def select_works(
    works: Works,
    *,
    orcid: str,
    client_id: str,
    repository_keys: frozenset[str] = frozenset(),
    pulled_keys: frozenset[str] = frozenset(),
) -> WorkSelection:
    """Apply the pull's rules to a ``GET /works`` summary; one :class:`PulledWork` per logical work.

    Per summary: not ours, a ``self`` DOI or PMID, not in a group with one of ours. Then the
    survivors that share any DOI or PMID (two sources in one group, or the same DOI in two groups)
    are one work: skipped as a whole if any of its keys is in the repository or was pulled before,
    otherwise written once, from the preferred version (see ``_preference``).
    """
    selection = WorkSelection()
    ours_keys: set[str] = set()
    for summary in works.work_summaries:
        if _is_ours(summary, client_id):
            ours_keys |= work_ids(summary.external_ids).keys

    survivors: list[tuple[WorkSummary, WorkIds]] = []
    for group in works.group:
        group_has_ours = any(_is_ours(s, client_id) for s in group.work_summary)
        for summary in group.work_summary:
            ids = work_ids(summary.external_ids)
            if _is_ours(summary, client_id):
                selection.skipped[SkipReason.OURS] += 1
            elif not ids.keys:
                selection.skipped[SkipReason.NO_DOI_OR_PMID] += 1
            elif group_has_ours or ids.keys & ours_keys:
                selection.skipped[SkipReason.GROUPED_WITH_OURS] += 1
            else:
                survivors.append((summary, ids))

    for cluster in _clusters([ids.keys for _, ids in survivors]):
        members = sorted(cluster, key=lambda i: _preference(survivors[i][0], orcid), reverse=True)
        keys = frozenset().union(*(survivors[i][1].keys for i in members))
        if keys & repository_keys:
            selection.skipped[SkipReason.IN_REPOSITORY] += len(members)
            continue
        if keys & pulled_keys:
            selection.skipped[SkipReason.PULLED_BEFORE] += len(members)
            continue
        versions = tuple(survivors[i][0] for i in members)
        ids = _merge_ids(versions, {n: survivors[i][1] for n, i in enumerate(members)})
        selection.kept.append(PulledWork(chosen=versions[0], versions=versions, ids=ids, keys=keys))
        if len(members) > 1:
            selection.skipped[SkipReason.DUPLICATE] += len(members) - 1
    return selection


def _clusters(keysets: Sequence[frozenset[str]]) -> list[list[int]]:
    """Indices connected by any shared key (union-find), each cluster in first-seen order."""
    parent = list(range(len(keysets)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for index, keys in enumerate(keysets):
        for key in keys:
            if key in first_with:
                parent[root(index)] = root(first_with[key])
            else:
                first_with[key] = index
    clusters: dict[int, list[int]] = {}
    for index in range(len(keysets)):
        clusters.setdefault(root(index), []).append(index)
    return list(clusters.values())


def needs_full_work(summary: WorkSummary) -> bool:
    """True when the summary lacks a column the CSV needs that only the full work can supply."""
    return summary.title is None or not summary.type


def build_row(researcher_id: str, orcid: str, work: PulledWork, full: Work | None = None) -> PulledWorkRow:
    """The CSV row of a pulled work (from its summary, or its full work where the summary was short)."""
    summary = work.chosen
    title = full.title if full is not None else summary.title
    date = full.publication_date if full is not None else summary.publication_date
    journal = full.journal_title if full is not None else summary.journal_title
    url = full.url if full is not None else summary.url
    work_type = full.type if full is not None else summary.type
    source = summary.source
    modified = summary.last_modified_date
    return PulledWorkRow(
        researcher_id=researcher_id,
        orcid=orcid,
        put_code=summary.put_code or 0,
        doi=work.ids.dois[0] if work.ids.dois else None,
        pmid=work.ids.pmids[0] if work.ids.pmids else None,
        pmcid=work.ids.pmcids[0] if work.ids.pmcids else None,
        title=title.title.value if title is not None else None,
        work_type=work_type or None,
        publication_year=date.year.value if date is not None and date.year is not None else None,
        publication_month=date.month.value if date is not None and date.month is not None else None,
        publication_day=date.day.value if date is not None and date.day is not None else None,
        journal_title=journal.value if journal is not None else None,
        url=url.value if url is not None else None,
        source_name=source.source_name.value if source is not None and source.source_name is not None else None,
        last_modified=modified.as_datetime if modified is not None else None,
    )


# --- one researcher (the worker's use case) ------------------------------------------------------------------


class PullWorksApi(Protocol):
    """The ORCID Member API reads the pull makes (``orcid_sync.adapters.orcid_api.client.OrcidClient``)."""

    def read_works(self, orcid: str, token: SecretStr) -> Works:
        """``GET /works``: every work summary, grouped."""
        ...

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """``GET /works/{pc,…}`` (≤100): the full work, or ORCID's error, for each put-code in order."""
        ...


class TokenOpener(Protocol):
    def open(self, researcher_id: str, sealed: SealedSecret) -> str: ...


class JobDeliveries:
    """Whether a run's ledger entries mean "in a CSV": its file exists, or it may still write it.

    Answers that cannot change (a file was written; the run ended without one; the run expired
    from history) are remembered for the container's life: a run costs one read per container.
    """

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        self._settled: dict[str, bool] = {}

    def delivered(self, job_id: str) -> bool:
        if job_id in self._settled:
            return self._settled[job_id]
        job = self._jobs.get(job_id)
        if job is not None and job.state is JobState.RUNNING:
            return True  # it may still write its file; should it fail, a later run pulls these works again
        # Gone from history (runs expire after 400 days): delivered long ago. Ended: only if it wrote its file.
        answer = job is None or job.csv_uri is not None
        self._settled[job_id] = answer
        return answer


@dataclass
class PullPorts:
    """What a pull worker needs, built once per container by the handler."""

    researchers: ResearcherStore
    tokens: TokenStore
    assets: AssetStore
    ledger: PullLedgerStore
    files: PullFiles
    jobs: JobStore
    cipher: TokenOpener
    api: PullWorksApi
    finishers: Mapping[JobType, JobFinisher]
    notifier: Notifier
    client_id: str
    deliveries: JobDeliveries
    request_count: Callable[[], int]
    """ORCID requests sent so far by ``api`` (its retries included); the difference is one researcher's cost."""


class RetryLaterError(Exception):
    """ORCID failed in a way a later delivery may not (5xx after the client's retries, throttling, network)."""


@dataclass
class PullReport:
    """What pulling one researcher did."""

    rows: int = 0
    kept: int = 0
    requests: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    events: list[JobEvent] = field(default_factory=list)
    failed: bool = False


def researcher_outcome(researcher_id: str, report: PullReport) -> ResearcherOutcome:
    """What the run counts for this researcher; the skips per reason go in ``detail``."""
    return ResearcherOutcome(
        researcher_id=researcher_id,
        counts=JobCounts(rows_pulled=report.rows, works_skipped=report.skipped.total(), orcid_requests=report.requests),
        updated=report.rows > 0,
        failed=report.failed,
        events=report.events,
        detail={"kept": report.kept, "skipped": {reason.value: n for reason, n in sorted(report.skipped.items())}},
    )


def _orcid_message(error: orcid_errors.OrcidApiError) -> str:
    # The client redacts tokens from every message it builds (ORCID's 401 body echoes the token).
    return str(error) or type(error).__name__


class _Run:
    """One researcher's pull as it happens: its report and events."""

    def __init__(self, task: ResearcherTask, ports: PullPorts, now: datetime, *, last_attempt: bool) -> None:
        self.task = task
        self.ports = ports
        self.now = now
        self.last_attempt = last_attempt
        self.report = PullReport()
        self.token: StoredToken | None = None
        """The stored token being used, once opened."""

    def event(self, level: Level, action: str, message: str, error: orcid_errors.OrcidApiError | None = None) -> None:
        self.report.events.append(
            JobEvent(
                researcher_id=self.task.researcher_id,
                level=level,
                action=action,
                message=message,
                orcid_status=error.status if error is not None else None,
                orcid_error_code=error.error_code if error is not None else None,
                at=self.now,
            )
        )

    def fail(self, action: str, message: str, error: orcid_errors.OrcidApiError | None = None) -> None:
        self.event("error", action, message, error)
        self.report.failed = True

    def refused(self, error: orcid_errors.OrcidApiError) -> None:
        """Record why ORCID refused a read; RetryLaterError when a later delivery may succeed."""
        if isinstance(error, orcid_errors.InvalidTokenError) and self.token is not None:
            # Dead, or not this record's: stop using it until the researcher connects again.
            reason = TokenInvalidReason.WRONG_RECORD if error.wrong_record else TokenInvalidReason.INVALID_TOKEN
            invalidate_token(self.ports.researchers, self.ports.tokens, self.token, reason, at=self.now)
        if isinstance(error, orcid_errors.InvalidTokenError) and error.wrong_record:
            self.fail(
                "marked token invalid",
                "ORCID says the stored token belongs to another ORCID record (9017); the researcher is skipped until "
                "they connect again (send them a connect link)",
                error,
            )
        elif isinstance(error, orcid_errors.InvalidTokenError):
            self.fail(
                "marked token revoked",
                "ORCID says the access token is revoked or expired; the researcher must connect again "
                "before their works can be pulled",
                error,
            )
        elif isinstance(error, orcid_errors.DeprecatedRecordError):
            where = f" into {error.primary_location}" if error.primary_location else ""
            self.fail("skipped researcher", f"the ORCID record was merged{where}; update the researcher's iD", error)
        elif isinstance(error, orcid_errors.InsufficientScopeError):
            self.fail(
                "skipped researcher", f"the token lacks /read-limited (ORCID 9038): {_orcid_message(error)}", error
            )
        elif isinstance(error, orcid_errors.RetryableOrcidError):
            if not self.last_attempt:
                raise RetryLaterError(_orcid_message(error)) from error
            self.fail("gave up on researcher", f"ORCID failed on every delivery: {_orcid_message(error)}", error)
        else:
            self.fail("skipped researcher", f"ORCID refused to read the works: {_orcid_message(error)}", error)


def _open_token(run: _Run, researcher: Researcher) -> SecretStr | None:
    """The researcher's decrypted token, or None (with a warning) when there is none to use any more."""
    rid = researcher.id
    stored = run.ports.tokens.get(rid)
    if stored is None or not stored.can_pull or stored.orcid != researcher.orcid:
        # Revoked, deleted or replaced since the run selected them: nothing to pull, nothing to retry.
        run.event(
            "warning", "skipped researcher", "the researcher no longer has a live /read-limited token for their iD"
        )
        return None
    run.token = stored
    try:
        return SecretStr(run.ports.cipher.open(rid, stored.access_token))
    except Exception as exc:  # TokenDecryptionError or a KMS refusal: name it, never the token
        run.fail("skipped researcher", f"the stored token cannot be decrypted ({type(exc).__name__})")
        return None


def _full_works(run: _Run, orcid: str, token: SecretStr, put_codes: Sequence[int]) -> dict[int, Work] | None:
    """Full works for summaries that lack a column; None if ORCID refused the researcher meanwhile."""
    found: dict[int, Work] = {}
    for chunk in batched(put_codes, BULK_MAX_WORKS, strict=False):
        try:
            items = run.ports.api.read_works_by_put_codes(orcid, token, chunk)
        except orcid_errors.OrcidApiError as exc:
            run.refused(exc)
            return None
        # A put-code ORCID answers with an error (deleted meanwhile) keeps the summary's columns.
        found |= {pc: item for pc, item in zip(chunk, items, strict=False) if isinstance(item, Work)}
    return found


def pull_researcher_works(
    task: ResearcherTask, ports: PullPorts, *, now: datetime, last_attempt: bool = False
) -> PullReport:
    """Read one researcher's works, keep the new ones, write their CSV part, then mark them pulled.

    Raises RetryLaterError for a transient ORCID failure (unless ``last_attempt``); nothing has been
    written then, and the message is delivered again.
    """
    run = _Run(task, ports, now, last_attempt=last_attempt)
    requests_before = ports.request_count()
    try:
        _pull(run)
    finally:
        run.report.requests = ports.request_count() - requests_before
    return run.report


def _pull(run: _Run) -> None:
    task, ports, rid = run.task, run.ports, run.task.researcher_id
    researcher = ports.researchers.get(rid)
    if researcher is None or not researcher.orcid:
        run.event(
            "warning", "skipped researcher", "the researcher was deleted, or lost their ORCID iD, since the run began"
        )
        return
    orcid = researcher.orcid
    token = _open_token(run, researcher)
    if token is None:
        return
    try:
        works = ports.api.read_works(orcid, token)
    except orcid_errors.OrcidApiError as exc:
        run.refused(exc)
        return
    confirm_orcid(ports.researchers, researcher, orcid=orcid)  # ORCID accepted the token for this iD

    ledger = ports.ledger.load(rid)
    pulled = frozenset(
        key for key, entry in ledger.items() if entry.job_id != task.job_id and ports.deliveries.delivered(entry.job_id)
    )
    selection = select_works(
        works,
        orcid=orcid,
        client_id=ports.client_id,
        repository_keys=asset_keys(ports.assets.list_for_researcher(rid)),
        pulled_keys=pulled,
    )
    short = [w.chosen.put_code for w in selection.kept if needs_full_work(w.chosen) and w.chosen.put_code is not None]
    full = _full_works(run, orcid, token, short) if short else {}
    if full is None:
        return
    rows = [build_row(rid, orcid, work, full.get(work.chosen.put_code or 0)) for work in selection.kept]

    # The part first, the ledger second: a crash in between is redelivered and writes both again.
    write_part(ports.files, task.job_id, rid, rows)
    if not task.dry_run:  # a dry run shows what would be pulled and leaves it for the next real run
        ports.ledger.mark_pulled(
            rid,
            [
                PulledEntry(key=key, job_id=task.job_id, put_code=work.chosen.put_code, pulled_at=run.now)
                for work in selection.kept
                for key in sorted(work.keys)
            ],
        )
    run.report.rows = len(rows)
    run.report.kept = len(selection.kept)
    run.report.skipped = selection.skipped


def pull_researcher(
    task: ResearcherTask, ports: PullPorts, *, now: datetime, last_attempt: bool = False
) -> ResearcherOutcome | None:
    """The worker's use case: pull one researcher of a run and count them (the last one finishes the run).

    Returns the outcome, or None when the run is gone or over (a late part would never be assembled).
    """
    if task.job_type is not JobType.PULL:
        raise ValueError(f"the pull worker got a {task.job_type.value} task for job {task.job_id}")
    job = ports.jobs.get(task.job_id)
    if job is None or job.state is not JobState.RUNNING:
        logger.warning("pull task for a run that is not running", job_id=task.job_id, researcher_id=task.researcher_id)
        return None
    try:
        report = pull_researcher_works(task, ports, now=now, last_attempt=last_attempt)
    except Exception as exc:
        if not last_attempt:
            raise
        # SQS will not deliver it again: count the researcher as failed, so the run still finishes.
        logger.exception("pull failed on the last delivery", job_id=task.job_id, researcher_id=task.researcher_id)
        report = PullReport(failed=True)
        report.events.append(
            JobEvent(
                researcher_id=task.researcher_id,
                level="error",
                action="gave up on researcher",
                message=f"the pull failed on every delivery ({type(exc).__name__}); the next run tries again",
                at=now,
            )
        )
    outcome = researcher_outcome(task.researcher_id, report)
    logger.info(
        "researcher pulled",
        job_id=task.job_id,
        researcher_id=task.researcher_id,
        rows=report.rows,
        skipped=outcome.detail["skipped"] if outcome.detail else {},
        orcid_requests=report.requests,
        failed=report.failed,
    )
    complete_researcher(ports.jobs, task.job_id, outcome, finishers=ports.finishers, notifier=ports.notifier, now=now)
    return outcome


# --- the job's single CSV ------------------------------------------------------------------------------------


class PullJobFinisher:
    """Assembles a pull run's CSV once its last researcher is counted, records it on the run, drops the parts."""

    def __init__(self, jobs: JobStore, files: PullFiles, *, part_size: int | None = None) -> None:
        self._jobs = jobs
        self._files = files
        self._part_size = part_size

    def finish(self, job: Job) -> None:
        if job.type is not JobType.PULL:
            raise ValueError(f"job {job.job_id} is a {job.type.value} job, not a pull")
        # A finisher that died after recording the file but before deleting every part runs again:
        # the parts may be incomplete by then, so the recorded file is kept rather than rebuilt.
        if job.csv_uri is None:
            result = self._assemble(job.job_id)
            self._jobs.set_csv(job.job_id, csv_uri=result.uri, csv_rows=result.rows)
            logger.info(
                "pull CSV assembled",
                job_id=job.job_id,
                csv_uri=result.uri,
                rows=result.rows,
                bytes=result.bytes,
                parts=result.parts_read,
                upload_parts=result.upload_parts,
            )
        deleted = delete_parts(self._files, job.job_id)
        logger.info("pull CSV parts deleted", job_id=job.job_id, parts=deleted)

    def _assemble(self, job_id: str) -> AssemblyResult:
        if self._part_size is None:
            return assemble(self._files, job_id)
        return assemble(self._files, job_id, part_size=self._part_size)


# --- the admin API: where is a run's CSV ---------------------------------------------------------------------


class CsvDownload(BaseModel):
    """``GET /jobs/{id}/csv``: a short-lived link to the run's CSV and its row count."""

    job_id: str
    url: str
    rows: int
    expires_at: datetime
    uri: str


def csv_download(
    jobs: JobStore, files: PullFiles, job_id: str, *, now: datetime, expires_in: int = DOWNLOAD_URL_SECONDS
) -> CsvDownload:
    """A presigned GET for a finished pull run's CSV; NotFoundError while there is none (yet)."""
    job = get_job(jobs, job_id)
    if job.type is not JobType.PULL:
        raise NotFoundError(f"job {job_id} is a {job.type.value} job; only pull jobs have a CSV")
    if job.csv_uri is None or job.csv_rows is None:
        state = "is still running" if job.state is JobState.RUNNING else f"ended ({job.state.value}) without one"
        raise NotFoundError(f"job {job_id} has no CSV: it {state}")
    key = csv_key(job_id)
    if not files.exists(key):
        raise NotFoundError(f"the CSV of job {job_id} ({job.csv_uri}) is no longer in the bucket")
    return CsvDownload(
        job_id=job_id,
        url=files.download_url(key, expires_in=expires_in),
        rows=job.csv_rows,
        expires_at=now + timedelta(seconds=expires_in),
        uri=job.csv_uri,
    )

"""Which of a researcher's ORCID works become pull CSV rows, and who is pulled at all (pure rules).

The repository imports the CSV (Esploro's Smart Expansion via CSV), which deduplicates on import,
but every row still costs an administrator a look: we send only works that have a DOI or PMID,
that we did not write ourselves, that the repository does not hold already and that no earlier
run sent — and each work once, however many sources it has on ORCID.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from orcid_sync.domain.identifiers import InvalidIdentifierError, doi_key, parse_pmcid, pmid_key
from orcid_sync.domain.models import Asset, Researcher, StoredToken
from orcid_sync.domain.orcid.models import ReadExternalIds, Work, Works, WorkSummary
from orcid_sync.domain.pull.csv_file import PulledWorkRow

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

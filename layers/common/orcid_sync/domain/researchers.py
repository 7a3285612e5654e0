"""Researchers as the institution's systems feed them, and as administrators see them.

A researcher sent again with the profile they have is ``unchanged``: nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from orcid_sync.domain.batches import (
    BatchReport,
    RowOutcome,
    RowOutcomeKind,
    check_batch_size,
    parse_rows,
    rejected,
)
from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError, Problem
from orcid_sync.domain.jobs.models import Job, JobEvent
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import PULL_SCOPE, PUSH_SCOPE, OrcidStatus, Researcher, ResearcherInput, StoredToken
from orcid_sync.domain.ports import Page, ResearcherStore, TokenStore


class ResearcherLinks(Protocol):
    """Where a researcher's links point (the settings provide both)."""

    def profile_url(self, researcher_id: str) -> str: ...

    def orcid_id_url(self, orcid: str) -> str: ...


class ResearcherView(BaseModel):
    """A researcher as the admin API shows it: the profile and the ORCID connection, never a token."""

    id: str
    given_names: str
    family_name: str
    email: str | None
    orcid: str | None
    orcid_url: str | None
    update_orcid_profile: bool
    position: str | None
    department: str | None
    profile_url: str
    active: bool
    orcid_status: OrcidStatus
    orcid_authenticated: bool
    orcid_scopes: list[str]
    can_push: bool
    can_pull: bool
    connected_at: datetime | None
    last_sync_at: datetime | None
    updated_at: datetime | None


WriteOutcome = Literal["created", "updated", "unchanged"]


class StoredResearcher(ResearcherView):
    """``PUT /researchers/{id}``: the researcher as stored, and what the PUT did."""

    outcome: WriteOutcome = Field(
        description="created, updated, or unchanged: the profile was stored already and nothing was written"
    )


class ResearcherWrite(BaseModel):
    """The stored researcher and what the PUT did to it."""

    researcher: StoredResearcher

    @property
    def created(self) -> bool:
        return self.researcher.outcome == "created"


def researcher_view(researcher: Researcher, links: ResearcherLinks) -> ResearcherView:
    connected = researcher.orcid_status is OrcidStatus.ACTIVE
    return ResearcherView(
        id=researcher.id,
        given_names=researcher.given_names,
        family_name=researcher.family_name,
        email=researcher.email,
        orcid=researcher.orcid,
        orcid_url=links.orcid_id_url(researcher.orcid) if researcher.orcid else None,
        update_orcid_profile=researcher.update_orcid_profile,
        position=researcher.position,
        department=researcher.department,
        profile_url=researcher.profile_url or links.profile_url(researcher.id),
        active=researcher.active,
        orcid_status=researcher.orcid_status,
        orcid_authenticated=researcher.orcid_authenticated,
        orcid_scopes=sorted(researcher.orcid_scopes),
        can_push=connected and PUSH_SCOPE in researcher.orcid_scopes,
        can_pull=connected and PULL_SCOPE in researcher.orcid_scopes,
        connected_at=researcher.connected_at,
        last_sync_at=researcher.last_sync_at,
        updated_at=researcher.updated_at,
    )


def _orcid_conflict(existing: Researcher, profile: ResearcherInput) -> str | None:
    if existing.orcid_authenticated and existing.orcid and profile.orcid and profile.orcid != existing.orcid:
        return (
            f"researcher {existing.id} authenticated ORCID iD {existing.orcid} through ORCID; "
            f"an administrator cannot change it to {profile.orcid}"
        )
    return None


def _keep_authenticated_orcid(existing: Researcher | None, profile: ResearcherInput) -> ResearcherInput:
    # The institution's feed often does not know the iD a researcher connected by themselves;
    # leaving it out must not erase the iD their token belongs to.
    if existing and existing.orcid_authenticated and existing.orcid and profile.orcid is None:
        return profile.model_copy(update={"orcid": existing.orcid})
    return profile


_PROFILE_FIELDS = frozenset(ResearcherInput.model_fields)


def _profile(researcher: Researcher | ResearcherInput) -> dict[str, Any]:
    return researcher.model_dump(mode="json", include=set(_PROFILE_FIELDS))


def _is_unchanged(existing: Researcher | None, profile: ResearcherInput) -> bool:
    """The profile (after ``_keep_authenticated_orcid``) is what is stored: the upsert would write nothing new.

    Compared with the stored item's own fields, which the load has read anyway (for the iD rules):
    exact even when the integration changed one of them (an imported token recording an iD).
    """
    return existing is not None and _profile(existing) == _profile(profile)


def put_researcher(
    researchers: ResearcherStore, profile: ResearcherInput, *, path_id: str, links: ResearcherLinks
) -> ResearcherWrite:
    """Create or update one researcher; refuse to replace an iD the researcher authenticated."""
    if profile.id != path_id:
        raise InvalidInputError(
            "the researcher id in the body differs from the one in the path",
            [Problem(field="body.id", reason=f"is {profile.id!r} but the path says {path_id!r}")],
        )
    existing = researchers.get(profile.id)
    if existing is not None and (conflict := _orcid_conflict(existing, profile)):
        raise ConflictError(conflict)
    effective = _keep_authenticated_orcid(existing, profile)
    outcome: WriteOutcome
    if existing is not None and _is_unchanged(existing, effective):
        stored, outcome = existing, "unchanged"
    else:
        stored = researchers.upsert_profile(effective)
        outcome = "created" if existing is None else "updated"
    view = researcher_view(stored, links)
    return ResearcherWrite(researcher=StoredResearcher(**view.model_dump(), outcome=outcome))


def load_researchers(researchers: ResearcherStore, rows: Sequence[object]) -> BatchReport:
    """Upsert a batch row by row: valid rows are stored even when others are rejected.

    The batch's researchers are read first (one read per 100, for the iD rules); a row with the
    stored profile is ``unchanged`` and not written.
    """
    check_batch_size(len(rows))
    parsed, outcomes = parse_rows(rows, ResearcherInput.model_validate, noun="researcher")

    existing = researchers.get_many([profile.id for profile in parsed.values()])
    for index, profile in parsed.items():
        current = existing.get(profile.id)
        if current is not None and (conflict := _orcid_conflict(current, profile)):
            outcomes[index] = rejected(index, [Problem(row=index, field="orcid", reason=conflict)], row_id=profile.id)
            continue
        effective = _keep_authenticated_orcid(current, profile)
        if _is_unchanged(current, effective):
            outcomes[index] = RowOutcome(row=index, id=profile.id, outcome=RowOutcomeKind.UNCHANGED)
            continue
        researchers.upsert_profile(effective)
        kind = RowOutcomeKind.CREATED if current is None else RowOutcomeKind.UPDATED
        outcomes[index] = RowOutcome(row=index, id=profile.id, outcome=kind)
    return BatchReport.of([outcomes[index] for index in range(len(rows))])


def get_researcher(researchers: ResearcherStore, researcher_id: str, links: ResearcherLinks) -> ResearcherView:
    researcher = researchers.get(researcher_id)
    if researcher is None:
        raise NotFoundError(f"no researcher has id {researcher_id}")
    return researcher_view(researcher, links)


def list_researchers(
    researchers: ResearcherStore,
    *,
    status: OrcidStatus | None,
    limit: int,
    cursor: str | None,
    links: ResearcherLinks,
) -> Page[ResearcherView]:
    page = researchers.list(status=status, limit=limit, cursor=cursor)
    return Page[ResearcherView](
        items=[researcher_view(researcher, links) for researcher in page.items], next_cursor=page.next_cursor
    )


# --- why a requested researcher is left out of a run ----------------------------------------------


class RunEvents(Protocol):
    """Where a run's events go (the JobStore)."""

    def add_events(self, job_id: str, events: Sequence[JobEvent]) -> None: ...


Ineligibility = Callable[[Researcher, StoredToken | None], str | None]
"""Why a job leaves a researcher alone ("has no ORCID iD", …), or None when it would take them."""


def pull_ineligibility(researcher: Researcher, token: StoredToken | None) -> str | None:
    """Why the pull cannot read this researcher's works (the rules of ``select_pull_researchers``)."""
    if not researcher.orcid:
        return "has no ORCID iD"
    if token is None:
        return f"has no ORCID token (status {researcher.orcid_status.value})"
    if not token.is_active:
        return f"has a revoked, refused or expired ORCID token (status {researcher.orcid_status.value})"
    if PULL_SCOPE not in token.scopes:
        return f"has a token without the {PULL_SCOPE} scope"
    if token.orcid != researcher.orcid:
        return f"has a token for another ORCID iD ({token.orcid})"
    return None


class ExplainingSelector:
    """A run's selection, plus a warning event for each researcher asked for by name but left out, saying why.

    ``orcid-sync jobs run push --researchers r1`` for a researcher the push may not touch would
    otherwise end at once with nothing to show: the event says what is in the way.
    """

    def __init__(
        self,
        select: Callable[[Job], list[str]],
        *,
        researchers: ResearcherStore,
        tokens: TokenStore,
        events: RunEvents,
        why: Ineligibility,
        now: Callable[[], datetime],
    ) -> None:
        self._select = select
        self._researchers = researchers
        self._tokens = tokens
        self._events = events
        self._why = why
        self._now = now

    def __call__(self, job: Job) -> list[str]:
        selected = self._select(job)
        requested = [rid for rid in job.options.get("researcher_ids") or [] if isinstance(rid, str)]
        chosen = set(selected)
        left_out = list(dict.fromkeys(rid for rid in requested if rid not in chosen))
        if left_out:
            self._events.add_events(job.job_id, self._explain(job, left_out))
        return selected

    def _explain(self, job: Job, left_out: list[str]) -> list[JobEvent]:
        found = self._researchers.get_many(left_out)
        tokens = self._tokens.get_many([rid for rid in left_out if rid in found])
        now = self._now()
        events: list[JobEvent] = []
        for rid in left_out:
            researcher = found.get(rid)
            reason = "no longer exists" if researcher is None else self._why(researcher, tokens.get(rid))
            events.append(
                JobEvent(
                    researcher_id=rid,
                    level="warning",
                    action="skipped researcher",
                    message=f"not included in this {job.type.value} run: the researcher "
                    f"{reason or 'was not eligible when the run started'}",
                    at=now,
                )
            )
        logger.info("requested researchers left out of the run", job_id=job.job_id, researchers=len(events))
        return events

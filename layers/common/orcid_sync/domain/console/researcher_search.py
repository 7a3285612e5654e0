"""Finding researchers in the console: by ORCID iD, by the repository's own id, or by name.

An iD is looked up on the iD index and an id read directly (one request each). Nothing indexes names, so a
name search reads researchers page by page (the status index when a status is chosen) and stops after
``MAX_SCANNED`` of them; the page then says how many it searched and offers to search on from there.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from orcid_sync.domain.identifiers import parse_orcid
from orcid_sync.domain.models import OrcidStatus, Researcher
from orcid_sync.domain.ports import ResearcherStore
from orcid_sync.domain.researchers import ResearcherLinks, ResearcherView, list_researchers, researcher_view

MAX_SCANNED = 2000
"""Researchers one name search reads before it stops and offers to go on (a page answers in well under a second)."""
SCAN_PAGE = 500
MAX_MATCHES = 50
_ORCID_QUERY = re.compile(r"^(?:https?://)?(?:sandbox\.)?(?:orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dXx])/?$")

SearchKind = Literal["all", "orcid", "name"]


class ResearcherSearch(BaseModel):
    """One page of a search: the matches, how it searched, and where to go on from."""

    query: str
    kind: SearchKind
    items: list[ResearcherView]
    scanned: int
    """Researchers read for a name search (0 for an iD or id lookup)."""
    next_cursor: str | None
    """More researchers are left to search (name search) or to list."""


def _orcid_in(query: str) -> str | None:
    """The iD a query is (bare or as a link), check character included; a mistyped iD is searched as text."""
    if _ORCID_QUERY.match(query) is None:
        return None
    try:
        return parse_orcid(query)
    except ValueError:
        return None


def _matches(researcher: Researcher, needle: str) -> bool:
    haystacks = (
        f"{researcher.given_names} {researcher.family_name}",
        f"{researcher.family_name}, {researcher.given_names}",
        f"{researcher.family_name} {researcher.given_names}",
        researcher.id,
        researcher.email or "",
    )
    return any(needle in text.casefold() for text in haystacks)


def search_researchers(
    researchers: ResearcherStore,
    query: str,
    *,
    status: OrcidStatus | None,
    cursor: str | None,
    links: ResearcherLinks,
    page_size: int = MAX_MATCHES,
) -> ResearcherSearch:
    """Researchers matching ``query`` (an iD, an id, or part of a name or email), optionally of one status."""
    text = query.strip()
    if not text:
        listed = list_researchers(researchers, status=status, limit=page_size, cursor=cursor, links=links)
        return ResearcherSearch(query="", kind="all", items=listed.items, scanned=0, next_cursor=listed.next_cursor)
    orcid = _orcid_in(text)
    if orcid is not None:
        found = [r for r in researchers.find_by_orcid(orcid) if status is None or r.orcid_status is status]
        return ResearcherSearch(
            query=text, kind="orcid", items=[researcher_view(r, links) for r in found], scanned=0, next_cursor=None
        )
    needle = text.casefold()
    items: list[ResearcherView] = []
    seen: set[str] = set()
    if cursor is None:  # the exact id first, wherever the scan would reach it
        exact = researchers.get(text)
        if exact is not None and (status is None or exact.orcid_status is status):
            items.append(researcher_view(exact, links))
            seen.add(exact.id)
    scanned = 0
    next_cursor = cursor
    while scanned < MAX_SCANNED and len(items) < page_size:
        page = researchers.list(status=status, limit=SCAN_PAGE, cursor=next_cursor)
        scanned += len(page.items)
        items += [researcher_view(r, links) for r in page.items if r.id not in seen and _matches(r, needle)]
        next_cursor = page.next_cursor
        if next_cursor is None:
            break
    return ResearcherSearch(query=text, kind="name", items=items, scanned=scanned, next_cursor=next_cursor)

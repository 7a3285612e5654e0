"""ORCID v3.0 JSON read shapes (as in orcid-model's record-full-3.0.json) for the sandbox's stored items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .state import Record, Source, StoredActivity, StoredResearcherUrl
from .validation import ExternalIdKey, JsonObject


def _date(epoch_ms: int | None) -> JsonObject | None:
    return {"value": epoch_ms} if epoch_ms is not None else None


def _latest(items: Iterable[StoredActivity | StoredResearcherUrl]) -> JsonObject | None:
    return _date(max((item.modified_ms for item in items), default=None))


def is_visible_to(item: StoredActivity, client_id: str | None) -> bool:
    """Private items are only shown to the client that is their source."""
    return item.visibility != "private" or (client_id is not None and item.source.client_id == client_id)


def group_by_external_ids(items: Sequence[StoredActivity]) -> list[list[StoredActivity]]:
    """ORCID's grouping: items sharing a normalised (non part-of) external id end up in one group."""
    parent = list(range(len(items)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_holder: dict[ExternalIdKey, int] = {}
    for index, item in enumerate(items):
        for key in item.group_keys:
            holder = first_holder.setdefault(key, index)
            if holder != index:
                parent[root(index)] = root(holder)
    groups: dict[int, list[StoredActivity]] = {}
    for index, item in enumerate(items):
        groups.setdefault(root(index), []).append(item)
    return list(groups.values())


class Renderer:
    """Turns stored items into ORCID JSON, with URIs under the sandbox's public base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or ""

    def orcid_identifier(self, orcid: str) -> JsonObject:
        """`{uri, path, host}` for an iD."""
        return {"uri": f"{self.base_url}/{orcid}", "path": orcid, "host": self.host}

    def source(self, source: Source) -> JsonObject:
        """ORCID's `source` element: client or researcher, no assertion origin."""
        client = None
        if source.client_id is not None:
            client = {"uri": f"{self.base_url}/client/{source.client_id}", "path": source.client_id, "host": self.host}
        return {
            "source-orcid": self.orcid_identifier(source.orcid) if source.orcid is not None else None,
            "source-client-id": client,
            "source-name": {"value": source.name},
            "assertion-origin-orcid": None,
            "assertion-origin-client-id": None,
            "assertion-origin-name": None,
        }

    def _stamps(self, item: StoredActivity | StoredResearcherUrl) -> JsonObject:
        return {
            "created-date": _date(item.created_ms),
            "last-modified-date": _date(item.modified_ms),
            "source": self.source(item.source),
        }

    # --- works ------------------------------------------------------------------------------------------------

    def work(self, orcid: str, work: StoredActivity) -> JsonObject:
        """A full work as GET /work/{put-code} returns it."""
        body = work.body
        return {
            **self._stamps(work),
            "put-code": work.put_code,
            "path": f"/{orcid}/work/{work.put_code}",
            "title": body["title"],
            "journal-title": body["journal-title"],
            "short-description": body["short-description"],
            "citation": body["citation"],
            "type": body["type"],
            "publication-date": body["publication-date"],
            "external-ids": body["external-ids"],
            "url": body["url"],
            "contributors": body["contributors"] or {"contributor": []},
            "language-code": body["language-code"],
            "country": body["country"],
            "visibility": work.visibility,
        }

    def work_summary(self, orcid: str, work: StoredActivity) -> JsonObject:
        """A work summary, as inside GET /works groups."""
        body = work.body
        title = body["title"] if isinstance(body["title"], dict) else {}
        return {
            "put-code": work.put_code,
            **self._stamps(work),
            "title": {
                "title": title.get("title"),
                "subtitle": title.get("subtitle"),
                "translated-title": title.get("translated-title"),
            },
            "external-ids": body["external-ids"],
            "url": body["url"],
            "type": body["type"],
            "publication-date": body["publication-date"],
            "journal-title": body["journal-title"],
            "visibility": work.visibility,
            "path": f"/{orcid}/work/{work.put_code}",
            "display-index": "0",
        }

    def works(self, orcid: str, works: Sequence[StoredActivity]) -> JsonObject:
        """GET /works: summaries grouped by shared external ids."""
        groups = []
        for members in group_by_external_ids(works):
            groups.append(
                {
                    "last-modified-date": _latest(members),
                    "external-ids": {"external-id": _group_external_ids(members)},
                    "work-summary": [self.work_summary(orcid, work) for work in members],
                }
            )
        return {"last-modified-date": _latest(works), "group": groups, "path": f"/{orcid}/works"}

    # --- researcher URLs --------------------------------------------------------------------------------------

    def researcher_url(self, orcid: str, item: StoredResearcherUrl) -> JsonObject:
        """One researcher URL."""
        return {
            **self._stamps(item),
            "url-name": item.url_name,
            "url": {"value": item.url},
            "visibility": item.visibility,
            "path": f"/{orcid}/researcher-urls/{item.put_code}",
            "put-code": item.put_code,
            "display-index": 0,
        }

    def researcher_urls(self, orcid: str, items: Sequence[StoredResearcherUrl]) -> JsonObject:
        """GET /researcher-urls."""
        return {
            "last-modified-date": _latest(items),
            "researcher-url": [self.researcher_url(orcid, item) for item in items],
            "path": f"/{orcid}/researcher-urls",
        }

    # --- employments ------------------------------------------------------------------------------------------

    def employment(self, orcid: str, item: StoredActivity) -> JsonObject:
        """One employment (the full item and the summary have the same fields here)."""
        body = item.body
        return {
            **self._stamps(item),
            "put-code": item.put_code,
            "department-name": body["department-name"],
            "role-title": body["role-title"],
            "start-date": body["start-date"],
            "end-date": body["end-date"],
            "organization": body["organization"],
            "url": body["url"],
            "external-ids": body["external-ids"] or {"external-id": []},
            "display-index": "0",
            "visibility": item.visibility,
            "path": f"/{orcid}/employment/{item.put_code}",
        }

    def employments(self, orcid: str, items: Sequence[StoredActivity]) -> JsonObject:
        """GET /employments: affiliation groups."""
        groups = []
        for members in group_by_external_ids(items):
            groups.append(
                {
                    "last-modified-date": _latest(members),
                    "external-ids": {"external-id": _group_external_ids(members)},
                    "summaries": [{"employment-summary": self.employment(orcid, item)} for item in members],
                }
            )
        return {"last-modified-date": _latest(items), "affiliation-group": groups, "path": f"/{orcid}/employments"}

    # --- record -----------------------------------------------------------------------------------------------

    def record(self, record: Record, viewer_client_id: str | None) -> JsonObject:
        """GET /record: identifier, person and activities summary."""
        orcid = record.orcid
        works = [work for work in record.works.values() if is_visible_to(work, viewer_client_id)]
        employments = [item for item in record.employments.values() if is_visible_to(item, viewer_client_id)]
        urls = list(record.researcher_urls.values())
        return {
            "orcid-identifier": self.orcid_identifier(orcid),
            "preferences": {"locale": "en"},
            "history": {
                "creation-method": "MEMBER_REFERRED",
                "completion-date": None,
                "submission-date": _date(record.created_ms),
                "last-modified-date": _date(record.modified_ms),
                "claimed": True,
                "source": None,
                "deactivation-date": None,
                "verified-email": True,
                "verified-primary-email": True,
            },
            "person": self._person(record, urls),
            "activities-summary": {
                "last-modified-date": _latest([*works, *employments]),
                "distinctions": _empty_affiliations(orcid, "distinctions"),
                "educations": _empty_affiliations(orcid, "educations"),
                "employments": self.employments(orcid, employments),
                "fundings": _empty_groups(orcid, "fundings"),
                "invited-positions": _empty_affiliations(orcid, "invited-positions"),
                "memberships": _empty_affiliations(orcid, "memberships"),
                "peer-reviews": _empty_groups(orcid, "peer-reviews"),
                "qualifications": _empty_affiliations(orcid, "qualifications"),
                "research-resources": _empty_groups(orcid, "research-resources"),
                "services": _empty_affiliations(orcid, "services"),
                "works": self.works(orcid, works),
                "path": f"/{orcid}/activities",
            },
            "path": f"/{orcid}",
        }

    def _person(self, record: Record, urls: Sequence[StoredResearcherUrl]) -> JsonObject:
        orcid = record.orcid
        emails: list[JsonObject] = []
        if record.email:
            emails.append(
                {
                    "created-date": _date(record.created_ms),
                    "last-modified-date": _date(record.created_ms),
                    "source": self.source(record.as_source),
                    "email": record.email,
                    "path": None,
                    "visibility": "limited",
                    "verified": True,
                    "primary": True,
                    "put-code": None,
                }
            )
        return {
            "last-modified-date": _latest(urls),
            "name": {
                "created-date": _date(record.created_ms),
                "last-modified-date": _date(record.created_ms),
                "given-names": {"value": record.given_names},
                "family-name": {"value": record.family_name},
                "credit-name": None,
                "source": None,
                "visibility": "public",
                "path": orcid,
            },
            "other-names": {"last-modified-date": None, "other-name": [], "path": f"/{orcid}/other-names"},
            "biography": None,
            "researcher-urls": self.researcher_urls(orcid, urls),
            "emails": {"last-modified-date": None, "email": emails, "path": f"/{orcid}/email"},
            "addresses": {"last-modified-date": None, "address": [], "path": f"/{orcid}/address"},
            "keywords": {"last-modified-date": None, "keyword": [], "path": f"/{orcid}/keywords"},
            "external-identifiers": {
                "last-modified-date": None,
                "external-identifier": [],
                "path": f"/{orcid}/external-identifiers",
            },
            "path": f"/{orcid}/person",
        }


def _group_external_ids(members: Sequence[StoredActivity]) -> list[Any]:
    seen: set[ExternalIdKey] = set()
    shared: list[Any] = []
    for member in members:
        external_ids = member.body.get("external-ids") or {}
        for entry in external_ids.get("external-id", []):
            normalized = entry.get("external-id-normalized") or {}
            key = (entry["external-id-type"], normalized.get("value", ""))
            if key in member.group_keys and key not in seen:
                seen.add(key)
                shared.append(entry)
    return shared


def _empty_affiliations(orcid: str, section: str) -> JsonObject:
    return {"last-modified-date": None, "affiliation-group": [], "path": f"/{orcid}/{section}"}


def _empty_groups(orcid: str, section: str) -> JsonObject:
    return {"last-modified-date": None, "group": [], "path": f"/{orcid}/{section}"}

"""Adding, replacing and deleting researcher URLs (same-source duplicates are refused by URL)."""

from __future__ import annotations

from .errors import orcid_error
from .models import Record, Source, StoredResearcherUrl
from .state_core import StateCore
from .validation import ValidatedResearcherUrl


class ResearcherUrlWrites(StateCore):
    """Researcher URLs on a record; every method takes `lock` itself."""

    def add_researcher_url(self, record: Record, item: ValidatedResearcherUrl, source: Source) -> StoredResearcherUrl:
        """Store a new researcher URL unless the same source already added that URL."""
        with self.lock:
            self._reject_duplicate_url(record, item.url, source, ignore=None)
            now = self.epoch_ms()
            stored = StoredResearcherUrl(self._take_put_code(), source, item.url, item.url_name, "public", now, now)
            record.researcher_urls[stored.put_code] = stored
            record.modified_ms = now
            return stored

    @staticmethod
    def _reject_duplicate_url(record: Record, url: str, source: Source, ignore: int | None) -> None:
        for other in record.researcher_urls.values():
            if other.put_code != ignore and other.source.key == source.key and other.url == url:
                raise orcid_error(9030, value=url, type="researcher-url")

    def update_researcher_url(
        self, record: Record, put_code: int, item: ValidatedResearcherUrl, caller: Source
    ) -> StoredResearcherUrl:
        """Replace a researcher URL the caller is source of."""
        with self.lock:
            if item.put_code != put_code:
                raise orcid_error(9019, urlPutCode=put_code, bodyPutCode=item.put_code, clientName=caller.name)
            stored = self.require_source(record.researcher_urls, put_code, caller, "researcher-url")
            if item.visibility is not None and item.visibility != stored.visibility:
                raise orcid_error(9035, clientName=caller.name)
            self._reject_duplicate_url(record, item.url, caller, ignore=put_code)
            if (item.url, item.url_name) != (stored.url, stored.url_name):
                stored.url, stored.url_name = item.url, item.url_name
                stored.modified_ms = self.epoch_ms()
            return stored

    def delete_researcher_url(self, record: Record, put_code: int, caller: Source) -> None:
        """Delete a researcher URL the caller is source of."""
        with self.lock:
            self.require_source(record.researcher_urls, put_code, caller, "researcher-url")
            del record.researcher_urls[put_code]
            record.modified_ms = self.epoch_ms()

"""Adding, replacing and deleting works and employments, with ORCID's cap and duplicate checks."""

from __future__ import annotations

from .errors import orcid_error
from .models import Record, SelfIdIndex, Source, StoredActivity
from .state_core import StateCore
from .validation import ValidatedActivity


class ActivityWrites(StateCore):
    """Works and employments on a record; every method takes `lock` itself."""

    def add_work(
        self, record: Record, work: ValidatedActivity, source: Source, *, visibility: str = "public"
    ) -> StoredActivity:
        """Store a new work after ORCID's cap and same-source duplicate checks."""
        with self.lock:
            if len(record.works) >= self.config.max_works_per_record:
                raise orcid_error(9048)
            if source.client_id is not None:
                # Works the researcher adds themself skip the duplicate check on ORCID.
                existing = record.work_index.find_conflict(source.key, work.self_keys)
                if existing is not None:
                    raise orcid_error(9021, putCode=existing, clientName=source.name)
            stored = self._new_activity(work, source, visibility)
            record.works[stored.put_code] = stored
            record.work_index.add(source.key, work.self_keys, stored.put_code)
            record.modified_ms = stored.modified_ms
            return stored

    def _new_activity(self, activity: ValidatedActivity, source: Source, visibility: str) -> StoredActivity:
        now = self.epoch_ms()
        return StoredActivity(
            put_code=self._take_put_code(),
            source=source,
            body=activity.body,
            self_keys=activity.self_keys,
            group_keys=activity.group_keys,
            visibility=visibility,
            created_ms=now,
            modified_ms=now,
        )

    def update_work(self, record: Record, put_code: int, work: ValidatedActivity, caller: Source) -> StoredActivity:
        """Replace a work the caller is source of."""
        with self.lock:
            return self._update_activity(
                items=record.works,
                index=record.work_index,
                put_code=put_code,
                activity=work,
                caller=caller,
                kind="work",
            )

    def delete_work(self, record: Record, put_code: int, caller: Source) -> None:
        """Delete a work the caller is source of."""
        with self.lock:
            stored = self.require_source(record.works, put_code, caller, "work")
            record.work_index.remove(stored.source.key, stored.self_keys, put_code)
            del record.works[put_code]
            record.modified_ms = self.epoch_ms()

    def add_employment(self, record: Record, employment: ValidatedActivity, source: Source) -> StoredActivity:
        """Store a new employment; ORCID checks duplicates by external ids only."""
        with self.lock:
            existing = record.employment_index.find_conflict(source.key, employment.self_keys)
            if existing is not None:
                raise orcid_error(9021, putCode=existing, clientName=source.name)
            stored = self._new_activity(employment, source, "public")
            record.employments[stored.put_code] = stored
            record.employment_index.add(source.key, employment.self_keys, stored.put_code)
            record.modified_ms = stored.modified_ms
            return stored

    def update_employment(
        self, record: Record, put_code: int, employment: ValidatedActivity, caller: Source
    ) -> StoredActivity:
        """Replace an employment the caller is source of."""
        with self.lock:
            return self._update_activity(
                items=record.employments,
                index=record.employment_index,
                put_code=put_code,
                activity=employment,
                caller=caller,
                kind="employment",
            )

    def delete_employment(self, record: Record, put_code: int, caller: Source) -> None:
        """Delete an employment the caller is source of."""
        with self.lock:
            stored = self.require_source(record.employments, put_code, caller, "employment")
            record.employment_index.remove(stored.source.key, stored.self_keys, put_code)
            del record.employments[put_code]
            record.modified_ms = self.epoch_ms()

    def _update_activity(
        self,
        *,
        items: dict[int, StoredActivity],
        index: SelfIdIndex,
        put_code: int,
        activity: ValidatedActivity,
        caller: Source,
        kind: str,
    ) -> StoredActivity:
        if activity.put_code != put_code:
            raise orcid_error(9019, urlPutCode=put_code, bodyPutCode=activity.put_code, clientName=caller.name)
        stored = self.require_source(items, put_code, caller, kind)
        if activity.visibility is not None and activity.visibility != stored.visibility:
            raise orcid_error(9035, clientName=caller.name)
        existing = index.find_conflict(caller.key, activity.self_keys, ignore=put_code)
        if existing is not None:
            raise orcid_error(9021, putCode=existing, clientName=caller.name)
        if activity.body != stored.body:
            # ORCID returns an unchanged item untouched, last-modified date included.
            index.remove(caller.key, stored.self_keys, put_code)
            index.add(caller.key, activity.self_keys, put_code)
            stored.body = activity.body
            stored.self_keys = activity.self_keys
            stored.group_keys = activity.group_keys
            stored.modified_ms = self.epoch_ms()
        return stored

    def delete_work_as_researcher(self, record: Record, put_code: int) -> bool:
        """What the researcher does on orcid.org: delete any work, whoever its source; False if absent."""
        with self.lock:
            stored = record.works.pop(put_code, None)
            if stored is None:
                return False
            record.work_index.remove(stored.source.key, stored.self_keys, put_code)
            record.modified_ms = self.epoch_ms()
            return True

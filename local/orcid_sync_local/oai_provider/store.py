"""The provider's records in memory, behind pyoai's ``IBatchingOAI`` interface.

Records keep the order they were first added in (a change or a deletion moves the datestamp, not the record), so a
cursor stays meaningful while a harvest pages through. Deletions are persistent: a deleted record keeps answering,
header only, with ``status="deleted"``. Resumption tokens are pyoai's (the request's arguments and a cursor) plus the
store's generation: replacing or resetting the records, or ``expire_tokens``, makes every earlier token a
``badResumptionToken``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oaipmh import common, error
from oaipmh.datestamp import DatestampError
from oaipmh.server import BatchingResumption, decodeResumptionToken, encodeResumptionToken

from .records import GRANULARITY, ProviderRecord, utc_now
from .writers import METADATA_FORMATS

DEFAULT_PAGE_SIZE = 100
EARLIEST_WHEN_EMPTY = datetime(2015, 1, 1)


@dataclass(frozen=True)
class RepositoryInfo:
    """What ``Identify`` says beyond what the store knows."""

    repository_name: str = "Example University Research Repository (local OAI-PMH provider)"
    admin_email: str = "repository@example.edu"


class RecordStore:
    """Thread-safe records and sets; every change takes the lock and bumps what it must."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, ProviderRecord] = {}  # insertion-ordered: the paging order
        self._set_names: dict[str, str] = {}
        self.generation = 1

    # --- changes ----------------------------------------------------------------------------------

    def replace(self, records: Iterable[ProviderRecord], set_names: Mapping[str, str] | None = None) -> int:
        """All records (and set names) at once; earlier resumption tokens stop working."""
        fresh: dict[str, ProviderRecord] = {}
        now = utc_now()
        for record in records:
            fresh[record.identifier] = record if record.datestamp else record.model_copy(update={"datestamp": now})
        with self._lock:
            self._records = fresh
            self._set_names = dict(set_names or {})
            self.generation += 1
            return len(fresh)

    def upsert(self, records: Iterable[ProviderRecord], set_names: Mapping[str, str] | None = None) -> list[str]:
        """Add or overwrite records (a record without a datestamp gets now); returns their identifiers."""
        now = utc_now()
        done: list[str] = []
        with self._lock:
            for record in records:
                stamped = record if record.datestamp else record.model_copy(update={"datestamp": now})
                self._records[record.identifier] = stamped
                done.append(record.identifier)
            self._set_names.update(set_names or {})
        return done

    def change(self, identifier: str, fields: Mapping[str, Any], datestamp: datetime | None = None) -> ProviderRecord:
        """Change some fields of a record (validated as a whole); it gets a new datestamp (now unless given).

        ``KeyError`` for an unknown identifier; pydantic's ``ValidationError`` names a bad field."""
        forbidden = {"identifier", "datestamp"} & set(fields)
        if forbidden:
            raise ValueError(f"{', '.join(sorted(forbidden))} cannot be changed this way")
        with self._lock:
            current = self._records[identifier]
            document = current.model_dump() | dict(fields) | {"datestamp": datestamp or utc_now()}
            changed = ProviderRecord.model_validate(document)
            self._records[identifier] = changed
            return changed

    def delete(self, identifier: str, datestamp: datetime | None = None) -> ProviderRecord:
        """Mark a record deleted (persistent: it keeps answering, header only) with a new datestamp."""
        with self._lock:
            current = self._records[identifier]
            deleted = current.model_copy(update={"deleted": True, "datestamp": datestamp or utc_now()})
            self._records[identifier] = deleted
            return deleted

    def expire_tokens(self) -> None:
        with self._lock:
            self.generation += 1

    # --- reads ------------------------------------------------------------------------------------

    def get(self, identifier: str) -> ProviderRecord | None:
        with self._lock:
            return self._records.get(identifier)

    def snapshot(self) -> list[ProviderRecord]:
        with self._lock:
            return list(self._records.values())

    def sets(self) -> list[tuple[str, str]]:
        """Every set a record is in or that was named, with its name (the spec when it has none)."""
        with self._lock:
            specs = dict(self._set_names)
            for record in self._records.values():
                for spec in record.sets:
                    specs.setdefault(spec, spec)
        return sorted(specs.items())

    def select(
        self, *, set_spec: str | None = None, from_: datetime | None = None, until: datetime | None = None
    ) -> list[ProviderRecord]:
        """Records in paging order, filtered as ``ListRecords`` asks (``from``/``until`` inclusive)."""
        with self._lock:
            records = list(self._records.values())
        if set_spec is None and from_ is None and until is None:
            return records
        return [
            record
            for record in records
            if (set_spec is None or set_spec in record.sets)
            and (from_ is None or (record.datestamp is not None and record.datestamp >= from_))
            and (until is None or (record.datestamp is not None and record.datestamp <= until))
        ]

    def earliest(self) -> datetime:
        with self._lock:
            stamps = [record.datestamp for record in self._records.values() if record.datestamp is not None]
        return min(stamps, default=EARLIEST_WHEN_EMPTY)

    def counts(self) -> dict[str, int]:
        with self._lock:
            deleted = sum(1 for record in self._records.values() if record.deleted)
            return {"records": len(self._records), "deleted": deleted, "generation": self.generation}


def _header(record: ProviderRecord) -> common.Header:
    return common.Header(None, record.identifier, record.datestamp, list(record.sets), record.deleted)


class StoreOAI:
    """pyoai's ``IBatchingOAI`` over a :class:`RecordStore` (``cursor``/``batch_size`` come from the resumption)."""

    def __init__(self, store: RecordStore, info: RepositoryInfo, base_url: str = "") -> None:
        self._store = store
        self._info = info
        self.base_url = base_url

    def identify(self) -> common.Identify:
        return common.Identify(
            repositoryName=self._info.repository_name,
            baseURL=self.base_url,
            protocolVersion="2.0",
            adminEmails=[self._info.admin_email],
            earliestDatestamp=self._store.earliest(),
            deletedRecord="persistent",
            granularity=GRANULARITY,
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:
        if identifier is not None and self._store.get(identifier) is None:
            raise error.IdDoesNotExistError(f"No record with identifier {identifier}")
        return list(METADATA_FORMATS)

    def listSets(self, cursor: int = 0, batch_size: int = 10) -> list[tuple[str, str, None]]:
        sets = self._store.sets()
        if not sets:
            raise error.NoSetHierarchyError("This repository does not support sets")
        return [(spec, name, None) for spec, name in sets[cursor : cursor + batch_size]]

    def _selected(
        self, metadataPrefix: str, set: str | None, from_: datetime | None, until: datetime | None
    ) -> list[ProviderRecord]:
        if metadataPrefix not in {prefix for prefix, _, _ in METADATA_FORMATS}:
            raise error.CannotDisseminateFormatError(f"Unknown metadata format: {metadataPrefix}")
        if set is not None and not self._store.sets():
            raise error.NoSetHierarchyError("This repository does not support sets")
        return self._store.select(set_spec=set, from_=from_, until=until)

    def listRecords(
        self,
        metadataPrefix: str,
        set: str | None = None,
        from_: datetime | None = None,
        until: datetime | None = None,
        *,
        cursor: int = 0,
        batch_size: int = 10,
    ) -> list[tuple[common.Header, ProviderRecord, None]]:
        page = self._selected(metadataPrefix, set, from_, until)[cursor : cursor + batch_size]
        return [(_header(record), record, None) for record in page]

    def listIdentifiers(
        self,
        metadataPrefix: str,
        set: str | None = None,
        from_: datetime | None = None,
        until: datetime | None = None,
        *,
        cursor: int = 0,
        batch_size: int = 10,
    ) -> list[common.Header]:
        page = self._selected(metadataPrefix, set, from_, until)[cursor : cursor + batch_size]
        return [_header(record) for record in page]

    def getRecord(self, metadataPrefix: str, identifier: str) -> tuple[common.Header, ProviderRecord, None]:
        if metadataPrefix not in {prefix for prefix, _, _ in METADATA_FORMATS}:
            raise error.CannotDisseminateFormatError(f"Unknown metadata format: {metadataPrefix}")
        record = self._store.get(identifier)
        if record is None:
            raise error.IdDoesNotExistError(f"No record with identifier {identifier}")
        return _header(record), record, None


_LIST_VERBS = {"ListSets", "ListIdentifiers", "ListRecords"}
_TOKEN_KEYS = {"ListSets": set(), "ListIdentifiers": {"metadataPrefix"}, "ListRecords": {"metadataPrefix"}}
_ALLOWED_TOKEN_KEYS = {"metadataPrefix", "set", "from_", "until", "batch_size", "verb", "generation"}


class GenerationalResumption(BatchingResumption):  # type: ignore[misc]
    """pyoai's batching resumption whose tokens also carry the verb and the store's generation.

    A token from another verb, an older generation (records replaced, reset, ``expire_tokens``) or that does not
    decode is a ``badResumptionToken``, never a crash."""

    def __init__(self, server: StoreOAI, store: RecordStore, batch_size: int) -> None:
        super().__init__(server, batch_size)
        self._store = store

    @property
    def batch_size(self) -> int:
        return int(self._batch_size)

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batch_size = value

    def handleVerb(self, verb: str, kw: dict[str, Any]) -> Any:
        if verb not in _LIST_VERBS:
            return common.getMethodForVerb(self._server, verb)(**kw)
        generation = self._store.generation
        if "resumptionToken" in kw:
            arguments, cursor = self._decode(verb, kw["resumptionToken"], generation)
        else:
            arguments, cursor = dict(kw), 0
        batch = self.batch_size
        result = list(common.getMethodForVerb(self._server, verb)(**arguments, cursor=cursor, batch_size=batch + 1))
        token = None
        if len(result) > batch:
            result.pop()
            token = encodeResumptionToken({**arguments, "verb": verb, "generation": str(generation)}, cursor + batch)
        return result, token

    @staticmethod
    def _decode(verb: str, token: str, generation: int) -> tuple[dict[str, Any], int]:
        try:
            arguments, cursor = decodeResumptionToken(token)
        except (error.BadResumptionTokenError, DatestampError, ValueError) as exc:
            raise error.BadResumptionTokenError(f"The resumption token {token!r} is invalid") from exc
        if arguments.pop("verb", None) != verb or cursor < 0 or not set(arguments) <= _ALLOWED_TOKEN_KEYS:
            raise error.BadResumptionTokenError(f"The resumption token {token!r} is not one of this list's")
        if arguments.pop("generation", None) != str(generation):
            raise error.BadResumptionTokenError(f"The resumption token {token!r} has expired")
        arguments.pop("batch_size", None)
        if not _TOKEN_KEYS[verb] <= set(arguments):
            raise error.BadResumptionTokenError(f"The resumption token {token!r} is invalid")
        return arguments, cursor

"""Reading and changing the integration settings (admin API, CLI) and caching them in the functions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from orcid_sync.errors import ConflictError
from orcid_sync.integration_settings import (
    IntegrationSettings,
    MappingRow,
    SettingsDocument,
    StoredIntegrationSettings,
    effective_mapping,
)
from orcid_sync.store.integration_settings import IntegrationSettingsStore, VersionConflictError

DEFAULT_CACHE_SECONDS = 60.0


def get_settings_document(store: IntegrationSettingsStore) -> SettingsDocument:
    """The settings as the admin API shows them, with the version to send back on update."""
    return SettingsDocument.of(store.get())


def update_settings(
    store: IntegrationSettingsStore, document: SettingsDocument, *, now: datetime, by: str | None = None
) -> SettingsDocument:
    """Replace the settings. With ``version`` set, fail instead of overwriting someone else's newer save."""
    current = store.get()
    expected = current.version if document.version is None else document.version
    if expected != current.version:
        raise ConflictError(
            f"the settings were changed since you read them (now version {current.version}, you sent "
            f"{expected}); read them again and reapply your change"
        )
    try:
        saved = store.save(document.settings_only(), expected_version=expected, at=now, by=by)
    except VersionConflictError as exc:
        raise ConflictError(f"{exc}; read them again and reapply your change") from None
    return SettingsDocument.of(saved)


def get_effective_mapping(store: IntegrationSettingsStore) -> list[MappingRow]:
    """The built-in asset type table with the institution's overrides and selection applied."""
    return effective_mapping(store.get().settings)


class CachedIntegrationSettings:
    """The settings as a function sees them: read at most once per ``ttl`` seconds per container.

    A push job fans out to thousands of messages within minutes; re-reading one item per message
    would be wasted, and a change made by an administrator is picked up within a minute.
    """

    def __init__(
        self,
        store: IntegrationSettingsStore,
        *,
        ttl: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: StoredIntegrationSettings | None = None
        self._read_at = 0.0

    def get(self) -> IntegrationSettings:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._read_at >= self._ttl:
                self._cached = self._store.get()
                self._read_at = now
            return self._cached.settings

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

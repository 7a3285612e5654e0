"""A real OAI-PMH provider that is not ours, for the tests, ``make demo`` and ``orcid-sync-local up``.

pyoai's server (``oaipmh.server``, the ``oaipmh`` package's ``BatchingServer``) over an in-memory store of records
modelled on DSpace, EPrints, Esploro and DataCite output, in ``oai_dc`` and ``oai_datacite``: resumption tokens
(page size 100 unless configured), sets, persistent deletions, ``from``/``until`` at ``YYYY-MM-DDThh:mm:ssZ``, and
``503`` + ``Retry-After`` on demand. Its admin endpoints are under ``/_provider`` (see :mod:`.app`).
"""

from __future__ import annotations

from .app import OAI_PATH, OaiProvider
from .fixtures import BAD_DOI_NUMBER, DEMO_ORCIDS, UNKNOWN_TYPE, UNKNOWN_TYPE_NUMBER, fixture_record, fixture_records
from .records import Creator, Platform, ProviderRecord
from .server import RunningProvider, start_oai_provider

__all__ = [
    "BAD_DOI_NUMBER",
    "DEMO_ORCIDS",
    "OAI_PATH",
    "UNKNOWN_TYPE",
    "UNKNOWN_TYPE_NUMBER",
    "Creator",
    "OaiProvider",
    "Platform",
    "ProviderRecord",
    "RunningProvider",
    "fixture_record",
    "fixture_records",
    "start_oai_provider",
]

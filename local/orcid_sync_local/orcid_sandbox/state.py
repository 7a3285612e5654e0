"""In-memory ORCID: clients, records, activities, OAuth codes and tokens, behind one lock.

:class:`SandboxState` is made of parts: :class:`~.state_core.StateCore` (configuration, lock, time,
put-codes), :class:`~.oauth_state.OAuthGrants` (codes and tokens), and the writes of works and
employments (:mod:`.activity_writes`) and of researcher URLs (:mod:`.researcher_url_writes`). The
models live in :mod:`.models`; they are re-exported here, where the rest of the sandbox imports them.
"""

from __future__ import annotations

import hmac

from .activity_writes import ActivityWrites
from .config import RegisteredClient, SandboxConfig
from .faults import FaultInjector, FaultSettings
from .identifiers import FIRST_SANDBOX_ORCID_BASE, LAST_SANDBOX_ORCID_BASE, format_orcid, is_valid_orcid
from .models import (
    AccessToken,
    AuthorizationCode,
    Record,
    SelfIdIndex,
    SignIn,
    Source,
    StoredActivity,
    StoredResearcherUrl,
)
from .oauth_state import CODE_LIFETIME_SECONDS, TOKEN_LIFETIME_SECONDS, OAuthGrants
from .ratelimit import TokenBucketLimiter
from .researcher_url_writes import ResearcherUrlWrites
from .state_core import FIRST_PUT_CODE
from .stats import RequestStats
from .validation import OrcidRules
from .xsd import default_model_dir, load_orcid_model

__all__ = [
    "CODE_LIFETIME_SECONDS",
    "FIRST_PUT_CODE",
    "TOKEN_LIFETIME_SECONDS",
    "AccessToken",
    "AuthorizationCode",
    "Record",
    "SandboxState",
    "SelfIdIndex",
    "SignIn",
    "Source",
    "StoredActivity",
    "StoredResearcherUrl",
]


class SandboxState(OAuthGrants, ActivityWrites, ResearcherUrlWrites):
    """All sandbox state; hold `lock` while reading or changing records, tokens or codes."""

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.clients: dict[str, RegisteredClient] = {client.client_id: client for client in config.clients}
        self.records: dict[str, Record] = {}
        self._orcid_by_email: dict[str, str] = {}
        self._next_orcid_base = FIRST_SANDBOX_ORCID_BASE + 1
        self.limiter = TokenBucketLimiter(rate=config.rate, burst=config.burst, now=self.now)
        self.faults = FaultInjector(FaultSettings(seed=config.fault_seed))
        self.stats = RequestStats()
        # Loaded once per process and directory; every app created afterwards shares it.
        self.rules = OrcidRules(load_orcid_model(config.orcid_model_dir or default_model_dir()))

    # --- clients ----------------------------------------------------------------------------------------------

    def register_client(self, client: RegisteredClient) -> None:
        """Add or replace a client."""
        with self.lock:
            self.clients[client.client_id] = client

    def authenticate_client(self, client_id: str, client_secret: str) -> RegisteredClient | None:
        """The client when the credentials are right, else None."""
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret.encode(), client_secret.encode()):
            return None
        return client

    # --- records ----------------------------------------------------------------------------------------------

    def create_record(self, given_names: str, family_name: str, email: str | None, orcid: str | None = None) -> Record:
        """A new record with a fresh iD (or `orcid`, which must be valid and unused)."""
        with self.lock:
            if orcid is None:
                orcid = self._allocate_orcid()
            elif not is_valid_orcid(orcid):
                raise ValueError(f"{orcid} is not a valid ORCID iD")
            elif orcid in self.records:
                raise ValueError(f"{orcid} already exists")
            if email and email.lower() in self._orcid_by_email:
                raise ValueError(f"a record with email {email} already exists")
            now = self.epoch_ms()
            record = Record(orcid, given_names, family_name, email or None, created_ms=now, modified_ms=now)
            self.records[orcid] = record
            if email:
                self._orcid_by_email[email.lower()] = orcid
            return record

    def _allocate_orcid(self) -> str:
        while self._next_orcid_base < LAST_SANDBOX_ORCID_BASE:
            orcid = format_orcid(self._next_orcid_base)
            self._next_orcid_base += 1
            if orcid not in self.records:
                return orcid
        raise RuntimeError("the sandbox ran out of iDs")

    def find_record(self, orcid_or_email: str) -> Record | None:
        """The record with this iD or email, if any."""
        with self.lock:
            key = orcid_or_email.strip()
            for prefix in ("https://orcid.org/", "http://orcid.org/", "https://sandbox.orcid.org/"):
                key = key.removeprefix(prefix)
            record = self.records.get(key)
            if record is None and key.lower() in self._orcid_by_email:
                record = self.records[self._orcid_by_email[key.lower()]]
            return record

    def recent_records(self, limit: int) -> list[Record]:
        """The most recently created records, newest first."""
        with self.lock:
            return list(self.records.values())[-limit:][::-1]

    def reset(self) -> None:
        """Forget records, tokens, codes and counters; clients, settings and the put-code sequence stay."""
        with self.lock:
            self.records.clear()
            self._orcid_by_email.clear()
            self._forget_grants()
        self.stats.reset()
        self.faults.reset_counts()

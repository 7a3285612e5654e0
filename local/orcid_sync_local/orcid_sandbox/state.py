"""In-memory ORCID: clients, records, activities, OAuth codes and tokens, behind one lock."""

from __future__ import annotations

import hmac
import math
import secrets
import string
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from .config import RegisteredClient, SandboxConfig
from .errors import OAuthError, invalid_token, orcid_error
from .faults import FaultInjector, FaultSettings
from .identifiers import FIRST_SANDBOX_ORCID_BASE, LAST_SANDBOX_ORCID_BASE, format_orcid, is_valid_orcid
from .ratelimit import TokenBucketLimiter
from .stats import RequestStats
from .validation import ExternalIdKey, JsonObject, OrcidRules, ValidatedActivity, ValidatedResearcherUrl
from .xsd import default_model_dir, load_orcid_model

TOKEN_LIFETIME_SECONDS = 631_138_518
CODE_LIFETIME_SECONDS = 600
FIRST_PUT_CODE = 1_000_001
_CODE_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Source:
    """Who added an item: a member client, or the researcher themself."""

    client_id: str | None
    orcid: str | None
    name: str

    @property
    def key(self) -> str:
        """The identity ORCID compares when it asks "is this the same source?"."""
        return self.client_id if self.client_id is not None else f"orcid:{self.orcid}"


@dataclass
class StoredActivity:
    """A work or an employment on a record."""

    put_code: int
    source: Source
    body: JsonObject
    self_keys: frozenset[ExternalIdKey]
    group_keys: frozenset[ExternalIdKey]
    visibility: str
    created_ms: int
    modified_ms: int


@dataclass
class StoredResearcherUrl:
    """A researcher URL on a record."""

    put_code: int
    source: Source
    url: str
    url_name: str | None
    visibility: str
    created_ms: int
    modified_ms: int


class SelfIdIndex:
    """Normalised `self` external ids per source, so the duplicate check costs a few dict look-ups."""

    def __init__(self) -> None:
        self._by_source: dict[str, dict[ExternalIdKey, int]] = {}

    def find_conflict(self, source_key: str, keys: Iterable[ExternalIdKey], *, ignore: int | None = None) -> int | None:
        """The put-code of another item from the same source sharing one of `keys`, if any."""
        index = self._by_source.get(source_key)
        if not index:
            return None
        for key in sorted(keys):
            existing = index.get(key)
            if existing is not None and existing != ignore:
                return existing
        return None

    def add(self, source_key: str, keys: Iterable[ExternalIdKey], put_code: int) -> None:
        """Index `keys` as belonging to `put_code`."""
        index = self._by_source.setdefault(source_key, {})
        for key in keys:
            index.setdefault(key, put_code)

    def remove(self, source_key: str, keys: Iterable[ExternalIdKey], put_code: int) -> None:
        """Forget the keys `put_code` held."""
        index = self._by_source.get(source_key, {})
        for key in keys:
            if index.get(key) == put_code:
                del index[key]


@dataclass
class Record:
    """One researcher's ORCID record."""

    orcid: str
    given_names: str
    family_name: str
    email: str | None
    created_ms: int
    modified_ms: int
    works: dict[int, StoredActivity] = field(default_factory=dict)
    work_index: SelfIdIndex = field(default_factory=SelfIdIndex)
    researcher_urls: dict[int, StoredResearcherUrl] = field(default_factory=dict)
    employments: dict[int, StoredActivity] = field(default_factory=dict)
    employment_index: SelfIdIndex = field(default_factory=SelfIdIndex)

    @property
    def name(self) -> str:
        """The name as the token response shows it."""
        return f"{self.given_names} {self.family_name}".strip()

    @property
    def as_source(self) -> Source:
        """The researcher as the source of items they add themselves."""
        return Source(client_id=None, orcid=self.orcid, name=self.name)


@dataclass
class AccessToken:
    """An access token and its refresh token (they live and die together)."""

    access_token: str
    refresh_token: str
    client_id: str
    orcid: str | None
    scopes: frozenset[str]
    expires_at: float
    revoked_by: str | None = None

    @property
    def scope(self) -> str:
        """Space-separated scopes, as ORCID returns them."""
        return " ".join(sorted(self.scopes))


@dataclass
class AuthorizationCode:
    """A 6-character code from the authorize page, single use, valid 10 minutes."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    orcid: str
    issued_at: float
    used: bool = False


class SandboxState:
    """All sandbox state; hold `lock` while reading or changing records, tokens or codes."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._started_at = config.clock()
        self.clients: dict[str, RegisteredClient] = {client.client_id: client for client in config.clients}
        self.records: dict[str, Record] = {}
        self._orcid_by_email: dict[str, str] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._tokens_by_refresh: dict[str, AccessToken] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._next_put_code = FIRST_PUT_CODE
        self._next_orcid_base = FIRST_SANDBOX_ORCID_BASE + 1
        self.limiter = TokenBucketLimiter(rate=config.rate, burst=config.burst, now=self.now)
        self.faults = FaultInjector(FaultSettings(seed=config.fault_seed))
        self.stats = RequestStats()
        # Loaded once per process and directory; every app created afterwards shares it.
        self.rules = OrcidRules(load_orcid_model(config.orcid_model_dir or default_model_dir()))
        # Every token value ever issued, for leak scans; kept across `reset`.
        self._issued_tokens: list[str] = []

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Sandbox seconds since start (scaled by `time_scale`)."""
        return (self.config.clock() - self._started_at) * self.config.time_scale

    def epoch_ms(self) -> int:
        """Wall-clock milliseconds for created/last-modified dates."""
        return int(self.config.clock() * 1000)

    def sleep(self, sandbox_seconds: float) -> None:
        """Wait `sandbox_seconds` of sandbox time."""
        if sandbox_seconds > 0:
            self.config.sleep(sandbox_seconds / self.config.time_scale)

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
            self._tokens.clear()
            self._tokens_by_refresh.clear()
            self._codes.clear()
        self.stats.reset()
        self.faults.reset_counts()

    # --- OAuth ------------------------------------------------------------------------------------------------

    def issue_code(self, client_id: str, redirect_uri: str, scopes: frozenset[str], orcid: str) -> str:
        """A new authorization code for the consent just given."""
        with self.lock:
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            while code in self._codes:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            self._codes[code] = AuthorizationCode(code, client_id, redirect_uri, scopes, orcid, issued_at=self.now())
            return code

    def exchange_code(self, client: RegisteredClient, code: str, redirect_uri: str | None) -> AccessToken:
        """Trade a code for a token; any attempt uses the code up, as Spring OAuth does."""
        with self.lock:
            grant = self._codes.get(code)
            invalid = OAuthError(400, "invalid_grant", f"Invalid authorization code: {code}")
            if grant is None or grant.used:
                raise invalid
            grant.used = True
            expired = self.now() - grant.issued_at > CODE_LIFETIME_SECONDS
            redirect_mismatch = redirect_uri is not None and redirect_uri != grant.redirect_uri
            if grant.client_id != client.client_id or expired or redirect_mismatch:
                raise invalid
            return self.issue_token(client.client_id, grant.orcid, grant.scopes)

    def issue_token(
        self, client_id: str, orcid: str | None, scopes: frozenset[str], lifetime: int = TOKEN_LIFETIME_SECONDS
    ) -> AccessToken:
        """A new access/refresh token pair."""
        with self.lock:
            token = AccessToken(
                access_token=str(uuid.uuid4()),
                refresh_token=str(uuid.uuid4()),
                client_id=client_id,
                orcid=orcid,
                scopes=scopes,
                expires_at=self.now() + lifetime,
            )
            self._tokens[token.access_token] = token
            self._tokens_by_refresh[token.refresh_token] = token
            self._issued_tokens += [token.access_token, token.refresh_token]
            return token

    def expires_in(self, token: AccessToken) -> int:
        """Seconds left before `token` expires."""
        return max(0, math.ceil(token.expires_at - self.now()))

    def refresh(
        self,
        client: RegisteredClient,
        refresh_token: str,
        *,
        scopes: frozenset[str] | None,
        revoke_old: bool,
        lifetime: int | None,
    ) -> AccessToken:
        """A new token from a refresh token; `revoke_old` revokes the old pair."""
        with self.lock:
            old = self._tokens_by_refresh.get(refresh_token)
            if old is None or old.client_id != client.client_id or old.revoked_by or old.expires_at <= self.now():
                raise OAuthError(400, "invalid_grant", f"Invalid refresh token: {refresh_token}")
            if scopes is not None and not scopes <= old.scopes:
                raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(sorted(scopes - old.scopes))}")
            remaining = self.expires_in(old)
            if lifetime is not None and not 0 < lifetime <= remaining:
                raise OAuthError(400, "invalid_request", "expires_in must be positive and within the old token's life")
            if revoke_old:
                old.revoked_by = "client"
            return self.issue_token(client.client_id, old.orcid, scopes or old.scopes, lifetime or remaining)

    def revoke_by_client(self, client: RegisteredClient, token: str) -> None:
        """What POST /oauth/revoke does: revoke the pair the access or refresh token belongs to."""
        with self.lock:
            found = self._tokens.get(token) or self._tokens_by_refresh.get(token)
            if found is not None and found.client_id == client.client_id:
                found.revoked_by = "client"

    def revoke_by_user(self, token: str) -> bool:
        """What the researcher does in their account settings; False when the token is unknown."""
        with self.lock:
            found = self._tokens.get(token) or self._tokens_by_refresh.get(token)
            if found is None:
                return False
            if found.revoked_by is None:
                found.revoked_by = "user"
            return True

    def revoke_record_tokens_by_user(self, orcid: str, client_id: str | None) -> int:
        """Revoke, as the researcher, the live tokens on `orcid` (only `client_id`'s when given)."""
        with self.lock:
            revoked = 0
            for token in self._tokens.values():
                if token.orcid == orcid and token.revoked_by is None and client_id in (None, token.client_id):
                    token.revoked_by = "user"
                    revoked += 1
            return revoked

    def issued_token_values(self) -> list[str]:
        """Every access and refresh token ever issued, revoked or not, in issue order (`reset` keeps them)."""
        with self.lock:
            return list(self._issued_tokens)

    def token_summaries(self, orcid: str) -> list[dict[str, object]]:
        """The tokens on a record, without the token values."""
        with self.lock:
            return [
                {
                    "client_id": token.client_id,
                    "scope": token.scope,
                    "revoked_by": token.revoked_by,
                    "expires_in": self.expires_in(token),
                }
                for token in self._tokens.values()
                if token.orcid == orcid
            ]

    def token_for_request(self, bearer: str, method: str) -> AccessToken:
        """The live token behind a bearer value; a user-revoked token still works for DELETE, as on ORCID."""
        with self.lock:
            token = self._tokens.get(bearer)
            if token is None or token.expires_at <= self.now():
                raise invalid_token(bearer)
            if token.revoked_by == "client" or (token.revoked_by == "user" and method != "DELETE"):
                raise invalid_token(bearer)
            return token

    def client_of_token(self, bearer: str) -> str | None:
        """The client a bearer token was issued to, for rate limiting (no validity check)."""
        token = self._tokens.get(bearer)
        return token.client_id if token is not None else None

    # --- activities -------------------------------------------------------------------------------------------

    def _take_put_code(self) -> int:
        put_code = self._next_put_code
        self._next_put_code += 1
        return put_code

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

    @staticmethod
    def require_source[Item: (StoredActivity, StoredResearcherUrl)](
        items: dict[int, Item], put_code: int, caller: Source, activity: str
    ) -> Item:
        """The item, if it exists (else 404/9016) and `caller` is its source (else 403/9010)."""
        stored = items.get(put_code)
        if stored is None:
            raise orcid_error(9016, detail=f"No {activity} found with put-code {put_code}")
        if stored.source.key != caller.key:
            raise orcid_error(9010, activity=activity)
        return stored

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

    # --- researcher URLs --------------------------------------------------------------------------------------

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

    def delete_work_as_researcher(self, record: Record, put_code: int) -> bool:
        """What the researcher does on orcid.org: delete any work, whoever its source; False if absent."""
        with self.lock:
            stored = record.works.pop(put_code, None)
            if stored is None:
                return False
            record.work_index.remove(stored.source.key, stored.self_keys, put_code)
            record.modified_ms = self.epoch_ms()
            return True

"""What the sandbox stores: sources, works, employments, researcher URLs, records, OAuth codes and tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .validation import ExternalIdKey, JsonObject


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
    sign_in: SignIn | None = None
    """For a token from a code granted with ``openid``: the sign-in its ``id_token`` describes."""

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
    sign_in: SignIn | None = None
    """Set when ``openid`` was granted: what the token exchange puts into the ``id_token``."""


@dataclass(frozen=True)
class SignIn:
    """An OpenID Connect sign-in: when the researcher signed in (epoch seconds) and the client's ``nonce``."""

    auth_time: int
    nonce: str | None

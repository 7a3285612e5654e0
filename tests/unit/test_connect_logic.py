"""The connect use cases with in-memory fakes: links, the connect page, OAuth start and callback, disconnect."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from orcid_sync import templates
from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher
from orcid_sync.domain.connect import disconnect, oauth_callback
from orcid_sync.domain.connect import links as connect_links
from orcid_sync.domain.connect import shared as connect
from orcid_sync.domain.connect.disconnect import OrcidUnavailableError, RevocationOutcome
from orcid_sync.domain.connect.oauth_callback import CallbackServices
from orcid_sync.domain.connect.shared import (
    CallbackParams,
    ConnectRefusedError,
    OrcidSite,
    RefusalReason,
)
from orcid_sync.domain.connect.signing import Signer, new_nonce
from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orcid_sync.domain.models import OrcidStatus, Researcher, StoredToken, TokenSource
from orcid_sync.domain.orcid.errors import InvalidTokenError, OAuthError, OrcidApiError, ServiceUnavailableError
from orcid_sync.domain.orcid.models import OAuthToken

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BASE = "https://orcid-sync.example.edu"
ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0001-5109-3700"
ACCESS = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
REFRESH = "f725f747-3a65-49f6-a231-3e8944ce464d"
KEY = SecretStr("k" * 48)
SITE = OrcidSite(client_id="APP-TESTCLIENT000001", site_url="https://sandbox.orcid.org", sandbox=True)
ALL_SCOPES = "/read-limited /activities/update /person/update"


# --- ORCID's errors, as the client raises them ----------------------------------------------------


def oauth_error(status: int, error: str) -> OAuthError:
    return OAuthError(oauth_error=error, status=status, developer_message=f"{error}: [REDACTED]")


def invalid_grant() -> OAuthError:
    return oauth_error(400, "invalid_grant")


def invalid_token() -> OrcidApiError:
    return InvalidTokenError(status=401, developer_message="invalid_token: [REDACTED]")


def unavailable() -> OrcidApiError:
    return ServiceUnavailableError(status=503, developer_message="text/html body of 20 characters", attempts=2)


# --- fakes ----------------------------------------------------------------------------------------


class FakeKeys:
    """Data keys wrapped by XOR with a master key (KMS stand-in)."""

    def __init__(self) -> None:
        self.master = os.urandom(32)

    def _wrap(self, key: bytes) -> bytes:
        return bytes(a ^ b for a, b in zip(key, self.master, strict=True))

    def generate_data_key(self) -> tuple[bytes, bytes]:
        key = os.urandom(32)
        return key, self._wrap(key)

    def decrypt_data_key(self, blob: bytes) -> bytes:
        return self._wrap(blob)


class FakeResearchers:
    def __init__(self) -> None:
        self.items: dict[str, Researcher] = {}
        self.fail_record_connection = False

    def add(self, rid: str = "r1", **extra: Any) -> Researcher:
        researcher = Researcher.model_validate(
            {"id": rid, "given_names": "Josiah", "family_name": "Carberry", "email": "jc@example.edu", **extra}
        )
        self.items[rid] = researcher
        return researcher

    def get(self, researcher_id: str) -> Researcher | None:
        return self.items.get(researcher_id)

    def record_connection(
        self, researcher_id: str, *, orcid: str, scopes: Sequence[str], connected_at: datetime
    ) -> Researcher:
        if self.fail_record_connection:
            raise RuntimeError("ConditionalCheckFailedException")
        updated = self.items[researcher_id].model_copy(
            update={
                "orcid": orcid,
                "orcid_status": OrcidStatus.ACTIVE,
                "orcid_authenticated": True,
                "orcid_scopes": sorted(scopes),
                "connected_at": connected_at,
            }
        )
        self.items[researcher_id] = updated
        return updated

    def set_status(self, researcher_id: str, status: OrcidStatus, *, scopes: Sequence[str] | None = None) -> None:
        update: dict[str, Any] = {"orcid_status": status}
        if scopes is not None:
            update["orcid_scopes"] = sorted(scopes)
        self.items[researcher_id] = self.items[researcher_id].model_copy(update=update)


class FakeTokens:
    def __init__(self) -> None:
        self.items: dict[str, StoredToken] = {}

    def get(self, researcher_id: str) -> StoredToken | None:
        return self.items.get(researcher_id)

    def put(self, token: StoredToken) -> None:
        self.items[token.researcher_id] = token

    def delete(self, researcher_id: str) -> None:
        self.items.pop(researcher_id, None)


class FakeStates:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def create(self, nonce: str, *, researcher_id: str, expires_at: datetime) -> None:
        assert nonce not in self.items
        self.items[nonce] = {"researcher_id": researcher_id, "expires_at": expires_at, "used_at": None}

    def consume(self, nonce: str, *, researcher_id: str, at: datetime) -> bool:
        item = self.items.get(nonce)
        if item is None or item["used_at"] is not None or item["researcher_id"] != researcher_id:
            return False
        item["used_at"] = at
        return True


@dataclass
class FakeOAuth:
    """ORCID's token and revoke endpoints: answers with ``token`` or raises ``error``."""

    token: OAuthToken | None = None
    error: Exception | None = None
    revoke_error: Exception | None = None
    exchanged: list[tuple[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def exchange_code(self, code: str, redirect_uri: str) -> OAuthToken:
        self.exchanged.append((code, redirect_uri))
        if self.error is not None:
            raise self.error
        assert self.token is not None
        return self.token

    def revoke(self, token: SecretStr) -> None:
        self.revoked.append(token.get_secret_value())
        if self.revoke_error is not None:
            raise self.revoke_error


def oauth_token(*, scope: str = ALL_SCOPES, orcid: str | None = ORCID, expires_in: int = 631138518) -> OAuthToken:
    return OAuthToken.model_validate(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": scope,
            "name": "Josiah Carberry",
            "orcid": orcid,
        }
    )


@dataclass
class World:
    researchers: FakeResearchers = field(default_factory=FakeResearchers)
    tokens: FakeTokens = field(default_factory=FakeTokens)
    states: FakeStates = field(default_factory=FakeStates)
    keys: FakeKeys = field(default_factory=FakeKeys)
    oauth: FakeOAuth = field(default_factory=lambda: FakeOAuth(token=oauth_token()))
    signer: Signer = field(default_factory=lambda: Signer(KEY))

    @property
    def cipher(self) -> EnvelopeTokenCipher:
        return EnvelopeTokenCipher(self.keys)

    def services(self) -> CallbackServices:
        return CallbackServices(
            researchers=self.researchers,
            tokens=self.tokens,
            states=self.states,
            cipher=self.cipher,
            oauth=self.oauth,
            signer=self.signer,
            fingerprint_key=KEY,
            site=SITE,
        )

    def link(self, rid: str = "r1", expires_at: datetime = NOW + timedelta(days=30)) -> str:
        return self.signer.sign_link(rid, expires_at)

    def start(self, rid: str = "r1", *, lang: str = "en") -> dict[str, str]:
        url = connect_links.start_authorization(
            self.link(rid),
            base_url=BASE,
            lang=lang,
            researchers=self.researchers,
            states=self.states,
            signer=self.signer,
            site=SITE,
            now=NOW,
        )
        assert url.startswith("https://sandbox.orcid.org/oauth/authorize?")
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    def state(self, rid: str = "r1") -> str:
        return self.start(rid)["state"]

    def callback(self, *, now: datetime = NOW, **params: str) -> connect.Connected:
        return oauth_callback.complete_authorization(
            CallbackParams.model_validate(params), base_url=BASE, services=self.services(), now=now
        )

    def refused(self, *, now: datetime = NOW, **params: str) -> connect.Refusal:
        with pytest.raises(ConnectRefusedError) as excinfo:
            self.callback(now=now, **params)
        return excinfo.value.refusal


@pytest.fixture
def world() -> World:
    w = World()
    w.researchers.add("r1")
    return w


def link_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["link"][0]


# --- connect links --------------------------------------------------------------------------------


def test_a_connect_link_is_a_signed_url_to_the_connect_page(world: World) -> None:
    link = connect_links.issue_connect_link(
        "r1", expires_in_days=30, base_url=BASE, researchers=world.researchers, signer=world.signer, now=NOW
    )
    assert link.url.startswith(f"{BASE}/connect?link=")
    assert link.expires_at == NOW + timedelta(days=30)
    claims = world.signer.verify_link(link_of(link.url), now=NOW)
    assert (claims.researcher_id, claims.expires_at) == ("r1", link.expires_at)
    assert KEY.get_secret_value() not in link.url


def test_a_connect_link_for_an_unknown_researcher_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError, match="nobody"):
        connect_links.issue_connect_link(
            "nobody", expires_in_days=30, base_url=BASE, researchers=world.researchers, signer=world.signer, now=NOW
        )


@pytest.mark.parametrize("days", [0, -1, 366])
def test_a_connect_link_lifetime_outside_a_year_is_invalid(world: World, days: int) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        connect_links.issue_connect_link(
            "r1", expires_in_days=days, base_url=BASE, researchers=world.researchers, signer=world.signer, now=NOW
        )
    assert excinfo.value.problems[0].field == "expires_in_days"


# --- the connect page -----------------------------------------------------------------------------


def _page(world: World, link: str | None, *, now: datetime = NOW) -> connect.ConnectPage:
    return connect_links.open_connect_page(
        link, base_url=BASE, researchers=world.researchers, signer=world.signer, site=SITE, now=now
    )


def test_the_connect_page_names_the_researcher_and_leads_to_the_start(world: World) -> None:
    link = world.link()
    page = _page(world, link)
    assert page.researcher_name == "Josiah Carberry"
    assert page.start_url == f"{BASE}/connect/start?link={link}"
    assert page.connected_orcid_url is None
    assert world.states.items == {}  # viewing the page creates nothing


def test_the_connect_page_shows_an_already_connected_id(world: World) -> None:
    world.researchers.add("r1", orcid=ORCID, orcid_status="active", orcid_authenticated=True)
    assert _page(world, world.link()).connected_orcid_url == f"https://sandbox.orcid.org/{ORCID}"


def test_an_unauthenticated_id_on_record_is_not_shown_as_connected(world: World) -> None:
    world.researchers.add("r1", orcid=ORCID)
    assert _page(world, world.link()).connected_orcid_url is None


@pytest.mark.parametrize(
    ("make_link", "reason", "status"),
    [
        (lambda w: None, RefusalReason.LINK_INVALID, 400),
        (lambda w: "", RefusalReason.LINK_INVALID, 400),
        (lambda w: w.link()[:-2] + "xx", RefusalReason.LINK_INVALID, 400),
        (
            lambda w: Signer(SecretStr("z" * 48)).sign_link("r1", NOW + timedelta(days=1)),
            RefusalReason.LINK_INVALID,
            400,
        ),
        (lambda w: w.signer.sign_state("r1", new_nonce(), NOW + timedelta(days=1)), RefusalReason.LINK_INVALID, 400),
        (lambda w: w.link(expires_at=NOW - timedelta(seconds=1)), RefusalReason.LINK_EXPIRED, 410),
        (lambda w: w.link("gone"), RefusalReason.RESEARCHER_UNKNOWN, 404),
    ],
    ids=["missing", "empty", "tampered", "other-key", "a-state", "expired", "unknown-researcher"],
)
def test_a_bad_link_is_refused_by_the_page_and_the_start(
    world: World, make_link: Any, reason: RefusalReason, status: int
) -> None:
    link = make_link(world)
    with pytest.raises(ConnectRefusedError) as page:
        _page(world, link)
    with pytest.raises(ConnectRefusedError) as start:
        connect_links.start_authorization(
            link,
            base_url=BASE,
            lang="en",
            researchers=world.researchers,
            states=world.states,
            signer=world.signer,
            site=SITE,
            now=NOW,
        )
    assert page.value.refusal.reason is start.value.refusal.reason is reason
    assert page.value.refusal.status == status
    assert page.value.refusal.retry_url is None
    assert world.states.items == {}


# --- the start of OAuth ---------------------------------------------------------------------------


def test_the_start_records_a_state_and_sends_the_researcher_to_orcid(world: World) -> None:
    params = world.start(lang="es")
    assert params["client_id"] == "APP-TESTCLIENT000001"
    assert params["response_type"] == "code"
    assert params["scope"] == "/read-limited /activities/update /person/update"
    assert params["redirect_uri"] == f"{BASE}/orcid/callback"
    assert params["lang"] == "es"
    claims = world.signer.verify_state(params["state"], now=NOW)
    assert claims.researcher_id == "r1"
    assert claims.expires_at == NOW + timedelta(hours=1)
    assert world.states.items == {
        claims.nonce: {"researcher_id": "r1", "expires_at": NOW + timedelta(hours=1), "used_at": None}
    }


def test_the_start_prefills_names_and_email_when_the_id_is_unknown(world: World) -> None:
    params = world.start()
    assert (params["given_names"], params["family_names"], params["email"]) == ("Josiah", "Carberry", "jc@example.edu")
    assert "orcid" not in params


def test_the_start_sends_only_the_id_when_it_is_known(world: World) -> None:
    world.researchers.add("r1", orcid=ORCID)
    params = world.start()
    assert params["orcid"] == ORCID
    assert not {"given_names", "family_names", "email"} & params.keys()


def test_the_authorize_url_encodes_spaces_as_percent_20(world: World) -> None:
    url = connect_links.start_authorization(
        world.link(),
        base_url=BASE,
        lang="en",
        researchers=world.researchers,
        states=world.states,
        signer=world.signer,
        site=SITE,
        now=NOW,
    )
    assert "scope=/read-limited%20/activities/update%20/person/update" in url
    assert "+" not in url


def test_each_start_has_its_own_state(world: World) -> None:
    assert world.state() != world.state()
    assert len(world.states.items) == 2


# --- the callback: success ------------------------------------------------------------------------


def test_a_successful_callback_stores_the_token_encrypted_and_records_the_id(world: World) -> None:
    # Given a researcher who went through the start
    state = world.state()
    # When ORCID sends them back with a code
    connected = world.callback(state=state, code="Ab3dE6")
    # Then the code was exchanged for the registered redirect URI
    assert world.oauth.exchanged == [("Ab3dE6", f"{BASE}/orcid/callback")]
    assert world.oauth.revoked == []
    # And the token is stored sealed, opening only for this researcher
    stored = world.tokens.items["r1"]
    assert stored.source is TokenSource.OAUTH
    assert stored.orcid == ORCID
    assert stored.scopes == ["/activities/update", "/person/update", "/read-limited"]
    assert stored.expires_at == NOW + timedelta(seconds=631138518)
    assert stored.stored_at == NOW
    assert stored.refresh_token is not None
    assert world.cipher.open("r1", stored.access_token) == ACCESS
    assert world.cipher.open("r1", stored.refresh_token) == REFRESH
    dumped = repr(stored.model_dump())
    assert ACCESS not in dumped and REFRESH not in dumped
    assert ACCESS.encode() not in stored.access_token.ciphertext
    assert len(stored.fingerprint) == 64
    # And the researcher is connected with the authenticated iD
    researcher = world.researchers.items["r1"]
    assert (researcher.orcid, researcher.orcid_status, researcher.orcid_authenticated) == (
        ORCID,
        OrcidStatus.ACTIVE,
        True,
    )
    assert researcher.connected_at == NOW
    assert researcher.orcid_scopes == ["/activities/update", "/person/update", "/read-limited"]
    # And the success page shows the full iD link
    assert connected.orcid_url == f"https://sandbox.orcid.org/{ORCID}"
    assert connected.researcher_name == "Josiah Carberry"
    assert connected.can_update_person


def test_the_callback_accepts_the_same_id_already_on_record(world: World) -> None:
    world.researchers.add("r1", orcid=ORCID)
    assert world.callback(state=world.state(), code="Ab3dE6").orcid == ORCID


def test_a_grant_without_person_update_is_kept_and_says_so(world: World) -> None:
    world.oauth.token = oauth_token(scope="/read-limited /activities/update")
    connected = world.callback(state=world.state(), code="Ab3dE6")
    assert not connected.can_update_person
    assert world.tokens.items["r1"].scopes == ["/activities/update", "/read-limited"]


# --- the callback: refusals -----------------------------------------------------------------------


def _assert_nothing_stored(world: World, *, researcher_before: Researcher | None = None) -> None:
    assert world.tokens.items == {}
    if researcher_before is not None:
        assert world.researchers.items["r1"] == researcher_before


def test_a_different_id_on_record_is_refused_and_the_grant_revoked(world: World) -> None:
    before = world.researchers.add("r1", orcid=OTHER_ORCID)
    refusal = world.refused(state=world.state(), code="Ab3dE6")
    assert refusal.reason is RefusalReason.DIFFERENT_ORCID
    assert refusal.status == 409
    assert refusal.authenticated_orcid_url == f"https://sandbox.orcid.org/{ORCID}"
    assert refusal.orcid_on_record_url == f"https://sandbox.orcid.org/{OTHER_ORCID}"
    assert world.oauth.revoked == [ACCESS]
    _assert_nothing_stored(world, researcher_before=before)


@pytest.mark.parametrize(
    ("scope", "missing"),
    [
        ("/read-limited /person/update", ("/activities/update",)),
        ("/activities/update /person/update", ("/read-limited",)),
        ("/person/update", ("/activities/update", "/read-limited")),
        ("/authenticate", ("/activities/update", "/read-limited")),
    ],
)
def test_a_grant_missing_a_needed_scope_is_refused_naming_it_and_revoked(
    world: World, scope: str, missing: tuple[str, ...]
) -> None:
    before = world.researchers.items["r1"]
    world.oauth.token = oauth_token(scope=scope)
    refusal = world.refused(state=world.state(), code="Ab3dE6")
    assert refusal.reason is RefusalReason.SCOPE_MISSING
    assert refusal.status == 403
    assert refusal.missing_scopes == missing
    assert world.oauth.revoked == [ACCESS]
    _assert_nothing_stored(world, researcher_before=before)


def test_a_failed_revocation_does_not_change_the_refusal(world: World) -> None:
    world.oauth.token = oauth_token(scope="/read-limited")
    world.oauth.revoke_error = unavailable()
    assert world.refused(state=world.state(), code="Ab3dE6").reason is RefusalReason.SCOPE_MISSING
    _assert_nothing_stored(world)


def test_a_token_without_an_id_is_refused_and_revoked(world: World) -> None:
    world.oauth.token = oauth_token(orcid=None)
    assert world.refused(state=world.state(), code="Ab3dE6").reason is RefusalReason.AUTHORIZATION_FAILED
    assert world.oauth.revoked == [ACCESS]
    _assert_nothing_stored(world)


def test_a_denial_is_a_friendly_page_with_a_fresh_link(world: World) -> None:
    before = world.researchers.items["r1"]
    refusal = world.refused(state=world.state(), error="access_denied")
    assert refusal.reason is RefusalReason.ACCESS_DENIED
    assert refusal.status == 200
    assert refusal.retry_url is not None and refusal.retry_url.startswith(f"{BASE}/connect?link=")
    claims = world.signer.verify_link(link_of(refusal.retry_url), now=NOW)
    assert claims.researcher_id == "r1"
    assert claims.expires_at == NOW + timedelta(days=1)
    assert world.oauth.exchanged == []
    _assert_nothing_stored(world, researcher_before=before)


def test_another_oauth_error_from_orcid_is_refused_with_a_retry(world: World) -> None:
    refusal = world.refused(state=world.state(), error="server_error")
    assert refusal.reason is RefusalReason.AUTHORIZATION_FAILED
    assert refusal.retry_url is not None
    assert world.oauth.exchanged == []


def test_a_missing_state_is_refused(world: World) -> None:
    refusal = world.refused(code="Ab3dE6")
    assert (refusal.reason, refusal.status, refusal.retry_url) == (RefusalReason.STATE_MISSING, 400, None)
    assert world.oauth.exchanged == []


def test_a_forged_state_is_refused(world: World) -> None:
    forged = Signer(SecretStr("f" * 48)).sign_state("r1", new_nonce(), NOW + timedelta(hours=1))
    for state in (forged, world.state()[:-3] + "abc", world.link()):
        refusal = world.refused(state=state, code="Ab3dE6")
        assert (refusal.reason, refusal.retry_url) == (RefusalReason.STATE_INVALID, None)
    assert world.oauth.exchanged == []
    _assert_nothing_stored(world)


def test_an_expired_state_is_refused(world: World) -> None:
    state = world.state()
    refusal = world.refused(now=NOW + timedelta(hours=1, seconds=1), state=state, code="Ab3dE6")
    assert (refusal.reason, refusal.retry_url) == (RefusalReason.STATE_EXPIRED, None)
    assert world.oauth.exchanged == []


def test_a_replayed_state_is_refused(world: World) -> None:
    state = world.state()
    world.callback(state=state, code="Ab3dE6")
    refusal = world.refused(state=state, code="Ab3dE6")
    assert (refusal.reason, refusal.retry_url) == (RefusalReason.STATE_REPLAYED, None)
    assert len(world.oauth.exchanged) == 1


def test_a_state_used_by_a_denial_cannot_be_used_again(world: World) -> None:
    state = world.state()
    world.refused(state=state, error="access_denied")
    assert world.refused(state=state, code="Ab3dE6").reason is RefusalReason.STATE_REPLAYED


def test_a_genuine_state_that_was_never_recorded_is_refused_as_replayed(world: World) -> None:
    state = world.signer.sign_state("r1", new_nonce(), NOW + timedelta(hours=1))
    assert world.refused(state=state, code="Ab3dE6").reason is RefusalReason.STATE_REPLAYED


def test_a_missing_code_is_refused_with_a_retry(world: World) -> None:
    for params in ({}, {"code": ""}):
        refusal = world.refused(state=world.state(), **params)
        assert refusal.reason is RefusalReason.CODE_MISSING
        assert refusal.retry_url is not None
    assert world.oauth.exchanged == []


@pytest.mark.parametrize(
    ("error", "reason", "status"),
    [
        (invalid_grant, RefusalReason.CODE_REJECTED, 400),
        (lambda: oauth_error(401, "invalid_client"), RefusalReason.AUTHORIZATION_FAILED, 400),
        (unavailable, RefusalReason.ORCID_UNAVAILABLE, 502),
    ],
    ids=["invalid-grant", "bad-client", "orcid-down"],
)
def test_a_failed_exchange_is_refused(world: World, error: Any, reason: RefusalReason, status: int) -> None:
    world.oauth.error = error()
    refusal = world.refused(state=world.state(), code="Ab3dE6")
    assert (refusal.reason, refusal.status) == (reason, status)
    assert refusal.retry_url is not None
    _assert_nothing_stored(world)
    assert world.researchers.items["r1"].orcid_status is OrcidStatus.NONE


def test_a_state_for_a_researcher_deleted_since_is_refused(world: World) -> None:
    state = world.state()
    del world.researchers.items["r1"]
    assert world.refused(state=state, code="Ab3dE6").reason is RefusalReason.RESEARCHER_UNKNOWN
    assert world.oauth.exchanged == []


def test_a_failure_while_recording_revokes_the_grant_and_stores_no_token(world: World) -> None:
    world.researchers.fail_record_connection = True
    with pytest.raises(RuntimeError):
        world.callback(state=world.state(), code="Ab3dE6")
    assert world.oauth.revoked == [ACCESS]
    assert world.tokens.items == {}


# --- disconnect -----------------------------------------------------------------------------------


def _connect(world: World) -> None:
    world.callback(state=world.state(), code="Ab3dE6")


def _disconnect(world: World, rid: str = "r1") -> disconnect.Disconnected:
    return disconnect.disconnect(
        rid, researchers=world.researchers, tokens=world.tokens, cipher=world.cipher, oauth=world.oauth
    )


def test_disconnect_revokes_at_orcid_deletes_the_token_and_marks_disconnected(world: World) -> None:
    _connect(world)
    result = _disconnect(world)
    assert world.oauth.revoked == [ACCESS]
    assert world.tokens.items == {}
    researcher = world.researchers.items["r1"]
    assert researcher.orcid_status is OrcidStatus.DISCONNECTED
    assert researcher.orcid_scopes == []
    assert researcher.orcid == ORCID  # the iD is still theirs
    assert (result.token_revocation, result.orcid_status, result.orcid) == (
        RevocationOutcome.REVOKED,
        OrcidStatus.DISCONNECTED,
        ORCID,
    )


@pytest.mark.parametrize("error", [invalid_token, lambda: oauth_error(401, "invalid_token")], ids=["api", "oauth"])
def test_disconnect_deletes_a_token_orcid_already_considers_invalid(world: World, error: Any) -> None:
    _connect(world)
    world.oauth.revoke_error = error()
    assert _disconnect(world).token_revocation is RevocationOutcome.ALREADY_INVALID
    assert world.tokens.items == {}
    assert world.researchers.items["r1"].orcid_status is OrcidStatus.DISCONNECTED


@pytest.mark.parametrize(
    ("error", "cause"),
    [(unavailable, "ServiceUnavailableError"), (lambda: oauth_error(401, "invalid_client"), "invalid_client")],
    ids=["orcid-down", "bad-client"],
)
def test_disconnect_keeps_everything_when_orcid_does_not_revoke(world: World, error: Any, cause: str) -> None:
    _connect(world)
    world.oauth.revoke_error = error()
    with pytest.raises(OrcidUnavailableError) as excinfo:
        _disconnect(world)
    assert cause in str(excinfo.value) and "try again" in str(excinfo.value)
    assert ACCESS not in str(excinfo.value)
    assert "r1" in world.tokens.items
    assert world.researchers.items["r1"].orcid_status is OrcidStatus.ACTIVE


def test_disconnect_deletes_a_token_that_cannot_be_decrypted(world: World) -> None:
    _connect(world)
    world.keys.master = os.urandom(32)  # the data key no longer unwraps
    assert _disconnect(world).token_revocation is RevocationOutcome.UNREADABLE
    assert world.oauth.revoked == []
    assert world.tokens.items == {}


def test_disconnect_without_a_token_still_marks_a_connected_researcher_disconnected(world: World) -> None:
    world.researchers.add("r1", orcid=ORCID, orcid_status="revoked")
    assert _disconnect(world).token_revocation is RevocationOutcome.NO_TOKEN
    assert world.researchers.items["r1"].orcid_status is OrcidStatus.DISCONNECTED


def test_disconnect_of_a_researcher_who_never_connected_is_a_conflict(world: World) -> None:
    with pytest.raises(ConflictError, match="not connected"):
        _disconnect(world)


def test_disconnect_of_an_unknown_researcher_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        _disconnect(world, "nobody")


# --- base URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "domain", "host", "expected"),
    [
        ("https://orcid.example.edu/", "abc.execute-api.us-east-1.amazonaws.com", None, "https://orcid.example.edu"),
        (
            "",
            "abc.execute-api.us-east-1.amazonaws.com",
            "evil.example",
            "https://abc.execute-api.us-east-1.amazonaws.com",
        ),
        ("", "127.0.0.1:3000", "127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("", "localhost:8080", None, "http://localhost:8080"),
        ("", None, "[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_the_base_url_comes_from_configuration_or_the_request(
    configured: str, domain: str | None, host: str | None, expected: str
) -> None:
    assert connect.request_base_url(configured=configured, domain_name=domain, host=host) == expected


def test_a_non_loopback_host_without_a_domain_is_not_trusted() -> None:
    with pytest.raises(InvalidInputError):
        connect.request_base_url(configured="", domain_name=None, host="evil.example")


def test_the_stylesheet_is_root_relative_under_the_base_path() -> None:
    assert connect.stylesheet_url("") == "/connect/style.css"
    assert connect.stylesheet_url("https://www.example.edu/orcid") == "/orcid/connect/style.css"


# --- pages and languages --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(templates.languages()))
def test_every_language_has_the_same_messages_as_english(lang: str) -> None:
    english, other = templates.messages("en"), templates.messages(lang)
    assert other.messages.keys() == english.messages.keys()
    assert other.problems.keys() == english.problems.keys()
    assert other.scope_purposes.keys() == english.scope_purposes.keys()
    for macro in ("connect_for", "success_thanks", "what_is_orcid", "footer"):
        assert callable(getattr(other, macro))


def test_every_refusal_reason_has_a_page_in_every_language() -> None:
    for lang in templates.languages():
        problems = templates.messages(lang).problems
        for reason in RefusalReason:
            assert problems[reason.value]["title"] and problems[reason.value]["body"], (lang, reason)


def test_every_needed_scope_is_explained() -> None:
    for lang in templates.languages():
        assert set(connect.NEEDED_SCOPES) <= templates.messages(lang).scope_purposes.keys()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("de-DE,de;q=0.9", "en"),
        ("de;q=0.9,en;q=0.5,es;q=0.7", "es"),
        ("es;q=0", "en"),
        ("es;q=nonsense,en", "en"),
    ],
)
def test_the_language_follows_accept_language(header: str | None, expected: str) -> None:
    assert "es" in templates.languages()
    assert templates.negotiate_language(header) == expected


def test_researcher_names_are_escaped_on_the_page() -> None:
    page = connect.ConnectPage(researcher_name='<script>alert("x")</script>', start_url=f"{BASE}/connect/start?link=a")
    html = templates.render_page("connect.html.j2", lang="en", stylesheet_url="/connect/style.css", view=page)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html

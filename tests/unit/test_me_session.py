"""The "My ORCID" session cookie and CSRF tokens, and the sign-in state: signed, expiring, single-purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from orcid_sync.domain.connect.signing import Signer
from orcid_sync.domain.me.session import (
    SESSION_LIFETIME,
    csrf_matches,
    csrf_token,
    issue_session,
    read_session,
    session_cookie,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = SecretStr("k" * 40)
SIGNER = Signer(KEY)
ORCID = "0000-0002-1825-0097"


def _value() -> str:
    return issue_session(SIGNER, researcher_id="r1", orcid=ORCID, now=NOW).cookie_value


def test_a_session_reads_back_with_its_researcher_id_and_an_hour_at_most() -> None:
    session = read_session(SIGNER, _value(), now=NOW + timedelta(minutes=59))
    assert session is not None
    assert (session.researcher_id, session.orcid) == ("r1", ORCID)
    assert session.expires_at - NOW <= SESSION_LIFETIME == timedelta(hours=1)


def test_an_expired_session_is_none() -> None:
    assert read_session(SIGNER, _value(), now=NOW + SESSION_LIFETIME) is None


@pytest.mark.parametrize(
    "change", [lambda v: v[:-2] + ("AA" if v[-2:] != "AA" else "BB"), lambda v: "x" + v, lambda v: v + "."]
)
def test_a_tampered_session_is_none(change: object) -> None:
    assert read_session(SIGNER, change(_value()), now=NOW) is None  # type: ignore[operator]


def test_a_session_signed_with_another_key_is_none() -> None:
    other = issue_session(Signer(SecretStr("o" * 40)), researcher_id="r1", orcid=ORCID, now=NOW).cookie_value
    assert read_session(SIGNER, other, now=NOW) is None


def test_no_other_signed_token_passes_as_a_session_nor_a_session_as_them() -> None:
    link = SIGNER.sign_link("r1", NOW + timedelta(days=1))
    state = SIGNER.sign_state("r1", "nonce", NOW + timedelta(hours=1))
    sign_in = SIGNER.sign_sign_in_state("nonce", NOW + timedelta(hours=1))
    for token in (link, state, sign_in):
        assert read_session(SIGNER, token, now=NOW) is None
    assert SIGNER.is_sign_in_state(sign_in)
    assert not SIGNER.is_sign_in_state(state) and not SIGNER.is_sign_in_state(_value())


def test_the_csrf_token_belongs_to_one_session_and_is_not_its_secret() -> None:
    first = issue_session(SIGNER, researcher_id="r1", orcid=ORCID, now=NOW).session
    second = issue_session(SIGNER, researcher_id="r1", orcid=ORCID, now=NOW).session
    token = csrf_token(SIGNER, first)
    assert token != first.csrf_secret
    assert csrf_matches(SIGNER, first, token)
    assert not csrf_matches(SIGNER, second, token)
    assert not csrf_matches(SIGNER, first, None) and not csrf_matches(SIGNER, first, "")


def test_the_cookie_is_scoped_to_me_for_an_hour() -> None:
    cookie = session_cookie(issue_session(SIGNER, researcher_id="r1", orcid=ORCID, now=NOW))
    assert (cookie.name, cookie.path, cookie.max_age) == ("orcid_sync_me", "/me", 3600)

"""The pull's rules: who is pulled, and which of their ORCID works become rows (against in-memory fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orcid_sync.logic.pull import select_pull_researchers
from orcid_sync.models import Researcher, SealedSecret, StoredToken, TokenSource

NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0002-9079-593X"
SEALED = SealedSecret(data_key=b"k", nonce=b"n" * 12, ciphertext=b"c")


def researcher(rid: str, orcid: str | None = ORCID) -> Researcher:
    return Researcher(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid)


def token(
    rid: str,
    *,
    orcid: str = ORCID,
    scopes: tuple[str, ...] = ("/read-limited", "/activities/update"),
    revoked: bool = False,
    expired: bool = False,
) -> StoredToken:
    return StoredToken(
        researcher_id=rid,
        orcid=orcid,
        access_token=SEALED,
        scopes=list(scopes),
        expires_at=datetime.now(UTC) + (timedelta(days=-1) if expired else timedelta(days=3650)),
        source=TokenSource.OAUTH,
        stored_at=NOW,
        revoked_at=NOW if revoked else None,
        fingerprint="f",
    )


# --- eligibility -------------------------------------------------------------------------------------


def test_only_researchers_with_an_id_and_a_live_read_limited_token_are_pulled() -> None:
    # Given
    people = [
        researcher("ok"),
        researcher("no-orcid", orcid=None),
        researcher("no-token"),
        researcher("revoked"),
        researcher("expired"),
        researcher("push-only"),
        researcher("wrong-record"),
        researcher("ok-2"),
    ]
    tokens = {
        "ok": token("ok"),
        "no-orcid": token("no-orcid"),
        "revoked": token("revoked", revoked=True),
        "expired": token("expired", expired=True),
        "push-only": token("push-only", scopes=("/activities/update",)),
        "wrong-record": token("wrong-record", orcid=OTHER_ORCID),
        "ok-2": token("ok-2", scopes=("/read-limited",)),
    }
    # When
    selected = select_pull_researchers(people, tokens, None)
    # Then
    assert selected == ["ok", "ok-2"]


def test_a_manual_run_is_limited_to_the_researchers_asked_for() -> None:
    people = [researcher("a"), researcher("b"), researcher("c")]
    tokens = {rid: token(rid) for rid in ("a", "b", "c")}
    assert select_pull_researchers(people, tokens, {"c", "a", "unknown"}) == ["a", "c"]
    assert select_pull_researchers(people, tokens, set()) == []

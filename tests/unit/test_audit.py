"""The audit log's rules: an entry is built once (id, UTC time), secrets never enter it, a diff keeps changes only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from orcid_sync.domain.audit import AuditEntry, AuditPage, changed_fields, record_action, scrub

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


class ListLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def recent(
        self, *, limit: int, cursor: str | None = None, actor: str | None = None, action: str | None = None
    ) -> AuditPage:
        return AuditPage(entries=list(reversed(self.entries))[:limit])


def test_record_action_stores_the_entry_it_returns_with_an_id_and_the_time() -> None:
    log = ListLog()
    entry = record_action(
        log,
        actor="arn:aws:iam::123456789012:user/ops",
        actor_kind="api",
        action="schedule.activate",
        target="push",
        before={"enabled": False},
        after={"enabled": True},
        now=NOW,
    )
    assert log.entries == [entry]
    assert entry.entry_id and entry.at == NOW
    assert (entry.before, entry.after) == ({"enabled": False}, {"enabled": True})


def test_two_entries_never_share_an_id() -> None:
    log = ListLog()
    for _ in range(2):
        record_action(log, actor="a@example.edu", actor_kind="console", action="job.start", now=NOW)
    assert log.entries[0].entry_id != log.entries[1].entry_id


def test_the_time_is_kept_in_utc_and_must_carry_a_zone() -> None:
    madrid = timezone(timedelta(hours=1))
    entry = record_action(
        ListLog(), actor="a@example.edu", actor_kind="console", action="job.start", now=NOW.astimezone(madrid)
    )
    assert entry.at.tzinfo is UTC and entry.at == NOW
    with pytest.raises(ValidationError, match="time zone"):
        record_action(ListLog(), actor="a", actor_kind="console", action="job.start", now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize("bad", [{"actor": ""}, {"actor_kind": "cli"}, {"action": "Activate"}, {"action": "job"}])
def test_an_entry_without_an_actor_a_known_door_or_a_dotted_action_is_refused(bad: dict[str, str]) -> None:
    fields = {"actor": "a@example.edu", "actor_kind": "console", "action": "job.start"} | bad
    with pytest.raises(ValidationError):
        record_action(ListLog(), now=NOW, **fields)  # type: ignore[arg-type]


def test_secret_looking_keys_are_dropped_at_any_depth_and_bearer_text_is_blanked() -> None:
    values = {
        "access_token": "abc",
        "refresh-token": "def",
        "client_secret": "s",
        "signing_key": "k",
        "Password": "p",
        "code_verifier": "v",
        "csrf": "c",
        "session": "cookie",
        "nested": {"token": "t", "kept": 1, "rows": [{"api_key": "x", "id": "r1"}]},
        "message": "ORCID said 401 for Authorization: Bearer 1234-abcd",
        "enabled": True,
        "count": 3,
        "at": NOW,
    }
    assert scrub(values) == {
        "nested": {"kept": 1, "rows": [{"id": "r1"}]},
        "message": "ORCID said 401 for Authorization: Bearer [redacted]",
        "enabled": True,
        "count": 3,
        "at": str(NOW),
    }


def test_an_entry_scrubs_what_it_is_given_whoever_builds_it() -> None:
    # The adapter builds entries from stored items: the rule holds there too.
    entry = AuditEntry(
        entry_id="e1",
        at=NOW,
        actor="a@example.edu",
        actor_kind="console",
        action="tokens.upload",
        before={"orcid_token": "secret"},
        after={"rows": 3, "refresh_token": "r"},
    )
    assert (entry.before, entry.after) == ({}, {"rows": 3})


def test_deep_values_are_summarised() -> None:
    deep: dict[str, object] = {"v": 1}
    for _ in range(10):
        deep = {"d": deep}
    assert "[nested]" in str(scrub(deep))


def test_changed_fields_keeps_only_what_differs_on_both_sides() -> None:
    before = {"send_assets": False, "institution_name": "Uni", "type_overrides": {"a": "b"}}
    after = {"send_assets": True, "institution_name": "Uni", "type_overrides": {"a": "b"}, "logo_url": "x"}
    assert changed_fields(before, after) == (
        {"send_assets": False, "logo_url": None},
        {"send_assets": True, "logo_url": "x"},
    )
    assert changed_fields(before, before) == ({}, {})


def test_keys_that_only_mention_tokens_are_kept() -> None:
    values = {"token_revocation": "revoked", "tokens_imported": 3, "orcid_token": "x", "tokens": ["a"], "key": "k"}
    assert scrub(values) == {"token_revocation": "revoked", "tokens_imported": 3}

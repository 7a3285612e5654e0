"""The audit log in DynamoDB (moto, the template's AuditTable): newest first across months, pages, filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.audit_log import DynamoAuditLog
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError, encode_cursor
from orcid_sync.domain.audit import AuditEntry, record_action
from tests.support.aws import AwsEnv

START = datetime(2025, 1, 30, 23, 0, tzinfo=UTC)


def _record_every_twelve_hours(log: DynamoAuditLog, count: int) -> list[AuditEntry]:
    """Entries from late January to March: three month buckets, with February wholly crossed."""
    return [
        record_action(
            log,
            actor="admin@example.edu" if i % 2 else "arn:aws:iam::123456789012:user/ops",
            actor_kind="console" if i % 2 else "api",
            action="job.start" if i % 3 else "schedule.activate",
            target=f"t{i}",
            after={"n": i},
            now=START + timedelta(hours=12 * i),
        )
        for i in range(count)
    ]


def _all_pages(log: DynamoAuditLog, limit: int, **filters: str) -> list[list[AuditEntry]]:
    pages, cursor = [], None
    while True:
        page = log.recent(limit=limit, cursor=cursor, **filters)
        pages.append(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_entries_come_back_newest_first_across_months_page_by_page(aws: AwsEnv) -> None:
    log = composition.audit_log()
    recorded = _record_every_twelve_hours(log, 70)  # 30 Jan → 6 Mar
    pages = _all_pages(log, limit=8)
    read = [entry for page in pages for entry in page]
    assert read == sorted(recorded, key=lambda e: e.at, reverse=True)
    assert all(len(page) == 8 for page in pages[:-1])
    months = {item["pk"] for item in aws.table("AUDIT_TABLE").scan()["Items"]}
    assert months == {"MONTHS", "2025-01", "2025-02", "2025-03"}


def test_a_page_that_ends_exactly_at_the_last_entry_says_there_are_no_more(aws: AwsEnv) -> None:
    log = composition.audit_log()
    _record_every_twelve_hours(log, 6)
    assert log.recent(limit=6).next_cursor is None
    assert [len(p) for p in _all_pages(log, limit=3)] == [3, 3]


def test_filters_by_actor_and_by_action_fill_their_pages(aws: AwsEnv) -> None:
    log = composition.audit_log()
    recorded = _record_every_twelve_hours(log, 40)
    by_console = [e for page in _all_pages(log, limit=5, actor="admin@example.edu") for e in page]
    assert by_console == sorted((e for e in recorded if e.actor_kind == "console"), key=lambda e: e.at, reverse=True)
    activations = [e for page in _all_pages(log, limit=4, action="schedule.activate") for e in page]
    assert {e.action for e in activations} == {"schedule.activate"}
    assert len(activations) == len([e for e in recorded if e.action == "schedule.activate"])
    both = log.recent(limit=50, actor="admin@example.edu", action="schedule.activate").entries
    assert both and all(e.actor == "admin@example.edu" and e.action == "schedule.activate" for e in both)


def test_an_empty_log_lists_nothing(aws: AwsEnv) -> None:
    page = composition.audit_log().recent(limit=10)
    assert page.entries == [] and page.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    ["not base64 json!", encode_cursor({"job_id": "x"}), encode_cursor({"pk": "MONTHS", "sk": "2025-01"})],
)
def test_a_cursor_it_did_not_hand_out_is_refused(aws: AwsEnv, cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        composition.audit_log().recent(limit=5, cursor=cursor)


def test_no_secret_reaches_the_table(aws: AwsEnv) -> None:
    log = composition.audit_log()
    record_action(
        log,
        actor="admin@example.edu",
        actor_kind="console",
        action="tokens.upload",
        target="upload-1",
        before=None,
        after={"rows": 2, "access_token": "tok-123", "note": "Bearer tok-456"},
        now=START,
    )
    items = aws.table("AUDIT_TABLE").scan()["Items"]
    assert "tok-123" not in json.dumps(items, default=str) and "tok-456" not in json.dumps(items, default=str)
    (entry,) = log.recent(limit=5).entries
    assert entry.after == {"rows": 2, "note": "Bearer [redacted]"} and entry.before is None


def test_an_entry_reads_back_as_it_was_recorded(aws: AwsEnv) -> None:
    log = composition.audit_log()
    recorded = record_action(
        log,
        actor="arn:aws:iam::123456789012:user/ops",
        actor_kind="api",
        action="settings.update",
        target="settings",
        before={"send_assets": False, "type_overrides": {}},
        after={"send_assets": True, "type_overrides": {"thesis": "dissertation-thesis"}},
        now=START.replace(microsecond=123456),
    )
    assert log.recent(limit=1).entries == [recorded]


def test_a_second_container_marks_the_month_again_harmlessly(aws: AwsEnv) -> None:
    table = boto3.resource("dynamodb").Table(aws.env["AUDIT_TABLE"])
    first, second = DynamoAuditLog(table), DynamoAuditLog(table)
    _record_every_twelve_hours(first, 2)
    _record_every_twelve_hours(second, 2)
    assert len(first.recent(limit=10).entries) == 4
    months = [i for i in table.scan()["Items"] if i["pk"] == "MONTHS"]
    assert [m["sk"] for m in months] == ["2025-01"]

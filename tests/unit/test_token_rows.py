"""Parsing token rows and batches: JSON, CSV, the legacy Esploro keys, expiry and scopes; streaming uploads."""

from __future__ import annotations

import csv
import io
import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcid_sync.domain.errors import InvalidInputError, PayloadTooLargeError, Problem
from orcid_sync.domain.identifiers import orcid_check_character
from orcid_sync.domain.tokens.rows import TokenRow, csv_token_rows, parse_token_body, parse_token_row
from orcid_sync.domain.tokens.upload_models import UploadFormat
from orcid_sync.domain.tokens.upload_rows import upload_rows

ORCID = "0000-0002-1825-0097"
ACCESS = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
REFRESH = "f725f747-3a65-49f6-a231-3e8944ce464d"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "orcid": ORCID,
        "access_token": ACCESS,
        "scope": "/activities/update /read-limited",
        "expires_in": 631138518,
    }
    return {k: v for k, v in (base | values).items() if v is not None}


def parsed(raw: object) -> TokenRow:
    result = parse_token_row(raw, 0)
    assert isinstance(result, TokenRow), result
    return result


def problems(raw: object) -> list[Problem]:
    result = parse_token_row(raw, 3)
    assert isinstance(result, list), result
    return result


# --- one row ---------------------------------------------------------------------------------


def test_orcid_token_response_fields() -> None:
    token = parsed(row(refresh_token=REFRESH, orcid=f"https://orcid.org/{ORCID}", token_type="Bearer"))
    assert token.orcid == ORCID
    assert token.access_token.get_secret_value() == ACCESS
    assert token.refresh_token is not None and token.refresh_token.get_secret_value() == REFRESH
    assert token.scopes == {"/activities/update", "/read-limited"}
    assert token.can_push and token.can_pull
    assert token.token_type == "bearer"
    assert token.expiry(NOW) == NOW + timedelta(seconds=631138518)
    # A parsed row never shows its tokens.
    assert ACCESS not in repr(token) and REFRESH not in repr(token) and ACCESS not in str(token.model_dump())


def test_legacy_esploro_keys() -> None:
    token = parsed(
        {
            "orcid": ORCID,
            "access.token": ACCESS,
            "refresh.token": REFRESH,
            "token.type": "bearer",
            "expiry": "2039-05-01T12:00:00Z",
            "scopes": "/activities/update",
        }
    )
    assert token.access_token.get_secret_value() == ACCESS
    assert token.refresh_token is not None
    assert token.scopes == {"/activities/update"}
    assert not token.can_pull
    assert token.expiry(NOW) == datetime(2039, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2039-05-01", datetime(2039, 5, 1, tzinfo=UTC)),
        ("2039-05-01T10:00:00", datetime(2039, 5, 1, 10, tzinfo=UTC)),
        ("2039-05-01T10:00:00+02:00", datetime(2039, 5, 1, 8, tzinfo=UTC)),
        (2187820800, datetime(2039, 5, 1, tzinfo=UTC)),
        ("2187820800", datetime(2039, 5, 1, tzinfo=UTC)),
        (2187820800000, datetime(2039, 5, 1, tzinfo=UTC)),
    ],
)
def test_expires_at_forms(value: object, expected: datetime) -> None:
    assert parsed(row(expires_in=None, expires_at=value)).expiry(NOW) == expected


def test_expires_at_wins_over_expires_in() -> None:
    token = parsed(row(expires_in=60, expires_at="2039-05-01"))
    assert token.expiry(NOW) == datetime(2039, 5, 1, tzinfo=UTC)


def test_no_expiry_is_left_to_the_import_to_reject() -> None:
    assert parsed(row(expires_in=None)).expiry(NOW) is None


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("/activities/update", {"/activities/update"}),
        ("  /read-limited   /activities/update ", {"/read-limited", "/activities/update"}),
        ("/read-limited,/activities/update", {"/read-limited", "/activities/update"}),
        (["/activities/update", "/person/update"], {"/activities/update", "/person/update"}),
        ("openid /activities/update", {"openid", "/activities/update"}),
    ],
)
def test_scope_forms(scope: object, expected: set[str]) -> None:
    assert parsed(row(scope=scope)).scopes == expected


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"orcid": "0000-0002-1825-0098"}, "orcid", "check character should be 7"),
        ({"orcid": None}, "orcid", "Field required"),
        ({"access_token": None}, "access_token", "Field required"),
        ({"access_token": "   "}, "access_token", "Field required"),
        ({"access_token": "two words"}, "access_token", "white space"),
        ({"access_token": 12345}, "access_token", "must be a string"),
        ({"refresh_token": ["x"]}, "refresh_token", "must be a string"),
        ({"scope": None}, "scope", "Field required"),
        ({"scope": " , "}, "scope", "lists no scope"),
        ({"scope": "activities/update"}, "scope", "not an ORCID scope"),
        ({"scope": 7}, "scope", "space-separated string"),
        ({"expires_in": 0}, "expires_in", "greater than or equal to 1"),
        ({"expires_in": "soon"}, "expires_in", "valid integer"),
        ({"expires_in": None, "expires_at": "next year"}, "expires_at", "ISO 8601"),
        ({"expires_in": None, "expiry": True}, "expiry", "not a boolean"),
        ({"token_type": "mac"}, "token_type", "bearer"),
        ({"researcher_id": "has space"}, "researcher_id", "pattern"),
    ],
)
def test_each_invalid_field_is_named(change: dict[str, Any], field: str, reason: str) -> None:
    base = row()
    for key, value in change.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    found = problems(base)
    assert [p.field for p in found] == [field]
    assert reason in found[0].reason
    assert found[0].row == 3


def test_a_row_that_is_not_an_object() -> None:
    assert problems(["orcid", ACCESS]) == [Problem(row=3, field="row", reason="expected an object, got an array")]


def test_unknown_keys_are_ignored_but_extra_csv_cells_are_not() -> None:
    assert parsed(row(name="Josiah Carberry")).orcid == ORCID
    assert problems({**row(), None: ["stray"]})[0].reason == "has more cells than the header row has columns"


def test_reasons_never_quote_a_token_even_in_the_wrong_column() -> None:
    # A shifted row: the token sits where the iD should be, and the scope column holds the refresh token.
    found = problems({"orcid": ACCESS, "access_token": ORCID, "scope": f"{REFRESH} /activities/update"})
    text = json.dumps([p.model_dump() for p in found])
    assert ACCESS not in text and REFRESH not in text
    assert {p.field for p in found} >= {"orcid", "scope"}


# --- request bodies --------------------------------------------------------------------------


def csv_text(rows: list[dict[str, Any]], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_json_body() -> None:
    body = json.dumps([row(), row(orcid="0000-0002-9079-593X")]).encode()
    assert [r["orcid"] for r in parse_token_body(body, "application/json; charset=utf-8")] == [  # type: ignore[index]
        ORCID,
        "0000-0002-9079-593X",
    ]


def test_csv_body_with_bom_blank_lines_and_quoted_cells() -> None:
    text = "\ufeff" + csv_text([row(), row(scope="/activities/update, /read-limited")]) + "\r\n\r\n"
    rows = parse_token_body(text.encode(), "text/csv")
    assert len(rows) == 2
    assert [parsed(r).scopes for r in rows] == [{"/activities/update", "/read-limited"}] * 2


def test_csv_empty_cells_mean_not_given() -> None:
    text = csv_text(
        [row(refresh_token="", researcher_id="")],
        ["orcid", "access_token", "refresh_token", "scope", "expires_in", "researcher_id"],
    )
    [raw] = parse_token_body(text.encode(), "text/csv")
    token = parsed(raw)
    assert token.refresh_token is None and token.researcher_id is None


def test_csv_with_legacy_header() -> None:
    text = (
        "orcid,access.token,refresh.token,token.type,expiry,scopes\n"
        f"{ORCID},{ACCESS},{REFRESH},bearer,2039-05-01,/activities/update\n"
    )
    [raw] = parse_token_body(text.encode(), "text/csv")
    assert parsed(raw).refresh_token is not None


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("orcid,access_token,scope", ["expires_in or expires_at or expiry"]),
        ("orcid,scope,expires_in", ["access_token or access.token"]),
        ("access_token,scopes,expiry", ["orcid"]),
        ("", ["orcid", "access_token or access.token", "scope or scopes", "expires_in or expires_at or expiry"]),
    ],
)
def test_csv_header_must_have_the_required_columns(header: str, missing: list[str]) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        parse_token_body(f"{header}\n1,2,3\n".encode(), "text/csv")
    assert [p.reason for p in excinfo.value.problems] == [f"missing column {name}" for name in missing]
    assert all(p.field == "header" for p in excinfo.value.problems)


def test_csv_header_with_a_duplicate_column() -> None:
    with pytest.raises(InvalidInputError, match="appears twice"):
        parse_token_body(b"orcid,access_token,scope,expires_in,orcid\n", "text/csv")


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b"[{", "application/json", "body"),
        (b'{"orcid": "x"}', "application/json", "body"),
        (b"", "text/csv", "header"),
        (b"\xff\xfe", "text/csv", "body"),
        (b"[]", "application/xml", "header.content-type"),
        (b"[]", "", "header.content-type"),
    ],
)
def test_malformed_bodies(body: bytes, content_type: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        parse_token_body(body, content_type)
    assert excinfo.value.problems[0].field == field


def test_body_over_six_megabytes() -> None:
    with pytest.raises(PayloadTooLargeError):
        parse_token_body(b" " * (6 * 1024 * 1024 + 1), "application/json")


# --- property tests --------------------------------------------------------------------------


@st.composite
def orcids(draw: st.DrawFn) -> str:
    base = draw(st.text(alphabet=string.digits, min_size=15, max_size=15))
    digits = base + orcid_check_character(base)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


tokens = st.uuids().map(str)
scope_sets = st.sets(st.sampled_from(["/read-limited", "/person/update", "/authenticate"])).map(
    lambda extra: sorted({"/activities/update", *extra})
)


@st.composite
def valid_rows(draw: st.DrawFn) -> dict[str, str]:
    values = {
        "orcid": draw(orcids()),
        "access_token": draw(tokens),
        "refresh_token": draw(st.one_of(st.just(""), tokens)),
        "scope": " ".join(draw(scope_sets)),
        "expires_in": str(draw(st.integers(min_value=1, max_value=631138519))),
        "researcher_id": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)),
    }
    return values


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_rows(), min_size=1, max_size=20))
def test_csv_and_json_bodies_parse_to_the_same_rows(rows: list[dict[str, str]]) -> None:
    from_csv = [parsed(r) for r in parse_token_body(csv_text(rows).encode(), "text/csv")]
    from_json = [parsed(r) for r in parse_token_body(json.dumps(rows).encode(), "application/json")]
    assert [r.model_dump() for r in from_csv] == [r.model_dump() for r in from_json]
    assert [r.access_token.get_secret_value() for r in from_csv] == [r["access_token"] for r in rows]
    assert [r.orcid for r in from_csv] == [r["orcid"] for r in rows]
    assert [" ".join(sorted(r.scopes)) for r in from_csv] == [r["scope"] for r in rows]


cells = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40), tokens)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "orcid",
                "access_token",
                "access.token",
                "scope",
                "scopes",
                "expires_in",
                "expires_at",
                "expiry",
                "refresh_token",
                "token_type",
                "researcher_id",
                "other",
            ]
        ),
        cells,
    )
)
def test_any_row_parses_or_is_rejected_without_quoting_its_long_values(raw: dict[str, Any]) -> None:
    result = parse_token_row(raw, 0)
    if isinstance(result, list):
        text = " ".join(p.reason for p in result)
        for value in raw.values():
            if isinstance(value, str) and len(value.strip()) >= 8:
                assert value.strip() not in text


class TrickleReader(io.StringIO):
    """Hands out at most ``step`` characters per read, whatever was asked: every block boundary gets tested."""

    def __init__(self, text: str, step: int) -> None:
        super().__init__(text)
        self.step = step
        self.chars_read = 0

    def read(self, size: int | None = -1) -> str:
        wanted = self.step if size is None or size < 0 else min(size, self.step)
        chunk = super().read(wanted)
        self.chars_read += len(chunk)
        return chunk


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150)
@given(st.lists(json_values, max_size=8), st.integers(min_value=1, max_value=9), st.sampled_from(["", " ", "\n  "]))
def test_streamed_json_array_equals_json_loads(items: list[Any], step: int, space: str) -> None:
    text = space + "[" + space + ("," + space).join(json.dumps(item) for item in items) + space + "]" + space
    assert list(upload_rows(TrickleReader(text, step), UploadFormat.JSON)) == items


@settings(max_examples=100)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=8),
    st.integers(min_value=1, max_value=9),
)
def test_streamed_json_lines_equal_json_loads(items: list[Any], step: int) -> None:
    text = "\n".join(json.dumps(item) for item in items) + "\n"
    assert list(upload_rows(TrickleReader(text, step), UploadFormat.JSON)) == items


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[{"a": 1} {"b": 2}]', "expected , or ]"),
        ('[{"a": 1},', "ends before its closing"),
        ('[{"a": 1}] x', "more text after"),
        ('[{"a": 1}, {"b": }]', "row 1"),
        ('{"a": 1}\n{"b":\n', "line 2"),
    ],
)
def test_malformed_uploads_say_where(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        list(upload_rows(TrickleReader(text, 4), UploadFormat.JSON))


def test_streaming_reads_a_row_at_a_time() -> None:
    # 50,000 rows; the first must come out long before the stream is read to its end.
    one = json.dumps(row()) + ",\n"
    text = "[" + one * 49_999 + json.dumps(row()) + "]"
    reader = TrickleReader(text, 64 * 1024)
    rows = upload_rows(reader, UploadFormat.JSON)
    assert next(rows) == row()
    assert reader.chars_read <= 64 * 1024
    assert sum(1 for _ in rows) == 49_999

    csv_reader = TrickleReader(csv_text([row()] * 50_000), 64 * 1024)
    csv_rows = csv_token_rows(csv_reader)
    next(csv_rows)
    assert csv_reader.chars_read <= 64 * 1024

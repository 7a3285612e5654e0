"""The console's read models: when a daily rule fires next, and how a search query is understood."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orcid_sync.domain.console.dashboard import next_run
from orcid_sync.domain.console.researcher_search import _orcid_in
from orcid_sync.domain.console.settings_form import parse_settings_form, settings_form_values
from orcid_sync.domain.errors import InvalidInputError
from orcid_sync.domain.institution_settings import IntegrationSettings

NOW = datetime(2025, 3, 1, 2, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 2 * * ? *)", datetime(2025, 3, 2, 2, 0, tzinfo=UTC)),  # today's has passed: tomorrow
        ("cron(0 4 * * ? *)", datetime(2025, 3, 1, 4, 0, tzinfo=UTC)),
        ("cron(0 * * * ? *)", datetime(2025, 3, 1, 3, 0, tzinfo=UTC)),  # hourly
        ("cron(45 * * * ? *)", datetime(2025, 3, 1, 2, 45, tzinfo=UTC)),
        ("cron(0 2 ? * MON *)", None),  # weekly: shown as the expression
        ("rate(1 day)", None),
    ],
)
def test_next_run_of_daily_and_hourly_rules(expression: str, expected: datetime | None) -> None:
    assert next_run(expression, after=NOW) == expected


def test_a_query_is_an_orcid_id_only_with_a_valid_check_character() -> None:
    assert _orcid_in("0000-0002-1825-0097") == "0000-0002-1825-0097"
    assert _orcid_in("https://orcid.org/0000-0002-1825-0097") == "0000-0002-1825-0097"
    assert _orcid_in("0000-0002-1825-0098") is None  # a typo: searched as text
    assert _orcid_in("Carberry") is None


def test_the_settings_form_round_trips_and_names_the_field_of_a_problem() -> None:
    settings = IntegrationSettings(send_assets=True, type_overrides={"publication.book": "book"})
    values = settings_form_values(settings, version=3)
    document = parse_settings_form(values)
    assert document.settings_only() == settings and document.version == 3
    with pytest.raises(InvalidInputError) as refused:
        parse_settings_form({**values, "organization.name": "U", "organization.country": "UK"})
    fields = {problem.field for problem in refused.value.problems}
    assert "organization.country" in fields

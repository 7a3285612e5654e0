"""``orcid-sync jobs activate|deactivate remind`` (the README's "Inviting researchers" tells administrators to run it)
flips the RemindRule through the admin API (moto's EventBridge), and ``jobs list --type remind`` is accepted."""

from __future__ import annotations

import os

import boto3
import pytest

from tests.integration.test_cli_jobs import cli_api, run_cli  # noqa: F401 - cli_api: the fixture, used below


@pytest.mark.usefixtures("cli_api")
def test_the_remind_schedule_is_activated_and_deactivated_from_the_cli() -> None:
    rule = os.environ["REMIND_RULE_NAME"]
    events = boto3.client("events")
    activated = run_cli("jobs", "activate", "remind")
    assert activated.exit_code == 0, activated.output
    assert "daily invitation reminder job is active" in activated.output
    assert events.describe_rule(Name=rule)["State"] == "ENABLED"
    deactivated = run_cli("jobs", "deactivate", "remind")
    assert deactivated.exit_code == 0, deactivated.output
    assert events.describe_rule(Name=rule)["State"] == "DISABLED"
    assert run_cli("jobs", "list", "--type", "remind").exit_code == 0

"""Push and pull survive ORCID faults, worker crashes, SQS redeliveries and two workers on one researcher.

The run itself is ``bench.chaos`` (``make chaos`` runs a bigger plan): it starts a local stack of its
own, so it runs in a child process, beside the e2e session's shared stack (one per process). The
figures are printed; the test asserts the invariants, and that every kind of fault really happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Small enough for CI (about a minute on 2 cores). The push makes ~190 requests, ~40 of them writes:
# at these rates the chance that a kind of fault is never drawn is below 0.2% (lost responses: 0.85^40).
CI_PLAN = {
    "--researchers": "6",
    "--assets-per-researcher": "30",
    "--pull-works": "8",
    "--crashes": "2",
    "--duplicates": "2",
    "--error-rate": "0.10",
    "--drop-rate": "0.05",
    "--lost-response-rate": "0.15",
    "--seed": "9",
}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("chaos") / "report.json"
    arguments = [item for pair in CI_PLAN.items() for item in pair]
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", *arguments, "--json-output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # The figures table (not the functions' logs before it), for whoever reads the CI log.
    table = done.stdout.find("chaos: what was injected")
    print(done.stdout[table:] if table >= 0 else done.stdout[-3000:])
    if not output.exists():
        pytest.fail(f"the chaos run did not finish (exit {done.returncode}):\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return report


def test_every_invariant_holds_after_the_faults(chaos: dict[str, Any]) -> None:
    # Given pushes and pulls run under faults, crashes and redeliveries (the chaos fixture)
    # Then every check held: each wanted work on ORCID once, ledger = ORCID, every failure an event, DLQs empty
    assert chaos["violations"] == []


def test_push_lost_nothing_and_wrote_nothing_twice(chaos: dict[str, Any]) -> None:
    checks = chaos["figures"]["push_checks"]
    assert checks["works_wanted"] == 6 * 30
    assert checks == {
        "works_wanted": 6 * 30,
        "duplicates": 0,
        "missing": 0,
        "unwanted_on_orcid": 0,
        "ledger_mismatches": 0,
    }
    assert chaos["figures"]["follow_up_push"]["orcid_writes"] == 0


def test_every_kind_of_fault_was_injected_into_the_push(chaos: dict[str, Any]) -> None:
    # A run in which the faults never fired would prove nothing.
    faults = chaos["figures"]["push_faults"]
    assert faults["faults_injected"]["error"] > 0
    assert faults["faults_injected"]["drop"] > 0
    assert faults["faults_injected"]["lost_response"] > 0
    assert faults["worker_crashes"] == 2
    # Each crash and each duplicate brought a task back to the push logic.
    assert faults["task_redeliveries"] >= faults["worker_crashes"] + faults["duplicate_deliveries_sent"]


def test_two_workers_never_pushed_one_researcher_at_once(chaos: dict[str, Any]) -> None:
    # Given a second push job for the same researchers while the first ran, and one task delivered
    # twice at the same moment (issue 13, section 6)
    overlap = chaos["figures"]["overlap"]
    # Then both meetings happened, and each time the researcher's lease turned the second worker away
    assert {kind: meeting["met"] for kind, meeting in overlap["meetings"].items()} == {
        "concurrent duplicate": "refused",
        "overlapping job": "refused",
    }
    assert overlap["lease_refusals_other_job"] >= 1
    assert overlap["lease_refusals_same_job"] >= 1
    assert overlap["tasks_handed_back"] == overlap["lease_refusals_other_job"] + overlap["lease_refusals_same_job"]
    # And no researcher was ever pushed by two workers at once
    assert overlap["most_workers_on_one_researcher"] == 1
    # And the overlapping job still pushed everyone, once each (the invariants above hold for both jobs)
    assert overlap["overlapping_job"]["researchers_processed"] == 6
    assert chaos["figures"]["overlapping_push_job"]["researchers_failed"] == 0


def test_pull_lost_nothing_and_wrote_nothing_twice(chaos: dict[str, Any]) -> None:
    checks = chaos["figures"]["pull_checks"]
    assert not isinstance(checks, str), checks  # the pull must have run
    assert checks["works_seeded"] == 6 * 8
    assert checks["rows"] == checks["works_seeded"]
    assert (checks["duplicates"], checks["missing"], checks["ours_pulled"]) == (0, 0, 0)
    faults = chaos["figures"]["pull_faults"]
    assert faults["worker_crashes"] == 2
    assert faults["task_redeliveries"] >= faults["worker_crashes"] + faults["duplicate_deliveries_sent"]
    assert chaos["figures"]["dead_letters"] == {"PushDeadLetterQueue": 0, "PullDeadLetterQueue": 0}

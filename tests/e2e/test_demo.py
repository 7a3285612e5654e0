"""`make demo` is one of the README's two commands: it must run to the end on a fresh machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, clean_environment


@pytest.mark.e2e
def test_the_demo_walks_through_every_capability() -> None:
    # Given a terminal with nothing set but PATH, HOME (pyenv's Python 3.13 lives there) and the locale
    environment = clean_environment(Path.home())
    log_file = REPO / ".demo" / "functions.log"
    # When a person types the README's first command
    result = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Then every step said what happened, and nothing failed
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = " ".join(result.stdout.split())
    for expected in (
        "Loaded 3 researchers",
        "lands on our success page",
        "2 stored, 1 rejected",
        "2 unchanged",
        "push job: succeeded",
        "holds 5 works",
        "the push makes 0 ORCID requests",
        "her My ORCID page says: 5 On your ORCID record",
        "Showing it took 0 ORCID requests",
        "pull job: succeeded",
        "2 rows",
        "marked token revoked",
        "Token health report",
        "serves 300 records",
        "Feed harvest: completed_with_errors: 300 records read",
        "The next harvest is incremental: 0 records changed since, 0 written",
        # Invitations (issue 19): a dry run, the campaign's emails in the local mailbox, a click, the rate moving
        "Dry run (orcid-sync invitations send --status not_connected --dry-run): 2 would be invited",
        "Nothing is written or sent: the mailbox holds 0 emails",
        "The local mailbox (orcid-sync-local mail) holds 2 emails",
        "to katherine@example.edu: “Connect your ORCID iD to Example University”",
        "to margarita@example.edu: “Conecte su ORCID iD con Example University”",
        "Connections report (orcid-sync report connections): 2 invited, 0 opened the link, 0 connected (0%)",
        "Connections report now: 2 invited, 1 opened the link, 1 connected (50%)",
        # ORCID inbox permission requests
        "notify-orcid --researchers barbara): 1 permission request sent",
        "The sandbox's /_sandbox/notifications shows it in her inbox",
        "Done.",
    ):
        assert expected in out, f"the demo no longer says {expected!r}"
    assert log_file.stat().st_size > 0
    assert "Traceback" not in log_file.read_text(encoding="utf-8")

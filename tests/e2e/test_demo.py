"""`make demo` is one of the README's two commands: it must run to the end on a fresh machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_demo_walks_through_every_capability(tmp_path: Path) -> None:
    # Given a fresh process (the demo starts its own local stack)
    log_file = tmp_path / "functions.log"
    # When
    result = subprocess.run(
        [sys.executable, "-m", "orcid_sync_local.demo", "--log-file", str(log_file)],
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
        "pull job: succeeded",
        "2 rows",
        "marked token revoked",
        "Token health report",
        "Done.",
    ):
        assert expected in out, f"the demo no longer says {expected!r}"
    assert log_file.stat().st_size > 0

"""``orcid-sync-local up --seed-demo`` as ``make run`` starts it, and ``orcid-sync --local`` beside it, no keys copied.

The stack runs as a separate process in a directory of its own, with a clean environment (PATH,
HOME, locale): what it prints to try next must work there as printed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def test_up_writes_its_state_seeds_a_working_link_and_the_printed_commands_work(tmp_path: Path) -> None:
    # Given `orcid-sync-local up --seed-demo` started in an empty directory
    environment = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    log = tmp_path / "stack.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(BIN / "orcid-sync-local"), "up", "--seed-demo"],
            cwd=tmp_path,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
            reader.start()
            reader.join(120)
            assert lines and lines[0], log.read_text()
            info = json.loads(lines[0])

            # Then its connection info, with its pid, is in .orcid-sync/local.json, readable by this user only
            state_file = tmp_path / ".orcid-sync" / "local.json"
            assert json.loads(state_file.read_text()) == {**info, "pid": process.pid}
            assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

            # And the local OAI-PMH provider it publishes serves the fixture records (three pages of 100)
            stats_url = info["oai_provider_url"].removesuffix("/oai/request") + "/_provider/stats"
            assert requests.get(stats_url, timeout=30).json()["records"] == 300
            page = requests.get(
                info["oai_provider_url"], params={"verb": "ListRecords", "metadataPrefix": "oai_dc"}, timeout=30
            )
            assert page.text.count("<record>") == 100 and "<resumptionToken>" in page.text

            # And the connect page it printed works (the demo researcher's signed link)
            told = _wait_for(log, "Try, in another terminal")
            [connect_url] = [line.split(": ", 1)[1] for line in told.splitlines() if "connect page of" in line]
            page = requests.get(connect_url, timeout=30)
            assert page.status_code == 200 and "Ada" in page.text

            # And each command it suggests runs as printed, from that directory
            suggested = [
                line.strip() for line in told.split("Try, in another terminal in this directory:")[1].splitlines()
            ]
            suggested = [line for line in suggested if line]
            assert len(suggested) == 3 and all(line.startswith("orcid-sync ") for line in suggested), suggested
            for command in suggested:
                done = subprocess.run(
                    shlex.split(command), cwd=tmp_path, env=environment, capture_output=True, text=True, check=False
                )
                assert done.returncode == 0, f"{command}: {done.stderr}"

            # And the CLI finds the stack by --local, or by its URL, with no AWS credentials anywhere
            shown = _cli(["researchers", "show", "ada", "--local", "-o", "json"], tmp_path, environment)
            assert (shown["given_names"], shown["orcid_status"]) == ("Ada", "none")
            assert _cli(["jobs", "list", "-o", "json"], tmp_path, environment | {"ORCID_SYNC_API_URL": info["api_url"]})

            # When it is stopped with Ctrl-C
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    # Then its state file is gone, and --local says there is no stack
    assert not state_file.exists()
    gone = subprocess.run(
        [str(BIN / "orcid-sync"), "jobs", "list", "--local"],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert gone.returncode == 4 and "orcid-sync-local up" in gone.stderr


def _cli(args: list[str], cwd: Path, environment: dict[str, str]) -> object:
    done = subprocess.run(
        [str(BIN / "orcid-sync"), *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _wait_for(log: Path, marker: str, timeout: float = 60) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if marker in text:
            time.sleep(0.2)  # the rest of the block
            return text
        time.sleep(0.2)
    raise AssertionError(f"{marker!r} never printed:\n{log.read_text()[-3000:]}")


def test_the_state_file_path_is_an_option(tmp_path: Path) -> None:
    help_text = subprocess.run(
        [str(BIN / "orcid-sync-local"), "up", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    ).stdout
    assert "--state-file" in help_text and ".orcid-sync/local.json" in help_text

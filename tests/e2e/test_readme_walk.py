"""The README's "Operating it" section, typed as a person would, against a stack started as it says.

Every ``orcid-sync`` line of the section's ``sh`` blocks runs, in order, in a directory holding a
copy of ``examples/``, against ``orcid-sync-local up`` started there in a clean environment, with
``ORCID_SYNC_API_URL`` exported as the README says. ``JOB_ID`` is the id the command before printed;
the connect link is opened in Chromium and the researcher signs up and authorises at the local
ORCID sandbox, as the prose between the blocks tells a person to. The walk fails on any non-zero
exit, any traceback, any 5xx, and any function error in the stack's log. When the README changes,
the walk changes with it.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import REPO, CliResult, RunningStack, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

README = REPO / "README.md"
JOB_ID = re.compile(r"\b(?:push|pull|upload)-\d{8}T\d{6}Z-[0-9a-f]{8}\b")
URL = re.compile(r"https?://\S+")
SERVER_ERROR = re.compile(r"\bHTTP 5\d\d\b|Internal Server Error")


def readme_commands(readme: Path = README) -> list[str]:
    """The ``orcid-sync`` command lines of the README's "Operating it" section, in order."""
    text = readme.read_text(encoding="utf-8")
    start = text.index("\n## Operating it\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command.startswith("orcid-sync "):
                commands.append(command)
    return commands


def connect_in_the_browser(page: Page, stack: RunningStack, link: str) -> None:
    """What the README's prose asks: open the link, connect, register at the sandbox, authorise."""
    response = page.goto(link)
    assert response is not None and response.status == 200, link
    page.get_by_role("link", name="Connect your ORCID iD", exact=True).click()
    page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
    page.get_by_label("Create a new test researcher").check()
    page.get_by_label("Given names", exact=True).fill("Ada")
    page.get_by_label("Family names", exact=True).fill("Lovelace")
    page.get_by_label("Email", exact=True).fill("ada@example.edu")
    page.get_by_role("button", name="Authorize access").click()
    page.wait_for_url(f"{stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your ORCID iD is connected")


def assert_clean(result: CliResult) -> None:
    result.check()
    assert not SERVER_ERROR.search(result.stdout + result.stderr), f"`{result.command}` met a 5xx:\n{result.stderr}"


def test_the_readme_commands_work_on_the_stack_a_person_starts(tmp_path: Path, page: Page) -> None:
    # Given the README's commands, the example files, and the stack started as the README says
    commands = readme_commands()
    assert len(commands) >= 20, commands
    workdir = tmp_path / "project"
    shutil.copytree(REPO / "examples", workdir / "examples")
    # As `make run` starts it (--seed-demo), on free ports: the tests run in parallel
    with running_stack(workdir, ["--seed-demo"]) as stack:
        job_id: str | None = None
        # When each command is typed in turn
        for typed in commands:
            if "JOB_ID" in typed:
                assert job_id, f"`{typed}` needs the job id a command before it printed"
            command = typed.replace("JOB_ID", job_id or "JOB_ID")
            result = stack.cli(command)
            assert_clean(result)
            printed_job = JOB_ID.search(result.stdout)
            if printed_job and command.split()[1:3] == ["jobs", "run"]:
                job_id = printed_job.group(0)
            if command.split()[1] == "connect-link":
                links = URL.findall(result.stdout)
                assert links, result.stdout
                connect_in_the_browser(page, stack, links[0])

        # Then the stack never failed a function, and what the README promises happened
        assert stack.function_errors() == [], "\n".join(stack.function_errors())
        outputs = {result.command: result for result in stack.commands}
        rejected = workdir / "examples" / "tokens.csv.rejected.jsonl"
        assert rejected.is_file() and "0000-0002-1825-0098" in rejected.read_text(encoding="utf-8")
        pulled = workdir / "orcid-works.csv"
        assert pulled.is_file() and next(csv.reader(pulled.open(encoding="utf-8")))
        ada = stack.signed("GET", "/researchers/ada").json()
        assert ada["orcid_status"] == "disconnected"
        sandbox_ada = stack.sandbox("GET", f"/records/{_connected_orcid(stack)}")
        titles = sorted(work["work"]["title"]["title"]["value"] for work in sandbox_ada["works"])
        assert titles == ["Notes on the engine, part 1", "Notes on the engine, part 2"]
        assert "grace" in outputs["orcid-sync report tokens"].stdout

        # And no token the walk handled shows anywhere a person or a log reader sees
        tokens = set(stack.sandbox("GET", "/issued-tokens")["tokens"])
        assert tokens, "the sandbox issued no token: the walk did not connect anyone"
        with (REPO / "examples" / "tokens.csv").open(encoding="utf-8") as legacy:
            tokens |= {
                value
                for row in csv.DictReader(legacy)
                for value in (row["access_token"], row["refresh_token"])
                if value
            }
        seen = {
            "the stack's log": stack.log(),
            **{f"`{result.command}`": result.stdout + result.stderr for result in stack.commands},
            **{
                str(path.relative_to(workdir)): path.read_text(encoding="utf-8")
                for path in workdir.rglob("*.csv*")
                if path.parent.name != "examples" or path.name.endswith(".jsonl")
            },
        }
        leaks = [f"a token in {place}" for place, text in seen.items() for token in tokens if token in text]
        assert leaks == []
    assert stack.process.returncode == 0, stack.log()[-3000:]


def _connected_orcid(stack: RunningStack) -> str:
    """The iD Ada registered at the sandbox in the browser."""
    records = stack.sandbox("GET", "/records")["records"]
    return str(next(record["orcid"] for record in records if record["email"] == "ada@example.edu"))


def test_the_walk_reads_every_command_of_the_section() -> None:
    # The parser itself: every command of the section, none from elsewhere, comments dropped
    commands = readme_commands()
    assert commands[0] == "orcid-sync researchers load examples/researchers.csv"
    assert "orcid-sync tokens import examples/tokens.csv" in commands
    assert all("#" not in command for command in commands)

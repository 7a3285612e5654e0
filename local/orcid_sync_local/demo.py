"""``make demo``: the whole system on one machine, walked through in plain words.

Starts the local stack (moto from template.yaml, the local ORCID sandbox, the local API), then acts
as the institution (loads researchers and assets, imports legacy tokens, configures the
integration), as a researcher (connects their ORCID iD in the hosted flow), and as an
administrator (runs the push and pull jobs, reads their reports, harvests the repository's OAI-PMH
feed, invites researchers by email and through their ORCID inbox, follows the connection rate).
Every call goes over HTTP to the same API a deployed stack serves, SigV4-signed like the CLI signs it.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import requests
from rich.console import Console
from rich.table import Table

from orcid_sync_cli.api import ApiClient
from orcid_sync_local.console_users import seed_console_users, sign_in_lines
from orcid_sync_local.demo_data import OTHER_SOURCE, RESEARCHERS, demo_assets
from orcid_sync_local.demo_invitations import InvitationWalk
from orcid_sync_local.demo_reading import (
    absolute_url,
    batch_counts,
    connect_in_sandbox,
    cookie_value,
    unescaped,
    work_title,
)
from orcid_sync_local.stack import LocalStack

# The narrative goes to the real stdout; the functions' Powertools logs (also stdout) go to a file.
console = Console(file=sys.stdout, highlight=False)


class Demo:
    """One walk through the system; each step prints what it does and what happened."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = ApiClient(stack.api_url, session=stack.session)
        self.http = requests.Session()

    def say(self, text: str) -> None:
        console.print(f"  {text}")

    def step(self, title: str, action: Callable[[], None]) -> None:
        console.rule(f"[bold]{title}")
        action()

    # --- the institution feeds researchers and assets --------------------------------------------

    def load_data(self) -> None:
        result = self.api.call("POST", "/researchers", json_body=RESEARCHERS)
        self.say(f"Loaded {len(RESEARCHERS)} researchers: {batch_counts(result)}")
        assets = demo_assets()
        result = self.api.call("POST", "/assets", json_body=assets)
        self.say(f"Loaded {len(assets)} research assets (one still in review): {batch_counts(result)}")
        bad = [
            {
                "id": "bad-1",
                "researchers": ["ada"],
                "type": "publication.poem",
                "status": "approved",
                "visible": True,
                "title": "x",
                "doi": "not-a-doi",
            }
        ]
        result = self.api.call("POST", "/assets", json_body=bad)
        for row in result.get("rows", result.get("results", [])):
            for problem in row.get("problems", []):
                self.say(f"A bad row is refused and nothing else changes: {problem['field']}: {problem['reason']}")

    # --- a researcher connects through the hosted page ------------------------------------------

    def connect(self) -> None:
        link = self.api.call("POST", "/researchers/ada/connect-link", json_body={})
        self.say(f"Ada's personal connect link (valid until {link['expires_at'][:10]}):\n  {link['url']}")
        self.say("She opens it and clicks “Connect your ORCID iD”; ORCID asks her to authorise the institution.")
        orcid = connect_in_sandbox(
            self.http, link["url"], given_names="Ada", family_names="Lovelace", email="ada@example.edu"
        )
        self.say(f"She clicks “Authorize access” and lands on our success page: [green]{orcid}[/green]")
        researcher = self.api.call("GET", "/researchers/ada")
        self.say(f"Administrators now see: status={researcher['orcid_status']}, scopes={researcher['orcid_scopes']}")

    # --- a legacy system's tokens are imported ---------------------------------------------------

    def import_tokens(self) -> None:
        rows = []
        for rid in ("alan", "grace"):
            person = next(r for r in RESEARCHERS if r["id"] == rid)
            grant = self.sandbox(
                "POST",
                "/_sandbox/researchers",
                json={
                    "given_names": person["given_names"],
                    "family_name": person["family_name"],
                    "grant": {
                        "client_id": self.stack.client_id,
                        "scope": "/read-limited /activities/update /person/update",
                    },
                },
            )
            self.api.call("PUT", f"/researchers/{rid}", json_body={**person, "orcid": grant["orcid"]})
            rows.append(
                {
                    "orcid": grant["orcid"],
                    "access.token": grant["access_token"],
                    "refresh.token": grant["refresh_token"],
                    "token.type": "bearer",
                    "scopes": grant["scope"],
                    # The legacy export gives an absolute expiry; ORCID gave expires_in seconds.
                    "expiry": (datetime.now(UTC) + timedelta(seconds=grant["expires_in"])).isoformat(),
                }
            )
        rows.append(
            {"orcid": "0000-0002-1825-0098", "access_token": "x" * 36, "scope": "/activities/update", "expires_in": 600}
        )
        result = self.api.call("POST", "/tokens", json_body=rows)
        self.say(f"Imported a legacy token batch of {len(rows)} rows (Esploro's dotted keys): {batch_counts(result)}")
        for row in result["rows"]:
            for problem in row.get("problems", []):
                self.say(f"  row {row['row']} {row['outcome']}: {problem['field']}: {problem['reason']}")
        again = self.api.call("POST", "/tokens", json_body=rows[:2])
        self.say(f"Sending the same rows again changes nothing: {batch_counts(again)}")

    # --- the administrator configures and runs the push -----------------------------------------

    def configure(self) -> None:
        current = self.api.call("GET", "/settings")
        settings = {
            **current,
            "institution_name": "Example University",
            "send_assets": True,
            "researcher_url": {"send": True},
            "send_affiliation": True,
            "organization": {
                "name": "Example University",
                "city": "Cambridge",
                "region": "MA",
                "country": "US",
                "identifier_type": "ROR",
                "identifier": "https://ror.org/042nb2s44",
            },
        }
        self.api.call("PUT", "/settings", json_body=settings)
        self.say(
            "Integration settings: send approved, visible assets of every type; add a profile link and "
            "the employment affiliation (ROR https://ror.org/042nb2s44)."
        )

    def run_job(self, job_type: str, **options: Any) -> dict[str, Any]:
        return self.wait(self.api.call("POST", "/jobs", json_body={"type": job_type, **options}))

    def wait(self, job: dict[str, Any]) -> dict[str, Any]:
        """The run once it has ended (3 minutes at most)."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = self.api.call("GET", f"/jobs/{job['job_id']}")
            if job["state"] != "running":
                return dict(job)
            time.sleep(0.5)
        raise click.ClickException(f"the {job['type']} job {job['job_id']} did not finish in 3 minutes")

    def push(self) -> None:
        job = self.run_job("push")
        self.report(job)
        grace = self.api.call("GET", "/researchers/grace")
        record = self.sandbox("GET", f"/_sandbox/records/{grace['orcid']}")
        self.say(f"Grace's ORCID record on the sandbox now holds {len(record.get('works', []))} works:")
        for work in record["works"]:
            self.say(f"  put-code {work['put_code']}: {work_title(work['work'])} ({work['work']['type']})")
        for url in record["researcher_urls"]:
            self.say(f"  profile link: “{url['url_name']}” → {url['url']}")
        for item in record["employments"]:
            employment = item["employment"]
            self.say(f"  employment: {employment.get('role-title')}, {employment['organization']['name']}")
        again = self.run_job("push")
        self.say(
            f"Next day, nothing changed: the push makes {again['counts'].get('orcid_requests', 0)} ORCID requests."
        )

    # --- a researcher sees what is sent on "My ORCID" ---------------------------------------------

    def my_orcid(self) -> None:
        grace = self.api.call("GET", "/researchers/grace")
        me_url = f"{self.stack.api_url}/me"
        self.say(f"Every researcher's own page is {me_url}: they sign in with ORCID (scope openid) and see it.")
        # The browser's part, cookies by hand (they are Secure; requests keeps those for https only).
        start = self.http.get(f"{me_url}/signin", allow_redirects=False, timeout=30)
        binding = cookie_value(start, "orcid_sync_sign_in")
        authorize = self.http.get(start.headers["Location"], timeout=30)
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', authorize.text))
        form.update({"mode": "signin", "signin_id": grace["orcid"], "action": "authorize"})
        decide = re.search(r'<form method="post" action="([^"]+)"', authorize.text)
        if decide is None:
            raise click.ClickException("the ORCID sandbox did not show its sign-in page")
        back = self.http.post(
            absolute_url(decide.group(1), authorize.url), data=unescaped(form), allow_redirects=False, timeout=30
        )
        signed_in = self.http.get(
            back.headers["Location"],
            headers={"Cookie": f"orcid_sync_sign_in={binding}"},
            allow_redirects=False,
            timeout=30,
        )
        session = cookie_value(signed_in, "orcid_sync_me")
        if signed_in.status_code != 303 or not session:
            raise click.ClickException(f"the sign-in with ORCID did not open a session ({signed_in.status_code})")
        self.sandbox("POST", "/_sandbox/stats/reset")
        page = self.http.get(me_url, headers={"Cookie": f"orcid_sync_me={session}"}, timeout=30)
        asked = self.sandbox("GET", "/_sandbox/stats")["total"]
        counts = [
            f"{count} {html.unescape(words)}"
            for count, words in re.findall(r"<li><strong>(\d+)</strong> ([^<]+)</li>", page.text)
        ]
        self.say(f"Grace signs in with ORCID at {me_url}; her My ORCID page says: {' · '.join(counts)}.")
        self.say(
            "Each output shows its state and why, with “Don't send this one” (the next push removes it) and, "
            f"for a work she deleted on ORCID, “Send it again”. Showing it took {asked} ORCID requests."
        )

    # --- the repository's OAI-PMH feed ------------------------------------------------------------

    def feed(self) -> None:
        provider = self.stack.oai_provider_url
        # The local provider, not ours, serves records modelled on DSpace, EPrints, Esploro and DataCite output;
        # some name the demo researchers with their ORCID iDs (as DataCite's nameIdentifier does).
        orcids = {rid: self.api.call("GET", f"/researchers/{rid}").get("orcid") for rid in ("grace", "alan")}
        self.stack.oai_provider.load_fixtures(300, orcids={rid: orcid for rid, orcid in orcids.items() if orcid})
        self.say(f"The repository's OAI-PMH endpoint {provider} serves 300 records.")
        self.api.call("POST", "/feeds", json_body={"feed_id": "repository", "base_url": provider, "profile": "dspace"})
        job = self.api.call("POST", "/feeds/repository/run", json_body={"full": False})
        job = self.wait(job)
        counts, report = job["counts"], job.get("report") or {}
        self.say(
            f"Feed harvest: {job['state']}: {counts.get('records_harvested', 0)} records read in "
            f"{report.get('pages', '?')} pages ({report.get('metadata_prefix')}), "
            f"{counts.get('assets_created', 0)} assets created for the researchers matched by iD, "
            f"{counts.get('records_refused', 0)} records refused (named in the job's events), "
            f"{counts.get('records_unmatched', 0)} with no researcher of ours."
        )
        again = self.wait(self.api.call("POST", "/feeds/repository/run", json_body={"full": False}))
        self.say(
            f"The next harvest is incremental: {again['counts'].get('records_harvested', 0)} records changed since, "
            "0 written. The next daily push sends the new assets to ORCID."
        )

    def pull(self) -> None:
        alan = self.api.call("GET", "/researchers/alan")
        self.sandbox(
            "POST",
            "/_sandbox/clients",
            json={
                "client_id": OTHER_SOURCE,
                "client_secret": "another-member",
                "name": "Another Member (e.g. Crossref)",
                "redirect_uris": ["https://another-member.example.org/callback"],
            },
        )
        for n, (title, doi) in enumerate(
            [
                ("On computable numbers, with an application", "10.1112/plms/s2-42.1.230"),
                ('Computing machinery and "intelligence"', "10.1093/mind/lix.236.433"),
            ]
        ):
            self.sandbox(
                "POST",
                f"/_sandbox/records/{alan['orcid']}/works",
                json={
                    "work": {
                        "title": {"title": {"value": title}},
                        "type": "journal-article",
                        "publication-date": {"year": {"value": str(1936 + 14 * n)}},
                        "external-ids": {
                            "external-id": [
                                {
                                    "external-id-type": "doi",
                                    "external-id-value": doi,
                                    "external-id-relationship": "self",
                                }
                            ]
                        },
                    },
                    "source_client_id": None if n else OTHER_SOURCE,
                },
            )
        self.say(
            "Alan has two works on ORCID that the repository does not know (one added by him, one by another member)."
        )
        job = self.run_job("pull")
        self.report(job)
        link = self.api.call("GET", f"/jobs/{job['job_id']}/csv")
        text = self.http.get(link["url"], timeout=30).content.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        self.say(f"The CSV for the repository's import ({link['rows']} rows, {job.get('csv_uri')}) starts:")
        for row in rows[:4]:
            self.say("  " + ",".join(row[:8]))

    def revoke(self) -> None:
        ada = self.api.call("GET", "/researchers/ada")
        self.sandbox("POST", f"/_sandbox/records/{ada['orcid']}/revoke", json={})
        self.say(
            "Ada revokes the institution's access in her ORCID account; the repository then edits one of her works."
        )
        asset = self.api.call("GET", "/assets/ada-1")
        asset = {k: v for k, v in asset.items() if k != "updated_at"}
        self.api.call("PUT", "/assets/ada-1", json_body={**asset, "title": "Notes on the engine, part 1 (revised)"})
        job = self.run_job("push")
        self.report(job)
        ada = self.api.call("GET", "/researchers/ada")
        self.say(f"Ada's ORCID status is now [bold]{ada['orcid_status']}[/bold]; a fresh connect link brings her back.")

    def report(self, job: dict[str, Any]) -> None:
        counts = {k: v for k, v in job["counts"].items() if v}
        table = Table(title=f"{job['type']} job: {job['state']}", caption=job["job_id"], show_header=False)
        for key, value in counts.items():
            table.add_row(key.replace("_", " "), str(value))
        console.print(table)
        events = self.api.call("GET", f"/jobs/{job['job_id']}/events", params={"limit": 5})
        for event in events.get("items", []):
            self.say(f"event: {event.get('researcher_id') or '-'}: {event['action']}: {event['message']}")

    def history(self) -> None:
        jobs = self.api.call("GET", "/jobs", params={"limit": 10})
        table = Table(title="Job history (orcid-sync jobs list)")
        for column in ("job", "type", "trigger", "state", "researchers", "works created"):
            table.add_column(column, overflow="fold")
        for job in jobs["items"]:
            table.add_row(
                job["job_id"],
                job["type"],
                job["trigger"],
                job["state"],
                str(job["counts"]["researchers_processed"]),
                str(job["counts"]["works_created"]),
            )
        console.print(table)
        report = self.api.call("GET", "/reports/tokens")
        rows = report.get("items", report.get("rows", []))
        self.say(f"Token health report (orcid-sync report tokens): {len(rows)} researcher(s) need attention")
        for row in rows:
            self.say(f"  {row['researcher_id']} ({row['orcid']}): {', '.join(row['problems'])}")

    def sandbox(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.stack.orcid_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


@click.command()
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".demo/functions.log"),
    show_default=True,
    help="Where the functions' own (JSON) logs go, so the walk-through stays readable.",
)
def demo(log_file: Path) -> None:
    """Run the whole system locally and walk through it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with log_file.open("w", encoding="utf-8") as logs, contextlib.redirect_stdout(logs):
        _walk_through()
    console.print(f"  The functions' logs are in {log_file}.")


def _walk_through() -> None:
    console.print("[bold]orcid-sync demo[/bold]: moto + the local ORCID sandbox + the local API, all on this machine.")
    with LocalStack() as stack:
        console.print(f"  API {stack.api_url} · ORCID sandbox {stack.orcid_url} · AWS (moto) {stack.aws_endpoint_url}")
        walk = Demo(stack)
        walk.step("1. The institution loads researchers and research assets", walk.load_data)
        # Configured before anyone opens a page: the pages (and the invitation emails) read the settings at most
        # once a minute, and on this one machine every function shares that cache.
        walk.step("2. The administrator configures the integration", walk.configure)
        walk.step("3. A researcher connects her ORCID iD", walk.connect)
        walk.step("4. A legacy system's ORCID tokens are imported", walk.import_tokens)
        walk.step("5. The daily push runs", walk.push)
        walk.step("6. A researcher sees what is sent on “My ORCID”", walk.my_orcid)
        walk.step("7. The daily pull runs", walk.pull)
        walk.step("8. A researcher revokes access on ORCID", walk.revoke)
        walk.step("9. Job reports", walk.history)
        walk.step("10. The repository feeds orcid-sync over OAI-PMH", walk.feed)
        invitations = InvitationWalk(walk)
        walk.step("11. Researchers are invited by email, and one connects", invitations.email_campaign)
        walk.step("12. A permission request in a researcher's ORCID inbox", invitations.orcid_inbox)
        # The admin console: the seeded sign-ins (make run seeds the same ones and keeps the stack up).
        people = seed_console_users(stack)
        console.print("[bold]The admin console[/bold] (make run keeps it up, with these sign-ins):")
        for line in sign_in_lines(stack.console_url, people):
            console.print(line, markup=False, highlight=False)
    console.print("[bold green]Done.[/bold green] Run `make run` to keep the stack up and try it in a browser.")


if __name__ == "__main__":
    sys.exit(demo())

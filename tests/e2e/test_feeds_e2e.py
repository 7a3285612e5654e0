"""The repository feeds the stack: a real OAI-PMH provider harvested through the CLI, then pushed to ORCID.

The stack is started as the README says (``orcid-sync-local up --seed-demo``, in a clean environment; see
``harness.py``): it runs pyoai's OAI-PMH server with 300 fixture records modelled on DSpace, EPrints, Esploro and
DataCite output, and publishes its base URL as ``oai_provider_url``. Everything here is what a person does: the
``orcid-sync`` commands of the README's "Feeding orcid-sync from your repository", the provider's own admin
endpoints (``/_provider``) to change the repository, and the local ORCID sandbox's inspection endpoints to see what
reached ORCID. Nothing imports the product.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.harness import CliResult, RunningStack, running_stack

pytestmark = [pytest.mark.e2e]

DEMO = {
    "ada": ("Ada", "Lovelace", "0000-0002-9079-593X"),
    "alan": ("Alan", "Turing", "0000-0001-5109-3700"),
    "grace": ("Grace", "Hopper", "0000-0002-1825-0097"),
}
"""The demo researchers and the iDs the provider's fixture records give them as creators."""
SCOPE = "/read-limited /activities/update /person/update"


class Provider:
    """The repository's side: the local OAI-PMH provider's admin endpoints, as its operators would use them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = base_url.removesuffix("/oai/request") + "/_provider"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.admin}{path}", json=body, timeout=60)
        assert response.ok, f"{method} /_provider{path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None


def _json(result: CliResult) -> Any:
    return json.loads(result.check().stdout)


def _connect_demo_researchers(stack: RunningStack, workdir: Path) -> None:
    """Ada, Alan and Grace on ORCID with their iDs, loaded with them, and the tokens a legacy system held imported."""
    researchers, tokens = workdir / "researchers.csv", workdir / "tokens.csv"
    with (
        researchers.open("w", newline="", encoding="utf-8") as people,
        tokens.open("w", newline="", encoding="utf-8") as held,
    ):
        people_csv = csv.writer(people)
        people_csv.writerow(["id", "given_names", "family_name", "email", "orcid"])
        tokens_csv = csv.writer(held)
        tokens_csv.writerow(["orcid", "access_token", "refresh_token", "scope", "expires_in"])
        for rid, (given, family, orcid) in DEMO.items():
            email = f"{rid}@example.edu"
            grant = stack.sandbox(
                "POST",
                "/researchers",
                {
                    "given_names": given,
                    "family_name": family,
                    "email": email,
                    "orcid": orcid,
                    "grant": {"client_id": stack.client_id, "scope": SCOPE},
                },
            )
            assert grant["orcid"] == orcid
            people_csv.writerow([rid, given, family, email, orcid])
            tokens_csv.writerow([orcid, grant["access_token"], grant["refresh_token"], grant["scope"], 631138518])
    stack.cli("orcid-sync researchers load researchers.csv").check()
    imported = stack.cli("orcid-sync tokens import tokens.csv -o json")
    assert _json(imported)["rejected"] == 0, imported.stdout
    stack.cli("orcid-sync settings set send_assets true --yes").check()


def _titles_on_orcid(stack: RunningStack, orcid: str) -> set[str]:
    record = stack.sandbox("GET", f"/records/{orcid}")
    return {
        work["work"]["title"]["title"]["value"]
        for work in record["works"]
        if (work["work"]["source"]["source-client-id"] or {}).get("path") == stack.client_id
    }


def _asset(stack: RunningStack, asset_id: str) -> dict[str, Any] | None:
    response = stack.signed("GET", f"/assets/{asset_id}")  # an asset id is path-safe: [A-Za-z0-9._:@~-]
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def _run_feed(stack: RunningStack) -> dict[str, Any]:
    job: dict[str, Any] = _json(stack.cli("orcid-sync feeds run dspace-main --wait --interval 1 -o json"))
    assert job["type"] == "feed" and job["state"] in ("succeeded", "completed_with_errors"), job
    return job


def test_a_dspace_feed_is_harvested_incrementally_and_pushed_to_orcid(tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    with running_stack(workdir, ["--seed-demo"]) as stack:
        provider = Provider(stack.info["oai_provider_url"])
        assert provider.call("GET", "/stats")["records"] == 300
        _connect_demo_researchers(stack, workdir)

        # feeds test: the endpoint described and its first records mapped, nothing stored
        tested = stack.cli(f"orcid-sync feeds test {provider.base_url} --profile dspace --limit 100").check()
        assert "persistent" in tested.stdout and "oai_datacite" in tested.stdout
        assert "nothing was imported" in tested.stdout and "import" in tested.stdout
        report = _json(stack.cli(f"orcid-sync feeds test {provider.base_url} --profile dspace --limit 100 -o json"))
        assert report["chosen_prefix"] == "oai_datacite" and report["deleted_record"] == "persistent"
        importable = [r for r in report["records"] if r["asset"] is not None]
        assert importable and all(set(r["matched_researchers"]) <= set(DEMO) for r in importable)
        adas = [r for r in importable if r["matched_researchers"] == ["ada"]]
        assert len(adas) >= 2, importable
        assert all(_asset(stack, r["asset"]["id"]) is None for r in importable)
        # Two of the demo researchers' items are flawed in the repository: a DOI that is no DOI, a type no profile has
        flawed = {
            p["field"]: r["oai_identifier"] for r in report["records"] for p in r["problems"] if r["asset"] is None
        }
        assert set(flawed) == {"doi", "type"}, report["records"]
        assert "refused" in tested.stdout and flawed["doi"] in tested.stdout
        assert _json(stack.cli("orcid-sync feeds list -o json")) == {"feeds": []}

        # feeds add (the DSpace profile), then the first harvest, followed to its end
        stack.cli(f"orcid-sync feeds add dspace-main --url {provider.base_url} --profile dspace").check()
        first = _run_feed(stack)
        counts = first["counts"]
        assert counts["records_harvested"] == 300
        assert counts["records_refused"] == 2 and first["state"] == "completed_with_errors"
        assert counts["assets_created"] >= len(importable)
        assert first["report"]["metadata_prefix"] == "oai_datacite" and first["report"]["pages"] >= 3
        # The demo researchers' items are assets now, matched by iD, approved and visible
        for record in adas:
            asset = _asset(stack, record["asset"]["id"])
            assert asset is not None and asset["researchers"] == ["ada"], record
            assert asset["status"] == "approved" and asset["visible"] is True
        outputs = _json(stack.cli("orcid-sync researchers outputs alan -o json"))
        assert outputs["outputs"], "no harvested asset of Alan's"
        # The flawed records are events naming the OAI identifier and the field, not a failed harvest
        events = _json(stack.cli(f"orcid-sync jobs events {first['job_id']} -o json"))["items"]
        refused = {e["asset_id"]: e for e in events if e["action"] == "refused record"}
        assert len(refused) == 2, events
        for field, oai_identifier in flawed.items():
            [event] = [e for e in refused.values() if e["message"].startswith(f"record {oai_identifier}: {field}:")]
            assert event["level"] == "error"
        assert "interpretive_dance" in "".join(e["message"] for e in refused.values())
        shown = stack.cli(f"orcid-sync jobs show {first['job_id']}").check()
        assert "everything (the feed's first harvest)" in shown.stdout and "Records harvested" in shown.stdout

        # The push takes the harvested assets to the researchers' ORCID records
        push = _json(stack.cli("orcid-sync jobs run push --wait --interval 1 -o json"))
        assert push["state"] == "succeeded", push
        on_orcid = _titles_on_orcid(stack, DEMO["ada"][2])
        assert {r["asset"]["title"] for r in adas} <= on_orcid

        # The repository changes one of Ada's items and withdraws another; the next harvest takes only those
        changed, withdrawn = adas[0], adas[1]
        provider.call("PATCH", f"/records/{changed['oai_identifier']}", {"title": "Notes on the engine, revised"})
        provider.call("DELETE", f"/records/{withdrawn['oai_identifier']}")
        feed = _json(stack.cli("orcid-sync feeds show dspace-main -o json"))
        assert feed["last_job_id"] == first["job_id"] and feed["last_harvest_from"]
        second = _run_feed(stack)
        assert second["state"] == "succeeded", second
        assert second["report"]["from"] == feed["last_harvest_from"]
        assert second["counts"]["records_harvested"] == 2
        assert (second["counts"]["assets_updated"], second["counts"]["assets_withdrawn"]) == (1, 1)
        revised = _asset(stack, changed["asset"]["id"])
        assert revised is not None and revised["title"] == "Notes on the engine, revised"
        assert _asset(stack, withdrawn["asset"]["id"]) is None

        # The next push updates the one work and deletes the withdrawn one from ORCID
        again = _json(stack.cli("orcid-sync jobs run push --wait --interval 1 -o json"))
        assert again["state"] == "succeeded", again
        assert again["counts"]["works_updated"] >= 1 and again["counts"]["works_deleted"] >= 1
        on_orcid = _titles_on_orcid(stack, DEMO["ada"][2])
        assert "Notes on the engine, revised" in on_orcid and changed["asset"]["title"] not in on_orcid
        assert withdrawn["asset"]["title"] not in on_orcid

        # The feed schedule is activated as push and pull are
        activated = _json(stack.cli("orcid-sync jobs activate feed -o json"))
        assert activated["type"] == "feed" and activated["enabled"] is True
        status = {s["type"]: s for s in _json(stack.cli("orcid-sync jobs status -o json"))}
        assert status["feed"]["enabled"] is True and status["feed"]["last_run"]["job_id"] == second["job_id"]

        # Nothing failed in the stack, and no token is in anything a person or a log reader sees
        assert stack.function_errors() == [], "\n".join(stack.function_errors())
        issued = set(stack.sandbox("GET", "/issued-tokens")["tokens"])
        assert issued
        seen = {
            "the stack's log": stack.log(),
            **{f"`{result.command}`": result.stdout + result.stderr for result in stack.commands},
            **{str(path): path.read_text(encoding="utf-8") for path in workdir.glob("*.jsonl")},
        }
        leaks = [f"a token in {place}" for place, text in seen.items() for token in issued if token in text]
        assert leaks == []
    assert stack.process.returncode == 0, stack.log()[-3000:]

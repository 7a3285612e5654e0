"""``make bench``: run the scenarios on the local stack, print the table, write bench/results.json.

Each scenario group runs in a child process of its own (``--group-worker``), on a fresh local stack
with ORCID's rate limit switched on in the sandbox; the functions' logs go to ``bench/out/<group>.log``.
A group whose functions have not landed in template.yaml is listed as not measured, with the reason.

    python -m bench.run                       # everything, full size (about 25 minutes on 2 cores)
    python -m bench.run --scale 0.1           # a tenth of the researchers and token rows
    python -m bench.run --only tokens,cold-start
    python -m bench.run --only console        # the console dashboard's first byte, cold and warm
    python -m bench.run --only resend --scale 0.1   # the unchanged re-send alone, small
    python -m bench.run --only feed --scale 0.1     # the OAI-PMH harvests alone: 5,000 records
    python -m bench.run --write-markdown      # also refresh the tables in BENCHMARKS.md
    python -m bench.run --report-only --write-markdown   # re-render from bench/results.json
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from orcid_sync_local.template import CfnYamlLoader

from .cold_start import ColdStartError, measure_cold_starts, previous_figures
from .report import print_tables
from .report import write_markdown as render_markdown
from .scenarios import GROUP_FUNCTIONS, GROUPS, ORCID_BURST, ORCID_RATE, Sizes, handler_file, run_group

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results.json"
OUT_DIR = REPO_ROOT / "bench" / "out"
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
ALL = [*GROUPS, "cold-start", "console"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def missing_functions(group: str, template: Path = REPO_ROOT / "template.yaml") -> list[str]:
    """The functions a group needs that template.yaml lacks, or whose code has not landed."""
    body = yaml.load(template.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # a SafeLoader subclass
    resources = body.get("Resources", {})
    missing = []
    for logical_id in GROUP_FUNCTIONS.get(group, ()):
        if handler_file(resources.get(logical_id) or {}) is None:
            missing.append(logical_id)
    return missing


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "layers", "functions", "template.yaml")
    return head + ("+uncommitted changes" if dirty.strip() else "")


def run_group_process(group: str, sizes: Sizes) -> tuple[list[dict[str, Any]], str | None]:
    """Run one group in a child process; its results, or the reason it failed."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = Path(handle.name)
    log_path = OUT_DIR / f"{group}.log"
    command = [
        sys.executable,
        "-m",
        "bench.run",
        "--group-worker",
        group,
        "--sizes",
        json.dumps(asdict(sizes)),
        "--group-output",
        str(output),
    ]
    try:
        with log_path.open("w", encoding="utf-8") as functions_log:
            done = subprocess.run(command, cwd=REPO_ROOT, stdout=functions_log, check=False)
        if done.returncode != 0:
            return [], f"the {group} run failed (exit {done.returncode}); see {log_path.relative_to(REPO_ROOT)}"
        return list(json.loads(output.read_text(encoding="utf-8"))), None
    finally:
        output.unlink(missing_ok=True)


def build_is_stale() -> bool:
    """No build, or a source file (template, functions, layer) changed after it was made."""
    built = BUILD_DIR / "template.yaml"
    if not (BUILD_DIR / "CommonLayer").is_dir() or not built.is_file():
        return True
    sources = [REPO_ROOT / "template.yaml", *(REPO_ROOT / "functions").rglob("*.py")]
    sources += [*(REPO_ROOT / "layers" / "common").rglob("*.py"), REPO_ROOT / "layers" / "common" / "requirements.txt"]
    return max(path.stat().st_mtime for path in sources) > built.stat().st_mtime


def cold_start(repeats: int) -> tuple[dict[str, Any] | None, str | None]:
    if build_is_stale():
        log("[cold-start] .aws-sam/build is missing or older than the code: running make build")
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        with (OUT_DIR / "build.log").open("w", encoding="utf-8") as build_log:
            built = subprocess.run(
                ["make", "build"], cwd=REPO_ROOT, stdout=build_log, stderr=subprocess.STDOUT, check=False
            )
        if built.returncode != 0:
            return None, "make build failed; see bench/out/build.log"
    resources = yaml.load((REPO_ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=CfnYamlLoader)["Resources"]
    handlers = {
        logical_id: str(resource["Properties"]["Handler"]).rpartition(".")[0]
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    try:
        return measure_cold_starts(
            BUILD_DIR, handlers, template=REPO_ROOT / "template.yaml", repeats=repeats, log=log
        ), None
    except ColdStartError as exc:
        return None, str(exc)


def console_first_byte(scale: float) -> tuple[dict[str, Any] | None, str | None]:
    """The console's dashboard, cold and warm (bench/console.py), on a stack of its own in a child process."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = Path(handle.name)
    log_path = OUT_DIR / "console.log"
    researchers = max(50, round(1000 * scale))
    command = [sys.executable, "-m", "bench.console", "--output", str(output), "--researchers", str(researchers)]
    try:
        with log_path.open("w", encoding="utf-8") as functions_log:
            done = subprocess.run(command, cwd=REPO_ROOT, stdout=functions_log, check=False)
        if done.returncode != 0:
            return None, f"the console run failed (exit {done.returncode}); see {log_path.relative_to(REPO_ROOT)}"
        return dict(json.loads(output.read_text(encoding="utf-8"))), None
    finally:
        output.unlink(missing_ok=True)


def merge(previous: dict[str, Any], fresh: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    """Results of the groups run now replace theirs; the other groups' earlier results are kept as they were."""
    kept = [s for s in previous.get("scenarios", []) if s.get("group") not in groups]
    merged = {**previous, **{k: v for k, v in fresh.items() if k not in ("scenarios", "not_measured")}}
    merged["scenarios"] = sorted([*kept, *fresh["scenarios"]], key=lambda s: (ALL.index(s["group"]), s["measured_at"]))
    merged["not_measured"] = [
        *(item for item in previous.get("not_measured", []) if item.get("group") not in groups),
        *fresh["not_measured"],
    ]
    if "cold-start" not in groups:
        merged["cold_start"] = previous.get("cold_start")
    if "console" not in groups:
        merged["console"] = previous.get("console")
    # When and at which commit each group was measured (results made before this was kept: from their header).
    earlier = {s["group"] for s in previous.get("scenarios", [])} | (
        {"cold-start"} if previous.get("cold_start") else set()
    )
    header = {"at": previous.get("generated_at"), "commit": previous.get("commit"), "scale": previous.get("scale")}
    merged["runs"] = {**dict.fromkeys(earlier, header), **previous.get("runs", {}), **fresh["runs"]}
    return merged


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--scale", type=float, default=lambda: float(os.environ.get("BENCH_SCALE", "1")), show_default="1")
@click.option("--only", default=lambda: os.environ.get("BENCH_ONLY", ""), help=f"Comma-separated: {', '.join(ALL)}")
@click.option("--researchers", type=int, help="Push: researchers (default 200, scaled)")
@click.option("--assets-per-researcher", type=int, help="Push: assets per researcher (default 120)")
@click.option("--pull-researchers", type=int, help="Pull: researchers (default 200, scaled)")
@click.option("--pull-works", type=int, help="Pull: works per researcher on ORCID (default 50)")
@click.option("--token-rows", type=int, help="Token import: rows (default 10,000, scaled)")
@click.option("--mode-researchers", type=int, help="Bulk vs one-by-one: researchers per variant (default 10)")
@click.option("--resend-researchers", type=int, help="Unchanged re-send: researchers (default 50, scaled)")
@click.option("--feed-records", type=int, help="Feed harvest: records in the OAI-PMH provider (default 50,000, scaled)")
@click.option("--cold-start-repeats", type=int, default=5, show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=RESULTS, show_default=True)
@click.option("--write-markdown", is_flag=True, help="Refresh the generated tables in BENCHMARKS.md")
@click.option("--report-only", is_flag=True, help="Run nothing; print (and --write-markdown) from --output")
@click.option("--group-worker", hidden=True)
@click.option("--sizes", "sizes_json", hidden=True)
@click.option("--group-output", type=click.Path(path_type=Path), hidden=True)
def main(
    scale: float,
    only: str,
    researchers: int | None,
    assets_per_researcher: int | None,
    pull_researchers: int | None,
    pull_works: int | None,
    token_rows: int | None,
    mode_researchers: int | None,
    resend_researchers: int | None,
    feed_records: int | None,
    cold_start_repeats: int,
    output: Path,
    write_markdown: bool,
    report_only: bool,
    group_worker: str | None,
    sizes_json: str | None,
    group_output: Path | None,
) -> None:
    """Benchmark orcid-sync on the local stack and report ORCID requests, rates, AWS calls, time and memory."""
    if group_worker:
        sizes = Sizes(**json.loads(sizes_json or "{}"))
        group_results = run_group(group_worker, sizes, log=log)
        assert group_output is not None
        group_output.write_text(json.dumps(group_results, indent=2), encoding="utf-8")
        return

    previous = json.loads(output.read_text(encoding="utf-8")) if output.exists() else {}
    if report_only:
        if not previous:
            raise click.ClickException(f"{output} does not exist: run the benchmarks first")
        print_tables(previous)
        if write_markdown:
            write_markdown_file(previous)
        return

    groups = [g.strip() for g in only.split(",") if g.strip()] or ALL
    unknown = [g for g in groups if g not in ALL]
    if unknown:
        raise click.UsageError(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    overrides = {
        "researchers": researchers,
        "assets_per_researcher": assets_per_researcher,
        "pull_researchers": pull_researchers,
        "pull_works": pull_works,
        "token_rows": token_rows,
        "mode_researchers": mode_researchers,
        "resend_researchers": resend_researchers,
        "feed_records": feed_records,
    }
    sizes = replace(Sizes().scaled(scale), **{k: v for k, v in overrides.items() if v is not None})
    log(f"sizes: {', '.join(f'{f.name}={getattr(sizes, f.name)}' for f in fields(sizes))}")

    fresh: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "scale": scale,
        "sizes": asdict(sizes),
        "sandbox_rate_limit": {"rate": ORCID_RATE, "burst": ORCID_BURST},
        "scenarios": [],
        "not_measured": [],
    }
    fresh["runs"] = {
        group: {"at": fresh["generated_at"], "commit": fresh["commit"], "scale": scale} for group in groups
    }
    for group in groups:
        if group == "cold-start":
            figures, why = cold_start(cold_start_repeats)
            if figures is not None:
                # The figures this run replaces, for the report's comparison.
                runs = previous.get("runs", {})
                figures["previous"] = previous_figures(previous.get("cold_start"), runs.get("cold-start"))
            fresh["cold_start"] = figures
            if why:
                fresh["not_measured"].append({"group": group, "what": "cold start", "why": why})
            continue
        if group == "console":
            figures, why = console_first_byte(scale)
            fresh["console"] = figures
            if why:
                fresh["not_measured"].append({"group": group, "what": "console first byte", "why": why})
            continue
        missing = missing_functions(group)
        if missing:
            why = f"{', '.join(missing)} not in template.yaml or without code yet"
            fresh["not_measured"].append({"group": group, "what": group, "why": why})
            log(f"[{group}] not measured: {why}")
            continue
        scenarios, why = run_group_process(group, sizes)
        fresh["scenarios"].extend(scenarios)
        if why:
            fresh["not_measured"].append({"group": group, "what": group, "why": why})
            log(f"[{group}] {why}")
    ceilings = sorted({s["rate"]["ceiling_per_second"] for s in fresh["scenarios"]})
    if ceilings:
        fresh["client_ceiling"] = ceilings[0] if len(ceilings) == 1 else ceilings

    results = merge(previous, fresh, groups)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_tables(results)
    log(f"results written to {output}")
    if write_markdown:
        write_markdown_file(results)


def write_markdown_file(results: dict[str, Any]) -> None:
    render_markdown(results, BENCHMARKS_MD)
    log(f"tables written to {BENCHMARKS_MD}")


if __name__ == "__main__":
    main()

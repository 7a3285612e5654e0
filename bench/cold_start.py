"""Cold-start cost: how long importing each function's handler module takes, from the built artifacts.

Each function's ``.aws-sam/build/<Function>/`` and the layer's ``python/`` go on ``sys.path`` in the
order Lambda uses (function code, then layers, then the runtime's boto3), and ``python -S -X importtime
-c "import <handler module>"`` runs in a fresh subprocess; the cumulative microseconds of the handler
module's top-level import lines are the figure, against a bare ``import boto3`` measured the same way
in the same run. ``-S`` keeps the dev venv's site-packages out, so a package missing from the layer
fails the import as it would on Lambda.

Two things differ from Lambda, and the report says so:

- The layer is built for arm64. This machine may not be, so every layer package with compiled code
  (pydantic_core, cryptography, ...) is swapped for the *same version* from the dev venv, built for
  this machine; the version is checked, and the pure-Python code is the built layer's own.
- The Lambda runtime ships boto3 (and what it needs); here the dev venv's copies stand in for it.

Each import is timed twice: without bytecode (``PYTHONDONTWRITEBYTECODE``, no ``__pycache__``: a
``sam build`` zip holds none and ``/var/task`` is read-only, so Lambda compiles the function's and the
layer's code on every cold start) and with bytecode compiled beforehand (the floor). boto3's own
bytecode is always there, as in the runtime.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orcid_sync_local.function_env import powertools_environment

# What the python3.13 Lambda runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
# What Lambda sets and placeholders for the resources the template's variables name (no value is ever used
# to call AWS); the template's own Powertools settings are read from it (``_function_environment``).
FUNCTION_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIAIMPORTTIMEONLY00",
    "AWS_SECRET_ACCESS_KEY": "import-time-only",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "orcid-sync-bench",
    "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
    "ORCID_ENVIRONMENT": "sandbox",
    "ORCID_CLIENT_ID": "APP-0000000000000000",
    "ORCID_SECRET_ID": "orcid-sync-secret",
    "PORTAL_BASE_URL": "https://repository.example.edu/profiles",
    "TOKEN_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "RESEARCHERS_TABLE": "researchers",
    "TOKENS_TABLE": "tokens",
    "ASSETS_TABLE": "assets",
    "LEDGER_TABLE": "ledger",
    "JOBS_TABLE": "jobs",
    "STATE_TABLE": "state",
    "DATA_BUCKET": "data",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:notifications",
}
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")


class ColdStartError(RuntimeError):
    """The built artifacts cannot be measured (missing, or a layer package has no host build of its version)."""


@dataclass(frozen=True)
class Sample:
    import_us: int
    rss_mb: float
    # Self µs of every module imported, summed by top-level package: where the import time goes.
    by_package: dict[str, int]


def cumulative_us(stderr: str, module: str) -> int:
    """The cumulative µs of importing ``module``, from ``-X importtime`` output.

    ``import a.b`` shows ``a`` and ``a.b`` as two top-level lines; their sum is the statement's cost.
    The interpreter's own start-up imports are top-level lines too, and are left out.
    """
    root = module.split(".")[0]
    total, seen = 0, False
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match and not match.group(3) and (match.group(4) == root or match.group(4).startswith(f"{root}.")):
            total += int(match.group(2))
            seen = True
    if not seen:
        raise ColdStartError(f"no top-level import of {module} in the -X importtime output")
    return total


def _distribution_of(entry: Path, site: Path) -> tuple[str, str] | None:
    """The (name, version) of the distribution that installed ``entry`` into ``site``, from RECORD files."""
    prefix = f"{entry.name}/" if entry.is_dir() else entry.name
    for record in site.glob("*.dist-info/RECORD"):
        for line in record.read_text(encoding="utf-8").splitlines():
            if line.startswith(prefix):
                metadata = (record.parent / "METADATA").read_text(encoding="utf-8")
                name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)
                version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)
                if name and version:
                    return name.group(1).strip(), version.group(1).strip()
    return None


def _host_copy(entry: Path, name: str) -> Path:
    """Where the dev venv's distribution ``name`` has the package directory or extension module ``entry``."""
    module = entry.name if entry.is_dir() else entry.name.split(".", 1)[0]
    for file in importlib.metadata.files(name) or []:
        if entry.is_dir() and file.parts[0] == module and len(file.parts) == 2:
            return Path(str(file.locate())).parent
        if not entry.is_dir() and len(file.parts) == 1 and file.name.startswith(f"{module}.") and file.suffix == ".so":
            return Path(str(file.locate()))
    raise ColdStartError(f"the dev venv's {name} has no {entry.name}")


def host_layer(layer: Path, destination: Path) -> list[str]:
    """Copy the built layer; swap packages with compiled code for the dev venv's build of the same version."""
    shutil.copytree(layer, destination, ignore=shutil.ignore_patterns("__pycache__"))
    swapped: list[str] = []
    for entry in sorted(destination.iterdir()):
        compiled = (
            entry.suffix == ".so" if entry.is_file() else not entry.name.endswith("-info") and any(entry.rglob("*.so"))
        )
        if not compiled:
            continue
        distribution = _distribution_of(entry, destination)
        if distribution is None:
            raise ColdStartError(f"{entry.name} in the layer is compiled code without a distribution RECORD")
        name, version = distribution
        try:
            host_version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise ColdStartError(f"{name} {version} is in the layer but not in the dev venv") from None
        if host_version != version:
            raise ColdStartError(f"the layer has {name} {version}, the dev venv {host_version}: cannot stand in")
        source = _host_copy(entry, name)
        if entry.is_dir():
            shutil.rmtree(entry)
            shutil.copytree(source, entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            entry.unlink()
            shutil.copy2(source, destination / source.name)
        swapped.append(f"{name} {version}")
    return swapped


def runtime_standin(destination: Path) -> None:
    """Links to the dev venv's boto3 and friends, standing in for what the Lambda runtime ships."""
    # This process has imported boto3 (moto, the stack), so its bytecode exists, as in the runtime.
    site = Path(str(importlib.metadata.distribution("boto3").locate_file("")))
    destination.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (destination / name).symlink_to(site / name)


def _time_import(module: str, paths: Iterable[Path], cwd: Path, *, bytecode: bool) -> Sample:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))},
        **FUNCTION_ENVIRONMENT,
        **powertools_environment(),
    }
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    # VmHWM: this process image's peak resident set (ru_maxrss would carry the parent's peak over exec).
    code = f"import {module}; print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-5:])
        raise ColdStartError(f"importing {module} from {cwd} failed:\n{tail}")
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            package = match.group(4).split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(match.group(1))
    rss_mb = int(done.stdout.strip().splitlines()[-1]) / 1024
    return Sample(cumulative_us(done.stderr, module), rss_mb, by_package)


def _median(samples: list[Sample]) -> dict[str, Any]:
    packages = {name for sample in samples for name in sample.by_package}
    shares = {name: statistics.median(sample.by_package.get(name, 0) for sample in samples) for name in packages}
    total = sum(shares.values()) or 1
    return {
        "median_ms": statistics.median(s.import_us for s in samples) / 1000,
        "min_ms": min(s.import_us for s in samples) / 1000,
        "rss_mb": statistics.median(s.rss_mb for s in samples),
        # The six packages that take longest to import (median self time), as a share of all import time.
        "top_packages": {
            name: round(share / total, 3) for name, share in sorted(shares.items(), key=lambda kv: -kv[1])[:6]
        },
    }


def measure_cold_starts(
    build_dir: Path, handlers: dict[str, str], *, repeats: int = 5, log: Any = print
) -> dict[str, Any]:
    """Import times of every built function's handler module and of ``import boto3``, medians of ``repeats`` runs.

    ``handlers`` maps each function's logical id to its handler module (``app``, ``admin_api.app``).
    """
    layer = build_dir / "CommonLayer" / "python"
    functions = sorted(name for name in handlers if (build_dir / name).is_dir())
    missing = sorted(set(handlers) - set(functions))
    if not layer.is_dir() or missing:
        raise ColdStartError(f"{build_dir} lacks the layer or {', '.join(missing) or 'nothing'}; run make build")
    with tempfile.TemporaryDirectory(prefix="orcid-sync-coldstart-") as tmp:
        root = Path(tmp)
        runtime = root / "runtime"
        runtime_standin(runtime)
        copies: dict[str, Path] = {}
        swapped: list[str] = []
        # Two identical copies: one is only ever imported without writing bytecode, the other is precompiled.
        for mode in ("source", "compiled"):
            swapped = host_layer(layer, root / mode / "layer")
            for name in functions:
                shutil.copytree(build_dir / name, root / mode / name, ignore=shutil.ignore_patterns("__pycache__"))
            copies[mode] = root / mode
        compileall.compile_dir(copies["compiled"], quiet=1, workers=1)

        results: dict[str, Any] = {
            "functions": {},
            "repeats": repeats,
            "host_builds_of": swapped,
            # The layer ships its own copy of these runtime packages (a dependency pulls them in): they shadow
            # the runtime's precompiled ones and are compiled from source at every cold start.
            "layer_shadows_runtime": sorted(
                name.removesuffix(".py") for name in RUNTIME_PACKAGES if (layer / name).exists()
            ),
        }
        modes = {"no_bytecode": (copies["source"], False), "bytecode": (copies["compiled"], True)}
        # Rounds, each timing boto3 and then every function in both modes: the machine's load drifts
        # (other jobs share the cores), and a ratio taken within one round sees the same load on both sides.
        # Round 0 warms the OS file cache and is not counted.
        baseline: list[Sample] = []
        samples: dict[tuple[str, str], list[Sample]] = {(n, m): [] for n in functions for m in modes}
        ratios: dict[tuple[str, str], list[float]] = {(n, m): [] for n in functions for m in modes}
        for round_number in range(repeats + 1):
            boto3_sample = _time_import("boto3", [runtime], root, bytecode=True)
            for name in functions:
                for mode, (base, bytecode) in modes.items():
                    paths = [base / name, base / "layer", runtime]
                    sample = _time_import(handlers[name], paths, base / name, bytecode=bytecode)
                    if round_number:
                        samples[(name, mode)].append(sample)
                        ratios[(name, mode)].append(sample.import_us / boto3_sample.import_us)
            if round_number:
                baseline.append(boto3_sample)
                log(f"[cold-start] round {round_number}/{repeats}: boto3 {boto3_sample.import_us / 1000:.0f} ms")
        results["boto3"] = _median(baseline)
        for name in functions:
            figures: dict[str, Any] = {}
            for mode in modes:
                figures[mode] = _median(samples[(name, mode)])
                figures[mode]["x_boto3"] = statistics.median(ratios[(name, mode)])
            results["functions"][name] = figures
            log(
                f"[cold-start] {name}: {figures['no_bytecode']['median_ms']:.0f} ms without bytecode, "
                f"{figures['bytecode']['median_ms']:.0f} ms with"
            )
        return results

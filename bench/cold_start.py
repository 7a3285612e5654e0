"""Cold-start cost: how long importing each function's handler module takes, as the built artefact runs on Lambda.

Each function's ``.aws-sam/build/<Function>/`` and the layer's ``python/`` go on ``sys.path`` in the
order Lambda uses (function code, then layers, then the runtime's boto3), and ``python -S -X importtime``
imports the handler module in a fresh subprocess; the cumulative microseconds of the handler module's
top-level import lines are the figure, against a bare ``import boto3`` measured the same way in the same
round. ``-S`` keeps the dev venv's site-packages out, so a package missing from the layer fails the
import as it would on Lambda.

As deployed means:

- **Bytecode.** Nothing is compiled while measuring (``PYTHONDONTWRITEBYTECODE``: ``/var/task`` and
  ``/opt`` are read-only on Lambda), so what the build ships is what runs. ``make build`` compiles the
  functions and the layer (``compileall --invalidation-mode unchecked-hash``); when the build in hand has
  no bytecode, the scratch copy is compiled the same way and the report says so.
- **Tracing.** The template's ``Tracing: Active`` makes Powertools' Tracer live on Lambda: it imports the
  X-Ray SDK and patches at import. The subprocess gets what Lambda sets (``LAMBDA_TASK_ROOT``, the X-Ray
  daemon address) and no ``POWERTOOLS_TRACE_DISABLED``, unless the template turns tracing off.

Two things differ from Lambda, and the report says so:

- The layer is built for arm64. This machine may not be, so every layer package with compiled code
  (pydantic_core, cryptography, ...) is swapped for the *same version* from the dev venv, built for
  this machine (and compiled to bytecode here); the version is checked, and the pure-Python code is the
  built layer's own.
- The Lambda runtime ships boto3 (and what it needs, precompiled); here a copy of the dev venv's stands
  in for it, compiled to bytecode in the scratch directory.

A lazy import only moves time to the invocation that needs it. So each run also imports, after the
handler module (and timed apart), every module that the product's code imports inside a function (not
under ``TYPE_CHECKING``), closed over what those import in turn: "deferred, at most" is what the first
invocations of a container can add to the import when they take every path, an upper bound.
"""

from __future__ import annotations

import ast
import compileall
import importlib.metadata
import importlib.util
import os
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orcid_sync_local.function_env import powertools_environment
from orcid_sync_local.template import CfnYamlLoader

# What the python3.13 Lambda runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
# What Lambda sets and placeholders for the resources the template's variables name (no value is ever used
# to call AWS); the template's own Powertools settings are read from it (``powertools_environment``).
FUNCTION_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIAIMPORTTIMEONLY00",
    "AWS_SECRET_ACCESS_KEY": "import-time-only",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "orcid-sync-bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
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
# What Lambda adds when the function has Active tracing (the SDK only opens a UDP socket at import).
TRACING_ENVIRONMENT = {"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}
# The cost of the frameworks every function stands on, measured like a handler: boto3, the product's
# Powertools utilities (Logger, Metrics; the Tracer is built by the first invocation), pydantic's BaseModel
# (``import pydantic`` alone loads nothing: its names are imported lazily), and Powertools' event handler (the
# HTTP functions) or its SQS batch processor and parser's SQS record model (the queue workers; the batch
# processor imports the parser's models whatever model it is given).
FLOORS = {
    "floor: any function": (
        "floor_any",
        "import boto3, orcid_sync.observability\nfrom pydantic import BaseModel\n",
    ),
    "floor: HTTP function": (
        "floor_http",
        "import boto3, orcid_sync.observability\nfrom pydantic import BaseModel\n"
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n",
    ),
    "floor: SQS function": (
        "floor_sqs",
        "import boto3, orcid_sync.observability\nfrom pydantic import BaseModel\n"
        "import aws_lambda_powertools.utilities.batch\n"
        "from aws_lambda_powertools.utilities.parser.models import SqsRecordModel\n",
    ),
}
FLOOR_MEANING = (
    "boto3, orcid_sync.observability (Powertools' Logger and Metrics), pydantic's BaseModel, and for the HTTP "
    "functions Powertools' event handler, for the queue workers its SQS batch processor (which imports every "
    "model of Powertools' parser): what the functions stand on"
)
UNCHECKED_HASH = py_compile.PycInvalidationMode.UNCHECKED_HASH
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")
_DEFERRED_MARK = "#orcid-sync-bench: deferred imports"


class ColdStartError(RuntimeError):
    """The built artifacts cannot be measured (missing, or a layer package has no host build of its version)."""


@dataclass(frozen=True)
class Sample:
    import_us: int
    deferred_us: int
    rss_mb: float
    rss_after_deferred_mb: float
    # Self µs of every module imported with the handler, summed by top-level package: where the time goes.
    by_package: dict[str, int]
    # Every module the handler's import loaded.
    modules: frozenset[str]


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


def top_level_us(stderr: str) -> int:
    """The cumulative µs of every top-level import line: all a block of code imported."""
    return sum(int(m.group(2)) for m in map(_LINE.match, stderr.splitlines()) if m and not m.group(3))


# --- the build --------------------------------------------------------------------------------------


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
    """Copy the built layer (its bytecode too); swap packages with compiled code for the dev venv's build.

    The swapped packages are compiled to bytecode here (unchecked-hash, as the build does).
    """
    shutil.copytree(layer, destination)
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
            _compile(entry)
        else:
            entry.unlink()
            shutil.copy2(source, destination / source.name)
        swapped.append(f"{name} {version}")
    return swapped


def runtime_standin(destination: Path) -> None:
    """A copy of the dev venv's boto3 and friends, compiled here, standing in for what the Lambda runtime ships.

    The runtime's copies are precompiled. The packages' data (botocore's service models) is linked, not copied.
    """
    site = Path(str(importlib.metadata.distribution("boto3").locate_file("")))
    destination.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if not source.exists():
            continue
        if source.is_file():
            shutil.copy2(source, destination / name)
            continue

        def without_data(directory: str, names: list[str], top: Path = source) -> set[str]:
            return {"__pycache__", *(["data"] if Path(directory) == top else [])}

        shutil.copytree(source, destination / name, ignore=without_data)
        if (source / "data").is_dir():
            (destination / name / "data").symlink_to(source / "data")
    _compile(destination)


def _compile(path: Path) -> None:
    """Bytecode as ``make build`` writes it: unchecked-hash .pyc, used without looking at the source."""
    compiled = compileall.compile_dir(path, quiet=1, force=True, workers=1, invalidation_mode=UNCHECKED_HASH)
    if not compiled:
        raise ColdStartError(f"compileall failed in {path}")


def bytecode_coverage(root: Path) -> tuple[int, int]:
    """(source files with a .pyc of this Python's magic number, source files) under ``root``."""
    tag = sys.implementation.cache_tag
    sources = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    with_pyc = 0
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if pyc.is_file() and pyc.read_bytes()[:4] == importlib.util.MAGIC_NUMBER:
            with_pyc += 1
    return with_pyc, len(sources)


def tracing_is_active(template: Path) -> bool:
    """Whether the template's functions have Active tracing (Globals, or every function)."""
    body = yaml.load(template.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # a SafeLoader subclass
    default = ((body.get("Globals") or {}).get("Function") or {}).get("Tracing")
    functions = [r for r in (body.get("Resources") or {}).values() if r.get("Type") == "AWS::Serverless::Function"]
    modes = {(f.get("Properties") or {}).get("Tracing", default) for f in functions}
    return modes == {"Active"}


# --- deferred imports -------------------------------------------------------------------------------


def _module_file(name: str, roots: Iterable[Path]) -> Path | None:
    parts = name.split(".")
    for root in roots:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, file: Path, roots: Iterable[Path]) -> tuple[set[str], set[str]]:
    """The modules ``file`` imports at its top level, and those it imports inside functions."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    top: set[str] = set()
    inside: set[str] = set()

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)] if package else []
            base = ".".join([*anchor, *([base] if base else [])])
        found = [base] if base else []
        # ``from package import submodule`` imports the submodule too.
        found += [f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}", roots)]
        return found

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                visit(branch, in_function)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            (inside if in_function else top).update(targets(node))
            return
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, nested)

    visit(tree, in_function=False)
    return top, inside


def deferred_imports(imported: Iterable[str], roots: Iterable[Path], packages: Iterable[str]) -> list[str]:
    """Every module the product imports inside a function that the handler's import has not loaded.

    Closed over what those bring in turn: a deferred module of ours loads its own top-level imports when
    imported, and has lazy imports of its own. Only the product's own code is read (the top-level
    ``packages`` under ``roots``): third-party lazy imports are not counted.
    """
    roots = list(roots)
    ours = set(packages)
    at_import = set(imported)
    loaded = set(at_import)
    found: list[str] = []
    scanned: set[str] = set()
    queue = sorted(name for name in at_import if name.split(".")[0] in ours)
    while queue:
        module = queue.pop(0)
        file = _module_file(module, roots) if module.split(".")[0] in ours else None
        if module in scanned or file is None:
            continue
        scanned.add(module)
        top, inside = _imports(module, file, roots)
        # A module loaded only now loads its top-level imports with it (they are not listed: importing it
        # is what loads them); the handler's own modules had theirs loaded at import.
        for name in sorted(top - loaded) if module not in at_import else []:
            loaded.add(name)
            queue.append(name)
        for name in sorted(inside - loaded):
            loaded.add(name)
            found.append(name)
            queue.append(name)
    return found


# --- measuring ----------------------------------------------------------------------------------------


def _environment(paths: Iterable[Path], task_root: Path, *, traced: bool) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_", "LAMBDA_"))},
        **FUNCTION_ENVIRONMENT,
        **powertools_environment(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "LAMBDA_TASK_ROOT": str(task_root),
    }
    if traced:
        env.update(TRACING_ENVIRONMENT)
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
    return env


_PROBE = """
import sys
def rss():
    with open('/proc/self/status') as status:
        return status.read().split('VmHWM:')[1].split()[0]
before = rss()
sys.stderr.write('\\n{mark}\\n')
sys.stderr.flush()
for name in {deferred!r}:
    __import__(name)
if {first_invocation!r}:
    # What the first invocation builds besides: Powertools' live Tracer (the X-Ray SDK, botocore patched).
    from orcid_sync.observability import tracer
    tracer.start()
print(before, rss())
"""


def _time_import(
    module: str, paths: Iterable[Path], cwd: Path, deferred: list[str], *, traced: bool, first_invocation: bool = False
) -> Sample:
    """Import ``module`` (then the ``deferred`` modules) with ``-X importtime`` in a fresh interpreter.

    ``first_invocation``: after the deferred modules, build what a handler's first invocation builds (the
    Tracer), its imports counted with theirs.
    """
    paths = list(paths)
    probe = f"import {module}\n" + _PROBE.format(
        mark=_DEFERRED_MARK, deferred=deferred, first_invocation=first_invocation
    )
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", probe],
        cwd=cwd,
        env=_environment(paths, paths[0], traced=traced),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-5:])
        raise ColdStartError(f"importing {module} from {cwd} failed:\n{tail}")
    head, _, tail = done.stderr.partition(_DEFERRED_MARK)
    by_package: dict[str, int] = {}
    modules: set[str] = set()
    for line in head.splitlines():
        match = _LINE.match(line)
        if match:
            modules.add(match.group(4))
            package = match.group(4).split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(match.group(1))
    rss, rss_after = (int(v) / 1024 for v in done.stdout.strip().splitlines()[-1].split())
    return Sample(cumulative_us(head, module), top_level_us(tail), rss, rss_after, by_package, frozenset(modules))


def _median(samples: list[Sample]) -> dict[str, Any]:
    packages = {name for sample in samples for name in sample.by_package}
    shares = {name: statistics.median(sample.by_package.get(name, 0) for sample in samples) for name in packages}
    total = sum(shares.values()) or 1
    return {
        "median_ms": statistics.median(s.import_us for s in samples) / 1000,
        "min_ms": min(s.import_us for s in samples) / 1000,
        "deferred_ms": statistics.median(s.deferred_us for s in samples) / 1000,
        "rss_mb": statistics.median(s.rss_mb for s in samples),
        "rss_after_deferred_mb": statistics.median(s.rss_after_deferred_mb for s in samples),
        # The six packages that take longest to import (median self time), as a share of all import time.
        "top_packages": {
            name: round(share / total, 3) for name, share in sorted(shares.items(), key=lambda kv: -kv[1])[:6]
        },
    }


def previous_figures(previous: Mapping[str, Any] | None, run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the previous run measured for each function, to print beside this run's figures.

    Runs before this file measured tracing off, with and without bytecode; the "bytecode" figure is the one
    to compare with (this run always has bytecode), and "no bytecode" is how the functions were deployed then.
    """
    if not previous or "functions" not in previous:
        return None
    functions: dict[str, Any] = {}
    for name, figures in previous["functions"].items():
        if "as_deployed" in figures:
            now = figures["as_deployed"]
            functions[name] = {"ms": now["median_ms"], "x_boto3": now["x_boto3"]}
        elif "bytecode" in figures:
            functions[name] = {
                "ms": figures["bytecode"]["median_ms"],
                "x_boto3": figures["bytecode"]["x_boto3"],
                "no_bytecode_ms": figures["no_bytecode"]["median_ms"],
                "no_bytecode_x_boto3": figures["no_bytecode"]["x_boto3"],
            }
    return {
        "at": (run or {}).get("at"),
        "commit": (run or {}).get("commit"),
        "tracing": (previous.get("method") or {}).get("tracing", "off"),
        "functions": functions,
    }


def measure_cold_starts(
    build_dir: Path,
    handlers: dict[str, str],
    *,
    template: Path,
    repeats: int = 5,
    log: Any = print,
) -> dict[str, Any]:
    """Import times of every built function's handler module and of ``import boto3``, medians of ``repeats`` runs.

    ``handlers`` maps each function's logical id to its handler module (``app``, ``admin_api.app``).
    """
    layer = build_dir / "CommonLayer" / "python"
    functions = sorted(name for name in handlers if (build_dir / name).is_dir())
    missing = sorted(set(handlers) - set(functions))
    if not layer.is_dir() or missing:
        raise ColdStartError(f"{build_dir} lacks the layer or {', '.join(missing) or 'nothing'}; run make build")
    traced = tracing_is_active(template)
    with tempfile.TemporaryDirectory(prefix="orcid-sync-coldstart-") as tmp:
        root = Path(tmp)
        runtime = root / "runtime"
        runtime_standin(runtime)
        swapped = host_layer(layer, root / "layer")
        for name in functions:
            shutil.copytree(build_dir / name, root / name)
        built_with, sources = bytecode_coverage(root / "layer")
        for name in functions:
            with_pyc, count = bytecode_coverage(root / name)
            built_with, sources = built_with + with_pyc, sources + count
        # The swapped packages were compiled here; of the rest, what the build shipped is used as it is.
        if built_with < sources:
            log(f"[cold-start] the build has bytecode for {built_with} of {sources} modules: compiling the rest here")
            for name in ["layer", *functions]:
                _compile_missing(root / name)
        bytecode = {
            "from_build": built_with,
            "modules": sources,
            "compiled_here": sources - built_with,
            "mode": "unchecked-hash",
        }
        results: dict[str, Any] = {
            "functions": {},
            "floors": {},
            "repeats": repeats,
            "host_builds_of": swapped,
            "method": {"tracing": "live (Tracing: Active)" if traced else "off", "bytecode": bytecode},
            # The layer ships its own copy of these runtime packages (a dependency pulls them in): they shadow
            # the runtime's copies.
            "layer_shadows_runtime": sorted(
                name.removesuffix(".py") for name in RUNTIME_PACKAGES if (layer / name).exists()
            ),
            "floor_meaning": FLOOR_MEANING,
        }
        subjects: dict[str, tuple[str, list[Path]]] = {
            name: (handlers[name], [root / name, root / "layer", runtime]) for name in functions
        }
        (root / "floor").mkdir()
        for floor, (module, code) in FLOORS.items():
            (root / "floor" / f"{module}.py").write_text(code, encoding="utf-8")
            subjects[floor] = (module, [root / "floor", root / "layer", runtime])
        _compile(root / "floor")
        # Rounds, each timing boto3 and then every function: the machine's load drifts (other jobs share the
        # cores), and a ratio taken within one round sees the same load on both sides. Round 0 warms the OS
        # file cache and finds each function's deferred imports; it is not counted.
        roots = {name: [root / name, root / "layer"] for name in functions}
        # The product: the shared library and each function's own code (a module or a package).
        packages = {
            name: {"orcid_sync", *(p.stem for p in (root / name).iterdir() if p.suffix == ".py" or p.is_dir())}
            for name in functions
        }
        deferred: dict[str, list[str]] = {name: [] for name in subjects}
        baseline: list[Sample] = []
        samples: dict[str, list[Sample]] = {name: [] for name in subjects}
        ratios: dict[str, list[float]] = {name: [] for name in subjects}
        deferred_ratios: dict[str, list[float]] = {name: [] for name in subjects}
        for round_number in range(repeats + 1):
            boto3_sample = _time_import("boto3", [runtime], root, [], traced=traced)
            for name, (module, paths) in subjects.items():
                sample = _time_import(
                    module, paths, paths[0], deferred[name], traced=traced, first_invocation=name in roots
                )
                if not round_number and name in roots:
                    deferred[name] = deferred_imports(sample.modules, roots[name], packages[name])
                if round_number:
                    samples[name].append(sample)
                    ratios[name].append(sample.import_us / boto3_sample.import_us)
                    deferred_ratios[name].append((sample.import_us + sample.deferred_us) / boto3_sample.import_us)
            if round_number:
                baseline.append(boto3_sample)
                log(f"[cold-start] round {round_number}/{repeats}: boto3 {boto3_sample.import_us / 1000:.0f} ms")
        results["boto3"] = _median(baseline)
        for name in subjects:
            figures = _median(samples[name])
            figures["x_boto3"] = statistics.median(ratios[name])
            figures["with_deferred_x_boto3"] = statistics.median(deferred_ratios[name])
            figures["deferred_modules"] = deferred[name]
            if name in FLOORS:
                results["floors"][name] = figures
                continue
            results["functions"][name] = {"as_deployed": figures}
            log(
                f"[cold-start] {name}: {figures['median_ms']:.0f} ms ({figures['x_boto3']:.2f} x import boto3), "
                f"{figures['deferred_ms']:.0f} ms more deferred at most"
            )
        return results


def _compile_missing(path: Path) -> None:
    """Compile only the sources the build left without bytecode (unchecked-hash, as ``make build`` does)."""
    tag = sys.implementation.cache_tag
    for source in path.rglob("*.py"):
        if "__pycache__" in source.parts:
            continue
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if pyc.is_file() and pyc.read_bytes()[:4] == importlib.util.MAGIC_NUMBER:
            continue
        try:
            py_compile.compile(
                str(source),
                cfile=str(pyc),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            continue  # a file Python cannot compile is never imported (templates, tests shipped by a package)

"""After ``sam build``: what deploys is what the lock says, built for the Lambda runtime it runs on.

``check_build.py [BUILD_DIR]`` (``make build`` runs it on ``.aws-sam/build``) fails when

- the layer (``CommonLayer*/python``) lacks the orcid_sync package, or a compiled extension of it is not a
  Linux arm64 (aarch64) binary for CPython 3.13 (or abi3);
- a distribution in the layer has another version than ``layers/common/requirements.lock``, a locked one is
  missing, or one is there that the lock does not have;
- the layer ships a package the python3.13 runtime provides (boto3, botocore, s3transfer, jmespath,
  python-dateutil, urllib3, six): it would shadow the runtime's copy, which the functions are to use;
- a ``.py`` of the layer or of a function has no CPython 3.13 ``.pyc`` compiled from it, with unchecked-hash
  invalidation (``/opt`` and ``/var/task`` are read-only on Lambda: without one, every cold start compiles);

and on every failure of ``--locks``, which checks the locks alone (also part of every build check):

- each input's ``name==version`` pins are in its lock at that version (else: ``make lock``), and every pin
  of a lock has hashes;
- the layer's lock has the dev lock's version of each of its packages (the tests ran with those) and none of
  the runtime's.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EM_AARCH64 = 183  # ELF e_machine for ARM 64-bit
# What the python3.13 Lambda runtime ships besides the standard library: distribution -> import name.
# The Makefile's LAMBDA_RUNTIME_PACKAGES (what `make lock` leaves out of the layer's lock) is the same list.
RUNTIME_PROVIDED = {
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "python-dateutil": "dateutil",
    "urllib3": "urllib3",
    "six": "six",
}
# The inputs `make lock` resolves, each with the lock it writes.
LOCKS = {
    "requirements-dev.txt": "requirements-dev.lock",
    "layers/common/requirements.txt": "layers/common/requirements.lock",
    "requirements-sam.txt": "requirements-sam.lock",
    "requirements-checkov.txt": "requirements-checkov.lock",
}
DEV_LOCK = "requirements-dev.lock"
LAYER_LOCK = "layers/common/requirements.lock"
CPYTHON_313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def canonical(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines(path: Path) -> Iterable[tuple[Path, str]]:
    """The requirement lines of a requirements file, ``-r`` includes followed (relative to the including file)."""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = re.fullmatch(r"(?:-r|--requirement)[\s=]+(\S+)", line)
        if include:
            yield from _requirement_lines(path.parent / include.group(1))
        elif not line.startswith("-"):
            yield path, line


def input_pins(path: Path) -> dict[str, str]:
    """``name==version`` requirements of an input file (includes followed); ranges and names alone are skipped."""
    pins: dict[str, str] = {}
    for _, line in _requirement_lines(path):
        pin = _PIN.match(line)
        if pin:
            pins[canonical(pin.group(1))] = pin.group(2)
    return pins


def lock_pins(path: Path) -> tuple[dict[str, set[str]], list[str]]:
    """A lock's versions by package (a universal lock may pin one per platform) and the pins without a hash."""
    pins: dict[str, set[str]] = {}
    unhashed: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        pin = _PIN.match(line)
        if not pin:
            continue
        pins.setdefault(canonical(pin.group(1)), set()).add(pin.group(2))
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if "--hash=" not in line and "--hash=" not in following:
            unhashed.append(canonical(pin.group(1)))
    return pins, unhashed


def check_locks(repo: Path = REPO) -> list[str]:
    """Each lock up to date with its input and hashed; the layer's lock agrees with the dev lock."""
    failures: list[str] = []
    locks: dict[str, dict[str, set[str]]] = {}
    for source, lock in LOCKS.items():
        if not (repo / lock).is_file():
            failures.append(f"{lock} is missing: run 'make lock'")
            continue
        locked, unhashed = lock_pins(repo / lock)
        locks[lock] = locked
        failures += [f"{lock}: {name} has no hash: run 'make lock'" for name in unhashed]
        for name, version in sorted(input_pins(repo / source).items()):
            if version not in locked.get(name, set()):
                have = ", ".join(sorted(locked.get(name, set()))) or "nothing"
                failures.append(f"{source} pins {name}=={version}, {lock} has {have}: run 'make lock'")
    dev = locks.get(DEV_LOCK)
    if dev is not None and (repo / "cli/pyproject.toml").is_file():
        project = tomllib.loads((repo / "cli/pyproject.toml").read_text(encoding="utf-8"))["project"]
        for spec in project.get("dependencies", []):
            name = canonical(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
            if name not in dev:
                failures.append(f"cli/pyproject.toml needs {name}, which {DEV_LOCK} lacks: run 'make lock'")
    layer = locks.get(LAYER_LOCK)
    if layer is not None:
        for name in sorted(set(layer) & set(RUNTIME_PROVIDED)):
            failures.append(f"{LAYER_LOCK} has {name}, which the Lambda runtime provides: run 'make lock'")
        if dev is not None:
            for name, versions in sorted(layer.items()):
                if not versions <= dev.get(name, set()):
                    have = ", ".join(sorted(dev.get(name, set()))) or "nothing"
                    failures.append(
                        f"{LAYER_LOCK} has {name} {', '.join(sorted(versions))}, {DEV_LOCK} {have} "
                        "(the layer must run what the tests ran): run 'make lock'"
                    )
    return failures


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    return int.from_bytes(header[18:20], "little")


def layer_distributions(layer: Path) -> dict[str, str]:
    """Distribution name -> version of every ``*.dist-info`` in the layer (from its METADATA)."""
    found: dict[str, str] = {}
    for info in sorted(layer.glob("*.dist-info")):
        metadata = info / "METADATA"
        text = metadata.read_text(encoding="utf-8", errors="replace") if metadata.is_file() else ""
        name = re.search(r"^Name:\s*(\S+)", text, re.MULTILINE)
        version = re.search(r"^Version:\s*(\S+)", text, re.MULTILINE)
        if name and version:
            found[canonical(name.group(1))] = version.group(1)
        else:  # <name>-<version>.dist-info
            stem_name, _, stem_version = info.name.removesuffix(".dist-info").rpartition("-")
            found[canonical(stem_name)] = stem_version
    return found


def binary_failures(layer: Path) -> tuple[list[str], int]:
    binaries = sorted(layer.rglob("*.so"))
    if not binaries:
        return [f"no compiled extensions in {layer}; expected pydantic_core and cryptography"], 0
    failures = []
    for path in binaries:
        try:
            wrong_machine = elf_machine(path) != EM_AARCH64
        except ValueError:
            wrong_machine = True
        if wrong_machine:
            failures.append(f"{path.relative_to(layer)} is not an aarch64 binary")
        if ".cpython-" in path.name and "cpython-313" not in path.name:
            failures.append(f"{path.relative_to(layer)} is not built for CPython 3.13")
    return failures, len(binaries)


def package_failures(layer: Path, locked: dict[str, set[str]]) -> list[str]:
    """The layer's distributions against the lock, and nothing of the runtime's in the layer."""
    failures = []
    present = layer_distributions(layer)
    for name, version in sorted(present.items()):
        if name in RUNTIME_PROVIDED:
            failures.append(
                f"the layer ships {name} {version}, which the Lambda runtime provides (it would shadow the runtime's)"
            )
        elif name not in locked:
            failures.append(f"the layer has {name} {version}, which {LAYER_LOCK} does not have")
        elif version not in locked[name]:
            failures.append(f"the layer has {name} {version}, {LAYER_LOCK} has {', '.join(sorted(locked[name]))}")
    for name, versions in sorted(locked.items()):
        if name not in present and name not in RUNTIME_PROVIDED:
            failures.append(f"{name} {', '.join(sorted(versions))} is in {LAYER_LOCK} but not in the layer")
    for name, module in sorted(RUNTIME_PROVIDED.items()):
        if name not in present and ((layer / module).is_dir() or (layer / f"{module}.py").is_file()):
            failures.append(f"the layer ships the module {module} ({name}), which the Lambda runtime provides")
    return failures


def bytecode_failures(root: Path, label: str) -> tuple[list[str], int]:
    """Every ``.py`` under ``root`` has an unchecked-hash CPython 3.13 ``.pyc`` compiled from that very source."""
    missing, wrong, stale = [], [], []
    sources = sorted(root.rglob("*.py"))
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not pyc.is_file():
            missing.append(source)
            continue
        header = pyc.read_bytes()[:16]
        if header[:4] != CPYTHON_313_MAGIC or int.from_bytes(header[4:8], "little") != PYC_UNCHECKED_HASH:
            wrong.append(source)
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            stale.append(source)
    failures = []
    for kind, paths in (
        ("no .pyc", missing),
        ("a .pyc that is not CPython 3.13 unchecked-hash", wrong),
        ("a .pyc compiled from another source", stale),
    ):
        if paths:
            shown = ", ".join(str(path.relative_to(root)) for path in paths[:5])
            more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
            failures.append(f"{label}: {len(paths)} .py with {kind}: {shown}{more}")
    return failures, len(sources)


def check_build(build_dir: Path, layer_lock: Path) -> tuple[list[str], list[str]]:
    """Failures and notes for a ``sam build`` output directory."""
    layers = sorted(path for path in build_dir.glob("CommonLayer*") if path.is_dir())
    if not layers:
        return [f"no CommonLayer in {build_dir}: run 'make build'"], []
    failures: list[str] = []
    notes: list[str] = []
    locked, _ = lock_pins(layer_lock)
    for layer_dir in layers:
        layer = layer_dir / "python"
        if not (layer / "orcid_sync" / "__init__.py").is_file():
            failures.append(f"{layer} does not contain the orcid_sync package")
            continue
        binaries, count = binary_failures(layer)
        failures += binaries
        packages = package_failures(layer, locked)
        failures += packages
        bytecode, sources = bytecode_failures(layer, layer_dir.name)
        failures += bytecode
        if not binaries:
            notes.append(f"{count} compiled extensions in {layer_dir.name}, all aarch64 / cp313 (or abi3)")
        if not packages:
            notes.append(
                f"{layer_dir.name} holds the {len(locked)} distributions of {LAYER_LOCK} at its versions, "
                "none of the runtime's"
            )
        if not bytecode:
            notes.append(f"{sources} .py in {layer_dir.name}, each with its unchecked-hash .pyc")
    functions = sorted(path for path in build_dir.iterdir() if path.is_dir() and path not in layers)
    if not functions:
        failures.append(f"no function directories in {build_dir}")
    function_failures: list[str] = []
    compiled = 0
    for function in functions:
        bytecode, sources = bytecode_failures(function, function.name)
        function_failures += bytecode
        compiled += sources
    failures += function_failures
    if functions and not function_failures:
        notes.append(f"{compiled} .py in {len(functions)} functions, each with its unchecked-hash .pyc")
    return failures, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", default=".aws-sam/build", type=Path)
    parser.add_argument("--locks", action="store_true", help="check the lock files only (no build needed)")
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 13):
        print(f"FAIL: run this with Python 3.13 (the runtime's), not {sys.version.split()[0]}")
        return 1
    failures = check_locks(args.repo)
    notes = [] if failures else ["the locks match their inputs, and the layer's lock the dev lock"]
    if not args.locks:
        build_failures, build_notes = check_build(args.build_dir, args.repo / LAYER_LOCK)
        failures += build_failures
        notes += build_notes
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    for note in notes:
        print(f"ok: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""After ``sam build``: the layer must hold Linux arm64 (aarch64) binaries built for CPython 3.13."""

from __future__ import annotations

import sys
from pathlib import Path

EM_AARCH64 = 183  # ELF e_machine for ARM 64-bit


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    return int.from_bytes(header[18:20], "little")


def main(build_dir: str) -> int:
    layer = Path(build_dir) / "CommonLayer" / "python"
    if not (layer / "orcid_sync" / "__init__.py").is_file():
        print(f"FAIL: {layer} does not contain the orcid_sync package")
        return 1
    binaries = sorted(layer.rglob("*.so"))
    if not binaries:
        print(f"FAIL: no compiled extensions in {layer}; expected pydantic_core and cryptography")
        return 1
    wrong = [p for p in binaries if elf_machine(p) != EM_AARCH64]
    wrong_abi = [p for p in binaries if ".cpython-" in p.name and "cpython-313" not in p.name]
    for path in wrong:
        print(f"FAIL: {path.relative_to(layer)} is not an aarch64 binary")
    for path in wrong_abi:
        print(f"FAIL: {path.relative_to(layer)} is not built for CPython 3.13")
    if wrong or wrong_abi:
        return 1
    print(f"ok: {len(binaries)} compiled extensions in the layer, all aarch64 / cp313 (or abi3)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))

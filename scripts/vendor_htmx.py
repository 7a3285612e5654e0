"""Vendor htmx from the npm registry into the console function: ``python scripts/vendor_htmx.py VERSION``.

Reads the version's metadata from registry.npmjs.org, downloads its tarball, checks the tarball against the
registry's ``dist.integrity`` (sha512, Subresource Integrity format), and writes ``dist/htmx.min.js`` and a
manifest (version, tarball integrity, the file's own sha512) to ``functions/console/static/``.
``tests/unit/test_console_static.py`` recomputes the file's hash from the manifest. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org/htmx.org"
TARGET = Path(__file__).resolve().parents[1] / "functions" / "console" / "static"


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def main(version: str) -> None:
    with urllib.request.urlopen(f"{REGISTRY}/{version}", timeout=30) as answer:  # noqa: S310 - a fixed https URL
        dist = json.load(answer)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=60) as answer:  # noqa: S310 - the registry's own URL
        tarball = answer.read()
    if _sri(tarball) != dist["integrity"]:
        raise SystemExit(f"the tarball does not match the registry's integrity {dist['integrity']}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/dist/htmx.min.js")
        if member is None:
            raise SystemExit("the tarball has no package/dist/htmx.min.js")
        script = member.read()
    (TARGET / "htmx.min.js").write_bytes(script)
    manifest = {
        "package": "htmx.org",
        "version": version,
        "tarball": dist["tarball"],
        "tarball_integrity": dist["integrity"],
        "file": "package/dist/htmx.min.js",
        "file_integrity": _sri(script),
    }
    (TARGET / "htmx.manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"htmx {version}: {manifest['file_integrity']}")


if __name__ == "__main__":
    main(sys.argv[1])

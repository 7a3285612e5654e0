"""The console's dashboard: first-byte time of ``GET /console`` on a cold and a warm ConsoleFunction, and its AWS calls.

``python -m bench.console --output FILE`` (run by ``bench.run --only console`` in a child process of its own) starts
the local stack (as the other groups do), loads researchers, signs a console admin in through the Cognito stand-in
(the session cookie a browser would hold), then measures the function itself, in fresh interpreters:

- **cold**: a new ``python`` process with the console's code as Lambda lays it out (``functions/console/`` as the
  zip root, the layer's ``orcid_sync`` beside it) and the function's environment from the running stack; the time
  from the interpreter's first product line (before boto3 is imported) until ``lambda_handler`` returns the
  dashboard: module import plus the first invocation, which also fetches the signing key and the sign-in parameter.
  What a person waits for on a cold container, less the Lambda runtime's own start and the network.
- **warm**: the same process then serves the dashboard again, ``--warm`` times; the median and the slowest.

Every AWS API call the handler makes is counted (by service and operation) for the first view and for a warm one:
the DynamoDB calls per dashboard view are the figure that holds in AWS, where each is a network round trip.
The handler answers from moto over local HTTP, so the times here are a lower bound for AWS's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click
import requests

from orcid_sync_local.console_users import create_console_user
from orcid_sync_local.stack import LocalStack

from .workload import Workload

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSOLE_CODE = REPO_ROOT / "functions" / "console"
LAYER_CODE = REPO_ROOT / "layers" / "common"

# Runs in the fresh interpreter: counts each AWS call (botocore's one entry point for every operation), imports the
# handler as Lambda does, and serves the dashboard cold and then warm.
_PROBE = r"""
import json, sys, time
started = time.perf_counter()
import botocore.client
calls = {}
_original = botocore.client.BaseClient._make_api_call
def _counted(self, operation, params):
    key = f"{self.meta.service_model.service_name} {operation}"
    calls[key] = calls.get(key, 0) + 1
    return _original(self, operation, params)
botocore.client.BaseClient._make_api_call = _counted
import app
imported = time.perf_counter()
event, warm, output = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class Context:
    function_name = "orcid-sync-bench-console"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orcid-sync-bench-console"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 29000
first = app.lambda_handler(event, Context())
served = time.perf_counter()
first_calls, calls = calls, {}
warm_ms, warm_calls = [], None
for _ in range(warm):
    calls.clear()
    begun = time.perf_counter()
    answer = app.lambda_handler(event, Context())
    warm_ms.append((time.perf_counter() - begun) * 1000)
    assert answer["statusCode"] == 200, answer["statusCode"]
    warm_calls = dict(calls)
with open(output, "w", encoding="utf-8") as sink:
    json.dump({
        "status": first["statusCode"],
        "dashboard": "Dashboard" in first.get("body", ""),
        "import_ms": (imported - started) * 1000,
        "first_invocation_ms": (served - imported) * 1000,
        "cold_ms": (served - started) * 1000,
        "warm_ms": warm_ms,
        "first_calls": first_calls,
        "warm_calls": warm_calls or {},
    }, sink)
"""


def dashboard_event(api_url: str, session_cookie: str) -> dict[str, Any]:
    """``GET /console`` as API Gateway's HTTP API (payload 2.0) hands it to the function."""
    host = api_url.split("://", 1)[1]
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "GET /console",
        "rawPath": "/console",
        "rawQueryString": "",
        "cookies": [f"orcid_sync_console={session_cookie}"],
        "headers": {"host": host, "accept": "text/html", "accept-language": "en-GB", "x-forwarded-proto": "http"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": "GET",
                "path": "/console",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "GET /console",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }


def signed_in_cookie(stack: Any, email: str) -> str:
    """An admin made in the stack's pool and signed in through the managed-login stand-in: the console's cookie."""
    password = "Bench-" + secrets.token_hex(6) + "!A1"
    create_console_user(stack, email, password, "orcid-admins")
    browser = requests.Session()
    start = browser.get(f"{stack.api_url}/console/signin", allow_redirects=False)
    login = browser.get(start.headers["Location"])
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', login.text))
    answer = browser.post(
        f"{stack.cognito_login_url}/login",
        data={**fields, "username": email, "password": password},
        allow_redirects=False,
    )
    # Python's cookie jar keeps Secure cookies from http://127.0.0.1 but would not send them back: read them.
    callback = requests.get(
        answer.headers["Location"],
        cookies={c.name: c.value or "" for c in browser.cookies if c.name == "orcid_sync_console_sign_in"},
        allow_redirects=False,
    )
    session = callback.cookies.get("orcid_sync_console")
    if not session:
        raise RuntimeError(f"the console did not sign the bench admin in: {callback.status_code}")
    return str(session)


def probe(event: dict[str, Any], warm: int) -> dict[str, Any]:
    """One fresh interpreter: the dashboard served cold, then ``warm`` times more."""
    with tempfile.TemporaryDirectory(prefix="orcid-sync-bench-console-") as scratch:
        output = Path(scratch) / "probe.json"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        environment |= {"PYTHONPATH": os.pathsep.join([str(CONSOLE_CODE), str(LAYER_CODE)])}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(event), str(warm), str(output)],
            cwd=scratch,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not output.exists():
            raise RuntimeError(f"the console probe failed:\n{done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        return figures


def _dynamodb(calls: dict[str, int]) -> int:
    return sum(count for key, count in calls.items() if key.startswith("dynamodb "))


def measure(*, researchers: int, rounds: int, warm: int, log: Any = print) -> dict[str, Any]:
    count = researchers
    with LocalStack(repo_root=REPO_ROOT) as stack:
        work = Workload(stack)
        rows = [{"id": f"bench-console-{n:05d}", "given_names": "B", "family_name": f"R{n}"} for n in range(count)]
        work.load_researchers(rows)
        event = dashboard_event(stack.api_url, signed_in_cookie(stack, "bench-console@example.edu"))
        samples = []
        for number in range(1, rounds + 1):
            sample = probe(event, warm)
            if sample["status"] != 200 or not sample["dashboard"]:
                raise RuntimeError(f"the dashboard answered {sample['status']}")
            samples.append(sample)
            log(
                f"[console] round {number}/{rounds}: cold {sample['cold_ms']:.0f} ms "
                f"(import {sample['import_ms']:.0f} + first view {sample['first_invocation_ms']:.0f}), "
                f"warm median {statistics.median(sample['warm_ms']):.1f} ms"
            )
    all_warm = [ms for sample in samples for ms in sample["warm_ms"]]
    first_calls, warm_calls = samples[-1]["first_calls"], samples[-1]["warm_calls"]
    return {
        "researchers": researchers,
        "rounds": rounds,
        "warm_views_per_round": warm,
        "cold_ms": statistics.median(s["cold_ms"] for s in samples),
        "cold_max_ms": max(s["cold_ms"] for s in samples),
        "import_ms": statistics.median(s["import_ms"] for s in samples),
        "first_invocation_ms": statistics.median(s["first_invocation_ms"] for s in samples),
        "warm_ms": statistics.median(all_warm),
        "warm_max_ms": max(all_warm),
        "dynamodb_calls_cold": _dynamodb(first_calls),
        "dynamodb_calls_warm": _dynamodb(warm_calls),
        "calls_cold": dict(sorted(first_calls.items())),
        "calls_warm": dict(sorted(warm_calls.items())),
        "method": (
            "fresh python per round; functions/console as the zip root and the layer's orcid_sync from source, "
            "the dev venv's packages, tracing off; the function's environment from the running local stack; "
            "AWS is moto over local HTTP"
        ),
    }


@click.command()
@click.option("--output", type=click.Path(path_type=Path), required=True)
@click.option("--researchers", type=int, default=1000, show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True, help="Fresh interpreters (cold starts)")
@click.option("--warm", type=int, default=20, show_default=True, help="Warm views per round")
def main(output: Path, researchers: int, rounds: int, warm: int) -> None:
    figures = measure(
        researchers=researchers, rounds=rounds, warm=warm, log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    output.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

"""A function's environment is in place before its handler is imported, whatever the process imported first.

The functions share the process that starts the stack (``orcid-sync local up``, ``make demo``, a test, a
benchmark), and that process may already have imported the product: the CLI imports
``orcid_sync.observability``, whose Powertools ``Metrics()`` reads POWERTOOLS_METRICS_NAMESPACE once, when
built. The stack must still give every function a cold start with the template's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs in a new interpreter whose environment has no POWERTOOLS_* variable, as a person's shell has none.
_IMPORT_THE_PRODUCT_THEN_START_A_STACK = textwrap.dedent(
    """
    import json
    import sys

    import orcid_sync.observability  # builds Metrics() now, with no namespace in the environment
    import orcid_sync_cli.main  # everything `orcid-sync local up` imports before starting the stack
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from orcid_sync_local.stack import LocalStack

    before = sys.modules["orcid_sync.observability"]
    with LocalStack() as stack:
        callback = requests.get(f"{stack.api_url}/orcid/callback", params={"code": "x", "state": "y"}, timeout=60)
        body = b'[{"researcher_id": "r1", "orcid": "0000-0002-1825-0097", "access_token": "not-a-token"}]'
        request = AWSRequest(
            method="POST", url=f"{stack.api_url}/tokens", data=body, headers={"Content-Type": "application/json"}
        )
        credentials = Credentials(stack.credentials.access_key_id, stack.credentials.secret_access_key)
        SigV4Auth(credentials, "execute-api", stack.credentials.region).add_auth(request)
        tokens = requests.post(request.url, data=body, headers=dict(request.headers.items()), timeout=60)
        during = sys.modules["orcid_sync.observability"]
    print(json.dumps({
        "callback": callback.status_code,
        "tokens": tokens.status_code,
        "fresh_modules_while_running": during is not before,
        "modules_given_back": sys.modules["orcid_sync.observability"] is before,
    }))
    """
)


def test_functions_get_the_template_environment_even_when_the_product_was_imported_first(tmp_path: Path) -> None:
    # Given a process with a clean environment that imports the product and the CLI, then starts a stack
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}

    # When it calls the OAuth callback and a SigV4-signed admin route (a token import)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_THE_PRODUCT_THEN_START_A_STACK],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then both answer without a server error: the handlers were imported with the functions' environment
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["callback"] < 500, result.stderr
    assert outcome["tokens"] < 500, result.stderr
    assert "Must contain a metric namespace" not in result.stderr
    # ... because the functions imported the product afresh, and the process got its own modules back after
    assert outcome["fresh_modules_while_running"]
    assert outcome["modules_given_back"]

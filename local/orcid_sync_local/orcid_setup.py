"""The ORCID side of a local stack: the embedded sandbox with the stack's client, and the client secret in place."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .lambda_glue import WsgiServerThread
from .provision import ProvisionedStack
from .servers import SwappableApp
from .stack_settings import OrcidClient


def start_orcid_sandbox(
    client: OrcidClient, api_url: str, port: int, sandbox_settings: Mapping[str, Any]
) -> tuple[WsgiServerThread, Any]:
    """The local ORCID sandbox, listening, with `client` registered for the API's callback; its server and app.

    ``sandbox_settings`` are extra :class:`SandboxConfig` fields (``rate``, ``burst``, ``time_scale`` ...).
    """
    from .orcid_sandbox import RegisteredClient, SandboxConfig, create_app  # noqa: PLC0415 - Flask app on demand

    sandbox_app = SwappableApp()
    # Bound first: the sandbox's own URL goes into its configuration.
    server = WsgiServerThread(sandbox_app, port, name="orcid-sandbox")
    try:
        registered = RegisteredClient(
            client_id=client.client_id,
            client_secret=client.client_secret,
            redirect_uris=[f"{api_url}/orcid/callback"],
            name="orcid-sync (local stack)",
        )
        config = SandboxConfig(clients=[registered], public_base_url=server.url, **sandbox_settings)
        sandbox_app.app = create_app(config)
    except BaseException:
        server.stop()  # frees the port
        raise
    server.start()
    return server, sandbox_app.app


def store_client_secret(provisioned: ProvisionedStack, secretsmanager: Any, client_secret: str) -> None:
    """Put the ORCID client secret into every secret that has a ``client_secret`` field (as after deploying)."""
    for secret in provisioned.of_type("AWS::SecretsManager::Secret").values():
        current = secretsmanager.get_secret_value(SecretId=secret.ref).get("SecretString", "")
        try:
            document = json.loads(current)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "client_secret" in document:
            document["client_secret"] = client_secret
            secretsmanager.put_secret_value(SecretId=secret.ref, SecretString=json.dumps(document))

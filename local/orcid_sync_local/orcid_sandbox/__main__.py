"""Run the ORCID sandbox by hand: `python -m orcid_sync_local.orcid_sandbox --port 8090 --client-id APP-…`."""

from __future__ import annotations

import argparse
from pathlib import Path

from werkzeug.serving import make_server

from . import RegisteredClient, SandboxConfig, create_app


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Local stand-in for ORCID's OAuth server and Member API v3.0")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--client-id", help="register this client (APP- + 16 letters or digits)")
    parser.add_argument("--client-secret", default="local-sandbox-secret")
    parser.add_argument("--client-name", default="Local Repository")
    parser.add_argument("--redirect-uri", action="append", default=[], help="repeatable; a bare host allows any path")
    parser.add_argument("--rate", type=float, default=24.0, help="requests per second per client; 0 turns it off")
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument(
        "--orcid-model-dir", type=Path, help="ORCID's XSDs and enums.json (default: shared/orcid-model beside the repo)"
    )
    args = parser.parse_args(argv)
    clients = []
    if args.client_id:
        clients.append(RegisteredClient(args.client_id, args.client_secret, args.redirect_uri, args.client_name))
    base_url = f"http://127.0.0.1:{args.port}"
    config = SandboxConfig(
        clients=clients,
        rate=args.rate,
        burst=args.burst,
        public_base_url=base_url,
        orcid_model_dir=args.orcid_model_dir,
    )
    app = create_app(config)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"ORCID sandbox on {base_url} (inspect at {base_url}/_sandbox/stats); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()

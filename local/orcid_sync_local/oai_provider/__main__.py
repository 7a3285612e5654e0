"""Run the provider by hand: ``python -m orcid_sync_local.oai_provider --port 8091 --fixtures 300``."""

from __future__ import annotations

import argparse
import threading

from .server import start_oai_provider


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description="A local OAI-PMH provider (pyoai's server) with fixture records")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--fixtures", type=int, default=300, help="how many generated records to serve (0: none)")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    provider = start_oai_provider(args.port, page_size=args.page_size, fixtures=args.fixtures)
    print(f"OAI-PMH provider on {provider.url} (admin at {provider.admin_url}/stats); Ctrl-C stops it")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        provider.stop()


if __name__ == "__main__":
    main()

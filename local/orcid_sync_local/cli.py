"""``orcid-sync local up``: run the whole stack on this machine until interrupted.

stdout carries exactly one JSON line (the URLs and dummy credentials) for scripts to read; the
functions' logs and everything meant for people go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from .lambda_glue import GlueError
from .stack import DEFAULT_TEMPLATE, LocalStack, LocalStackError, OrcidClient, OrcidMode


@click.group()
def local() -> None:
    """Run orcid-sync locally: AWS in moto, a local ORCID sandbox, the functions in-process."""


@local.command()
@click.option(
    "--orcid",
    "orcid_mode",
    type=click.Choice([mode.value for mode in OrcidMode]),
    default=OrcidMode.LOCAL.value,
    show_default=True,
    help="local: the embedded ORCID sandbox. sandbox: ORCID's real sandbox with ORCID_CLIENT_ID/ORCID_CLIENT_SECRET.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port of the local API (default: a free one).")
@click.option("--orcid-port", type=click.IntRange(0, 65535), default=0, help="Port of the local ORCID sandbox.")
@click.option("--aws-port", type=click.IntRange(0, 65535), default=0, help="Port of moto (all AWS services).")
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="The SAM template to build the stack from.",
)
def up(orcid_mode: str, port: int, orcid_port: int, aws_port: int, template: Path) -> None:
    """Start the stack, print one JSON line with its URLs, and run until SIGINT or SIGTERM."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("orcid_sync_local").setLevel(logging.INFO)
    mode = OrcidMode(orcid_mode)
    orcid_client = _sandbox_client() if mode is OrcidMode.SANDBOX else None
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C while stopping: let it kill the process
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    # Function logs (Powertools writes to sys.stdout when a handler module is imported) go to stderr,
    # so that stdout carries only the JSON line.
    machine_out = sys.stdout
    sys.stdout = sys.stderr
    stack = LocalStack(
        template_path=template,
        orcid=mode,
        orcid_client=orcid_client,
        api_port=port,
        orcid_port=orcid_port,
        aws_port=aws_port,
    )
    try:
        try:
            stack.start()
        except (LocalStackError, GlueError, OSError, ValueError) as exc:
            raise click.ClickException(f"the local stack did not start: {exc}") from exc
        machine_out.write(json.dumps(stack.connection_info()) + "\n")
        machine_out.flush()
        _tell_people(stack, mode)
        while not stopping.wait(0.5):
            pass
        click.echo("stopping the local stack ...", err=True)
    finally:
        stack.stop()
        sys.stdout = machine_out


def _sandbox_client() -> OrcidClient:
    missing = [name for name in ("ORCID_CLIENT_ID", "ORCID_CLIENT_SECRET") if not os.environ.get(name)]
    if missing:
        raise click.UsageError(
            f"--orcid sandbox needs your ORCID sandbox member API client: set {' and '.join(missing)}"
        )
    return OrcidClient(os.environ["ORCID_CLIENT_ID"], os.environ["ORCID_CLIENT_SECRET"])


def _tell_people(stack: LocalStack, mode: OrcidMode) -> None:
    lines = [
        "orcid-sync local stack is up (Ctrl-C to stop)",
        f"  API (connect pages public, admin routes AWS_IAM-signed): {stack.api_url}",
        f"  ORCID ({mode.value}): {stack.orcid_url}",
        f"  AWS (moto, every service): {stack.aws_endpoint_url}",
        f"  ORCID client id: {stack.client_id}",
        f"  connect page: {stack.api_url}/connect",
    ]
    if mode is OrcidMode.SANDBOX:
        lines.append(f"  register {stack.api_url}/orcid/callback as a redirect URI of your ORCID sandbox client")
    click.echo("\n".join(lines), err=True)


if __name__ == "__main__":
    local()

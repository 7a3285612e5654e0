"""``orcid-sync-local up`` (also ``orcid-sync local up``): run the whole stack on this machine until interrupted.

stdout carries exactly one JSON line (the URLs and dummy credentials) for scripts to read; the
functions' logs and everything meant for people go to stderr. The same connection info, with the
process id, goes to ``.orcid-sync/local.json`` (mode 0600) in the current directory, where
``orcid-sync … --local`` finds it; it is removed when the stack stops.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from orcid_sync_cli.api import ApiClient, ApiError

from .console_users import seed_console_users, sign_in_lines
from .demo_data import DEMO_RESEARCHER
from .lambda_glue import GlueError
from .mailbox import MailboxError, mail_to, sent_mail
from .stack import DEFAULT_TEMPLATE, LocalStack, LocalStackError, OrcidClient, OrcidMode

DEMO_FIXTURES = 300
"""How many fixture records ``--seed-demo`` puts in the local OAI-PMH provider (three pages of 100)."""

STATE_FILE = Path(".orcid-sync") / "local.json"
"""Where ``up`` writes its connection info, relative to the current directory (``--state-file`` overrides)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--oai-port", type=click.IntRange(0, 65535), default=0, help="Port of the local OAI-PMH provider.")
@click.option(
    "--cognito-port", type=click.IntRange(0, 65535), default=0, help="Port of the console's local Cognito sign-in."
)
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="The SAM template to build the stack from.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=STATE_FILE,
    show_default=True,
    help="Where to write the connection info `orcid-sync --local` reads (removed on stop).",
)
@click.option(
    "--seed-demo",
    is_flag=True,
    help="Add a demo researcher (ada) and print her signed connect link; fill the OAI-PMH provider with fixtures.",
)
def up(
    *,
    orcid_mode: str,
    port: int,
    orcid_port: int,
    aws_port: int,
    oai_port: int,
    cognito_port: int,
    template: Path,
    state_file: Path,
    seed_demo: bool,
) -> None:
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
        oai_port=oai_port,
        cognito_port=cognito_port,
    )
    written: Path | None = None
    try:
        try:
            stack.start()
        except (LocalStackError, GlueError, OSError, ValueError) as exc:
            raise click.ClickException(f"the local stack did not start: {exc}") from exc
        connect_url = _seed_demo(stack) if seed_demo else None
        if seed_demo:
            stack.oai_provider.load_fixtures(DEMO_FIXTURES)
        console_sign_ins = seed_console_users(stack) if seed_demo else []
        info = stack.connection_info()
        written = write_state(state_file, {**info, "pid": os.getpid()})
        machine_out.write(json.dumps(info) + "\n")
        machine_out.flush()
        console = sign_in_lines(stack.console_url, console_sign_ins) if "console_url" in info else []
        _tell_people(stack, mode, state_file=written, connect_url=connect_url, seeded=seed_demo, console=console)
        while not stopping.wait(0.5):
            pass
        click.echo("stopping the local stack ...", err=True)
    finally:
        if written is not None:
            remove_state(written)
        stack.stop()
        sys.stdout = machine_out


@local.command()
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=STATE_FILE,
    show_default=True,
    help="The connection info of the running stack (what `up` wrote).",
)
@click.option("--to", "address", help="Only the mail sent to this address.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: every message with its parts and links.")
def mail(*, state_file: Path, address: str | None, as_json: bool) -> None:
    """The local mailbox: every email the running local stack sent through SES (moto), oldest first."""
    state = _read_state(state_file.expanduser().absolute())
    if state is None or not state.get("aws_endpoint_url"):
        raise click.ClickException(f"no running local stack described in {state_file} (start one: orcid-sync-local up)")
    try:
        messages = sent_mail(str(state["aws_endpoint_url"]))
    except MailboxError as exc:
        raise click.ClickException(str(exc)) from exc
    if address:
        messages = mail_to(messages, address)
    if as_json:
        click.echo(json.dumps([message.as_dict() for message in messages], indent=2))
        return
    if not messages:
        click.echo("no mail sent yet")
        return
    for number, message in enumerate(messages, start=1):
        sent_at = message.sent_at.isoformat() if message.sent_at else "-"
        click.echo(f"{number:>3}  {sent_at}  to {', '.join(message.to)}  {message.subject}")
        click.echo(f"     connect:     {message.connect_url or '-'}")
        click.echo(f"     unsubscribe: {message.unsubscribe_url or '-'}")


def write_state(path: Path, info: dict[str, Any]) -> Path | None:
    """The connection info as JSON, readable by this user only (it holds the dummy secret key), written atomically.

    A file that names another running stack is left alone (that stack's ``--local`` keeps working);
    None then, and this stack's connection info is on stdout only.
    """
    path = path.expanduser().absolute()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    previous = _read_state(path)
    if previous is not None and previous.get("pid") != os.getpid() and _is_local_stack(previous.get("pid")):
        click.echo(
            f"note: {path} names another running local stack (pid {previous['pid']}), left as it is; "
            "`orcid-sync --local` means that one (give this one --state-file PATH)",
            err=True,
        )
        return None
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(info, handle, indent=2)
        handle.write("\n")
    partial.replace(path)
    return path


def remove_state(path: Path) -> None:
    """Remove the state file if it is still this process's (another stack may have taken it over)."""
    state = _read_state(path)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _is_local_stack(pid: object) -> bool:
    """Whether ``pid`` is a running process that is a local stack (where /proc says; else any running process)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: running
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"orcid_sync_local" in command_line or b"orcid-sync" in command_line


def _seed_demo(stack: LocalStack) -> str | None:
    """A demo researcher through the admin API over HTTP, as an institution adds one; her signed connect URL."""
    api = ApiClient(stack.api_url, session=stack.session)
    try:
        api.call("PUT", f"/researchers/{DEMO_RESEARCHER['id']}", json_body=DEMO_RESEARCHER)
        link = api.call("POST", f"/researchers/{DEMO_RESEARCHER['id']}/connect-link", json_body={})
    except (ApiError, OSError) as exc:
        click.echo(f"warning: the demo researcher could not be added ({exc}); no connect link", err=True)
        return None
    return str(link["url"])


def _sandbox_client() -> OrcidClient:
    missing = [name for name in ("ORCID_CLIENT_ID", "ORCID_CLIENT_SECRET") if not os.environ.get(name)]
    if missing:
        raise click.UsageError(
            f"--orcid sandbox needs your ORCID sandbox member API client: set {' and '.join(missing)}"
        )
    return OrcidClient(os.environ["ORCID_CLIENT_ID"], os.environ["ORCID_CLIENT_SECRET"])


def _cli_command() -> str:
    """How to call ``orcid-sync`` from here: bare when it is on PATH, else the venv's script (relative when below)."""
    script = Path(sys.executable).parent / "orcid-sync"
    on_path = shutil.which("orcid-sync")
    if not script.exists() or (on_path is not None and Path(on_path).resolve() == script.resolve()):
        return "orcid-sync"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def next_commands(*, seeded: bool, examples: bool) -> list[str]:
    """Three commands to try against the stack just started (from the directory it was started in)."""
    command = _cli_command()
    if examples:
        steps = [
            "researchers load examples/researchers.csv",
            "researchers show grace",
            "connect-link ada",
        ]
    elif seeded:
        steps = ["researchers show ada", "connect-link ada", "jobs status"]
    else:
        steps = ["settings show", "jobs status", "mapping --output table"]
    return [f"{command} {step} --local" for step in steps]


def _tell_people(
    stack: LocalStack,
    mode: OrcidMode,
    *,
    state_file: Path | None,
    connect_url: str | None,
    seeded: bool,
    console: list[str],
) -> None:
    lines = [
        "orcid-sync local stack is up (Ctrl-C to stop)",
        f"  API (connect pages public, admin routes AWS_IAM-signed): {stack.api_url}",
        f"  ORCID ({mode.value}): {stack.orcid_url}",
        f"  AWS (moto, every service): {stack.aws_endpoint_url}",
        f"  OAI-PMH provider ({'fixture records' if seeded else 'empty'}, admin /_provider): {stack.oai_provider_url}",
        f"  ORCID client id: {stack.client_id}",
    ]
    if state_file is not None:
        lines.append(f"  connection info for `orcid-sync --local`: {state_file}")
        lines.append("  the mail it sends (invitations; SES is moto): orcid-sync-local mail")
    if connect_url:
        lines.append(f"  connect page of the demo researcher Ada Lovelace: {connect_url}")
    if mode is OrcidMode.SANDBOX:
        lines.append(f"  register {stack.api_url}/orcid/callback as a redirect URI of your ORCID sandbox client")
    lines += console  # before the commands to try: that list holds commands only
    if state_file is not None:
        examples = (Path.cwd() / "examples" / "researchers.csv").is_file()
        lines.append("Try, in another terminal in this directory:")
        lines += [f"  {command}" for command in next_commands(seeded=seeded, examples=examples)]
    click.echo("\n".join(lines), err=True)


if __name__ == "__main__":
    local()

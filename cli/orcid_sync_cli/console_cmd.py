"""``orcid-sync console add-admin EMAIL``: give a person the admin console, through the stack's Cognito user pool.

The pool is found through the stack's ``ConsoleUserPoolId`` output (``--stack NAME``), or in the running local stack
(``--local``, its state file). A new person is created with ``AdminCreateUser`` and ``DesiredDeliveryMediums EMAIL``:
Cognito e-mails them the invitation (the template's message names the console's URL) with a temporary password they
replace at their first sign-in. Someone who already has an account is only added to the group. ``--viewer`` gives
read-only access (group ``orcid-viewers``) instead of ``orcid-admins``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orcid_sync_cli import output as out
from orcid_sync_cli.api import aws_session
from orcid_sync_cli.errors import API_ERROR, CONFIG, NOT_FOUND, USAGE, CliError
from orcid_sync_cli.options import debug_option, output_option, root_param

if TYPE_CHECKING:
    import boto3

POOL_OUTPUT = "ConsoleUserPoolId"
CONSOLE_OUTPUT = "ConsoleUrl"
ADMINS_GROUP = "orcid-admins"
VIEWERS_GROUP = "orcid-viewers"
# What an address must look like before Cognito is asked (Cognito checks it again).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@click.group("console")
def console() -> None:
    """The admin console: who may sign in."""


def _stack_output(session: boto3.Session, stack_name: str, key: str) -> str:
    from orcid_sync_cli.secret_cmd import stack_output

    return stack_output(session, stack_name, key)


def _local_pool() -> tuple[Any, str, str]:
    """(cognito-idp client on moto, pool id, console URL) of the running local stack."""
    import boto3

    from orcid_sync_cli.local_state import require_running

    state = require_running()
    document = json.loads(Path(state.path).read_text(encoding="utf-8"))
    pool_id, endpoint = document.get("console_user_pool_id"), document.get("aws_endpoint_url")
    if not pool_id or not endpoint:
        raise CliError(f"the local stack in {state.path} has no console user pool (restart it: make run)", NOT_FOUND)
    client = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=state.region,
        aws_access_key_id=state.aws_access_key_id,
        aws_secret_access_key=state.aws_secret_access_key,
    )
    return client, str(pool_id), f"{state.api_url}/console"


def local_temporary_password() -> str:
    """A temporary password within the template's policy (12+ characters, every class): the local stack sends no
    e-mail (and moto makes none up), so ``--local`` sets one and prints it."""
    import secrets

    return f"Tmp-{secrets.token_urlsafe(12)}-a1"


def add_to_console(client: Any, pool_id: str, email: str, group: str, *, temporary_password: str | None = None) -> bool:
    """Invite ``email`` (unless they have an account already) and put them in ``group``; True when invited."""
    from botocore.exceptions import ClientError

    invited = True
    try:
        client.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            DesiredDeliveryMediums=["EMAIL"],
            **({"TemporaryPassword": temporary_password} if temporary_password else {}),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "UsernameExistsException":
            invited = False
        elif code == "InvalidParameterException":
            raise CliError(f"Cognito refused {email}: {exc.response['Error'].get('Message', '')}", USAGE) from None
        elif code == "ResourceNotFoundException":
            raise CliError(f"user pool {pool_id} not found", NOT_FOUND) from None
        else:
            raise
    try:
        client.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise CliError(
                f"group {group} not found in user pool {pool_id}: is the stack's template current?", API_ERROR
            ) from None
        raise
    return invited


@console.command("add-admin")
@click.argument("email")
@click.option("--stack", "stack_name", metavar="NAME", help="The deployed stack (its ConsoleUserPoolId output).")
@click.option("--local", "local", is_flag=True, help="The running local stack (make run) instead.")
@click.option("--viewer", is_flag=True, help=f"Read-only access (group {VIEWERS_GROUP}) instead of {ADMINS_GROUP}.")
@click.option("--profile", metavar="NAME", help="AWS profile (or AWS_PROFILE).")
@click.option("--region", metavar="REGION", help="AWS region (or AWS_REGION / AWS_DEFAULT_REGION).")
@output_option()
@debug_option
def add_admin(  # noqa: PLR0917 - click passes every option
    email: str, stack_name: str | None, local: bool, viewer: bool, profile: str | None, region: str | None, output: str
) -> None:
    """Give EMAIL the admin console of stack NAME: Cognito e-mails them an invitation.

    \b
      orcid-sync console add-admin ada@example.edu --stack orcid-sync
      orcid-sync console add-admin grace@example.edu --stack orcid-sync --viewer

    A person who already has an account is only added to the group (no new invitation).
    """
    email = email.strip()
    if not _EMAIL.match(email):
        raise CliError(f"{email!r} is not an e-mail address", USAGE)
    if bool(stack_name) == local:
        raise CliError("say which stack: --stack NAME (deployed) or --local (make run)", USAGE)
    if stack_name:
        session = aws_session(profile or root_param("profile"), region or root_param("region"))
        if not session.region_name:
            raise CliError(f"no AWS region to look for stack {stack_name} in: give --region (or AWS_REGION)", CONFIG)
        pool_id = _stack_output(session, stack_name, POOL_OUTPUT)
        console_url = _stack_output(session, stack_name, CONSOLE_OUTPUT)
        client = session.client("cognito-idp")
    else:
        client, pool_id, console_url = _local_pool()
    group = VIEWERS_GROUP if viewer else ADMINS_GROUP
    temporary = None if stack_name else local_temporary_password()
    invited = add_to_console(client, pool_id, email, group, temporary_password=temporary)
    result: dict[str, Any] = {
        "email": email,
        "group": group,
        "invited": invited,
        "user_pool_id": pool_id,
        "console_url": console_url,
    }
    if temporary and invited:
        result["temporary_password"] = temporary  # local only: no e-mail is sent
    if output == "json":
        out.emit_json(result)
    elif output == "csv":
        out.emit_fields_csv(result)
    elif invited:
        if temporary:
            click.echo(f"Added {email} to the local console ({group}); temporary password (local only): {temporary}")
        else:
            click.echo(f"Invited {email} to the console ({group}); Cognito e-mails them a temporary password.")
        click.echo(f"They sign in at {console_url}")
    else:
        click.echo(f"{email} already had an account: added to {group}. They sign in at {console_url}")

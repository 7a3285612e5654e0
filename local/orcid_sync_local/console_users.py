"""The local stack's console sign-ins: an admin and a viewer in moto's user pool, with known local passwords.

``orcid-sync-local up --seed-demo`` (``make run``) and ``make demo`` create them, as ``orcid-sync console add-admin``
would but with a password set (locally no e-mail arrives); people sign in with them at the Cognito stand-in.
These passwords open nothing but a local stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEMO_PASSWORD = "Local-console-1!"  # noqa: S105 - a local stack's demo sign-in, printed on purpose


@dataclass(frozen=True)
class ConsoleSignIn:
    email: str
    group: str
    password: str = DEMO_PASSWORD


DEMO_ADMIN = ConsoleSignIn("admin@orcid-sync.local", "orcid-admins")
DEMO_VIEWER = ConsoleSignIn("viewer@orcid-sync.local", "orcid-viewers")


def create_console_user(stack: Any, email: str, password: str, group: str | None) -> None:
    """A person in the stack's console user pool with a permanent password (no invitation: locally none arrives),
    in ``group`` (orcid-admins, orcid-viewers) or in none."""
    pool_id = str(stack.resource("ConsoleUserPool").ref)
    cognito = stack.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    if group:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)


def seed_console_users(stack: Any) -> list[ConsoleSignIn]:
    """Create the demo admin and viewer in the stack's console user pool (none when there is no pool)."""
    try:
        stack.resource("ConsoleUserPool")
    except KeyError:
        return []
    for person in (DEMO_ADMIN, DEMO_VIEWER):
        create_console_user(stack, person.email, person.password, person.group)
    return [DEMO_ADMIN, DEMO_VIEWER]


def sign_in_lines(console_url: str, people: list[ConsoleSignIn]) -> list[str]:
    """What to tell people: the console's URL and each sign-in."""
    lines = [f"  admin console: {console_url}"]
    lines += [f"    sign in as {person.email} / {person.password} ({person.group})" for person in people]
    if not people:
        lines.append("    add a sign-in: orcid-sync console add-admin EMAIL --local (or start with --seed-demo)")
    return lines

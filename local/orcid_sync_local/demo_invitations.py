"""``make demo``'s invitations: an email campaign (a dry run first), the local mailbox, a researcher's click on the link
in her email, the connections report from 0% to 50%, and a permission request in an ORCID inbox.

Each call is the admin API's, as the CLI makes it (``orcid-sync invitations send``, ``report connections``,
``invitations notify-orcid``); the mail is read from moto's SES as ``orcid-sync-local mail`` reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from orcid_sync_local.demo_data import KNOWN_IDENTIFIER, NEWCOMERS
from orcid_sync_local.demo_reading import batch_counts, connect_in_sandbox
from orcid_sync_local.mailbox import SentMail, mail_to, sent_mail

if TYPE_CHECKING:
    from orcid_sync_local.demo import Demo

WAIT_SECONDS = 60
"""How long the walk waits for the invitation worker (an SQS consumer of the local stack) to send."""


def _rate(counts: dict[str, Any]) -> str:
    return (
        f"{counts['invited']} invited, {counts['opened']} opened the link, {counts['connected']} connected "
        f"({counts['connection_rate'] * 100:.0f}%)"
    )


def _short(url: str | None) -> str:
    """The personal link is long (a signed token); its start says what it is."""
    if not url:
        return "(no link)"
    return url if len(url) <= 72 else f"{url[:72]}…"


class InvitationWalk:
    """Steps 11 and 12 of the demo, on the walk's stack, API client and browser session."""

    def __init__(self, walk: Demo) -> None:
        self.walk = walk
        self.api = walk.api
        self.say = walk.say

    def wait_for(self, what: str, ready: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = ready()
            if found:
                return found
            time.sleep(0.3)
        raise click.ClickException(f"{what} did not happen within {WAIT_SECONDS} s")

    def mailbox(self) -> list[SentMail]:
        return sent_mail(self.walk.stack.aws_endpoint_url)

    # --- an email campaign -----------------------------------------------------------------------

    def email_campaign(self) -> None:
        result = self.api.call("POST", "/researchers", json_body=NEWCOMERS)
        names = " and ".join(f"{r['given_names']} {r['family_name']}" for r in NEWCOMERS)
        self.say(f"Two researchers join ({names}; she reads Spanish) and never connect: {batch_counts(result)}.")
        request = {"statuses": ["not_connected"], "dry_run": True}
        dry = self.api.call("POST", "/invitations", json_body=request)
        skipped = ", ".join(f"{s['researcher_id']} ({s['reason']})" for s in dry["skipped"]) or "nobody"
        self.say(
            f"Dry run (orcid-sync invitations send --status not_connected --dry-run): {len(dry['recipients'])} would "
            f"be invited: {', '.join(dry['recipients'])}; skipped: {skipped}. "
            f"Nothing is written or sent: the mailbox holds {len(self.mailbox())} emails."
        )
        started = self.api.call("POST", "/invitations", json_body={**request, "dry_run": False})
        campaign_id = started["campaign"]["campaign_id"]
        self.say(
            f"orcid-sync invitations send --status not_connected: campaign {campaign_id}, "
            f"{len(started['recipients'])} queued; the invitation worker sends through SES at SES's rate."
        )
        self.wait_for(
            "the campaign's emails",
            lambda: (
                self.api.call("GET", f"/invitations/{campaign_id}")["campaign"]["counts"]["sent"]
                >= len(started["recipients"])
            ),
        )
        mails = self.mailbox()
        self.say(f"The local mailbox (orcid-sync-local mail) holds {len(mails)} emails:")
        for mail in mails:
            self.say(f"  to {', '.join(mail.to)}: “{mail.subject}”")
            self.say(f"    connect link {_short(mail.connect_url)}")
            self.say(f"    unsubscribe  {_short(mail.unsubscribe_url)}")
        before = self.api.call("GET", "/reports/connections")
        self.say(f"Connections report (orcid-sync report connections): {_rate(before['overall'])}")
        self.click(mails)
        after = self.api.call("GET", "/reports/connections")
        self.say(f"Connections report now: {_rate(after['overall'])}")
        self.say(
            "orcid-sync report connections --chart rate.png draws the rate day by day; reminders follow by the "
            "'remind' schedule (orcid-sync jobs activate remind)."
        )

    def click(self, mails: list[SentMail]) -> None:
        katherine = NEWCOMERS[0]
        [mail] = mail_to(mails, katherine["email"])
        if mail.connect_url is None:
            raise click.ClickException("Katherine's invitation has no connect link")
        self.say("Katherine opens her email and clicks the link; ORCID asks her to authorise the institution.")
        orcid = connect_in_sandbox(
            self.walk.http,
            mail.connect_url,
            given_names=katherine["given_names"],
            family_names=katherine["family_name"],
            email=katherine["email"],
        )
        self.say(f"She clicks “Authorize access” and lands on our success page: [green]{orcid}[/green]")

    # --- an ORCID inbox permission request -------------------------------------------------------

    def orcid_inbox(self) -> None:
        person = KNOWN_IDENTIFIER
        record = self.walk.sandbox(
            "POST",
            "/_sandbox/researchers",
            json={"given_names": person["given_names"], "family_name": person["family_name"]},
        )
        self.api.call("PUT", f"/researchers/{person['id']}", json_body={**person, "orcid": record["orcid"]})
        self.say(
            f"The repository knows {person['given_names']} {person['family_name']}'s ORCID iD ({record['orcid']}) "
            "from an old profile, but she never connected."
        )
        request = {"researchers": [person["id"]], "language": "en"}
        dry = self.api.call("POST", "/invitations/orcid-inbox", json_body={**request, "dry_run": True})
        self.say(
            f"Dry run (orcid-sync invitations notify-orcid --researchers {person['id']} --dry-run): "
            f"{', '.join(row['outcome'].replace('_', ' ') for row in dry['outcomes'])}."
        )
        sent = self.api.call("POST", "/invitations/orcid-inbox", json_body=request)
        self.say(
            f"ORCID inbox (orcid-sync invitations notify-orcid --researchers {person['id']}): "
            f"{sent['sent']} permission request sent with {sent['orcid_requests']} ORCID requests "
            "(a 2-legged /premium-notification token, then the request)."
        )
        notifications = self.walk.sandbox("GET", "/_sandbox/notifications", params={"orcid": record["orcid"]})
        if not notifications["notifications"]:
            raise click.ClickException("the sandbox holds no permission request for her")
        for item in notifications["notifications"]:
            if not item["authorization-url"]["uri"].startswith(f"{self.walk.stack.api_url}/connect?"):
                raise click.ClickException("the permission request's button does not lead to our connect page")
            names = ", ".join(entry.get("item-name", "?") for entry in item["items"]["item"])
            self.say(
                f"The sandbox's /_sandbox/notifications shows it in her inbox: “{item['notification-subject']}” "
                f"({names}) from {item['source']['source-name']['value']}; its button leads to "
                f"{_short(item['authorization-url']['uri'])} (her signed connect link, not ORCID's authorize URL)."
            )

"""The local mailbox: every email the local stack sent through SES (moto), as a researcher would receive it.

moto keeps each message SES accepted (``SendEmail`` with raw content is what the invitation worker sends) and
lists it in its model dump, ``/moto-api/data.json``; this module reads that dump over HTTP, so it works in the stack's
own process (tests, ``make demo``) and from another one (``orcid-sync-local mail`` beside a running ``up``), and
parses each raw MIME message with the standard library's :mod:`email` package. The links are read from the message
itself: the connect link from the plain-text part (the first URL whose path ends in ``/connect``), the unsubscribe
link from the ``List-Unsubscribe`` header (RFC 2369; the one mail providers use).

The messages are listed in the order SES accepted them. ``sent_at`` is the message's ``Date`` header, which SES
sets to the time it accepted the message (the local SES stand-in does the same, see
:mod:`orcid_sync_local.lambda_glue.ses_events`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["MailboxError", "SentMail", "mail_to", "parse_sent_mail", "sent_mail"]

_URL = re.compile(r"https?://[^\s<>\"']+")
_ANGLE_URL = re.compile(r"<(https?://[^>]+)>")


class MailboxError(RuntimeError):
    """moto could not be read (the stack is not running, or its endpoint is wrong)."""


@dataclass(frozen=True)
class SentMail:
    """One email as received: its headers decoded, its plain-text and HTML parts, and the links in it."""

    message_id: str
    """SES's message id (what SendEmail answered, and what bounce and complaint events name)."""
    sender: str
    to: tuple[str, ...]
    subject: str
    sent_at: datetime | None
    text: str
    html: str
    connect_url: str | None
    unsubscribe_url: str | None
    headers: Mapping[str, str] = field(repr=False)
    raw: str = field(repr=False)

    @property
    def language(self) -> str | None:
        """The HTML part's ``lang`` attribute (``en``, ``es``), when it has one."""
        found = re.search(r"<html[^>]*\blang=\"([A-Za-z-]+)\"", self.html)
        return found.group(1) if found else None

    def as_dict(self) -> dict[str, Any]:
        """What ``orcid-sync-local mail --json`` prints for this message (no raw MIME)."""
        return {
            "message_id": self.message_id,
            "from": self.sender,
            "to": list(self.to),
            "subject": self.subject,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "connect_url": self.connect_url,
            "unsubscribe_url": self.unsubscribe_url,
            "text": self.text,
            "html": self.html,
        }


def sent_mail(aws_endpoint_url: str, *, timeout: float = 10.0) -> list[SentMail]:
    """Every email SES (moto at ``aws_endpoint_url``) accepted, oldest first."""
    try:
        response = requests.get(f"{aws_endpoint_url.rstrip('/')}/moto-api/data.json", timeout=timeout)
        response.raise_for_status()
        dump = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise MailboxError(f"could not read the sent mail from moto at {aws_endpoint_url}: {exc}") from exc
    ses = dump.get("ses") or {}
    return [
        parse_sent_mail(str(entry["id"]), str(entry["raw_data"]))
        for entry in ses.get("RawMessage") or []
        if entry.get("raw_data")
    ]


def mail_to(messages: Iterable[SentMail], address: str) -> list[SentMail]:
    """The messages addressed to ``address`` (compared without case), oldest first."""
    wanted = address.casefold()
    return [message for message in messages if any(to.casefold() == wanted for to in message.to)]


def parse_sent_mail(message_id: str, raw: str) -> SentMail:
    """One raw MIME message as :class:`SentMail`."""
    message = message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage objects
    text = _part(message, "plain")
    html = _part(message, "html")
    return SentMail(
        message_id=message_id,
        sender=str(message.get("From", "")),
        to=tuple(address for _, address in getaddresses([str(v) for v in message.get_all("To", [])]) if address),
        subject=str(message.get("Subject", "")),
        sent_at=_date(message.get("Date")),
        text=text,
        html=html,
        connect_url=_connect_url(text or html),
        unsubscribe_url=_unsubscribe_url(message),
        headers={name: str(value) for name, value in message.items()},
        raw=raw,
    )


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    return str(part.get_content())


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _connect_url(body: str) -> str | None:
    for found in _URL.findall(body):
        url = str(found).rstrip(".,;)")
        if urlsplit(url).path.endswith("/connect"):
            return url.replace("&amp;", "&")
    return None


def _unsubscribe_url(message: EmailMessage) -> str | None:
    found = _ANGLE_URL.search(str(message.get("List-Unsubscribe", "")))
    return found.group(1) if found else None

"""Invitation emails through Amazon SES (v2 ``SendEmail``), rendered from Jinja templates, and their queue.

The message is built as MIME here and sent as SESv2 *raw* content: a ``multipart/alternative`` with the plain-text
and HTML parts, and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` headers
(RFC 8058: mail providers show an unsubscribe button that POSTs to our link). SESv2 simple content can carry
``Headers`` too, but raw content keeps the whole message, headers included, in moto's record of what was sent, so
the tests and the local mailbox read exactly what a researcher receives. Every send names the configuration set,
whose event destination reports bounces and complaints.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import lru_cache
from itertools import batched
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orcid_sync import templates
from orcid_sync.domain.invitations.models import InvitationTask
from orcid_sync.domain.invitations.ports import InvitationContent, MailRefusedError, OutgoingMail

if TYPE_CHECKING:
    from jinja2 import Environment
    from mypy_boto3_sqs.client import SQSClient

# SES answers these for a message it will refuse every time (the SES sandbox's unverified sender or recipient,
# a malformed address, a suppressed recipient, a paused account); anything else may work on a retry.
# CRLF line ends, and header lines up to RFC 5322's 998 characters: a long List-Unsubscribe URL must stay one
# ``<https://…>`` token (folding would RFC 2047-encode it, and mail providers would not find the link).
_MIME_POLICY = policy.SMTP.clone(max_line_length=998)
_REFUSALS = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "SendingPausedException",
        "BadRequestException",
        "NotFoundException",
    }
)


class SesMailSender:
    """Sends one rendered email from the stack's sender identity through its configuration set.

    ``ses`` is a boto3 ``sesv2`` client (no type stubs for SESv2 are installed).
    """

    def __init__(self, ses: Any, *, sender: str, sender_name: str, configuration_set: str) -> None:
        self._ses = ses
        self._sender = sender
        self._sender_name = sender_name
        self._configuration_set = configuration_set

    def mime(self, mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage(policy=_MIME_POLICY)
        message["From"] = formataddr((self._sender_name, self._sender)) if self._sender_name else self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2] or None)
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # Quoted-printable: 7-bit clean on any relay, and still readable in the raw message.
        message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
        return message

    def send(self, mail: OutgoingMail) -> str:
        try:
            response = self._ses.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [mail.to]},
                Content={"Raw": {"Data": self.mime(mail).as_bytes()}},
                ConfigurationSetName=self._configuration_set,
                EmailTags=[{"Name": name, "Value": _tag_value(value)} for name, value in sorted(mail.tags.items())],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REFUSALS:
                # The message names the sender identity or the address: keep only the code.
                raise MailRefusedError(f"SES refused the message ({code})") from None
            raise
        return str(response["MessageId"])


def _tag_value(value: str) -> str:
    # SES tag values: letters, digits, _ - . @ only, at most 256 characters.
    return "".join(c if c.isalnum() or c in "_-.@" else "_" for c in value)[:256]


# --- rendering -------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape  # noqa: PLC0415 - mail only

    return Environment(
        loader=PackageLoader("orcid_sync", "templates"),
        # The HTML part's environment escapes every template it loads (the strings it imports too); the plain-text
        # part is not HTML (escaping would print &amp;). No extension decides: the environment does.
        autoescape=select_autoescape(
            enabled_extensions=(), disabled_extensions=(), default_for_string=html, default=html
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        keep_trailing_newline=True,
    )


class JinjaInvitationRenderer:
    """``templates/email/invitation.{html,txt}.j2`` with the language's strings (``email/strings_<lang>.j2``); the
    scopes in plain words come from the researcher pages' own messages, so the email and the connect page agree."""

    def render(self, content: InvitationContent) -> tuple[str, str, str]:
        lang = content.language if content.language in templates.languages() else templates.DEFAULT_LANGUAGE
        purposes: dict[str, str] = getattr(templates.messages(lang), "scope_purposes")  # noqa: B009 - a Jinja module
        context: dict[str, Any] = {
            "c": content,
            "lang": lang,
            "purposes": [purposes.get(scope, scope) for scope in content.scopes],
        }
        strings = _environment(False).get_template(f"email/strings_{lang}.j2").make_module(context)
        context["s"] = strings
        subject = str(getattr(strings, "subject")).strip()  # noqa: B009 - a Jinja module
        html = _environment(True).get_template("email/invitation.html.j2").render(context)
        text = _environment(False).get_template("email/invitation.txt.j2").render(context)
        return subject, html, text


# --- the queue ---------------------------------------------------------------------------------------


class _EntriesFailedError(Exception):
    pass


class SqsInvitationQueue:
    """One message per email to send, ten per SendMessageBatch (failed entries sent again)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send_invitations(self, tasks: Sequence[InvitationTask]) -> None:
        for batch in batched(tasks, 10, strict=False):
            pending = [{"Id": str(i), "MessageBody": task.model_dump_json()} for i, task in enumerate(batch)]

            def send() -> None:
                nonlocal pending
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=pending)  # type: ignore[arg-type]
                failed = {entry["Id"] for entry in response.get("Failed", [])}
                pending = [entry for entry in pending if entry["Id"] in failed]
                if pending:
                    raise _EntriesFailedError(f"{len(pending)} invitation message(s) not queued")

            Retrying(
                stop=stop_after_attempt(5),
                wait=wait_exponential(multiplier=0.2),
                retry=retry_if_exception_type(_EntriesFailedError),
                reraise=True,
            )(send)

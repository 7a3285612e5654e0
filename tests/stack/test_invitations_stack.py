"""Invitation campaigns on the local stack: from the admin API through SQS, the worker and SES (moto) to the mailbox,
the researcher's click and connection; SES's mailbox simulator's bounces and complaints back through the
configuration set's SNS topic to the mail-events function; unsubscribes; a redelivered message.

The stack is the one users start (``LocalStack`` from template.yaml, its parameters the local ones): nothing here
sets what the template sets. The mail is read as a person reads it, with ``orcid-sync-local mail``'s reader.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orcid_sync_cli.api import ApiClient
from orcid_sync_local.mailbox import SentMail, mail_to, sent_mail
from orcid_sync_local.stack import LOCAL_INVITATION_SENDER, LocalStack
from tests.support.researcher_browser import ResearcherBrowser, authorize_at_sandbox, hosted_link


def _api(stack: LocalStack) -> ApiClient:
    return ApiClient(stack.api_url, session=stack.session)


def _researcher(stack: LocalStack, *, email: str, language: str | None = None) -> str:
    rid = f"inv-{uuid.uuid4().hex[:10]}"
    body: dict[str, Any] = {"id": rid, "given_names": "Rosalind", "family_name": "Franklin", "email": email}
    if language:
        body["language"] = language
    _api(stack).call("PUT", f"/researchers/{rid}", json_body=body)
    return rid


def _campaign(stack: LocalStack, researchers: list[str], *, dry_run: bool = False) -> dict[str, Any]:
    result = _api(stack).call("POST", "/invitations", json_body={"researchers": researchers, "dry_run": dry_run})
    stack.wait_for_queues_idle(timeout=120)
    return dict(result)


def _invitation(stack: LocalStack, campaign_id: str, rid: str) -> dict[str, Any]:
    detail = _api(stack).call("GET", f"/invitations/{campaign_id}")
    return next(i for i in detail["invitations"] if i["researcher_id"] == rid)


def _one_mail(stack: LocalStack, address: str) -> SentMail:
    messages = mail_to(sent_mail(stack.aws_endpoint_url), address)
    assert len(messages) == 1, [m.subject for m in messages]
    return messages[0]


def _unique(local: str) -> str:
    return f"{local}+{uuid.uuid4().hex[:8]}"


def test_a_campaign_mails_the_researcher_who_opens_the_link_and_connects(local_stack: LocalStack) -> None:
    # Given a researcher who reads Spanish
    address = f"{_unique('rosalind')}@example.edu"
    rid = _researcher(local_stack, email=address, language="es")

    # When a campaign invites her
    result = _campaign(local_stack, [rid])
    campaign_id = result["campaign"]["campaign_id"]
    assert result["recipients"] == [rid]

    # Then one email is in the mailbox: from the stack's sender, in Spanish, plain text and HTML, with her links
    mail = _one_mail(local_stack, address)
    assert LOCAL_INVITATION_SENDER in mail.sender
    assert mail.language == "es" and "ORCID" in mail.subject and mail.subject.startswith("Conecte")
    assert mail.text.strip() and mail.html.strip()
    assert mail.connect_url and mail.connect_url.startswith(f"{local_stack.api_url}/connect?")
    assert mail.connect_url in mail.text
    assert mail.unsubscribe_url and mail.unsubscribe_url.startswith(f"{local_stack.api_url}/invitations/unsubscribe")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.sent_at is not None  # the Date SES sets when it accepts the message
    assert _invitation(local_stack, campaign_id, rid)["status"] == "sent"

    # When she opens the link, the campaign records it
    browser = ResearcherBrowser()
    page = browser.get(mail.connect_url)
    assert page.status_code == 200, page.text[:300]
    opened = _invitation(local_stack, campaign_id, rid)
    assert opened["opened_at"] is not None and opened["connected_at"] is None

    # ... and when she connects at the (local) ORCID, she is connected and the campaign says so
    consent = browser.get(hosted_link(page, "/connect/start"))
    done = authorize_at_sandbox(
        browser, consent, mode="register", given_names="Rosalind", family_names="Franklin", email=address
    )
    assert done.status_code == 200, done.text[:500]
    assert _api(local_stack).call("GET", f"/researchers/{rid}")["orcid_status"] == "active"
    assert _invitation(local_stack, campaign_id, rid)["connected_at"] is not None
    # A later campaign naming her skips her: she is connected
    again = _campaign(local_stack, [rid], dry_run=True)
    assert again["recipients"] == [] and again["skipped"] == [{"researcher_id": rid, "reason": "connected"}]


@pytest.mark.parametrize(("simulator", "status"), [("bounce", "bounced"), ("complaint", "complained")])
def test_a_bounce_or_complaint_from_ses_marks_the_address_and_the_next_campaign_skips_it(
    local_stack: LocalStack, simulator: str, status: str
) -> None:
    # Given a researcher whose address is SES's mailbox simulator's
    address = f"{_unique(simulator)}@simulator.amazonses.com"
    rid = _researcher(local_stack, email=address)

    # When a campaign mails her, SES publishes the bounce (complaint) to the configuration set's topic, SNS
    # delivers it to the mail-events function
    campaign_id = _campaign(local_stack, [rid])["campaign"]["campaign_id"]

    # Then the invitation is marked, and the next campaign skips her and mails nothing
    assert _invitation(local_stack, campaign_id, rid)["status"] == status
    _one_mail(local_stack, address)
    later = _campaign(local_stack, [rid])
    assert later["recipients"] == [] and later["skipped"] == [{"researcher_id": rid, "reason": status}]
    _one_mail(local_stack, address)


def test_an_unsubscribe_through_the_page_stops_the_next_campaign(local_stack: LocalStack) -> None:
    address = f"{_unique('maria')}@example.edu"
    rid = _researcher(local_stack, email=address)
    _campaign(local_stack, [rid])
    mail = _one_mail(local_stack, address)
    assert mail.unsubscribe_url

    # Opening the link only asks (mail scanners follow links): nothing changes yet
    browser = ResearcherBrowser()
    page = browser.get(mail.unsubscribe_url)
    assert page.status_code == 200 and "<form" in page.text
    assert _campaign(local_stack, [rid], dry_run=True)["recipients"] == [rid]

    # Confirming unsubscribes her: the next campaign skips her and sends nothing
    done = browser.submit(page, "/invitations/unsubscribe")
    assert done.status_code == 200, done.text[:300]
    later = _campaign(local_stack, [rid])
    assert later["recipients"] == [] and later["skipped"] == [{"researcher_id": rid, "reason": "unsubscribed"}]
    _one_mail(local_stack, address)


def test_a_redelivered_message_sends_no_second_email(local_stack: LocalStack) -> None:
    address = f"{_unique('lise')}@example.edu"
    rid = _researcher(local_stack, email=address)
    result = _campaign(local_stack, [rid])
    _one_mail(local_stack, address)

    # When SQS delivers the same task again (as it may: at-least-once)
    task = {"campaign_id": result["campaign"]["campaign_id"], "researcher_id": rid, "reminder": 0}
    task["base_url"] = result["campaign"]["base_url"]
    sqs = local_stack.client("sqs")
    sqs.send_message(QueueUrl=local_stack.resource("InvitationQueue").ref, MessageBody=json.dumps(task))
    local_stack.wait_for_queues_idle(timeout=120)

    # Then she still has one email, and the invitation is as it was
    _one_mail(local_stack, address)
    assert _invitation(local_stack, task["campaign_id"], rid)["status"] == "sent"


def test_ses_refuses_what_ses_refuses(local_stack: LocalStack) -> None:
    ses = local_stack.client("sesv2")
    raw = {"Raw": {"Data": b"From: orcid-sync@localhost.test\r\nTo: x@example.edu\r\nSubject: hi\r\n\r\nbody"}}
    configuration_set = local_stack.resource("SesConfigurationSet").ref

    # An unknown configuration set
    with pytest.raises(ClientError) as refused:
        ses.send_email(
            FromEmailAddress=LOCAL_INVITATION_SENDER,
            Destination={"ToAddresses": ["x@example.edu"]},
            Content=raw,
            ConfigurationSetName="no-such-set",
        )
    assert refused.value.response["Error"]["Code"] == "NotFoundException"

    # A sender that is not a verified identity
    with pytest.raises(ClientError) as refused:
        ses.send_email(
            FromEmailAddress="someone@elsewhere.test",
            Destination={"ToAddresses": ["x@example.edu"]},
            Content=raw,
            ConfigurationSetName=configuration_set,
        )
    assert refused.value.response["Error"]["Code"] == "MessageRejected"

    # What SES accepts gets SES's Date (the time it accepted it), whatever the sender wrote
    dated = b"Date: Mon, 01 Jan 2001 00:00:00 +0000\r\n" + raw["Raw"]["Data"]
    message_id = ses.send_email(
        FromEmailAddress=LOCAL_INVITATION_SENDER,
        Destination={"ToAddresses": ["dated@example.edu"]},
        Content={"Raw": {"Data": dated}},
        ConfigurationSetName=configuration_set,
    )["MessageId"]
    (mail,) = [m for m in sent_mail(local_stack.aws_endpoint_url) if m.message_id == message_id]
    assert mail.sent_at is not None and mail.sent_at.year > 2001

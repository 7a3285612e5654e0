"""Invitation campaigns over moto: the admin API starts them, the worker mails through moto's SES, the connect pages
record opens and unsubscribes, the mail-events function records bounces, and the remind job reminds.

Mail is read back from moto's record of what SES sent (the raw MIME the worker built), as a researcher gets it.
"""

from __future__ import annotations

import email
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.ses.models import ses_backends

from orcid_sync import composition
from orcid_sync.domain.invitations.models import InvitationStatus
from orcid_sync.domain.jobs.models import JobState
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync_local.function_env import function_environment
from orcid_sync_local.template import PhysicalResource
from tests.integration.conftest import PARAMETERS
from tests.support.apigw import FakeLambdaContext, http_event, response_json
from tests.support.aws import AwsEnv

SENDER = "orcid@library.example.edu"
EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class Mailroom:
    queue_url: str

    def deliver(self, *, receive_count: int = 1) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Everything on the InvitationQueue, as one SQS batch to the worker; the records and its answer."""

        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        records = [_record(message["Body"], receive_count) for message in messages]
        if not records:
            return [], {"batchItemFailures": []}
        return records, self.redeliver(records)

    @staticmethod
    def redeliver(records: list[dict[str, Any]]) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        from functions.invitation_worker import app

        try:
            answer: dict[str, Any] = app.lambda_handler({"Records": records}, FakeLambdaContext())
            return answer
        except BatchProcessingError:
            # Every record failed: Lambda reports the invocation failed and SQS redelivers them all.
            return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}

    @staticmethod
    def sent() -> list[Message]:
        backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        return [email.message_from_string(m.raw_data) for m in backend.sent_messages]

    def sent_to(self, address: str) -> list[Message]:
        return [m for m in self.sent() if m["To"] == address]


def _record(body: str, receive_count: int) -> dict[str, Any]:
    template = json.loads((EVENTS / "push_worker_sqs.json").read_text())["Records"][0]
    return {
        **template,
        "messageId": str(uuid.uuid4()),
        "body": body,
        "attributes": {**template["attributes"], "ApproximateReceiveCount": str(receive_count)},
    }


def _part(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


def _links(text: str) -> list[str]:
    return re.findall(r"https://\S+", text)


@pytest.fixture
def mailroom(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailroom]:
    """The InvitationQueue and SES (the configuration set, the sender verified as the template's identity is), and
    the worker's variables as the template gives them for these resources."""
    queue_url = boto3.client("sqs").create_queue(QueueName="orcid-sync-InvitationQueue")["QueueUrl"]
    sesv2 = boto3.client("sesv2")
    sesv2.create_configuration_set(ConfigurationSetName="orcid-sync-invitations")
    sesv2.create_email_identity(EmailIdentity=SENDER, ConfigurationSetName="orcid-sync-invitations")
    resources = {
        "InvitationQueue": PhysicalResource("InvitationQueue", "AWS::SQS::Queue", queue_url, {}),
        "SesConfigurationSet": PhysicalResource(
            "SesConfigurationSet", "AWS::SES::ConfigurationSet", "orcid-sync-invitations"
        ),
    }
    environment = function_environment(
        "InvitationWorkerFunction",
        parameters={**PARAMETERS, "InvitationSender": SENDER, "InvitationSenderName": "Library ORCID"},
        resources=resources,
    )
    for name in (
        "INVITATION_QUEUE_URL",
        "INVITATION_SENDER",
        "INVITATION_SENDER_NAME",
        "SES_CONFIGURATION_SET",
        "INVITATION_SEND_RATE",
    ):
        monkeypatch.setenv(name, environment[name])
    composition.reset()
    researchers = composition.researcher_store()
    for rid, language in (("ada", None), ("bea", "es")):
        researchers.upsert_profile(
            ResearcherInput(
                id=rid,
                given_names=rid.capitalize(),
                family_name="Lovelace",
                email=f"{rid}@uni.example.edu",
                language=language,
            )
        )
    researchers.upsert_profile(ResearcherInput(id="nomail", given_names="No", family_name="Mail"))
    yield Mailroom(queue_url)
    ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages.clear()


def _admin(method: str, path: str, body: Any = None) -> dict[str, Any]:
    from functions.admin_api import app

    response: dict[str, Any] = app.lambda_handler(http_event(method, path, body=body), FakeLambdaContext())
    return response


def _campaign(body: dict[str, Any]) -> dict[str, Any]:
    response = _admin("POST", "/invitations", body)
    assert response["statusCode"] in (200, 202), response["body"]
    result: dict[str, Any] = response_json(response)
    return result


def test_a_dry_run_lists_who_would_get_mail_and_writes_and_sends_nothing(mailroom: Mailroom) -> None:
    result = _campaign({"statuses": ["not_connected"], "dry_run": True})

    assert result["recipients"] == ["ada", "bea"]
    assert result["skipped"] == [{"researcher_id": "nomail", "reason": "no_email"}]
    assert composition.invitation_store().campaigns() == []
    assert mailroom.deliver()[0] == []
    assert mailroom.sent() == []


def test_a_campaign_mails_each_researcher_their_link_in_their_language(mailroom: Mailroom) -> None:
    result = _campaign({"researchers": ["ada", "bea", "nomail", "ghost"]})
    campaign_id = result["campaign"]["campaign_id"]
    assert {s["researcher_id"]: s["reason"] for s in result["skipped"]} == {
        "nomail": "no_email",
        "ghost": "unknown_researcher",
    }

    _, answer = mailroom.deliver()
    assert answer["batchItemFailures"] == []

    (ada,) = mailroom.sent_to("ada@uni.example.edu")
    assert ada["From"] == f"Library ORCID <{SENDER}>"
    assert ada["Subject"].startswith("Connect your ORCID iD")
    assert ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = _part(ada, "plain"), _part(ada, "html")
    connect, unsubscribe = (link for link in _links(text) if "/connect?" in link or "/unsubscribe?" in link)
    assert connect.startswith("https://orcid-sync.example.edu/connect?link=")
    assert ada["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert connect.replace("&", "&amp;") in html
    assert "adding your research outputs and affiliation to your ORCID record" in text
    # The link is the researcher's own, as connect-link makes it, marked with the campaign.
    query = parse_qs(urlsplit(connect).query)
    claims = composition.link_signer().verify_link(query["link"][0], now=datetime.now(UTC))
    assert claims.researcher_id == "ada"
    assert composition.link_signer().verify_campaign_mark(query["c"][0]) == (campaign_id, "ada")

    (bea,) = mailroom.sent_to("bea@uni.example.edu")
    assert bea["Subject"].startswith("Conecte su ORCID iD")
    assert "Darse de baja" in _part(bea, "plain")

    detail = response_json(_admin("GET", f"/invitations/{campaign_id}"))
    statuses = {i["researcher_id"]: i["status"] for i in detail["invitations"]}
    assert statuses == {"ada": "sent", "bea": "sent", "nomail": "skipped"}
    assert "uni.example.edu" not in json.dumps(detail["invitations"])
    assert detail["campaign"]["counts"]["sent"] == 2


def test_a_redelivered_batch_sends_no_second_email(mailroom: Mailroom) -> None:
    _campaign({"researchers": ["ada"]})
    records, _ = mailroom.deliver()

    answer = mailroom.redeliver(records)

    assert answer["batchItemFailures"] == []
    assert len(mailroom.sent_to("ada@uni.example.edu")) == 1


def test_a_delivery_beside_a_fresh_claim_waits_and_one_after_a_crash_sends(mailroom: Mailroom) -> None:
    """A worker claimed and died before SES: the next delivery waits while the claim is fresh, then sends."""
    from orcid_sync.domain.invitations.campaigns import STALE_CLAIM
    from orcid_sync.domain.invitations.models import Invitation

    result = _campaign({"researchers": ["ada"]})
    campaign_id = result["campaign"]["campaign_id"]
    store = composition.invitation_store()
    crashed = Invitation(campaign_id=campaign_id, researcher_id="ada", status=InvitationStatus.SENDING)
    now = datetime.now(UTC)
    store.claim(crashed, now=now, stale_before=now - STALE_CLAIM)

    records, answer = mailroom.deliver()
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [records[0]["messageId"]]
    assert mailroom.sent() == []

    # The claim goes stale (its worker is gone): the redelivery takes it over and sends, once.
    boto3.resource("dynamodb").Table(os.environ["INVITATIONS_TABLE"]).update_item(
        Key={"pk": f"campaign#{campaign_id}", "sk": "researcher#ada"},
        UpdateExpression="SET claimed_at = :then",
        ExpressionAttributeValues={":then": (now - STALE_CLAIM * 2).isoformat()},
    )
    assert mailroom.redeliver(records)["batchItemFailures"] == []
    assert len(mailroom.sent_to("ada@uni.example.edu")) == 1


def test_an_unsubscribed_researcher_is_skipped_by_later_campaigns(mailroom: Mailroom) -> None:
    from functions.connect import app as connect_app

    _campaign({"researchers": ["ada"]})
    mailroom.deliver()
    (mail,) = mailroom.sent_to("ada@uni.example.edu")
    unsubscribe = next(link for link in _links(_part(mail, "plain")) if "/unsubscribe?" in link)
    token = parse_qs(urlsplit(unsubscribe).query)["token"][0]

    page = connect_app.lambda_handler(
        http_event("GET", "/invitations/unsubscribe", query={"token": token}), FakeLambdaContext()
    )
    assert page["statusCode"] == 200 and "<form" in page["body"]
    assert composition.invitation_store().suppressions(researcher_id="ada", address=None) == []  # GET: nothing
    done = connect_app.lambda_handler(
        http_event(
            "POST",
            "/invitations/unsubscribe",
            query={"token": token},
            body="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        FakeLambdaContext(),
    )
    assert done["statusCode"] == 200

    later = _campaign({"researchers": ["ada", "bea"]})
    assert later["recipients"] == ["bea"]
    assert later["skipped"] == [{"researcher_id": "ada", "reason": "unsubscribed"}]
    forged = connect_app.lambda_handler(
        http_event("POST", "/invitations/unsubscribe", query={"token": token[:-2] + "xx"}), FakeLambdaContext()
    )
    assert forged["statusCode"] == 400


def _ses_event(kind: str, message_id: str, address: str) -> dict[str, Any]:
    body: dict[str, Any] = {"eventType": kind, "mail": {"messageId": message_id, "destination": [address]}}
    if kind == "Bounce":
        body["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address}],
            "timestamp": "2026-03-01T09:00:00.000Z",
        }
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(body)}}]}


def test_a_bounce_marks_the_address_and_stops_mail_to_it(mailroom: Mailroom) -> None:
    from functions.mail_events import app as mail_events

    result = _campaign({"researchers": ["ada"]})
    campaign_id = result["campaign"]["campaign_id"]
    mailroom.deliver()
    invitation = composition.invitation_store().invitation(campaign_id, "ada")
    assert invitation is not None and invitation.message_id

    answer = mail_events.lambda_handler(
        _ses_event("Bounce", invitation.message_id, "ada@uni.example.edu"), FakeLambdaContext()
    )

    assert answer == {"recorded": 1}
    bounced = composition.invitation_store().invitation(campaign_id, "ada")
    assert bounced is not None and bounced.status is InvitationStatus.BOUNCED
    later = _campaign({"researchers": ["ada"]})
    assert later["skipped"] == [{"researcher_id": "ada", "reason": "bounced"}]


def _remind(now: datetime) -> Any:
    from orcid_sync.domain.invitations.campaigns import start_reminders

    return start_reminders(
        composition.job_store(),
        composition.invitation_store(),
        composition.invitation_queue(),
        reminder_days=14,
        max_reminders=2,
        notifier=composition.notifier(),
        invocation_id=uuid.uuid4().hex,
        now=now,
    )


def test_reminders_follow_after_n_days_stop_after_connecting_and_after_m(mailroom: Mailroom) -> None:
    _campaign({"researchers": ["ada", "bea"]})
    mailroom.deliver()
    store = composition.invitation_store()
    now = datetime.now(UTC)

    assert _remind(now).expected == 0  # nobody is due yet
    # Bea connects: her invitations record it, and no reminder follows.
    composition.researcher_store().set_status("bea", OrcidStatus.ACTIVE)
    from orcid_sync.domain.invitations.campaigns import record_connected

    record_connected(store, "bea", now=now)

    for number in (1, 2):
        job = _remind(now + timedelta(days=15 * number))
        assert job.expected == 1
        mailroom.deliver()
        finished = composition.job_store().get(job.job_id)
        assert finished is not None and finished.state is JobState.SUCCEEDED
        assert finished.counts.researchers_updated == 1
    reminders = mailroom.sent_to("ada@uni.example.edu")
    assert [m["Subject"].startswith("Reminder:") for m in reminders] == [False, True, True]
    assert len(mailroom.sent_to("bea@uni.example.edu")) == 1
    # Two reminders is the most: the next run finds nobody.
    assert _remind(now + timedelta(days=60)).expected == 0


def test_an_unverified_sender_is_refused_as_ses_refuses_it(mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVITATION_SENDER", "someone-else@example.org")
    composition.reset()
    result = _campaign({"researchers": ["ada"]})

    _, answer = mailroom.deliver()

    assert answer["batchItemFailures"] == []  # refused for good: not retried
    invitation = composition.invitation_store().invitation(result["campaign"]["campaign_id"], "ada")
    assert invitation is not None and invitation.skip_reason is not None
    assert invitation.skip_reason.value == "refused_by_ses"
    assert mailroom.sent() == []


def test_the_worker_logs_no_address_and_no_link(mailroom: Mailroom, capsys: pytest.CaptureFixture[str]) -> None:
    _campaign({"researchers": ["ada"]})
    mailroom.deliver()
    logged = capsys.readouterr()
    (mail,) = mailroom.sent()
    link = next(link for link in _links(_part(mail, "plain")) if "/connect?" in link)
    for secret in ("ada@uni.example.edu", parse_qs(urlsplit(link).query)["link"][0]):
        assert secret not in logged.out and secret not in logged.err


def test_the_send_rate_is_the_shared_orcid_bucket_under_its_own_key(mailroom: Mailroom) -> None:
    """Every worker draws from one DynamoDB token bucket (the ORCID limiter's class), at InvitationSendRate."""
    ses, orcid = composition.invitation_send_rate(), composition.orcid_rate_limiter()
    assert type(ses) is type(orcid)
    assert (ses.key, ses.rate) == ("ratelimit#ses-send", float(os.environ["INVITATION_SEND_RATE"]))
    assert ses.key != orcid.key

    ses.acquire()

    state = boto3.resource("dynamodb").Table(os.environ["STATE_TABLE"])
    assert state.get_item(Key={"id": "ratelimit#ses-send"}).get("Item") is not None
    assert state.get_item(Key={"id": orcid.key}).get("Item") is None

"""Tokens and secrets never leave the system: the demo's flows with DEBUG logging, then a scan of everything.

The flows (on the local stack, over HTTP): load researchers and assets, connect a researcher through
the hosted page and the sandbox's OAuth, import tokens as a JSON batch and as an uploaded CSV file
(with a rejected row, so a report is written), run a push and a pull, read the jobs, their events,
the pull CSV and the token report, disconnect a researcher (its token is revoked at ORCID), and send an invitation
campaign by email (one delivered and its link opened, one bounced by SES's mailbox simulator).

Then every place a token could end up is searched for every access and refresh token the sandbox
issued to us (and their base64 forms), and for the ORCID client secret and the link-signing key:
log lines (the functions' logger at DEBUG, the root logger at DEBUG, stdout and stderr), API responses
and pages, job events, SNS messages (through an SQS queue subscribed to the topic), every version of
every S3 object, every item of every DynamoDB table, and every email sent (raw MIME). The expected count of hits
is zero; and no invited researcher's email address is in a log line.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from bench.workload import SCOPES, Fleet, Workload, assets_for
from orcid_sync_cli.api import ApiClient
from orcid_sync_local.mailbox import mail_to, sent_mail
from orcid_sync_local.stack import LocalStack

PREFIX = "leak"


class Recorder(logging.Handler):
    """Keeps every record, formatted as the functions' logger formats it (JSON lines, extras included)."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(level=logging.DEBUG)
        if formatter is not None:
            self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is still searched by its raw parts
            self.lines.append(f"{record.msg!r} {record.args!r}")


# botocore's DEBUG output is a wire dump (whole responses, GetSecretValue's included): AWS documents it as
# sensitive, and nothing in Lambda turns it on. These stay at INFO; every other logger, ours first, is at DEBUG
# (urllib3 included: it logs URLs, so a token put in a query string would show).
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer")


@pytest.fixture
def debug_logs(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The functions' Powertools logger and the root logger at DEBUG (POWERTOOLS_LOG_LEVEL=DEBUG), all recorded."""
    # The stack's functions imported it at their cold start; its level was read then, so it is set here too.
    from orcid_sync.observability import logger

    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    loggers = {name: logging.getLogger(name) for name in (logger.name, "", *WIRE_LOGGERS)}
    saved = {name: item.level for name, item in loggers.items()}
    recorders = {
        logger.name: Recorder(logger.registered_formatter),
        "": Recorder(logging.Formatter("%(name)s %(levelname)s %(message)s")),
    }
    for name, recorder in recorders.items():
        loggers[name].addHandler(recorder)
        loggers[name].setLevel(logging.DEBUG)
    for name in WIRE_LOGGERS:
        loggers[name].setLevel(logging.INFO)
    try:
        # Both recorders' lists, live: the test reads them before this fixture is torn down.
        yield [recorders[logger.name].lines, recorders[""].lines]
    finally:
        for name, recorder in recorders.items():
            loggers[name].removeHandler(recorder)
        for name, level in saved.items():
            loggers[name].setLevel(level)


class RecordingApi(ApiClient):
    """The admin API client, keeping every response body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responses: list[str] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        self.responses.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response


def subscribe_queue_to_notifications(stack: LocalStack) -> str:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName="leak-scan-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack.resource("NotificationTopic").ref
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return str(url)


def drain(stack: LocalStack, url: str) -> list[str]:
    sqs, bodies = stack.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )


def every_s3_object(stack: LocalStack) -> dict[str, bytes]:
    """Every version of every object in the stack's buckets (a deleted upload's versions included)."""
    s3, found = stack.client("s3"), {}
    for bucket in (r.ref for r in stack.provisioned.of_type("AWS::S3::Bucket").values()):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
                found[f"s3://{bucket}/{version['Key']}@{version['VersionId']}"] = body.read()
    return found


def every_dynamodb_item(stack: LocalStack) -> dict[str, str]:
    dynamodb, found = stack.client("dynamodb"), {}
    for table in (r.ref for r in stack.provisioned.of_type("AWS::DynamoDB::Table").values()):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for n, item in enumerate(page["Items"]):
                found[f"{table}#{len(found)}.{n}"] = json.dumps(item, default=lambda b: base64.b64encode(b).decode())
    return found


def issued_tokens(stack: LocalStack) -> set[str]:
    """Every access and refresh token the sandbox issued to our client (read from its in-process state)."""
    state = stack.orcid_app.extensions["orcid_sandbox"]
    with state.lock:
        tokens = list(state._tokens.values())  # no public listing: the sandbox never shows token values
    return {
        value
        for token in tokens
        if token.client_id == stack.client_id
        for value in (token.access_token, token.refresh_token)
    }


def stack_secrets(stack: LocalStack) -> set[str]:
    secret_id = stack.resource("OrcidSecret").ref
    document = json.loads(stack.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    return {document["client_secret"], document["signing_key"]}


def connect_through_the_hosted_page(stack: LocalStack, api: RecordingApi, researcher_id: str) -> list[str]:
    """A researcher opens their link, clicks Connect, authorises on the sandbox and lands on our page."""
    pages, http = [], requests.Session()
    link = api.call("POST", f"/researchers/{researcher_id}/connect-link", json_body={})["url"]
    page = http.get(link, timeout=30)
    pages.append(page.text)
    start = re.search(r'href="([^"]*/connect/start[^"]*)"', page.text)
    assert start is not None, page.text[:500]
    authorize = http.get(urljoin(link, html.unescape(start.group(1))), timeout=30)
    form = {
        k: html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', authorize.text)
    }
    form.update(mode="register", given_names="Ada", family_names="Leak", email=f"{researcher_id}@example.edu")
    form["action"] = "authorize"
    action = re.search(r'<form method="post" action="([^"]+)"', authorize.text)
    assert action is not None
    done = http.post(urljoin(authorize.url, html.unescape(action.group(1))), data=form, timeout=30)
    assert done.status_code == 200, done.text[:500]
    pages += [done.text, str(done.url)]
    return pages


def test_no_token_or_secret_appears_anywhere(
    local_stack: LocalStack, debug_logs: list[list[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    stack = local_stack
    api = RecordingApi(stack.api_url, session=stack.session, timeout=300)
    work = Workload(stack)
    work.api = api
    notifications = subscribe_queue_to_notifications(stack)

    # The institution loads researchers (one will connect, three have legacy tokens) and their assets
    work.configure_push()
    connecting = f"{PREFIX}-connect"
    work.load_researchers([{"id": connecting, "given_names": "Ada", "family_name": "Leak"}])
    imported = work.connected_researchers(f"{PREFIX}-import-", 2)  # tokens sent as a JSON batch
    uploaded_ids = [f"{PREFIX}-upload-0"]
    grant = work.sandbox.create_researcher(
        given_names="Up", family_name="Loaded", client_id=stack.client_id, scope=SCOPES
    )
    work.load_researchers(work.researcher_rows(uploaded_ids, {uploaded_ids[0]: grant["orcid"]}))
    everyone = [connecting, *imported.ids, *uploaded_ids]
    work.load_assets([a for rid in everyone for a in assets_for(rid, 3)])

    # A researcher connects through the hosted page
    pages = connect_through_the_hosted_page(stack, api, connecting)

    # A legacy token file is uploaded (one good row, one rejected), imported from S3 and reported
    upload_fleet = Fleet(uploaded_ids, {uploaded_ids[0]: grant["orcid"]}, {uploaded_ids[0]: grant["access_token"]})
    upload_fleet.refresh_tokens[uploaded_ids[0]] = grant["refresh_token"]
    rows = list(work.token_rows(upload_fleet))
    rows.append({**rows[0], "orcid": "0000-0002-1825-0098", "researcher_id": None})  # a bad checksum
    ticket = api.call("POST", "/tokens/uploads", json_body={"format": "csv"})
    assert requests.put(ticket["url"], data=Workload.token_csv(rows), timeout=60).status_code == 200
    stack.wait_for_queues_idle(timeout=120)
    upload = api.call("GET", f"/tokens/uploads/{ticket['upload_id']}")
    assert upload["status"] == "done" and upload["counts"]["stored"] == 1 and upload["counts"]["rejected"] == 1
    if upload.get("report_url"):
        pages.append(requests.get(upload["report_url"], timeout=60).text)

    # The administrator runs a push and a pull for these researchers and reads everything about them
    work.sandbox.register_client("APP-LEAKOTHERSOURCE1", "Another member")
    for rid in everyone:
        orcid = api.call("GET", f"/researchers/{rid}")["orcid"]
        work.sandbox.add_work(orcid, _other_work(rid), source_client_id="APP-LEAKOTHERSOURCE1")
    jobs = [work.wait_job(work.start_job(kind, researchers=everyone)) for kind in ("push", "pull")]
    assert [job["state"] for job in jobs] == ["succeeded", "succeeded"], [work.job_events(j["job_id"]) for j in jobs]
    for job in jobs:
        api.call("GET", f"/jobs/{job['job_id']}")
        work.job_events(job["job_id"])
        api.request("GET", f"/jobs/{job['job_id']}/events", params={"format": "csv"})
    csv_link = api.call("GET", f"/jobs/{jobs[1]['job_id']}/csv")
    pages.append(requests.get(csv_link["url"], timeout=60).text)
    api.call("GET", "/jobs")
    api.call("GET", "/reports/tokens")
    for rid in everyone:
        api.call("GET", f"/researchers/{rid}")
    api.call("GET", "/researchers", params={"limit": 1000})
    # ... and disconnects one researcher: the token is revoked at ORCID and deleted
    api.call("DELETE", f"/researchers/{imported.ids[0]}/orcid")
    stack.wait_for_queues_idle(timeout=120)
    # An invitation campaign by email: one researcher's mail is delivered, another's bounces (SES's mailbox
    # simulator; the bounce comes back through SNS to the mail-events function); the link is opened
    invitees = {f"{PREFIX}-invite-0": f"{PREFIX}-invite-0@example.edu"}
    invitees[f"{PREFIX}-invite-1"] = f"bounce+{PREFIX}@simulator.amazonses.com"
    work.load_researchers(
        [{"id": rid, "given_names": "Inv", "family_name": "Leak", "email": email} for rid, email in invitees.items()]
    )
    campaign = api.call("POST", "/invitations", json_body={"researchers": list(invitees)})["campaign"]
    stack.wait_for_queues_idle(timeout=120)
    invitations = api.call("GET", f"/invitations/{campaign['campaign_id']}")["invitations"]
    assert sorted(i["status"] for i in invitations) == ["bounced", "sent"], invitations
    mails = sent_mail(stack.aws_endpoint_url)
    (invitation_mail,) = mail_to(mails, invitees[f"{PREFIX}-invite-0"])
    assert invitation_mail.connect_url
    pages.append(requests.get(invitation_mail.connect_url, timeout=30).text)

    # Then: the places a token could have ended up
    captured = capfd.readouterr()
    places: dict[str, str | bytes] = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records (ours)": "\n".join(debug_logs[0]),
        "log records (root)": "\n".join(debug_logs[1]),
        "API responses": "\n".join(api.responses),
        "pages, CSV and report": "\n".join(pages),
        "SNS messages": "\n".join(drain(stack, notifications)),
        "emails (raw MIME)": "\n".join(mail.raw for mail in mails),
        **every_s3_object(stack),
        **every_dynamodb_item(stack),
    }
    tokens = issued_tokens(stack)
    secrets = stack_secrets(stack)
    # The scan is only worth something if it saw the flows: tokens issued, logs at DEBUG, notifications sent.
    assert len(tokens) >= 2 * 4, tokens
    assert any(" DEBUG " in line for line in debug_logs[1]) and debug_logs[0]
    assert "job" in places["SNS messages"]
    assert any(key.startswith("s3://") and "/pull/" in key for key in places)

    needles = {
        form: kind
        for kind, values in (("token", tokens), ("secret", secrets))
        for value in values
        for form in (value, base64.b64encode(value.encode()).decode())
    }
    hits = [
        f"{needles[needle]} in {place}"
        for place, text in places.items()
        for needle in needles
        if (needle.encode() in text if isinstance(text, bytes) else needle in text)
    ]
    print(f"scanned {len(places)} places for {len(tokens)} tokens and {len(secrets)} secrets: {len(hits)} hits")
    assert hits == []
    # The invited researchers' addresses are in their records and their emails, never in a log line
    logs = "\n".join([captured.out, captured.err, *debug_logs[0], *debug_logs[1]])
    assert [email for email in invitees.values() if email in logs] == []


def _other_work(rid: str) -> dict[str, Any]:
    return {
        "title": {"title": {"value": f"A work {rid} added elsewhere"}},
        "type": "journal-article",
        "external-ids": {
            "external-id": [
                {"external-id-type": "doi", "external-id-value": f"10.8888/{rid}", "external-id-relationship": "self"}
            ]
        },
    }

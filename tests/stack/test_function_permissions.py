"""Every AWS call each function makes on the local stack is one its role allows, as AWS would judge it.

moto checks no IAM: the push worker once wrote the ledger with ``dynamodb:BatchWriteItem`` that its role did
not allow, and every local test passed. Here the product's flows run on the in-process stack (a researcher
connecting through the hosted page and the sandbox's OAuth; tokens imported by API and by an uploaded file with
a rejected row; pushes and a pull; the settings; "My ORCID": sign-in with ORCID, opt-out, "send it again",
disconnect; an administrator's disconnect; a feed added, tested and harvested from the local OAI-PMH provider;
an invitation campaign by email, a bounce from SES's mailbox simulator, the link opened and an unsubscribe; the
job schedules activated, fired and deactivated) while :class:`AwsCallRecorder` records each function's
calls. Each call is then mapped to the IAM actions and resource ARNs it needs (``tests/support/iam_policies``:
TransactWriteItems per item, GSI ARNs, S3 object ARNs, the KMS calls S3, SNS and Secrets Manager make as the
caller for SSE-KMS) and held against the function's role from the SAM-transformed template, resolved against
the local stack's resources. A refusal names the function, the action, the resource and the statement needed.

What it cannot check: conditions on keys other than ``kms:ViaService``, ``kms:EncryptionContext:*`` and
``s3:prefix`` are taken as met (they are listed when the run is verbose); resource policies (bucket and key
policies), presigned URLs (they act with the presigning role when used, and are not calls) and code paths the
flows do not reach.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench.workload import SCOPES, Fleet, Workload, assets_for
from orcid_sync_local.lambda_glue import AwsCall, AwsCallRecorder
from orcid_sync_local.mailbox import mail_to, sent_mail
from orcid_sync_local.stack import LocalStack
from tests.support.console_browser import console_user
from tests.support.iam_policies import (
    Requirement,
    RolePolicy,
    StackArns,
    Statement,
    check_calls,
    function_roles,
    requirements,
)
from tests.support.researcher_browser import ResearcherBrowser, authorize_at_sandbox, hosted_link

OTHER_SOURCE = "APP-PERMOTHERSOURCE1"


def _cold_caches(_function: str) -> None:
    """As each invocation starts, forget the product's cached clients, secrets and data keys: in AWS each function
    has its own containers, and here one function's cache would spare another a call its role must allow."""
    # The stack's copy of the product (it re-imports the product's modules when it starts).
    from orcid_sync import composition

    composition.reset()


@pytest.fixture
def recorded(local_stack: LocalStack) -> Iterator[AwsCallRecorder]:
    with AwsCallRecorder(before_invocation=_cold_caches) as recorder:
        yield recorder


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


def _works(work: Workload, orcid: str) -> list[dict[str, Any]]:
    return list(work.sandbox.call("GET", f"/_sandbox/records/{orcid}")["works"])


def _run(work: Workload, kind: str, researchers: list[str], state: str | None = "succeeded") -> dict[str, Any]:
    job = work.wait_job(work.start_job(kind, researchers=researchers), timeout=120)
    assert state is None or job["state"] == state, work.job_events(job["job_id"])
    return job


def run_the_product(stack: LocalStack) -> None:
    """The product's flows, over HTTP, as an institution, its administrator and its researchers use them."""
    work = Workload(stack)
    api = work.api
    tag = uuid.uuid4().hex[:6]

    # Settings: read, preview, save; the mapping
    work.configure_push()
    settings = api.call("GET", "/settings")
    api.call("POST", "/settings/preview", json_body={k: v for k, v in settings.items() if k != "updated_at"})
    api.call("GET", "/settings/mapping")

    # Researchers: one connects through the hosted page, two have tokens sent as JSON, one in an uploaded file
    connecting = f"perm-{tag}-connect"
    work.load_researchers([{"id": connecting, "given_names": "Ada", "family_name": "Perm"}])
    imported = work.connected_researchers(f"perm-{tag}-import-", 2)
    uploaded = f"perm-{tag}-upload"
    grant = work.sandbox.create_researcher(
        given_names="Up", family_name="Loaded", client_id=stack.client_id, scope=SCOPES
    )
    work.load_researchers(work.researcher_rows([uploaded], {uploaded: grant["orcid"]}))
    everyone = [connecting, *imported.ids, uploaded]
    work.load_assets([a for rid in everyone for a in assets_for(rid, 3)])
    api.call(
        "PUT", f"/assets/{everyone[0]}-extra", json_body={**assets_for(everyone[0], 4)[3], "id": f"{everyone[0]}-extra"}
    )
    api.call("DELETE", f"/assets/{everyone[0]}-extra")

    browser = ResearcherBrowser()
    link = api.call("POST", f"/researchers/{connecting}/connect-link", json_body={})["url"]
    consent = browser.get(hosted_link(browser.get(link), "/connect/start"))
    done = authorize_at_sandbox(
        browser, consent, mode="register", given_names="Ada", family_names="Perm", email=f"{connecting}@example.edu"
    )
    assert done.status_code == 200, done.text[:500]
    connected_orcid = api.call("GET", f"/researchers/{connecting}")["orcid"]

    fleet = Fleet([uploaded], {uploaded: grant["orcid"]}, {uploaded: grant["access_token"]})
    fleet.refresh_tokens[uploaded] = grant["refresh_token"]
    rows = list(work.token_rows(fleet))
    rows.append({**rows[0], "orcid": "0000-0002-1825-0098", "researcher_id": None})  # a bad checksum: rejected
    ticket = api.call("POST", "/tokens/uploads", json_body={"format": "csv"})
    assert requests.put(ticket["url"], data=Workload.token_csv(rows), timeout=60).status_code == 200
    stack.wait_for_queues_idle(timeout=120)
    upload = api.call("GET", f"/tokens/uploads/{ticket['upload_id']}")
    assert upload["status"] == "done" and upload["counts"]["rejected"] == 1, upload

    # A push and a pull; the administrator reads what they did
    work.sandbox.register_client(OTHER_SOURCE, "Another member")
    for rid in everyone:
        orcid = api.call("GET", f"/researchers/{rid}")["orcid"]
        work.sandbox.add_work(orcid, _other_work(rid), source_client_id=OTHER_SOURCE)
    push = _run(work, "push", everyone)
    pull = _run(work, "pull", everyone)
    for job in (push, pull):
        api.call("GET", f"/jobs/{job['job_id']}")
        work.job_events(job["job_id"])
    api.call("GET", f"/jobs/{pull['job_id']}/csv")
    api.call("GET", "/jobs")
    api.call("GET", "/reports/tokens")
    api.call("GET", "/researchers", params={"limit": 100})
    api.call("GET", f"/researchers/{connecting}/outputs")

    # "My ORCID": the researcher signs in with ORCID, opts out of one output, deletes another on ORCID, which the
    # next push notices, and asks for it to be sent again; then disconnects
    me = browser.get(f"{stack.api_url}/me/signin")
    page = authorize_at_sandbox(browser, me, mode="signin", signin_id=connected_orcid)
    assert page.status_code == 200 and "/me/outputs/" in page.text, page.text[:500]
    opted_out, deleted = f"{connecting}-a0001", f"{connecting}-a0002"
    ours = {w["self_ids"][0]["normalized"]: w["put_code"] for w in _works(work, connected_orcid) if w["self_ids"]}
    deleted_code = next(code for doi, code in ours.items() if doi.endswith(f"{connecting}.2".lower()))
    page = browser.submit(page, f"/me/outputs/{opted_out}/opt-out")
    assert "done=opted_out" in page.url, page.url
    work.sandbox.call("DELETE", f"/_sandbox/records/{connected_orcid}/works/{deleted_code}")
    edited = api.call("GET", f"/assets/{deleted}")  # a changed asset makes the push find it gone from ORCID
    fields = {k: v for k, v in edited.items() if k not in ("updated_at", "created_at")}
    api.call("PUT", f"/assets/{deleted}", json_body=fields | {"title": "Findings, revised"})
    _run(work, "push", [connecting])
    page = browser.get(f"{stack.api_url}/me")
    page = browser.submit(page, f"/me/outputs/{deleted}/send-again")
    assert "done=send_again" in page.url, page.url
    _run(work, "push", [connecting])
    page = browser.get(f"{stack.api_url}/me")
    page = browser.submit(page, f"/me/outputs/{opted_out}/opt-in")
    assert "done=" in page.url, page.url
    confirm = browser.get(f"{stack.api_url}/me/disconnect")
    gone = browser.submit(confirm, "/me/disconnect")
    assert gone.status_code == 200, gone.text[:500]
    # ... and the administrator disconnects another researcher (their token is revoked at ORCID)
    api.call("DELETE", f"/researchers/{imported.ids[0]}/orcid")
    # A pull with nobody to pull ends in the scheduler (it writes the run's empty CSV itself)
    _run(work, "pull", [connecting])
    # Researchers who revoked our access on ORCID: the push and the pull find out and record it
    for rid in (uploaded, imported.ids[1]):
        work.sandbox.call("POST", f"/_sandbox/records/{api.call('GET', f'/researchers/{rid}')['orcid']}/revoke")
    _run(work, "push", [uploaded], state=None)
    _run(work, "pull", [imported.ids[1]], state=None)

    # A feed from the local OAI-PMH provider: tested, added, harvested
    orcids = {"ada": imported.orcids[imported.ids[1]], "alan": grant["orcid"], "grace": connected_orcid}
    stack.oai_provider.load_fixtures(60, orcids=orcids)
    feed = {"feed_id": f"perm-{tag}", "base_url": stack.oai_provider_url, "profile": "dspace"}
    api.call("POST", "/feeds/test", json_body={"base_url": stack.oai_provider_url, "profile": "dspace", "limit": 10})
    api.call("POST", "/feeds", json_body=feed)
    harvest = api.call("POST", f"/feeds/{feed['feed_id']}/run", json_body={})
    job = work.wait_job(harvest["job_id"], timeout=120)
    assert job["state"] in ("succeeded", "completed_with_errors"), work.job_events(job["job_id"])
    api.call("GET", "/feeds")
    api.call("GET", f"/feeds/{feed['feed_id']}")

    # The admin console: every page, and each change it makes (through the same use cases as the admin API)
    console = console_user(stack, f"perm-{tag}@example.edu", "orcid-admins")
    for path in ("/console", "/console/jobs", f"/console/jobs/{push['job_id']}", "/console/researchers",
                 f"/console/researchers/{connecting}", "/console/researchers/attention", "/console/settings",
                 "/console/tokens", f"/console/tokens/{ticket['upload_id']}", "/console/about",
                 "/console/audit", "/console/researchers?status=active"):  # fmt: skip
        console.page(path)
    console.page("/console/researchers", q="Perm")
    console.page("/console/researchers", q=connected_orcid)  # an iD: the by-orcid index
    console.page(f"/console/jobs/{push['job_id']}/progress")
    assert console.page(f"/console/tokens/{ticket['upload_id']}/rejected.csv").text.count("\n") == 2
    assert console.get(f"{stack.api_url}/console/jobs/{pull['job_id']}/csv", allow_redirects=False).status_code == 303
    console.page("/console/settings")
    console_form = {"version": str(api.call("GET", "/settings")["version"]), "send_assets": "on"}
    assert console.submit("/console/settings/preview", console_form).status_code == 200
    assert console.submit("/console/settings", {**console_form, "confirm": "save"}).status_code == 303
    console.page("/console")
    assert console.submit("/console/schedules/pull", {"enabled": "true"}).status_code == 303
    assert console.submit("/console/schedules/pull", {"enabled": "false"}).status_code == 303
    console.page("/console/jobs")
    run = console.submit("/console/jobs", {"type": "push", "researchers": connecting, "dry_run": "true"})
    assert run.status_code == 303, run.text[:500]
    console.page(f"/console/researchers/{connecting}")
    assert console.submit(f"/console/researchers/{connecting}/connect-link").status_code == 200
    assert console.submit(f"/console/researchers/{connecting}/push", {"dry_run": "true"}).status_code == 303
    console.page(f"/console/researchers/{imported.ids[1]}/disconnect")
    assert console.submit(f"/console/researchers/{imported.ids[1]}/disconnect").status_code == 303
    console.page("/console/tokens")
    upload_body = Workload.token_csv(rows[-1:])
    sent = console.submit("/console/tokens", files={"file": ("tokens.csv", upload_body, "text/csv")})
    assert sent.status_code == 303, sent.text[:500]
    stack.wait_for_queues_idle(timeout=120)
    console.page(sent.headers["Location"].split("?")[0])

    # Invitations: a campaign by email (the worker sends through SES; SES's mailbox simulator bounces one, and the
    # bounce comes back through the configuration set's topic to the mail-events function); the link opened, an
    # unsubscribe through the page
    invited, bouncing = f"perm-{tag}-invited", f"perm-{tag}-bouncing"
    work.load_researchers(
        [
            {"id": invited, "given_names": "Inv", "family_name": "Perm", "email": f"{invited}@example.edu"},
            {
                "id": bouncing,
                "given_names": "Bou",
                "family_name": "Perm",
                "email": f"bounce+{tag}@simulator.amazonses.com",
            },
        ]
    )
    campaign = api.call("POST", "/invitations", json_body={"researchers": [invited, bouncing]})["campaign"]
    stack.wait_for_queues_idle(timeout=120)
    statuses = {
        i["researcher_id"]: i["status"]
        for i in api.call("GET", f"/invitations/{campaign['campaign_id']}")["invitations"]
    }
    assert statuses == {invited: "sent", bouncing: "bounced"}, statuses
    api.call("GET", "/invitations")
    (mail,) = mail_to(sent_mail(stack.aws_endpoint_url), f"{invited}@example.edu")
    assert mail.connect_url and mail.unsubscribe_url
    invitee = ResearcherBrowser()
    assert invitee.get(mail.connect_url).status_code == 200
    unsubscribed = invitee.submit(invitee.get(mail.unsubscribe_url), "/invitations/unsubscribe")
    assert unsubscribed.status_code == 200, unsubscribed.text[:300]

    # The schedules: activated, fired as the daily trigger does, deactivated; "run now" of each
    schedules = (
        ("push", "PushScheduleRule"),
        ("pull", "PullScheduleRule"),
        ("feed", "FeedRule"),
        ("remind", "RemindRule"),
    )
    for kind, rule in schedules:
        api.call("PUT", f"/jobs/schedules/{kind}", json_body={"enabled": True})
        try:
            assert stack.fire_schedule(rule, respect_enabled=True).fired
            stack.wait_for_queues_idle(timeout=120)
        finally:
            api.call("PUT", f"/jobs/schedules/{kind}", json_body={"enabled": False})
    api.call("GET", "/jobs/schedules")
    api.call("DELETE", f"/feeds/{feed['feed_id']}")
    # The audit log the changes above wrote (PutItem), listed (Query).
    assert api.call("GET", "/audit", params={"limit": 5})["entries"]
    stack.wait_for_queues_idle(timeout=120)


def _key_arn(stack: LocalStack) -> Any:
    return lambda key_id: str(stack.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])


def test_every_call_a_function_makes_is_allowed_by_its_role(
    local_stack: LocalStack, recorded: AwsCallRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack's functions and their roles as the SAM transform makes them
    roles = function_roles(local_stack.provisioned)
    arns = StackArns(local_stack.provisioned, _key_arn(local_stack))

    # When the product's flows run
    run_the_product(local_stack)
    recorded.stop()
    calls = recorded.calls

    # Then every function was seen at work (else the check below proves little) ...
    assert set(roles) - {call.function for call in calls} == set(), "functions the flows never ran"
    refusals, unmapped, decisions = check_calls(calls, roles, arns)
    with capsys.disabled():
        print(permissions_report(calls, decisions, roles))
    # ... every call maps to IAM actions ...
    assert unmapped == [], "\n".join(unmapped)
    # ... and every action is allowed by the function's role
    assert refusals == [], "calls the functions' roles do not allow:\n" + "\n".join(refusals)


def permissions_report(calls: dict[AwsCall, int], decisions: list[Any], roles: dict[str, RolePolicy]) -> str:
    """What each function called, which statements allowed it (conditions taken as met flagged), and the
    granted actions nothing exercised (candidates for a narrower role; checked by hand before removing)."""
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    lines = ["", "AWS calls by function (count):"]
    for call, requirement, decision in decisions:
        if decision.statement is not None:
            used[call.function].add((decision.statement.name, requirement.action))
    summary: dict[tuple[str, str, str], int] = defaultdict(int)
    for call, count in calls.items():
        summary[(call.function, call.service, call.operation)] += count
    for (function, service, operation), count in sorted(summary.items()):
        lines.append(f"  {function}: {service} {operation} x{count}")
    flagged = {
        (call.function, requirement.action, decision.statement.name)
        for call, requirement, decision in decisions
        if decision.unevaluated_condition and decision.statement is not None
    }
    for function, action, statement in sorted(flagged):
        lines.append(f"  condition taken as met: {function} {action} by {statement}")
    lines.append("Granted but never used by these flows:")
    for function, role in sorted(roles.items()):
        idle = [
            f"{statement.name}:{action}"
            for statement in role.statements
            if statement.effect == "Allow" and not statement.policy.startswith("AWS")
            for action in statement.actions
            if not any(
                name == statement.name
                and Statement.parse("", {"Action": action, "Resource": "*"}).covers(Requirement(needed, "*"))
                for name, needed in used[function]
            )
        ]
        if idle:
            lines.append(f"  {function}: {', '.join(idle)}")
    return "\n".join(lines)


# --- the evaluation itself, on hand-made calls (no flows) ------------------------------------------------------


def _role(*raw: dict[str, Any]) -> RolePolicy:
    return RolePolicy("Role", [Statement.parse("Policy", statement) for statement in raw], [])


def test_transactions_need_the_per_item_actions_on_each_table(local_stack: LocalStack) -> None:
    arns = StackArns(local_stack.provisioned, _key_arn(local_stack))
    call = AwsCall(
        "F", "dynamodb", "TransactWriteItems", (("Update", "jobs"), ("Delete", "state"), ("ConditionCheck", "jobs"))
    )
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/"

    needed = {(r.action, r.resource) for r in requirements(call, arns)}
    role = _role({"Effect": "Allow", "Action": ["dynamodb:UpdateItem", "dynamodb:DeleteItem"], "Resource": f"{table}*"})

    assert needed == {
        ("dynamodb:UpdateItem", f"{table}jobs"),
        ("dynamodb:DeleteItem", f"{table}state"),
        ("dynamodb:ConditionCheckItem", f"{table}jobs"),
    }
    refused = [r.action for r in requirements(call, arns) if not role.decide(r).allowed]
    assert refused == ["dynamodb:ConditionCheckItem"]


def test_an_index_query_needs_the_index_arn_and_a_table_grant_is_not_enough(local_stack: LocalStack) -> None:
    arns = StackArns(local_stack.provisioned, _key_arn(local_stack))
    (query,) = requirements(AwsCall("F", "dynamodb", "Query", (("TableName", "t"), ("IndexName", "by-orcid"))), arns)
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"

    assert query.resource == f"{table}/index/by-orcid"
    assert not _role({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": table}).decide(query).allowed
    assert _role({"Effect": "Allow", "Action": "dynamodb:*", "Resource": f"{table}/index/*"}).decide(query).allowed


def test_kms_conditions_are_evaluated_and_a_deny_wins(local_stack: LocalStack) -> None:
    arns = StackArns(local_stack.provisioned, _key_arn(local_stack))
    key = local_stack.resource("TokenKey")
    direct = AwsCall(
        "F", "kms", "Decrypt", (("KeyId", str(key.ref)), ("EncryptionContext:purpose", "orcid-sync-token"))
    )
    (requirement,) = requirements(direct, arns)
    via_secrets = {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    purpose = {"StringEquals": {"kms:EncryptionContext:purpose": "orcid-sync-token"}}
    allow = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key.get_att("Arn")}

    assert requirement.resource == key.get_att("Arn")
    assert not _role({**allow, "Condition": via_secrets}).decide(requirement).allowed  # a direct call is not "via"
    assert _role({**allow, "Condition": purpose}).decide(requirement).allowed
    assert (
        not _role({**allow, "Condition": purpose}, {"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
        .decide(requirement)
        .allowed
    )
    unknown = _role({**allow, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}).decide(requirement)
    assert unknown.allowed and unknown.unevaluated_condition


def test_s3_on_an_sse_kms_bucket_needs_the_key_through_s3(local_stack: LocalStack) -> None:
    arns = StackArns(local_stack.provisioned, _key_arn(local_stack))
    bucket = str(local_stack.resource("DataBucket").ref)
    put = AwsCall("F", "s3", "PutObject", (("Bucket", bucket), ("Key", "pull/job/part-1.csv")))

    needed = {(r.action, r.resource, r.context) for r in requirements(put, arns)}

    key_arn = local_stack.resource("TokenKey").get_att("Arn")
    assert needed == {
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/pull/job/part-1.csv", ()),
        ("kms:GenerateDataKey", key_arn, (("kms:ViaService", "s3.us-east-1.amazonaws.com"),)),
    }
    listing = Requirement("s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", "uploads/"),))
    pull_only = {"StringLike": {"s3:prefix": ["pull/*"]}}
    role = _role(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}", "Condition": pull_only}
    )
    assert not role.decide(listing).allowed

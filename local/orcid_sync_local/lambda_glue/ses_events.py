"""The stand-in for what SES does around a send that moto does not: its ``Date`` header, its refusals, its events.

moto's SESv2 ``SendEmail`` checks the sender identity and keeps the message, and ignores the rest. SES also:

- refuses a ``ConfigurationSetName`` that does not exist (``NotFoundException``);
- sets the ``Date`` header of a raw message to the time it accepted it (replacing any the sender wrote);
- publishes the events of the configuration set the message was sent through (named, or else the sender identity's
  default configuration set) to its event destinations. Locally the recipients are nobody's mailboxes, so the
  events are those of SES's **mailbox simulator** (``https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-
  console.html``): ``bounce@simulator.amazonses.com`` bounces (Permanent/General, ``550 5.1.1 user unknown``),
  ``suppressionlist@…`` bounces as on the account's suppression list (Permanent/OnAccountSuppressionList),
  ``complaint@…`` is delivered and then complained about (feedback type ``abuse``), and every other address,
  ``success@…`` included, is delivered. A ``+label`` after the local part is allowed, as SES allows it. Each event
  goes out in SES's event-publishing shape (``eventType``, ``mail`` with the headers and tags, and the
  ``bounce``/``complaint``/``delivery``/``send`` object), one per recipient, to the destination's SNS topic, where
  the glue's SNS delivery (:mod:`.sns`) hands it to the topic's Lambda subscribers.

SES publishes to a topic only if the topic's policy lets ``ses.amazonaws.com`` publish (for this account and
configuration set) and, for an encrypted topic, the key's policy lets SES use the key (``kms:GenerateDataKey*`` and
``kms:Decrypt``); the AWS managed key ``alias/aws/sns`` never does. Otherwise SES drops the event: so does this
stand-in, with a warning naming what is missing. Only Allow/Deny statements with service or ``*`` principals and the
``StringEquals``/``StringLike``/``ArnEquals``/``ArnLike`` conditions on ``aws:SourceAccount``/``aws:SourceArn`` are
understood; any other condition counts as not met (refused rather than wrongly allowed).
"""

from __future__ import annotations

import base64
import json
import queue
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime, getaddresses, parseaddr
from fnmatch import fnmatchcase
from typing import Any, Final

from botocore.exceptions import ClientError

from ..provision import ProvisionedStack
from .aws_requests import AwsAnswer, AwsRequest
from .shared import ActivityTracker, log

SIMULATOR_DOMAIN: Final = "simulator.amazonses.com"
SES_PRINCIPAL: Final = "ses.amazonaws.com"
_SEND_PATH: Final = "/v2/email/outbound-emails"
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class EventDestination:
    """An SNS event destination of a configuration set, as the template declares it."""

    configuration_set: str
    name: str
    enabled: bool
    event_types: frozenset[str]  # lower case: send, delivery, bounce, complaint ...
    topic_arn: str


def event_destinations(stack: ProvisionedStack) -> list[EventDestination]:
    destinations: list[EventDestination] = []
    for logical_id in stack.of_type("AWS::SES::ConfigurationSetEventDestination"):
        props = stack.properties[logical_id]
        destination = props["EventDestination"]
        topic = (destination.get("SnsDestination") or {}).get("TopicARN")
        if not topic:
            continue  # provision/ses.py refuses other destinations
        destinations.append(
            EventDestination(
                configuration_set=str(props["ConfigurationSetName"]),
                name=str(destination.get("Name", logical_id)),
                enabled=str(destination.get("Enabled", True)).lower() == "true",
                event_types=frozenset(str(kind).lower() for kind in destination.get("MatchingEventTypes") or []),
                topic_arn=str(topic),
            )
        )
    return destinations


@dataclass(frozen=True)
class _Accepted:
    message_id: str
    configuration_set: str | None
    source: str
    destinations: tuple[str, ...]
    tags: dict[str, str]
    headers: tuple[tuple[str, str], ...]
    accepted_at: datetime


class SesStandIn:
    """The request hook (see :mod:`.aws_requests`) for SESv2 ``SendEmail``; a worker thread publishes the events."""

    services = frozenset({"ses"})

    def __init__(self, stack: ProvisionedStack, clients: Callable[[str], Any], tracker: ActivityTracker) -> None:
        self._destinations = event_destinations(stack)
        self._account = stack.identity.account_id
        self._region = stack.identity.region
        self._clients = clients
        self._tracker = tracker
        self._accepted: queue.Queue[_Accepted | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ses-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._accepted.put(None)

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def pending(self) -> int:
        return self._accepted.unfinished_tasks

    # --- the request hook ---

    def before(self, request: AwsRequest) -> AwsAnswer | None:
        if request.method != "POST" or request.path != _SEND_PATH:
            return None
        params = json.loads(request.body or b"{}")
        name = params.get("ConfigurationSetName")
        if name and not self._configuration_set_exists(str(name)):
            return _ses_error(404, "NotFoundException", f"Configuration set <{name}> does not exist.")
        accepted_at = datetime.now(UTC).replace(microsecond=0)
        raw = (params.get("Content") or {}).get("Raw")
        if raw:
            data = _with_date(base64.b64decode(raw["Data"]), accepted_at)
            raw["Data"] = base64.b64encode(data).decode()
            request.body = json.dumps(params).encode()
        request.notes["ses"] = (params, accepted_at)
        return None

    def after(self, request: AwsRequest, answer: AwsAnswer) -> None:
        noted = request.notes.get("ses")
        if noted is None or not answer.ok:
            return
        params, accepted_at = noted
        destination = params.get("Destination") or {}
        recipients = tuple(
            address for key in ("ToAddresses", "CcAddresses", "BccAddresses") for address in destination.get(key) or []
        )
        raw = (params.get("Content") or {}).get("Raw")
        headers: tuple[tuple[str, str], ...] = ()
        if raw:
            message = message_from_bytes(base64.b64decode(raw["Data"]), policy=policy.compat32)
            headers = tuple((name, str(value)) for name, value in message.items())
            if not recipients:
                recipients = tuple(a for _, a in getaddresses(message.get_all("To", []) + message.get_all("Cc", [])))
        self._accepted.put(
            _Accepted(
                message_id=str(json.loads(answer.body)["MessageId"]),
                configuration_set=params.get("ConfigurationSetName"),
                source=str(params.get("FromEmailAddress") or dict(headers).get("From", "")),
                destinations=recipients,
                tags={str(tag["Name"]): str(tag["Value"]) for tag in params.get("EmailTags") or []},
                headers=headers,
                accepted_at=accepted_at,
            )
        )

    def _configuration_set_exists(self, name: str) -> bool:
        try:
            self._clients("sesv2").get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise
        return True

    # --- the events ---

    def _run(self) -> None:
        while True:
            item = self._accepted.get()
            try:
                if item is None:
                    return
                with self._tracker.working():
                    self._publish_events(item)
            except Exception:
                log.exception("the SES stand-in could not publish the events of a message")
            finally:
                self._accepted.task_done()

    def _publish_events(self, accepted: _Accepted) -> None:
        configuration_set = accepted.configuration_set or self._default_configuration_set(accepted.source)
        if not configuration_set:
            return
        destinations = [
            d for d in self._destinations if d.configuration_set == configuration_set and d.enabled and d.event_types
        ]
        if not destinations:
            return
        mail = self._mail_object(accepted, configuration_set)
        events = [("send", {"eventType": "Send", "send": {}, "mail": mail})]
        events += [
            (kind, {**record, "mail": mail})
            for address in accepted.destinations
            for kind, record in simulated_outcome(address, accepted.accepted_at)
        ]
        for destination in destinations:
            wanted = [event for kind, event in events if kind in destination.event_types]
            if not wanted:
                continue
            refusal = self._why_ses_cannot_publish(destination, configuration_set)
            if refusal:
                log.warning(
                    "SES cannot publish to %s (event destination %s of %s): %s; the event is lost, as on AWS",
                    destination.topic_arn,
                    destination.name,
                    configuration_set,
                    refusal,
                )
                continue
            for event in wanted:
                self._clients("sns").publish(TopicArn=destination.topic_arn, Message=json.dumps(event))

    def _default_configuration_set(self, source: str) -> str | None:
        address = parseaddr(source)[1]
        for identity in (address, address.rpartition("@")[2]):
            try:
                found = self._clients("sesv2").get_email_identity(EmailIdentity=identity)
            except ClientError:
                continue
            return found.get("ConfigurationSetName")  # type: ignore[no-any-return]
        return None

    def _mail_object(self, accepted: _Accepted, configuration_set: str) -> dict[str, Any]:
        headers = dict(accepted.headers)
        from_address = parseaddr(accepted.source)[1]
        tags = {
            "ses:configuration-set": [configuration_set],
            "ses:source-ip": ["127.0.0.1"],
            "ses:from-domain": [from_address.rpartition("@")[2]],
            "ses:caller-identity": ["local"],
        } | {name: [value] for name, value in accepted.tags.items()}
        return {
            "timestamp": _iso(accepted.accepted_at),
            "source": accepted.source,
            "sourceArn": f"arn:aws:ses:{self._region}:{self._account}:identity/{from_address}",
            "sendingAccountId": self._account,
            "messageId": accepted.message_id,
            "destination": list(accepted.destinations),
            "headersTruncated": False,
            "headers": [{"name": name, "value": value} for name, value in accepted.headers],
            "commonHeaders": {
                "from": [headers.get("From", accepted.source)],
                "to": [a for _, a in getaddresses([headers.get("To", "")]) if a] or list(accepted.destinations),
                "messageId": accepted.message_id,
                "subject": headers.get("Subject", ""),
                "date": headers.get("Date", format_datetime(accepted.accepted_at, usegmt=True)),
            },
            "tags": tags,
        }

    def _why_ses_cannot_publish(self, destination: EventDestination, configuration_set: str) -> str | None:
        """None when SES may publish to the destination's topic; else what the topic's or key's policy lacks."""
        context = {
            "aws:sourceaccount": self._account,
            "aws:sourcearn": f"arn:aws:ses:{self._region}:{self._account}:configuration-set/{configuration_set}",
        }
        attributes = self._clients("sns").get_topic_attributes(TopicArn=destination.topic_arn)["Attributes"]
        topic_policy = json.loads(attributes.get("Policy") or "{}")
        if not policy_allows(topic_policy, SES_PRINCIPAL, "sns:Publish", destination.topic_arn, context):
            return "the topic's policy does not let ses.amazonaws.com publish (sns:Publish) for this configuration set"
        key = attributes.get("KmsMasterKeyId")
        if not key:
            return None
        if key.endswith("alias/aws/sns"):
            return "the topic is encrypted with the AWS managed key alias/aws/sns, which SES may not use"
        kms = self._clients("kms")
        key_arn = kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        key_policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            if not policy_allows(key_policy, SES_PRINCIPAL, action, key_arn, context):
                return f"the topic's KMS key policy does not let ses.amazonaws.com {action}"
        return None


def simulated_outcome(address: str, at: datetime) -> list[tuple[str, dict[str, Any]]]:
    """What SES's mailbox simulator does with a message to ``address``: (event type, record without ``mail``)."""
    local, _, domain = address.rpartition("@")
    scenario = local.split("+", 1)[0].lower() if domain.lower() == SIMULATOR_DOMAIN else "success"
    later = _iso(at)
    feedback_id = f"{uuid.uuid4().hex}-000000"
    if scenario == "bounce":
        recipient = {
            "emailAddress": address,
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        }
        bounce = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [recipient],
            "timestamp": later,
            "feedbackId": feedback_id,
            "reportingMTA": "dsn; local.smtp-out.amazonses.com",
        }
        return [("bounce", {"eventType": "Bounce", "bounce": bounce})]
    if scenario == "suppressionlist":
        bounce = {
            "bounceType": "Permanent",
            "bounceSubType": "OnAccountSuppressionList",
            "bouncedRecipients": [{"emailAddress": address}],
            "timestamp": later,
            "feedbackId": feedback_id,
        }
        return [("bounce", {"eventType": "Bounce", "bounce": bounce})]
    delivery = {
        "eventType": "Delivery",
        "delivery": {
            "timestamp": later,
            "processingTimeMillis": 0,
            "recipients": [address],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "local.smtp-out.amazonses.com",
        },
    }
    if scenario != "complaint":
        return [("delivery", delivery)]
    complaint = {
        "complainedRecipients": [{"emailAddress": address}],
        "timestamp": later,
        "feedbackId": feedback_id,
        "userAgent": "Amazon SES Mailbox Simulator",
        "complaintFeedbackType": "abuse",
        "arrivalDate": later,
    }
    return [("delivery", delivery), ("complaint", {"eventType": "Complaint", "complaint": complaint})]


# --- policies -------------------------------------------------------------------------------------------------


def policy_allows(
    document: Mapping[str, Any], service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    """Whether a resource policy lets the AWS service ``service`` do ``action`` on ``resource`` (explicit deny wins)."""
    allowed = False
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not _statement_applies(statement, service, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _statement_applies(
    statement: Mapping[str, Any], service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    principal = statement.get("Principal")
    if principal != "*":
        services = _strings((principal or {}).get("Service")) if isinstance(principal, Mapping) else []
        everyone = isinstance(principal, Mapping) and "*" in _strings(principal.get("AWS"))
        if service not in services and not everyone:
            return False
    if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _strings(statement.get("Action"))):
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in _strings(statement.get("Resource"))):
        return False
    return _conditions_hold(statement.get("Condition") or {}, context)


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in (tests or {}).items():
            actual = context.get(str(key).lower())
            if actual is None:
                return False
            patterns = _strings(expected)
            if operator in ("StringEquals", "ArnEquals"):
                met = actual in patterns
            elif operator in ("StringLike", "ArnLike"):
                met = any(fnmatchcase(actual, pattern) for pattern in patterns)
            else:
                return False  # not understood: refuse rather than allow
            if not met:
                return False
    return True


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


# --- helpers ------------------------------------------------------------------------------------------------


def _with_date(raw: bytes, at: datetime) -> bytes:
    """The raw message with its Date header set to ``at`` (SES replaces the sender's)."""
    found = _HEADER_END.search(raw)
    head, rest = (raw[: found.start()], raw[found.start() :]) if found else (raw, b"")
    newline = b"\r\n" if b"\r\n" in head or not head else b"\n"
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and skipping:
            continue  # a folded continuation of the Date header
        skipping = line.lower().startswith(b"date:")
        if not skipping:
            kept.append(line)
    date = f"Date: {format_datetime(at, usegmt=True)}".encode()
    return newline.join([date, *kept]) + rest


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ses_error(status: int, code: str, message: str) -> AwsAnswer:
    body = json.dumps({"message": message}).encode()
    return AwsAnswer(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)], body)

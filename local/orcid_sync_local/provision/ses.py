"""SES in moto: the configuration set, its event destination, and the sender's email identity.

moto (like SES in its sandbox) refuses to send from an address that is not a verified identity ("Did not have
authority to send from email …"); SES verifies an email identity when its owner clicks the link SES mails. Locally
nobody can click, so creating the identity here stands for that click: the stack's InvitationSender can send, any
other address is refused as SES would. (SES's sandbox also refuses unverified *recipients*; moto does not check
recipients, and neither does this stand-in: the local stack plays an account with production access.)

moto keeps configuration sets but not their event destinations' delivery: the event destination is recorded here
(name, event types, topic) and ``orcid_sync_local.mail_events`` publishes the bounce SES's mailbox simulator would
cause, in SES's event-publishing shape, for mail to ``bounce@simulator.amazonses.com`` and
``complaint@simulator.amazonses.com``.
"""

from __future__ import annotations

from typing import Any, Final

from ..template import PhysicalResource
from .context import ProvisionContext, Provisioner, resource_name

EVENT_DESTINATIONS: dict[str, dict[str, Any]] = {}
"""Configuration set name -> its event destination as provisioned (what the local SES event glue publishes to)."""


def _configuration_set(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "Name", 64)
    ctx.client("sesv2").create_configuration_set(ConfigurationSetName=name)
    arn = f"arn:aws:ses:{ctx.identity.region}:{ctx.identity.account_id}:configuration-set/{name}"
    return PhysicalResource(logical_id, "AWS::SES::ConfigurationSet", name, {"Arn": arn})


def _event_destination(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    destination = props["EventDestination"]
    topic = (destination.get("SnsDestination") or {}).get("TopicARN")
    if not topic:
        raise ValueError("only SNS event destinations are supported locally")
    types = [str(t).lower() for t in destination.get("MatchingEventTypes") or []]
    EVENT_DESTINATIONS[str(props["ConfigurationSetName"])] = {
        "name": destination.get("Name", logical_id),
        "enabled": str(destination.get("Enabled", "true")).lower() == "true",
        "types": types,
        "topic_arn": topic,
    }
    return PhysicalResource(logical_id, "AWS::SES::ConfigurationSetEventDestination", f"{logical_id}-local")


def _email_identity(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    identity = str(props["EmailIdentity"])
    request: dict[str, Any] = {"EmailIdentity": identity}
    configuration_set = (props.get("ConfigurationSetAttributes") or {}).get("ConfigurationSetName")
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    ctx.client("sesv2").create_email_identity(**request)
    return PhysicalResource(logical_id, "AWS::SES::EmailIdentity", identity)


PROVISIONERS: Final[dict[str, Provisioner]] = {
    "AWS::SES::ConfigurationSet": _configuration_set,
    "AWS::SES::ConfigurationSetEventDestination": _event_destination,
    "AWS::SES::EmailIdentity": _email_identity,
}

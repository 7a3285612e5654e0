"""SES in moto: the configuration set, its event destination, and the sender's email identity.

moto (like SES in its sandbox) refuses to send from an address that is not a verified identity ("Did not have
authority to send from email …"); SES verifies an email identity when its owner clicks the link SES mails. Locally
nobody can click, so creating the identity here stands for that click: the stack's InvitationSender can send, any
other address is refused as SES would. (SES's sandbox also refuses unverified *recipients*; moto does not check
recipients, and neither does this stand-in: the local stack plays an account with production access.)

moto keeps configuration sets but publishes no events: the event destination is only checked here (an SNS topic);
the glue's SES stand-in (``lambda_glue/ses_events.py``) reads it from the provisioned stack and publishes what SES's
mailbox simulator would cause (a bounce for ``bounce@simulator.amazonses.com``, a complaint for
``complaint@simulator.amazonses.com`` ...), in SES's event-publishing shape, to the topic.
"""

from __future__ import annotations

from typing import Any, Final

from ..template import PhysicalResource
from .context import ProvisionContext, Provisioner, resource_name


def _configuration_set(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "Name", 64)
    ctx.client("sesv2").create_configuration_set(ConfigurationSetName=name)
    arn = f"arn:aws:ses:{ctx.identity.region}:{ctx.identity.account_id}:configuration-set/{name}"
    return PhysicalResource(logical_id, "AWS::SES::ConfigurationSet", name, {"Arn": arn})


def _event_destination(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    destination = props["EventDestination"]
    if not (destination.get("SnsDestination") or {}).get("TopicARN"):
        raise ValueError("only SNS event destinations are supported locally")
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

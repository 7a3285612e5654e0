"""What every provisioner shares: the context (moto clients, stack identity), the provisioned stack, naming helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from ..resolution import Resolver
from ..template import (
    PhysicalResource,
    StackIdentity,
    Template,
    physical_name,
)


@dataclass
class ProvisionContext:
    """What a provisioner needs: AWS clients bound to moto, the stack identity, the local API's URL."""

    session: boto3.Session
    endpoint_url: str
    identity: StackIdentity
    api_endpoint: str
    # The caller's own (cached) clients, if it has them: one client per service for the whole stack.
    client_factory: Callable[[str], Any] | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if self.client_factory is not None:
            return self.client_factory(service)
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                region_name=self.identity.region,
            )
        return self._clients[service]


Provisioner = Callable[[ProvisionContext, str, dict[str, Any]], PhysicalResource]


@dataclass(frozen=True)
class ProvisionedStack:
    """The template's resources as created: physical ids, resolved properties and outputs.

    ``template`` is the CloudFormation that was provisioned (the SAM transform's output for a SAM
    template), so logical ids and types are CloudFormation's (``AWS::Lambda::Function`` ...).
    """

    template: Template
    identity: StackIdentity
    parameters: Mapping[str, Any]
    resources: Mapping[str, PhysicalResource]
    properties: Mapping[str, Mapping[str, Any]]
    resolver: Resolver

    def physical(self, logical_id: str) -> PhysicalResource:
        if logical_id not in self.resources:
            raise KeyError(f"the local stack has no resource {logical_id}")
        return self.resources[logical_id]

    def of_type(self, resource_type: str) -> dict[str, PhysicalResource]:
        return {rid: res for rid, res in self.resources.items() if res.resource_type == resource_type}

    def outputs(self) -> dict[str, Any]:
        return self.resolver.outputs()


# --- helpers ----------------------------------------------------------------------------------


def resource_name(ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], key: str, max_length: int) -> str:
    return str(props.get(key) or physical_name(ctx.identity, logical_id, max_length=max_length))


def json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def api_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json_text(value) if isinstance(value, (dict, list)) else str(value)


def pick(props: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: props[key] for key in keys if key in props}


def tags(props: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in props.get("Tags") or []]

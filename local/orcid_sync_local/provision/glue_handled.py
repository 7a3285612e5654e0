"""Types the Lambda glue stands in for: named here (so !Ref and !GetAtt resolve), never created in moto."""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Mapping
from typing import Any, Final

from ..template import (
    PhysicalResource,
)
from .context import ProvisionContext, Provisioner, resource_name


def _function(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "FunctionName", 64)
    return PhysicalResource(logical_id, "AWS::Lambda::Function", name, {"Arn": _function_arn(ctx, name)})


def _function_arn(ctx: ProvisionContext, name: str) -> str:
    return ctx.identity.arn("lambda", f"function:{name}")


def _layer_version(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "LayerName", 64)
    return PhysicalResource(logical_id, "AWS::Lambda::LayerVersion", ctx.identity.arn("lambda", f"layer:{name}:1"))


def _http_api(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    api_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))
    # The local API server stands in for every HTTP API, so its URL is the ApiEndpoint functions get.
    return PhysicalResource(
        logical_id, "AWS::ApiGatewayV2::Api", api_id, {"ApiEndpoint": ctx.api_endpoint, "ApiId": api_id}
    )


def _http_api_stage(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    return PhysicalResource(logical_id, "AWS::ApiGatewayV2::Stage", str(props["StageName"]))


def _iam_role(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "RoleName", 64)
    arn = ctx.identity.arn("iam", f"role{props.get('Path', '/')}{name}", regional=False)
    role_id = "AROA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))
    return PhysicalResource(logical_id, "AWS::IAM::Role", name, {"Arn": arn, "RoleId": role_id})


def _iam_managed_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "ManagedPolicyName", 128)
    arn = ctx.identity.arn("iam", f"policy{props.get('Path', '/')}{name}", regional=False)
    return PhysicalResource(logical_id, "AWS::IAM::ManagedPolicy", arn, {"PolicyArn": arn})


def _named_only(resource_type: str) -> Provisioner:
    def name_it(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        return PhysicalResource(logical_id, resource_type, f"{ctx.identity.stack_name}-{logical_id}-{uuid.uuid4()}")

    return name_it


GLUE_HANDLED: Final[Mapping[str, Provisioner]] = {
    # Invoked in-process by orcid_sync_local.lambda_glue (Code, Handler, Environment, Timeout, MemorySize).
    "AWS::Lambda::Function": _function,
    # The layer's code is importable in the dev venv; the glue puts its (local) Content on sys.path.
    "AWS::Lambda::LayerVersion": _layer_version,
    # Served by the glue's local HTTP API server: routes and authorisers come from the API's OpenAPI Body.
    "AWS::ApiGatewayV2::Api": _http_api,
    "AWS::ApiGatewayV2::Stage": _http_api_stage,
    # The glue delivers SQS messages itself (SAM's SQS events become these mappings).
    "AWS::Lambda::EventSourceMapping": _named_only("AWS::Lambda::EventSourceMapping"),
    # Nothing enforces IAM locally: roles, policies and invoke permissions are only named.
    "AWS::Lambda::Permission": _named_only("AWS::Lambda::Permission"),
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::Policy": _named_only("AWS::IAM::Policy"),
    "AWS::IAM::ManagedPolicy": _iam_managed_policy,
}

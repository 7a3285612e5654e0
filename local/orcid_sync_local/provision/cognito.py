"""Cognito user pools, their groups, app clients, domains and federated identity providers in moto.

CloudFormation's properties are mostly CreateUserPool's own parameters; what differs is mapped here as CloudFormation
maps it: ``UserPoolName`` is ``PoolName``, ``EnabledMfas`` is a SetUserPoolMfaConfig call, ``UserPoolTags`` are
``UserPoolTags``. The attributes ``!GetAtt`` reads (``Arn``, ``ProviderName``, ``ProviderURL``, ``UserPoolId``,
``ClientId``) are what CloudFormation documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..template import PhysicalResource
from .context import ProvisionContext, Provisioner, pick, resource_name

_POOL_KEYS: Final = (
    "AccountRecoverySetting",
    "AdminCreateUserConfig",
    "AliasAttributes",
    "AutoVerifiedAttributes",
    "DeletionProtection",
    "DeviceConfiguration",
    "EmailConfiguration",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "LambdaConfig",
    "MfaConfiguration",
    "Policies",
    "Schema",
    "SmsAuthenticationMessage",
    "SmsConfiguration",
    "SmsVerificationMessage",
    "UserAttributeUpdateSettings",
    "UsernameAttributes",
    "UsernameConfiguration",
    "UserPoolAddOns",
    "UserPoolTags",
    "VerificationMessageTemplate",
)
_PASSWORD_NUMBERS: Final = ("MinimumLength", "TemporaryPasswordValidityDays", "PasswordHistorySize")
_CLIENT_KEYS: Final = (
    "AccessTokenValidity",
    "AllowedOAuthFlows",
    "AllowedOAuthFlowsUserPoolClient",
    "AllowedOAuthScopes",
    "AuthSessionValidity",
    "CallbackURLs",
    "DefaultRedirectURI",
    "EnablePropagateAdditionalUserContextData",
    "EnableTokenRevocation",
    "ExplicitAuthFlows",
    "IdTokenValidity",
    "LogoutURLs",
    "PreventUserExistenceErrors",
    "ReadAttributes",
    "RefreshTokenValidity",
    "SupportedIdentityProviders",
    "TokenValidityUnits",
    "WriteAttributes",
)
_CLIENT_NUMBERS: Final = ("AccessTokenValidity", "AuthSessionValidity", "IdTokenValidity", "RefreshTokenValidity")


def _user_pool(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    cognito = ctx.client("cognito-idp")
    name = resource_name(ctx, logical_id, props, "UserPoolName", 128)
    request: dict[str, Any] = {"PoolName": name, **pick(props, *_POOL_KEYS)}
    policies = request.get("Policies", {}).get("PasswordPolicy")
    if policies:
        for key in _PASSWORD_NUMBERS:
            if key in policies:
                policies[key] = int(policies[key])
    pool = cognito.create_user_pool(**request)["UserPool"]
    pool_id = pool["Id"]
    if "SOFTWARE_TOKEN_MFA" in (props.get("EnabledMfas") or []):
        cognito.set_user_pool_mfa_config(
            UserPoolId=pool_id,
            SoftwareTokenMfaConfiguration={"Enabled": True},
            MfaConfiguration=props.get("MfaConfiguration", "OFF"),
        )
    region = ctx.identity.region
    attributes = {
        "Arn": pool["Arn"],
        "UserPoolId": pool_id,
        "ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool_id}",
        "ProviderURL": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
    }
    return PhysicalResource(logical_id, "AWS::Cognito::UserPool", pool_id, attributes)


def _user_pool_group(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    request: dict[str, Any] = {
        "UserPoolId": props["UserPoolId"],
        "GroupName": props["GroupName"],
        **pick(props, "Description", "RoleArn"),
    }
    if "Precedence" in props:
        request["Precedence"] = int(props["Precedence"])
    ctx.client("cognito-idp").create_group(**request)
    return PhysicalResource(logical_id, "AWS::Cognito::UserPoolGroup", str(props["GroupName"]))


def _user_pool_client(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "ClientName", 128)
    request: dict[str, Any] = {"UserPoolId": props["UserPoolId"], "ClientName": name, **pick(props, *_CLIENT_KEYS)}
    request["GenerateSecret"] = bool(props.get("GenerateSecret", False))
    for key in _CLIENT_NUMBERS:
        if key in request:
            request[key] = int(request[key])
    client = ctx.client("cognito-idp").create_user_pool_client(**request)["UserPoolClient"]
    client_id = client["ClientId"]
    attributes = {"ClientId": client_id, "Name": name}
    if client.get("ClientSecret"):
        attributes["ClientSecret"] = client["ClientSecret"]
    return PhysicalResource(logical_id, "AWS::Cognito::UserPoolClient", client_id, attributes)


def _user_pool_domain(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    request: dict[str, Any] = {"UserPoolId": props["UserPoolId"], "Domain": props["Domain"]}
    request |= pick(props, "CustomDomainConfig", "ManagedLoginVersion")
    answer = ctx.client("cognito-idp").create_user_pool_domain(**request)
    attributes = {"CloudFrontDistribution": answer.get("CloudFrontDomain", "")}
    return PhysicalResource(logical_id, "AWS::Cognito::UserPoolDomain", str(props["Domain"]), attributes)


def _identity_provider(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    request: dict[str, Any] = {
        "UserPoolId": props["UserPoolId"],
        "ProviderName": props["ProviderName"],
        "ProviderType": props["ProviderType"],
        "ProviderDetails": {str(key): str(value) for key, value in (props.get("ProviderDetails") or {}).items()},
        **pick(props, "AttributeMapping", "IdpIdentifiers"),
    }
    ctx.client("cognito-idp").create_identity_provider(**request)
    return PhysicalResource(logical_id, "AWS::Cognito::UserPoolIdentityProvider", str(props["ProviderName"]))


PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Cognito::UserPoolDomain": _user_pool_domain,
    "AWS::Cognito::UserPoolGroup": _user_pool_group,
    "AWS::Cognito::UserPoolIdentityProvider": _identity_provider,
}

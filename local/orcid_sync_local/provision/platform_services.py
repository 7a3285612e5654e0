"""KMS keys, Secrets Manager secrets, CloudWatch alarms and dashboards, log groups and SSM parameters in moto."""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Mapping
from typing import Any, Final

from ..template import (
    PhysicalResource,
)
from .context import ProvisionContext, Provisioner, json_text, pick, resource_name, tags

# --- KMS and Secrets Manager ------------------------------------------------------------------


def _kms_key(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    kms = ctx.client("kms")
    request: dict[str, Any] = pick(props, "Description", "KeyUsage", "KeySpec", "MultiRegion")
    if "KeyPolicy" in props:
        request["Policy"] = json_text(props["KeyPolicy"])
    if tags(props):
        request["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in tags(props)]
    metadata = kms.create_key(**request)["KeyMetadata"]
    key_id = metadata["KeyId"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
    if props.get("Enabled") is False:
        kms.disable_key(KeyId=key_id)
    return PhysicalResource(logical_id, "AWS::KMS::Key", key_id, {"Arn": metadata["Arn"], "KeyId": key_id})


def _kms_alias(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    ctx.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return PhysicalResource(logical_id, "AWS::KMS::Alias", props["AliasName"])


def _secret(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    secretsmanager = ctx.client("secretsmanager")
    suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    name = str(props.get("Name") or f"{logical_id}-{suffix}")
    request: dict[str, Any] = {"Name": name, **pick(props, "Description", "KmsKeyId")}
    if "SecretString" in props:
        request["SecretString"] = props["SecretString"]
    elif "GenerateSecretString" in props:
        request["SecretString"] = _generated_secret_string(secretsmanager, props["GenerateSecretString"])
    if tags(props):
        request["Tags"] = tags(props)
    arn = secretsmanager.create_secret(**request)["ARN"]
    return PhysicalResource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn})


def _generated_secret_string(secretsmanager: Any, spec: Mapping[str, Any]) -> str:
    """What CloudFormation stores for GenerateSecretString: a password, or a template with one added."""
    options = {
        "PasswordLength": int(spec.get("PasswordLength", 32)),
        **pick(spec, "ExcludeCharacters"),
        **{
            key: bool(spec[key])
            for key in (
                "ExcludeLowercase",
                "ExcludeNumbers",
                "ExcludePunctuation",
                "ExcludeUppercase",
                "IncludeSpace",
                "RequireEachIncludedType",
            )
            if key in spec
        },
    }
    password = str(secretsmanager.get_random_password(**options)["RandomPassword"])
    has_template, has_key = "SecretStringTemplate" in spec, "GenerateStringKey" in spec
    if has_template != has_key:
        raise ValueError("GenerateSecretString needs both SecretStringTemplate and GenerateStringKey, or neither")
    if not has_template:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


# --- CloudWatch, logs and parameters ----------------------------------------------------------

_ALARM_KEYS: Final = (
    "ActionsEnabled",
    "AlarmActions",
    "AlarmDescription",
    "ComparisonOperator",
    "DatapointsToAlarm",
    "Dimensions",
    "EvaluateLowSampleCountPercentile",
    "EvaluationPeriods",
    "ExtendedStatistic",
    "InsufficientDataActions",
    "MetricName",
    "Metrics",
    "Namespace",
    "OKActions",
    "Period",
    "Statistic",
    "Threshold",
    "ThresholdMetricId",
    "TreatMissingData",
    "Unit",
)
_ALARM_NUMBERS: Final = {"DatapointsToAlarm": int, "EvaluationPeriods": int, "Period": int, "Threshold": float}


def _cloudwatch_alarm(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    cloudwatch = ctx.client("cloudwatch")
    name = resource_name(ctx, logical_id, props, "AlarmName", 255)
    request: dict[str, Any] = {"AlarmName": name, **pick(props, *_ALARM_KEYS)}
    for key, convert in _ALARM_NUMBERS.items():
        if key in request:
            request[key] = convert(request[key])
    if tags(props):
        request["Tags"] = tags(props)
    cloudwatch.put_metric_alarm(**request)
    arn = ctx.identity.arn("cloudwatch", f"alarm:{name}")  # what CloudWatch reports (one request fewer per alarm)
    return PhysicalResource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": arn})


def _cloudwatch_dashboard(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = resource_name(ctx, logical_id, props, "DashboardName", 255)
    ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=json_text(props["DashboardBody"]))
    return PhysicalResource(logical_id, "AWS::CloudWatch::Dashboard", name)


def _log_group(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    logs = ctx.client("logs")
    name = resource_name(ctx, logical_id, props, "LogGroupName", 512)
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    arn = ctx.identity.arn("logs", f"log-group:{name}:*")
    return PhysicalResource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn})


def _ssm_parameter(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = str(props.get("Name") or f"CFN-{logical_id}-{uuid.uuid4().hex[:12]}")
    request: dict[str, Any] = {
        "Name": name,
        "Value": str(props["Value"]),
        "Type": props["Type"],
        **pick(props, "Description", "AllowedPattern", "Tier", "DataType"),
    }
    ctx.client("ssm").put_parameter(**request)
    return PhysicalResource(logical_id, "AWS::SSM::Parameter", name, {"Type": props["Type"], "Value": props["Value"]})


PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
    "AWS::CloudWatch::Dashboard": _cloudwatch_dashboard,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::KMS::Key": _kms_key,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SSM::Parameter": _ssm_parameter,
}

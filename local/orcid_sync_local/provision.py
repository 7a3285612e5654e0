"""Create every resource of a template in moto, in dependency order, the way CloudFormation would.

A SAM template is first put through the SAM transform (:meth:`Template.transformed`), so what is
created here is the plain CloudFormation the deployed stack has. ``PROVISIONERS`` maps each resource
type moto holds to the function that creates it; ``GLUE_HANDLED`` maps the types the in-process Lambda
glue stands in for (functions, layers, the HTTP API, event source mappings, IAM) to a function that
only names them, so that ``!Ref``/``!GetAtt`` on them resolve. A type in neither is refused: the local
stack must not silently lack something the deployed stack has.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import boto3

from .template import (
    PhysicalResource,
    Resolver,
    StackIdentity,
    Template,
    TemplateError,
    dependency_order,
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


def unsupported_resource_types(template: Template) -> set[str]:
    """CloudFormation resource types of the template (after the SAM transform) that are neither provisioned
    in moto nor handled by the glue."""
    return template.resource_types() - set(PROVISIONERS) - set(GLUE_HANDLED)


def provision_stack(template: Template, context: ProvisionContext, parameters: Mapping[str, Any]) -> ProvisionedStack:
    """Transform the template, create its resources in moto and name the glue-handled ones; returns what was made."""
    values = template.parameter_values(parameters)
    cloudformation = template.transformed(values, region=context.identity.region)
    unsupported = unsupported_resource_types(cloudformation)
    if unsupported:
        raise TemplateError(
            "the local stack cannot create these resource types (add them to orcid_sync_local.provision): "
            + ", ".join(sorted(unsupported))
        )
    physical: dict[str, PhysicalResource] = {}
    properties: dict[str, Mapping[str, Any]] = {}
    resolver = Resolver(cloudformation, context.identity, values, physical)
    resources = cloudformation.resources
    active = {rid: res for rid, res in resources.items() if resolver.is_active(res)}
    for logical_id in dependency_order(active):
        resource = active[logical_id]
        resource_type = resource["Type"]
        resolved = resolver.resolve(resource.get("Properties") or {})
        create = PROVISIONERS.get(resource_type) or GLUE_HANDLED[resource_type]
        try:
            physical[logical_id] = create(context, logical_id, resolved)
        except (KeyError, ValueError, TypeError) as exc:
            raise TemplateError(f"{logical_id} ({resource_type}): {exc!r}") from exc
        properties[logical_id] = resolved
    return ProvisionedStack(cloudformation, context.identity, values, physical, properties, resolver)


# --- helpers ----------------------------------------------------------------------------------


def _name(ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], key: str, max_length: int) -> str:
    return str(props.get(key) or physical_name(ctx.identity, logical_id, max_length=max_length))


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _api_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json(value) if isinstance(value, (dict, list)) else str(value)


def _pick(props: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: props[key] for key in keys if key in props}


def _tags(props: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in props.get("Tags") or []]


# --- DynamoDB ---------------------------------------------------------------------------------


def _dynamodb_table(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    dynamodb = ctx.client("dynamodb")
    name = _name(ctx, logical_id, props, "TableName", 255)
    billing = props.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    index_keys = ("IndexName", "KeySchema", "Projection")
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            _pick(index, *index_keys, *(("ProvisionedThroughput",) if billing == "PROVISIONED" else ()))
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [_pick(index, *index_keys) for index in props["LocalSecondaryIndexes"]]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    if "SSESpecification" in props:
        sse = props["SSESpecification"]
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled")), **_pick(sse, "SSEType")}
        if "KMSMasterKeyId" in sse:
            request["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
    if _tags(props):
        request["Tags"] = _tags(props)
    if "DeletionProtectionEnabled" in props:
        request["DeletionProtectionEnabled"] = bool(props["DeletionProtectionEnabled"])
    description = dynamodb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    recovery = props.get("PointInTimeRecoverySpecification") or {}
    if recovery.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    attributes = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    return PhysicalResource(logical_id, "AWS::DynamoDB::Table", name, attributes)


# --- SQS --------------------------------------------------------------------------------------

_SQS_ATTRIBUTES: Final = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _sqs_queue(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    sqs = ctx.client("sqs")
    fifo = str(props.get("FifoQueue", "false")).lower() == "true"
    name = str(
        props.get("QueueName") or physical_name(ctx.identity, logical_id, max_length=80, suffix=".fifo" if fifo else "")
    )
    attributes = {key: _api_string(props[key]) for key in _SQS_ATTRIBUTES if key in props}
    request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if _tags(props):
        request["tags"] = {tag["Key"]: tag["Value"] for tag in _tags(props)}
    url = sqs.create_queue(**request)["QueueUrl"]
    arn = ctx.identity.arn("sqs", name)  # what SQS reports (one request fewer per queue)
    return PhysicalResource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _sqs_queue_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    for url in props["Queues"]:
        ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": _json(props["PolicyDocument"])})
    return PhysicalResource(logical_id, "AWS::SQS::QueuePolicy", f"{logical_id}-{uuid.uuid4().hex[:12]}")


# --- S3 ---------------------------------------------------------------------------------------


def _s3_bucket(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    s3 = ctx.client("s3")
    name = str(props.get("BucketName") or physical_name(ctx.identity, logical_id, max_length=63, lowercase=True))
    if ctx.identity.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.identity.region})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=_pick(props["VersioningConfiguration"], "Status"))
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **_pick(rule, "BucketKeyEnabled"),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "LifecycleConfiguration" in props:
        rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "CorsConfiguration" in props:
        cors_rules = [
            {
                **_pick(rule, "AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "ID"),
                **({"MaxAgeSeconds": int(rule["MaxAge"])} if "MaxAge" in rule else {}),
            }
            for rule in props["CorsConfiguration"]["CorsRules"]
        ]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors_rules})
    if _tags(props):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(props)})
    notifications = _bucket_notifications(props.get("NotificationConfiguration") or {})
    if notifications:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=notifications)
    region = ctx.identity.region
    return PhysicalResource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:{ctx.identity.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
        },
    )


def _bucket_notifications(config: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the S3 API's shape, without the Lambda configurations.

    moto cannot invoke the functions (they run in the glue, which reads the LambdaConfigurations from the
    bucket's properties); notifications to queues, topics and EventBridge are moto's to deliver.
    """
    converted: dict[str, Any] = {}
    for cfn_key, api_key, target_key, api_target_key in (
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    ):
        entries = [
            {
                api_target_key: entry[target_key],
                "Events": [entry["Event"]],
                **(
                    {"Filter": {"Key": {"FilterRules": entry["Filter"]["S3Key"]["Rules"]}}} if "Filter" in entry else {}
                ),
            }
            for entry in config.get(cfn_key) or []
        ]
        if entries:
            converted[api_key] = entries
    if "EventBridgeConfiguration" in config:
        converted["EventBridgeConfiguration"] = {}
    return converted


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape to the S3 API's."""
    converted: dict[str, Any] = {"Status": rule["Status"], **_pick(rule, "ID")}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    expiration = {
        **({"Days": int(rule["ExpirationInDays"])} if "ExpirationInDays" in rule else {}),
        **({"Date": rule["ExpirationDate"]} if "ExpirationDate" in rule else {}),
        **_pick(rule, "ExpiredObjectDeleteMarker"),
    }
    if expiration:
        converted["Expiration"] = expiration
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
    elif "NoncurrentVersionExpirationInDays" in rule:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "Transitions" in rule:
        converted["Transitions"] = [
            {
                "StorageClass": transition["StorageClass"],
                **({"Days": int(transition["TransitionInDays"])} if "TransitionInDays" in transition else {}),
                **({"Date": transition["TransitionDate"]} if "TransitionDate" in transition else {}),
            }
            for transition in rule["Transitions"]
        ]
    if "NoncurrentVersionTransitions" in rule:
        converted["NoncurrentVersionTransitions"] = [
            {"StorageClass": transition["StorageClass"], "NoncurrentDays": int(transition["TransitionInDays"])}
            for transition in rule["NoncurrentVersionTransitions"]
        ]
    return converted


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {})
    return statement.get("Effect") == "Deny" and "aws:SecureTransport" in condition.get("Bool", {})


def _s3_bucket_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    # moto evaluates a Deny but not its aws:SecureTransport condition, and the local stack speaks plain HTTP:
    # the "deny insecure transport" statement would deny everything, so it is left out locally (only).
    document = dict(props["PolicyDocument"])
    document["Statement"] = [st for st in document.get("Statement", []) if not _denies_plain_http(st)]
    if document["Statement"]:
        ctx.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=_json(document))
    return PhysicalResource(logical_id, "AWS::S3::BucketPolicy", props["Bucket"])


# --- KMS and Secrets Manager ------------------------------------------------------------------


def _kms_key(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    kms = ctx.client("kms")
    request: dict[str, Any] = _pick(props, "Description", "KeyUsage", "KeySpec", "MultiRegion")
    if "KeyPolicy" in props:
        request["Policy"] = _json(props["KeyPolicy"])
    if _tags(props):
        request["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in _tags(props)]
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
    request: dict[str, Any] = {"Name": name, **_pick(props, "Description", "KmsKeyId")}
    if "SecretString" in props:
        request["SecretString"] = props["SecretString"]
    elif "GenerateSecretString" in props:
        request["SecretString"] = _generated_secret_string(secretsmanager, props["GenerateSecretString"])
    if _tags(props):
        request["Tags"] = _tags(props)
    arn = secretsmanager.create_secret(**request)["ARN"]
    return PhysicalResource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn})


def _generated_secret_string(secretsmanager: Any, spec: Mapping[str, Any]) -> str:
    """What CloudFormation stores for GenerateSecretString: a password, or a template with one added."""
    options = {
        "PasswordLength": int(spec.get("PasswordLength", 32)),
        **_pick(spec, "ExcludeCharacters"),
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


# --- SNS --------------------------------------------------------------------------------------


def _sns_topic(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    sns = ctx.client("sns")
    fifo = str(props.get("FifoTopic", "false")).lower() == "true"
    name = str(
        props.get("TopicName")
        or physical_name(ctx.identity, logical_id, max_length=256, suffix=".fifo" if fifo else "")
    )
    attribute_keys = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion")
    attributes = {key: _api_string(props[key]) for key in attribute_keys if key in props}
    request: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if _tags(props):
        request["Tags"] = _tags(props)
    arn = sns.create_topic(**request)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return PhysicalResource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def _sns_subscription(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    attribute_keys = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy")
    attributes = {key: _api_string(props[key]) for key in attribute_keys if key in props}
    arn = ctx.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return PhysicalResource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn})


def _sns_topic_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    for topic_arn in props["Topics"]:
        ctx.client("sns").set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=_json(props["PolicyDocument"])
        )
    return PhysicalResource(logical_id, "AWS::SNS::TopicPolicy", f"{logical_id}-{uuid.uuid4().hex[:12]}")


# --- EventBridge and EventBridge Scheduler ----------------------------------------------------


def _events_rule(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    events = ctx.client("events")
    name = _name(ctx, logical_id, props, "Name", 64)
    bus = str(props.get("EventBusName", "default"))
    request: dict[str, Any] = {
        "Name": name,
        "EventBusName": bus,
        "State": props.get("State", "ENABLED"),
        **_pick(props, "ScheduleExpression", "Description", "RoleArn"),
    }
    if "EventPattern" in props:
        request["EventPattern"] = _json(props["EventPattern"])
    arn = events.put_rule(**request)["RuleArn"]
    targets = [
        {
            **_pick(target, "Id", "Arn", "Input", "InputPath", "InputTransformer", "RoleArn", "RetryPolicy"),
            **_pick(target, "DeadLetterConfig", "SqsParameters"),
        }
        for target in props.get("Targets") or []
    ]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return PhysicalResource(logical_id, "AWS::Events::Rule", name, {"Arn": arn})


def _scheduler_schedule(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "Name", 64)
    request: dict[str, Any] = {
        "Name": name,
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props["FlexibleTimeWindow"],
        "Target": props["Target"],
        "State": props.get("State", "ENABLED"),
        **_pick(props, "GroupName", "Description", "ScheduleExpressionTimezone", "StartDate", "EndDate", "KmsKeyArn"),
    }
    arn = ctx.client("scheduler").create_schedule(**request)["ScheduleArn"]
    return PhysicalResource(logical_id, "AWS::Scheduler::Schedule", name, {"Arn": arn})


def _scheduler_group(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "Name", 64)
    arn = ctx.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
    return PhysicalResource(logical_id, "AWS::Scheduler::ScheduleGroup", name, {"Arn": arn})


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
    name = _name(ctx, logical_id, props, "AlarmName", 255)
    request: dict[str, Any] = {"AlarmName": name, **_pick(props, *_ALARM_KEYS)}
    for key, convert in _ALARM_NUMBERS.items():
        if key in request:
            request[key] = convert(request[key])
    if _tags(props):
        request["Tags"] = _tags(props)
    cloudwatch.put_metric_alarm(**request)
    arn = ctx.identity.arn("cloudwatch", f"alarm:{name}")  # what CloudWatch reports (one request fewer per alarm)
    return PhysicalResource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": arn})


def _cloudwatch_dashboard(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "DashboardName", 255)
    ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=_json(props["DashboardBody"]))
    return PhysicalResource(logical_id, "AWS::CloudWatch::Dashboard", name)


def _log_group(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    logs = ctx.client("logs")
    name = _name(ctx, logical_id, props, "LogGroupName", 512)
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
        **_pick(props, "Description", "AllowedPattern", "Tier", "DataType"),
    }
    ctx.client("ssm").put_parameter(**request)
    return PhysicalResource(logical_id, "AWS::SSM::Parameter", name, {"Type": props["Type"], "Value": props["Value"]})


PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
    "AWS::CloudWatch::Dashboard": _cloudwatch_dashboard,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::Events::Rule": _events_rule,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::KMS::Key": _kms_key,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _s3_bucket_policy,
    "AWS::Scheduler::Schedule": _scheduler_schedule,
    "AWS::Scheduler::ScheduleGroup": _scheduler_group,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SNS::TopicPolicy": _sns_topic_policy,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::SSM::Parameter": _ssm_parameter,
}


# --- types the Lambda glue stands in for: named here, never created in moto ---------------------


def _function(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "FunctionName", 64)
    return PhysicalResource(logical_id, "AWS::Lambda::Function", name, {"Arn": _function_arn(ctx, name)})


def _function_arn(ctx: ProvisionContext, name: str) -> str:
    return ctx.identity.arn("lambda", f"function:{name}")


def _layer_version(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "LayerName", 64)
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
    name = _name(ctx, logical_id, props, "RoleName", 64)
    arn = ctx.identity.arn("iam", f"role{props.get('Path', '/')}{name}", regional=False)
    role_id = "AROA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))
    return PhysicalResource(logical_id, "AWS::IAM::Role", name, {"Arn": arn, "RoleId": role_id})


def _iam_managed_policy(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = _name(ctx, logical_id, props, "ManagedPolicyName", 128)
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

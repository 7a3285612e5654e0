"""DynamoDB tables and S3 buckets (notifications, lifecycle rules, policies) in moto."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..template import (
    PhysicalResource,
    physical_name,
)
from .context import ProvisionContext, Provisioner, json_text, pick, resource_name, tags

# --- DynamoDB ---------------------------------------------------------------------------------


def _dynamodb_table(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    dynamodb = ctx.client("dynamodb")
    name = resource_name(ctx, logical_id, props, "TableName", 255)
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
            pick(index, *index_keys, *(("ProvisionedThroughput",) if billing == "PROVISIONED" else ()))
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [pick(index, *index_keys) for index in props["LocalSecondaryIndexes"]]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    if "SSESpecification" in props:
        sse = props["SSESpecification"]
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled")), **pick(sse, "SSEType")}
        if "KMSMasterKeyId" in sse:
            request["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
    if tags(props):
        request["Tags"] = tags(props)
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


# --- S3 ---------------------------------------------------------------------------------------


def _s3_bucket(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    s3 = ctx.client("s3")
    name = str(props.get("BucketName") or physical_name(ctx.identity, logical_id, max_length=63, lowercase=True))
    if ctx.identity.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ctx.identity.region})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=pick(props["VersioningConfiguration"], "Status"))
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **pick(rule, "BucketKeyEnabled"),
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
                **pick(rule, "AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "ID"),
                **({"MaxAgeSeconds": int(rule["MaxAge"])} if "MaxAge" in rule else {}),
            }
            for rule in props["CorsConfiguration"]["CorsRules"]
        ]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors_rules})
    if tags(props):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags(props)})
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
    converted: dict[str, Any] = {"Status": rule["Status"], **pick(rule, "ID")}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    expiration = {
        **({"Days": int(rule["ExpirationInDays"])} if "ExpirationInDays" in rule else {}),
        **({"Date": rule["ExpirationDate"]} if "ExpirationDate" in rule else {}),
        **pick(rule, "ExpiredObjectDeleteMarker"),
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
        ctx.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json_text(document))
    return PhysicalResource(logical_id, "AWS::S3::BucketPolicy", props["Bucket"])


PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _s3_bucket_policy,
}

"""IAM, as AWS evaluates a function's identity policies, for the AWS calls the local stack recorded.

moto checks no IAM, so ``tests/stack/test_function_permissions.py`` holds each recorded call
(:class:`orcid_sync_local.lambda_glue.AwsCall`) against its function's role as the SAM transform makes it
(the role's inline policies, SAM policy templates expanded, intrinsics resolved to the local stack's
resources). What this module knows:

* which IAM actions and resource ARNs a call needs (:func:`requirements`): ``TransactWriteItems`` needs the
  per-item action (``PutItem``/``UpdateItem``/``DeleteItem``/``ConditionCheckItem``) on each item's table and
  ``TransactGetItems`` ``GetItem`` (DynamoDB's "Using IAM with transactions"); ``BatchWriteItem`` and
  ``BatchGetItem`` need themselves on every table; a Query or Scan of an index needs the index's ARN; S3 object
  operations need ``arn:aws:s3:::bucket/key`` (a ``VersionId`` makes them the ``...Version`` actions) and
  listing needs the bucket with ``s3:prefix``;
* what the services do with KMS on the caller's behalf, which the caller's role must allow too: writing to an
  SSE-KMS bucket needs ``kms:GenerateDataKey`` (and multipart uploads ``kms:Decrypt``), reading from it
  ``kms:Decrypt``; publishing to an encrypted topic ``kms:GenerateDataKey`` and ``kms:Decrypt``; reading a
  secret encrypted with a customer key ``kms:Decrypt``; each with ``kms:ViaService`` set to the service;
* the statements: Allow and Deny, ``Action``/``NotAction``, ``Resource``/``NotResource``, IAM's ``*``/``?``
  wildcards (actions case-insensitive, resources not), and the conditions whose keys the request fully
  determines (``kms:ViaService``, ``kms:EncryptionContext:*``, ``s3:prefix``) under the ``String*`` operators.

What it cannot know is said where it happens: a condition on any other key (or with another operator) is
treated as met on an Allow (so it can only let too much through, never fail a call AWS allows) and as not
met on a Deny; resource-based policies, SCPs and permission boundaries are not looked at; and of AWS managed
policies only the three attached by SAM are known (:data:`MANAGED_POLICIES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from orcid_sync_local.lambda_glue import AwsCall
from orcid_sync_local.provision import ProvisionedStack

# The AWS managed policies SAM attaches to function roles, as AWS publishes them (the statements that matter).
MANAGED_POLICIES: Final[Mapping[str, list[dict[str, Any]]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}


@cache
def _wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.DOTALL if case_sensitive else re.IGNORECASE | re.DOTALL)


# Condition keys whose value the request alone determines here (absent means absent, as in AWS).
EVALUATED_CONDITION_KEYS: Final = ("kms:viaservice", "kms:encryptioncontext:", "s3:prefix", "ses:fromaddress")
_STRING_OPERATORS: Final[Mapping[str, Callable[[str, str], bool]]] = {
    "stringequals": lambda value, pattern: value == pattern,
    "stringnotequals": lambda value, pattern: value != pattern,
    "stringequalsignorecase": lambda value, pattern: value.lower() == pattern.lower(),
    "stringlike": lambda value, pattern: _wildcard(pattern, case_sensitive=True).fullmatch(value) is not None,
    "stringnotlike": lambda value, pattern: _wildcard(pattern, case_sensitive=True).fullmatch(value) is None,
}

# Operations whose IAM action has another name than the operation (per service, boto3's service names).
_ACTION_NAMES: Final[Mapping[tuple[str, str], str]] = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("sns", "PublishBatch"): "Publish",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "HeadBucket"): "ListBucket",
}
_IAM_PREFIX: Final[Mapping[str, str]] = {
    "cloudwatch": "cloudwatch",
    "logs": "logs",
    "scheduler": "scheduler",
    "sesv2": "ses",
}
_TRANSACT_WRITE_ACTIONS: Final = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Requirement:
    """One IAM authorisation a call needs: an action on a resource, with the condition keys the request sets."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    because: str = ""

    def context_value(self, key: str) -> str | None:
        return next((value for name, value in self.context if name.lower() == key.lower()), None)


@dataclass(frozen=True)
class Statement:
    policy: str
    effect: str
    sid: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    condition: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def parse(cls, policy: str, raw: Mapping[str, Any]) -> Statement:
        return cls(
            policy=policy,
            effect=str(raw.get("Effect")),
            sid=str(raw.get("Sid") or ""),
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw.get("NotAction")),
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw.get("NotResource")),
            condition=dict(raw.get("Condition") or {}),
        )

    @property
    def name(self) -> str:
        return f"{self.policy}/{self.sid}" if self.sid else self.policy

    def covers(self, requirement: Requirement) -> bool:
        """Action and resource match (the condition aside)."""
        if self.actions:
            action_ok = any(_wildcard(p, case_sensitive=False).fullmatch(requirement.action) for p in self.actions)
        else:
            action_ok = not any(
                _wildcard(p, case_sensitive=False).fullmatch(requirement.action) for p in self.not_actions
            )
        if self.resources:
            resource_ok = any(_wildcard(p, case_sensitive=True).fullmatch(requirement.resource) for p in self.resources)
        else:
            resource_ok = not any(
                _wildcard(p, case_sensitive=True).fullmatch(requirement.resource) for p in self.not_resources
            )
        return action_ok and resource_ok

    def condition_met(self, requirement: Requirement) -> bool | None:
        """True/False when every key of the condition can be evaluated; None when one cannot (see the module)."""
        verdict: bool | None = True
        for operator, tests in self.condition.items():
            base = operator.lower()
            if_exists = base.endswith("ifexists")
            base = base.removesuffix("ifexists")
            compare = _STRING_OPERATORS.get(base)
            for key, expected in dict(tests).items():
                if compare is None or not key.lower().startswith(EVALUATED_CONDITION_KEYS):
                    verdict = None if verdict else verdict
                    continue
                value = requirement.context_value(key)
                if value is None:
                    met = if_exists or base.startswith("stringnot")
                else:
                    met = any(compare(value, str(pattern)) for pattern in _strings(expected))
                if not met:
                    return False
        return verdict


@dataclass(frozen=True)
class Decision:
    allowed: bool
    statement: Statement | None = None
    denied_by: Statement | None = None
    unevaluated_condition: bool = False


class RolePolicy:
    """A function role's identity policies: its inline policies and the known managed ones."""

    def __init__(self, role: str, statements: Sequence[Statement], unknown_managed: Sequence[str]) -> None:
        self.role = role
        self.statements = list(statements)
        self.unknown_managed = list(unknown_managed)

    def decide(self, requirement: Requirement) -> Decision:
        for statement in self.statements:
            # A Deny whose condition cannot be evaluated is taken as not denying (the check only ever fails on
            # what is certainly refused); there are none in the template today.
            if statement.effect == "Deny" and statement.covers(requirement) and statement.condition_met(requirement):
                return Decision(False, denied_by=statement)
        for statement in self.statements:
            if statement.effect != "Allow" or not statement.covers(requirement):
                continue
            met = statement.condition_met(requirement)
            if met is None:
                # A condition this test cannot evaluate: taken as allowing (said in the test's report line).
                return Decision(True, statement, unevaluated_condition=True)
            if met:
                return Decision(True, statement)
        return Decision(False)


def function_roles(stack: ProvisionedStack) -> dict[str, RolePolicy]:
    """Each ``AWS::Lambda::Function``'s role: its inline policies, its ``AWS::IAM::Policy`` attachments, its
    managed policies; resolved against the local stack's resources."""
    roles_by_arn = {
        str(role.get_att("Arn")): logical_id for logical_id, role in stack.of_type("AWS::IAM::Role").items()
    }
    policies: dict[str, RolePolicy] = {}
    for function_id in stack.of_type("AWS::Lambda::Function"):
        role_arn = str(stack.properties[function_id]["Role"])
        role_id = roles_by_arn.get(role_arn)
        if role_id is None:
            raise AssertionError(f"{function_id}: its Role {role_arn} is not a role of this template")
        role = stack.properties[role_id]
        statements: list[Statement] = []
        for policy in role.get("Policies") or []:
            for raw in _statement_list(policy["PolicyDocument"]):
                statements.append(Statement.parse(str(policy["PolicyName"]), raw))
        for policy_id in stack.of_type("AWS::IAM::Policy"):
            properties = stack.properties[policy_id]
            if stack.physical(role_id).ref in [str(name) for name in properties.get("Roles") or []]:
                for raw in _statement_list(properties["PolicyDocument"]):
                    statements.append(Statement.parse(policy_id, raw))
        unknown: list[str] = []
        for arn in role.get("ManagedPolicyArns") or []:
            if str(arn) in MANAGED_POLICIES:
                statements += [Statement.parse(str(arn).rsplit("/", 1)[1], raw) for raw in MANAGED_POLICIES[str(arn)]]
            else:
                unknown.append(str(arn))
        policies[function_id] = RolePolicy(role_id, statements, unknown)
    return policies


class StackArns:
    """The ARNs behind the names calls use, for one local stack (``key_arn`` asks moto for a key's ARN)."""

    def __init__(self, stack: ProvisionedStack, key_arn: Callable[[str], str]) -> None:
        self.region = stack.identity.region
        self.account = stack.identity.account_id
        self._key_arn = cache(key_arn)
        self._secrets = [str(resource.ref) for resource in stack.of_type("AWS::SecretsManager::Secret").values()]
        # Each resource's ARN (its Arn attribute, or its Ref when that is one), to name it in a refusal.
        self.logical_ids: dict[str, str] = {}
        for logical_id, resource in stack.resources.items():
            for value in (resource.ref, *resource.attributes.values()):
                if isinstance(value, str) and value.startswith("arn:"):
                    self.logical_ids.setdefault(value, logical_id)
        # What each encrypted resource's customer key is, for the KMS calls the services make for the caller.
        self.bucket_keys: dict[str, str] = {}
        for bucket_id, bucket in stack.of_type("AWS::S3::Bucket").items():
            rules = (stack.properties[bucket_id].get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
            for rule in rules or []:
                default = rule.get("ServerSideEncryptionByDefault") or {}
                if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse") and default.get("KMSMasterKeyID"):
                    self.bucket_keys[str(bucket.ref)] = str(default["KMSMasterKeyID"])
        self.topic_keys = {
            str(topic.ref): str(stack.properties[topic_id]["KmsMasterKeyId"])
            for topic_id, topic in stack.of_type("AWS::SNS::Topic").items()
            if stack.properties[topic_id].get("KmsMasterKeyId")
        }
        self.secret_keys = {
            str(secret.ref): str(stack.properties[secret_id]["KmsKeyId"])
            for secret_id, secret in stack.of_type("AWS::SecretsManager::Secret").items()
            if stack.properties[secret_id].get("KmsKeyId")
        }

    def key(self, key_id: str) -> str:
        return self._key_arn(key_id)

    def table(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def queue(self, url: str) -> str:
        if url.startswith("arn:"):
            return url
        account, name = url.rstrip("/").split("/")[-2:]
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def secret(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        # By name: IAM sees the full ARN (name plus AWS's six-character suffix).
        for arn in self._secrets:
            if re.fullmatch(rf".*:secret:{re.escape(secret_id)}-[A-Za-z0-9]{{6}}", arn):
                return arn
        return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{secret_id}"

    def rule(self, name: str, bus: str | None) -> str:
        if name.startswith("arn:"):
            return name
        path = f"rule/{bus}/{name}" if bus and bus != "default" else f"rule/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:{path}"


def requirements(call: AwsCall, arns: StackArns) -> list[Requirement]:
    """The IAM authorisations ``call`` needs. Raises ``LookupError`` for a call this module cannot map."""
    fields: dict[str, str] = {}
    for name, value in call.resources:
        fields.setdefault(name, value)
    service, operation = call.service, call.operation
    prefix = _IAM_PREFIX.get(service, service)
    action = f"{prefix}:{_ACTION_NAMES.get((service, operation), operation)}"
    via = (("kms:ViaService", f"{service}.{arns.region}.amazonaws.com"),)

    if service == "dynamodb":
        return _dynamodb(call, fields, arns)
    if service == "s3":
        return _s3(call, fields, arns, action, via)
    if service == "sqs" and "QueueUrl" in fields:
        return [Requirement(action, arns.queue(fields["QueueUrl"]), because=operation)]
    if service == "sns" and "TopicArn" in fields:
        topic = fields["TopicArn"]
        needed = [Requirement(action, topic, because=operation)]
        if topic in arns.topic_keys:
            key = arns.key(arns.topic_keys[topic])
            because = f"{operation} to a topic encrypted with a customer key (SNS asks KMS as the publisher)"
            needed += [Requirement(f"kms:{kms}", key, via, because) for kms in ("GenerateDataKey", "Decrypt")]
        return needed
    if service == "kms" and "KeyId" in fields:
        context = tuple(
            (f"kms:{name}", value) for name, value in call.resources if name.startswith("EncryptionContext:")
        )
        return [Requirement(action, arns.key(fields["KeyId"]), context, operation)]
    if service == "secretsmanager" and "SecretId" in fields:
        secret = arns.secret(fields["SecretId"])
        needed = [Requirement(action, secret, because=operation)]
        if operation == "GetSecretValue" and secret in arns.secret_keys:
            because = (
                "GetSecretValue of a secret encrypted with a customer key (Secrets Manager decrypts as the caller)"
            )
            needed.append(Requirement("kms:Decrypt", arns.key(arns.secret_keys[secret]), via, because))
        return needed
    if service == "events" and "Name" in fields:
        return [Requirement(action, arns.rule(fields["Name"], fields.get("EventBusName")), because=operation)]
    if service == "ssm" and "Name" in fields:
        # A parameter's ARN holds its name after "parameter" (a name starting with "/" keeps its slash).
        name = fields["Name"] if fields["Name"].startswith("/") else f"/{fields['Name']}"
        return [Requirement(action, f"arn:aws:ssm:{arns.region}:{arns.account}:parameter{name}", because=operation)]
    if service == "sesv2" and operation == "SendEmail" and "FromEmailAddress" in fields:
        # SES authorises a send against the sending identity and, when one is named, the configuration set; the
        # identity is the address's own if it is verified as an address (the local stack's is), else its domain.
        sender = fields["FromEmailAddress"].rsplit("<", 1)[-1].rstrip(">")
        context = (("ses:FromAddress", sender),)
        ses_arn = f"arn:aws:ses:{arns.region}:{arns.account}"
        needed = [Requirement(action, f"{ses_arn}:identity/{sender}", context, operation)]
        if "ConfigurationSetName" in fields:
            configuration_set = f"{ses_arn}:configuration-set/{fields['ConfigurationSetName']}"
            needed.append(Requirement(action, configuration_set, context, operation))
        return needed
    if service == "cloudwatch" and operation == "PutMetricData":
        return [Requirement(action, "*", (("cloudwatch:namespace", fields.get("Namespace", "")),), operation)]
    raise LookupError(
        f"{service} {operation} with {dict(call.resources)}: no IAM mapping (teach tests/support/iam_policies)"
    )


def _dynamodb(call: AwsCall, fields: Mapping[str, str], arns: StackArns) -> list[Requirement]:
    operation = call.operation
    if operation == "TransactWriteItems":
        return [
            Requirement(f"dynamodb:{_TRANSACT_WRITE_ACTIONS[kind]}", arns.table(table), because=f"{operation} {kind}")
            for kind, table in call.resources
            if kind in _TRANSACT_WRITE_ACTIONS
        ]
    if operation == "TransactGetItems":
        return [
            Requirement("dynamodb:GetItem", arns.table(table), because=f"{operation} Get")
            for kind, table in call.resources
            if kind == "Get"
        ]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        tables = dict.fromkeys(
            table for kind, table in call.resources if kind in ("PutRequest", "DeleteRequest", "TableName")
        )
        return [Requirement(f"dynamodb:{operation}", arns.table(table), because=operation) for table in tables]
    if "TableName" not in fields:
        raise LookupError(f"dynamodb {operation} names no table")
    resource = arns.table(fields["TableName"])
    if operation in ("Query", "Scan") and "IndexName" in fields:
        resource = f"{resource}/index/{fields['IndexName']}"
    return [Requirement(f"dynamodb:{operation}", resource, because=operation)]


def _s3(
    call: AwsCall, fields: Mapping[str, str], arns: StackArns, action: str, via: tuple[tuple[str, str], ...]
) -> list[Requirement]:
    operation = call.operation
    bucket = fields.get("Bucket")
    if bucket is None:
        raise LookupError(f"s3 {operation} names no bucket")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if operation in ("ListObjectsV2", "ListObjects", "ListObjectVersions", "ListMultipartUploads", "HeadBucket"):
        return [Requirement(action, bucket_arn, (("s3:prefix", fields.get("Prefix", "")),), operation)]
    if operation == "DeleteObjects":
        keys = [value for name, value in call.resources if name == "DeleteKey"]
        return [Requirement("s3:DeleteObject", f"{bucket_arn}/{key}", because=operation) for key in keys]
    if "Key" not in fields:
        raise LookupError(f"s3 {operation} names no key")
    object_arn = f"{bucket_arn}/{fields['Key']}"
    if "VersionId" in fields and operation in ("GetObject", "HeadObject", "DeleteObject"):
        action = {"GetObject": "s3:GetObjectVersion", "HeadObject": "s3:GetObjectVersion"}.get(
            operation, "s3:DeleteObjectVersion"
        )
    needed = [Requirement(action, object_arn, because=operation)]
    if operation in ("CopyObject", "UploadPartCopy") and "CopySource" in fields:
        needed.append(Requirement("s3:GetObject", f"arn:aws:s3:::{fields['CopySource']}", because=operation))
    key_id = arns.bucket_keys.get(bucket)
    if key_id is not None:
        # The bucket encrypts with a customer key: S3 asks KMS with the caller's permissions.
        key = arns.key(key_id)
        because = f"{operation} on a bucket encrypted with a customer key (S3 asks KMS as the caller)"
        if operation in ("PutObject", "CopyObject", "CreateMultipartUpload"):
            needed.append(Requirement("kms:GenerateDataKey", key, via, because))
        if operation in ("GetObject", "UploadPart", "CompleteMultipartUpload", "CopyObject", "UploadPartCopy"):
            needed.append(Requirement("kms:Decrypt", key, via, because))
    return needed


def template_name(arn: str, arns: StackArns) -> str:
    """``LedgerTable`` for the ledger's ARN, ``LedgerTable/index/x`` for an index of it; "" for others."""
    for physical, logical_id in arns.logical_ids.items():
        if arn == physical or arn.startswith(f"{physical}/"):
            return logical_id + arn[len(physical) :]
    return ""


def check_calls(
    calls: Iterable[AwsCall], roles: Mapping[str, RolePolicy], arns: StackArns
) -> tuple[list[str], list[str], list[tuple[AwsCall, Requirement, Decision]]]:
    """(refusals, calls that could not be mapped, every decision) for the recorded calls."""
    refusals: list[str] = []
    unmapped: list[str] = []
    decisions: list[tuple[AwsCall, Requirement, Decision]] = []
    for call in calls:
        role = roles.get(call.function)
        if role is None:
            unmapped.append(f"{call.function}: not a function of the template ({call.service} {call.operation})")
            continue
        try:
            needed = requirements(call, arns)
        except LookupError as exc:
            unmapped.append(f"{call.function}: {exc}")
            continue
        for requirement in needed:
            decision = role.decide(requirement)
            decisions.append((call, requirement, decision))
            if not decision.allowed:
                refusals.append(
                    refusal_message(call, requirement, decision, role, template_name(requirement.resource, arns))
                )
    return sorted(set(refusals)), sorted(set(unmapped)), decisions


def refusal_message(
    call: AwsCall, requirement: Requirement, decision: Decision, role: RolePolicy, resource_name: str = ""
) -> str:
    context = "".join(f", {key} = {value}" for key, value in requirement.context if key != "cloudwatch:namespace")
    needed = f'{{"Effect": "Allow", "Action": "{requirement.action}", "Resource": "{requirement.resource}"}}'
    why = f"denied by {decision.denied_by.name}" if decision.denied_by else "no statement allows it"
    return (
        f"{call.function} ({role.role}): {requirement.action} on {requirement.resource}{context} "
        f"[{requirement.because}] - {why}; it needs {needed}"
        + (f" (the template's {resource_name})" if resource_name else "")
    )


def _statement_list(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value)
    return (str(value),)

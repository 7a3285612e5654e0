"""template.yaml against the AWS rules a deploy only shows once it runs in someone's account.

moto (the local stack) does not enforce KMS key policies, alarm actions, name limits or IAM, so a stack
that starts locally can still send no alarm email on AWS. These checks read the template as CloudFormation
gets it (after the SAM transform: the functions' roles with SAM's policy templates expanded, the
``AWS::Lambda::Function`` and ``AWS::ApiGatewayV2::Api`` SAM makes) and fail when:

- an alarm's actions name an SNS topic whose KMS key is AWS-managed (``alias/aws/...``: its policy cannot
  be changed and does not let CloudWatch use it), is outside the template, or whose key policy does not let
  ``cloudwatch.amazonaws.com`` Decrypt and GenerateDataKey for that alarm (or lets it without the
  ``aws:SourceAccount``/``aws:SourceArn`` scoping AWS recommends against the confused deputy);
- an EventBridge rule targets a topic whose key does not let ``events.amazonaws.com`` do the same. AWS
  documents no ``aws:SourceAccount``/``aws:SourceArn`` for that delivery, so a grant that depends on them
  counts as no grant;
- a function has no alarm on its ``AWS/Lambda`` ``Errors`` metric, or no log group (``/aws/lambda/<name>``,
  or its ``LoggingConfig.LogGroup``) with a ``RetentionInDays``;
- an HTTP API has no alarm on its ``AWS/ApiGateway`` ``5xx`` metric (dimension ``ApiId``);
- an EventBridge rule's ``Name`` could exceed 64 characters (stack names may have 128);
- a function allowed to publish to an encrypted topic cannot use the topic's key (SNS asks KMS for a data
  key with the publisher's own permissions: ``kms:GenerateDataKey`` and ``kms:Decrypt``).

Each check is shown to fail on a copy of template.yaml with one thing broken.
"""

from __future__ import annotations

import copy
import fnmatch
import operator
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orcid_sync_local.sam_transform import transform_sam
from orcid_sync_local.template import CfnYamlLoader

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# Values for the parameters without a default; the others keep theirs.
PARAMETERS = {"OrcidClientId": "APP-0123456789ABCDEF", "PortalBaseUrl": "https://repository.example.edu/profiles"}
STACK, REGION, ACCOUNT, PARTITION = "orcid-sync", "us-east-1", "123456789012", "aws"
# What CloudFormation appends to a name it generates (<stack>-<logical id>-<suffix>).
SUFFIX = "1A2B3C4D5E6F7"
RULE_NAME_MAX = 64
# The longest values of the pseudo parameters a rule name could be built from.
LONGEST = {
    "AWS::StackName": "s" * 128,
    "AWS::Region": "us-isof-south-1",
    "AWS::Partition": "aws-us-gov",
    "AWS::AccountId": "0" * 12,
    "AWS::URLSuffix": "amazonaws.com.cn",
}
LONGEST["AWS::StackId"] = (
    f"arn:{LONGEST['AWS::Partition']}:cloudformation:{LONGEST['AWS::Region']}:{LONGEST['AWS::AccountId']}:"
    f"stack/{LONGEST['AWS::StackName']}/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}"
)
KEY_USE = ("kms:Decrypt", "kms:GenerateDataKey")
AWS_MANAGED_KEY = re.compile(r"(^|:)alias/aws/")


# --- the template, as CloudFormation gets it ----------------------------------------------------


def read_template() -> dict[str, Any]:
    body = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnYamlLoader)
    assert isinstance(body, dict)
    return body


def sam_transform(body: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``body``: the local stack's own transform, so the checks
    read what the local stack provisions (and what ``sam`` deploys: the same translator)."""
    return transform_sam(body, PARAMETERS, region=REGION)


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return read_template()


@pytest.fixture(scope="module")
def deployed(source: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(source)


# --- reading intrinsic functions ------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def references(value: Any) -> set[str]:
    """Logical ids (and parameter names) that ``value`` refers to through Ref, GetAtt and Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref":
                found.add(str(argument))
            elif key == "Fn::GetAtt":
                found.add(str(argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]))
            elif key == "Fn::Sub":
                text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
                names = {match.split(".", 1)[0] for match in _SUB_VARIABLE.findall(str(text))}
                found |= names - set(variables)
                found |= references(variables)
            else:
                found |= references(argument)
    return {name for name in found if not name.startswith("AWS::")}


class Unresolvable(ValueError):
    """A value this module cannot compute without deploying (a resource's attribute, Fn::If ...)."""


class Sample:
    """Resolves intrinsic functions for one imagined deployment of the stack.

    Physical names are the ones CloudFormation generates (``<stack>-<logical id>-<suffix>``) unless the
    template names the resource; ``unbounded`` makes any resource reference unresolvable (name limits).
    """

    def __init__(self, template: dict[str, Any], pseudo: dict[str, str] | None = None, *, unbounded: bool = False):
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters: dict[str, Any] = template.get("Parameters") or {}
        self.unbounded = unbounded
        self.pseudo = {
            "AWS::StackName": STACK,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            **(pseudo or {}),
        }
        self.pseudo.setdefault(
            "AWS::StackId",
            f"arn:{self.pseudo['AWS::Partition']}:cloudformation:{self.pseudo['AWS::Region']}:"
            f"{self.pseudo['AWS::AccountId']}:stack/{self.pseudo['AWS::StackName']}/0f0e0d0c-0b0a-4909-8807-060504030201",
        )

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.pseudo["AWS::Region"] if regional else ""
        return f"arn:{self.pseudo['AWS::Partition']}:{service}:{region}:{self.pseudo['AWS::AccountId']}:{resource}"

    def name(self, logical_id: str, name_property: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        if name_property in props:
            return str(self.resolve(props[name_property]))
        return f"{self.pseudo['AWS::StackName']}-{logical_id}-{SUFFIX}"

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self._parameter(name)
        if name not in self.resources:
            raise Unresolvable(f"no parameter or resource {name}")
        if self.unbounded:
            raise Unresolvable(f"the value of {name} is only known once deployed")
        kind = self.resources[name]["Type"]
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", self.name(name, "TopicName"))
        if kind == "AWS::KMS::Key":
            return "0f0e0d0c-0b0a-4909-8807-" + name.lower()[:12].ljust(12, "0")
        named_by = {
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Events::Rule": "Name",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::IAM::Role": "RoleName",
        }
        if kind in named_by:
            return self.name(name, named_by[kind])
        if kind == "AWS::ApiGatewayV2::Api":
            return "a1b2c3d4e5"
        raise Unresolvable(f"!Ref {name} ({kind})")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if self.unbounded or logical_id not in self.resources:
            raise Unresolvable(f"!GetAtt {logical_id}.{attribute}")
        kind = self.resources[logical_id]["Type"]
        ref = self.ref(logical_id)
        arns = {
            ("AWS::KMS::Key", "Arn"): lambda: self.arn("kms", f"key/{ref}"),
            ("AWS::SNS::Topic", "TopicArn"): lambda: ref,
            ("AWS::SNS::Topic", "TopicName"): lambda: str(ref).rsplit(":", 1)[1],
            ("AWS::Lambda::Function", "Arn"): lambda: self.arn("lambda", f"function:{ref}"),
            ("AWS::Events::Rule", "Arn"): lambda: self.arn("events", f"rule/{ref}"),
            ("AWS::CloudWatch::Alarm", "Arn"): lambda: self.arn("cloudwatch", f"alarm:{ref}"),
            ("AWS::IAM::Role", "Arn"): lambda: self.arn("iam", f"role/{ref}", regional=False),
        }
        if (kind, attribute) not in arns:
            raise Unresolvable(f"!GetAtt {logical_id}.{attribute} ({kind})")
        return arns[(kind, attribute)]()

    def _parameter(self, name: str) -> Any:
        declared = self.parameters[name]
        if self.unbounded:
            if "AllowedValues" in declared:
                return max((str(value) for value in declared["AllowedValues"]), key=len)
            if "MaxLength" in declared:
                return "p" * int(declared["MaxLength"])
            raise Unresolvable(f"parameter {name} has no AllowedValues or MaxLength")
        if name in PARAMETERS:
            return PARAMETERS[name]
        if "Default" in declared:
            return declared["Default"]
        raise Unresolvable(f"parameter {name} has no value")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(str(argument))
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self.resolve(items))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if function.startswith("Fn::") or function == "Condition":
            raise Unresolvable(f"{function} is not resolved here")
        return {function: self.resolve(argument)}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        local = {name: self.resolve(item) for name, item in dict(variables).items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in local:
                return str(local[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))


# --- the checks -----------------------------------------------------------------------------------


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covers(patterns: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(pattern).lower()) for pattern in _as_list(patterns))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": operator.eq,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": operator.eq,
    "ArnLike": fnmatch.fnmatchcase,
}


def conditions_hold(sample: Sample, condition: Any, context: dict[str, str]) -> bool:
    """Whether every condition of a statement holds for a request with ``context`` (its condition keys)."""
    for name, tests in (sample.resolve(condition) or {}).items():
        compare = _OPERATORS.get(name)
        if compare is None:
            return False  # an operator this module does not evaluate cannot prove a grant
        for key, expected in tests.items():
            actual = next((value for known, value in context.items() if known.lower() == key.lower()), None)
            if actual is None or not any(compare(actual, str(item)) for item in _as_list(expected)):
                return False
    return True


def _statements(document: Any) -> list[dict[str, Any]]:
    return [statement for statement in _as_list((document or {}).get("Statement") or []) if isinstance(statement, dict)]


def key_policy_allows(
    template: dict[str, Any],
    key_id: str,
    principal: tuple[str, set[str]],
    actions: tuple[str, ...],
    context: dict[str, str],
) -> list[dict[str, Any]]:
    """The key policy's statements that allow ``principal`` (its kind and names) each of ``actions``.

    Empty when one of the actions is not allowed (or denied) for a request with ``context``.
    """
    kind, names = principal
    sample = Sample(template)
    document = sample.resolve(template["Resources"][key_id]["Properties"].get("KeyPolicy"))
    granting: list[dict[str, Any]] = []
    for action in actions:
        allowed = None
        for statement in _statements(document):
            named = _as_list((statement.get("Principal") or {}).get(kind, []))
            if not names & {str(item) for item in named}:
                continue
            if not _covers(statement.get("Action"), action) or "*" not in _as_list(statement.get("Resource")):
                continue
            if not conditions_hold(sample, statement.get("Condition"), context):
                continue
            if statement.get("Effect") == "Deny":
                return []
            allowed = allowed or statement
        if allowed is None:
            return []
        granting.append(allowed)
    return granting


def topic_key(template: dict[str, Any], topic_id: str) -> tuple[str, str]:
    """How a topic is encrypted: ("none", ""), ("aws-managed", key), ("outside", key) or ("cmk", logical id)."""
    key = template["Resources"][topic_id].get("Properties", {}).get("KmsMasterKeyId")
    if key is None:
        return "none", ""
    try:
        resolved = str(Sample(template).resolve(key))
    except Unresolvable:
        resolved = ""
    if AWS_MANAGED_KEY.search(resolved):
        return "aws-managed", resolved
    resources = template["Resources"]
    for named in references(key):
        target = named
        if resources.get(named, {}).get("Type") == "AWS::KMS::Alias":
            (target,) = references(resources[named]["Properties"]["TargetKeyId"]) or {""}
        if resources.get(target, {}).get("Type") == "AWS::KMS::Key":
            return "cmk", target
    return "outside", resolved or repr(key)


def _topics_named(template: dict[str, Any], value: Any) -> set[str]:
    return {ref for ref in references(value) if template["Resources"].get(ref, {}).get("Type") == "AWS::SNS::Topic"}


def _service_may_publish(
    template: dict[str, Any], topic_id: str, service: str, context: dict[str, str], who: str
) -> list[str]:
    kind, key = topic_key(template, topic_id)
    if kind == "none":
        return []
    if kind == "aws-managed":
        return [f"{who} publishes to {topic_id}, encrypted with the AWS-managed key {key}: {service} cannot use it"]
    if kind == "outside":
        return [f"{who} publishes to {topic_id}, whose key {key} is not in the template: its policy cannot be checked"]
    context = {**context, "kms:EncryptionContext:aws:sns:topicArn": Sample(template).ref(topic_id)}
    granting = key_policy_allows(template, key, ("Service", {service}), KEY_USE, context)
    if not granting:
        return [f"{who} publishes to {topic_id}, but {key}'s policy does not let {service} {' and '.join(KEY_USE)}"]
    return []


def alarm_action_problems(template: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    sample = Sample(template)
    for alarm_id, props in of_type(template, "AWS::CloudWatch::Alarm").items():
        actions = [
            action
            for kind in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for action in _as_list(props.get(kind) or [])
        ]
        context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": sample.get_att(alarm_id, "Arn")}
        problems += [
            f"{alarm_id} publishes to {action}, a topic outside the template: its key cannot be checked"
            for action in actions
            if isinstance(action, str) and ":sns:" in action
        ]
        for topic_id in sorted(_topics_named(template, actions)):
            found = _service_may_publish(template, topic_id, "cloudwatch.amazonaws.com", context, alarm_id)
            problems += found
            kind, key = topic_key(template, topic_id)
            if not found and kind == "cmk":
                problems += _unscoped_grants(template, key)
    return list(dict.fromkeys(problems))


def _unscoped_grants(template: dict[str, Any], key_id: str) -> list[str]:
    # The same key policy must refuse another account's alarm (the confused deputy AWS warns about).
    foreign = Sample(template, {"AWS::AccountId": "999999999999"})
    context = {
        "aws:SourceAccount": "999999999999",
        "aws:SourceArn": foreign.arn("cloudwatch", f"alarm:{foreign.pseudo['AWS::StackName']}-alarm"),
        "kms:EncryptionContext:aws:sns:topicArn": foreign.arn("sns", "another-topic"),
    }
    if key_policy_allows(template, key_id, ("Service", {"cloudwatch.amazonaws.com"}), KEY_USE, context):
        return [f"{key_id} lets cloudwatch.amazonaws.com use it for any account's alarms (no aws:Source* scoping)"]
    return []


def rule_target_problems(template: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for rule_id, props in of_type(template, "AWS::Events::Rule").items():
        for target in props.get("Targets") or []:
            for topic_id in sorted(_topics_named(template, target.get("Arn"))):
                # No aws:SourceAccount/aws:SourceArn in the context: AWS does not document them for this delivery.
                problems += _service_may_publish(template, topic_id, "events.amazonaws.com", {}, rule_id)
    return problems


def _metric_alarms(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(alarm id, alarm properties, metric) for every metric an alarm watches (metric math included)."""
    for alarm_id, props in of_type(template, "AWS::CloudWatch::Alarm").items():
        if "MetricName" in props:
            yield alarm_id, props, props
        for query in props.get("Metrics") or []:
            metric = (query.get("MetricStat") or {}).get("Metric")
            if metric:
                yield alarm_id, props, metric


def _watched(template: dict[str, Any], namespace: str, metric_name: str, dimension: str) -> set[str]:
    """Logical ids whose ``metric_name`` an alarm with actions watches (by the ``dimension`` naming them)."""
    watched: set[str] = set()
    for _, props, metric in _metric_alarms(template):
        if metric.get("Namespace") != namespace or str(metric.get("MetricName")) != metric_name:
            continue
        if not props.get("AlarmActions") or props.get("ActionsEnabled") is False:
            continue
        for item in metric.get("Dimensions") or []:
            if item.get("Name") == dimension:
                watched |= references(item.get("Value"))
    return watched


def function_error_alarm_problems(template: dict[str, Any]) -> list[str]:
    watched = _watched(template, "AWS/Lambda", "Errors", "FunctionName")
    return [
        f"{function_id} has no alarm (with actions) on its AWS/Lambda Errors metric"
        for function_id in of_type(template, "AWS::Lambda::Function")
        if function_id not in watched
    ]


def http_api_5xx_problems(template: dict[str, Any]) -> list[str]:
    watched = _watched(template, "AWS/ApiGateway", "5xx", "ApiId")
    return [
        f"HTTP API {api_id} has no alarm (with actions) on its AWS/ApiGateway 5xx metric (dimension ApiId)"
        for api_id, props in of_type(template, "AWS::ApiGatewayV2::Api").items()
        if props.get("ProtocolType") != "WEBSOCKET" and api_id not in watched
    ]


def log_group_problems(template: dict[str, Any]) -> list[str]:
    sample = Sample(template)
    groups: dict[str, dict[str, Any]] = {}
    for group_id, props in of_type(template, "AWS::Logs::LogGroup").items():
        try:
            groups[str(sample.ref(group_id))] = props
        except Unresolvable:
            continue
    problems: list[str] = []
    for function_id, props in of_type(template, "AWS::Lambda::Function").items():
        custom = (props.get("LoggingConfig") or {}).get("LogGroup")
        name = str(sample.resolve(custom)) if custom else f"/aws/lambda/{sample.ref(function_id)}"
        if name not in groups:
            problems.append(f"{function_id} logs to {name}, which the template does not declare (logs kept forever)")
        elif "RetentionInDays" not in groups[name]:
            problems.append(f"{function_id}'s log group {name} has no RetentionInDays (logs kept forever)")
    return problems


def rule_name_problems(template: dict[str, Any]) -> list[str]:
    longest = Sample(template, LONGEST, unbounded=True)
    problems: list[str] = []
    for rule_id, props in of_type(template, "AWS::Events::Rule").items():
        if "Name" not in props:
            continue  # CloudFormation generates a name that fits
        try:
            name = str(longest.resolve(props["Name"]))
        except Unresolvable as exc:
            problems.append(f"{rule_id}'s Name cannot be bounded ({exc}): it may exceed {RULE_NAME_MAX} characters")
            continue
        if len(name) > RULE_NAME_MAX:
            problems.append(
                f"{rule_id}'s Name has {len(name)} characters with a 128-character stack name (limit {RULE_NAME_MAX})"
            )
    return problems


def _role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    resources = template["Resources"]
    role = resources.get(role_id, {}).get("Properties") or {}
    documents = [policy.get("PolicyDocument") for policy in role.get("Policies") or []]
    documents += [
        props.get("PolicyDocument")
        for props in of_type(template, "AWS::IAM::Policy").values()
        if role_id in references(props.get("Roles"))
    ]
    documents += [
        resources[ref]["Properties"].get("PolicyDocument")
        for ref in references(role.get("ManagedPolicyArns"))
        if resources.get(ref, {}).get("Type") == "AWS::IAM::ManagedPolicy"
    ]
    return [statement for document in documents for statement in _statements(document)]


def publisher_key_problems(template: dict[str, Any]) -> list[str]:
    sample = Sample(template)
    problems: list[str] = []
    for function_id, props in of_type(template, "AWS::Lambda::Function").items():
        roles = references(props.get("Role"))
        statements = [statement for role_id in sorted(roles) for statement in _role_statements(template, role_id)]
        every_topic = set(of_type(template, "AWS::SNS::Topic"))
        published = {
            topic_id
            for statement in statements
            if statement.get("Effect") == "Allow" and _covers(statement.get("Action"), "sns:Publish")
            for topic_id in (
                every_topic
                if "*" in _as_list(statement.get("Resource"))
                else _topics_named(template, statement.get("Resource"))
            )
        }
        for topic_id in sorted(published):
            kind, key_id = topic_key(template, topic_id)
            if kind != "cmk":
                continue  # an AWS-managed key lets every principal of the account publish through SNS
            context = {
                "kms:ViaService": f"sns.{REGION}.amazonaws.com",
                "kms:CallerAccount": ACCOUNT,
                "kms:EncryptionContext:aws:sns:topicArn": sample.ref(topic_id),
            }
            # The key policy must let IAM policies grant the key (the account as principal) for the role's to count.
            account = ("AWS", {f"arn:{PARTITION}:iam::{ACCOUNT}:root", ACCOUNT})
            if not key_policy_allows(template, key_id, account, KEY_USE, context):
                problems.append(f"{key_id}'s policy does not let IAM policies grant it, so {function_id} cannot use it")
                continue
            for action in KEY_USE:
                if not any(
                    statement.get("Effect") == "Allow"
                    and _covers(statement.get("Action"), action)
                    and (key_id in references(statement.get("Resource")) or "*" in _as_list(statement.get("Resource")))
                    and conditions_hold(sample, statement.get("Condition"), context)
                    for statement in statements
                ):
                    problems.append(f"{function_id} publishes to {topic_id} but may not {action} with its key {key_id}")
    return problems


CHECKS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "alarm actions": alarm_action_problems,
    "rule targets": rule_target_problems,
    "function errors": function_error_alarm_problems,
    "log groups": log_group_problems,
    "api 5xx": http_api_5xx_problems,
    "rule names": rule_name_problems,
    "publishers": publisher_key_problems,
}


# --- template.yaml passes ---------------------------------------------------------------------------


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_template_passes(deployed: dict[str, Any], check: str) -> None:
    assert CHECKS[check](deployed) == []


def test_the_checks_have_something_to_check(deployed: dict[str, Any]) -> None:
    """Guards against a check passing vacuously (a renamed type, a transform that changed shape)."""
    assert len(of_type(deployed, "AWS::Lambda::Function")) >= 6
    assert of_type(deployed, "AWS::ApiGatewayV2::Api")
    assert len(of_type(deployed, "AWS::CloudWatch::Alarm")) >= 11
    assert topic_key(deployed, "NotificationTopic")[0] == "cmk"
    assert publisher_key_problems(deployed) == [] and any(
        "NotificationTopic" in _topics_named(deployed, statement.get("Resource"))
        for role_id in of_type(deployed, "AWS::IAM::Role")
        for statement in _role_statements(deployed, role_id)
    )


# --- each check fails on a template with one thing broken -------------------------------------------


def _props(body: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = body["Resources"][logical_id]["Properties"]
    return props


def _key_statement(body: dict[str, Any], sid: str) -> dict[str, Any]:
    (statement,) = [s for s in _props(body, "NotificationKey")["KeyPolicy"]["Statement"] if s.get("Sid") == sid]
    return statement


def _drop_key_statement(body: dict[str, Any], sid: str) -> None:
    policy = _props(body, "NotificationKey")["KeyPolicy"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]


def _drop_function_statement(body: dict[str, Any], function_id: str, sid: str) -> None:
    policies = _props(body, function_id)["Policies"]
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    emptied = [policy for policy in policies if isinstance(policy, dict) and policy.get("Statement") == []]
    _props(body, function_id)["Policies"] = [policy for policy in policies if policy not in emptied]


def _function_statement(body: dict[str, Any], function_id: str, sid: str) -> dict[str, Any]:
    (statement,) = [
        s
        for policy in _props(body, function_id)["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for s in policy["Statement"]
        if s.get("Sid") == sid
    ]
    return statement


def _add_rule_to_topic(body: dict[str, Any]) -> None:
    body["Resources"]["FailedJobsToTopicRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventPattern": {"source": ["aws.lambda"]},
            "Targets": [{"Id": "topic", "Arn": {"Ref": "NotificationTopic"}}],
        },
    }


def _drop_resource(body: dict[str, Any], logical_id: str) -> None:
    del body["Resources"][logical_id]
    dashboard = _props(body, "OperationsDashboard")
    dashboard["DashboardBody"]["Fn::Sub"] = dashboard["DashboardBody"]["Fn::Sub"].replace(
        f'"${{{logical_id}.Arn}}", ', ""
    )


BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    (
        "topic on the AWS-managed SNS key",
        "alarm actions",
        lambda body: _props(body, "NotificationTopic").update(KmsMasterKeyId="alias/aws/sns"),
        "AWS-managed key alias/aws/sns",
    ),
    (
        "topic on the AWS-managed SNS key, by ARN",
        "alarm actions",
        lambda body: _props(body, "NotificationTopic").update(
            KmsMasterKeyId={"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/aws/sns"}
        ),
        "AWS-managed key",
    ),
    (
        "topic on a key outside the template",
        "alarm actions",
        lambda body: _props(body, "NotificationTopic").update(KmsMasterKeyId="alias/somebody-elses-key"),
        "not in the template",
    ),
    (
        "alarm to a topic ARN outside the template",
        "alarm actions",
        lambda body: _props(body, "PushDeadLetterAlarm").update(
            OKActions=["arn:aws:sns:us-east-1:123456789012:someone-elses-topic"]
        ),
        "a topic outside the template",
    ),
    (
        "key policy without CloudWatch",
        "alarm actions",
        lambda body: _drop_key_statement(body, "CloudWatchAlarmsPublishToTheTopic"),
        "does not let cloudwatch.amazonaws.com",
    ),
    (
        "CloudWatch may Decrypt but not GenerateDataKey",
        "alarm actions",
        lambda body: _key_statement(body, "CloudWatchAlarmsPublishToTheTopic").update(Action=["kms:Decrypt"]),
        "does not let cloudwatch.amazonaws.com",
    ),
    (
        "an alarm named outside the key policy's aws:SourceArn",
        "alarm actions",
        lambda body: _props(body, "Api5xxAlarm").update(AlarmName="orcid-api-5xx"),
        "Api5xxAlarm publishes to NotificationTopic, but NotificationKey's policy does not let",
    ),
    (
        "CloudWatch grant for any account's alarms",
        "alarm actions",
        lambda body: _key_statement(body, "CloudWatchAlarmsPublishToTheTopic").pop("Condition"),
        "any account's alarms",
    ),
    (
        "a rule to the topic, key policy without EventBridge",
        "rule targets",
        lambda body: (_add_rule_to_topic(body), _drop_key_statement(body, "EventBridgeRulesPublishToTheTopic")),
        "does not let events.amazonaws.com",
    ),
    (
        "a rule to the topic, EventBridge grant conditioned on aws:SourceArn",
        "rule targets",
        lambda body: (
            _add_rule_to_topic(body),
            _key_statement(body, "EventBridgeRulesPublishToTheTopic").update(
                Condition={"ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:events:*"}}}
            ),
        ),
        "does not let events.amazonaws.com",
    ),
    (
        "token importer without an error alarm",
        "function errors",
        lambda body: _drop_resource(body, "TokenImportErrorsAlarm"),
        "TokenImportFunction has no alarm",
    ),
    (
        "admin API alarm on Throttles, not Errors",
        "function errors",
        lambda body: _props(body, "AdminApiErrorsAlarm").update(MetricName="Throttles"),
        "AdminApiFunction has no alarm",
    ),
    (
        "connect errors alarm without actions",
        "function errors",
        lambda body: _props(body, "ConnectErrorsAlarm").pop("AlarmActions"),
        "ConnectFunction has no alarm",
    ),
    (
        "pull worker without a log group",
        "log groups",
        lambda body: body["Resources"].pop("PullWorkerLogGroup"),
        "PullWorkerFunction logs to /aws/lambda/",
    ),
    (
        "connect log group without retention",
        "log groups",
        lambda body: _props(body, "ConnectLogGroup").pop("RetentionInDays"),
        "has no RetentionInDays",
    ),
    (
        "log group named after the wrong function",
        "log groups",
        lambda body: _props(body, "PushWorkerLogGroup").update(
            LogGroupName={"Fn::Sub": "/aws/lambda/${PullWorkerFunction}"}
        ),
        "PushWorkerFunction logs to /aws/lambda/",
    ),
    (
        "HTTP API without a 5xx alarm",
        "api 5xx",
        lambda body: _drop_resource(body, "Api5xxAlarm"),
        "HTTP API Api has no alarm",
    ),
    (
        "5xx alarm on the REST API metric name",
        "api 5xx",
        lambda body: _props(body, "Api5xxAlarm").update(MetricName="5XXError"),
        "HTTP API Api has no alarm",
    ),
    (
        "rule named after the stack",
        "rule names",
        lambda body: _props(body, "PushScheduleRule").update(Name={"Fn::Sub": "${AWS::StackName}-push-schedule"}),
        "PushScheduleRule's Name has 142 characters",
    ),
    (
        "rule with a 65-character name",
        "rule names",
        lambda body: _props(body, "PullScheduleRule").update(Name="p" * 65),
        "PullScheduleRule's Name has 65 characters",
    ),
    (
        "rule named after a free-form parameter",
        "rule names",
        lambda body: _props(body, "PullScheduleRule").update(Name={"Ref": "PortalBaseUrl"}),
        "cannot be bounded",
    ),
    (
        "push worker without the topic key",
        "publishers",
        lambda body: _drop_function_statement(body, "PushWorkerFunction", "PublishToTheEncryptedTopic"),
        "PushWorkerFunction publishes to NotificationTopic but may not kms:Decrypt",
    ),
    (
        "scheduler may use the topic key only through S3",
        "publishers",
        lambda body: _function_statement(body, "JobSchedulerFunction", "PublishToTheEncryptedTopic").update(
            Condition={"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}
        ),
        "JobSchedulerFunction publishes to NotificationTopic but may not kms:Decrypt",
    ),
    (
        "token importer may Decrypt but not GenerateDataKey",
        "publishers",
        lambda body: _function_statement(body, "TokenImportFunction", "PublishToTheEncryptedTopic").update(
            Action=["kms:Decrypt"]
        ),
        "TokenImportFunction publishes to NotificationTopic but may not kms:GenerateDataKey",
    ),
    (
        "key policy that leaves IAM out",
        "publishers",
        lambda body: _drop_key_statement(body, "AccountAdministersTheKey"),
        "does not let IAM policies grant it",
    ),
]


@pytest.mark.parametrize(("check", "break_it", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_each_check_fails_on_a_broken_template(
    source: dict[str, Any], check: str, break_it: Callable[[dict[str, Any]], None], expected: str
) -> None:
    broken = copy.deepcopy(source)
    break_it(broken)
    problems = CHECKS[check](sam_transform(broken))
    assert any(expected in problem for problem in problems), problems


def test_a_rule_to_the_topic_would_work_as_the_key_policy_stands(source: dict[str, Any]) -> None:
    """The EventBridge grant is not dead weight: a rule that targets the topic passes as the template is."""
    with_rule = copy.deepcopy(source)
    _add_rule_to_topic(with_rule)
    assert rule_target_problems(sam_transform(with_rule)) == []


def test_a_short_literal_rule_name_is_fine(source: dict[str, Any]) -> None:
    named = copy.deepcopy(source)
    _props(named, "PushScheduleRule")["Name"] = "orcid-sync-push-schedule"
    assert rule_name_problems(sam_transform(named)) == []

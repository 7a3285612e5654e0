"""Read a SAM/CloudFormation template and resolve its intrinsic functions against a local stack.

The local stack is built from the same ``template.yaml`` that is deployed. The SAM transform is the real
one (:mod:`orcid_sync_local.sam_transform`); this module does the parts of CloudFormation the local stack
needs around it: short-form tags, parameters, conditions and intrinsic functions.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from .sam_transform import SamTransformError, is_sam_template, transform_sam

DEFAULT_STACK_NAME: Final = "orcid-sync-local"
DEFAULT_REGION: Final = "us-east-1"
# moto's default account: every ARN moto hands out carries it, so ours must too.
MOTO_ACCOUNT_ID: Final = "123456789012"

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be read or resolved: the message names the resource and the problem."""


class _NoValue:
    """``AWS::NoValue``: the property or list item that resolves to it is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


# --- YAML -------------------------------------------------------------------------------------


# libyaml's parser when PyYAML has it (five times faster on template.yaml), else the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnYamlLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A YAML loader that turns CloudFormation short-form tags (``!Ref``, ``!Sub`` ...) into long form."""


def _construct_intrinsic(loader: Any, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Res.Attr.With.Dots": the logical id never has a dot, the attribute may.
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation reads unquoted dates as strings; PyYAML would make them datetime objects.
CfnYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in CfnYamlLoader.yaml_implicit_resolvers.copy().items()
}


def load_template(path: Path) -> Template:
    """Read a template file (YAML or JSON) into a :class:`Template`."""
    resolved = path.resolve()
    try:
        status = resolved.stat()
        body = yaml.load(resolved.read_text(encoding="utf-8"), Loader=CfnYamlLoader)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc}") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not a valid template: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path}: a template needs a Resources mapping")
    return Template(path=resolved, body=body, stamp=(status.st_mtime_ns, status.st_size))


# --- identity and physical resources ----------------------------------------------------------


@dataclass(frozen=True)
class StackIdentity:
    """Where the stack lives: its name, region, account and partition (the pseudo parameters)."""

    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    account_id: str = MOTO_ACCOUNT_ID
    partition: str = "aws"
    # Like CloudFormation's, unique per stack: names derived from the stack id never collide.
    stack_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def stack_id(self) -> str:
        return self.arn("cloudformation", f"stack/{self.stack_name}/{self.stack_uuid}")

    def arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        """An ARN in this stack's partition, region and account."""
        region = self.region if regional else ""
        account_id = self.account_id if account else ""
        return f"arn:{self.partition}:{service}:{region}:{account_id}:{resource}"

    def pseudo_parameter(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]


def physical_name(
    identity: StackIdentity, logical_id: str, *, max_length: int, lowercase: bool = False, suffix: str = ""
) -> str:
    """A name like CloudFormation generates: ``<stack>-<LogicalId>-<RANDOM>``, truncated to fit.

    The random part keeps two stacks (or two test runs sharing moto's in-process state) apart.
    """
    alphabet = string.ascii_uppercase + string.digits
    random_part = "".join(secrets.choice(alphabet) for _ in range(12))
    room = max_length - len(random_part) - len(suffix) - 1
    name = f"{f'{identity.stack_name}-{logical_id}'[:room]}-{random_part}{suffix}"
    return name.lower() if lowercase else name


@dataclass(frozen=True)
class PhysicalResource:
    """A created (or, for glue-handled types, named) resource: what ``!Ref`` and ``!GetAtt`` return."""

    logical_id: str
    resource_type: str
    ref: Any
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def get_att(self, name: str) -> Any:
        if name not in self.attributes:
            known = ", ".join(sorted(self.attributes)) or "none"
            raise TemplateError(
                f"!GetAtt {self.logical_id}.{name}: {self.resource_type} has no such attribute locally (known: {known})"
            )
        return self.attributes[name]


# --- the template -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A parsed template; for a SAM template, :meth:`transformed` is the CloudFormation that gets created."""

    path: Path
    body: Mapping[str, Any]
    # (mtime_ns, size) of the file the body was read from: with the path, it keys the transform cache.
    stamp: tuple[int, int] | None = None

    @property
    def root(self) -> Path:
        """Directory that CodeUri and ContentUri paths are relative to."""
        return self.path.parent

    @property
    def is_sam(self) -> bool:
        """Whether the template needs the SAM transform (``Transform: AWS::Serverless-2016-10-31``)."""
        return is_sam_template(self.body)

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.body.get("Parameters") or {})

    @property
    def conditions(self) -> Mapping[str, Any]:
        return dict(self.body.get("Conditions") or {})

    @property
    def mappings(self) -> Mapping[str, Any]:
        return dict(self.body.get("Mappings") or {})

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.body.get("Outputs") or {})

    @property
    def declared_resources(self) -> Mapping[str, Mapping[str, Any]]:
        """The resources as written in the template (before any transform)."""
        return dict(self.body["Resources"])

    def resource_types(self) -> set[str]:
        """Every resource type CloudFormation would create (after the SAM transform)."""
        return {resource["Type"] for resource in self.resources.values()}

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources CloudFormation would create (deep copies, safe to mutate).

        For a SAM template these are the transform's, with the parameters' default values (see
        :meth:`transformed` for a stack's own values).
        """
        source = self.transformed() if self.is_sam else self
        resources = source.declared_resources
        for logical_id, resource in resources.items():
            if not isinstance(resource, Mapping) or "Type" not in resource:
                raise TemplateError(f"resource {logical_id} has no Type")
        return copy.deepcopy(dict(resources))  # type: ignore[arg-type]

    def transformed(self, parameters: Mapping[str, Any] | None = None, *, region: str = DEFAULT_REGION) -> Template:
        """The plain CloudFormation template the SAM transform makes of this one, for these parameter values.

        A template without the SAM transform is returned as it is. Results are cached per file (path,
        mtime, size), parameter values and region.
        """
        if not self.is_sam:
            return self
        source_key = None if self.stamp is None else (str(self.path), *self.stamp)
        try:
            body = transform_sam(self.body, parameters or {}, region=region, source_key=source_key)
        except SamTransformError as exc:
            raise TemplateError(f"{self.path}: {exc}") from None
        return Template(path=self.path, body=body)

    def parameter_values(self, overrides: Mapping[str, Any] | None = None, *, partial: bool = False) -> dict[str, Any]:
        """Parameter values (defaults, then overrides), validated as CloudFormation would.

        With ``partial``, a parameter with neither a value nor a default is left out rather than refused.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, declaration in self.parameters.items():
            if name in overrides:
                raw = overrides[name]
            elif "Default" in declaration:
                raw = declaration["Default"]
            else:
                if not partial:
                    problems.append(f"{name}: no value and no default")
                continue
            problem = _parameter_problem(declaration, _cfn_string(raw))
            if problem:
                problems.append(f"{name}: {problem}")
                continue
            param_type = str(declaration.get("Type", "String"))
            if param_type == "CommaDelimitedList" or param_type.startswith("List<"):
                values[name] = [item.strip() for item in _cfn_string(raw).split(",")] if raw != "" else []
            else:
                values[name] = _cfn_string(raw)
        if problems:
            raise TemplateError("invalid parameters: " + "; ".join(problems))
        return values


# --- resolution -------------------------------------------------------------------------------


class Resolver:
    """Evaluates intrinsic functions against parameter values and the physical resources created so far."""

    def __init__(
        self,
        template: Template,
        identity: StackIdentity,
        parameters: Mapping[str, Any],
        physical: Mapping[str, PhysicalResource],
    ) -> None:
        self._template = template
        self._identity = identity
        self._parameters = dict(parameters)
        self._physical = physical
        self._conditions: dict[str, bool] = {}

    @property
    def identity(self) -> StackIdentity:
        return self._identity

    def is_active(self, resource: Mapping[str, Any]) -> bool:
        """Whether a resource (or output) exists, given its Condition."""
        name = resource.get("Condition")
        return True if name is None else self.condition(str(name))

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self._template.conditions
            if name not in definitions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; ``AWS::NoValue`` items and properties are dropped."""
        if isinstance(value, Mapping):
            if _is_intrinsic(value):
                ((function, argument),) = value.items()
                return self._evaluate(str(function), argument)
            resolved_map = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved_map.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    def resolve_string(self, value: Any, what: str) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, (Mapping, list)) or resolved is NO_VALUE:
            raise TemplateError(f"{what}: expected a string, got {resolved!r}")
        return _cfn_string(resolved)

    def _evaluate(self, function: str, argument: Any) -> Any:
        evaluators: dict[str, Callable[[Any], Any]] = {
            "Ref": lambda arg: self._ref(str(arg)),
            "Condition": lambda arg: self.condition(str(arg)),
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": lambda arg: self.resolve_string(arg[1], "!Split").split(str(arg[0])),
            "Fn::If": lambda arg: self.resolve(arg[1] if self.condition(str(arg[0])) else arg[2]),
            "Fn::Equals": lambda arg: _cfn_string(self.resolve(arg[0])) == _cfn_string(self.resolve(arg[1])),
            "Fn::Not": lambda arg: not bool(self.resolve(arg[0])),
            "Fn::And": lambda arg: all(bool(self.resolve(item)) for item in arg),
            "Fn::Or": lambda arg: any(bool(self.resolve(item)) for item in arg),
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": lambda arg: base64.b64encode(self.resolve_string(arg, "!Base64").encode()).decode(),
            "Fn::GetAZs": lambda _arg: [f"{self._identity.region}{zone}" for zone in "abc"],
            "Fn::ToJsonString": lambda arg: json.dumps(self.resolve(arg), separators=(",", ":")),
            "Fn::Length": lambda arg: len(self.resolve(arg)),
        }
        if function not in evaluators:
            raise TemplateError(f"intrinsic function {function} is not supported by the local stack")
        return evaluators[function](argument)

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id = str(argument[0])
        attribute = self.resolve_string(argument[1], f"!GetAtt {logical_id}")
        return self._resource(logical_id, f"!GetAtt {logical_id}.{attribute}").get_att(attribute)

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(_cfn_string(part) for part in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        resolved_items = self.resolve(items)
        position = int(self.resolve(index))
        if not 0 <= position < len(resolved_items):
            raise TemplateError(f"!Select index {position} out of range for {resolved_items!r}")
        return resolved_items[position]

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top_key, second_key = (self.resolve_string(item, "!FindInMap") for item in argument[:3])
        try:
            return self._template.mappings[map_name][top_key][second_key]
        except KeyError:
            raise TemplateError(f"!FindInMap [{map_name}, {top_key}, {second_key}]: no such entry") from None

    def _ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._identity.pseudo_parameter(name)
        if name in self._parameters:
            return self._parameters[name]
        return self._resource(name, f"!Ref {name}").ref

    def _resource(self, logical_id: str, what: str) -> PhysicalResource:
        if logical_id in self._physical:
            return self._physical[logical_id]
        if logical_id in self._template.resources:
            raise TemplateError(f"{what}: resource {logical_id} is not created (yet, or its condition is false)")
        raise TemplateError(f"{what}: no parameter or resource named {logical_id}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument
            local_values = {str(key): self.resolve(value) for key, value in dict(variables).items()}
        else:
            text, local_values = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # ${!Literal} is written out as ${Literal}
            if expression in local_values:
                return _cfn_string(local_values[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return _cfn_string(self._resource(logical_id, f"!Sub ${{{expression}}}").get_att(attribute))
            return _cfn_string(self._ref(expression))

        return _SUB_VARIABLE.sub(replace, str(text))

    def outputs(self) -> dict[str, Any]:
        """The template's Outputs, resolved (those whose condition is false are left out)."""
        return {
            name: self.resolve(output["Value"])
            for name, output in self._template.outputs.items()
            if self.is_active(output)
        }


def references(value: Any) -> set[str]:
    """Logical ids and parameter names that ``value`` refers to (through Ref, GetAtt and Sub)."""
    found: set[str] = set()
    for function, argument in _intrinsics(value):
        if function == "Ref":
            found.add(str(argument))
        elif function == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
            found.add(str(target))
        elif function == "Fn::Sub":
            text = argument[0] if isinstance(argument, list) else argument
            local_names = set(dict(argument[1])) if isinstance(argument, list) else set()
            for expression in _SUB_VARIABLE.findall(str(text)):
                name = expression.split(".", 1)[0]
                if not expression.startswith("!") and name not in local_names:
                    found.add(name)
    return {name for name in found if not name.startswith("AWS::")}


def dependency_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids ordered so that every resource comes after those it refers to (template order otherwise)."""
    dependencies: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn") or []
        explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        dependencies[logical_id] = (references(resource.get("Properties")) | explicit) & set(resources)
        dependencies[logical_id].discard(logical_id)
    ordered: list[str] = []
    placed: set[str] = set()
    while len(ordered) < len(resources):
        ready = [rid for rid in resources if rid not in placed and dependencies[rid] <= placed]
        if not ready:
            cycle = sorted(rid for rid in resources if rid not in placed)
            raise TemplateError(f"circular references between resources: {', '.join(cycle)}")
        ordered.extend(ready)
        placed.update(ready)
    return ordered


def _intrinsics(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        if _is_intrinsic(value):
            ((function, argument),) = value.items()
            yield str(function), argument
        for item in value.values():
            yield from _intrinsics(item)
    elif isinstance(value, list):
        for item in value:
            yield from _intrinsics(item)


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    if len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or str(key).startswith("Fn::")


def _cfn_string(value: Any) -> str:
    """How CloudFormation turns a scalar into a string (booleans are lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_problem(declaration: Mapping[str, Any], value: str) -> str | None:
    """The first CloudFormation parameter constraint ``value`` violates, if any."""
    allowed = declaration.get("AllowedValues")
    pattern = declaration.get("AllowedPattern")
    checks: list[tuple[bool, str]] = [
        (allowed is not None and value not in [_cfn_string(item) for item in allowed], f"not one of {allowed}"),
        (pattern is not None and not re.fullmatch(str(pattern), value), f"does not match {pattern}"),
        ("MinLength" in declaration and len(value) < int(declaration.get("MinLength", 0)), "too short"),
        ("MaxLength" in declaration and len(value) > int(declaration.get("MaxLength", 0)), "too long"),
    ]
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{value!r} is not a number"
        checks += [
            ("MinValue" in declaration and number < float(declaration.get("MinValue", 0)), "below MinValue"),
            ("MaxValue" in declaration and number > float(declaration.get("MaxValue", 0)), "above MaxValue"),
        ]
    return next((f"{value!r}: {problem}" for failed, problem in checks if failed), None)

"""Read a SAM/CloudFormation template: its YAML, parameters, the stack identity and physical resources.

The local stack is built from the same ``template.yaml`` that is deployed. The SAM transform is the real
one (:mod:`orcid_sync_local.sam_transform`); this module does the parts of CloudFormation the local stack
needs around it: short-form tags, parameters and physical names; :mod:`orcid_sync_local.resolution` resolves
conditions and intrinsic functions.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import uuid
from collections.abc import Mapping
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
            problem = _parameter_problem(declaration, cfn_string(raw))
            if problem:
                problems.append(f"{name}: {problem}")
                continue
            param_type = str(declaration.get("Type", "String"))
            if param_type == "CommaDelimitedList" or param_type.startswith("List<"):
                values[name] = [item.strip() for item in cfn_string(raw).split(",")] if raw != "" else []
            else:
                values[name] = cfn_string(raw)
        if problems:
            raise TemplateError("invalid parameters: " + "; ".join(problems))
        return values


def cfn_string(value: Any) -> str:
    """How CloudFormation turns a scalar into a string (booleans are lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_problem(declaration: Mapping[str, Any], value: str) -> str | None:
    """The first CloudFormation parameter constraint ``value`` violates, if any."""
    allowed = declaration.get("AllowedValues")
    pattern = declaration.get("AllowedPattern")
    checks: list[tuple[bool, str]] = [
        (allowed is not None and value not in [cfn_string(item) for item in allowed], f"not one of {allowed}"),
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

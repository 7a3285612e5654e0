"""CloudFormation intrinsic functions and conditions resolved against a local stack; resources in dependency order."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .template import (
    NO_VALUE,
    PhysicalResource,
    StackIdentity,
    Template,
    TemplateError,
    cfn_string,
)

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


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
        return cfn_string(resolved)

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
            "Fn::Equals": lambda arg: cfn_string(self.resolve(arg[0])) == cfn_string(self.resolve(arg[1])),
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
        return str(delimiter).join(cfn_string(part) for part in self.resolve(items))

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
                return cfn_string(local_values[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return cfn_string(self._resource(logical_id, f"!Sub ${{{expression}}}").get_att(attribute))
            return cfn_string(self._ref(expression))

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

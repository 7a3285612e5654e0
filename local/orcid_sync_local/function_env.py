"""The functions' environment as template.yaml defines it, read through the SAM transform the local stack uses.

Whatever runs a function outside the local stack (the tests calling handlers in-process, the cold-start
benchmark) takes the variables the template defines from here instead of writing them itself.
``powertools_environment()`` is what every function gets from the Globals (service name, metrics
namespace, log level ...); ``function_environment()`` resolves one function's whole environment against
resources the caller created itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .resolution import Resolver
from .stack_settings import DEFAULT_TEMPLATE
from .template import (
    NO_VALUE,
    PhysicalResource,
    StackIdentity,
    TemplateError,
    load_template,
)

TEMPLATE = DEFAULT_TEMPLATE
POWERTOOLS_PREFIX = "POWERTOOLS_"


def function_environment(
    function_id: str,
    *,
    template: Path = TEMPLATE,
    parameters: Mapping[str, str] | None = None,
    resources: Mapping[str, PhysicalResource] | None = None,
    identity: StackIdentity | None = None,
) -> dict[str, str]:
    """A function's variables (Globals merged by the SAM transform), resolved as CloudFormation would.

    ``parameters`` are the stack's parameter values (the template's defaults fill the rest); ``resources``
    the physical resources a fixture made, by logical id. A variable that refers to a resource (or a
    parameter) that is not given is left out.
    """
    source = load_template(template)
    values = source.parameter_values(parameters, partial=True)
    cloudformation = source.transformed(values)
    declared = cloudformation.declared_resources.get(function_id)
    if declared is None or declared.get("Type") != "AWS::Lambda::Function":
        raise KeyError(f"{template.name} has no function {function_id}")
    variables = ((declared.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
    resolver = Resolver(cloudformation, identity or StackIdentity(), values, dict(resources or {}))
    environment: dict[str, str] = {}
    for name, value in variables.items():
        try:
            resolved = resolver.resolve(value)
        except TemplateError:
            continue
        if resolved is not NO_VALUE:
            environment[str(name)] = _env_string(resolved)
    return environment


def powertools_environment(template: Path = TEMPLATE) -> dict[str, str]:
    """The ``POWERTOOLS_*`` variables of the template's functions, which must agree (tests share one process)."""
    cloudformation = load_template(template).transformed()
    found: dict[str, str] = {}
    owners: dict[str, str] = {}
    for function_id, resource in cloudformation.declared_resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        declared = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        resolved = function_environment(function_id, template=template)
        for name in declared:
            if not str(name).startswith(POWERTOOLS_PREFIX):
                continue
            if name not in resolved:
                raise ValueError(f"{function_id}: {name} must not depend on a resource (tests apply it up front)")
            if name in found and found[name] != resolved[name]:
                raise ValueError(f"{owners[name]} and {function_id} set {name} differently")
            found[name] = resolved[name]
            owners.setdefault(name, function_id)
    return found


def _env_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

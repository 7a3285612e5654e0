"""Create every resource of a template in moto, in dependency order, the way CloudFormation would.

A SAM template is first put through the SAM transform (:meth:`Template.transformed`), so what is
created here is the plain CloudFormation the deployed stack has. ``PROVISIONERS`` maps each resource
type moto holds to the function that creates it; ``GLUE_HANDLED`` maps the types the in-process Lambda
glue stands in for (functions, layers, the HTTP API, event source mappings, IAM) to a function that
only names them, so that ``!Ref``/``!GetAtt`` on them resolve. A type in neither is refused: the local
stack must not silently lack something the deployed stack has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..resolution import Resolver, dependency_order
from ..template import PhysicalResource, Template, TemplateError
from . import cognito, data, messaging, platform_services, ses
from .context import ProvisionContext, ProvisionedStack, Provisioner
from .glue_handled import GLUE_HANDLED

__all__ = [
    "GLUE_HANDLED",
    "PROVISIONERS",
    "ProvisionContext",
    "ProvisionedStack",
    "Provisioner",
    "provision_stack",
    "unsupported_resource_types",
]

# Each resource type moto holds, and the function that creates it there.
PROVISIONERS: Final[Mapping[str, Provisioner]] = {
    **cognito.PROVISIONERS,
    **data.PROVISIONERS,
    **messaging.PROVISIONERS,
    **platform_services.PROVISIONERS,
    **ses.PROVISIONERS,
}


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

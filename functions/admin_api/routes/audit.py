"""``/audit``: the audit log, and :func:`audited`, which every state-changing admin route calls once it succeeded.

Why a helper each route calls, not a middleware: only the route knows what its call changed (a schedule's
``enabled`` before and after, the settings fields that differ, a batch's counts); a middleware sees a request
and a response. The entry itself is built by the same use case the console records with
(:func:`orcid_sync.domain.audit.record_action`); here only the door is named: ``api``, actor = the caller's IAM
ARN as API Gateway authorised it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.audit import AuditPage, record_action
from orcid_sync.domain.models import utc_now

from .callers import caller_of
from .openapi_errors import BAD_REQUEST

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

UNKNOWN_CALLER = "admin-api"
"""The actor when a request carries no IAM identity (it cannot on AWS: the routes are IAM-authorised)."""


def audited(
    event: APIGatewayProxyEventV2,
    action: str,
    target: str = "",
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record the call that has just succeeded. A failure to record is an error of the request (500): the change
    is made, but an unrecorded change must not pass as a recorded one."""
    record_action(
        composition.audit_log(),
        actor=caller_of(event) or UNKNOWN_CALLER,
        actor_kind="api",
        action=action,
        target=target,
        before=before,
        after=after,
        now=utc_now(),
    )


@router.get(
    "/audit",
    summary="The audit log, newest first",
    tags=["audit"],
    responses={200: {"description": "One page; pass next_cursor back as cursor for the next"}, 400: BAD_REQUEST},
)
def list_audit_route(
    actor: Annotated[str | None, Query(max_length=2048, description="Only this actor's entries (email or ARN)")] = None,
    action: Annotated[str | None, Query(max_length=100, description="Only this action, e.g. schedule.activate")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> AuditPage:
    """Every state-changing action of the console and this API: who, when, what, and before/after."""
    return composition.audit_log().recent(limit=limit, cursor=cursor, actor=actor or None, action=action or None)

"""Who called the admin API: the IAM principal API Gateway authorised, recorded with changes and jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2


def caller_of(event: APIGatewayProxyEventV2) -> str | None:
    """The caller's IAM user ARN (or caller id); None when the request carries no IAM identity."""
    iam = event.request_context.authorizer.iam
    return (iam.user_arn or iam.caller_id or None) if iam is not None else None

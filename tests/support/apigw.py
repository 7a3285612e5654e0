"""API Gateway HTTP API (payload 2.0) events and a Lambda context, for invoking handlers in-process."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
CALLER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/repository-admin"


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A realistic payload-2.0 event for the admin API's ``ANY /{proxy+}`` route with IAM auth.

    ``body`` may be bytes/str (sent as is) or anything JSON-serialisable (sent as JSON with a
    JSON content type unless ``headers`` says otherwise).
    """
    all_headers = {
        "accept": "application/json",
        "host": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "user-agent": "orcid-sync-tests",
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "x-forwarded-proto": "https",
    }
    raw_body: str | None = None
    if body is not None:
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = json.dumps(body).encode("utf-8")
            all_headers["content-type"] = "application/json"
        raw_body = base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8")
        all_headers["content-length"] = str(len(raw))
    all_headers |= {k.lower(): v for k, v in (headers or {}).items()}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "authorizer": {
                "iam": {
                    "accessKey": "AKIAIOSFODNN7EXAMPLE",
                    "accountId": ACCOUNT_ID,
                    "callerId": "AIDAEXAMPLECALLER",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": CALLER_ARN,
                    "userId": "AIDAEXAMPLECALLER",
                }
            },
            "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "orcid-sync-tests",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {"proxy": path.lstrip("/"), **(path_params or {})},
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if raw_body is not None:
        event["body"] = raw_body
    return event


def response_json(response: dict[str, Any]) -> Any:
    """The JSON body of a handler's payload-2.0 response."""
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body) if body else None


@dataclass
class FakeLambdaContext:
    """What Powertools and our handlers read from the Lambda context."""

    function_name: str = "orcid-sync-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:orcid-sync-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_millis: int = 900_000
    log_group_name: str = "/aws/lambda/orcid-sync-test"
    log_stream_name: str = "2026/01/01/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def lambda_context(**overrides: Any) -> FakeLambdaContext:
    return FakeLambdaContext(**overrides)

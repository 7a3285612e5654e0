"""API Gateway HTTP API payload format 2.0: the event a request becomes, a handler result read back, AWS_IAM auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.wrappers import Request, Response

from .shared import LocalCredentials

# API Gateway's payload limit for HTTP APIs.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
_TEXT_MEDIA_TYPES: Final = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
    }
)


@dataclass(frozen=True)
class RouteTarget:
    """What the event says about the route that took the request (its requestContext)."""

    route_key: str
    stage: str
    api_id: str
    account_id: str


def iam_denial(request: Request, body: bytes, credentials: LocalCredentials) -> Response | None:
    """Check a SigV4 ``Authorization`` header as API Gateway's AWS_IAM authoriser would."""
    forbidden = json_response(403, {"message": "Forbidden"})
    header = request.headers.get("Authorization", "")
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
        r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})",
        header.strip(),
    )
    if match is None:
        return forbidden
    access_key, _date, region, service, signed_headers, signature = match.groups()
    if access_key != credentials.access_key_id or service != "execute-api":
        return forbidden
    amz_date = request.headers.get("X-Amz-Date", "")
    headers = {name: request.headers.get(name, "") for name in signed_headers.split(";")}
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    signed_request = AWSRequest(method=request.method, url=f"{request.scheme}://{request.host}{raw_uri}", data=body)
    for name, value in headers.items():
        signed_request.headers[name] = value
    signed_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(credentials.access_key_id, credentials.secret_access_key), service, region)
    expected = signer.signature(
        signer.string_to_sign(signed_request, signer.canonical_request(signed_request)), signed_request
    )
    if not hmac.compare_digest(expected, signature):
        message = (
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details."
        )
        return json_response(403, {"message": message})
    return None


def api_event(
    request: Request,
    target: RouteTarget,
    path_parameters: Mapping[str, str],
    body: bytes,
    access_key: str | None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for ``request``."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookie_header = headers.pop("cookie", "")
    cookies = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
    headers.setdefault("x-forwarded-for", request.remote_addr or "127.0.0.1")
    headers.setdefault("x-forwarded-port", str(request.environ.get("SERVER_PORT", "")))
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    raw_query = request.environ.get("QUERY_STRING", "")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    raw_path = (request.environ.get("RAW_URI") or request.path).split("?", 1)[0]
    now = datetime.now(UTC)
    host = request.host
    request_context: dict[str, Any] = {
        "accountId": target.account_id,
        "apiId": target.api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": base64.b64encode(uuid.uuid4().bytes[:11]).decode(),
        "routeKey": target.route_key,
        "stage": target.stage,
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if access_key is not None:
        request_context["authorizer"] = {"iam": _iam_identity(access_key, target.account_id)}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": target.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        if _is_text(request.mimetype, body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def _iam_identity(access_key: str, account_id: str) -> dict[str, Any]:
    user_id = "AIDA" + hashlib.sha256(access_key.encode()).hexdigest()[:17].upper()
    return {
        "accessKey": access_key,
        "accountId": account_id,
        "callerId": user_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{account_id}:user/orcid-sync-local",
        "userId": user_id,
    }


def read_body(request: Request) -> bytes | None:
    """The request body, or None when it is over API Gateway's limit."""
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        return None
    body = request.stream.read(MAX_REQUEST_BYTES + 1)
    return None if len(body) > MAX_REQUEST_BYTES else body


def _is_text(mimetype: str, body: bytes) -> bool:
    """Whether API Gateway would pass the body as text (else it is base64-encoded)."""
    textual = (
        mimetype.startswith("text/")
        or mimetype in _TEXT_MEDIA_TYPES
        or mimetype.endswith(("+json", "+xml"))
        or not mimetype
    )
    if not textual:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def response_from_result(result: Any) -> Response:
    """API Gateway's reading of a payload 2.0 handler result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # A result without statusCode is taken as a JSON body with status 200.
        return Response(json.dumps(result), status=200, content_type="application/json")
    raw_body = result.get("body") or ""
    if not isinstance(raw_body, str):
        raise TypeError(f"body must be a string, got {type(raw_body).__name__}")
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else raw_body.encode("utf-8")
    response = Response(body, status=int(result["statusCode"]))
    response.headers.remove("Content-Type")
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(str(name), str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response

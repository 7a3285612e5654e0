"""How the CLI reaches a stack: a local one by URL, a deployed one by stack name, requests SigV4-signed."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import click
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

API_URL_ENV = "ORCID_SYNC_API_URL"


class ApiError(click.ClickException):
    """The API answered with an error; the message is the API's own."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        details = ""
        if isinstance(body, dict) and body.get("problems"):
            details = "\n" + "\n".join(
                f"  - {'row ' + str(p['row']) + ': ' if p.get('row') is not None else ''}{p['field']}: {p['reason']}"
                for p in body["problems"]
            )
        super().__init__(f"HTTP {status}: {message}{details}")
        self.status = status
        self.body = body


def stack_api_url(stack_name: str, session: boto3.Session | None = None) -> str:
    """The ``ApiUrl`` output of a deployed stack."""
    cloudformation = (session or boto3.Session()).client("cloudformation")
    outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "ApiUrl":
            return str(output["OutputValue"])
    raise click.ClickException(f"stack {stack_name} has no ApiUrl output; is it an orcid-sync stack?")


class ApiClient:
    """A thin, SigV4-signing HTTP client for the admin API (service ``execute-api``)."""

    def __init__(self, base_url: str, *, session: boto3.Session | None = None, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._boto = session or boto3.Session()
        self._http = requests.Session()
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> requests.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        body = json.dumps(json_body).encode() if json_body is not None else data
        headers = {"Accept": "application/json"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        elif content_type:
            headers["Content-Type"] = content_type
        aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
        credentials = self._boto.get_credentials()
        if credentials is None:
            raise click.ClickException("no AWS credentials found to sign the request (the local stack prints some)")
        region = self._boto.region_name or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(aws_request)
        return self._http.request(
            method, url, data=body, headers=dict(aws_request.headers.items()), timeout=self._timeout
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the JSON body, raising :class:`ApiError` for 4xx/5xx."""
        response = self.request(method, path, **kwargs)
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body


def api_options[F: Callable[..., Any]](func: F) -> F:
    """Adds ``--api URL`` / ``--stack NAME`` to a command and passes an ``ApiClient`` as ``api``."""

    @functools.wraps(func)
    def wrapper(*args: Any, api_url: str | None, stack_name: str | None, **kwargs: Any) -> Any:
        if stack_name:
            api_url = stack_api_url(stack_name)
        if not api_url:
            raise click.UsageError(f"say which stack: --api URL, --stack NAME or ${API_URL_ENV}")
        return func(*args, api=ApiClient(api_url), **kwargs)

    with_stack = click.option("--stack", "stack_name", help="Name of a deployed stack (its ApiUrl output is used).")
    with_api = click.option("--api", "api_url", envvar=API_URL_ENV, help=f"URL of a running stack (or ${API_URL_ENV}).")
    return with_api(with_stack(wrapper))  # type: ignore[return-value]

"""How the CLI reaches a stack: a deployed one by name or URL, the local one by its state file; requests SigV4-signed.

boto3, botocore and requests are imported when a command talks to a stack, never at import time
(``orcid-sync --help`` must not pay for them).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import click

from orcid_sync_cli import local_state
from orcid_sync_cli.errors import API_ERROR, CONFIG, NOT_FOUND, USAGE, CliError
from orcid_sync_cli.options import debug_option, root_param

if TYPE_CHECKING:
    import boto3
    import requests
    from botocore.credentials import Credentials

API_URL_ENV = "ORCID_SYNC_API_URL"
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


class ApiError(CliError):
    """The API answered with an error; the message is the API's own (and the rows and fields it names)."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body or "").strip()[:300]
        details = ""
        if isinstance(body, dict) and body.get("problems"):
            details = "\n" + "\n".join(
                f"  - {'row ' + str(p['row']) + ': ' if p.get('row') is not None else ''}{p['field']}: {p['reason']}"
                for p in body["problems"]
            )
        hint = " (the API refused these AWS credentials)" if status in (401, 403) else ""
        super().__init__(f"HTTP {status}: {message or 'no message'}{hint}{details}", _exit_code(status))
        self.status = status
        self.body = body


def _exit_code(status: int) -> int:
    return CONFIG if status in (401, 403) else API_ERROR


def region_of_url(url: str) -> str | None:
    """The region in an ``https://{id}.execute-api.{region}.amazonaws.com`` URL, else None."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def aws_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


def stack_api_url(stack_name: str, session: boto3.Session | None = None) -> str:
    """The ``ApiUrl`` output of a deployed stack."""
    from botocore.exceptions import ClientError

    session = session or aws_session()
    if not session.region_name:
        raise CliError(f"no AWS region to look for stack {stack_name} in: give --region (or AWS_REGION)", CONFIG)
    cloudformation = session.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise CliError(f"stack {stack_name} not found in {session.region_name}", NOT_FOUND) from exc
        raise
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "ApiUrl":
            return str(output["OutputValue"])
    raise CliError(f"stack {stack_name} has no ApiUrl output; is it an orcid-sync stack?", NOT_FOUND)


class ApiClient:
    """A thin, SigV4-signing HTTP client for the admin API (service ``execute-api``)."""

    def __init__(
        self,
        base_url: str,
        *,
        session: boto3.Session | None = None,
        timeout: float = 60.0,
        region: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._boto = aws_session() if session is None and credentials is None else session
        self._http = requests.Session()
        self._timeout = timeout
        self.region = (
            region
            or region_of_url(self.base_url)
            or (self._boto.region_name if self._boto is not None else None)
            or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        )

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
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        body = json.dumps(json_body).encode() if json_body is not None else data
        headers = {"Accept": "application/json"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        elif content_type:
            headers["Content-Type"] = content_type
        aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
        credentials = self._credentials or (self._boto.get_credentials() if self._boto is not None else None)
        if credentials is None:
            raise CliError(
                "no AWS credentials found to sign the request: give --profile NAME (or AWS_PROFILE), "
                "or --local for the local stack",
                CONFIG,
            )
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(aws_request)
        return self._http.request(
            method, url, data=body, headers=dict(aws_request.headers.items()), timeout=self._timeout
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the JSON body, raising :class:`ApiError` for 4xx/5xx."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_of(response)
        try:
            return response.json() if response.content else None
        except ValueError:
            return response.text

    def text(self, method: str, path: str, **kwargs: Any) -> str:
        """Send a request and return the body as text (CSV), raising :class:`ApiError` for 4xx/5xx."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_of(response)
        return response.text


def error_of(response: requests.Response) -> ApiError:
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    return ApiError(response.status_code, body)


def connect(
    *,
    api_url: str | None,
    stack_name: str | None,
    local: bool,
    profile: str | None,
    region: str | None,
) -> ApiClient:
    """The client for the stack the options name: ``--local``, ``--api URL`` or ``--stack NAME``."""
    if sum(bool(choice) for choice in (local, stack_name, api_url and not _from_environment("api_url"))) > 1:
        raise click.UsageError("name one stack: --local, --api URL or --stack NAME")
    if local:
        return _local_client(local_state.require_running())
    if stack_name:
        session = aws_session(profile, region)
        return _signed_client(stack_api_url(stack_name, session), session, region)
    if api_url:
        state = local_state.matching(api_url)
        if state is not None:
            return _local_client(state)
        return _signed_client(api_url, aws_session(profile, region), region)
    raise CliError(f"say which stack: --stack NAME, --api URL (or ${API_URL_ENV}), or --local", USAGE)


def _from_environment(param: str) -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and context.get_parameter_source(param) is click.core.ParameterSource.ENVIRONMENT


def _local_client(state: local_state.LocalState) -> ApiClient:
    """Signed with the state file's dummy keys: no AWS profile or configuration is read (it may not exist)."""
    from botocore.credentials import Credentials

    credentials = Credentials(state.aws_access_key_id, state.aws_secret_access_key)
    return ApiClient(state.api_url, region=state.region, credentials=credentials)


def _signed_client(url: str, session: boto3.Session, region: str | None) -> ApiClient:
    signing_region = region_of_url(url) or region or session.region_name
    if not signing_region:
        raise CliError(
            "no AWS region to sign requests for: give --region (or AWS_REGION), or set one in your AWS profile",
            CONFIG,
        )
    return ApiClient(url, session=session, region=signing_region)


def api_options[F: Callable[..., Any]](func: F) -> F:
    """Adds the stack options (``--stack``, ``--api``, ``--local``, ``--profile``, ``--region``, ``--debug``).

    The command receives an :class:`ApiClient` as ``api``; ``--profile``/``--region`` given before
    the command (``orcid-sync --profile p jobs list``) count too.
    """
    return _with_stack_options(func, required=True)


def optional_api_options[F: Callable[..., Any]](func: F) -> F:
    """As :func:`api_options`, but ``api`` is None when no stack is named."""
    return _with_stack_options(func, required=False)


def api_options_with_aws_profile_flag[F: Callable[..., Any]](flag: str) -> Callable[[F], F]:
    """As :func:`api_options`, the AWS profile taken as ``flag`` (``--aws-profile``) where ``--profile`` means
    something else to the command (``feeds add --profile dspace``: a mapping profile). ``orcid-sync --profile
    NAME feeds …`` and ``AWS_PROFILE`` still name the AWS profile."""

    def decorate(func: F) -> F:
        return _with_stack_options(func, required=True, profile_flag=flag)

    return decorate


def _with_stack_options[F: Callable[..., Any]](func: F, *, required: bool, profile_flag: str = "--profile") -> F:
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        api_url: str | None,
        stack_name: str | None,
        local: bool,
        aws_profile: str | None,
        region: str | None,
        **kwargs: Any,
    ) -> Any:
        client = None
        if required or api_url or stack_name or local:
            client = connect(
                api_url=api_url,
                stack_name=stack_name,
                local=local,
                profile=aws_profile or root_param("profile"),
                region=region or root_param("region"),
            )
        return func(*args, api=client, **kwargs)

    decorators = (
        click.option("--stack", "stack_name", metavar="NAME", help="A deployed stack (its ApiUrl output is used)."),
        click.option(
            "--api", "api_url", metavar="URL", envvar=API_URL_ENV, help=f"The stack's API URL (or ${API_URL_ENV})."
        ),
        click.option("--local", is_flag=True, help="The local stack (orcid-sync-local up), its credentials included."),
        click.option(profile_flag, "aws_profile", metavar="NAME", help="AWS profile to sign with (or AWS_PROFILE)."),
        click.option("--region", metavar="REGION", help="AWS region (or AWS_REGION / AWS_DEFAULT_REGION)."),
        debug_option,
    )
    wrapped: Any = wrapper
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]

"""Exit statuses, and errors turned into one or two lines instead of a traceback (``--debug`` shows it).

- 0: done (rows the API rejected are reported and written to FILE.rejected.jsonl; --fail-on-rejected makes them 1).
- 1: the API answered with an error (HTTP 4xx/5xx but 401/403, its message shown); a file that cannot be read;
  a run followed with --wait that failed.
- 2: usage: an unknown option, a missing argument, no stack named.
- 3: credentials or configuration: no AWS credentials, an unknown profile, no region, HTTP 401/403.
- 4: the stack was not found: no CloudFormation stack of that name, or no running local stack.
- 5: the API could not be reached: connection refused, DNS, TLS, time-out.

Nothing here imports requests or botocore: an error is classified by its class's module and name, so
that ``--help`` stays fast and the classes are only looked at when something failed.
"""

from __future__ import annotations

import re
from typing import IO, Any

import click

OK = 0
API_ERROR = 1
USAGE = 2
CONFIG = 3
NOT_FOUND = 4
UNREACHABLE = 5

DEBUG_HINT = "run with --debug for the traceback"


class CliError(click.ClickException):
    """An error for people: a message of one or two lines and an exit status from the table above."""

    def __init__(self, message: str, exit_code: int = API_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # a ClassVar in click's stubs; click reads the instance's

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"orcid-sync: {self.format_message()}", err=True, file=file)


def _class_names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__name__}" for cls in type(exc).__mro__}


def _is(exc: BaseException, *names: str) -> bool:
    return bool(_class_names(exc) & set(names))


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    if match := _ERRNO.search(text):
        return match.group(1).strip().rstrip(".")
    if "timed out" in text.lower() or _is(exc, "requests.exceptions.Timeout"):
        return "timed out"
    if _is(exc, "requests.exceptions.SSLError"):
        return "TLS handshake failed"
    return type(exc).__name__


def translate(exc: BaseException) -> CliError:  # noqa: PLR0911 - one return per kind of failure
    """The :class:`CliError` a person should see for an exception the commands did not handle."""
    if isinstance(exc, CliError):
        return exc
    if _is(exc, "requests.exceptions.ConnectionError", "requests.exceptions.Timeout"):
        request = getattr(exc, "request", None)
        where = f" at {request.url.split('?')[0]}" if request is not None and request.url else ""
        return CliError(f"cannot reach the API{where}: {_connection_reason(exc)}", UNREACHABLE)
    if _is(exc, "botocore.exceptions.NoCredentialsError", "botocore.exceptions.PartialCredentialsError"):
        return CliError(
            "no AWS credentials found: give --profile NAME (or AWS_PROFILE), run `aws configure` or "
            "`aws sso login`, or use --local for the local stack",
            CONFIG,
        )
    if _is(exc, "botocore.exceptions.NoRegionError"):
        return CliError("no AWS region: give --region (or AWS_REGION), or set one in your AWS profile", CONFIG)
    if _is(
        exc,
        "botocore.exceptions.TokenRetrievalError",
        "botocore.exceptions.SSOTokenLoadError",
        "botocore.exceptions.UnauthorizedSSOTokenError",
    ):
        return CliError(f"your AWS sign-in has expired: run `aws sso login` ({exc})", CONFIG)
    if _is(exc, "botocore.exceptions.ProfileNotFound", "botocore.exceptions.InvalidConfigError"):
        return CliError(f"{exc} (see ~/.aws/config)", CONFIG)
    if _is(exc, "botocore.exceptions.EndpointConnectionError", "botocore.exceptions.ConnectTimeoutError"):
        return CliError(f"cannot reach AWS: {exc}", UNREACHABLE)
    if _is(exc, "botocore.exceptions.ClientError"):
        error: dict[str, Any] = getattr(exc, "response", {}).get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", exc))
        if code in {
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "AccessDeniedException",
        }:
            return CliError(f"AWS refused the credentials ({code}): {message}", CONFIG)
        return CliError(f"AWS error {code}: {message}", API_ERROR)
    return CliError(f"unexpected error: {type(exc).__name__}: {exc} ({DEBUG_HINT})", API_ERROR)

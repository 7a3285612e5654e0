"""Run the template's Lambda functions in-process, fed by a local HTTP API, SQS pollers, S3 and schedules.

Everything is read from the provisioned CloudFormation (the SAM transform's output): functions from
``AWS::Lambda::Function`` (Code, Handler, Environment, Timeout, MemorySize), routes from the OpenAPI
Body of ``AWS::ApiGatewayV2::Api``, SQS deliveries from ``AWS::Lambda::EventSourceMapping``, S3
notifications from the buckets' ``NotificationConfiguration`` and schedules from ``AWS::Events::Rule``
and ``AWS::Scheduler::Schedule``.

Each function is loaded once from its code directory + ``Handler`` (its cold start) and invoked with
the event shapes AWS sends: API Gateway HTTP API payload 2.0, SQS batches (with partial batch
failures), S3 notifications and EventBridge scheduled events.

Like a Lambda execution environment, a *container* handles one event at a time: handler modules
keep per-invocation state at module level (Powertools' ``BatchProcessor``, resolvers and the routers
included into them). A function has one container, so its invocations are serialised, unless one
of its SQS mappings sets ``ScalingConfig.MaximumConcurrency``: then it gets that many containers,
each a separate copy of the handler module (loaded on demand). Other modules (the function's
siblings, the ``orcid_sync`` library) are shared by the copies, as they are by the whole process;
keep per-invocation state in the handler module. Different functions always run concurrently.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import hmac
import importlib
import importlib.util
import json
import logging
import re
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote_plus, unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .provision import ProvisionedStack
from .sam_transform import local_code_path
from .template import TemplateError

log = logging.getLogger("orcid_sync_local")

# API Gateway's payload limit for HTTP APIs.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
# Lambda's async invocation default (S3 notifications): the first try plus two retries.
ASYNC_ATTEMPTS: Final = 3
_SQS_RECEIVE_MAX: Final = 10
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


class GlueError(RuntimeError):
    """The template asks for something the local glue cannot do, or a handler cannot be loaded."""


@dataclass(frozen=True)
class LocalCredentials:
    """The dummy AWS credentials of a local stack (moto accepts any; the local API checks these)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"


# --- functions --------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The context object Lambda passes to a handler (the attributes Powertools and handlers read)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_epoch_seconds: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_epoch_seconds - time.time()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    """A function as its ``AWS::Lambda::Function`` (Globals merged by the SAM transform, intrinsics resolved) says."""

    logical_id: str
    function_name: str
    function_arn: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]

    @classmethod
    def from_stack(cls, stack: ProvisionedStack, logical_id: str) -> FunctionSpec:
        props = stack.properties[logical_id]
        physical = stack.physical(logical_id)
        if props.get("PackageType", "Zip") != "Zip" or "Handler" not in props:
            raise GlueError(f"{logical_id}: the local stack runs zip functions with a Handler (not container images)")
        code_dir = local_code_path(stack.template.root, props.get("Code"))
        if code_dir is None:
            raise GlueError(
                f"{logical_id}: CodeUri must be a local directory (inline code and S3 locations are not supported), "
                f"got Code {props.get('Code')!r}"
            )
        variables = (props.get("Environment") or {}).get("Variables") or {}
        return cls(
            logical_id=logical_id,
            function_name=str(physical.ref),
            function_arn=str(physical.get_att("Arn")),
            code_dir=code_dir,
            handler=str(props["Handler"]),
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={str(name): _env_string(value) for name, value in variables.items()},
        )


class LocalFunction:
    """One function: its handler module loaded from CodeUri in up to ``max_containers`` copies.

    ``load()`` is the cold start of the first container (failing fast on a broken handler); more
    containers are loaded when concurrent invocations need them.
    """

    def __init__(self, spec: FunctionSpec, repo_root: Path, *, max_containers: int = 1) -> None:
        self.spec = spec
        self.max_containers = max(1, max_containers)
        self._repo_root = repo_root.resolve()
        self._idle: list[Callable[[Any, Any], Any]] = []
        self._containers = 0
        self._available = threading.Condition()
        # Modules this function put in sys.modules, with what they replaced (tests may have imported them).
        self._modules: list[tuple[str, types.ModuleType | None]] = []

    @property
    def logical_id(self) -> str:
        return self.spec.logical_id

    def load(self) -> None:
        """Cold-start the first container: import the handler module, running its module-level code."""
        with self._available:
            if self._containers:
                return
            self._containers = 1
        try:
            handler = self._load_container(1)
        except BaseException:
            with self._available:
                self._containers = 0
            raise
        with self._available:
            self._idle.append(handler)
            self._available.notify()

    def _load_container(self, number: int) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = self.spec.handler.rpartition(".")
        if not module_path or not attribute:
            raise GlueError(
                f"{self.logical_id}: Handler must look like 'app.lambda_handler', got {self.spec.handler!r}"
            )
        source = self.spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
        if not source.is_file():
            raise GlueError(f"{self.logical_id}: handler module {source} does not exist")
        # The first copy has the module's own name (functions.<dir>.app); more copies get a suffix.
        module_name = f"{self._package_name()}.{module_path}" + (f"__container{number}" if number > 1 else "")
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or spec.loader is None:
            raise GlueError(f"{self.logical_id}: cannot import {source}")
        module = importlib.util.module_from_spec(spec)
        with self._available:
            self._modules.append((module_name, sys.modules.get(module_name)))
            sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise GlueError(f"{self.logical_id}: importing {source} failed: {exc!r}") from exc
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise GlueError(f"{self.logical_id}: {source} has no callable {attribute}")
        return handler  # type: ignore[no-any-return]

    def _package_name(self) -> str:
        """``functions.<dir>`` when CodeUri is a package under the repo root, else a synthetic package."""
        try:
            parts = self.spec.code_dir.relative_to(self._repo_root).parts
        except ValueError:
            parts = ()
        is_package = bool(parts) and all(
            part.isidentifier() and self._repo_root.joinpath(*parts[: depth + 1], "__init__.py").is_file()
            for depth, part in enumerate(parts)
        )
        if is_package:
            if str(self._repo_root) not in sys.path:
                sys.path.insert(0, str(self._repo_root))
            package = ".".join(parts)
            importlib.import_module(package)
            return package
        # Not importable as a package: give the directory a package of its own so relative imports work.
        package = f"_orcid_sync_local_functions.{self.logical_id}"
        with self._available:
            for name, path in (("_orcid_sync_local_functions", []), (package, [str(self.spec.code_dir)])):
                if name not in sys.modules:
                    module = types.ModuleType(name)
                    module.__path__ = path
                    self._modules.append((name, None))
                    sys.modules[name] = module
        return package

    def unload(self) -> None:
        """Forget the modules this function loaded, so that the next stack gets a fresh cold start."""
        with self._available:
            for name, previous in reversed(self._modules):
                if previous is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = previous
            self._modules.clear()
            self._idle.clear()
            self._containers = 0

    def invoke(self, event: Any) -> Any:
        """Call the handler with ``event`` and a fresh context; exceptions propagate like a failed invoke."""
        handler = self._acquire()
        try:
            context = LambdaContext(
                function_name=self.spec.function_name,
                invoked_function_arn=self.spec.function_arn,
                memory_limit_in_mb=self.spec.memory_mb,
                aws_request_id=str(uuid.uuid4()),
                log_group_name=f"/aws/lambda/{self.spec.function_name}",
                log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
                deadline_epoch_seconds=time.time() + self.spec.timeout_seconds,
            )
            return handler(event, context)
        finally:
            with self._available:
                self._idle.append(handler)
                self._available.notify()

    def _acquire(self) -> Callable[[Any, Any], Any]:
        """An idle container; a new one if all are busy and there is room; else wait for one."""
        with self._available:
            if not self._containers:
                raise GlueError(f"{self.logical_id} is not loaded")
            while not self._idle and self._containers >= self.max_containers:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._containers += 1
            number = self._containers
        try:
            return self._load_container(number)
        except BaseException:
            with self._available:
                self._containers -= 1
                self._available.notify()
            raise


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TemplateError(f"environment variable values must be strings, got {value!r}")
    return str(value)


# --- activity: what "idle" means --------------------------------------------------------------


class ActivityTracker:
    """Counts running invocations so that callers can wait until event-driven work has settled."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._running = 0
        self._started = 0

    @contextmanager
    def working(self) -> Iterator[None]:
        with self._condition:
            self._running += 1
            self._started += 1
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._condition.notify_all()

    def snapshot(self) -> tuple[int, int]:
        """(invocations running now, invocations started ever)."""
        with self._condition:
            return self._running, self._started


# --- HTTP API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRoute:
    """One route of an HTTP API: ``GET /researchers/{id}`` (or ``$default``) integrated with a function."""

    method: str
    path: str
    function: LocalFunction
    iam: bool
    api_id: str
    stage: str = "$default"

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters (URL-decoded) if this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        found = self._pattern.fullmatch(path)
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        """``/files/{id}/{proxy+}`` as a regular expression: ``{x}`` is one segment, ``{x+}`` the rest."""
        pieces = []
        for segment in self.path.strip("/").split("/"):
            greedy, single = re.fullmatch(r"\{(\w+)\+\}", segment), re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                pieces.append(f"(?P<{greedy.group(1)}>.+)")
            elif single:
                pieces.append(f"(?P<{single.group(1)}>[^/]+)")
            else:
                pieces.append(re.escape(segment))
        return re.compile("/" + "/".join(pieces))

    def specificity(self) -> tuple[int, tuple[int, ...], int]:
        """API Gateway prefers literal segments over parameters over greedy ones, and a method over ANY."""
        if self.path == "$default":
            return (0, (), 0)
        weights = tuple(
            0 if part.endswith("+}") else 1 if part.startswith("{") else 2 for part in self.path.strip("/").split("/")
        )
        return (1, weights, 0 if self.method == "ANY" else 1)


class HttpApiGateway:
    """A WSGI app standing in for API Gateway HTTP APIs: payload format 2.0, AWS_IAM auth, 404/403/413."""

    def __init__(self, routes: list[HttpRoute], credentials: LocalCredentials, account_id: str) -> None:
        keys = [(route.stage, route.route_key) for route in routes]
        duplicates = sorted({f"{stage} {key}" for stage, key in keys if keys.count((stage, key)) > 1})
        if duplicates:
            raise GlueError(f"routes defined more than once: {', '.join(duplicates)}")
        self.routes = sorted(routes, key=lambda route: route.specificity(), reverse=True)
        self._credentials = credentials
        self._account_id = account_id

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        body = _read_body(request)
        found = self._route(request.method, request.path)
        if body is None:
            return _json_response(413, {"message": "Request Entity Too Large"})
        if found is None:
            return _json_response(404, {"message": "Not Found"})
        route, path_parameters = found
        denial = self._iam_denial(request, body) if route.iam else None
        if denial is not None:
            return denial
        access_key = self._credentials.access_key_id if route.iam else None
        event = self._event(request, route, path_parameters, body, access_key)
        try:
            return _response_from_result(route.function.invoke(event))
        except Exception:
            log.exception(
                "%s failed on %s (or returned a response API Gateway cannot use)",
                route.function.logical_id,
                route.route_key,
            )
            return _json_response(500, {"message": "Internal Server Error"})

    def _route(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for route in self.routes:
            route_path = path
            if route.stage != "$default":
                prefix = f"/{route.stage}"
                if path != prefix and not path.startswith(prefix + "/"):
                    continue
                route_path = path[len(prefix) :] or "/"
            parameters = route.match(method, route_path)
            if parameters is not None:
                return route, parameters
        return None

    def _iam_denial(self, request: Request, body: bytes) -> Response | None:
        """Check a SigV4 ``Authorization`` header as API Gateway's AWS_IAM authoriser would."""
        forbidden = _json_response(403, {"message": "Forbidden"})
        header = request.headers.get("Authorization", "")
        match = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
            r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})",
            header.strip(),
        )
        if match is None:
            return forbidden
        access_key, _date, region, service, signed_headers, signature = match.groups()
        if access_key != self._credentials.access_key_id or service != "execute-api":
            return forbidden
        amz_date = request.headers.get("X-Amz-Date", "")
        headers = {name: request.headers.get(name, "") for name in signed_headers.split(";")}
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        signed_request = AWSRequest(method=request.method, url=f"{request.scheme}://{request.host}{raw_uri}", data=body)
        for name, value in headers.items():
            signed_request.headers[name] = value
        signed_request.context["timestamp"] = amz_date
        signer = SigV4Auth(
            Credentials(self._credentials.access_key_id, self._credentials.secret_access_key), service, region
        )
        expected = signer.signature(
            signer.string_to_sign(signed_request, signer.canonical_request(signed_request)), signed_request
        )
        if not hmac.compare_digest(expected, signature):
            message = (
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details."
            )
            return _json_response(403, {"message": message})
        return None

    def _event(
        self,
        request: Request,
        route: HttpRoute,
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
            "accountId": self._account_id,
            "apiId": route.api_id,
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
            "routeKey": route.route_key,
            "stage": route.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if access_key is not None:
            request_context["authorizer"] = {"iam": self._iam_identity(access_key)}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
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

    def _iam_identity(self, access_key: str) -> dict[str, Any]:
        user_id = "AIDA" + hashlib.sha256(access_key.encode()).hexdigest()[:17].upper()
        return {
            "accessKey": access_key,
            "accountId": self._account_id,
            "callerId": user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{self._account_id}:user/orcid-sync-local",
            "userId": user_id,
        }


def _read_body(request: Request) -> bytes | None:
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


def _json_response(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _response_from_result(result: Any) -> Response:
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


class _QuietRequestHandler(WSGIRequestHandler):
    """Access log lines go to the debug log rather than stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class WsgiServerThread:
    """A threaded werkzeug server on 127.0.0.1 (port 0 picks a free one) that can be stopped cleanly."""

    def __init__(self, app: Any, port: int = 0, name: str = "wsgi") -> None:
        # Binding happens here, so the port (and URL) is known before anything else starts.
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


# --- SQS --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS ``AWS::Lambda::EventSourceMapping`` (what SAM makes of an ``SQS`` event)."""

    name: str
    function: LocalFunction
    queue_arn: str
    batch_size: int = 10
    batching_window_seconds: float = 0.0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None

    @property
    def pollers(self) -> int:
        """Concurrent batches: MaximumConcurrency when the template sets it, else one at a time."""
        return self.maximum_concurrency or 1

    @classmethod
    def from_event(cls, name: str, function: LocalFunction, props: Mapping[str, Any]) -> SqsEventSource:
        if props.get("FilterCriteria"):
            raise GlueError(f"{name}: FilterCriteria on SQS events is not supported by the local glue")
        scaling = props.get("ScalingConfig") or {}
        return cls(
            name=name,
            function=function,
            queue_arn=str(props["EventSourceArn"]),
            batch_size=int(props.get("BatchSize", 10)),
            batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        )


class SqsPoller:
    """Delivers a queue's messages to a function in batches, as Lambda's SQS poller does.

    ``source.pollers`` threads poll at once, each delivering one batch at a time.
    Succeeded messages are deleted; failed ones (the whole batch when the handler raises, or the
    ``batchItemFailures`` it reports) are made visible again after ``retry_visibility_seconds``,
    a scaled-down VisibilityTimeout, so retries and moto's redrive to the DLQ happen in seconds.
    """

    def __init__(
        self,
        source: SqsEventSource,
        sqs: Any,
        tracker: ActivityTracker,
        *,
        region: str,
        visibility_scale: float,
    ) -> None:
        self.source = source
        self._sqs = sqs
        self._tracker = tracker
        self._region = region
        self.queue_url = sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
        visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        self.retry_visibility_seconds = max(1, round(visibility_timeout * visibility_scale))
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{source.name}-{number}", daemon=True)
            for number in range(1, source.pollers + 1)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self) -> None:
        """One concurrent batch at a time per thread; there are as many threads as MaximumConcurrency."""
        last_error = ""
        while not self._stop.is_set():
            try:
                messages = self._receive_batch()
                if messages:
                    self._deliver(messages)
                last_error = ""
            except (BotoCoreError, ClientError) as exc:
                # moto gone or the queue deleted (a test reset it): say so once, keep trying.
                if repr(exc) != last_error:
                    log.warning("SQS poller %s: %r", self.source.name, exc)
                    last_error = repr(exc)
                self._stop.wait(1.0)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.source.batching_window_seconds
        wait_seconds = 1  # long polling, short enough for stop() to be noticed promptly
        while len(messages) < self.source.batch_size and not self._stop.is_set():
            received = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            if not received and (messages or time.monotonic() >= deadline):
                break
            wait_seconds = 0
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        records = [self._record(message) for message in messages]
        with self._tracker.working():
            try:
                result = self.source.function.invoke({"Records": records})
                failed_ids = self._failed_message_ids(result, records)
            except Exception:
                log.exception(
                    "%s failed on a batch of %d from %s",
                    self.source.function.logical_id,
                    len(records),
                    self.source.name,
                )
                failed_ids = {record["messageId"] for record in records}
            succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
            failed = [m for m in messages if m["MessageId"] in failed_ids]
            for chunk in _chunks(succeeded, _SQS_RECEIVE_MAX):
                self._sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
                )
            for chunk in _chunks(failed, _SQS_RECEIVE_MAX):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": self.retry_visibility_seconds,
                        }
                        for i, m in enumerate(chunk)
                    ],
                )

    def _failed_message_ids(self, result: Any, records: list[dict[str, Any]]) -> set[str]:
        """Lambda's reading of a handler result: without ReportBatchItemFailures, returning means success."""
        all_ids = {record["messageId"] for record in records}
        if not self.source.report_batch_item_failures or result in (None, "", {}):
            return set()
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if failures is None or not isinstance(failures, list):
            log.error("%s returned an unreadable batch response; the whole batch fails", self.source.name)
            return all_ids
        failed: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in all_ids:
                # Lambda treats an empty or unknown itemIdentifier as the whole batch failing.
                log.error(
                    "%s reported an invalid itemIdentifier %r; the whole batch fails", self.source.name, identifier
                )
                return all_ids
            failed.add(identifier)
        return failed

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The Lambda SQS event record for a received message."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def pending(self) -> int:
        """Messages in the queue, visible or not (in flight, waiting for a retry, delayed)."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- S3 notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class S3EventSource:
    """A bucket's notifications to one function: object created/removed events, filtered by prefix/suffix."""

    name: str
    function: LocalFunction
    bucket: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    @classmethod
    def from_configurations(
        cls, name: str, function: LocalFunction, bucket: str, configurations: list[Mapping[str, Any]]
    ) -> S3EventSource:
        """One source for a function's LambdaConfigurations that share a filter (one per event type)."""
        prefix = suffix = ""
        for rule in ((configurations[0].get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
            if str(rule["Name"]).lower() == "prefix":
                prefix = str(rule["Value"])
            elif str(rule["Name"]).lower() == "suffix":
                suffix = str(rule["Value"])
        events = tuple(str(configuration["Event"]) for configuration in configurations)
        return cls(name=name, function=function, bucket=bucket, events=events, prefix=prefix, suffix=suffix)

    def wants(self, event_name: str) -> bool:
        return any(fnmatch.fnmatchcase(f"s3:{event_name}", pattern) for pattern in self.events)


class S3Watcher:
    """Notices new, changed and removed objects by listing the bucket, and notifies the function.

    moto has no hook for Lambda notifications in server mode, so the bucket is polled; ``scan()``
    can also be called directly (``wait_for_queues_idle`` does) so that no upload is missed.
    """

    def __init__(self, source: S3EventSource, s3: Any, tracker: ActivityTracker, *, region: str) -> None:
        self.source = source
        self._s3 = s3
        self._tracker = tracker
        self._region = region
        self._scan_lock = threading.Lock()
        self._known = self._list()  # objects already there when the stack starts are not news
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"s3-{source.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.scan()
            except (BotoCoreError, ClientError) as exc:
                log.debug("S3 watcher %s: %r", self.source.name, exc)

    def _list(self) -> dict[str, tuple[str, datetime, int]]:
        objects: dict[str, tuple[str, datetime, int]] = {}
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.source.bucket, Prefix=self.source.prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(self.source.suffix):
                    objects[item["Key"]] = (item["ETag"].strip('"'), item["LastModified"], int(item["Size"]))
        return objects

    def scan(self) -> None:
        """Deliver one notification per object created, overwritten or removed since the last scan."""
        with self._scan_lock:
            current = self._list()
            created = [key for key, state in current.items() if self._known.get(key) != state]
            removed = [key for key in self._known if key not in current]
            self._known = current
            for key in created:
                if self.source.wants("ObjectCreated:Put"):
                    self._notify("ObjectCreated:Put", key, current[key])
            for key in removed:
                if self.source.wants("ObjectRemoved:Delete"):
                    self._notify("ObjectRemoved:Delete", key, None)

    def _notify(self, event_name: str, key: str, state: tuple[str, datetime, int] | None) -> None:
        s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": f"{time.time_ns():X}"}
        if state is not None:
            etag, _modified, size = state
            s3_object.update({"size": size, "eTag": etag})
            version = self._s3.head_object(Bucket=self.source.bucket, Key=key).get("VersionId")
            if version and version != "null":
                s3_object["versionId"] = version
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self._region,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:AIDAORCIDSYNCLOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": self.source.name,
                "bucket": {
                    "name": self.source.bucket,
                    "ownerIdentity": {"principalId": "ORCIDSYNCLOCAL"},
                    "arn": f"arn:aws:s3:::{self.source.bucket}",
                },
                "object": s3_object,
            },
        }
        with self._tracker.working():
            for attempt in range(1, ASYNC_ATTEMPTS + 1):
                try:
                    self.source.function.invoke({"Records": [record]})
                    return
                except Exception:
                    log.exception(
                        "%s failed on s3://%s/%s (attempt %d)", self.source.name, self.source.bucket, key, attempt
                    )
                    self._stop.wait(1.0)


# --- schedules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleTarget:
    """Where a rule or schedule sends its event: a local function, or an SQS queue."""

    function: LocalFunction | None = None
    queue_arn: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge rule with a ScheduleExpression, or an EventBridge Scheduler schedule."""

    logical_id: str
    name: str
    arn: str
    kind: Literal["rule", "schedule"]
    container: str  # the event bus (rules) or the schedule group (schedules)
    targets: tuple[ScheduleTarget, ...]


@dataclass(frozen=True)
class ScheduleFiring:
    """What ``fire_schedule`` did: whether it fired, and each Lambda target's result."""

    schedule: str
    fired: bool
    results: tuple[Any, ...] = ()


def scheduled_event(source: ScheduleSource, *, account_id: str, region: str) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" as Lambda receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if source.kind == "rule" else "aws.scheduler",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [source.arn],
        "detail": {},
    }


# --- the glue as a whole ----------------------------------------------------------------------


@dataclass
class LambdaGlue:
    """Every function of a provisioned stack, its HTTP routes and its event sources."""

    stack: ProvisionedStack
    functions: dict[str, LocalFunction]
    routes: list[HttpRoute]
    sqs_sources: list[SqsEventSource]
    s3_sources: list[S3EventSource]
    schedules: list[ScheduleSource]
    tracker: ActivityTracker = field(default_factory=ActivityTracker)
    _pollers: list[SqsPoller] = field(default_factory=list)
    _watchers: list[S3Watcher] = field(default_factory=list)

    @classmethod
    def from_stack(cls, stack: ProvisionedStack, repo_root: Path) -> LambdaGlue:
        functions = {
            logical_id: LocalFunction(FunctionSpec.from_stack(stack, logical_id), repo_root)
            for logical_id in stack.of_type("AWS::Lambda::Function")
        }
        by_arn = {function.spec.function_arn: function for function in functions.values()}
        by_name = {function.spec.function_name: function for function in functions.values()}
        sqs_sources = _sqs_sources(stack, by_arn, by_name)
        for source in sqs_sources:
            source.function.max_containers = max(source.function.max_containers, source.pollers)
        return cls(
            stack,
            functions,
            _http_routes(stack, by_arn),
            sqs_sources,
            _s3_sources(stack, by_arn),
            _schedules(stack, by_arn),
        )

    def environment(self) -> dict[str, str]:
        """The union of the functions' environments; one process hosts them all, so they must agree."""
        merged: dict[str, str] = {}
        owners: dict[str, str] = {}
        for function in self.functions.values():
            for name, value in function.spec.environment.items():
                if name in merged and merged[name] != value:
                    raise GlueError(
                        f"{owners[name]} and {function.logical_id} set {name} differently; functions share one "
                        "process environment locally, so give the variable one value (or different names)"
                    )
                merged[name] = value
                owners.setdefault(name, function.logical_id)
        return merged

    def load_functions(self) -> None:
        for function in self.functions.values():
            function.load()

    def unload_functions(self) -> None:
        for function in self.functions.values():
            function.unload()

    def start_event_sources(self, clients: Callable[[str], Any], *, visibility_scale: float) -> None:
        region = self.stack.identity.region
        for source in self.sqs_sources:
            poller = SqsPoller(source, clients("sqs"), self.tracker, region=region, visibility_scale=visibility_scale)
            self._pollers.append(poller)
        for s3_source in self.s3_sources:
            self._watchers.append(S3Watcher(s3_source, clients("s3"), self.tracker, region=region))
        for poller in self._pollers:
            poller.start()
        for watcher in self._watchers:
            watcher.start()

    def stop_event_sources(self) -> None:
        workers: list[SqsPoller | S3Watcher] = [*self._pollers, *self._watchers]
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.join()
        self._pollers.clear()
        self._watchers.clear()

    def gateway(self, credentials: LocalCredentials) -> HttpApiGateway:
        return HttpApiGateway(self.routes, credentials, self.stack.identity.account_id)

    def schedule(self, key: str) -> ScheduleSource:
        for source in self.schedules:
            if key in (source.logical_id, source.name, source.arn):
                return source
        known = ", ".join(source.logical_id for source in self.schedules) or "none"
        raise KeyError(f"no schedule {key!r} in the stack (known: {known})")

    def fire_schedule(self, key: str, clients: Callable[[str], Any], *, respect_enabled: bool) -> ScheduleFiring:
        """Deliver a schedule's event now; with ``respect_enabled`` only if the rule is enabled in moto."""
        source = self.schedule(key)
        if respect_enabled and not _schedule_enabled(source, clients):
            return ScheduleFiring(source.logical_id, fired=False)
        identity = self.stack.identity
        results: list[Any] = []
        with self.tracker.working():
            for target in source.targets:
                event_text = target.input or json.dumps(
                    scheduled_event(source, account_id=identity.account_id, region=identity.region)
                )
                if target.function is not None:
                    results.append(target.function.invoke(json.loads(event_text)))
                elif target.queue_arn is not None:
                    queue_url = clients("sqs").get_queue_url(QueueName=target.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
                    clients("sqs").send_message(QueueUrl=queue_url, MessageBody=event_text)
        return ScheduleFiring(source.logical_id, fired=True, results=tuple(results))

    def wait_until_idle(self, timeout: float) -> None:
        """Return once every source queue is empty (in-flight messages included) and no handler runs."""
        deadline = time.monotonic() + timeout
        while True:
            running_before, started_before = self.tracker.snapshot()
            for watcher in self._watchers:
                watcher.scan()
            pending = {poller.source.name: poller.pending() for poller in self._pollers}
            running_after, started_after = self.tracker.snapshot()
            busy = running_before or running_after or started_after != started_before
            if not busy and not any(pending.values()):
                return
            if time.monotonic() >= deadline:
                waiting = ", ".join(f"{name}: {count}" for name, count in pending.items() if count) or "none"
                raise TimeoutError(
                    f"not idle after {timeout}s: {running_after} invocation(s) running; messages pending: {waiting}"
                )
            time.sleep(0.2)


# OpenAPI operations of a path item (other keys, like "parameters", are not routes).
_OPENAPI_METHODS: Final = {
    "get": "GET",
    "put": "PUT",
    "post": "POST",
    "delete": "DELETE",
    "options": "OPTIONS",
    "head": "HEAD",
    "patch": "PATCH",
    "x-amazon-apigateway-any-method": "ANY",
}
_LOCAL_AUTHORIZERS: Final = frozenset({"NONE", "AWS_IAM"})


def _http_routes(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[HttpRoute]:
    """Every route of every HTTP API, read from its OpenAPI Body as API Gateway imports it."""
    routes: list[HttpRoute] = []
    for api_logical_id, api in stack.of_type("AWS::ApiGatewayV2::Api").items():
        props = stack.properties[api_logical_id]
        body = props.get("Body")
        if not isinstance(body, Mapping):
            raise GlueError(
                f"{api_logical_id}: only HTTP APIs defined by an OpenAPI Body (as SAM's HttpApi makes them) are "
                "supported locally"
            )
        api_id = str(api.ref)
        stages = [
            str(res.ref)
            for stage_id, res in stack.of_type("AWS::ApiGatewayV2::Stage").items()
            if str(stack.properties[stage_id].get("ApiId")) == api_id
        ] or ["$default"]
        api_security = body.get("security") or []
        for path, path_item in (body.get("paths") or {}).items():
            for key, operation in (path_item or {}).items():
                method = _OPENAPI_METHODS.get(str(key).lower())
                if method is None:
                    continue
                where = f"{api_logical_id} {method} {path}"
                function = _integrated_function(where, operation, functions_by_arn)
                security = operation.get("security", api_security) or []
                authorizers = {str(name) for requirement in security for name in requirement}
                unsupported = authorizers - _LOCAL_AUTHORIZERS
                if unsupported:
                    raise GlueError(
                        f"{where}: authorizer {', '.join(sorted(unsupported))} is not supported locally "
                        "(only AWS_IAM and NONE)"
                    )
                routes.extend(
                    HttpRoute(
                        method=method,
                        path=str(path),
                        function=function,
                        iam="AWS_IAM" in authorizers,
                        api_id=api_id,
                        stage=stage,
                    )
                    for stage in stages
                )
    return routes


def _integrated_function(
    where: str, operation: Mapping[str, Any], functions_by_arn: Mapping[str, LocalFunction]
) -> LocalFunction:
    """The function behind an operation's Lambda proxy integration (payload format 2.0)."""
    integration = operation.get("x-amazon-apigateway-integration") or {}
    if integration.get("type") != "aws_proxy":
        raise GlueError(f"{where}: only Lambda proxy integrations are supported locally")
    if str(integration.get("payloadFormatVersion", "2.0")) != "2.0":
        raise GlueError(f"{where}: only HTTP API payload format 2.0 is supported locally")
    uri = str(integration.get("uri", ""))
    # arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations, or the function's ARN
    found = re.search(r"/functions/(.+)/invocations$", uri)
    function_arn = found.group(1) if found else uri
    if function_arn not in functions_by_arn:
        raise GlueError(f"{where}: integration {uri} is not a function of this template")
    return functions_by_arn[function_arn]


def _sqs_sources(
    stack: ProvisionedStack,
    functions_by_arn: Mapping[str, LocalFunction],
    functions_by_name: Mapping[str, LocalFunction],
) -> list[SqsEventSource]:
    """The enabled SQS event source mappings (SAM's SQS events included) to functions of this template."""
    sources: list[SqsEventSource] = []
    for logical_id in stack.of_type("AWS::Lambda::EventSourceMapping"):
        props = stack.properties[logical_id]
        target = str(props["FunctionName"])
        mapped = functions_by_arn.get(target) or functions_by_name.get(target.rsplit(":", 1)[-1])
        if mapped is None or ":sqs:" not in str(props.get("EventSourceArn", "")):
            raise GlueError(f"{logical_id}: only SQS mappings to functions of this template are supported")
        if props.get("Enabled", True) not in (False, "false"):
            sources.append(SqsEventSource.from_event(logical_id, mapped, props))
    return sources


def _s3_sources(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[S3EventSource]:
    """The buckets' notifications to functions (SAM's S3 events), one source per function and filter."""
    sources: list[S3EventSource] = []
    for bucket_id, bucket in stack.of_type("AWS::S3::Bucket").items():
        notifications = stack.properties[bucket_id].get("NotificationConfiguration") or {}
        groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for configuration in notifications.get("LambdaConfigurations") or []:
            function_arn = str(configuration["Function"])
            if function_arn not in functions_by_arn:
                raise GlueError(f"{bucket_id}: notification target {function_arn} is not a function of this template")
            key = (function_arn, json.dumps(configuration.get("Filter"), sort_keys=True))
            groups.setdefault(key, []).append(configuration)
        for number, ((function_arn, _filter), configurations) in enumerate(groups.items(), start=1):
            function = functions_by_arn[function_arn]
            name = f"{bucket_id}To{function.logical_id}" + (f"{number}" if len(groups) > 1 else "")
            sources.append(S3EventSource.from_configurations(name, function, str(bucket.ref), configurations))
    return sources


def _schedules(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[ScheduleSource]:
    sources: list[ScheduleSource] = []
    for logical_id, rule in stack.of_type("AWS::Events::Rule").items():
        props = stack.properties[logical_id]
        if "ScheduleExpression" not in props:
            continue  # event-pattern rules: nothing puts events locally
        targets = tuple(_schedule_target(target, functions_by_arn) for target in props.get("Targets") or [])
        bus = str(props.get("EventBusName", "default"))
        sources.append(ScheduleSource(logical_id, str(rule.ref), str(rule.get_att("Arn")), "rule", bus, targets))
    for logical_id, schedule in stack.of_type("AWS::Scheduler::Schedule").items():
        props = stack.properties[logical_id]
        target = _schedule_target(props["Target"], functions_by_arn)
        group = str(props.get("GroupName", "default"))
        arn = str(schedule.get_att("Arn"))
        sources.append(ScheduleSource(logical_id, str(schedule.ref), arn, "schedule", group, (target,)))
    return sources


def _schedule_target(target: Mapping[str, Any], functions_by_arn: Mapping[str, LocalFunction]) -> ScheduleTarget:
    arn = str(target["Arn"])
    text = target.get("Input")
    text = None if text is None else (text if isinstance(text, str) else json.dumps(text))
    if arn in functions_by_arn:
        return ScheduleTarget(function=functions_by_arn[arn], input=text)
    if ":sqs:" in arn:
        return ScheduleTarget(queue_arn=arn, input=text)
    raise GlueError(f"schedule target {arn} is neither a function of this template nor an SQS queue")


def _schedule_enabled(source: ScheduleSource, clients: Callable[[str], Any]) -> bool:
    """The rule's state as moto has it now, so that ``events.enable_rule`` (or the admin API) counts."""
    if source.kind == "rule":
        state = clients("events").describe_rule(Name=source.name, EventBusName=source.container)["State"]
    else:
        state = clients("scheduler").get_schedule(Name=source.name, GroupName=source.container)["State"]
    return str(state).startswith("ENABLED")

"""The embedded local stack: AWS in moto (built from template.yaml), the ORCID sandbox, and the Lambda glue.

A running :class:`LocalStack` owns the process environment: the functions run in this process and
read their configuration from ``os.environ`` at cold start, so ``start()`` sets the functions'
variables (plus the moto endpoint and dummy credentials) and ``stop()`` puts back what was there.
Hence only one LocalStack can run in a process at a time.

As in Lambda, a function's environment is in place before its handler module is imported, whatever
the process imported before (the CLI, a test, a benchmark): once the environment is set, ``start()``
takes the product's modules (``orcid_sync``, ``functions``) out of ``sys.modules`` so that the handlers
import them afresh (a true cold start), and ``stop()`` gives the previous modules back.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Final

import boto3
import requests
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from .lambda_glue import LambdaGlue, LocalCredentials, ScheduleFiring, WsgiServerThread
from .provision import ProvisionContext, ProvisionedStack, provision_stack
from .sam_transform import local_code_path
from .template import DEFAULT_REGION, DEFAULT_STACK_NAME, PhysicalResource, StackIdentity, load_template

log = logging.getLogger("orcid_sync_local")

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE: Final = REPO_ROOT / "template.yaml"
LOCAL_CLIENT_ID: Final = "APP-LOCAL00000000001"
ORCID_SANDBOX_URL: Final = "https://sandbox.orcid.org"
# Dummies moto accepts; the local API's AWS_IAM check requires requests signed with this key.
LOCAL_CREDENTIALS: Final = LocalCredentials(
    access_key_id="AKIAORCIDSYNCLOCAL01",
    secret_access_key="orcid-sync-local-dummy-secret-access-key",  # noqa: S106 - a dummy, printed by design
    region=DEFAULT_REGION,
)
# Variables that would send boto3 elsewhere than moto (a profile, a role, a per-service endpoint).
_FOREIGN_AWS_VARIABLES: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
# The product's packages: the functions' cold start imports them afresh, with the functions' environment.
_PRODUCT_PACKAGES: Final = ("orcid_sync", "functions")

_active_lock = threading.Lock()
_active: list[LocalStack] = []


class LocalStackError(RuntimeError):
    """The local stack cannot start as asked."""


class OrcidMode(StrEnum):
    """Which ORCID the functions talk to."""

    LOCAL = "local"  # the embedded sandbox (orcid_sync_local.orcid_sandbox)
    SANDBOX = "sandbox"  # ORCID's real sandbox, with your own member API client


@dataclass(frozen=True)
class OrcidClient:
    """An ORCID member API client: its id, and its secret (kept out of repr)."""

    client_id: str
    client_secret: str = field(repr=False)


class _SwappableApp:
    """A WSGI app that can be put in place after its server is listening (the URL is needed first)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message":"Service Unavailable"}']
        return self.app(environ, start_response)


class _AtomicDynamoDb:
    """WSGI middleware: one DynamoDB request at a time.

    DynamoDB applies each request atomically; moto does not across threads (a cancelled
    TransactWriteItems restores a table snapshot and can wipe a concurrent write), and our workers
    rely on those transactions for exactly-once job accounting. Other services (SQS long polls) stay
    concurrent.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            return self._app(environ, start_response)
        with self._lock:
            # Drain the body inside the lock: the work happens while it is produced.
            return list(self._app(environ, start_response))


class _AtomicDynamoDbMotoServer(ThreadedMotoServer):
    """moto's threaded server with :class:`_AtomicDynamoDb` in front."""

    def _server_entry(self) -> None:
        app = _AtomicDynamoDb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalStack:
    """moto + ORCID sandbox + local HTTP API + SQS/S3/schedule glue, from one template.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        *,
        template_path: Path = DEFAULT_TEMPLATE,
        repo_root: Path = REPO_ROOT,
        orcid: OrcidMode = OrcidMode.LOCAL,
        orcid_client: OrcidClient | None = None,
        api_port: int = 0,
        orcid_port: int = 0,
        aws_port: int = 0,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        visibility_scale: float = 0.02,
        sandbox_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Describe a stack; nothing starts until :meth:`start`.

        ``orcid_client`` is required for ``OrcidMode.SANDBOX``; locally it defaults to
        ``APP-LOCAL00000000001`` with a fresh secret. ``visibility_scale`` shrinks the time a failed
        SQS message stays invisible (its queue's VisibilityTimeout times the scale, at least 1 s).
        ``sandbox_settings`` are extra :class:`SandboxConfig` fields (``rate``, ``burst``, ``time_scale`` ...).
        """
        if orcid is OrcidMode.SANDBOX and orcid_client is None:
            raise LocalStackError("ORCID's sandbox needs your member API client id and secret")
        if visibility_scale <= 0:
            raise LocalStackError("visibility_scale must be > 0")
        self._template_path = template_path
        self._repo_root = repo_root
        self._orcid_mode = orcid
        self._orcid_client = orcid_client or OrcidClient(LOCAL_CLIENT_ID, secrets.token_urlsafe(32))
        self._ports = {"api": api_port, "orcid": orcid_port, "aws": aws_port}
        self._parameter_overrides = dict(parameters or {})
        self._identity = StackIdentity(stack_name=stack_name, region=LOCAL_CREDENTIALS.region)
        self._visibility_scale = visibility_scale
        self._sandbox_settings = dict(sandbox_settings or {})
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._moto: ThreadedMotoServer | None = None
        self._aws_endpoint_url = ""
        self._api_server: WsgiServerThread | None = None
        self._orcid_server: WsgiServerThread | None = None
        self._orcid_app: Any = None
        self._orcid_url = ORCID_SANDBOX_URL
        self._provisioned: ProvisionedStack | None = None
        self._glue: LambdaGlue | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._saved_modules: dict[str, ModuleType] | None = None
        self._added_sys_path: list[str] = []
        self._werkzeug_level: int | None = None
        self._running = False

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start everything; on any failure, stop what was started and raise."""
        with _active_lock:
            if _active:
                raise LocalStackError("a LocalStack is already running in this process (it owns os.environ)")
            _active.append(self)
        self._running = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # boto3 reads AWS_PROFILE & co. when a session is made: clear them before making ours.
        self._own_environment({})
        self._session = boto3.Session(
            aws_access_key_id=LOCAL_CREDENTIALS.access_key_id,
            aws_secret_access_key=LOCAL_CREDENTIALS.secret_access_key,
            region_name=LOCAL_CREDENTIALS.region,
        )
        werkzeug_logger = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug_logger.level
        werkzeug_logger.setLevel(logging.WARNING)  # moto's server logs every request otherwise

        self._moto = _AtomicDynamoDbMotoServer(ip_address="127.0.0.1", port=self._ports["aws"], verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._aws_endpoint_url = f"http://{host}:{port}"

        api_app = _SwappableApp()
        self._api_server = WsgiServerThread(api_app, self._ports["api"], name="local-api")
        self._api_server.start()
        if self._orcid_mode is OrcidMode.LOCAL:
            self._start_orcid_sandbox()

        template = load_template(self._template_path)
        context = ProvisionContext(
            self.session, self._aws_endpoint_url, self._identity, self.api_url, client_factory=self.client
        )
        self._provisioned = provision_stack(template, context, self._parameters(template.parameters))
        self._store_client_secret()

        self._glue = LambdaGlue.from_stack(self._provisioned, self._repo_root)
        # The template's variables win: the local ones only fill in what the template cannot know.
        self._own_environment(self._local_environment() | self._glue.environment())
        self._saved_modules = _take_product_modules()
        self._add_layers_to_sys_path()
        self._glue.load_functions()
        api_app.app = self._glue.gateway(LOCAL_CREDENTIALS)
        self._glue.start_event_sources(self.client, visibility_scale=self._visibility_scale)
        log.info("local stack up: api %s, orcid %s, aws %s", self.api_url, self.orcid_url, self.aws_endpoint_url)

    def _start_orcid_sandbox(self) -> None:
        from .orcid_sandbox import RegisteredClient, SandboxConfig, create_app  # noqa: PLC0415 - Flask app on demand

        sandbox_app = _SwappableApp()
        self._orcid_server = WsgiServerThread(sandbox_app, self._ports["orcid"], name="orcid-sandbox")
        self._orcid_url = self._orcid_server.url
        client = RegisteredClient(
            client_id=self._orcid_client.client_id,
            client_secret=self._orcid_client.client_secret,
            redirect_uris=[f"{self.api_url}/orcid/callback"],
            name="orcid-sync (local stack)",
        )
        config = SandboxConfig(clients=[client], public_base_url=self._orcid_url, **self._sandbox_settings)
        self._orcid_app = create_app(config)
        sandbox_app.app = self._orcid_app
        self._orcid_server.start()

    def _parameters(self, declared: Mapping[str, Any]) -> dict[str, str]:
        """Local values for the template's parameters, then the caller's overrides."""
        local = {
            "OrcidEnvironment": "sandbox",
            "OrcidClientId": self._orcid_client.client_id,
            "PortalBaseUrl": f"{self.api_url}/portal",
            # The connect pages and the OAuth redirect URI registered with ORCID use the local API's URL.
            "PublicBaseUrl": self.api_url,
        }
        return {name: value for name, value in local.items() if name in declared} | self._parameter_overrides

    def _store_client_secret(self) -> None:
        """Put the ORCID client secret into every secret that has a ``client_secret`` field (as after deploying)."""
        assert self._provisioned is not None
        secretsmanager = self.client("secretsmanager")
        for secret in self._provisioned.of_type("AWS::SecretsManager::Secret").values():
            current = secretsmanager.get_secret_value(SecretId=secret.ref).get("SecretString", "")
            try:
                document = json.loads(current)
            except json.JSONDecodeError:
                continue
            if isinstance(document, dict) and "client_secret" in document:
                document["client_secret"] = self._orcid_client.client_secret
                secretsmanager.put_secret_value(SecretId=secret.ref, SecretString=json.dumps(document))

    def _local_environment(self) -> dict[str, str]:
        """What the functions need beyond the template's variables to reach moto and the ORCID in use."""
        environment = {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_CREDENTIALS.region,
            "AWS_REGION": LOCAL_CREDENTIALS.region,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS.access_key_id,
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS.secret_access_key,
            "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "1",
            # One process hosts every function, so they share one name (idempotency keys include it).
            "AWS_LAMBDA_FUNCTION_NAME": self._identity.stack_name,
        }
        if self._orcid_mode is OrcidMode.LOCAL:
            environment |= {"ORCID_SITE_URL": self.orcid_url, "ORCID_API_URL": self.orcid_url}
        return environment

    def _own_environment(self, environment: Mapping[str, str]) -> None:
        foreign = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
        for name in [*environment, *_FOREIGN_AWS_VARIABLES, *foreign]:
            self._saved_environment.setdefault(name, os.environ.get(name))
        for name in [*_FOREIGN_AWS_VARIABLES, *foreign]:
            os.environ.pop(name, None)
        os.environ.update(environment)
        _reset_process_caches()

    def _add_layers_to_sys_path(self) -> None:
        assert self._provisioned is not None
        for logical_id in self._provisioned.of_type("AWS::Lambda::LayerVersion"):
            content = self._provisioned.properties[logical_id].get("Content")
            directory = local_code_path(self._provisioned.template.root, content)
            if directory is None:
                raise LocalStackError(f"{logical_id}: a layer's ContentUri must be a local directory, got {content!r}")
            path = str(directory)
            if path not in sys.path:
                sys.path.append(path)
                self._added_sys_path.append(path)

    def stop(self) -> None:
        """Stop everything that runs (threads joined, ports closed) and give the process environment back."""
        if not self._running:
            return
        steps = [
            ("event sources", self._glue.stop_event_sources if self._glue else None),
            ("local API", self._api_server.stop if self._api_server else None),
            ("ORCID sandbox", self._orcid_server.stop if self._orcid_server else None),
            ("moto", self._stop_moto if self._moto else None),
            ("functions", self._unload_functions),
            ("environment", self._restore_process),
        ]
        for what, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:
                log.exception("stopping the local stack: %s failed", what)
        self._api_server = self._orcid_server = self._moto = None
        self._glue = None
        self._session = None
        self._clients.clear()
        self._running = False
        with _active_lock:
            if self in _active:
                _active.remove(self)

    def _unload_functions(self) -> None:
        """Forget the handlers and the product modules they imported; put back the modules there were before."""
        if self._glue is not None:
            self._glue.unload_functions()
        if self._saved_modules is not None:
            _give_back_product_modules(self._saved_modules)
            self._saved_modules = None

    def _stop_moto(self) -> None:
        assert self._moto is not None
        # moto's state lives in module globals shared by every moto server in this process: wipe it.
        try:
            requests.post(f"{self._aws_endpoint_url}/moto-api/reset", timeout=10)
        except requests.RequestException:
            log.warning("could not reset moto's state", exc_info=True)
        self._moto.stop()
        # ThreadedMotoServer.stop() leaves the listening socket open; close it so the port is free.
        server = getattr(self._moto, "_server", None)
        if server is not None:
            server.server_close()

    def _restore_process(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        for path in self._added_sys_path:
            if path in sys.path:
                sys.path.remove(path)
        self._added_sys_path.clear()
        _reset_process_caches()
        if self._werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)

    # --- what callers use ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def _require_running(self) -> None:
        if not self._running or self._provisioned is None or self._glue is None:
            raise LocalStackError("the local stack is not running")

    @property
    def api_url(self) -> str:
        """Base URL of the local HTTP API (every HttpApi route of the template)."""
        if self._api_server is None:
            raise LocalStackError("the local stack is not running")
        return self._api_server.url

    @property
    def orcid_url(self) -> str:
        """The ORCID the functions use: the local sandbox (OAuth + Member API + /_sandbox) or ORCID's sandbox."""
        return self._orcid_url

    @property
    def aws_endpoint_url(self) -> str:
        """moto's URL, for every AWS service."""
        return self._aws_endpoint_url

    @property
    def client_id(self) -> str:
        return self._orcid_client.client_id

    @property
    def credentials(self) -> LocalCredentials:
        """The dummy AWS credentials moto accepts and the local API's AWS_IAM routes require."""
        return LOCAL_CREDENTIALS

    @property
    def session(self) -> boto3.Session:
        """A boto3 session with the local credentials; pass ``endpoint_url=aws_endpoint_url`` (or use ``client``)."""
        if self._session is None:
            raise LocalStackError("the local stack is not running")
        return self._session

    @property
    def orcid_app(self) -> Any:
        """The local ORCID sandbox's Flask app (None with ``OrcidMode.SANDBOX``)."""
        return self._orcid_app

    @property
    def provisioned(self) -> ProvisionedStack:
        self._require_running()
        assert self._provisioned is not None
        return self._provisioned

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on moto (cached; boto3 clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self._aws_endpoint_url,
                    region_name=LOCAL_CREDENTIALS.region,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._clients[service]

    def resource(self, logical_id: str) -> PhysicalResource:
        """The physical resource behind a logical id (``resource("ResearchersTable").ref`` is the table name)."""
        return self.provisioned.physical(logical_id)

    def outputs(self) -> dict[str, Any]:
        """The template's Outputs, resolved against the local resources."""
        return self.provisioned.outputs()

    def connection_info(self) -> dict[str, str]:
        """What a client of the stack needs: the line ``orcid-sync local up`` prints."""
        return {
            "api_url": self.api_url,
            "orcid_url": self.orcid_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "client_id": self.client_id,
            "region": LOCAL_CREDENTIALS.region,
            "aws_access_key_id": LOCAL_CREDENTIALS.access_key_id,
            "aws_secret_access_key": LOCAL_CREDENTIALS.secret_access_key,
        }

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function directly (synchronously, like ``aws lambda invoke``)."""
        self._require_running()
        assert self._glue is not None
        if logical_id not in self._glue.functions:
            raise KeyError(f"no function {logical_id} in the stack")
        with self._glue.tracker.working():
            return self._glue.functions[logical_id].invoke(event)

    def fire_schedule(self, logical_id: str, *, respect_enabled: bool) -> ScheduleFiring:
        """Fire a schedule (rule logical id, SAM's ``<Function><Event>`` id, or rule name) now.

        With ``respect_enabled`` (the daily trigger) nothing happens unless the rule is enabled in
        moto at this moment; without it ("run now") the target is invoked regardless.
        """
        self._require_running()
        assert self._glue is not None
        return self._glue.fire_schedule(logical_id, self.client, respect_enabled=respect_enabled)

    def wait_for_queues_idle(self, timeout: float = 60.0) -> None:
        """Wait until every SQS source queue is empty (in-flight messages included) and no handler runs."""
        self._require_running()
        assert self._glue is not None
        self._glue.wait_until_idle(timeout)


def _is_product_module(name: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in _PRODUCT_PACKAGES)


def _take_product_modules() -> dict[str, ModuleType]:
    """Take the product's modules out of ``sys.modules`` (the next import loads them afresh); returns them."""
    taken = {name: module for name, module in list(sys.modules.items()) if _is_product_module(name)}
    for name in taken:
        del sys.modules[name]
    return taken


def _give_back_product_modules(taken: Mapping[str, ModuleType]) -> None:
    """Drop the product modules imported since :func:`_take_product_modules` and put the taken ones back."""
    for name in [name for name in list(sys.modules) if _is_product_module(name)]:
        del sys.modules[name]
    sys.modules.update(taken)


def _reset_process_caches() -> None:
    """Forget settings and clients cached at cold start, so that nothing points at a previous stack."""
    composition = sys.modules.get("orcid_sync.composition")
    if composition is not None:
        composition.reset()  # the settings and every client and store built from them
    else:
        config = sys.modules.get("orcid_sync.config")
        if config is not None:
            config.get_settings.cache_clear()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()

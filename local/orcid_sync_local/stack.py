"""The embedded local stack: AWS in moto (built from template.yaml), the ORCID sandbox, and the Lambda glue.

A running :class:`LocalStack` owns the process environment: the functions run in this process and
read their configuration from ``os.environ`` at cold start, so ``start()`` sets the functions'
variables (plus the moto endpoint and dummy credentials) and ``stop()`` puts back what was there.
Hence only one LocalStack can run in a process at a time.

As in Lambda, a function's environment is in place before its handler module is imported, whatever
the process imported before (the CLI, a test, a benchmark): once the environment is set, ``start()``
takes the product's modules (``orcid_sync``, ``functions``) out of ``sys.modules`` so that the handlers
import them afresh (a true cold start), and ``stop()`` gives the previous modules back
(:mod:`.process_environment`). Its settings and errors are in :mod:`.stack_settings`, moto and the
swappable WSGI app in :mod:`.servers`.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from .lambda_glue import LambdaGlue, LocalCredentials, ScheduleFiring, WsgiServerThread
from .oai_provider import OaiProvider, RunningProvider, start_oai_provider
from .orcid_setup import start_orcid_sandbox, store_client_secret
from .process_environment import ProcessEnvironment
from .provision import ProvisionContext, ProvisionedStack, provision_stack
from .sam_transform import local_code_path
from .servers import AtomicDynamoDbMotoServer, MotoProcess, SwappableApp, start_moto, stop_moto
from .stack_settings import (
    DEFAULT_TEMPLATE,
    LOCAL_CLIENT_ID,
    LOCAL_CREDENTIALS,
    ORCID_SANDBOX_URL,
    REPO_ROOT,
    LocalStackError,
    OrcidClient,
    OrcidMode,
)
from .template import DEFAULT_STACK_NAME, PhysicalResource, StackIdentity, load_template

__all__ = [
    "DEFAULT_TEMPLATE",
    "LOCAL_CLIENT_ID",
    "LOCAL_CREDENTIALS",
    "ORCID_SANDBOX_URL",
    "REPO_ROOT",
    "LocalStack",
    "LocalStackError",
    "OrcidClient",
    "OrcidMode",
]

log = logging.getLogger("orcid_sync_local")

LOCAL_INVITATION_SENDER = "orcid-sync@localhost.test"
"""The local stack's InvitationSender (``.test`` is reserved for testing, RFC 2606: nobody can receive there)."""

_active_lock = threading.Lock()
_active: list[LocalStack] = []


class LocalStack:
    """moto + ORCID sandbox + local HTTP API + SQS/S3/schedule glue, from one template; and beside them a local
    OAI-PMH provider (a repository to harvest feeds from, empty until records are loaded).

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
        oai_port: int = 0,
        cognito_port: int = 0,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        visibility_scale: float = 0.02,
        sandbox_settings: Mapping[str, Any] | None = None,
        aws_process: Sequence[str] | None = None,
    ) -> None:
        """Describe a stack; nothing starts until :meth:`start`.

        ``orcid_client`` is required for ``OrcidMode.SANDBOX``; locally it defaults to
        ``APP-LOCAL00000000001`` with a fresh secret. ``visibility_scale`` shrinks the time a failed
        SQS message stays invisible (its queue's VisibilityTimeout times the scale, at least 1 s).
        ``sandbox_settings`` are extra :class:`SandboxConfig` fields (``rate``, ``burst``, ``time_scale`` ...).
        ``aws_process`` serves moto from a child process (:class:`MotoProcess`), after calling each named
        ``module:function`` there; the benchmarks use it, and the stack then has no SNS or SES stand-ins.
        """
        if orcid is OrcidMode.SANDBOX and orcid_client is None:
            raise LocalStackError("ORCID's sandbox needs your member API client id and secret")
        if visibility_scale <= 0:
            raise LocalStackError("visibility_scale must be > 0")
        self._template_path = template_path
        self._repo_root = repo_root
        self._orcid_mode = orcid
        self._orcid_client = orcid_client or OrcidClient(LOCAL_CLIENT_ID, secrets.token_urlsafe(32))
        self._ports = {"api": api_port, "orcid": orcid_port, "aws": aws_port, "oai": oai_port, "cognito": cognito_port}
        self._parameter_overrides = dict(parameters or {})
        self._identity = StackIdentity(stack_name=stack_name, region=LOCAL_CREDENTIALS.region)
        self._visibility_scale = visibility_scale
        self._sandbox_settings = dict(sandbox_settings or {})
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._moto: AtomicDynamoDbMotoServer | None = None
        self._aws_process = list(aws_process) if aws_process is not None else None
        self._moto_process: MotoProcess | None = None
        self._aws_endpoint_url = ""
        self._api_server: WsgiServerThread | None = None
        self._orcid_server: WsgiServerThread | None = None
        self._orcid_app: Any = None
        self._orcid_url = ORCID_SANDBOX_URL
        self._oai: RunningProvider | None = None
        # The stand-in for the console user pool's managed login (started once the pool exists in moto).
        self._cognito_login: Any = None
        self._provisioned: ProvisionedStack | None = None
        self._glue: LambdaGlue | None = None
        self._process = ProcessEnvironment()
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
        self._process.own({})
        self._session = boto3.Session(
            aws_access_key_id=LOCAL_CREDENTIALS.access_key_id,
            aws_secret_access_key=LOCAL_CREDENTIALS.secret_access_key,
            region_name=LOCAL_CREDENTIALS.region,
        )
        self._process.quiet_werkzeug()
        if self._aws_process is not None:
            self._moto_process = MotoProcess(self._ports["aws"], self._aws_process, cwd=self._repo_root)
            self._aws_endpoint_url = self._moto_process.url
        else:
            self._moto, self._aws_endpoint_url = start_moto(self._ports["aws"])

        api_app = SwappableApp()
        self._api_server = WsgiServerThread(api_app, self._ports["api"], name="local-api")
        self._api_server.start()
        if self._orcid_mode is OrcidMode.LOCAL:
            self._orcid_server, self._orcid_app = start_orcid_sandbox(
                self._orcid_client, self.api_url, self._ports["orcid"], self._sandbox_settings
            )
            self._orcid_url = self._orcid_server.url
        self._oai = start_oai_provider(self._ports["oai"])

        template = load_template(self._template_path)
        context = ProvisionContext(
            self.session, self._aws_endpoint_url, self._identity, self.api_url, client_factory=self.client
        )
        self._provisioned = provision_stack(template, context, self._parameters(template.parameters))
        store_client_secret(self._provisioned, self.client("secretsmanager"), self._orcid_client.client_secret)
        self._start_cognito_login()

        self._glue = LambdaGlue.from_stack(self._provisioned, self._repo_root)
        # The template's variables win: the local ones only fill in what the template cannot know.
        self._process.own(self._local_environment() | self._glue.environment())
        self._process.take_product_modules()
        self._add_layers_to_sys_path()
        self._glue.load_functions()
        api_app.app = self._glue.gateway(LOCAL_CREDENTIALS)
        self._glue.start_event_sources(self.client, visibility_scale=self._visibility_scale)
        if self._moto is not None:
            self._moto.wrap(self._glue.aws_stand_ins)  # SNS delivering to Lambda, SES's Date header and events
        else:
            log.info("moto runs in process %s: no SNS delivery to Lambda, no SES events", self.aws_process_id)
        log.info("local stack up: api %s, orcid %s, aws %s", self.api_url, self.orcid_url, self.aws_endpoint_url)

    def _parameters(self, declared: Mapping[str, Any]) -> dict[str, str]:
        """Local values for the template's parameters, then the caller's overrides."""
        local = {
            "OrcidEnvironment": "sandbox",
            "OrcidClientId": self._orcid_client.client_id,
            "PortalBaseUrl": f"{self.api_url}/portal",
            # The connect pages and the OAuth redirect URI registered with ORCID use the local API's URL.
            "PublicBaseUrl": self.api_url,
            "ConsoleDomainPrefix": "orcid-sync-local",
            # The invitations' From address: provisioned as a (verified) SES identity, the only one moto lets send.
            "InvitationSender": LOCAL_INVITATION_SENDER,
        }
        return {name: value for name, value in local.items() if name in declared} | self._parameter_overrides

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
        if self._cognito_login is not None:
            # As ORCID_SITE_URL: the console's managed login and its key set are the stand-in's.
            pool_id = self._cognito_login.app.pool_id
            environment |= {
                "CONSOLE_LOGIN_URL": self.cognito_login_url,
                "CONSOLE_JWKS_URL": f"{self.cognito_login_url}/{pool_id}/.well-known/jwks.json",
            }
        return environment

    def _start_cognito_login(self) -> None:
        """The managed-login stand-in for the template's one user pool (none when the template has no pool)."""
        assert self._provisioned is not None
        pools = self._provisioned.of_type("AWS::Cognito::UserPool")
        if len(pools) != 1:
            return
        from .cognito_login import start_cognito_login  # noqa: PLC0415 - only with a user pool

        (pool,) = pools.values()
        server, app = start_cognito_login(self.client("cognito-idp"), pool.ref, self._ports["cognito"])
        server.app = app
        self._cognito_login = server

    def _add_layers_to_sys_path(self) -> None:
        assert self._provisioned is not None
        for logical_id in self._provisioned.of_type("AWS::Lambda::LayerVersion"):
            content = self._provisioned.properties[logical_id].get("Content")
            directory = local_code_path(self._provisioned.template.root, content)
            if directory is None:
                raise LocalStackError(f"{logical_id}: a layer's ContentUri must be a local directory, got {content!r}")
            self._process.add_to_sys_path(str(directory))

    def stop(self) -> None:
        """Stop everything that runs (threads joined, ports closed) and give the process environment back."""
        if not self._running:
            return
        steps = [
            ("event sources", self._glue.stop_event_sources if self._glue else None),
            ("local API", self._api_server.stop if self._api_server else None),
            ("ORCID sandbox", self._orcid_server.stop if self._orcid_server else None),
            ("OAI-PMH provider", self._oai.stop if self._oai else None),
            ("Cognito login", self._cognito_login.stop if self._cognito_login else None),
            ("moto", self._stop_moto if self._moto or self._moto_process else None),
            ("functions", self._unload_functions),
            ("environment", self._process.restore),
        ]
        for what, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:
                log.exception("stopping the local stack: %s failed", what)
        self._api_server = self._orcid_server = self._moto = None
        self._moto_process = None
        self._oai = None
        self._cognito_login = None
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
        self._process.give_back_product_modules()

    def _stop_moto(self) -> None:
        if self._moto_process is not None:
            self._moto_process.stop()
            return
        assert self._moto is not None
        stop_moto(self._moto, self._aws_endpoint_url)

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
    def oai_provider_url(self) -> str:
        """The local OAI-PMH provider's base URL (``http://127.0.0.1:PORT/oai/request``; admin at ``/_provider``)."""
        if self._oai is None:
            raise LocalStackError("the local stack is not running")
        return self._oai.url

    @property
    def cognito_login_url(self) -> str:
        """The local stand-in for the console pool's managed login (``/oauth2/authorize``, ``/oauth2/token`` ...)."""
        if self._cognito_login is None:
            raise LocalStackError("the local stack has no console user pool running")
        return str(self._cognito_login.url)

    @property
    def console_url(self) -> str:
        """The admin console (``/console`` on the local API)."""
        return f"{self.api_url}/console"

    @property
    def oai_provider(self) -> OaiProvider:
        """The local OAI-PMH provider itself, to load, change and delete records in-process."""
        if self._oai is None:
            raise LocalStackError("the local stack is not running")
        return self._oai.app

    @property
    def aws_endpoint_url(self) -> str:
        """moto's URL, for every AWS service."""
        return self._aws_endpoint_url

    @property
    def aws_process_id(self) -> int | None:
        """The process serving moto when it is not this one (``aws_process``)."""
        return self._moto_process.pid if self._moto_process is not None else None

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
            "oai_provider_url": self.oai_provider_url,
            **(
                {
                    "console_url": self.console_url,
                    "cognito_login_url": self.cognito_login_url,
                    "console_user_pool_id": self._cognito_login.app.pool_id,
                }
                if self._cognito_login
                else {}
            ),
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

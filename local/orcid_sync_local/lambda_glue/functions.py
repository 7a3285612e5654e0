"""The template's functions loaded in-process: a handler module per container, invoked with a Lambda context."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..provision import ProvisionedStack
from ..sam_transform import local_code_path
from ..template import TemplateError
from .aws_calls import running_function
from .shared import GlueError


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
        """Call the handler with ``event`` and a fresh context; exceptions propagate like a failed invoke.

        The AWS calls made meanwhile are the function's (see :mod:`.aws_calls`; recorded only while a test records).
        """
        with running_function(self.logical_id):
            return self._invoke(event)

    def _invoke(self, event: Any) -> Any:
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

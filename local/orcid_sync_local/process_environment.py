"""What a running local stack changes in its process, and how it gives it back.

The functions run in the stack's process and read their configuration from ``os.environ`` at cold
start, so the stack sets their variables and takes the product's modules (``orcid_sync``,
``functions``) out of ``sys.modules`` so that the handlers import them afresh; on stop the previous
variables, modules and ``sys.path`` come back.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Final

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


class ProcessEnvironment:
    """The environment variables, product modules, ``sys.path`` entries and werkzeug log level a stack changed."""

    def __init__(self) -> None:
        self._saved_environment: dict[str, str | None] = {}
        self._saved_modules: dict[str, ModuleType] | None = None
        self._added_sys_path: list[str] = []
        self._werkzeug_level: int | None = None

    def own(self, environment: Mapping[str, str]) -> None:
        """Set `environment` and drop the variables that would lead boto3 away from moto (all saved first)."""
        foreign = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
        for name in [*environment, *_FOREIGN_AWS_VARIABLES, *foreign]:
            self._saved_environment.setdefault(name, os.environ.get(name))
        for name in [*_FOREIGN_AWS_VARIABLES, *foreign]:
            os.environ.pop(name, None)
        os.environ.update(environment)
        _reset_process_caches()

    def quiet_werkzeug(self) -> None:
        """Log werkzeug's warnings only: moto's server logs every request otherwise."""
        werkzeug_logger = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug_logger.level
        werkzeug_logger.setLevel(logging.WARNING)

    def add_to_sys_path(self, path: str) -> None:
        """Append `path` to ``sys.path`` unless it is there already (only the added ones are removed later)."""
        if path not in sys.path:
            sys.path.append(path)
            self._added_sys_path.append(path)

    def take_product_modules(self) -> None:
        """Take the product's modules out of ``sys.modules`` (the next import loads them afresh)."""
        self._saved_modules = _take_product_modules()

    def give_back_product_modules(self) -> None:
        """Drop the product modules imported since they were taken and put the taken ones back."""
        if self._saved_modules is not None:
            _give_back_product_modules(self._saved_modules)
            self._saved_modules = None

    def restore(self) -> None:
        """Put back the environment variables, ``sys.path`` and werkzeug's level as they were."""
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

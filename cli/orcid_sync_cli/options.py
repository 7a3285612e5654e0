"""Options every command shares: ``--output``, ``--debug``, and the global ones given before the command."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

OUTPUT_FORMATS = ("table", "json", "csv")
DEBUG_KEY = "orcid_sync.debug"
DEBUG_ENV = "ORCID_SYNC_DEBUG"


def root_param(name: str) -> Any:
    """A global option's value (``orcid-sync --profile p …``), None outside a command line."""
    context = click.get_current_context(silent=True)
    return context.find_root().params.get(name) if context is not None else None


def debugging() -> bool:
    context = click.get_current_context(silent=True)
    in_context = bool(context is not None and context.find_root().meta.get(DEBUG_KEY))
    return in_context or os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


def _set_debug(context: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        context.find_root().meta[DEBUG_KEY] = True
    return value


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help=f"Show the traceback of an error (or ${DEBUG_ENV}=1).",
)


def output_option[F: Callable[..., Any]](default: str = "table") -> Callable[[F], F]:
    """``-o/--output table|json|csv``; a global ``orcid-sync --output json …`` counts when this one is not given."""

    def resolve(_context: click.Context, _param: click.Parameter, value: str | None) -> str:
        return value or root_param("output") or default

    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        callback=resolve,
        help=f"table for people, json for scripts (stable), csv for spreadsheets.  [default: {default}]",
    )

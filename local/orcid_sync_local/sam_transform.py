"""The SAM transform, done by the library ``sam`` itself uses (``aws-sam-translator``), offline.

``transform_sam`` turns a SAM template into the plain CloudFormation that CloudFormation would create:
Globals merged into every function, the implicit resources (roles with the policy templates expanded,
event source mappings, rules, permissions, the HTTP API with its OpenAPI body, S3 notifications) and
``Ref``/``GetAtt`` of SAM-generated ids rewritten. The local stack provisions and wires what it returns,
so ``Globals``, events and policies mean locally what they mean on AWS.

Two things differ from ``sam deploy``, both invisible to the functions:

- a local ``CodeUri``/``ContentUri`` (a directory, as ``sam build`` reads it) is handed to the translator as
  ``s3://orcid-sync-local-code/<quoted path>``; :func:`local_code_path` reads the directory back from the
  ``Code``/``Content`` of the result;
- managed policy names are looked up in the map bundled with the translator, never through IAM.

A transform takes a few tens of milliseconds (the first one also imports the translator): results are
kept per (source, parameter values, region) for the life of the process.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote

SAM_TRANSFORM: Final = "AWS::Serverless-2016-10-31"
# Stands in for the bucket `sam package` would upload a local CodeUri/ContentUri to.
LOCAL_CODE_BUCKET: Final = "orcid-sync-local-code"
_CODE_PROPERTIES: Final = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}
_GLOBALS_CODE_PROPERTIES: Final = {"Function": "CodeUri"}

_cache: dict[Hashable, dict[str, Any]] = {}
_cache_lock = threading.Lock()


class SamTransformError(ValueError):
    """The SAM translator refused the template: the message lists each of its errors."""


def is_sam_template(body: Mapping[str, Any]) -> bool:
    """Whether the template declares the SAM transform (alone or among others)."""
    declared = body.get("Transform")
    names = declared if isinstance(declared, list) else [declared]
    return SAM_TRANSFORM in names


def transform_sam(
    body: Mapping[str, Any],
    parameter_values: Mapping[str, Any],
    *,
    region: str,
    partition: str = "aws",
    source_key: Hashable | None = None,
) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``body`` (a fresh copy, safe to mutate).

    ``parameter_values`` are the stack's values (the translator adds the defaults of the others, and
    resolves parameters only where SAM itself does). ``source_key`` names the body's source (a file's
    path, mtime and size) for the cache; without it the body itself is the key.
    """
    parameters = {str(name): value for name, value in parameter_values.items()}
    key = (
        source_key if source_key is not None else json.dumps(body, sort_keys=True, default=str),
        json.dumps(parameters, sort_keys=True, default=str),
        region,
        partition,
    )
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        cached = _translate(body, parameters, region=region, partition=partition)
        with _cache_lock:
            _cache[key] = cached
    return copy.deepcopy(cached)


def clear_cache() -> None:
    """Forget every transformed template (the next transform runs the translator again)."""
    with _cache_lock:
        _cache.clear()


def local_code_path(root: Path, code: Any) -> Path | None:
    """The local directory behind a transformed ``Code``/``Content`` (None when it is not a local one)."""
    if not isinstance(code, Mapping):
        return None
    bucket = code.get("S3Bucket")
    key = code.get("S3Key")
    if bucket != LOCAL_CODE_BUCKET or not isinstance(key, str):
        return None
    return (root / unquote(key)).resolve()


def _translate(body: Mapping[str, Any], parameters: dict[str, Any], *, region: str, partition: str) -> dict[str, Any]:
    # The translator's import takes a few hundred milliseconds: only a SAM template pays it.
    import boto3  # noqa: PLC0415
    from samtranslator.internal.managed_policies import (  # type: ignore[import-untyped]  # noqa: PLC0415
        get_bundled_managed_policy_map,
    )
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics  # type: ignore[import-untyped]  # noqa: PLC0415
    from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]  # noqa: PLC0415

    sam_template = _with_local_code_as_s3(body)
    values = {"AWS::Region": region, "AWS::Partition": partition, **parameters}
    managed_policies = get_bundled_managed_policy_map(partition) or {}
    # The session only names the region (the translator asks it); no AWS call is made. The translator's
    # own metrics go nowhere, and are "published" so that it does not warn about them.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region), metrics=metrics)
    try:
        result = translator.translate(
            sam_template, values, feature_toggle=None, get_managed_policy_map=lambda: managed_policies
        )
    except InvalidDocumentException as exc:
        problems = "; ".join(str(cause.message) for cause in exc.causes)
        raise SamTransformError(f"the SAM transform refused the template: {problems}") from None
    finally:
        metrics.publish()
    return dict(result)


def _with_local_code_as_s3(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` whose local CodeUri/ContentUri are S3 URIs in :data:`LOCAL_CODE_BUCKET`."""
    template = copy.deepcopy(dict(body))
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict):
            continue
        key = _CODE_PROPERTIES.get(str(resource.get("Type")))
        properties = resource.get("Properties")
        if key and isinstance(properties, dict):
            _replace_local_uri(properties, key)
    for section, key in _GLOBALS_CODE_PROPERTIES.items():
        properties = (template.get("Globals") or {}).get(section)
        if isinstance(properties, dict):
            _replace_local_uri(properties, key)
    return template


def _replace_local_uri(properties: dict[str, Any], key: str) -> None:
    value = properties.get(key)
    if isinstance(value, str) and not value.startswith("s3://"):
        properties[key] = f"s3://{LOCAL_CODE_BUCKET}/{quote(value, safe='')}"

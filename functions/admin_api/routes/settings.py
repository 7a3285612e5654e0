"""``/settings``: the integration settings (what the push sends to ORCID) and the effective type mapping."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import wiring
from orcid_sync.integration_settings import MappingRow, SettingsDocument
from orcid_sync.logic.settings import get_effective_mapping, get_settings_document, update_settings
from orcid_sync.models import utc_now
from orcid_sync.observability import logger
from orcid_sync.settings import get_settings
from orcid_sync.store.integration_settings import DynamoIntegrationSettingsStore

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


def _store() -> DynamoIntegrationSettingsStore:
    return DynamoIntegrationSettingsStore(wiring.dynamodb().Table(get_settings().state_table))


def _caller() -> str | None:
    iam = router.current_event.request_context.authorizer.iam
    return (iam.user_arn or iam.caller_id or None) if iam is not None else None


@router.get("/settings", summary="Read the integration settings", tags=["settings"])
def read_settings() -> SettingsDocument:
    """The settings and their ``version``; send the version back with a change to detect concurrent edits."""
    return get_settings_document(_store())


@router.put("/settings", summary="Replace the integration settings", tags=["settings"])
def replace_settings(document: Annotated[SettingsDocument, Body(embed=False)]) -> SettingsDocument:
    """Validate and store the settings (400 names the invalid field; 409 if ``version`` is no longer current)."""
    saved = update_settings(_store(), document, now=utc_now(), by=_caller())
    logger.info("integration settings changed", version=saved.version, send_assets=saved.send_assets)
    return saved


@router.get("/settings/mapping", summary="The effective asset type mapping", tags=["settings"])
def read_mapping() -> list[MappingRow]:
    """Every Esploro asset type, its ORCID work type after overrides, and whether the push sends it."""
    return get_effective_mapping(_store())

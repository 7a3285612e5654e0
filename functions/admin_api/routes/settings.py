"""``/settings``: the integration settings (what the push sends to ORCID), a preview of a change, the type mapping."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.config import OrcidEnvironment, get_settings
from orcid_sync.domain.audit import changed_fields
from orcid_sync.domain.institution_settings import MappingRow, SettingsDocument
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.settings_changes import (
    PreviewPorts,
    SettingsPreview,
    get_effective_mapping,
    get_settings_document,
    preview_update,
    update_settings,
)
from orcid_sync.observability import logger

from .audit import audited
from .callers import caller_of

PREVIEW_SECONDS = 20.0
"""The preview's time budget, inside the API's 29 s: past it, the answer says the counts are lower bounds."""

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


@router.get("/settings", summary="Read the integration settings", tags=["settings"])
def read_settings() -> SettingsDocument:
    """The settings and their ``version``; send the version back with a change to detect concurrent edits."""
    return get_settings_document(composition.integration_settings_store())


@router.put("/settings", summary="Replace the integration settings", tags=["settings"])
def replace_settings(document: Annotated[SettingsDocument, Body(embed=False)]) -> SettingsDocument:
    """Validate and store the settings (400 names the invalid field; 409 if ``version`` is no longer current)."""
    store = composition.integration_settings_store()
    previous = get_settings_document(store)
    saved = update_settings(store, document, now=utc_now(), by=caller_of(router.current_event))
    logger.info("integration settings changed", version=saved.version, send_assets=saved.send_assets)
    before, after = changed_fields(*(d.model_dump(mode="json", exclude={"updated_at"}) for d in (previous, saved)))
    audited(router.current_event, "settings.update", "settings", before=before, after=after)
    return saved


@router.post("/settings/preview", summary="Preview what a settings change would do", tags=["settings"])
def preview_settings(document: Annotated[SettingsDocument, Body(embed=False)]) -> SettingsPreview:
    """What the next push would do under these settings (nothing is saved, nothing is asked of ORCID).

    The body is a settings document as for ``PUT /settings``. The answer counts the works the next push
    would delete (by reason, e.g. "asset type publication.letter excluded by settings"), add and update,
    and on how many ORCID records, from the sync ledger and the assets.
    """
    settings = get_settings()
    ports = PreviewPorts(
        researchers=composition.researcher_store(),
        tokens=composition.token_store(),
        assets=composition.asset_store(),
        ledger=composition.push_ledger_store(),
    )
    preview = preview_update(
        composition.integration_settings_store(),
        document,
        ports,
        sandbox=settings.orcid_environment is OrcidEnvironment.SANDBOX,
        deadline=time.monotonic() + PREVIEW_SECONDS,
    )
    logger.info(
        "settings change previewed",
        works_deleted=preview.delete.works,
        records=preview.delete.records,
        complete=preview.complete,
    )
    return preview


@router.get("/settings/mapping", summary="The effective asset type mapping", tags=["settings"])
def read_mapping() -> list[MappingRow]:
    """Every Esploro asset type, its ORCID work type after overrides, and whether the push sends it."""
    return get_effective_mapping(composition.integration_settings_store())

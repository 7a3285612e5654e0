"""``/console/settings``: the integration settings as a form, a preview of the change before it is saved, the save.

The flow is edit → ``POST /console/settings/preview`` (validated by the admin API's model; the problems go back
next to their fields, or the preview of what the next push would add, update and delete is shown with the
proposed values carried in hidden fields) → ``POST /console/settings`` (saved at the version the form was read
at: someone else's newer save is a conflict, shown, never overwritten).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.config import OrcidEnvironment, get_settings
from orcid_sync.domain.console.session import ConsoleUser
from orcid_sync.domain.console.settings_form import (
    mapping_rows,
    parse_settings_form,
    problems_by_field,
    settings_diff,
    settings_form_values,
    work_types,
)
from orcid_sync.domain.errors import ConflictError, InvalidInputError
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.settings_changes import PreviewPorts, get_settings_document, preview_update, update_settings
from orcid_sync.observability import logger

if __package__ != "routes":
    from .. import auth, web
    from . import changes
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]
    from routes import changes  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

PREVIEW_SECONDS = 20.0
"""The preview's time budget inside API Gateway's 29 s (as the admin API's): past it, counts are lower bounds."""
_FORM_FIELDS_DROPPED = ("csrf", "confirm")


def _settings_page(
    user: ConsoleUser,
    values: dict[str, str] | None = None,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    conflict: str | None = None,
) -> Response[str]:
    event = router.current_event
    stored = get_settings_document(composition.integration_settings_store())
    settings = stored.settings_only()
    return web.page(
        event,
        "settings.html.j2",
        user=user,
        status=status,
        nav_active="settings",
        values=values if values is not None else settings_form_values(settings, version=stored.version),
        errors=errors or {},
        conflict=conflict,
        version=stored.version,
        updated_at=stored.updated_at,
        mapping=mapping_rows(settings),
        work_types=work_types(),
        notice=changes.notice_of(event),
    )


def _submitted(fields: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if name not in _FORM_FIELDS_DROPPED}


@router.get("/console/settings")
def settings_page() -> Response[str]:
    user = auth.viewer(router.current_event)
    if isinstance(user, Response):
        return user
    return _settings_page(user)


@router.post("/console/settings/preview")
def preview_settings() -> Response[str]:
    """Validate the form and show what the next push would do under it (nothing saved, nothing asked of ORCID)."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    values = _submitted(web.form(event))
    try:
        document = parse_settings_form(values)
    except InvalidInputError as exc:
        return _settings_page(user, values, status=400, errors=problems_by_field(exc.problems))
    store = composition.integration_settings_store()
    ports = PreviewPorts(
        researchers=composition.researcher_store(),
        tokens=composition.token_store(),
        assets=composition.asset_store(),
        ledger=composition.push_ledger_store(),
    )
    preview = preview_update(
        store,
        document,
        ports,
        sandbox=get_settings().orcid_environment is OrcidEnvironment.SANDBOX,
        deadline=time.monotonic() + PREVIEW_SECONDS,
    )
    before, after = settings_diff(store.get().settings, document.settings_only())
    logger.info("console: settings change previewed", changed=sorted(after), complete=preview.complete)
    return web.page(
        event,
        "settings_preview.html.j2",
        user=user,
        nav_active="settings",
        preview=preview,
        before=before,
        changed=after,
        values=values,
    )


@router.post("/console/settings")
def save_settings() -> Response[str]:
    """Save the previewed settings (or go back to editing them) at the version the form was read at."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    fields = web.form(event)
    values = _submitted(fields)
    if fields.get("confirm") != "save":
        return _settings_page(user, values)
    try:
        document = parse_settings_form(values)
    except InvalidInputError as exc:
        return _settings_page(user, values, status=400, errors=problems_by_field(exc.problems))
    store = composition.integration_settings_store()
    previous = store.get().settings
    try:
        saved = update_settings(store, document, now=utc_now(), by=user.email)
    except ConflictError as exc:
        return _settings_page(user, values, status=409, conflict=exc.message)
    before, after = settings_diff(previous, saved.settings_only())
    audit_before: dict[str, Any] = {"version": (saved.version or 1) - 1, **before}
    changes.record(user, "settings.update", "settings", before=audit_before, after={"version": saved.version, **after})
    logger.info("console: integration settings changed", version=saved.version, changed=sorted(after))
    return changes.done("/console/settings", "settings_saved")

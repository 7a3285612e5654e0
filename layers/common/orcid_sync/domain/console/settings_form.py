"""The integration settings as an HTML form: flat fields in, a ``SettingsDocument`` out, problems by field.

The form is validated by the very model the admin API validates (``SettingsDocument``), so a value the API
refuses is refused here with the same message, shown next to the field it names. Field names are the
model's dotted paths (``organization.country``); each asset type's override is ``override.<asset type>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from orcid_sync.domain.batches import problems_from
from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.institution_settings import IntegrationSettings, SettingsDocument, effective_mapping
from orcid_sync.domain.orcid.vocabulary import WORK_TYPES
from orcid_sync.domain.type_mapping import default_mapping

OVERRIDE_PREFIX = "override."
ORGANIZATION_FIELDS = ("name", "city", "region", "country", "identifier_type", "identifier")
CHECKBOXES = ("send_assets", "send_affiliation", "researcher_url.send")
_LIST_SEPARATOR = re.compile(r"[\s,]+")


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _selectors(form: Mapping[str, str], name: str) -> list[str]:
    return [part for part in _LIST_SEPARATOR.split(form.get(name, "")) if part]


def parse_settings_form(form: Mapping[str, str]) -> SettingsDocument:
    """The document the form describes; ``InvalidInputError`` whose problems name the form's fields."""
    organization = {field: _text(form, f"organization.{field}") for field in ORGANIZATION_FIELDS}
    raw: dict[str, Any] = {
        "institution_name": form.get("institution_name", "").strip(),
        "send_assets": "send_assets" in form,
        "asset_types": {
            "include": _selectors(form, "asset_types.include") or ["all"],
            "exclude": _selectors(form, "asset_types.exclude"),
        },
        "update_researchers": form.get("update_researchers", "all"),
        "send_affiliation": "send_affiliation" in form,
        # Every organisation field empty means "no organisation" (then send_affiliation says if one is needed).
        "organization": {k: v for k, v in organization.items() if v is not None}
        if any(organization.values())
        else None,
        "researcher_url": {"send": "researcher_url.send" in form, "name": _text(form, "researcher_url.name")},
        "type_overrides": {
            name.removeprefix(OVERRIDE_PREFIX): value.strip()
            for name, value in form.items()
            if name.startswith(OVERRIDE_PREFIX) and value.strip()
        },
        "logo_url": _text(form, "logo_url"),
        "support_contact": _text(form, "support_contact"),
        "accent_color": _text(form, "accent_color"),
    }
    version = form.get("version", "").strip()
    problems: list[Problem] = []
    if version:
        if version.isdigit():
            raw["version"] = int(version)
        else:
            problems.append(Problem(field="version", reason="reload the page: the form's version is not a number"))
    try:
        document = SettingsDocument.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError("the settings are invalid", [*problems, *problems_from(exc)]) from None
    if problems:
        raise InvalidInputError("the settings are invalid", problems)
    return document


def problems_by_field(problems: list[Problem]) -> dict[str, list[str]]:
    """The messages to show next to each field; a problem inside a field (``organization.country``) stays there,
    one about an override names the asset type and goes with the type table (``type_overrides``)."""
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        by_field.setdefault(problem.field, []).append(problem.reason)
    return by_field


def settings_form_values(settings: IntegrationSettings, *, version: int | None) -> dict[str, str]:
    """The form's fields filled from stored settings (what the page shows before any edit)."""
    values: dict[str, str] = {
        "institution_name": settings.institution_name,
        "asset_types.include": "\n".join(settings.asset_types.include),
        "asset_types.exclude": "\n".join(settings.asset_types.exclude),
        "update_researchers": settings.update_researchers.value,
        "researcher_url.name": settings.researcher_url.name or "",
        "logo_url": settings.logo_url or "",
        "support_contact": settings.support_contact or "",
        "accent_color": settings.accent_color or "",
        "version": "" if version is None else str(version),
    }
    for checkbox, on in (
        ("send_assets", settings.send_assets),
        ("send_affiliation", settings.send_affiliation),
        ("researcher_url.send", settings.researcher_url.send),
    ):
        if on:
            values[checkbox] = "on"
    organization = settings.organization.model_dump(mode="json") if settings.organization else {}
    for field in ORGANIZATION_FIELDS:
        values[f"organization.{field}"] = organization.get(field) or ""
    for asset_type, work_type in settings.type_overrides.items():
        values[f"{OVERRIDE_PREFIX}{asset_type}"] = work_type
    return values


def settings_diff(before: IntegrationSettings, after: IntegrationSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The top-level settings that changed, before and after (the audit log's entry)."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    changed = [key for key in new if old.get(key) != new[key]]
    return {key: old.get(key) for key in changed}, {key: new[key] for key in changed}


class MappingFormRow(BaseModel):
    """One line of the type table on the settings page: the built-in work type beside the effective one."""

    asset_type: str
    built_in: str
    work_type: str
    overridden: bool
    selected: bool


def mapping_rows(settings: IntegrationSettings) -> list[MappingFormRow]:
    """The effective mapping (``get_effective_mapping``'s rows), each with its built-in work type."""
    built_in = default_mapping()
    return [
        MappingFormRow(built_in=built_in[row.asset_type], **row.model_dump()) for row in effective_mapping(settings)
    ]


def work_types() -> list[str]:
    """Every ORCID API 3.0 work type, for the override fields' suggestions."""
    return sorted(WORK_TYPES)

"""A harvested record → an asset upsert (or a withdrawal), through a mapping profile.

A profile (``profiles/<name>.json``, overridable per institution) turns the repository's type vocabulary into our
asset types; every other field is read the same way for every repository (see :mod:`.metadata`). The asset is
validated exactly as ``POST /assets`` validates it: what that would refuse is refused here, as
:class:`RecordProblem` values naming the OAI identifier and the field, never an exception.

Creators are matched to researchers by the ORCID iD the record gives them, then by a local identifier (a
``nameIdentifier`` of the scheme the profile names); a creator matching neither is counted, never guessed by name.
A record none of whose creators is one of our researchers is not ours: no asset, and no problem either (a
repository holds far more works than its connected researchers wrote, so its other records' flaws are not ours).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from orcid_sync.domain.batches import problems_from
from orcid_sync.domain.feeds.metadata import (
    Creator,
    MetadataError,
    RecordMetadata,
    parse_record_metadata,
)
from orcid_sync.domain.feeds.ports import HarvestedRecord
from orcid_sync.domain.feeds.record_fields import identifier_fields, language_code, publication_date
from orcid_sync.domain.models import AssetInput
from orcid_sync.domain.type_mapping import default_mapping


class ProfileName(StrEnum):
    DSPACE = "dspace"
    EPRINTS = "eprints"
    ESPLORO = "esploro"
    DATACITE = "datacite"


class ProfileError(ValueError):
    """A profile or an institution's override names a type we cannot use; the message says which."""


def type_key(value: str) -> str:
    """How source types are compared: case, runs of spaces, a trailing slash and http/https do not matter."""
    key = " ".join(value.split()).casefold().rstrip("/")
    return "http://" + key.removeprefix("https://") if key.startswith("https://") else key


@dataclass(frozen=True)
class MappingProfile:
    """How one repository platform's records become assets."""

    name: ProfileName
    type_map: Mapping[str, str]
    """Source type (compared by :func:`type_key`) → Esploro asset type; the profile's own entries over the
    vocabularies it extends, the institution's overrides over both."""
    ignored_types: frozenset[str] = frozenset()
    """Type values that say something else (``PeerReviewed``, ``info:eu-repo/semantics/publishedVersion``)."""
    generic_types: frozenset[str] = frozenset()
    """Catch-all values (DataCite's ``Text``, COAR's ``other``...) that map only when the record gives no type of
    its own that the profile does not know: an EPrints ``interpretive_dance`` written with
    ``resourceTypeGeneral="Text"`` is an unknown type to map, not quietly ``other``."""
    local_id_field: str | None = None
    """The ``nameIdentifierScheme`` whose values are our researchers' local ids (e.g. ``Local``), if any."""
    status: str = "approved"
    visible: bool = True
    description: str = ""

    def asset_type(self, source_type: str) -> str | None:
        return self.type_map.get(type_key(source_type))

    def is_ignored(self, source_type: str) -> bool:
        return type_key(source_type) in self.ignored_types

    def is_generic(self, source_type: str) -> bool:
        return type_key(source_type) in self.generic_types


@cache
def _profile_file(name: str) -> dict[str, Any]:
    path = resources.files("orcid_sync.domain.feeds").joinpath(f"profiles/{name}.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _checked(mapping: Mapping[str, str], where: str) -> dict[str, str]:
    known = default_mapping()
    table: dict[str, str] = {}
    for source, asset_type in mapping.items():
        if not isinstance(source, str) or not source.strip():
            raise ProfileError(f"{where}: a source type must be a non-empty string, not {source!r}")
        if asset_type not in known:
            raise ProfileError(
                f"{where}: {source!r} maps to {asset_type!r}, which is not a known asset type "
                "(see `orcid-sync mapping` for the list)"
            )
        table[type_key(source)] = asset_type
    return table


def load_profile(
    name: ProfileName | str,
    overrides: Mapping[str, str] | None = None,
    *,
    local_id_field: str | None = None,
) -> MappingProfile:
    """The built-in profile with the institution's ``overrides`` (source type → asset type) on top.

    ``local_id_field`` (the feed's setting) replaces the profile's own. :class:`ProfileError` if an override
    names an asset type we do not know.
    """
    profile_name = ProfileName(name)
    data = _profile_file(profile_name.value)
    table: dict[str, str] = {}
    ignored: set[str] = set()
    for base in reversed(data.get("extends", [])):
        base_data = _profile_file(base)
        table.update(_checked(base_data.get("type_map", {}), f"profile {base}"))
        ignored.update(type_key(value) for value in base_data.get("ignored_types", []))
    table.update(_checked(data.get("type_map", {}), f"profile {profile_name.value}"))
    ignored.update(type_key(value) for value in data.get("ignored_types", []))
    overridden = _checked(overrides or {}, "type_overrides")
    table.update(overridden)
    ignored -= set(table)
    return MappingProfile(
        name=profile_name,
        type_map=MappingProxyType(table),
        ignored_types=frozenset(ignored),
        generic_types=frozenset(type_key(value) for value in data.get("generic_types", [])) - set(overridden),
        local_id_field=local_id_field if local_id_field is not None else data.get("local_id_field"),
        status=str(data.get("status", "approved")),
        visible=bool(data.get("visible", True)),
        description=str(data.get("description", "")),
    )


@dataclass(frozen=True)
class RecordProblem:
    oai_identifier: str
    field: str
    why: str


@dataclass(frozen=True)
class MappedRecord:
    oai_identifier: str
    asset: AssetInput | None
    """``None``: deleted, refused (see ``problems``) or no creator matched a researcher."""
    withdraw_asset_id: str | None
    """Set for a deleted record: the asset to delete."""
    problems: tuple[RecordProblem, ...] = ()
    matched_researchers: tuple[str, ...] = ()
    unmatched_creators: int = 0
    source_type: str | None = field(default=None, compare=False)
    """The record's type value the asset type came from (for ``feeds test``)."""


# --- Asset ids ----------------------------------------------------------------------------------------------------

_ID_SAFE = re.compile(r"[A-Za-z0-9._:@-]")
_ID_MAX = 128


def asset_id_for(oai_identifier: str) -> str:
    """A stable, valid asset id (``EntityId``) for a record, distinct for distinct OAI identifiers.

    Readable where possible: the identifier itself, each character an id may not hold written ``~XX`` (its UTF-8
    bytes in upper-case hex; ``~`` itself too), so ``oai:dspace.example.edu:123456789/42`` becomes
    ``oai:dspace.example.edu:123456789~2F42``. An identifier that would not fit (over 128 characters, or not
    starting with a letter or digit) becomes ``oai~x`` and its SHA-256: ``~x`` never occurs in an escaped id.
    """
    escaped = "".join(
        char if _ID_SAFE.fullmatch(char) else "".join(f"~{byte:02X}" for byte in char.encode("utf-8"))
        for char in oai_identifier
    )
    if escaped and len(escaped) <= _ID_MAX and escaped[0].isascii() and escaped[0].isalnum():
        return escaped
    return "oai~x" + hashlib.sha256(oai_identifier.encode("utf-8")).hexdigest()


# --- Field normalisation ------------------------------------------------------------------------------------------


def _asset_type(metadata: RecordMetadata, profile: MappingProfile) -> tuple[str | None, str | None, str | None]:
    """(asset type, the source value it came from, why there is none): the first of the record's types the profile
    maps, a generic one only if the record has no meaningful type the profile does not know."""
    unknown = [t for t in metadata.types if profile.asset_type(t) is None and not profile.is_ignored(t)]
    mapped = [(t, asset_type) for t in metadata.types if (asset_type := profile.asset_type(t)) is not None]
    for source, asset_type in mapped:
        if not profile.is_generic(source):
            return asset_type, source, None
    if mapped and not unknown:
        source, asset_type = mapped[0]
        return asset_type, source, None
    if not unknown:
        return None, None, f"the record gives no type the {profile.name.value} profile could map"
    listed = ", ".join(repr(t) for t in unknown)
    return (
        None,
        None,
        f"no type of the record ({listed}) is in the {profile.name.value} profile; map it with the feed's "
        "type_overrides (source type → asset type)",
    )


# --- Matching -----------------------------------------------------------------------------------------------------


def _match(
    creators: tuple[Creator, ...],
    profile: MappingProfile,
    researcher_for_orcid: Callable[[str], str | None],
    researcher_for_local_id: Callable[[str], str | None] | None,
) -> tuple[list[str], int]:
    matched: list[str] = []
    unmatched = 0
    for creator in creators:
        researcher = researcher_for_orcid(creator.orcid) if creator.orcid else None
        if researcher is None and researcher_for_local_id is not None and profile.local_id_field:
            for local_id in creator.local_ids(profile.local_id_field):
                if (researcher := researcher_for_local_id(local_id)) is not None:
                    break
        if researcher is None:
            unmatched += 1
        elif researcher not in matched:
            matched.append(researcher)
    return matched, unmatched


# --- The mapping --------------------------------------------------------------------------------------------------


def map_record(
    record: HarvestedRecord,
    *,
    metadata_prefix: str,
    profile: MappingProfile,
    researcher_for_orcid: Callable[[str], str | None],
    researcher_for_local_id: Callable[[str], str | None] | None = None,
) -> MappedRecord:
    """What to do with one harvested record: upsert an asset, withdraw one, or nothing (with the problems)."""
    oai_id = record.identifier
    if record.deleted:
        return MappedRecord(oai_identifier=oai_id, asset=None, withdraw_asset_id=asset_id_for(oai_id))
    if record.metadata_xml is None:
        return _refused(oai_id, "metadata", "the record is not deleted but has no metadata")
    try:
        metadata = parse_record_metadata(record.metadata_xml, metadata_prefix)
    except MetadataError as exc:
        return _refused(oai_id, "metadata", str(exc))

    matched, unmatched = _match(metadata.creators, profile, researcher_for_orcid, researcher_for_local_id)
    if not matched:
        return MappedRecord(oai_identifier=oai_id, asset=None, withdraw_asset_id=None, unmatched_creators=unmatched)
    return asset_for(oai_id, metadata, profile=profile, researchers=matched, unmatched_creators=unmatched)


def asset_for(
    oai_identifier: str,
    metadata: RecordMetadata,
    *,
    profile: MappingProfile,
    researchers: list[str],
    unmatched_creators: int = 0,
) -> MappedRecord:
    """The asset for a record whose creators matched ``researchers``, validated as ``POST /assets`` does."""
    oai_id = oai_identifier
    problems: list[RecordProblem] = []
    for index, creator in enumerate(metadata.creators):
        if creator.orcid_problem:
            # Not a refusal: the creator is kept without an iD (and was not matched by it).
            problems.append(RecordProblem(oai_id, f"contributors.{index}.orcid", creator.orcid_problem))

    asset_type, source_type, type_problem = _asset_type(metadata, profile)
    if type_problem:
        problems.append(RecordProblem(oai_id, "type", type_problem))

    fields: dict[str, Any] = {
        "id": asset_id_for(oai_id),
        "researchers": researchers,
        "status": profile.status,
        "visible": profile.visible,
        "contributors": [
            {
                "name": creator.name,
                "orcid": creator.orcid,
                "role": "author",
                "sequence": "first" if index == 0 else "additional",
            }
            for index, creator in enumerate(metadata.creators)
        ],
        **identifier_fields(metadata),
    }
    optional = {
        "type": asset_type,
        "title": metadata.titles[0] if metadata.titles else None,
        "subtitle": metadata.subtitle,
        "date": publication_date(metadata.dates),
        "container_title": metadata.container_title,
        "abstract": metadata.abstract,
        "language": language_code(metadata.language),
    }
    fields.update({key: value for key, value in optional.items() if value is not None})

    matched = tuple(dict.fromkeys(researchers))
    try:
        asset = AssetInput.model_validate(fields)
    except ValidationError as exc:
        for problem in problems_from(exc):
            if problem.field == "type" and type_problem:
                continue  # already said, in the profile's words
            problems.append(RecordProblem(oai_id, problem.field, _with_hint(problem.field, problem.reason)))
        asset = None
    return MappedRecord(
        oai_identifier=oai_id,
        asset=asset,
        withdraw_asset_id=None,
        problems=tuple(problems),
        matched_researchers=matched,
        unmatched_creators=unmatched_creators,
        source_type=source_type if asset is not None else None,
    )


def _with_hint(field_name: str, reason: str) -> str:
    if field_name == "title" and reason == "Field required":
        return "the record has no title"
    return reason


def _refused(oai_id: str, field_name: str, why: str) -> MappedRecord:
    return MappedRecord(
        oai_identifier=oai_id, asset=None, withdraw_asset_id=None, problems=(RecordProblem(oai_id, field_name, why),)
    )

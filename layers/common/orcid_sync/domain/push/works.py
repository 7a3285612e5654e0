"""From a research asset to the ORCID work we send, and the hash that decides whether ORCID needs it again."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orcid_sync.domain.identifiers import parse_partial_date
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.models import Asset, AssetContributor
from orcid_sync.domain.orcid.models import (
    SHORT_DESCRIPTION_MAX_LENGTH,
    YEAR_RANGE,
    Contributor,
    ContributorAttributes,
    ContributorOrcid,
    Contributors,
    ExternalId,
    ExternalIds,
    FuzzyDate,
    StringValue,
    Work,
    WorkTitle,
)

# ORCID's LanguageCode list (common-3.0.xsd): ISO 639-1, with Java's legacy codes for Hebrew,
# Indonesian and Yiddish, and Chinese split by script region.
ORCID_LANGUAGE_CODES: frozenset[str] = frozenset(
    {
        "ab", "aa", "af", "ak", "sq", "am", "ar", "an", "hy", "as", "av", "ae", "ay", "az", "bm", "ba", "eu", "be",
        "bn", "bh", "bi", "bs", "br", "bg", "my", "ca", "ch", "ce", "zh_CN", "zh_TW", "cu", "cv", "kw", "co", "cr",
        "hr", "cs", "da", "dv", "nl", "dz", "en", "eo", "et", "ee", "fo", "fj", "fi", "fr", "fy", "ff", "gl", "lg",
        "ka", "de", "el", "kl", "gn", "gu", "ht", "ha", "iw", "hz", "hi", "ho", "hu", "is", "io", "ig", "in", "ia",
        "ie", "iu", "ik", "ga", "it", "ja", "jv", "kn", "kr", "ks", "kk", "km", "ki", "rw", "ky", "kv", "kg", "ko",
        "ku", "kj", "lo", "la", "lv", "li", "ln", "lt", "lu", "lb", "mk", "mg", "ms", "ml", "mt", "gv", "mi", "mr",
        "mh", "mo", "mn", "na", "nv", "ng", "ne", "nd", "se", "no", "nb", "nn", "ny", "oc", "oj", "or", "om", "os",
        "pi", "pa", "fa", "pl", "pt", "ps", "qu", "rm", "ro", "rn", "ru", "sm", "sg", "sa", "sc", "gd", "sr", "sn",
        "ii", "sd", "si", "sk", "sl", "so", "nr", "st", "es", "su", "sw", "ss", "sv", "tl", "ty", "tg", "ta", "tt",
        "te", "th", "bo", "ti", "to", "ts", "tn", "tr", "tk", "tw", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa",
        "cy", "wo", "xh", "ji", "yo", "za", "zu",
    }
)  # fmt: skip
_LEGACY_LANGUAGE = {"he": "iw", "id": "in", "yi": "ji"}

# ISBNs identify only whole books; for a chapter (or a paper in proceedings) they name the container.
_ISBN_SELF_TYPES = frozenset({"book", "edited-book"})

DOI_URL = "https://doi.org/{}"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}"
PMC_URL = "https://www.ncbi.nlm.nih.gov/pmc/articles/{}"
HANDLE_URL = "https://hdl.handle.net/{}"


@dataclass(frozen=True)
class WorkWarning:
    """Something ORCID gets differently from the repository: a field left out or cut to ORCID's limit."""

    field: str
    message: str
    cut: bool = False

    @property
    def action(self) -> str:
        """What the push did, as its job event says."""
        return "cut a field" if self.cut else "sent without a field"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class BuiltWork:
    """A work ready to send, with the hash of exactly what would be sent."""

    asset_id: str
    work: Work
    content_hash: str
    warnings: tuple[WorkWarning, ...] = ()

    def payload(self) -> dict[str, Any]:
        return self.work.to_orcid_json()


@dataclass(frozen=True)
class InvalidWork:
    """An asset ORCID would reject, and why (ORCID's own rule, named)."""

    asset_id: str
    reason: str
    warnings: tuple[WorkWarning, ...] = ()


@dataclass
class _Notes:
    warnings: list[WorkWarning] = field(default_factory=list)


def content_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an ORCID payload (sorted keys, no whitespace)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def trim_at_word(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at the last whitespace before the limit (mid-word only if there is none)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    # Leave room for the ellipsis that tells a reader the abstract goes on.
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _blank_to_none(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def _publication_date(asset: Asset, notes: _Notes) -> FuzzyDate | None:
    if not asset.date:
        return None
    date = parse_partial_date(asset.date)
    if not YEAR_RANGE[0] <= date.year <= YEAR_RANGE[1]:
        notes.warnings.append(
            WorkWarning(
                "publication-date",
                f"publication date {asset.date} is outside ORCID's {YEAR_RANGE[0]}-{YEAR_RANGE[1]} range; "
                "sent without a date",
            )
        )
        return None
    return FuzzyDate.from_partial_date(date)


def _language(asset: Asset, notes: _Notes) -> str | None:
    if not asset.language:
        return None
    primary, _, region = asset.language.replace("-", "_").partition("_")
    primary = primary.lower()
    code = f"zh_{region.upper()}" if primary == "zh" and region.upper() in ("CN", "TW") else primary
    code = _LEGACY_LANGUAGE.get(code, code)
    if code == "zh":
        code = "zh_CN"
    if code not in ORCID_LANGUAGE_CODES:
        notes.warnings.append(
            WorkWarning("language-code", f"language {asset.language!r} is not one ORCID knows; sent without a language")
        )
        return None
    return code


def _external_id(kind: str, value: str, relationship: str, url: str | None = None) -> ExternalId:
    return ExternalId(
        external_id_type=kind,
        external_id_value=value,
        external_id_url=StringValue(value=url) if url else None,
        external_id_relationship=relationship,
    )


def _bare_handle(handle: str) -> str:
    return handle.removeprefix("https://hdl.handle.net/").removeprefix("http://hdl.handle.net/")


def external_ids(asset: Asset, work_type: str) -> ExternalIds:
    """The asset's identifiers, each with its relationship; ``source-work-id`` makes every work's self id stable."""
    ids: list[ExternalId] = []
    if asset.doi:
        ids.append(_external_id("doi", asset.doi, "self", DOI_URL.format(asset.doi)))
    if asset.pmid:
        ids.append(_external_id("pmid", asset.pmid, "self", PUBMED_URL.format(asset.pmid)))
    if asset.pmcid:
        ids.append(_external_id("pmc", asset.pmcid, "self", PMC_URL.format(asset.pmcid)))
    if asset.handle:
        handle = _bare_handle(asset.handle)
        ids.append(_external_id("handle", handle, "self", HANDLE_URL.format(handle)))
    if asset.isbn:
        ids.append(_external_id("isbn", asset.isbn, "self" if work_type in _ISBN_SELF_TYPES else "part-of"))
    if asset.issn:
        ids.append(_external_id("issn", asset.issn, "part-of"))
    ids.append(_external_id("source-work-id", asset.id, "self"))
    return ExternalIds(external_id=ids)


def _contributor(contributor: AssetContributor, *, sandbox: bool) -> Contributor:
    sequence: str | None = None
    if contributor.sequence is not None:
        first = contributor.sequence in (1, "first")
        sequence = "first" if first else "additional"
    attributes = None
    if sequence is not None or contributor.role is not None:
        attributes = ContributorAttributes(contributor_sequence=sequence, contributor_role=contributor.role)
    return Contributor(
        contributor_orcid=ContributorOrcid.of(contributor.orcid, sandbox=sandbox) if contributor.orcid else None,
        credit_name=StringValue(value=contributor.name),
        contributor_attributes=attributes,
    )


def _abstract(asset: Asset, notes: _Notes) -> str | None:
    abstract = _blank_to_none(asset.abstract)
    if abstract is None:
        return None
    cut = trim_at_word(abstract, SHORT_DESCRIPTION_MAX_LENGTH)
    if len(cut) < len(abstract.strip()):
        notes.warnings.append(
            WorkWarning(
                "short-description",
                f"abstract (ORCID's short-description) cut from {len(abstract.strip()):,} to {len(cut):,} "
                f"characters, at a word boundary: ORCID takes at most {SHORT_DESCRIPTION_MAX_LENGTH:,}",
                cut=True,
            )
        )
    return cut


def _url(asset: Asset) -> StringValue | None:
    if asset.url:
        return StringValue(value=asset.url)
    if asset.handle:
        return StringValue(value=HANDLE_URL.format(_bare_handle(asset.handle)))
    return None


def build_work(asset: Asset, settings: IntegrationSettings, *, sandbox: bool = False) -> BuiltWork | InvalidWork:
    """The ORCID work for an asset, or why ORCID would refuse it. ``sandbox`` makes contributor iD URIs sandbox ones."""
    notes = _Notes()
    work_type = settings.mapping.work_type(asset.type)
    subtitle = _blank_to_none(asset.subtitle)
    container = _blank_to_none(asset.container_title)
    try:
        work = Work(
            title=WorkTitle(
                title=StringValue(value=asset.title), subtitle=StringValue(value=subtitle) if subtitle else None
            ),
            journal_title=StringValue(value=container) if container else None,
            short_description=_abstract(asset, notes),
            type=work_type,
            publication_date=_publication_date(asset, notes),
            external_ids=external_ids(asset, work_type),
            url=_url(asset),
            contributors=Contributors(contributor=[_contributor(c, sandbox=sandbox) for c in asset.contributors])
            if asset.contributors
            else None,
            language_code=_language(asset, notes),
        )
    except ValidationError as exc:
        reasons = "; ".join(_reason(err) for err in exc.errors(include_url=False))
        return InvalidWork(asset.id, reasons, tuple(notes.warnings))
    except ValueError as exc:  # an identifier the asset model let through but ORCID's rules do not
        return InvalidWork(asset.id, str(exc), tuple(notes.warnings))
    return BuiltWork(asset.id, work, content_hash(work.to_orcid_json()), tuple(notes.warnings))


def _reason(error: Any) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message

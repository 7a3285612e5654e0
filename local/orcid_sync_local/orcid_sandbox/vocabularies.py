"""The value lists ORCID enforces in code, where its 3.0 XSDs only say "a string" (language, country, work type...).

Read from the orcid-model copy beside the repository: ``enums.json`` (work types, relationships, citation types,
legacy contributor roles, sequences, external-id types, disambiguation sources) and the XSD's own documentation of
``common:language-code`` and ``common:contributor-role`` (ORCID's language list and the CRediT role URIs). The one
list orcid-model does not carry, ORCID's ``Iso3166Country`` enum, is kept here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# orcid-model src/main/java/org/orcid/jaxb/model/common/Iso3166Country.java: ISO 3166-1 alpha-2 plus XK (Kosovo).
ISO_3166_COUNTRIES = frozenset(
    {
        "AF", "AX", "AL", "DZ", "AS", "AD", "AO", "AI", "AQ", "AG", "AR", "AM", "AW", "AU", "AT", "AZ", "BS", "BH",
        "BD", "BB", "BY", "BE", "BZ", "BJ", "BM", "BT", "BO", "BQ", "BA", "BW", "BV", "BR", "IO", "BN", "BG", "BF",
        "BI", "KH", "CM", "CA", "CV", "KY", "CF", "TD", "CL", "CN", "CX", "CC", "CO", "KM", "CG", "CD", "CK", "CR",
        "CI", "HR", "CU", "CW", "CY", "CZ", "DK", "DJ", "DM", "DO", "EC", "EG", "SV", "GQ", "ER", "EE", "ET", "FK",
        "FO", "FJ", "FI", "FR", "GF", "PF", "TF", "GA", "GM", "GE", "DE", "GH", "GI", "GR", "GL", "GD", "GP", "GU",
        "GT", "GG", "GN", "GW", "GY", "HT", "HM", "VA", "HN", "HK", "HU", "IS", "IN", "ID", "IR", "IQ", "IE", "IM",
        "IL", "IT", "JM", "JP", "JE", "JO", "KZ", "KE", "KI", "KP", "KR", "KW", "KG", "LA", "LV", "LB", "LS", "LR",
        "LY", "LI", "LT", "LU", "MO", "MK", "MG", "MW", "MY", "MV", "ML", "MT", "MH", "MQ", "MR", "MU", "YT", "MX",
        "FM", "MD", "MC", "MN", "ME", "MS", "MA", "MZ", "MM", "NA", "NR", "NP", "NL", "NC", "NZ", "NI", "NE", "NG",
        "NU", "NF", "MP", "NO", "OM", "PK", "PW", "PS", "PA", "PG", "PY", "PE", "PH", "PN", "PL", "PT", "PR", "QA",
        "RE", "RO", "RU", "RW", "BL", "SH", "KN", "LC", "MF", "PM", "VC", "WS", "SM", "ST", "SA", "SN", "RS", "SC",
        "SL", "SG", "SX", "SK", "SI", "SB", "SO", "ZA", "GS", "SS", "ES", "LK", "SD", "SR", "SJ", "SZ", "SE", "CH",
        "SY", "TJ", "TZ", "TH", "TL", "TG", "TK", "TO", "TT", "TN", "TR", "TM", "TC", "TV", "UG", "UA", "AE", "GB",
        "US", "UM", "UY", "UZ", "VU", "VE", "VN", "VG", "VI", "WF", "EH", "YE", "ZM", "ZW", "TW", "XK",
    }
)  # fmt: skip
CREDIT_ROLE_PREFIX = "http://credit.niso.org/contributor-roles/"

_LANGUAGE_LIST = re.compile(r"following options:\s*(.*?)\s*ORCID will validate", re.DOTALL)
_CREDIT_ROLE = re.compile(re.escape(CREDIT_ROLE_PREFIX) + r"([a-z-]+)/")


@dataclass(frozen=True)
class Vocabularies:
    """Every code-enforced value list, as sets."""

    work_types: frozenset[str]
    work_type_aliases: dict[str, str]
    relationships: frozenset[str]
    citation_types: frozenset[str]
    legacy_contributor_roles: frozenset[str]
    credit_roles: frozenset[str]
    contributor_sequences: frozenset[str]
    external_id_types: frozenset[str]
    disambiguation_sources: frozenset[str]
    languages: frozenset[str]
    countries: frozenset[str]

    def is_contributor_role(self, role: str) -> bool:
        """A legacy role (``author``...) or a CRediT role URI (``http://credit.niso.org/contributor-roles/<role>/``)."""
        if role in self.legacy_contributor_roles:
            return True
        return role.startswith(CREDIT_ROLE_PREFIX) and role[len(CREDIT_ROLE_PREFIX) :].rstrip("/") in self.credit_roles


def _documentation(schema: Any, type_name: str) -> str:
    """The text of an XSD simple type's <xs:documentation>."""
    annotation = schema.maps.types[type_name].annotation
    return "".join("".join(part.itertext()) for part in annotation.documentation) if annotation else ""


def load_vocabularies(model_dir: Path, schema: Any) -> Vocabularies:
    """Read enums.json and the vocabularies documented in ``schema`` (the loaded record XSD)."""
    enums = json.loads((model_dir / "enums.json").read_text(encoding="utf-8"))
    common = "{http://www.orcid.org/ns/common}"
    language_text = _LANGUAGE_LIST.search(_documentation(schema, f"{common}language-code"))
    if language_text is None:
        raise ValueError("the XSD's language-code documentation no longer lists ORCID's languages")
    languages = frozenset(code.strip() for code in language_text.group(1).split(",") if code.strip())
    credit_roles = frozenset(_CREDIT_ROLE.findall(_documentation(schema, f"{common}contributor-role")))
    return Vocabularies(
        work_types=frozenset(enums["work_types"]),
        work_type_aliases=dict(enums["work_type_aliases_accepted_on_input"]),
        relationships=frozenset(enums["relationships"]),
        citation_types=frozenset(enums["citation_types"]),
        legacy_contributor_roles=frozenset(enums["legacy_contributor_roles"]),
        credit_roles=credit_roles,
        contributor_sequences=frozenset(enums["contributor_sequences"]),
        external_id_types=frozenset(enums["external_id_types"]),
        disambiguation_sources=frozenset(enums["disambiguation_sources"]),
        languages=languages,
        countries=ISO_3166_COUNTRIES,
    )

"""ORCID API 3.0 vocabularies that ORCID checks in code (the XSD types are plain strings).

Kept here as the project's own data; ``tests/unit/test_vocabulary.py`` checks them against
``orcid-model/enums.json`` so that we never emit a value ORCID would answer with 400/9037.
"""

WORK_TYPES: frozenset[str] = frozenset(
    {
        "annotation",
        "artistic-performance",
        "blog-post",
        "book",
        "book-chapter",
        "book-review",
        "cartographic-material",
        "clinical-study",
        "conference-abstract",
        "conference-output",
        "conference-paper",
        "conference-poster",
        "conference-presentation",
        "conference-proceedings",
        "data-management-plan",
        "data-set",
        "design",
        "dictionary-entry",
        "disclosure",
        "dissertation-thesis",
        "edited-book",
        "encyclopedia-entry",
        "image",
        "invention",
        "journal-article",
        "journal-issue",
        "learning-object",
        "lecture-speech",
        "license",
        "magazine-article",
        "manual",
        "moving-image",
        "musical-composition",
        "newsletter-article",
        "newspaper-article",
        "online-resource",
        "other",
        "patent",
        "physical-object",
        "preprint",
        "public-speech",
        "registered-copyright",
        "report",
        "research-technique",
        "research-tool",
        "review",
        "software",
        "sound",
        "spin-off-company",
        "standards-and-policy",
        "supervised-student-publication",
        "technical-standard",
        "test",
        "trademark",
        "transcription",
        "translation",
        "undefined",
        "website",
        "working-paper",
    }
)
"""Work types accepted by API 3.0 (WorkType.java)."""

WORK_TYPE_ALIASES: dict[str, str] = {
    "article-journal": "journal-article",
    "chapter": "book-chapter",
    "dataset": "data-set",
    "standard": "standards-and-policy",
    # API 2.x name, renamed in 3.0 (record_3.0 README); Esploro's table still uses it.
    "dissertation": "dissertation-thesis",
}
"""Old or alias names mapped to their API 3.0 work type."""

RELATIONSHIPS: frozenset[str] = frozenset(
    {
        "self",
        "part-of",
        "version-of",
        "funded-by",
    }
)
"""External-id relationships."""

CITATION_TYPES: frozenset[str] = frozenset(
    {
        "formatted-unspecified",
        "bibtex",
        "formatted-apa",
        "formatted-harvard",
        "formatted-ieee",
        "formatted-mla",
        "formatted-vancouver",
        "formatted-chicago",
        "ris",
    }
)
"""Citation types."""

CONTRIBUTOR_ROLES: frozenset[str] = frozenset(
    {
        "author",
        "assignee",
        "editor",
        "chair-or-translator",
        "co-investigator",
        "co-inventor",
        "graduate-student",
        "other-inventor",
        "principal-investigator",
        "postdoctoral-researcher",
        "support-staff",
    }
)
"""Legacy contributor roles (CRediT URIs are accepted too)."""

CREDIT_ROLE_PREFIX = "http://credit.niso.org/contributor-roles/"

CONTRIBUTOR_SEQUENCES: frozenset[str] = frozenset(
    {
        "first",
        "additional",
    }
)
"""Contributor sequence values."""

EXTERNAL_ID_TYPES: frozenset[str] = frozenset(
    {
        "agr",
        "ark",
        "arxiv",
        "asin",
        "asin-tld",
        "authenticusid",
        "bibcode",
        "cba",
        "cgn",
        "cienciaiul",
        "cit",
        "cstr",
        "ctx",
        "dnb",
        "doi",
        "eid",
        "emdb",
        "empiar",
        "ethos",
        "grant-number",
        "hal",
        "handle",
        "hir",
        "isbn",
        "ismn",
        "issn",
        "jfm",
        "jstor",
        "k10plus",
        "kuid",
        "lccn",
        "lensid",
        "mr",
        "oclc",
        "ol",
        "osti",
        "other-id",
        "pat",
        "pdb",
        "pmc",
        "pmid",
        "ppr",
        "proposal-id",
        "raid",
        "rfc",
        "rrid",
        "source-work-id",
        "ssrn",
        "uri",
        "urn",
        "wosuid",
        "zbl",
    }
)
"""External identifier types (GET /v3.0/identifiers)."""

DISAMBIGUATION_SOURCES: frozenset[str] = frozenset(
    {
        "RINGGOLD",
        "GRID",
        "ROR",
        "FUNDREF",
        "LEI",
    }
)
"""Organisation identifier sources for affiliations."""

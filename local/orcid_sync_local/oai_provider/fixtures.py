"""Realistic repository items, deterministic for a seed: a quarter each from DSpace, EPrints, Esploro and DataCite.

Modelled on those platforms' real OAI-PMH output (written here, not copied):

- DSpace: ``oai:repository.example.edu:123456789/N``, Handle ``http://hdl.handle.net/123456789/N``, ``dc.type`` labels
  ("Article", "Book chapter", "Conference paper", "Dataset", "Thesis", …) with a COAR URI beside some of them, DOIs as
  ``https://doi.org/10.…``, sets ``com_123456789_1`` (community) and ``col_123456789_*`` (collections).
- EPrints: ``oai:eprints.example.ac.uk:N``, ``eprint.type`` ("article", "book_section", "conference_item",
  "monograph", "book", "thesis"), DOIs as ``doi:10.…``, sets ``7374617475733D707562`` (hex of ``status=pub``) and
  ``74797065733D…`` (hex of ``types=<type>``).
- Esploro: ``oai:alma.01EXAMPLE_INST:11…0004711``, asset types as in the Esploro type table
  ("publication.journalArticle", "conference.conferencePaper", "dataset.dataset", …), bare DOIs, set ``esploro_public``.
- DataCite: ``doi:10.5555/…`` identifiers, ``resourceTypeGeneral`` ("Dataset", "Software", "JournalArticle", …),
  creators with ``nameIdentifier nameIdentifierScheme="ORCID"``, sets ``EXAMPLE`` and ``EXAMPLE.REPO``.

Some creators are the local demo researchers (:data:`DEMO_ORCIDS`: Ada, Alan and Grace of ``demo_data``) with their
ORCID iD (in ``oai_datacite``) so that a harvest can match them; pass ``orcids`` to use the iDs a stack gave them.
A few records are deliberately bad (:data:`BAD_DOI_NUMBER`, :data:`UNKNOWN_TYPE_NUMBER`) and a few were deleted
before the harvest (every :data:`DELETED_EVERY`-th).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from .records import Creator, Platform, ProviderRecord

DEMO_ORCIDS: dict[str, str] = {
    "ada": "0000-0002-9079-593X",
    "alan": "0000-0001-5109-3700",
    "grace": "0000-0002-1825-0097",
}
"""ORCID iDs (valid check digits) for the demo researchers; Grace's is the one in examples/researchers.csv."""

DEMO_PEOPLE: dict[str, tuple[str, str]] = {
    "ada": ("Ada", "Lovelace"),
    "alan": ("Alan", "Turing"),
    "grace": ("Grace", "Hopper"),
}

DEMO_EVERY = 7
"""Every 7th record has a demo researcher among its creators (with the iD in ``oai_datacite``)."""
DELETED_EVERY = 53
"""Every 53rd record was deleted (persistently) before the first harvest."""
BAD_DOI_NUMBER = 21
"""Record number 21 (a DSpace item with a demo researcher among its creators) carries a DOI that is no DOI."""
UNKNOWN_TYPE_NUMBER = 14
"""Record number 14 (an EPrints item with a demo researcher among its creators) has a type no profile knows."""
UNKNOWN_TYPE = "interpretive_dance"
FIRST_DATESTAMP = datetime(2019, 1, 7, 9, 30)
DATESTAMP_STEP = timedelta(minutes=37)

SET_NAMES: dict[str, str] = {
    "com_123456789_1": "Faculty of Science",
    "col_123456789_2": "Articles",
    "col_123456789_3": "Books and chapters",
    "col_123456789_4": "Theses and datasets",
    "7374617475733D707562": "Status = Live archive",
    "esploro_public": "Esploro research assets (public)",
    "EXAMPLE": "Example University",
    "EXAMPLE.REPO": "Example University Data Repository",
}

_DSPACE_TYPES = (
    ("Article", "http://purl.org/coar/resource_type/c_6501", "col_123456789_2"),
    ("Article", None, "col_123456789_2"),
    ("Book chapter", "http://purl.org/coar/resource_type/c_3248", "col_123456789_3"),
    ("Book", None, "col_123456789_3"),
    ("Conference paper", "http://purl.org/coar/resource_type/c_5794", "col_123456789_2"),
    ("Thesis", "http://purl.org/coar/resource_type/c_db06", "col_123456789_4"),
    ("Dataset", "http://purl.org/coar/resource_type/c_ddb1", "col_123456789_4"),
    ("Preprint", "http://purl.org/coar/resource_type/c_816b", "col_123456789_2"),
    ("Technical Report", None, "col_123456789_3"),
)
_EPRINTS_TYPES = ("article", "article", "book_section", "conference_item", "monograph", "book", "thesis")
_ESPLORO_TYPES = (
    "publication.journalArticle",
    "publication.journalArticle",
    "publication.bookChapter",
    "publication.book",
    "conference.conferencePaper",
    "conference.presentation",
    "dataset.dataset",
    "software.code",
    "postedContent.preprint",
    "etd.doctoral",
)
_DATACITE_TYPES = (
    ("Dataset", "Survey data"),
    ("Dataset", "Measurements"),
    ("Software", "Python package"),
    ("JournalArticle", "Article"),
    ("Text", "Working paper"),
    ("Image", "Micrographs"),
)
_GIVEN = ("Maria", "Wei", "Amina", "Lars", "Priya", "Tomás", "Chiara", "Kwame", "Yuki", "Olga", "Jonas", "Fatima")
_FAMILY = ("García", "Zhang", "Okafor", "Nilsson", "Raman", "Ó Briain", "Rossi", "Mensah", "Sato", "Ivanova", "Berg")
_ADJECTIVES = ("Robust", "Scalable", "Bayesian", "Longitudinal", "Comparative", "Open", "Adaptive", "Sparse")
_TOPICS = (
    "estimation of coastal erosion",
    "models of protein folding",
    "analysis of labour markets",
    "methods for soil carbon accounting",
    "approaches to compiler verification",
    "studies of medieval trade routes",
    "inference in gene regulatory networks",
    "measurement of urban heat islands",
)
_JOURNALS = (
    ("Journal of Applied Ecology", "0021-8901"),
    ("Computational Linguistics", "0891-2017"),
    ("Physical Review B", "2469-9950"),
    ("The Historical Journal", "0018-246X"),
    ("Bioinformatics", "1367-4803"),
)
_PUBLISHERS = ("Example University Press", "Springer", "Elsevier", "Wiley", "Zenodo")
_SUBJECTS = ("Ecology", "Linguistics", "Condensed matter", "History", "Genomics", "Computer science")


def eprints_type_set(eprint_type: str) -> str:
    """EPrints' set for a type: ``types=<type>`` in upper-case hex."""
    return f"types={eprint_type}".encode().hex().upper()


def _isbn13(rng: random.Random) -> str:
    digits = [9, 7, 8, *(rng.randrange(10) for _ in range(9))]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    text = "".join(map(str, [*digits, check]))
    return f"{text[:3]}-{text[3]}-{text[4:8]}-{text[8:12]}-{text[12]}"


def _person(rng: random.Random) -> Creator:
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    return Creator(name=f"{family}, {given}", given_name=given, family_name=family, affiliation="Example University")


def _demo_person(who: str, orcids: Mapping[str, str], number: int) -> Creator:
    given, family = DEMO_PEOPLE[who]
    orcid = orcids.get(who)
    if orcid and number % 2:
        orcid = f"https://orcid.org/{orcid}"  # repositories write both forms
    return Creator(
        name=f"{family}, {given}",
        given_name=given,
        family_name=family,
        orcid=orcid,
        local_id=who,
        affiliation="Example University",
    )


def _date(rng: random.Random) -> str:
    year = rng.randrange(2008, 2025)
    shape = rng.randrange(3)
    if shape == 0:
        return str(year)
    if shape == 1:
        return f"{year}-{rng.randrange(1, 13):02d}"
    return f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


def fixture_record(number: int, *, seed: int = 18, orcids: Mapping[str, str] | None = None) -> ProviderRecord:
    """Record ``number`` (1-based) of the fixture set: its platform is ``(number - 1) % 4``."""
    rng = random.Random(f"{seed}:{number}")
    orcids = DEMO_ORCIDS if orcids is None else orcids
    platform = (Platform.DSPACE, Platform.EPRINTS, Platform.ESPLORO, Platform.DATACITE)[(number - 1) % 4]
    creators = [_person(rng) for _ in range(rng.randrange(1, 4))]
    if number % DEMO_EVERY == 0:
        who = ("ada", "alan", "grace")[(number // DEMO_EVERY) % 3]
        creators.insert(rng.randrange(len(creators) + 1), _demo_person(who, orcids, number))
    journal, issn = rng.choice(_JOURNALS)
    common = {
        "title": f"{rng.choice(_ADJECTIVES)} {rng.choice(_TOPICS)} ({number})",
        "creators": tuple(creators),
        "date": _date(rng),
        "abstract": f"We report {rng.choice(_TOPICS)} using data collected between 2001 and 2019.",
        "language": rng.choice(("en", "en", "eng", "de")),
        "subjects": (rng.choice(_SUBJECTS),),
        "datestamp": FIRST_DATESTAMP + DATESTAMP_STEP * number,
        "deleted": number % DELETED_EVERY == 0,
        "rights": "http://creativecommons.org/licenses/by/4.0/" if rng.random() < 0.6 else None,
    }
    doi_suffix = f"{platform.value}.{seed}.{number}"
    if platform is Platform.DSPACE:
        label, coar, collection = rng.choice(_DSPACE_TYPES)
        record = ProviderRecord(
            identifier=f"oai:repository.example.edu:123456789/{1000 + number}",
            platform=platform,
            type=label,
            coar_type=coar,
            sets=("com_123456789_1", collection),
            handle=f"http://hdl.handle.net/123456789/{1000 + number}",
            doi=f"https://doi.org/10.5555/{doi_suffix}" if rng.random() < 0.8 else None,
            journal=journal if label == "Article" else None,
            issn=issn if label == "Article" else None,
            isbn=_isbn13(rng) if label in {"Book", "Book chapter"} else None,
            publisher=rng.choice(_PUBLISHERS),
            **common,
        )
    elif platform is Platform.EPRINTS:
        eprint_type = rng.choice(_EPRINTS_TYPES)
        record = ProviderRecord(
            identifier=f"oai:eprints.example.ac.uk:{2000 + number}",
            platform=platform,
            type=eprint_type,
            sets=("7374617475733D707562", eprints_type_set(eprint_type)),
            urls=(f"https://eprints.example.ac.uk/id/eprint/{2000 + number}/",),
            doi=f"doi:10.5555/{doi_suffix}" if rng.random() < 0.7 else None,
            journal=journal if eprint_type == "article" else None,
            issn=issn if eprint_type == "article" else None,
            isbn=_isbn13(rng) if eprint_type in {"book", "book_section"} else None,
            publisher=rng.choice(_PUBLISHERS),
            **common,
        )
    elif platform is Platform.ESPLORO:
        asset_type = rng.choice(_ESPLORO_TYPES)
        mms = f"99{number:09d}04711"
        record = ProviderRecord(
            identifier=f"oai:alma.01EXAMPLE_INST:11{number:010d}0004711",
            platform=platform,
            type=asset_type,
            sets=("esploro_public",),
            urls=(f"https://research.example.edu/esploro/outputs/{asset_type.split('.')[-1]}/{mms}",),
            doi=f"10.5555/{doi_suffix}" if rng.random() < 0.8 else None,
            journal=journal if asset_type == "publication.journalArticle" else None,
            issn=issn if asset_type == "publication.journalArticle" else None,
            pmid=str(30_000_000 + number)
            if asset_type == "publication.journalArticle" and rng.random() < 0.3
            else None,
            publisher=rng.choice(_PUBLISHERS),
            **common,
        )
    else:
        general, free_text = rng.choice(_DATACITE_TYPES)
        record = ProviderRecord(
            identifier=f"doi:10.5555/{doi_suffix}",
            platform=platform,
            type=general,
            resource_type_general=general,
            sets=("EXAMPLE", "EXAMPLE.REPO"),
            doi=f"10.5555/{doi_suffix}",
            urls=(f"https://data.example.edu/record/{number}",),
            publisher="Example University Data Repository",
            subjects=(*common.pop("subjects"), free_text),  # type: ignore[misc]
            **common,
        )
    return _spoil(record, number)


def _spoil(record: ProviderRecord, number: int) -> ProviderRecord:
    """The deliberately bad records: a DOI that is none, a type nobody maps."""
    if number == BAD_DOI_NUMBER:
        return record.model_copy(update={"doi": "https://doi.org/10.5555 (see the publisher's site)"})
    if number == UNKNOWN_TYPE_NUMBER:
        return record.model_copy(
            update={"type": UNKNOWN_TYPE, "sets": (*record.sets[:1], eprints_type_set(UNKNOWN_TYPE))}
        )
    return record


def fixture_records(
    count: int = 300, *, seed: int = 18, orcids: Mapping[str, str] | None = None
) -> list[ProviderRecord]:
    """``count`` records, numbered 1..count, in datestamp order."""
    if count < 0:
        raise ValueError("count must be >= 0")
    return [fixture_record(number, seed=seed, orcids=orcids) for number in range(1, count + 1)]


def fixture_set_names() -> dict[str, str]:
    """Set names for the fixture's sets (EPrints' per-type sets included)."""
    names = dict(SET_NAMES)
    for eprint_type in (*_EPRINTS_TYPES, UNKNOWN_TYPE):
        names[eprints_type_set(eprint_type)] = f"Item Type = {eprint_type}"
    return names

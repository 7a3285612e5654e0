"""The demo's institution: its researchers and research assets (``make demo``, ``orcid-sync-local up --seed-demo``)."""

from __future__ import annotations

from typing import Any

OTHER_SOURCE = "APP-CROSSREF00000001"  # another member's client, as ORCID shows Crossref's works

DEMO_RESEARCHER: dict[str, Any] = {
    "id": "ada",
    "given_names": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.edu",
    "position": "Research Fellow",
    "department": "Analytical Engines",
}
"""The demo's first researcher and ``--seed-demo``'s: the first of examples/researchers.csv, so that loading
that file later agrees."""

RESEARCHERS: list[dict[str, Any]] = [
    DEMO_RESEARCHER,
    {
        "id": "alan",
        "given_names": "Alan",
        "family_name": "Turing",
        "email": "alan@example.edu",
        "position": "Reader",
        "department": "Computing",
    },
    {
        "id": "grace",
        "given_names": "Grace",
        "family_name": "Hopper",
        "email": "grace@example.edu",
        "position": "Professor",
        "department": "Computing",
    },
]

NEWCOMERS: list[dict[str, Any]] = [
    {
        "id": "katherine",
        "given_names": "Katherine",
        "family_name": "Johnson",
        "email": "katherine@example.edu",
        "language": "en",
        "position": "Research Mathematician",
        "department": "Flight Research",
    },
    {
        "id": "margarita",
        "given_names": "Margarita",
        "family_name": "Salas",
        "email": "margarita@example.edu",
        "language": "es",
        "position": "Profesora de Investigación",
        "department": "Biología Molecular",
    },
]
"""Two researchers who join later and never connected: ``make demo`` invites them by email (one in Spanish)."""

KNOWN_IDENTIFIER: dict[str, Any] = {
    "id": "barbara",
    "given_names": "Barbara",
    "family_name": "Liskov",
    "email": "barbara@example.edu",
    "position": "Institute Professor",
    "department": "Computing",
}
"""A researcher whose ORCID iD the repository knows (from an old profile) but who never connected: ``make demo``
puts a permission request in her ORCID inbox."""


def demo_assets() -> list[dict[str, Any]]:
    """Four approved journal articles each, one book still in review, one dataset."""
    assets: list[dict[str, Any]] = []
    for owner, prefix in (("ada", "10.5555/ada"), ("alan", "10.5555/alan"), ("grace", "10.5555/grace")):
        for n in range(1, 5):
            assets.append(
                {
                    "id": f"{owner}-{n}",
                    "researchers": [owner],
                    "type": "publication.journalArticle",
                    "status": "approved",
                    "visible": True,
                    "title": f"Notes on the engine, part {n}",
                    "date": f"20{10 + n}-0{n}",
                    "doi": f"{prefix}.{n}",
                    "container_title": "Journal of Engines",
                }
            )
    assets.append(
        {
            "id": "ada-draft",
            "researchers": ["ada"],
            "type": "publication.book",
            "status": "in review",
            "visible": True,
            "title": "A draft nobody approved yet",
        }
    )
    assets.append(
        {
            "id": "grace-data",
            "researchers": ["grace"],
            "type": "dataset.dataset",
            "status": "approved",
            "visible": True,
            "title": "Compiler benchmarks",
            "date": "2020",
            "url": "https://data.example.edu/1",
        }
    )
    return assets

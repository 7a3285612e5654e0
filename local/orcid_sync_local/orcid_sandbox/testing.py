"""Helpers for tests that drive the sandbox: a controllable clock, a recording sleep, sample payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_SCOPES = "/read-limited /activities/update /person/update"
ORCID_HEADERS = {"Content-Type": "application/vnd.orcid+json", "Accept": "application/vnd.orcid+json"}


@dataclass
class FakeClock:
    """A clock that only moves when told to (epoch seconds)."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass
class RecordingSleep:
    """A sleep that returns at once and remembers what it was asked to wait."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        """Record the wait instead of waiting."""
        self.calls.append(seconds)


def work_payload(
    doi: str | None = "10.1234/example", *, title: str = "A sample article", **fields: Any
) -> dict[str, Any]:
    """A minimal valid ORCID work (journal article with a `self` DOI); keyword fields override or add keys."""
    external_ids = []
    if doi is not None:
        external_ids.append(
            {
                "external-id-type": "doi",
                "external-id-value": doi,
                "external-id-url": {"value": f"https://doi.org/{doi}"},
                "external-id-relationship": "self",
            }
        )
    work: dict[str, Any] = {
        "title": {"title": {"value": title}},
        "type": "journal-article",
        "external-ids": {"external-id": external_ids},
    }
    work.update({key.replace("_", "-"): value for key, value in fields.items()})
    return work


def employment_payload(**fields: Any) -> dict[str, Any]:
    """A valid ORCID employment at a ROR-identified organization; keyword fields override or add keys."""
    employment: dict[str, Any] = {
        "department-name": "Library",
        "role-title": "Research Software Engineer",
        "start-date": {"year": {"value": "2021"}, "month": {"value": "01"}, "day": {"value": "01"}},
        "organization": {
            "name": "Boston University",
            "address": {"city": "Boston", "region": "Massachusetts", "country": "US"},
            "disambiguated-organization": {
                "disambiguated-organization-identifier": "https://ror.org/05qwgg493",
                "disambiguation-source": "ROR",
            },
        },
    }
    employment.update({key.replace("_", "-"): value for key, value in fields.items()})
    return employment

"""The daily pull: each connected researcher's works on ORCID, filtered, into one CSV for the repository.

The repository imports the CSV (Esploro's Smart Expansion via CSV), which deduplicates on import,
but every row still costs an administrator a look: we send only works that have a DOI or PMID,
that we did not write ourselves, that the repository does not hold already and that no earlier
run sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orcid_sync.models import Researcher, StoredToken


def select_pull_researchers(
    researchers: Iterable[Researcher], tokens: Mapping[str, StoredToken], only: set[str] | None
) -> list[str]:
    """Researchers whose works we may read: an ORCID iD and a live token for that iD with ``/read-limited``.

    ``only`` limits the run to some researchers (a manual run); the order of ``researchers`` is kept.
    """
    selected: list[str] = []
    for researcher in researchers:
        if only is not None and researcher.id not in only:
            continue
        token = tokens.get(researcher.id)
        if not researcher.orcid or token is None or not token.can_pull:
            continue
        # A token issued for another iD would only earn a 401 (ORCID 9017) for this record.
        if token.orcid != researcher.orcid:
            continue
        selected.append(researcher.id)
    return list(dict.fromkeys(selected))

"""``POST /settings/preview``'s use case: what the next push would do under proposed settings (issue 13, section 3).

The counts come from the same plan the push makes, over the researchers' assets and ledger, with no
ORCID request — against the in-memory fakes of ``test_push_plan``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orcid_sync.domain import settings_changes as settings_logic
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import JobType, ResearcherTask
from orcid_sync.domain.models import Researcher, StoredToken
from orcid_sync.domain.push import push_researcher
from tests.unit.test_push_plan import (
    NOW,
    SENDING,
    FakeAssets,
    FakeResearchers,
    FakeTokens,
    World,
    asset,
    researcher,
    token,
    world,
)

LETTERS_EXCLUDED = IntegrationSettings(send_assets=True, asset_types={"exclude": ["publication.letter"]})  # type: ignore[arg-type]


class PreviewResearchers(FakeResearchers):
    def iter_all(self) -> Iterable[Researcher]:
        return list(self.items.values())

    def get_many(self, ids: Sequence[str]) -> dict[str, Researcher]:
        return {rid: self.items[rid] for rid in ids if rid in self.items}


class PreviewTokens(FakeTokens):
    def get_many(self, ids: Sequence[str]) -> dict[str, StoredToken]:
        return {rid: self.items[rid] for rid in ids if rid in self.items}


def test_the_settings_preview_counts_what_the_next_push_would_delete_add_and_update() -> None:
    # Given two researchers with letters on ORCID, pushed under the current settings
    w1 = world(*(asset(n, type="publication.letter") for n in range(1, 4)), asset(4))
    w1.push()
    w2 = World(
        researchers=FakeResearchers(researcher(id="r2")),
        tokens=FakeTokens(token("r2")),
        assets=FakeAssets([asset(5, researchers=["r2"], type="publication.letter")]),
        ledger=w1.ledger,
    )
    push_researcher(ResearcherTask(job_id="job", job_type=JobType.PUSH, researcher_id="r2"), w2.ports(), now=NOW)
    requests_before = len(w1.orcid.calls) + len(w2.orcid.calls)
    # When an administrator previews excluding letters, with one new asset waiting
    assets = FakeAssets([*w1.assets.items.values(), *w2.assets.items.values(), asset(6)])
    ports = settings_logic.PreviewPorts(
        researchers=PreviewResearchers(researcher(), researcher(id="r2")),  # type: ignore[arg-type]
        tokens=PreviewTokens(token(), token("r2")),  # type: ignore[arg-type]
        assets=assets,  # type: ignore[arg-type]
        ledger=w1.ledger,
    )
    preview = settings_logic.preview_settings_change(SENDING, LETTERS_EXCLUDED, ports, sandbox=True)
    # Then it says how many works on how many records would go, and why, without asking ORCID
    assert preview.delete.works == 4
    assert preview.delete.records == 2
    [reason] = preview.delete.reasons
    assert reason.reason == "asset type publication.letter excluded by settings"
    assert (reason.works, reason.records) == (4, 2)
    assert (preview.create.works, preview.create.records) == (1, 1)
    assert preview.update.works == 0
    assert preview.complete
    assert len(w1.orcid.calls) + len(w2.orcid.calls) == requests_before

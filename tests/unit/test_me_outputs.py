"""A researcher's outputs page ("My ORCID", issue 16): every state and its reason, from the ledger and the assets
only, and the researcher's own actions (don't send this one, send it again) — against ``test_push_plan``'s fakes,
so the page is checked against what the push really does next.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.me.outputs import (
    OutputsPorts,
    OutputState,
    OutputsView,
    ResearcherOutput,
    opt_in,
    opt_out,
    researcher_outputs,
    send_again,
)
from orcid_sync.domain.orcid.models import OrcidError
from tests.unit.test_push_plan import NOW, World, asset, world
from tests.unit.test_push_trust import LETTERS_EXCLUDED, FakeLeases, delete_on_orcid, ours_for


def ports(w: World, leases: FakeLeases | None = None) -> OutputsPorts:
    return OutputsPorts(
        researchers=w.researchers,  # type: ignore[arg-type]
        assets=w.assets,  # type: ignore[arg-type]
        ledger=w.ledger,
        settings=lambda: w.settings,
        leases=leases or FakeLeases(),
        sandbox=True,
    )


def view(w: World) -> OutputsView:
    before = len(w.orcid.calls)
    shown = researcher_outputs(ports(w), "r1")
    assert len(w.orcid.calls) == before, "the page asked ORCID"
    return shown


def output(w: World, asset_id: str) -> ResearcherOutput:
    return next(o for o in view(w).outputs if o.asset_id == asset_id)


# --- every state, with its reason --------------------------------------------------------------------------------


def test_each_state_is_shown_with_a_plain_reason_and_counted() -> None:
    # Given one asset in each state the push can leave it in
    w = world(
        asset(1, date="2024-05"),  # pushed, then left alone: on ORCID
        asset(2),  # pushed, then edited: will be updated
        asset(3),  # pushed, then deleted by the researcher on orcid.org
        asset(4),  # refused by ORCID
        asset(5, doi="10.1234/output.1"),  # the same DOI as a001: held back
    )
    w.orcid.item_errors["a004"] = OrcidError(response_code=400, error_code=9037, developer_message="Invalid type")
    w.push()
    delete_on_orcid(w, "a003")
    w.assets.items["a003"] = asset(3, title="Edited", updated_at=NOW)
    w.assets.items["a002"] = asset(2, title="Edited title", updated_at=NOW)
    w.push(**{})  # learns the deletion of a003 (404 on its PUT); a002's PUT goes too
    w.assets.items["a002"] = asset(2, title="Edited again", updated_at=NOW + timedelta(days=1))
    w.assets.items["a006"] = asset(6)  # new: will be added
    w.assets.items["a007"] = asset(7, status="pending")
    w.assets.items["a008"] = asset(8, visible=False)
    w.assets.items["a009"] = asset(9, type="publication.letter")
    w.settings = LETTERS_EXCLUDED
    # When the researcher opens their page
    shown = view(w)
    states = {o.asset_id: o.state for o in shown.outputs}
    # Then each asset has its state
    assert states == {
        "a001": OutputState.ON_ORCID,
        "a002": OutputState.WILL_BE_UPDATED,
        "a003": OutputState.DELETED_BY_RESEARCHER,
        "a004": OutputState.REFUSED_BY_ORCID,
        "a005": OutputState.HELD_BACK,
        "a006": OutputState.WILL_BE_ADDED,
        "a007": OutputState.NOT_APPROVED,
        "a008": OutputState.NOT_VISIBLE,
        "a009": OutputState.TYPE_NOT_SENT,
    }
    by_id = {o.asset_id: o for o in shown.outputs}
    assert by_id["a001"].put_code is not None
    assert by_id["a001"].year == 2024
    assert by_id["a001"].reason == "On your ORCID record."
    assert "next daily update" in by_id["a006"].reason
    assert by_id["a003"].can_send_again
    assert "deleted it" in by_id["a003"].reason
    assert by_id["a004"].orcid_message == "Invalid type"
    assert "ORCID refused it" in by_id["a004"].reason
    assert "10.1234/output.1" in by_id["a005"].reason
    assert "not yet approved" in by_id["a007"].reason
    assert "not visible" in by_id["a008"].reason
    assert "publication.letter" in by_id["a009"].reason
    assert [o.can_send_again for o in shown.outputs].count(True) == 1
    assert shown.orcid == w.researchers.items["r1"].orcid
    # And the counts add up, every state present
    assert set(shown.counts) == set(OutputState)
    assert shown.counts[OutputState.ON_ORCID] == 1
    assert sum(shown.counts.values()) == 9


def test_the_page_says_what_the_next_push_does() -> None:
    # Given assets the next push would add, update, leave, or hold back
    w = world(asset(1), asset(2), asset(3))
    w.push()
    w.assets.items["a002"] = asset(2, title="Edited", updated_at=NOW)
    w.assets.items["a004"] = asset(4)
    w.assets.items["a005"] = asset(5, doi="10.1234/output.3")
    shown = {o.asset_id: o.state for o in view(w).outputs}
    # When the push runs
    outcome = w.push()
    # Then it did what the page said, no more
    added = [a for a, s in shown.items() if s is OutputState.WILL_BE_ADDED]
    assert added == ["a004"] and outcome.counts.works_created == 1
    assert [a for a, s in shown.items() if s is OutputState.WILL_BE_UPDATED] == ["a002"]
    assert outcome.counts.works_updated == 1
    assert outcome.counts.works_duplicate == 1 and shown["a005"] is OutputState.HELD_BACK
    # And afterwards the page shows them on ORCID
    assert {o.asset_id for o in view(w).outputs if o.state is OutputState.ON_ORCID} == {"a001", "a002", "a003", "a004"}


def test_nothing_is_sent_while_the_institution_has_not_switched_sending_on() -> None:
    w = world(asset(1), settings=IntegrationSettings())
    assert output(w, "a001").state is OutputState.NOT_SENDING
    assert "not switched on" in output(w, "a001").reason


def test_a_work_leaving_orcid_because_of_the_institution_says_so() -> None:
    w = world(asset(1))
    w.push()
    w.assets.items["a001"] = asset(1, status="pending", updated_at=NOW)
    shown = output(w, "a001")
    assert shown.state is OutputState.NOT_APPROVED
    assert "will be removed" in shown.reason


def test_works_from_other_sources_are_never_listed() -> None:
    w = world(asset(1))
    w.push()
    # Another source's work on the record: we never read the record, so it cannot appear
    w.orcid.works[9999] = next(iter(w.orcid.works.values())).model_copy(update={"put_code": 9999})
    assert [o.asset_id for o in view(w).outputs] == ["a001"]


def test_an_unknown_researcher_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        researcher_outputs(ports(world(asset(1))), "nobody")


# --- don't send this one ------------------------------------------------------------------------------------


def test_opting_out_of_a_work_on_orcid_deletes_it_on_the_next_push_and_never_sends_it_again() -> None:
    w = world(asset(1), asset(2))
    w.push()
    # When the researcher opts out of a001
    shown = opt_out(ports(w), "r1", "a001", now=NOW)
    assert shown.state is OutputState.OPTED_OUT
    assert "will be removed" in shown.reason
    assert shown.can_opt_in and not shown.can_opt_out
    # Then the next push deletes it, with one event in the words of the other deletions
    outcome = w.push()
    assert w.last_calls == ["delete_work"]
    assert ours_for(w, "a001") == []
    assert [e.message for e in outcome.events if e.action == "deleted works"] == [
        "the researcher chose not to send: 1 work deleted from ORCID"
    ]
    # And however the asset changes, it is not sent again; every push counts it
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    later = w.push()
    assert "create_works" not in w.last_calls
    assert later.counts.works_withheld_opted_out == 1
    assert later.counts.works_skipped == 1
    assert output(w, "a001").reason == "Not sent: you chose not to send it."
    quiet = w.push()
    assert w.last_calls == []
    assert quiet.counts.works_withheld_opted_out == 1


def test_opting_out_of_an_asset_not_on_orcid_sends_nothing() -> None:
    w = world(asset(1))
    w.push()
    w.assets.items["a002"] = asset(2)
    opt_out(ports(w), "r1", "a002", now=NOW)
    outcome = w.push()
    assert w.last_calls == []
    assert outcome.counts.works_withheld_opted_out == 1
    assert outcome.events == []


def test_opting_back_in_sends_the_work_once() -> None:
    w = world(asset(1), asset(2))
    w.push()
    opt_out(ports(w), "r1", "a001", now=NOW)
    w.push()
    # When the researcher opts back in
    shown = opt_in(ports(w), "r1", "a001", now=NOW)
    assert shown.state is OutputState.WILL_BE_ADDED
    # Then the next push creates it, once, and the one after sends nothing
    outcome = w.push()
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 1
    assert len(ours_for(w, "a001")) == 1
    w.push()
    assert w.last_calls == []
    assert output(w, "a001").state is OutputState.ON_ORCID


def test_opting_out_and_back_in_before_any_push_changes_nothing() -> None:
    w = world(asset(1))
    w.push()
    opt_out(ports(w), "r1", "a001", now=NOW)
    assert opt_in(ports(w), "r1", "a001", now=NOW).state is OutputState.ON_ORCID
    w.push()
    assert w.last_calls == []


def test_the_opt_out_is_honoured_even_when_sending_is_switched_off() -> None:
    w = world(asset(1), asset(2))
    w.push()
    w.settings = IntegrationSettings()
    opt_out(ports(w), "r1", "a001", now=NOW)
    w.push()
    assert w.last_calls == ["delete_work"]
    assert [len(ours_for(w, a)) for a in ("a001", "a002")] == [0, 1]


def test_actions_that_do_not_apply_are_refused() -> None:
    w = world(asset(1))
    w.push()
    with pytest.raises(ConflictError):
        opt_in(ports(w), "r1", "a001", now=NOW)
    with pytest.raises(ConflictError):
        send_again(ports(w), "r1", "a001", now=NOW)
    opt_out(ports(w), "r1", "a001", now=NOW)
    with pytest.raises(ConflictError):
        opt_out(ports(w), "r1", "a001", now=NOW)


def test_another_researchers_asset_is_not_found() -> None:
    w = world(asset(1), asset(2, researchers=["r2"]))
    for action in (opt_out, opt_in, send_again):
        with pytest.raises(NotFoundError):
            action(ports(w), "r1", "a002", now=NOW)
    assert w.ledger.opted_out.get("r1", set()) == set()


# --- send it again ------------------------------------------------------------------------------------------


def test_send_again_brings_a_deleted_work_back_exactly_once() -> None:
    w = world(asset(1), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    assert output(w, "a001").state is OutputState.DELETED_BY_RESEARCHER
    leases = FakeLeases()
    shown = send_again(ports(w, leases), "r1", "a001", now=NOW)
    assert shown.state is OutputState.WILL_BE_ADDED
    assert leases.held == {}
    w.push()
    assert w.last_calls == ["create_works"]
    w.push()
    assert w.last_calls == []
    assert len(ours_for(w, "a001")) == 1
    with pytest.raises(ConflictError):
        send_again(ports(w), "r1", "a001", now=NOW)


def test_send_again_waits_for_a_push_in_progress() -> None:
    w = world(asset(1))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    busy = FakeLeases()
    busy.acquire("r1", job_id="nightly", now=NOW, duration=timedelta(minutes=5))
    with pytest.raises(ConflictError):
        send_again(ports(w, busy), "r1", "a001", now=NOW)
    assert output(w, "a001").state is OutputState.DELETED_BY_RESEARCHER


def test_a_deleted_work_the_researcher_also_opted_out_of_stays_off() -> None:
    w = world(asset(1))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    # A work the researcher deleted cannot be opted out of (not sent anyway): the button there is "send it again"
    with pytest.raises(ConflictError):
        opt_out(ports(w), "r1", "a001", now=NOW)

"""The daily push: one researcher's approved, visible assets to ORCID works, plus researcher-url and employment.

The plan (pure, see :func:`plan_push`) compares the works we want on ORCID with the sync ledger
(what we wrote before, by content hash); execution (:func:`execute_plan`) spends as few requests
as that difference needs: bulk POSTs of up to 100 new works, a PUT only where the hash changed, a
DELETE where an asset left. A researcher whose inputs did not change costs no request at all:
the ledger keeps a fingerprint of the inputs of the last complete push.

Crash safety: what ORCID answered is in the ledger before the next request for the researcher that
touches works goes out: the 100 put-codes of bulk POST N are written (``BatchWriteItem`` of 25, see
``orcid_sync.adapters.dynamodb.push_ledger``) before bulk POST N+1, a PUT's or DELETE's entry before the next one.
The last works' entries, the researcher-url's and the employment's are written together when the
push ends (before the researcher-url and employment requests too if a work's entry is to be
deleted: a DELETE that is not recorded would come back as a 404, read as the researcher's deletion).
A write ORCID accepted but we never recorded (a crash, a lost response) comes back on the rerun as a
409/9021 duplicate naming the put-code, which we adopt; a work is never created twice (a researcher-url
as 409/9030, adopted too). Employments have no duplicate check at ORCID, so ours carry a ``self``
external id that gives them one.

ORCID's trust rules (issue 13):

- A researcher's deletion is final. A 404 on our PUT (or on our DELETE) means the researcher removed
  the work on ORCID: its ledger entry becomes a tombstone (``deleted_by_researcher``) that no later
  edit, settings change or exclusion-and-inclusion turns back into a POST. Only the researcher
  (:func:`resend_deleted`) or an administrator (``jobs run push --resend-deleted``) brings it back.
  Every push counts the works it withholds; the event is recorded once, when we learn it.
- Nothing happens silently: deletions are one event per researcher and reason ("asset type
  publication.letter excluded by settings: 3 works deleted from ORCID"), a field cut to ORCID's limit
  is a warning, and an asset that repeats another asset's identifier is held back and counted on
  every push (and listed by a dry run) rather than left to ORCID's 409.
- One worker per researcher: see :func:`process_push_task` and ``orcid_sync.adapters.dynamodb.leases``.

The modules, in the order a push runs through them: ``eligibility`` (who and what is sent, and why not),
``planning`` (the plan from assets and ledger), ``orcid_port`` (the ORCID calls the push makes),
``run`` (one researcher's push in progress), ``ledger_first`` and ``executor`` (sending the plan),
``researcher_push`` (the use case for one researcher), ``tasks`` (a queue task: lease, push, job accounting)
and ``resend`` (a researcher asks for a deleted work back).
"""

from __future__ import annotations

from orcid_sync.domain.push.eligibility import WITHHELD_REASON, find_duplicates, ineligibility, select_push_researchers
from orcid_sync.domain.push.executor import execute_plan
from orcid_sync.domain.push.ledger_first import REQUEST_TIME_MARGIN_SECONDS
from orcid_sync.domain.push.orcid_port import OrcidPushApi
from orcid_sync.domain.push.planning import (
    EMPLOYMENT_ID_TYPE,
    ItemChange,
    PushContext,
    PushPlan,
    Step,
    WorkChange,
    employment_payload,
    plan_push,
    plan_works,
    push_fingerprint,
    researcher_url_payload,
    standing_counts,
)
from orcid_sync.domain.push.researcher_push import PushOutcome, PushPorts, push_researcher
from orcid_sync.domain.push.resend import RESEND_LEASE, resend_deleted
from orcid_sync.domain.push.run import Level, OutOfTimeError, RetryLaterError, StopResearcherError
from orcid_sync.domain.push.tasks import (
    HANDBACK_FIRST_DELAY_SECONDS,
    HANDBACK_MAX_DELAY_SECONDS,
    LEASE_DURATION,
    ResearcherBusyError,
    process_push_task,
)

__all__ = [
    "EMPLOYMENT_ID_TYPE",
    "HANDBACK_FIRST_DELAY_SECONDS",
    "HANDBACK_MAX_DELAY_SECONDS",
    "LEASE_DURATION",
    "REQUEST_TIME_MARGIN_SECONDS",
    "RESEND_LEASE",
    "WITHHELD_REASON",
    "ItemChange",
    "Level",
    "OrcidPushApi",
    "OutOfTimeError",
    "PushContext",
    "PushOutcome",
    "PushPlan",
    "PushPorts",
    "ResearcherBusyError",
    "RetryLaterError",
    "Step",
    "StopResearcherError",
    "WorkChange",
    "employment_payload",
    "execute_plan",
    "find_duplicates",
    "ineligibility",
    "plan_push",
    "plan_works",
    "process_push_task",
    "push_fingerprint",
    "push_researcher",
    "researcher_url_payload",
    "resend_deleted",
    "select_push_researchers",
    "standing_counts",
]

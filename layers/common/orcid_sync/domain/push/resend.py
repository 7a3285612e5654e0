"""A researcher asks for a work they deleted on ORCID back."""

from __future__ import annotations

from datetime import datetime, timedelta

from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.log import logger
from orcid_sync.domain.push.leases import LeaseHeldError, LeaseStore
from orcid_sync.domain.push.ledger import (
    EntryState,
    LedgerStore,
)

RESEND_LEASE = timedelta(seconds=60)


def resend_deleted(
    researcher_id: str, asset_id: str, *, ledger: LedgerStore, leases: LeaseStore, now: datetime
) -> None:
    """A researcher asks for a work they deleted on ORCID back (the self-service page): the next push re-creates it.

    The tombstone is removed and the push fingerprint forgotten, so the next push plans again and
    posts the work. This runs under the researcher's lease: a push running at that moment could
    otherwise store the fingerprint of the inputs it read before, and the next push would skip.
    NotFoundError if the asset is not a work this researcher deleted; ConflictError while a push runs.
    """
    try:
        lease = leases.acquire(researcher_id, job_id="resend-deleted", now=now, duration=RESEND_LEASE)
    except LeaseHeldError as held:
        raise ConflictError(
            f"a push for researcher {researcher_id} is in progress (job {held.held.job_id}); try again in a few minutes"
        ) from None
    try:
        entry = ledger.load(researcher_id).works.get(asset_id)
        if entry is None or entry.state is not EntryState.DELETED_BY_RESEARCHER:
            raise NotFoundError(f"asset {asset_id} is not a work researcher {researcher_id} deleted on ORCID")
        ledger.delete_work(researcher_id, asset_id)
        ledger.set_fingerprint(researcher_id, None, now)
        logger.info("deleted work to be sent again", researcher_id=researcher_id, asset_id=asset_id)
    finally:
        leases.release(lease)

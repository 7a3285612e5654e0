"""One researcher's push in progress (its counts and events), and the ways it stops short."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from orcid_sync.domain.jobs.models import JobCounts, JobEvent
from orcid_sync.domain.models import TokenInvalidReason
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import OrcidError
from orcid_sync.domain.push.orcid_port import orcid_message, status_and_code

Level = Literal["error", "warning", "info"]


class StopResearcherError(Exception):
    """ORCID refused the whole researcher (revoked token, wrong record, missing scope): stop their push."""

    def __init__(self, event: JobEvent, *, revoked: bool = False, invalid: TokenInvalidReason | None = None) -> None:
        super().__init__(event.message)
        self.event = event
        self.revoked = revoked
        # ORCID refused the token itself: it is marked invalid and the researcher skipped until they reconnect.
        self.invalid = invalid or (TokenInvalidReason.INVALID_TOKEN if revoked else None)


class RetryLaterError(Exception):
    """Some writes failed in a way a later attempt can fix; what succeeded is recorded already."""


class OutOfTimeError(Exception):
    """The invocation is about to time out: the push stopped before its next request, with everything recorded.

    The worker hands the task back to continue at once in another invocation (it costs no SQS receive),
    which sends only what is not in the ledger yet.
    """


@dataclass
class PushRun:
    """What one researcher's push did so far."""

    researcher_id: str
    now: datetime
    counts: JobCounts = field(default_factory=JobCounts)
    events: list[JobEvent] = field(default_factory=list)
    # False when a rerun with the same inputs would send something again (so the fingerprint is not stored).
    clean: bool = True
    retry: bool = False
    wrote: bool = False

    def event(
        self,
        level: Level,
        action: str,
        message: str,
        *,
        asset_id: str | None = None,
        error: BaseException | OrcidError | None = None,
    ) -> JobEvent:
        status, code = status_and_code(error)
        event = JobEvent(
            researcher_id=self.researcher_id,
            asset_id=asset_id,
            level=level,
            action=action,
            message=message,
            orcid_status=status,
            orcid_error_code=code,
            at=self.now,
        )
        self.events.append(event)
        return event

    def stop_if_researcher_refused(self, error: Exception) -> None:
        """Turn errors that concern the whole researcher into StopResearcherError; re-raise transient ones."""
        if isinstance(error, orcid_errors.TokenForOtherRecordError):
            event = self.event(
                "error",
                "marked token invalid",
                "the token is for another ORCID record than the researcher's iD (ORCID 9017): "
                f"{orcid_message(error)}; the researcher is skipped until they connect again (send a connect link)",
                error=error,
            )
            raise StopResearcherError(event, invalid=TokenInvalidReason.WRONG_RECORD) from None
        if isinstance(error, orcid_errors.InvalidTokenError):
            event = self.event(
                "error",
                "marked token revoked",
                "ORCID says the access token is revoked or expired; the researcher is disconnected until they "
                "connect again",
                error=error,
            )
            raise StopResearcherError(event, revoked=True) from None
        if isinstance(error, orcid_errors.InsufficientScopeError):
            event = self.event(
                "error",
                "stopped researcher",
                f"the researcher's token lacks a scope this write needs (ORCID 9038): {orcid_message(error)}",
                error=error,
            )
            raise StopResearcherError(event) from None
        if isinstance(error, orcid_errors.RetryableOrcidError):
            raise error

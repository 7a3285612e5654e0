"""Invitation campaigns: choose researchers, mail each their personal connect link once, remind, and listen.

Exactly one email per (campaign, researcher), even when SQS delivers a message twice:

1. The worker **claims** the invitation with a conditional write (it does not exist, or it is ``sending`` and its
   claim is older than ``STALE_CLAIM``). A second delivery that finds a fresh ``sending`` claim is told BUSY and
   fails its record (partial batch failure): SQS hands it back after the visibility timeout. One that finds
   ``sent`` (or anything settled) is acknowledged and does nothing.
2. SES ``SendEmail``; 3. the invitation becomes ``sent`` with SES's message id.

A crash between 1 and 3 must not lose the mail: the claim stays ``sending``, the message comes back, and once the
claim is stale the redelivery takes it over and sends. SES's SendEmail has no idempotency token, so if the crash
fell *after* SES accepted the email and *before* step 3, the researcher gets that email twice. That window is one
DynamoDB write long; we choose "at least once, almost always exactly once" over "at most once", because a lost
invitation is silent and a duplicate is merely noticed. An error SES answers (throttling, a network failure)
releases the claim at once, so the retry does not wait for it to go stale; a refusal SES would repeat (unverified
sender, a malformed address) settles the invitation as skipped (``refused_by_ses``) without a retry. Reminders work
the same way with ``reminder_claimed`` (the reminder's number) instead of the status.

``STALE_CLAIM`` (5 minutes) is far longer than one send (a worker's timeout is 60 s), and the queue's visibility
timeout (3 minutes) times max receives (10) leaves room for a stale claim to be retried before the message would go to
the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal, Protocol
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from orcid_sync.domain.connect.shared import connect_url
from orcid_sync.domain.connect.signing import ForgedTokenError, Signer
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, OrcidSyncError, Problem
from orcid_sync.domain.invitations.models import (
    DEFAULT_LANGUAGE,
    Campaign,
    CampaignCounts,
    CampaignSelection,
    CampaignStatusSelector,
    Invitation,
    InvitationStatus,
    InvitationTask,
    MailDeliveryEvent,
    MailSuppression,
    SkippedResearcher,
    SkipReason,
    SuppressionReason,
)
from orcid_sync.domain.invitations.ports import (
    ClaimOutcome,
    InvitationContent,
    InvitationQueue,
    InvitationRenderer,
    InvitationStore,
    MailRefusedError,
    MailSender,
    OutgoingMail,
)
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobTrigger, JobType, ResearcherOutcome
from orcid_sync.domain.jobs.ports import Notifier
from orcid_sync.domain.jobs.runs import complete_researcher, finish_if_complete, open_job
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import REQUESTED_SCOPES, OrcidStatus, Researcher
from orcid_sync.domain.ports import ResearcherStore

STALE_CLAIM = timedelta(minutes=5)
"""A ``sending`` claim older than this belongs to a worker that died: a redelivery takes it over."""
LINK_DAYS = 60
"""An invitation's connect link works this long (reminders carry a fresh one)."""
CAMPAIGN_MARK_PARAM = "c"
"""The connect link's query parameter naming the campaign (signed), so the connect page records "opened"."""
UNSUBSCRIBE_PATH = "/invitations/unsubscribe"


class InvitationBusyError(OrcidSyncError):
    """Another delivery of the same message claimed this email moments ago: retry later (a partial batch failure)."""


# --- starting a campaign ---------------------------------------------------------------------------


class CampaignRequest(BaseModel):
    """``POST /invitations`` and ``orcid-sync invitations send``."""

    model_config = ConfigDict(extra="forbid")

    researchers: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=10000)] = Field(
        default_factory=list
    )
    statuses: list[CampaignStatusSelector] = Field(default_factory=list)
    dry_run: bool = False


class CampaignResult(BaseModel):
    """What a campaign did (or, for a dry run, would do): who gets mail, who is skipped and why."""

    campaign: Campaign
    recipients: list[str]
    """Researcher ids that are (or would be) mailed; never their addresses."""
    skipped: list[SkippedResearcher]


def new_campaign_id(now: datetime, token: str) -> str:
    """Sortable and readable: ``inv-20260301T090000Z-1a2b3c4d``."""
    return f"inv-{now:%Y%m%dT%H%M%SZ}-{token[:8]}"


def _is_connected(researcher: Researcher) -> bool:
    return researcher.orcid_status is OrcidStatus.ACTIVE and researcher.orcid_authenticated


def _chosen(request: CampaignRequest, researchers: ResearcherStore) -> tuple[list[Researcher], list[SkippedResearcher]]:
    if request.researchers:
        ids = list(dict.fromkeys(request.researchers))
        found = researchers.get_many(ids)
        unknown = [SkippedResearcher(researcher_id=rid, reason=SkipReason.UNKNOWN) for rid in ids if rid not in found]
        return [found[rid] for rid in ids if rid in found], unknown
    wanted = request.statuses
    chosen = [
        r for r in researchers.iter_all() if r.active and any(status.matches(r.orcid_status) for status in wanted)
    ]
    return sorted(chosen, key=lambda r: r.id), []


def skip_reason(researcher: Researcher, invitations: InvitationStore) -> SkipReason | None:
    """Why this researcher gets no invitation now, or None. Asked again by the worker right before sending."""
    if not researcher.email:
        return SkipReason.NO_EMAIL
    if _is_connected(researcher):
        return SkipReason.CONNECTED
    suppressions = invitations.suppressions(researcher_id=researcher.id, address=researcher.email)
    if suppressions:
        # An unsubscribe first: it is the researcher's own word.
        order = (SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINED, SuppressionReason.BOUNCED)
        reason = min((s.reason for s in suppressions), key=order.index)
        return reason.skip_reason
    return None


def start_campaign(
    request: CampaignRequest,
    *,
    created_by: str,
    researchers: ResearcherStore,
    invitations: InvitationStore,
    queue: InvitationQueue,
    base_url: str,
    now: datetime,
    token: str,
) -> CampaignResult:
    """Choose the researchers, say who is skipped and why, and (unless a dry run) store the campaign and queue one
    message per recipient. A dry run writes nothing and sends nothing."""
    try:
        selection = CampaignSelection(researchers=request.researchers, statuses=request.statuses)
    except ValueError:
        raise InvalidInputError(
            "choose the researchers to invite",
            [Problem(field="researchers", reason="give either researchers or statuses (one of them, not both)")],
        ) from None
    chosen, skipped = _chosen(request, researchers)
    recipients: list[str] = []
    for researcher in chosen:
        reason = skip_reason(researcher, invitations)
        if reason is None:
            recipients.append(researcher.id)
        else:
            skipped.append(SkippedResearcher(researcher_id=researcher.id, reason=reason))
    campaign = Campaign(
        campaign_id=new_campaign_id(now, token),
        created_at=now,
        created_by=created_by,
        selection=selection,
        dry_run=request.dry_run,
        base_url=base_url,
        counts=CampaignCounts(
            selected=len(chosen) + sum(1 for s in skipped if s.reason is SkipReason.UNKNOWN),
            queued=len(recipients),
            skipped=len(skipped),
        ),
        skipped=skipped,
    )
    result = CampaignResult(campaign=campaign, recipients=recipients, skipped=skipped)
    if request.dry_run:
        logger.info("invitation campaign dry run", recipients=len(recipients), skipped=len(skipped))
        return result
    invitations.create_campaign(campaign)
    for skip in skipped:
        if skip.reason is not SkipReason.UNKNOWN:
            invitations.record_skipped(
                Invitation(
                    campaign_id=campaign.campaign_id,
                    researcher_id=skip.researcher_id,
                    status=InvitationStatus.SKIPPED,
                    skip_reason=skip.reason,
                    claimed_at=now,
                )
            )
    queue.send_invitations(
        [InvitationTask(campaign_id=campaign.campaign_id, researcher_id=rid, base_url=base_url) for rid in recipients]
    )
    logger.info(
        "invitation campaign started", campaign_id=campaign.campaign_id, queued=len(recipients), skipped=len(skipped)
    )
    return result


def get_campaign(invitations: InvitationStore, campaign_id: str) -> tuple[Campaign, list[Invitation]]:
    campaign = invitations.get_campaign(campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} does not exist")
    return campaign, invitations.invitations(campaign_id)


# --- sending (the invitation worker) ---------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionBrand:
    name: str
    logo_url: str | None
    support_contact: str | None


class SendRate(Protocol):
    def acquire(self, cost: int = 1) -> None:
        """Block until SES's per-second sending rate (shared by every worker) allows one more email."""
        ...


@dataclass(frozen=True)
class MailPorts:
    researchers: ResearcherStore
    invitations: InvitationStore
    sender: MailSender
    renderer: InvitationRenderer
    signer: Signer
    rate: SendRate
    brand: Callable[[], InstitutionBrand]
    configuration_tags: dict[str, str]


SendResult = Literal["sent", "already_sent", "skipped", "refused"]


def _language(researcher: Researcher) -> Literal["en", "es"]:
    return "es" if researcher.language == "es" else "en"


def unsubscribe_url(base_url: str, signer: Signer, researcher_id: str) -> str:
    return f"{base_url}{UNSUBSCRIBE_PATH}?{urlencode({'token': signer.sign_unsubscribe(researcher_id)})}"


def invitation_link(base_url: str, signer: Signer, campaign_id: str, researcher_id: str, *, now: datetime) -> str:
    """The researcher's personal connect link (as ``connect-link`` makes it), marked with the campaign."""
    expires_at = (now + timedelta(days=LINK_DAYS)).replace(microsecond=0)
    link = connect_url(base_url, signer.sign_link(researcher_id, expires_at))
    return f"{link}&{urlencode({CAMPAIGN_MARK_PARAM: signer.sign_campaign_mark(campaign_id, researcher_id)})}"


def _mail(ports: MailPorts, researcher: Researcher, task: InvitationTask, *, now: datetime) -> OutgoingMail:
    campaign_id, reminder = task.campaign_id, task.reminder
    brand = ports.brand()
    unsubscribe = unsubscribe_url(task.base_url, ports.signer, researcher.id)
    content = InvitationContent(
        language=_language(researcher),
        researcher_name=f"{researcher.given_names} {researcher.family_name}",
        connect_url=invitation_link(task.base_url, ports.signer, campaign_id, researcher.id, now=now),
        unsubscribe_url=unsubscribe,
        institution_name=brand.name,
        logo_url=brand.logo_url,
        support_contact=brand.support_contact,
        scopes=REQUESTED_SCOPES,
        reminder=reminder,
        expires_at=now + timedelta(days=LINK_DAYS),
    )
    subject, html, text = ports.renderer.render(content)
    assert researcher.email is not None  # checked by skip_reason
    tags = {**ports.configuration_tags, "campaign": campaign_id, "kind": "reminder" if reminder else "invitation"}
    return OutgoingMail(
        to=researcher.email, subject=subject, html=html, text=text, unsubscribe_url=unsubscribe, tags=tags
    )


def send_invitation(task: InvitationTask, *, ports: MailPorts, now: datetime) -> SendResult:
    """Mail one researcher their invitation for one campaign, at most once (see the module docstring)."""
    store = ports.invitations
    researcher = ports.researchers.get(task.researcher_id)
    reason = SkipReason.UNKNOWN if researcher is None else skip_reason(researcher, store)
    base = Invitation(
        campaign_id=task.campaign_id,
        researcher_id=task.researcher_id,
        email=researcher.email if researcher else None,
        language=_language(researcher) if researcher else DEFAULT_LANGUAGE,
        status=InvitationStatus.SENDING,
    )
    if reason is not None or researcher is None:
        # Unsubscribed, bounced or connected since the campaign started: settle it as skipped, mail nothing.
        existing = store.invitation(task.campaign_id, task.researcher_id)
        if existing is not None and existing.status is not InvitationStatus.SENDING:
            return "already_sent"
        store.record_skipped(
            base.model_copy(update={"status": InvitationStatus.SKIPPED, "skip_reason": reason, "claimed_at": now})
        )
        store.add_counts(task.campaign_id, skipped=1, queued=-1)
        logger.info(
            "invitation skipped at send time",
            campaign_id=task.campaign_id,
            researcher_id=task.researcher_id,
            reason=str(reason),
        )
        return "skipped"
    outcome = store.claim(base, now=now, stale_before=now - STALE_CLAIM)
    if outcome is ClaimOutcome.DONE:
        logger.info("invitation already sent", campaign_id=task.campaign_id, researcher_id=task.researcher_id)
        return "already_sent"
    if outcome is ClaimOutcome.BUSY:
        raise InvitationBusyError(f"the invitation of {task.researcher_id} is being sent by another delivery")
    mail = _mail(ports, researcher, task, now=now)
    try:
        ports.rate.acquire()
        message_id = ports.sender.send(mail)
    except MailRefusedError as exc:
        store.release_claim(task.campaign_id, task.researcher_id)
        store.record_skipped(
            base.model_copy(
                update={"status": InvitationStatus.SKIPPED, "skip_reason": SkipReason.REFUSED, "claimed_at": now}
            )
        )
        store.add_counts(task.campaign_id, failed=1)
        logger.warning(
            "SES refused the invitation", campaign_id=task.campaign_id, researcher_id=task.researcher_id, error=str(exc)
        )
        return "refused"
    except Exception:
        store.release_claim(task.campaign_id, task.researcher_id)  # the redelivery may try at once
        raise
    store.record_sent(task.campaign_id, task.researcher_id, message_id=message_id, at=now)
    store.add_counts(task.campaign_id, sent=1)
    logger.info("invitation sent", campaign_id=task.campaign_id, researcher_id=task.researcher_id)
    return "sent"


def send_reminder(task: InvitationTask, *, ports: MailPorts, max_reminders: int, now: datetime) -> SendResult:
    """Send reminder number ``task.reminder`` of an invitation, at most once; nothing to a researcher who has
    connected, unsubscribed, bounced or complained since (the invitation leaves the reminder list)."""
    store = ports.invitations
    invitation = store.invitation(task.campaign_id, task.researcher_id)
    if invitation is None or invitation.status is not InvitationStatus.SENT or invitation.connected_at is not None:
        return "skipped"
    if invitation.reminders_sent >= task.reminder:
        return "already_sent"
    researcher = ports.researchers.get(task.researcher_id)
    reason = SkipReason.UNKNOWN if researcher is None else skip_reason(researcher, store)
    if reason is not None or researcher is None:
        if reason is SkipReason.CONNECTED:
            store.mark_connected(task.researcher_id, researcher.connected_at or now if researcher else now)
        else:
            store.retire(task.campaign_id, task.researcher_id)
        logger.info(
            "reminder skipped", campaign_id=task.campaign_id, researcher_id=task.researcher_id, reason=str(reason)
        )
        return "skipped"
    outcome = store.claim_reminder(
        task.campaign_id, task.researcher_id, task.reminder, now=now, stale_before=now - STALE_CLAIM
    )
    if outcome is ClaimOutcome.DONE:
        return "already_sent"
    if outcome is ClaimOutcome.BUSY:
        raise InvitationBusyError(f"reminder {task.reminder} of {task.researcher_id} is being sent")
    mail = _mail(ports, researcher, task, now=now)
    try:
        ports.rate.acquire()
        message_id = ports.sender.send(mail)
    except MailRefusedError as exc:
        store.release_reminder_claim(task.campaign_id, task.researcher_id, task.reminder)
        store.retire(task.campaign_id, task.researcher_id)
        logger.warning(
            "SES refused the reminder", campaign_id=task.campaign_id, researcher_id=task.researcher_id, error=str(exc)
        )
        return "refused"
    except Exception:
        store.release_reminder_claim(task.campaign_id, task.researcher_id, task.reminder)
        raise
    store.record_reminder_sent(
        task.campaign_id,
        task.researcher_id,
        task.reminder,
        message_id=message_id,
        at=now,
        last=task.reminder >= max_reminders,
    )
    logger.info("reminder sent", campaign_id=task.campaign_id, researcher_id=task.researcher_id, reminder=task.reminder)
    return "sent"


# --- reminders (the scheduled "remind" job) --------------------------------------------------------


def due_reminder_tasks(
    invitations: InvitationStore, *, reminder_days: int, max_reminders: int, job_id: str, now: datetime
) -> list[InvitationTask]:
    """One reminder task per researcher whose latest invitation is due; older invitations of the same researcher,
    and those out of reminders, leave the reminder list."""
    latest: dict[str, Invitation] = {}
    for invitation in invitations.due_reminders(sent_before=now - timedelta(days=reminder_days)):
        if invitation.reminders_sent >= max_reminders:
            invitations.retire(invitation.campaign_id, invitation.researcher_id)
            continue
        current = latest.get(invitation.researcher_id)
        if current is None:
            latest[invitation.researcher_id] = invitation
            continue
        older, newer = sorted((current, invitation), key=lambda i: (i.sent_at or now, i.campaign_id))
        invitations.retire(older.campaign_id, older.researcher_id)
        latest[invitation.researcher_id] = newer
    # A researcher re-invited by a newer campaign that is not due yet: remind by neither (the newer one will be).
    tasks = []
    base_urls: dict[str, str] = {}
    for rid, invitation in sorted(latest.items()):
        newest = max(invitations.researcher_invitations(rid), key=lambda i: (i.sent_at or now, i.campaign_id))
        if newest.campaign_id != invitation.campaign_id and newest.status is InvitationStatus.SENT:
            invitations.retire(invitation.campaign_id, rid)
            continue
        if invitation.campaign_id not in base_urls:
            campaign = invitations.get_campaign(invitation.campaign_id)
            base_urls[invitation.campaign_id] = campaign.base_url if campaign else ""
        if not base_urls[invitation.campaign_id]:
            invitations.retire(invitation.campaign_id, rid)
            continue
        tasks.append(
            InvitationTask(
                campaign_id=invitation.campaign_id,
                researcher_id=rid,
                reminder=invitation.reminders_sent + 1,
                job_id=job_id,
                base_url=base_urls[invitation.campaign_id],
            )
        )
    return tasks


# --- the researcher's side: opened, connected, unsubscribed ----------------------------------------


def record_opened(
    invitations: InvitationStore, signer: Signer, mark: str | None, *, link_researcher_id: str, now: datetime
) -> bool:
    """The connect page was opened from a campaign's email: record it once. A forged mark, or one for another
    researcher than the link's, records nothing (the page still works)."""
    if not mark:
        return False
    try:
        campaign_id, researcher_id = signer.verify_campaign_mark(mark)
    except ForgedTokenError:
        return False
    if researcher_id != link_researcher_id:
        return False
    return invitations.mark_opened(campaign_id, researcher_id, now)


def record_connected(invitations: InvitationStore, researcher_id: str, *, now: datetime) -> int:
    """The researcher connected: their invitations record it and no reminder follows."""
    return invitations.mark_connected(researcher_id, now)


@dataclass(frozen=True)
class UnsubscribeView:
    researcher_name: str
    done: bool


def _unsubscribing(token: str | None, researchers: ResearcherStore, signer: Signer) -> Researcher:
    try:
        researcher_id = signer.verify_unsubscribe(token or "")
    except ForgedTokenError:
        raise InvalidInputError(
            "this unsubscribe link is not valid", [Problem(field="token", reason="forged")]
        ) from None
    researcher = researchers.get(researcher_id)
    if researcher is None:
        raise NotFoundError("this unsubscribe link is for a researcher the repository no longer has")
    return researcher


def open_unsubscribe(
    token: str | None, *, researchers: ResearcherStore, invitations: InvitationStore, signer: Signer
) -> UnsubscribeView:
    """The confirm page (GET changes nothing: mail scanners follow links)."""
    researcher = _unsubscribing(token, researchers, signer)
    done = any(
        s.reason is SuppressionReason.UNSUBSCRIBED
        for s in invitations.suppressions(researcher_id=researcher.id, address=None)
    )
    return UnsubscribeView(researcher_name=f"{researcher.given_names} {researcher.family_name}", done=done)


def unsubscribe(
    token: str | None, *, researchers: ResearcherStore, invitations: InvitationStore, signer: Signer, now: datetime
) -> UnsubscribeView:
    """Record the unsubscribe (POST, also RFC 8058 one-click): every later campaign and reminder skips them."""
    researcher = _unsubscribing(token, researchers, signer)
    invitations.suppress(MailSuppression(reason=SuppressionReason.UNSUBSCRIBED, at=now, researcher_id=researcher.id))
    for invitation in invitations.researcher_invitations(researcher.id):
        if invitation.status is InvitationStatus.SENT and invitation.connected_at is None:
            invitations.mark_status(invitation.campaign_id, researcher.id, InvitationStatus.UNSUBSCRIBED)
            invitations.add_counts(invitation.campaign_id, unsubscribed=1)
    logger.info("researcher unsubscribed from invitations", researcher_id=researcher.id)
    return UnsubscribeView(researcher_name=f"{researcher.given_names} {researcher.family_name}", done=True)


# --- bounces and complaints (the mail-events function) ---------------------------------------------


def record_delivery_event(event: MailDeliveryEvent, *, invitations: InvitationStore) -> bool:
    """A bounce or complaint from SES: stop mail to the address, settle the invitation. A transient (soft) bounce
    changes nothing. Returns whether anything was recorded."""
    if event.reason is SuppressionReason.BOUNCED and not event.permanent:
        logger.info("transient bounce ignored", message_id=event.message_id, detail=event.detail)
        return False
    for address in event.addresses:
        invitations.suppress(MailSuppression(reason=event.reason, at=event.at, address=address, detail=event.detail))
    invitation = invitations.invitation_by_message(event.message_id) if event.message_id else None
    if invitation is not None:
        invitations.mark_status(invitation.campaign_id, invitation.researcher_id, event.reason.value)
        invitations.add_counts(invitation.campaign_id, **{event.reason.value: 1})
    logger.info(
        "mail address suppressed",
        reason=event.reason.value,
        addresses=len(event.addresses),
        campaign_id=invitation.campaign_id if invitation else None,
        researcher_id=invitation.researcher_id if invitation else None,
    )
    return True


def suppressed_researchers(invitations: InvitationStore, researchers: Iterable[Researcher]) -> dict[str, str]:
    """researcher id → "bounced" / "complained" for researchers whose address SES said not to mail (the reports)."""
    by_address = {r.email.strip().lower(): r.id for r in researchers if r.email}
    found = invitations.suppressed_addresses(list(by_address))
    return {by_address[address]: suppression.reason.value for address, suppression in found.items()}


def complete_reminder(
    jobs: JobStore, task: InvitationTask, result: SendResult, *, notifier: Notifier, now: datetime
) -> None:
    """Count one researcher of the "remind" run (once, even on redelivery); the last one finishes the run."""
    if task.job_id is None:
        return
    events = []
    if result == "refused":
        events.append(
            JobEvent(
                researcher_id=task.researcher_id,
                level="error",
                action="reminder not sent",
                message="SES refused the reminder",
                at=now,
            )
        )
    elif result == "skipped":
        events.append(
            JobEvent(
                researcher_id=task.researcher_id,
                level="info",
                action="reminder skipped",
                message="connected, unsubscribed, bounced or complained since the invitation",
                at=now,
            )
        )
    outcome = ResearcherOutcome(
        researcher_id=task.researcher_id, updated=result == "sent", failed=result == "refused", events=events
    )
    complete_researcher(jobs, task.job_id, outcome, finishers={}, notifier=notifier, now=now)


def start_reminders(
    jobs: JobStore,
    invitations: InvitationStore,
    queue: InvitationQueue,
    *,
    reminder_days: int,
    max_reminders: int,
    notifier: Notifier,
    invocation_id: str,
    now: datetime,
) -> Job:
    """The "remind" schedule fired: open a run, queue one reminder per due researcher, and say how many to expect
    (a run with nobody due finishes at once). A retried trigger (same invocation) gets the same run back."""
    job = open_job(
        jobs,
        job_type=JobType.REMIND,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        options={"reminder_days": reminder_days, "max_reminders": max_reminders},
        now=now,
        job_id=f"remind-{now:%Y%m%dT%H%M%SZ}-{invocation_id.replace('-', '')[:8]}",
    )
    if job.expected is not None or job.state is not JobState.RUNNING:
        return job
    tasks = (
        due_reminder_tasks(
            invitations, reminder_days=reminder_days, max_reminders=max_reminders, job_id=job.job_id, now=now
        )
        if max_reminders > 0
        else []
    )
    queue.send_invitations(tasks)
    job = jobs.set_expected(job.job_id, len(tasks))
    logger.info("reminders queued", job_id=job.job_id, reminders=len(tasks))
    return finish_if_complete(jobs, job, finishers={}, notifier=notifier, now=now)

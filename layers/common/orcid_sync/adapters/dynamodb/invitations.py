"""Invitation campaigns in the InvitationsTable.

Items (pk, sk):

- ``campaign#<id>``, ``META``: the campaign (``list_pk = "campaign"``, ``created_at``: the ``by-created`` index lists
  campaigns newest first).
- ``campaign#<id>``, ``researcher#<rid>``: an invitation. ``inv_researcher`` + ``invited_at`` put it in the
  ``by-researcher`` index (a researcher's invitations: "opened", "connected", a newer campaign); ``message_id`` in
  ``by-message`` (bounces and complaints name SES's message id); ``remind_pk = "due"`` + ``last_sent_at`` in the
  sparse ``reminders-due`` index while a reminder may still follow (removed when the researcher connects,
  unsubscribes, bounces, complains, or had the last reminder).
- ``suppress#researcher#<rid>`` / ``suppress#address#<lowercased address>``, ``META``: no more mail (unsubscribed;
  bounced or complained).

Every state change is one conditional write, so two workers (a redelivery beside the first delivery) cannot both
claim the same email.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from orcid_sync.adapters.dynamodb.batch_retry import batch_get_items
from orcid_sync.adapters.dynamodb.pagination import query_items
from orcid_sync.domain.invitations.models import (
    Campaign,
    CampaignCounts,
    Invitation,
    InvitationStatus,
    MailSuppression,
)
from orcid_sync.domain.invitations.ports import ClaimOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

META = "META"
CAMPAIGN_LIST = "campaign"
REMINDER_DUE = "due"
BY_CREATED = "by-created"
BY_RESEARCHER = "by-researcher"
BY_MESSAGE = "by-message"
REMINDERS_DUE = "reminders-due"
_INVITATION_FIELDS = set(Invitation.model_fields)


def _campaign_pk(campaign_id: str) -> str:
    return f"campaign#{campaign_id}"


def _invitation_sk(researcher_id: str) -> str:
    return f"researcher#{researcher_id}"


def _invitation_key(campaign_id: str, researcher_id: str) -> dict[str, str]:
    return {"pk": _campaign_pk(campaign_id), "sk": _invitation_sk(researcher_id)}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _invitation(item: dict[str, Any]) -> Invitation:
    return Invitation.model_validate({key: value for key, value in item.items() if key in _INVITATION_FIELDS})


def _campaign(item: dict[str, Any]) -> Campaign:
    return Campaign.model_validate_json(str(item["campaign"])).model_copy(
        update={"counts": CampaignCounts(**{k: int(v) for k, v in dict(item.get("counts") or {}).items()})}
    )


class DynamoInvitationStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    # --- campaigns ---------------------------------------------------------------------------------

    def create_campaign(self, campaign: Campaign) -> None:
        self._table.put_item(
            Item={
                "pk": _campaign_pk(campaign.campaign_id),
                "sk": META,
                "list_pk": CAMPAIGN_LIST,
                "created_at": _iso(campaign.created_at),
                # The counts are a map of numbers that workers ADD to; the rest is written once.
                "campaign": campaign.model_dump_json(exclude={"counts"}),
                "counts": campaign.counts.model_dump(),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        item = self._table.get_item(Key={"pk": _campaign_pk(campaign_id), "sk": META}, ConsistentRead=True).get("Item")
        return _campaign(item) if item else None

    def campaigns(self, *, limit: int = 100) -> list[Campaign]:
        response = self._table.query(
            IndexName=BY_CREATED,
            KeyConditionExpression=Key("list_pk").eq(CAMPAIGN_LIST),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_campaign(item) for item in response["Items"]]

    def add_counts(self, campaign_id: str, **deltas: int) -> None:
        unknown = set(deltas) - set(CampaignCounts.model_fields)
        if unknown:
            raise ValueError(f"not campaign counts: {sorted(unknown)}")
        if not deltas:
            return
        names = {f"#c{i}": name for i, name in enumerate(deltas)}
        values = {f":d{i}": delta for i, delta in enumerate(deltas.values())}
        self._table.update_item(
            Key={"pk": _campaign_pk(campaign_id), "sk": META},
            UpdateExpression="ADD " + ", ".join(f"counts.#c{i} :d{i}" for i in range(len(deltas))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # --- invitations -------------------------------------------------------------------------------

    def invitations(self, campaign_id: str) -> list[Invitation]:
        items = query_items(
            self._table,
            KeyConditionExpression=Key("pk").eq(_campaign_pk(campaign_id)) & Key("sk").begins_with("researcher#"),
            ConsistentRead=True,
        )
        return [_invitation(item) for item in items]

    def invitation(self, campaign_id: str, researcher_id: str) -> Invitation | None:
        item = self._table.get_item(Key=_invitation_key(campaign_id, researcher_id), ConsistentRead=True).get("Item")
        return _invitation(item) if item else None

    def researcher_invitations(self, researcher_id: str) -> list[Invitation]:
        items = query_items(
            self._table, IndexName=BY_RESEARCHER, KeyConditionExpression=Key("inv_researcher").eq(researcher_id)
        )
        return [_invitation(item) for item in items]

    @staticmethod
    def _new_item(invitation: Invitation, *, invited_at: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            **_invitation_key(invitation.campaign_id, invitation.researcher_id),
            **invitation.model_dump(mode="json", exclude_none=True),
            "inv_researcher": invitation.researcher_id,
            "invited_at": _iso(invited_at),
        }
        return item

    def record_skipped(self, invitation: Invitation) -> None:
        try:
            self._table.put_item(
                Item=self._new_item(invitation, invited_at=invitation.claimed_at or datetime.now().astimezone()),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def claim(self, invitation: Invitation, *, now: datetime, stale_before: datetime) -> ClaimOutcome:
        item = self._new_item(
            invitation.model_copy(update={"status": InvitationStatus.SENDING, "claimed_at": now}), invited_at=now
        )
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression=Attr("pk").not_exists()
                | (Attr("status").eq(InvitationStatus.SENDING.value) & Attr("claimed_at").lt(_iso(stale_before))),
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            current = self.invitation(invitation.campaign_id, invitation.researcher_id)
            if current is not None and current.status is InvitationStatus.SENDING:
                return ClaimOutcome.BUSY
            return ClaimOutcome.DONE
        return ClaimOutcome.CLAIMED

    def record_sent(self, campaign_id: str, researcher_id: str, *, message_id: str, at: datetime) -> None:
        self._table.update_item(
            Key=_invitation_key(campaign_id, researcher_id),
            UpdateExpression="SET #s = :sent, sent_at = :at, last_sent_at = :at, message_id = :m, remind_pk = :due",
            ConditionExpression="#s = :sending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":sent": InvitationStatus.SENT.value,
                ":sending": InvitationStatus.SENDING.value,
                ":at": _iso(at),
                ":m": message_id,
                ":due": REMINDER_DUE,
            },
        )

    def release_claim(self, campaign_id: str, researcher_id: str) -> None:
        try:
            self._table.delete_item(
                Key=_invitation_key(campaign_id, researcher_id),
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sending": InvitationStatus.SENDING.value},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def due_reminders(self, *, sent_before: datetime) -> Iterator[Invitation]:
        items = query_items(
            self._table,
            IndexName=REMINDERS_DUE,
            KeyConditionExpression=Key("remind_pk").eq(REMINDER_DUE) & Key("last_sent_at").lt(_iso(sent_before)),
        )
        for item in items:
            yield _invitation(item)

    def claim_reminder(
        self, campaign_id: str, researcher_id: str, number: int, *, now: datetime, stale_before: datetime
    ) -> ClaimOutcome:
        try:
            self._table.update_item(
                Key=_invitation_key(campaign_id, researcher_id),
                UpdateExpression="SET reminder_claimed = :n, reminder_claimed_at = :now",
                ConditionExpression=Attr("status").eq(InvitationStatus.SENT.value)
                & Attr("remind_pk").exists()
                & Attr("reminders_sent").eq(number - 1)
                & (Attr("reminder_claimed").not_exists() | Attr("reminder_claimed_at").lt(_iso(stale_before))),
                ExpressionAttributeValues={":n": number, ":now": _iso(now)},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            current = self.invitation(campaign_id, researcher_id)
            if current is not None and current.reminder_claimed == number and current.reminders_sent == number - 1:
                return ClaimOutcome.BUSY
            return ClaimOutcome.DONE
        return ClaimOutcome.CLAIMED

    def record_reminder_sent(
        self, campaign_id: str, researcher_id: str, number: int, *, message_id: str, at: datetime, last: bool
    ) -> None:
        remove = "reminder_claimed, reminder_claimed_at" + (", remind_pk" if last else "")
        self._table.update_item(
            Key=_invitation_key(campaign_id, researcher_id),
            UpdateExpression=f"SET reminders_sent = :n, last_sent_at = :at, message_id = :m REMOVE {remove}",
            ConditionExpression="reminder_claimed = :n",
            ExpressionAttributeValues={":n": number, ":at": _iso(at), ":m": message_id},
        )

    def release_reminder_claim(self, campaign_id: str, researcher_id: str, number: int) -> None:
        try:
            self._table.update_item(
                Key=_invitation_key(campaign_id, researcher_id),
                UpdateExpression="REMOVE reminder_claimed, reminder_claimed_at",
                ConditionExpression="reminder_claimed = :n",
                ExpressionAttributeValues={":n": number},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def _update_existing(
        self,
        key: dict[str, str],
        expression: str,
        values: dict[str, Any] | None = None,
        condition: str = "attribute_exists(pk)",
        names: dict[str, str] | None = None,
    ) -> bool:
        params: dict[str, Any] = {"Key": key, "UpdateExpression": expression, "ConditionExpression": condition}
        if values:
            params["ExpressionAttributeValues"] = values
        if names:
            params["ExpressionAttributeNames"] = names
        try:
            self._table.update_item(**params)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def retire(self, campaign_id: str, researcher_id: str) -> None:
        self._update_existing(_invitation_key(campaign_id, researcher_id), "REMOVE remind_pk")

    def mark_opened(self, campaign_id: str, researcher_id: str, at: datetime) -> bool:
        return self._update_existing(
            _invitation_key(campaign_id, researcher_id),
            "SET opened_at = if_not_exists(opened_at, :at)",
            {":at": _iso(at)},
        )

    def mark_connected(self, researcher_id: str, at: datetime) -> int:
        marked = 0
        for invitation in self.researcher_invitations(researcher_id):
            if invitation.connected_at is not None or invitation.status is InvitationStatus.SKIPPED:
                continue
            marked += self._update_existing(
                _invitation_key(invitation.campaign_id, researcher_id),
                "SET connected_at = :at REMOVE remind_pk",
                {":at": _iso(at)},
                condition="attribute_exists(pk) AND attribute_not_exists(connected_at)",
            )
        return marked

    def mark_status(self, campaign_id: str, researcher_id: str, status: str) -> None:
        self._update_existing(
            _invitation_key(campaign_id, researcher_id),
            "SET #s = :status REMOVE remind_pk",
            {":status": InvitationStatus(status).value},
            names={"#s": "status"},
        )

    def invitation_by_message(self, message_id: str) -> Invitation | None:
        items = self._table.query(IndexName=BY_MESSAGE, KeyConditionExpression=Key("message_id").eq(message_id))[
            "Items"
        ]
        return _invitation(items[0]) if items else None

    # --- suppressions ------------------------------------------------------------------------------

    @staticmethod
    def _suppression_pks(researcher_id: str | None, address: str | None) -> list[str]:
        keys = []
        if researcher_id:
            keys.append(f"suppress#researcher#{researcher_id}")
        if address:
            keys.append(f"suppress#address#{address.strip().lower()}")
        return keys

    def suppress(self, suppression: MailSuppression) -> None:
        # An unsubscribe belongs to the researcher (whatever address they have later); a bounce or complaint to
        # the address (another researcher sharing it bounces too).
        by_researcher = suppression.reason.value == "unsubscribed"
        (pk,) = self._suppression_pks(
            suppression.researcher_id if by_researcher else None, None if by_researcher else suppression.address
        )
        self._table.put_item(Item={"pk": pk, "sk": META, **suppression.model_dump(mode="json", exclude_none=True)})

    def suppressions(self, *, researcher_id: str, address: str | None) -> list[MailSuppression]:
        keys = [{"pk": pk, "sk": META} for pk in self._suppression_pks(researcher_id, address)]
        found = []
        for key in keys:
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            if item:
                found.append(MailSuppression.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk")}))
        return found

    def suppressed_addresses(self, addresses: Sequence[str]) -> dict[str, MailSuppression]:
        found: dict[str, MailSuppression] = {}
        wanted = sorted({a.strip().lower() for a in addresses if a})
        for item in batch_get_items(self._table, [{"pk": f"suppress#address#{a}", "sk": META} for a in wanted]):
            suppression = MailSuppression.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk")})
            if suppression.address:
                found[suppression.address.strip().lower()] = suppression
        return found

"""An ORCID inbox permission request (``notification-permission-3.0.xsd``), as we send it.

The fields follow ORCID's guide (orcid-model ``notification_3.0/README.md``): ``notification-type`` is always
``permission``; ``authorization-url`` is where the researcher's "grant permission" button leads; the subject is shown
mid-sentence ("Add <subject> to your ORCID record"), so it is short (ORCID asks for fewer than 25 characters); the intro
is plain text of at most 1,000 characters; one or more items give a snapshot of what will be added, each of a known
type with a name of at most 1,000 characters. ``put-code``, ``source`` and the dates are read-only and never sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SUBJECT_MAX_LENGTH = 100
"""Our limit (the XSD sets none); ORCID recommends fewer than 25 characters, which the built-in subjects keep."""
INTRO_MAX_LENGTH = 1000
ITEM_NAME_MAX_LENGTH = 1000
ItemType = Literal[
    "employment",
    "education",
    "qualification",
    "invited-position",
    "distinction",
    "membership",
    "service",
    "funding",
    "work",
    "peer-review",
]


class NotificationItem(BaseModel):
    """One example of what the permission will let us add."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_type: ItemType = "work"
    item_name: Annotated[str, Field(min_length=1, max_length=ITEM_NAME_MAX_LENGTH)]


class NotificationPermission(BaseModel):
    """The permission request; ``to_orcid_json`` is the body ORCID maps onto the XSD."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    authorization_url: Annotated[str, Field(min_length=1, max_length=2000)]
    subject: Annotated[str, Field(min_length=1, max_length=SUBJECT_MAX_LENGTH)]
    intro: Annotated[str, Field(min_length=1, max_length=INTRO_MAX_LENGTH)]
    items: Annotated[tuple[NotificationItem, ...], Field(min_length=1)]

    @field_validator("authorization_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        # ORCID parses it as a java.net.URI and answers 400 for a space or a character a URI cannot hold.
        if not value.startswith(("https://", "http://")) or any(char in value for char in ' "<>\\^`{|}\t\r\n'):
            raise ValueError("the authorization URL must be an absolute http(s) URL with nothing left unescaped")
        return value

    def to_orcid_json(self) -> dict[str, Any]:
        """The body of ``POST /v3.0/{orcid}/notification-permission`` (ORCID's JSON for the XSD's elements)."""
        return {
            "notification-type": "permission",
            "authorization-url": {"uri": self.authorization_url},
            "notification-subject": self.subject,
            "notification-intro": self.intro,
            "items": {"item": [{"item-type": item.item_type, "item-name": item.item_name} for item in self.items]},
        }

"""ORCID inbox permission requests: ``POST``/``GET /v3.0/{orcid}/notification-permission``, with ORCID's checks.

What ORCID does, and the sandbox with it (ORCID-Source ``NotificationsApiServiceDelegatorImpl``,
``NotificationValidationManagerImpl``, the notification mappers, and ``notification_3.0/README.md``):

- The token is a client-credentials (2-legged) token carrying ``/premium-notification``; a researcher's 3-legged
  token, or one without the scope, is refused 403 ("Insufficient or wrong scope").
- The body is valid against ``notification-permission-3.0.xsd`` (read as XSD 1.1: the file says
  ``vc:minVersion="1.1"``, so an XSD 1.0 processor would skip every declaration in it; its imports of the 2.1 common
  and activities schemas are resolved to the 3.0 copies, which declare the same elements). JSON is mapped onto the
  schema as ORCID's Jackson/JAXB would (see :mod:`.xsd`); a body that does not fit is 400/9047.
- ``authorization-url``: a non-blank ``uri`` must parse as a ``java.net.URI`` (a space, even a trailing one, is a
  400); with a blank or absent ``uri`` ORCID stores its own base URL + ``path``, which must parse too. Read back,
  ``path`` is the stored URL's path and query and ``host`` ORCID's host.
- Each item's external id, when given, has a known type.
- The record must exist (404); a malformed iD is a bad request (400) here, before any look-up.
- Created: 201 with ``Location: .../v3.0/{orcid}/notification-permission/{put-code}``. A client reads only
  the notifications it is the source of (403 otherwise).

The requests share the Member API's rate limit and fault injection (the same ``before_request``). The notifications
show in ``GET /_sandbox/notifications`` and in a record's ``GET /_sandbox/records/{orcid}``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import xmlschema
from flask import Blueprint, Response, current_app, request

from .errors import OAuthError, orcid_error
from .identifiers import is_valid_orcid
from .member_api import JSON_TYPES, _lose_response, _proxy_and_faults, bearer_token
from .responses import admin_json, base_url, orcid_json, sandbox_state
from .xsd import ItemSchema, default_model_dir

PREMIUM_NOTIFICATION = "/premium-notification"
INBOX_KEY = "orcid_sandbox_inbox"
FIRST_NOTIFICATION_PUT_CODE = 1001
# What java.net.URI accepts: RFC 2396's characters, with %-escapes well formed (no space, no "<>{}|\^`").
_URI_CHARACTERS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")

notification_api = Blueprint("notification_api", __name__, url_prefix="/v3.0/<orcid>/notification-permission")
notification_admin = Blueprint("notification_admin", __name__, url_prefix="/_sandbox/notifications")
notification_api.before_request(_proxy_and_faults)
notification_api.after_request(_lose_response)


@functools.cache
def notification_schema(model_dir: Path) -> ItemSchema:
    """The ``notification`` element of notification-permission-3.0.xsd, loaded once per directory."""
    xsd = model_dir / "notification_3.0" / "notification-permission-3.0.xsd"
    replacements = {
        "common_2.1/common-2.1.xsd": model_dir / "common_3.0" / "common-3.0.xsd",
        "record_2.1/activities-2.1.xsd": model_dir / "record_3.0" / "activities-3.0.xsd",
    }

    def to_3_0(uri: str) -> str:
        for ending, replacement in replacements.items():
            if uri.endswith(ending):
                return str(replacement)
        return uri

    schema = xmlschema.XMLSchema11(str(xsd), uri_mapper=to_3_0)
    return ItemSchema(schema.elements["notification"])


@dataclass
class StoredNotification:
    """One permission notification in a researcher's inbox."""

    put_code: int
    orcid: str
    client_id: str
    client_name: str
    authorization_url: str
    subject: str | None
    intro: str | None
    items: list[dict[str, Any]]
    created_ms: int
    archived_ms: int | None = None


@dataclass
class NotificationInbox:
    """Every researcher's inbox (the sandbox keeps one per process, beside its state)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    notifications: dict[int, StoredNotification] = field(default_factory=dict)
    next_put_code: int = FIRST_NOTIFICATION_PUT_CODE

    def add(self, notification: StoredNotification) -> StoredNotification:
        with self.lock:
            notification.put_code = self.next_put_code
            self.next_put_code += 1
            self.notifications[notification.put_code] = notification
            return notification

    def of(self, orcid: str | None = None) -> list[StoredNotification]:
        with self.lock:
            return [item for item in self.notifications.values() if orcid is None or item.orcid == orcid]

    def clear(self) -> None:
        with self.lock:
            self.notifications.clear()


def inbox() -> NotificationInbox:
    """The running app's inbox (made by ``create_app``; ``/_sandbox/reset`` empties it)."""
    found = current_app.extensions[INBOX_KEY]
    if not isinstance(found, NotificationInbox):
        raise TypeError("the app was not created by orcid_sandbox.create_app")
    return found


def _authorize_client(orcid: str) -> tuple[str, str]:
    """The calling client (id, name) of a live client-credentials token carrying /premium-notification."""
    state = sandbox_state()
    bearer = bearer_token()
    if bearer is None:
        raise OAuthError(401, "unauthorized", "Full authentication is required to access this resource")
    token = state.token_for_request(bearer, request.method)
    if token.orcid is not None or PREMIUM_NOTIFICATION not in token.scopes:
        kind = "a researcher's (3-legged) token" if token.orcid is not None else f"scope {token.scope}"
        raise orcid_error(9017, status=403, detail=f"Insufficient or wrong scope [{PREMIUM_NOTIFICATION}]: {kind}")
    if not is_valid_orcid(orcid):
        raise orcid_error(9006, detail=f"Invalid ORCID iD '{orcid}'")
    if state.records.get(orcid) is None:
        raise orcid_error(9016, detail=f"ORCID iD {orcid} not found")
    client = state.clients.get(token.client_id)
    return token.client_id, client.name if client else token.client_id


def _parse_uri(value: str) -> str:
    if not _URI_CHARACTERS.match(value) or not urlsplit(value).scheme:
        raise orcid_error(9001, detail=f"Bad authorization uri: '{value}'")
    return value


def _authorization_url(raw: dict[str, Any]) -> str:
    """The URL ORCID stores: the ``uri`` when not blank, else its own base URL + ``path``."""
    uri = raw.get("uri")
    if isinstance(uri, str) and uri.strip():
        return _parse_uri(uri)
    path = raw.get("path")
    if not isinstance(path, str) or not path:
        raise orcid_error(9001, detail="Bad authorization uri: neither uri nor path is given")
    return _parse_uri(f"{base_url()}{path}")


def _checked_items(raw: dict[str, Any]) -> list[dict[str, Any]]:
    items = raw["items"]["item"]
    entries = items if isinstance(items, list) else [items]
    external_id_types = sandbox_state().rules.vocabularies.external_id_types
    for entry in entries:
        external_id = entry.get("external-id")
        if external_id is None:
            continue
        id_type = str(external_id.get("external-id-type", ""))
        if id_type.replace("_", "-") not in external_id_types:
            raise orcid_error(9001, detail=f"Invalid external-id type: '{id_type}'")
    return entries


def _json_object() -> dict[str, Any]:
    if request.mimetype not in JSON_TYPES:
        raise orcid_error(9001, status=415, detail=f"Unsupported Content-Type '{request.content_type}'")
    try:
        raw = json.loads(request.get_data(cache=False))
    except ValueError as error:
        raise orcid_error(9001, detail=f"Unparseable JSON: {error}") from error
    if not isinstance(raw, dict):
        raise orcid_error(9047, error="Cannot construct `notification` from a non-object")
    return raw


def _read_form(notification: StoredNotification) -> dict[str, Any]:
    parts = urlsplit(notification.authorization_url)
    return {
        "put-code": notification.put_code,
        "notification-type": "permission",
        "authorization-url": {
            "uri": notification.authorization_url,
            "path": parts.path + (f"?{parts.query}" if parts.query else ""),
            "host": urlsplit(base_url()).hostname,
        },
        "notification-subject": notification.subject,
        "notification-intro": notification.intro,
        "items": {"item": notification.items},
        "created-date": {"value": notification.created_ms},
        "archived-date": {"value": notification.archived_ms} if notification.archived_ms else None,
        "source": {
            "source-client-id": {
                "uri": f"{base_url()}/client/{notification.client_id}",
                "path": notification.client_id,
                "host": urlsplit(base_url()).hostname,
            },
            "source-name": {"value": notification.client_name},
        },
    }


@notification_api.post("")
def add_permission_notification(orcid: str) -> Response:
    """Put a permission request in the researcher's ORCID inbox."""
    client_id, client_name = _authorize_client(orcid)
    state = sandbox_state()
    raw = _json_object()
    notification_schema(state.config.orcid_model_dir or default_model_dir()).validate(raw)
    authorization_url = _authorization_url(raw["authorization-url"])
    items = _checked_items(raw)
    stored = inbox().add(
        StoredNotification(
            put_code=0,
            orcid=orcid,
            client_id=client_id,
            client_name=client_name,
            authorization_url=authorization_url,
            subject=raw.get("notification-subject"),
            intro=raw.get("notification-intro"),
            items=items,
            created_ms=state.epoch_ms(),
        )
    )
    location = f"{base_url()}/v3.0/{orcid}/notification-permission/{stored.put_code}"
    return Response(status=201, headers={"Location": location})


@notification_api.get("/<int:put_code>")
def read_permission_notification(orcid: str, put_code: int) -> Response:
    """One notification this client sent."""
    client_id, _ = _authorize_client(orcid)
    found = next((item for item in inbox().of(orcid) if item.put_code == put_code), None)
    if found is None:
        raise orcid_error(9016, detail=f"No notification {put_code} on {orcid}")
    if found.client_id != client_id:
        raise orcid_error(9017, status=403, detail=f"Notification {put_code} was sent by another client")
    return orcid_json({key: value for key, value in _read_form(found).items() if value is not None})


def notifications_json(orcid: str | None = None) -> list[dict[str, Any]]:
    """The inspection view: every notification (of one record), as ORCID would show it to its source."""
    return [
        {"orcid": item.orcid, "client_id": item.client_id, **_read_form(item)}
        for item in sorted(inbox().of(orcid), key=lambda item: item.put_code)
    ]


@notification_admin.get("")
def list_notifications() -> Response:
    """Every permission notification sent (``?orcid=`` for one record's inbox)."""
    return admin_json({"notifications": notifications_json(request.args.get("orcid") or None)})


@notification_admin.delete("")
def clear_notifications() -> Response:
    """Empty every inbox."""
    inbox().clear()
    return Response(status=204)


__all__ = [
    "INBOX_KEY",
    "PREMIUM_NOTIFICATION",
    "NotificationInbox",
    "notification_admin",
    "notification_api",
    "notification_schema",
    "notifications_json",
]

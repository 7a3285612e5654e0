"""Sending ORCID inbox permission requests: the 2-legged /premium-notification token, cached per container.

ORCID's client-credentials tokens last about 20 years, so one is fetched on the first send and kept; if ORCID ever
answers 401 for it (revoked by ORCID support, or the client's premium feature turned off and on), one new token is
fetched and the send tried once more. Every request, the token's included, goes through the client's transport:
the rate limit shared by all Lambdas, retries, request counts.
"""

from __future__ import annotations

import threading

from pydantic import SecretStr

from orcid_sync.adapters.orcid_api.client import OrcidClient
from orcid_sync.domain.orcid.errors import InvalidTokenError
from orcid_sync.domain.orcid.notifications import NotificationPermission

PREMIUM_NOTIFICATION_SCOPE = "/premium-notification"


class OrcidInboxSender:
    """Implements the domain's ``InboxSender`` port over an :class:`OrcidClient`."""

    def __init__(self, client: OrcidClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._token: SecretStr | None = None

    def _cached_token(self, *, renew: bool = False) -> SecretStr:
        with self._lock:
            if self._token is None or renew:
                self._token = self._client.client_credentials_token(PREMIUM_NOTIFICATION_SCOPE).access_token
            return self._token

    def send(self, orcid: str, notification: NotificationPermission) -> int:
        """Put the request in the inbox of ``orcid``; its put-code."""
        try:
            return self._client.send_permission_notification(orcid, self._cached_token(), notification)
        except InvalidTokenError:
            return self._client.send_permission_notification(orcid, self._cached_token(renew=True), notification)

    @property
    def requests(self) -> int:
        """ORCID requests made so far by this sender's client (tokens included)."""
        return self._client.stats.total

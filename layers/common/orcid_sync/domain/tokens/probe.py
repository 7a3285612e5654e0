"""Verifying imported tokens: one read of the researcher's record each, within the shared ORCID rate limit.

ORCID has no token introspection for members; reading ``/v3.0/{orcid}/record`` with the token is
the cheap probe (``docs/orcid-api.md`` §1.5): 401 ``invalid_token`` means dead, 401/9017 means the
token belongs to another record.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import SecretStr

from orcid_sync.domain.log import logger
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync.domain.tokens.verdicts import ProbeResult, TokenProbe

"""The state-table item of the rate limit every function calling the Member API shares."""

PROBE_RETRY = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, max_retry_after=2.0)
"""An administrator may be waiting (POST /tokens?verify=true): retry a hiccup once, then report the row."""


class RecordReader(Protocol):
    """The one ORCID call a probe makes (``OrcidClient.read_record``)."""

    def read_record(self, orcid: str, token: SecretStr) -> dict[str, Any]: ...


def client_probe(orcid: RecordReader) -> TokenProbe:
    """A probe that reads the record with the token and turns ORCID's answer into a verdict."""

    def probe(orcid_id: str, access_token: SecretStr) -> ProbeResult:
        try:
            orcid.read_record(orcid_id, access_token)
        except orcid_errors.InvalidTokenError as exc:
            return ProbeResult.WRONG_RECORD if exc.wrong_record else ProbeResult.INVALID_TOKEN
        except orcid_errors.InsufficientScopeError:
            # ORCID took the token and only refused what it may read: it is alive.
            return ProbeResult.VALID
        except (orcid_errors.NotFoundError, orcid_errors.DeprecatedRecordError):
            return ProbeResult.NO_RECORD
        except orcid_errors.OrcidApiError as exc:
            # The message is redacted by the client; it never holds the token.
            logger.warning("token probe inconclusive", orcid=orcid_id, error=str(exc))
            return ProbeResult.UNAVAILABLE
        return ProbeResult.VALID

    return probe

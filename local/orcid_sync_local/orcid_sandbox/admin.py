"""/_sandbox: seeding, inspection, counters and run-time knobs (JSON in, JSON out; not part of ORCID)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import RegisteredClient
from .errors import OrcidApiError
from .faults import FaultSettings
from .notifications import inbox, notifications_json
from .oauth import GRANTABLE_SCOPES
from .render import Renderer
from .responses import admin_json, orcid_error_response, renderer, sandbox_state
from .state import Record, SandboxState, Source

admin = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")

DEFAULT_GRANT_SCOPE = "/read-limited /activities/update /person/update"
Visibility = Literal["public", "limited", "registered-only", "private"]


class AdminRequestError(Exception):
    """A bad /_sandbox request, answered as `{"error", "message"}` JSON."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def response(self) -> Response:
        """The JSON error response."""
        body: dict[str, Any] = {"error": "invalid_request" if self.status == 400 else "not_found"}
        body["message"] = self.message
        if self.details is not None:
            body["details"] = self.details
        return admin_json(body, status=self.status)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrantRequest(_Body):
    """A token to issue straight away, as if the researcher had clicked "Authorize access"."""

    client_id: str
    scope: str = DEFAULT_GRANT_SCOPE


class CreateResearcherRequest(_Body):
    """POST /_sandbox/researchers."""

    given_names: str = Field(min_length=1)
    family_name: str = ""
    email: str | None = None
    orcid: str | None = None
    grant: GrantRequest | None = None


class SeedWorkRequest(_Body):
    """POST /_sandbox/records/{orcid}/works: a work added by the researcher or by any client."""

    work: dict[str, Any]
    source_client_id: str | None = None
    visibility: Visibility = "public"


class RateLimitRequest(_Body):
    """PUT /_sandbox/rate-limit."""

    rate: float = Field(ge=0)
    burst: int = Field(ge=1)


class FaultsRequest(_Body):
    """PUT /_sandbox/faults: replaces every knob (omitted ones go back to their defaults)."""

    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 503], min_length=1)
    latency_ms: float = Field(default=0.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    lost_response_rate: float = Field(default=0.0, ge=0, le=1)
    lost_response_as: Literal["error", "drop"] = "error"
    seed: int | None = None


class RegisterClientRequest(_Body):
    """POST /_sandbox/clients."""

    client_id: str
    client_secret: str = Field(min_length=1)
    redirect_uris: list[str]
    name: str = Field(min_length=1)


def _parse[Model: BaseModel](model: type[Model]) -> Model:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise AdminRequestError(400, "Send a JSON object with Content-Type: application/json")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise AdminRequestError(400, "Invalid request body", json.loads(error.json(include_url=False))) from error


def _record(state: SandboxState, orcid: str) -> Record:
    record = state.records.get(orcid)
    if record is None:
        raise AdminRequestError(404, f"No record {orcid}")
    return record


@admin.errorhandler(AdminRequestError)
def _admin_error(error: AdminRequestError) -> Response:
    return error.response()


# --- researchers and records ----------------------------------------------------------------------------------


@admin.post("/researchers")
def create_researcher() -> Response:
    """Create a record (and optionally a token for a client)."""
    body = _parse(CreateResearcherRequest)
    state = sandbox_state()
    if body.grant is not None:
        if body.grant.client_id not in state.clients:
            raise AdminRequestError(400, f"Unknown client {body.grant.client_id}")
        unknown = [scope for scope in body.grant.scope.split() if scope not in GRANTABLE_SCOPES]
        if unknown or not body.grant.scope.split():
            raise AdminRequestError(400, f"Invalid scope: {' '.join(unknown) or '(none)'}")
    try:
        record = state.create_record(body.given_names, body.family_name, body.email, body.orcid)
    except ValueError as error:
        raise AdminRequestError(400, str(error)) from error
    result: dict[str, Any] = {
        "orcid": record.orcid,
        "uri": renderer().orcid_identifier(record.orcid)["uri"],
        "given_names": record.given_names,
        "family_name": record.family_name,
        "email": record.email,
    }
    if body.grant is not None:
        token = state.issue_token(body.grant.client_id, record.orcid, frozenset(body.grant.scope.split()))
        result |= {
            "client_id": token.client_id,
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "token_type": "bearer",
            "scope": token.scope,
            "expires_in": state.expires_in(token),
        }
    return admin_json(result, status=201)


@admin.get("/records")
def list_records() -> Response:
    """Every record with counts of its items."""
    state = sandbox_state()
    with state.lock:
        rows = [
            {
                "orcid": record.orcid,
                "name": record.name,
                "email": record.email,
                "works": len(record.works),
                "researcher_urls": len(record.researcher_urls),
                "employments": len(record.employments),
            }
            for record in state.records.values()
        ]
    return admin_json({"records": rows})


def _source_json(source: Source) -> dict[str, str | None]:
    return {"client_id": source.client_id, "orcid": source.orcid, "name": source.name}


def _record_state(state: SandboxState, record: Record, output: Renderer) -> dict[str, Any]:
    orcid = record.orcid
    return {
        "orcid": orcid,
        "uri": output.orcid_identifier(orcid)["uri"],
        "given_names": record.given_names,
        "family_name": record.family_name,
        "email": record.email,
        "works": [
            {
                "put_code": work.put_code,
                "source": _source_json(work.source),
                "visibility": work.visibility,
                "self_ids": [{"type": id_type, "normalized": value} for id_type, value in sorted(work.self_keys)],
                "work": output.work(orcid, work),
            }
            for work in record.works.values()
        ],
        "researcher_urls": [
            {
                "put_code": item.put_code,
                "source": _source_json(item.source),
                "url": item.url,
                "url_name": item.url_name,
                "researcher_url": output.researcher_url(orcid, item),
            }
            for item in record.researcher_urls.values()
        ],
        "employments": [
            {
                "put_code": item.put_code,
                "source": _source_json(item.source),
                "employment": output.employment(orcid, item),
            }
            for item in record.employments.values()
        ],
        "tokens": state.token_summaries(orcid),
        "notifications": notifications_json(orcid),
    }


@admin.get("/records/<orcid>")
def inspect_record(orcid: str) -> Response:
    """Everything on one record: works with put-codes and sources, researcher URLs, employments, tokens."""
    state = sandbox_state()
    with state.lock:
        body = _record_state(state, _record(state, orcid), renderer())
    return admin_json(body)


@admin.post("/records/<orcid>/works")
def seed_work(orcid: str) -> Response:
    """Add a work as the researcher (default) or as a given client; ORCID's rules still apply."""
    body = _parse(SeedWorkRequest)
    state = sandbox_state()
    record = _record(state, orcid)
    if body.source_client_id is None:
        source = record.as_source
    else:
        client = state.clients.get(body.source_client_id)
        if client is None:
            raise AdminRequestError(400, f"Unknown client {body.source_client_id}")
        source = Source(client_id=client.client_id, orcid=None, name=client.name)
    try:
        work = state.rules.work(body.work, creating=True)
        stored = state.add_work(record, work, source, visibility=body.visibility)
    except OrcidApiError as error:
        return orcid_error_response(error)
    return admin_json({"put_code": stored.put_code}, status=201)


@admin.delete("/records/<orcid>/works/<int:put_code>")
def delete_work_as_researcher(orcid: str, put_code: int) -> Response:
    """Delete a work the way the researcher can on orcid.org, whoever its source."""
    state = sandbox_state()
    if not state.delete_work_as_researcher(_record(state, orcid), put_code):
        raise AdminRequestError(404, f"No work {put_code} on {orcid}")
    return Response(status=204)


class RevokeAccessRequest(_Body):
    """POST /_sandbox/records/{orcid}/revoke: the researcher removes a trusted organization (or all)."""

    client_id: str | None = None


@admin.post("/records/<orcid>/revoke")
def revoke_access_as_researcher(orcid: str) -> Response:
    """Revoke every token on the record (or only those of `client_id`), as the researcher would."""
    body = _parse(RevokeAccessRequest) if request.content_length else RevokeAccessRequest()
    state = sandbox_state()
    _record(state, orcid)
    return admin_json({"revoked": state.revoke_record_tokens_by_user(orcid, body.client_id)})


@admin.post("/tokens/<token>/revoke")
def revoke_token_as_researcher(token: str) -> Response:
    """Revoke a token from the researcher's account settings (ORCID still accepts it for DELETE)."""
    if not sandbox_state().revoke_by_user(token):
        raise AdminRequestError(404, "Unknown token")
    return admin_json({"revoked": True})


@admin.get("/issued-tokens")
def list_issued_tokens() -> Response:
    """Test-only: every access, refresh and id token value ever issued, revoked ones too (for token leak scans),
    and the claims of the id_tokens issued since the last reset (for inspecting sign-ins)."""
    state = sandbox_state()
    return admin_json({"tokens": state.issued_token_values(), "id_tokens": state.id_token_claims()})


# --- clients --------------------------------------------------------------------------------------------------


@admin.post("/clients")
def register_client() -> Response:
    """Register (or replace) a member API client."""
    body = _parse(RegisterClientRequest)
    try:
        client = RegisteredClient(body.client_id, body.client_secret, body.redirect_uris, body.name)
    except ValueError as error:
        raise AdminRequestError(400, str(error)) from error
    sandbox_state().register_client(client)
    return admin_json({"client_id": client.client_id, "name": client.name, "redirect_uris": client.redirect_uris}, 201)


@admin.get("/clients")
def list_clients() -> Response:
    """Registered clients (secrets left out)."""
    state = sandbox_state()
    with state.lock:
        clients = [
            {"client_id": client.client_id, "name": client.name, "redirect_uris": list(client.redirect_uris)}
            for client in state.clients.values()
        ]
    return admin_json({"clients": clients})


# --- counters and knobs ---------------------------------------------------------------------------------------


def _stats(state: SandboxState) -> dict[str, Any]:
    return {
        **state.stats.snapshot(),
        "faults": state.faults.counts(),
        "rate_limit": {"rate": state.limiter.rate, "burst": state.limiter.burst},
    }


@admin.get("/stats")
def read_stats() -> Response:
    """Request counters by method, route and status; faults injected; rate-limit 503s."""
    return admin_json(_stats(sandbox_state()))


@admin.post("/stats/reset")
def reset_stats() -> Response:
    """Zero the counters."""
    state = sandbox_state()
    state.stats.reset()
    state.faults.reset_counts()
    return admin_json(_stats(state))


@admin.get("/rate-limit")
def read_rate_limit() -> Response:
    """The rate limit in force."""
    limiter = sandbox_state().limiter
    return admin_json({"rate": limiter.rate, "burst": limiter.burst})


@admin.put("/rate-limit")
def change_rate_limit() -> Response:
    """Change the rate limit (rate 0 turns it off); buckets start full."""
    body = _parse(RateLimitRequest)
    limiter = sandbox_state().limiter
    limiter.configure(rate=body.rate, burst=body.burst)
    return admin_json({"rate": limiter.rate, "burst": limiter.burst})


def _fault_settings_json(settings: FaultSettings) -> dict[str, Any]:
    return {**asdict(settings), "error_statuses": list(settings.error_statuses)}


@admin.get("/faults")
def read_faults() -> Response:
    """The fault knobs in force."""
    return admin_json(_fault_settings_json(sandbox_state().faults.settings))


@admin.put("/faults")
def change_faults() -> Response:
    """Replace the fault knobs and reseed the RNG."""
    body = _parse(FaultsRequest)
    try:
        settings = FaultSettings(**{**body.model_dump(), "error_statuses": tuple(body.error_statuses)})
    except ValueError as error:
        raise AdminRequestError(400, str(error)) from error
    faults = sandbox_state().faults
    faults.configure(settings)
    return admin_json(_fault_settings_json(faults.settings))


@admin.post("/reset")
def reset_everything() -> Response:
    """Forget records, tokens, inbox notifications and counters; clients, knobs and the put-code sequence stay."""
    sandbox_state().reset()
    inbox().clear()
    return Response(status=204)

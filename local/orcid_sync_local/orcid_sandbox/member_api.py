"""Member API v3.0: works, researcher URLs, employments and the record, with ORCID's checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, Response, g, request

from .errors import OAuthError, OrcidApiError, orcid_error
from .faults import FaultPlan
from .render import Renderer, is_visible_to
from .responses import (
    DROP_CONNECTION_KEY,
    base_url,
    orcid_error_response,
    orcid_json,
    proxy_error_page,
    renderer,
    sandbox_state,
)
from .state import AccessToken, Record, SandboxState, Source, StoredActivity
from .validation import JsonObject, OrcidRules, ValidatedActivity

READ_LIMITED = "/read-limited"
ACTIVITIES_UPDATE = "/activities/update"
PERSON_UPDATE = "/person/update"
JSON_TYPES = ("application/vnd.orcid+json", "application/orcid+json", "application/json")
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
BULK_MAX = 100

member_api = Blueprint("member_api", __name__, url_prefix="/v3.0/<orcid>")


@dataclass(frozen=True)
class Caller:
    """The authenticated client and the record it is acting on."""

    token: AccessToken
    record: Record
    source: Source


def bearer_token() -> str | None:
    """The bearer token of this request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@member_api.before_request
def _proxy_and_faults() -> Response | None:
    """What happens before ORCID sees the request: the rate limit, then any injected fault."""
    state = sandbox_state()
    bearer = bearer_token()
    client_id = state.client_of_token(bearer) if bearer else None
    g.client_id = client_id
    if not state.limiter.try_acquire(client_id or "anonymous"):
        state.stats.record_rate_limited(client_id or "anonymous")
        return proxy_error_page(503)
    plan = state.faults.plan(is_write=request.method in WRITE_METHODS)
    g.fault_plan = plan
    state.sleep(plan.latency_seconds)
    if plan.drop:
        request.environ[DROP_CONNECTION_KEY] = True
        return Response(status=500)
    if plan.error_status == 500:
        return orcid_error_response(orcid_error(9008))
    if plan.error_status is not None:
        return proxy_error_page(plan.error_status)
    return None


@member_api.after_request
def _lose_response(response: Response) -> Response:
    """A lost response: the write was applied, but the client only sees a 500 or a closed connection."""
    plan: FaultPlan | None = g.get("fault_plan")
    if plan is None or plan.lose_response is None:
        return response
    if plan.lose_response == "drop":
        request.environ[DROP_CONNECTION_KEY] = True
        return response
    return orcid_error_response(orcid_error(9008))


def _authorize(orcid: str, scope: str) -> Caller:
    state = sandbox_state()
    bearer = bearer_token()
    if bearer is None:
        raise OAuthError(401, "unauthorized", "Full authentication is required to access this resource")
    token = state.token_for_request(bearer, request.method)
    record = state.records.get(orcid)
    if record is None:
        raise orcid_error(9016, detail=f"ORCID iD {orcid} not found")
    if token.orcid != orcid:
        raise orcid_error(9017, detail="Access token is for a different record")
    if scope not in token.scopes:
        raise orcid_error(9038)
    if request.accept_mimetypes and request.accept_mimetypes.best_match(JSON_TYPES) is None:
        raise orcid_error(9001, status=406, detail=f"The sandbox only answers JSON, not {request.headers['Accept']}")
    client = state.clients.get(token.client_id)
    source = Source(client_id=token.client_id, orcid=None, name=client.name if client else token.client_id)
    return Caller(token, record, source)


def _json_body() -> Any:
    if request.mimetype not in JSON_TYPES:
        raise orcid_error(9001, status=415, detail=f"Unsupported Content-Type '{request.content_type}'")
    try:
        return json.loads(request.get_data(cache=False))
    except ValueError as error:
        raise orcid_error(9001, detail=f"Unparseable JSON: {error}") from error


def _put_code_in(raw: Any) -> Any:
    return raw.get("put-code") if isinstance(raw, dict) else None


def _require_same_put_code(raw: Any, put_code: int, caller: Caller) -> None:
    body_put_code = _put_code_in(raw)
    if str(body_put_code) != str(put_code):
        raise orcid_error(9019, urlPutCode=put_code, bodyPutCode=body_put_code, clientName=caller.source.name)


def _created(location_path: str) -> Response:
    return Response(status=201, headers={"Location": f"{base_url()}/v3.0/{location_path}"})


def _visible_activity(items: dict[int, StoredActivity], put_code: int, caller: Caller) -> StoredActivity:
    item = items.get(put_code)
    if item is None:
        raise orcid_error(9016, detail=f"No activity found with put-code {put_code}")
    if not is_visible_to(item, caller.token.client_id):
        raise orcid_error(9013)
    return item


# --- works ----------------------------------------------------------------------------------------------------


@member_api.get("/works")
def read_works(orcid: str) -> Response:
    """The works summary, grouped."""
    caller = _authorize(orcid, READ_LIMITED)
    state = sandbox_state()
    with state.lock:
        works = [work for work in caller.record.works.values() if is_visible_to(work, caller.token.client_id)]
        body = renderer().works(orcid, works)
    return orcid_json(body)


@member_api.get("/works/<put_codes>")
def read_works_in_bulk(orcid: str, put_codes: str) -> Response:
    """Up to 100 full works, each as `work` or `error`."""
    caller = _authorize(orcid, READ_LIMITED)
    codes = [code.strip() for code in put_codes.split(",") if code.strip()]
    if not codes or not all(code.isdigit() for code in codes):
        raise orcid_error(9006, detail=f"Invalid put-codes '{put_codes}'")
    if len(codes) > BULK_MAX:
        raise orcid_error(9006, detail=f"You are allowed to read up to {BULK_MAX} elements per request.")
    state = sandbox_state()
    output = renderer()
    entries: list[dict[str, Any]] = []
    with state.lock:
        for code in codes:
            try:
                work = _visible_activity(caller.record.works, int(code), caller)
                entries.append({"work": output.work(orcid, work)})
            except OrcidApiError as error:
                entries.append({"error": error.body()})
    return orcid_json({"bulk": entries})


@member_api.get("/work/<int:put_code>")
def read_work(orcid: str, put_code: int) -> Response:
    """One full work."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        body = renderer().work(orcid, _visible_activity(caller.record.works, put_code, caller))
    return orcid_json(body)


@member_api.post("/works")
def create_works_in_bulk(orcid: str) -> Response:
    """Add up to 100 works; each item succeeds or fails on its own, in order."""
    caller = _authorize(orcid, ACTIVITIES_UPDATE)
    raw = _json_body()
    items = raw.get("bulk") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise orcid_error(9047, error='The body must be {"bulk": [{"work": {…}}, …]}')
    if len(items) > BULK_MAX:
        raise orcid_error(9006, detail=f"You are allowed to add up to {BULK_MAX} elements per request.")
    state = sandbox_state()
    output = renderer()
    # Each item is validated on its own (outside the lock: it needs no state), then added in order.
    checked: list[ValidatedActivity | OrcidApiError] = []
    for item in items:
        try:
            if not isinstance(item, dict) or set(item) != {"work"}:
                raise orcid_error(9047, error='Each bulk element must be {"work": {…}}')
            checked.append(state.rules.work(item["work"], creating=True))
        except OrcidApiError as error:
            checked.append(error)
    results: list[dict[str, Any]] = []
    with state.lock:
        for work in checked:
            try:
                if isinstance(work, OrcidApiError):
                    raise work
                results.append({"work": output.work(orcid, state.add_work(caller.record, work, caller.source))})
            except OrcidApiError as error:
                results.append({"error": error.body()})
    return orcid_json({"bulk": results})


# --- researcher URLs ------------------------------------------------------------------------------------------


@member_api.get("/researcher-urls")
def read_researcher_urls(orcid: str) -> Response:
    """All researcher URLs."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        body = renderer().researcher_urls(orcid, list(caller.record.researcher_urls.values()))
    return orcid_json(body)


@member_api.get("/researcher-urls/<int:put_code>")
def read_researcher_url(orcid: str, put_code: int) -> Response:
    """One researcher URL."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        item = caller.record.researcher_urls.get(put_code)
        if item is None:
            raise orcid_error(9016, detail=f"No researcher-url found with put-code {put_code}")
        body = renderer().researcher_url(orcid, item)
    return orcid_json(body)


# --- employments ----------------------------------------------------------------------------------------------


@member_api.get("/employments")
def read_employments(orcid: str) -> Response:
    """Employments as affiliation groups."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        items = [item for item in caller.record.employments.values() if is_visible_to(item, caller.token.client_id)]
        body = renderer().employments(orcid, items)
    return orcid_json(body)


@member_api.get("/employment/<int:put_code>")
def read_employment(orcid: str, put_code: int) -> Response:
    """One employment."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        body = renderer().employment(orcid, _visible_activity(caller.record.employments, put_code, caller))
    return orcid_json(body)


# --- adding, replacing and deleting: one shape for works, researcher URLs and employments -----------------------------


@dataclass(frozen=True)
class _Section:
    """A section of the record whose items a client adds (POST), and replaces (PUT) and deletes (DELETE) when it
    is their source: one shape for works, researcher URLs and employments.

    ``name`` names its parts: ``Record.<name>s``, ``OrcidRules.<name>``, ``SandboxState.add_<name>``,
    ``update_<name>`` and ``delete_<name>``, ``Renderer.<name>``, and the endpoints.
    """

    name: str
    path: str  # the item's URL, below the record
    label: str  # ORCID's word for the item in its errors
    scope: str

    def items(self, record: Record) -> dict[int, Any]:
        return cast(dict[int, Any], getattr(record, f"{self.name}s"))

    def validate(self, rules: OrcidRules, raw: Any, *, creating: bool) -> Any:
        return getattr(rules, self.name)(raw, creating=creating)

    def add(self, state: SandboxState, caller: Caller, item: Any) -> Any:
        return getattr(state, f"add_{self.name}")(caller.record, item, caller.source)

    def update(self, state: SandboxState, caller: Caller, put_code: int, item: Any) -> Any:
        return getattr(state, f"update_{self.name}")(caller.record, put_code, item, caller.source)

    def delete(self, state: SandboxState, caller: Caller, put_code: int) -> None:
        getattr(state, f"delete_{self.name}")(caller.record, put_code, caller.source)

    def render(self, output: Renderer, orcid: str, stored: Any) -> JsonObject:
        return cast(JsonObject, getattr(output, self.name)(orcid, stored))


_SECTIONS = (
    _Section("work", "/work", "work", ACTIVITIES_UPDATE),
    _Section("researcher_url", "/researcher-urls", "researcher-url", PERSON_UPDATE),
    _Section("employment", "/employment", "employment", ACTIVITIES_UPDATE),
)


def _register_writes(section: _Section) -> None:
    def create(orcid: str) -> Response:
        """Add an item: 201 with the new put-code in Location."""
        caller = _authorize(orcid, section.scope)
        state = sandbox_state()
        stored = section.add(state, caller, section.validate(state.rules, _json_body(), creating=True))
        return _created(f"{orcid}{section.path}/{stored.put_code}")

    def update(orcid: str, put_code: int) -> Response:
        """Replace an item this client is source of."""
        caller = _authorize(orcid, section.scope)
        raw = _json_body()
        _require_same_put_code(raw, put_code, caller)
        state = sandbox_state()
        with state.lock:
            state.require_source(section.items(caller.record), put_code, caller.source, section.label)
            item = section.validate(state.rules, raw, creating=False)
            stored = section.update(state, caller, put_code, item)
            body = section.render(renderer(), orcid, stored)
        return orcid_json(body)

    def delete(orcid: str, put_code: int) -> Response:
        """Delete an item this client is source of."""
        caller = _authorize(orcid, section.scope)
        section.delete(sandbox_state(), caller, put_code)
        return Response(status=204)

    rule = f"{section.path}/<int:put_code>"
    member_api.post(section.path, endpoint=f"create_{section.name}")(create)
    member_api.put(rule, endpoint=f"update_{section.name}")(update)
    member_api.delete(rule, endpoint=f"delete_{section.name}")(delete)


for _section in _SECTIONS:
    _register_writes(_section)


# --- record ---------------------------------------------------------------------------------------------------


@member_api.get("")
@member_api.get("/record")
def read_record(orcid: str) -> Response:
    """The whole record: identifier, person and activities summary."""
    caller = _authorize(orcid, READ_LIMITED)
    with sandbox_state().lock:
        body = renderer().record(caller.record, caller.token.client_id)
    return orcid_json(body)

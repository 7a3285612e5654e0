"""The provider over HTTP: OAI-PMH at ``/oai/request`` (pyoai's ``BatchingServer``) and JSON admin at ``/_provider``.

Admin endpoints (JSON in, JSON out; errors are ``400``/``404`` ``{"error": "..."}``):

- ``GET  /_provider/stats`` → ``{"requests", "by_verb", "unavailable_answered", "unavailable_pending",
  "records", "deleted", "generation", "page_size", "recent": [{"verb", "args", "status"}]}``
- ``GET  /_provider/records?offset=&limit=`` → ``{"records": [summary], "total"}``
- ``PUT  /_provider/records`` ``{"records": [record], "set_names": {spec: name}}`` → replace all (tokens expire)
- ``POST /_provider/records`` ``{"records": [record], "set_names": {...}}`` → add or overwrite those
- ``POST /_provider/fixtures`` ``{"count": 300, "seed": 18, "orcids": {"ada": iD, ...}, "replace": true}``
- ``GET  /_provider/records/<identifier>`` → the record as stored
- ``PATCH /_provider/records/<identifier>`` ``{"title": "...", ..., "datestamp": optional}`` → changed, new datestamp
- ``DELETE /_provider/records/<identifier>`` → marked deleted (persistent), new datestamp
- ``POST /_provider/unavailable`` ``{"requests": K, "retry_after": N}`` → the next K OAI requests answer
  ``503`` with ``Retry-After: N``
- ``PUT  /_provider/config`` ``{"page_size": n}``; ``POST /_provider/expire-tokens``; ``POST /_provider/reset``
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from oaipmh import error
from oaipmh.server import ServerBase
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .fixtures import fixture_records, fixture_set_names
from .records import ProviderRecord, parse_datestamp
from .store import DEFAULT_PAGE_SIZE, GenerationalResumption, RecordStore, RepositoryInfo, StoreOAI
from .writers import metadata_registry

OAI_PATH = "/oai/request"
RECENT_REQUESTS = 200

StartResponse = Callable[..., Any]


class _AdminError(Exception):
    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


class _RecordsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[ProviderRecord]
    set_names: dict[str, str] = Field(default_factory=dict)


class _FixturesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=300, ge=0, le=1_000_000)
    seed: int = 18
    orcids: dict[str, str] | None = None
    replace: bool = True


class _UnavailableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(ge=0)
    retry_after: int = Field(default=1, ge=0)


class _ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page_size: int = Field(ge=1, le=10_000)


class OaiProvider:
    """The WSGI app. ``base_url`` is set once the server is bound (Identify's ``baseURL`` and ``<request>``)."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE, info: RepositoryInfo | None = None) -> None:
        self.store = RecordStore()
        self._oai = StoreOAI(self.store, info or RepositoryInfo())
        self._resumption = GenerationalResumption(self._oai, self.store, page_size)
        self._server = ServerBase(self._resumption, metadata_registry())
        self._lock = threading.Lock()
        self._unavailable = 0
        self._retry_after = 1
        self._counts: Counter[str] = Counter()
        self._unavailable_answered = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
        self._admin_routes = Map(
            [
                Rule("/_provider/stats", methods=["GET"], endpoint="stats"),
                Rule("/_provider/records", methods=["GET", "PUT", "POST"], endpoint="records"),
                Rule("/_provider/records/<path:identifier>", methods=["GET", "PATCH", "DELETE"], endpoint="record"),
                Rule("/_provider/fixtures", methods=["POST"], endpoint="fixtures"),
                Rule("/_provider/unavailable", methods=["POST"], endpoint="unavailable"),
                Rule("/_provider/config", methods=["PUT"], endpoint="config"),
                Rule("/_provider/expire-tokens", methods=["POST"], endpoint="expire_tokens"),
                Rule("/_provider/reset", methods=["POST"], endpoint="reset"),
            ]
        )

    # --- configuration (also what in-process tests call) -------------------------------------------

    @property
    def base_url(self) -> str:
        return self._oai.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._oai.base_url = value

    @property
    def page_size(self) -> int:
        return self._resumption.batch_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        if value < 1:
            raise ValueError("page_size must be >= 1")
        self._resumption.batch_size = value

    def load_fixtures(
        self, count: int = 300, *, seed: int = 18, orcids: dict[str, str] | None = None, replace: bool = True
    ) -> int:
        """Generated records (see :mod:`.fixtures`); returns how many the store holds."""
        records = fixture_records(count, seed=seed, orcids=orcids)
        if replace:
            self.store.replace(records, fixture_set_names())
        else:
            self.store.upsert(records, fixture_set_names())
        return self.store.counts()["records"]

    def make_unavailable(self, requests: int, retry_after: int = 1) -> None:
        """The next ``requests`` OAI requests answer ``503`` with ``Retry-After: retry_after``."""
        with self._lock:
            self._unavailable = requests
            self._retry_after = retry_after

    def reset(self) -> None:
        """No records, no sets, counters at zero, available; earlier tokens expire."""
        self.store.replace([])
        with self._lock:
            self._unavailable = 0
            self._counts.clear()
            self._unavailable_answered = 0
            self._recent.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            answer: dict[str, Any] = {
                "requests": sum(self._counts.values()),
                "by_verb": dict(self._counts),
                "unavailable_answered": self._unavailable_answered,
                "unavailable_pending": self._unavailable,
                "recent": list(self._recent),
            }
        return answer | self.store.counts() | {"page_size": self.page_size}

    # --- WSGI -------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_provider/"):
            response = self._admin(request)
        elif request.path.rstrip("/") == OAI_PATH:
            response = self._oai_request(request)
        else:
            response = Response("not found: the OAI-PMH base URL is " + OAI_PATH, status=404)
        return response(environ, start_response)

    def _oai_request(self, request: Request) -> Response:
        if request.method not in {"GET", "POST"}:
            return Response("OAI-PMH takes GET or POST", status=405, headers={"Allow": "GET, POST"})
        values = request.form if request.method == "POST" else request.args
        arguments = {key: values.getlist(key) for key in values}
        verb = arguments.get("verb", ["?"])[0]
        with self._lock:
            self._counts[verb] += 1
            unavailable = self._unavailable > 0
            if unavailable:
                self._unavailable -= 1
                self._unavailable_answered += 1
            self._recent.append(
                {"verb": verb, "args": {k: v[0] for k, v in arguments.items()}, "status": 503 if unavailable else 200}
            )
            retry_after = self._retry_after
        if unavailable:
            return Response(
                "Service temporarily unavailable, please retry later",
                status=503,
                headers={"Retry-After": str(retry_after)},
                mimetype="text/plain",
            )
        repeated = sorted(key for key, items in arguments.items() if len(items) > 1)
        if repeated:
            body = self._server.handleException(
                {}, (error.BadArgumentError, error.BadArgumentError(f"Repeated argument: {', '.join(repeated)}"), None)
            )
        else:
            body = self._server.handleRequest({key: items[0] for key, items in arguments.items()})
        return Response(body, status=200, content_type="text/xml; charset=utf-8")

    # --- admin ------------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        adapter = self._admin_routes.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            handler = getattr(self, f"_admin_{endpoint}")
            status, body = handler(request, **values)
        except _AdminError as exc:
            status, body = exc.status, {"error": str(exc)} | ({"details": exc.details} if exc.details else {})
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(part) for part in item["loc"]), "why": item["msg"]} for item in exc.errors()
            ]
            status, body = 400, {"error": "invalid request body", "details": details}
        except (NotFound, MethodNotAllowed) as exc:
            status, body = exc.code or 404, {"error": exc.description}
        except HTTPException as exc:
            status, body = exc.code or 400, {"error": exc.description}
        return Response(json.dumps(body), status=status, mimetype="application/json")

    @staticmethod
    def _json(request: Request) -> Any:
        if not request.data:
            return {}
        try:
            return json.loads(request.data)
        except json.JSONDecodeError as exc:
            raise _AdminError(400, f"the body is not JSON: {exc}") from exc

    def _admin_stats(self, request: Request) -> tuple[int, Any]:
        return 200, self.stats()

    def _admin_records(self, request: Request) -> tuple[int, Any]:
        if request.method == "GET":
            try:
                offset = int(request.args.get("offset", "0"))
                limit = int(request.args.get("limit", "1000"))
            except ValueError as exc:
                raise _AdminError(400, "offset and limit must be integers") from exc
            records = self.store.snapshot()
            return 200, {"records": [r.summary() for r in records[offset : offset + limit]], "total": len(records)}
        body = _RecordsBody.model_validate(self._json(request))
        if request.method == "PUT":
            total = self.store.replace(body.records, body.set_names)
            return 200, {"records": total}
        identifiers = self.store.upsert(body.records, body.set_names)
        return 200, {"upserted": identifiers, "records": self.store.counts()["records"]}

    def _admin_record(self, request: Request, identifier: str) -> tuple[int, Any]:
        try:
            if request.method == "GET":
                record = self.store.get(identifier)
                if record is None:
                    raise KeyError(identifier)
            elif request.method == "DELETE":
                record = self.store.delete(identifier)
            else:
                fields = self._json(request)
                if not isinstance(fields, dict):
                    raise _AdminError(400, "the body must be a JSON object of the fields to change")
                stamp = fields.pop("datestamp", None)
                try:
                    datestamp = parse_datestamp(stamp) if stamp else None
                except ValueError as exc:
                    raise _AdminError(400, f"datestamp: {exc}") from exc
                try:
                    record = self.store.change(identifier, fields, datestamp)
                except ValueError as exc:
                    if isinstance(exc, ValidationError):
                        raise
                    raise _AdminError(400, str(exc)) from exc
        except KeyError as exc:
            raise _AdminError(404, f"no record {identifier!r}") from exc
        return 200, record.model_dump(mode="json")

    def _admin_fixtures(self, request: Request) -> tuple[int, Any]:
        body = _FixturesBody.model_validate(self._json(request))
        total = self.load_fixtures(body.count, seed=body.seed, orcids=body.orcids, replace=body.replace)
        return 200, {"records": total}

    def _admin_unavailable(self, request: Request) -> tuple[int, Any]:
        body = _UnavailableBody.model_validate(self._json(request))
        self.make_unavailable(body.requests, body.retry_after)
        return 200, {"unavailable_pending": body.requests, "retry_after": body.retry_after}

    def _admin_config(self, request: Request) -> tuple[int, Any]:
        body = _ConfigBody.model_validate(self._json(request))
        self.page_size = body.page_size
        return 200, {"page_size": self.page_size}

    def _admin_expire_tokens(self, request: Request) -> tuple[int, Any]:
        self.store.expire_tokens()
        return 200, {"generation": self.store.generation}

    def _admin_reset(self, request: Request) -> tuple[int, Any]:
        self.reset()
        return 200, self.stats()

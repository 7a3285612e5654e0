"""A WSGI app standing in for API Gateway HTTP APIs, its routes read from the template's OpenAPI Body.

Routes are matched with werkzeug's routing: ``GET /researchers/{id}`` becomes the rule
``/researchers/<id>`` and a greedy ``{proxy+}`` becomes ``<path:proxy>``. werkzeug tries a literal
segment before a parameter and a parameter before a greedy one, segment by segment, which is API
Gateway's precedence; a route for the request's method beats an ``ANY`` route on the same path, and
``$default`` takes what nothing else does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, PathConverter, RoutingException, Rule
from werkzeug.wrappers import Request, Response

from ..provision import ProvisionedStack
from .functions import LocalFunction
from .http_payload import (
    RouteTarget,
    api_event,
    iam_denial,
    json_response,
    read_body,
    response_from_result,
)
from .shared import GlueError, LocalCredentials, log

# OpenAPI operations of a path item (other keys, like "parameters", are not routes).
_OPENAPI_METHODS: Final = {
    "get": "GET",
    "put": "PUT",
    "post": "POST",
    "delete": "DELETE",
    "options": "OPTIONS",
    "head": "HEAD",
    "patch": "PATCH",
    "x-amazon-apigateway-any-method": "ANY",
}
_LOCAL_AUTHORIZERS: Final = frozenset({"NONE", "AWS_IAM"})
_DEFAULT_ROUTE: Final = "$default"
# werkzeug strips a path's leading slashes before matching; API Gateway takes "//x" as an empty first
# segment. Rules and paths both start with this segment, so the request's own slashes stay as they are.
_ROOT: Final = "/-"


@dataclass(frozen=True)
class HttpRoute:
    """One route of an HTTP API: ``GET /researchers/{id}`` (or ``$default``) integrated with a function."""

    method: str
    path: str
    function: LocalFunction
    iam: bool
    api_id: str
    stage: str = _DEFAULT_ROUTE

    @property
    def route_key(self) -> str:
        return _DEFAULT_ROUTE if self.path == _DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def is_stage_root(self) -> bool:
        """``/`` behind a named stage, which takes ``/<stage>`` and ``/<stage>/`` alike."""
        return self.stage != _DEFAULT_ROUTE and self.path.strip("/") == ""

    def takes_method(self, method: str) -> bool:
        return self.method in ("ANY", method)

    def stage_path(self, path: str) -> str | None:
        """``path`` as the route sees it (without its stage's prefix), None when it is another stage's."""
        if self.stage == _DEFAULT_ROUTE:
            return path
        prefix = f"/{self.stage}"
        if path != prefix and not path.startswith(prefix + "/"):
            return None
        return path[len(prefix) :] or "/"

    def werkzeug_rule(self) -> str:
        """The route's path (behind its stage) as a werkzeug rule: ``{x}`` is ``<x>``, ``{x+}`` is ``<path:x>``."""
        segments = [] if self.stage == _DEFAULT_ROUTE else [self.stage]
        for segment in self.path.strip("/").split("/") if self.path.strip("/") else []:
            greedy, single = re.fullmatch(r"\{(\w+)\+\}", segment), re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                segments.append(f"<path:{greedy.group(1)}>")
            elif single:
                segments.append(f"<{single.group(1)}>")
            elif "<" in segment or ">" in segment:
                raise GlueError(f"{self.route_key}: '<' and '>' in a route path are not supported locally")
            else:
                segments.append(segment)
        return f"{_ROOT}/" + "/".join(segments)


class _GreedyConverter(PathConverter):
    """``{proxy+}``: the rest of the path, as API Gateway takes it (empty segments included)."""

    regex = ".+"
    # werkzeug infers "one segment" from a regex without "/"; this one takes the slashes too.
    part_isolating = False


class HttpRouter:
    """Finds the route that takes a request, with a werkzeug ``Map`` per method (its routes and ANY's)."""

    def __init__(self, routes: list[HttpRoute]) -> None:
        keys = [(route.stage, route.route_key) for route in routes]
        duplicates = sorted({f"{stage} {key}" for stage, key in keys if keys.count((stage, key)) > 1})
        if duplicates:
            raise GlueError(f"routes defined more than once: {', '.join(duplicates)}")
        self.routes = routes
        self._defaults = [route for route in routes if route.path == _DEFAULT_ROUTE]
        self._maps: dict[str, Map] = {}
        for method in {route.method for route in routes} - {"ANY"}:
            self._map(method)  # built now, so that a bad route fails at start-up

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route and its path parameters (URL-decoded), or None (API Gateway's 404)."""
        adapter = self._map(method).bind("localhost")
        try:
            index, values = adapter.match(_ROOT + path)
        except (HTTPException, RoutingException):
            # Not found, or a redirect werkzeug would offer (a missing trailing slash): API Gateway has none.
            for route in self._defaults:
                if route.takes_method(method) and route.stage_path(path) is not None:
                    return route, {}
            return None
        return self.routes[index], {name: unquote(value) for name, value in values.items()}

    def _map(self, method: str) -> Map:
        if method not in self._maps:
            taking = [
                (index, route)
                for index, route in enumerate(self.routes)
                if route.takes_method(method) and route.path != _DEFAULT_ROUTE
            ]
            # A route for the method itself beats an ANY route on the same path.
            exact = {(route.stage, route.path) for _, route in taking if route.method != "ANY"}
            rules = [
                # A stage's "/" route takes "/<stage>" and "/<stage>/" alike, as API Gateway does.
                Rule(route.werkzeug_rule(), endpoint=index, strict_slashes=not route.is_stage_root)
                for index, route in taking
                if route.method != "ANY" or (route.stage, route.path) not in exact
            ]
            try:
                self._maps[method] = Map(rules, converters={"path": _GreedyConverter}, merge_slashes=False)
            except ValueError as exc:
                raise GlueError(f"a route path werkzeug cannot read: {exc}") from exc
        return self._maps[method]


class HttpApiGateway:
    """A WSGI app standing in for API Gateway HTTP APIs: payload format 2.0, AWS_IAM auth, 404/403/413."""

    def __init__(self, routes: list[HttpRoute], credentials: LocalCredentials, account_id: str) -> None:
        self.router = HttpRouter(routes)
        self._credentials = credentials
        self._account_id = account_id

    @property
    def routes(self) -> list[HttpRoute]:
        return self.router.routes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        body = read_body(request)
        found = self.router.match(request.method, request.path)
        if body is None:
            return json_response(413, {"message": "Request Entity Too Large"})
        if found is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = found
        denial = iam_denial(request, body, self._credentials) if route.iam else None
        if denial is not None:
            return denial
        access_key = self._credentials.access_key_id if route.iam else None
        target = RouteTarget(route.route_key, route.stage, route.api_id, self._account_id)
        event = api_event(request, target, path_parameters, body, access_key)
        try:
            return response_from_result(route.function.invoke(event))
        except Exception:
            log.exception(
                "%s failed on %s (or returned a response API Gateway cannot use)",
                route.function.logical_id,
                route.route_key,
            )
            return json_response(500, {"message": "Internal Server Error"})


def http_routes(stack: ProvisionedStack, functions_by_arn: Mapping[str, LocalFunction]) -> list[HttpRoute]:
    """Every route of every HTTP API, read from its OpenAPI Body as API Gateway imports it."""
    routes: list[HttpRoute] = []
    for api_logical_id, api in stack.of_type("AWS::ApiGatewayV2::Api").items():
        props = stack.properties[api_logical_id]
        body = props.get("Body")
        if not isinstance(body, Mapping):
            raise GlueError(
                f"{api_logical_id}: only HTTP APIs defined by an OpenAPI Body (as SAM's HttpApi makes them) are "
                "supported locally"
            )
        api_id = str(api.ref)
        stages = [
            str(res.ref)
            for stage_id, res in stack.of_type("AWS::ApiGatewayV2::Stage").items()
            if str(stack.properties[stage_id].get("ApiId")) == api_id
        ] or [_DEFAULT_ROUTE]
        api_security = body.get("security") or []
        for path, path_item in (body.get("paths") or {}).items():
            for key, operation in (path_item or {}).items():
                method = _OPENAPI_METHODS.get(str(key).lower())
                if method is None:
                    continue
                where = f"{api_logical_id} {method} {path}"
                function = _integrated_function(where, operation, functions_by_arn)
                security = operation.get("security", api_security) or []
                authorizers = {str(name) for requirement in security for name in requirement}
                unsupported = authorizers - _LOCAL_AUTHORIZERS
                if unsupported:
                    raise GlueError(
                        f"{where}: authorizer {', '.join(sorted(unsupported))} is not supported locally "
                        "(only AWS_IAM and NONE)"
                    )
                routes.extend(
                    HttpRoute(
                        method=method,
                        path=str(path),
                        function=function,
                        iam="AWS_IAM" in authorizers,
                        api_id=api_id,
                        stage=stage,
                    )
                    for stage in stages
                )
    return routes


def _integrated_function(
    where: str, operation: Mapping[str, Any], functions_by_arn: Mapping[str, LocalFunction]
) -> LocalFunction:
    """The function behind an operation's Lambda proxy integration (payload format 2.0)."""
    integration = operation.get("x-amazon-apigateway-integration") or {}
    if integration.get("type") != "aws_proxy":
        raise GlueError(f"{where}: only Lambda proxy integrations are supported locally")
    if str(integration.get("payloadFormatVersion", "2.0")) != "2.0":
        raise GlueError(f"{where}: only HTTP API payload format 2.0 is supported locally")
    uri = str(integration.get("uri", ""))
    # arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations, or the function's ARN
    found = re.search(r"/functions/(.+)/invocations$", uri)
    function_arn = found.group(1) if found else uri
    if function_arn not in functions_by_arn:
        raise GlueError(f"{where}: integration {uri} is not a function of this template")
    return functions_by_arn[function_arn]

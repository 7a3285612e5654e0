"""The local gateway's routing (werkzeug rules) keeps API Gateway's precedence."""

from __future__ import annotations

from typing import Any

import pytest

from orcid_sync_local.lambda_glue import GlueError, HttpRoute, HttpRouter

FUNCTION: Any = object()


def _router(*route_keys: str, stage: str = "$default") -> HttpRouter:
    routes = []
    for key in route_keys:
        method, _, path = key.partition(" ")
        routes.append(HttpRoute(method, path or "$default", FUNCTION, False, "api", stage))
    return HttpRouter(routes)


def _matched(router: HttpRouter, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = router.match(method, path)
    return None if found is None else (found[0].route_key, found[1])


def test_route_paths_become_werkzeug_rules() -> None:
    assert HttpRoute("GET", "/researchers/{id}", FUNCTION, False, "api").werkzeug_rule() == "/-/researchers/<id>"
    assert HttpRoute("ANY", "/files/{proxy+}", FUNCTION, False, "api").werkzeug_rule() == "/-/files/<path:proxy>"
    assert HttpRoute("GET", "/x", FUNCTION, False, "api", "prod").werkzeug_rule() == "/-/prod/x"


def test_a_static_route_beats_a_parameterised_one_whatever_the_order() -> None:
    for keys in (("GET /researchers/{id}", "GET /researchers/me"), ("GET /researchers/me", "GET /researchers/{id}")):
        router = _router(*keys)
        assert _matched(router, "GET", "/researchers/me") == ("GET /researchers/me", {})
        assert _matched(router, "GET", "/researchers/42") == ("GET /researchers/{id}", {"id": "42"})


def test_a_parameter_beats_a_greedy_proxy_and_literal_segments_count_first() -> None:
    router = _router("ANY /files/{proxy+}", "GET /files/{id}", "GET /{x}/meta", "ANY /files/{id}/meta")
    assert _matched(router, "GET", "/files/a") == ("GET /files/{id}", {"id": "a"})
    assert _matched(router, "GET", "/files/a/b/c") == ("ANY /files/{proxy+}", {"proxy": "a/b/c"})
    assert _matched(router, "GET", "/files/meta") == ("GET /files/{id}", {"id": "meta"})
    assert _matched(router, "POST", "/files/a/meta") == ("ANY /files/{id}/meta", {"id": "a"})
    assert _matched(router, "GET", "/other/meta") == ("GET /{x}/meta", {"x": "other"})


def test_a_method_beats_any_on_the_same_path_and_head_is_not_get() -> None:
    router = _router("ANY /researchers/{id}", "GET /researchers/{id}")
    assert _matched(router, "GET", "/researchers/1") == ("GET /researchers/{id}", {"id": "1"})
    assert _matched(router, "DELETE", "/researchers/1") == ("ANY /researchers/{id}", {"id": "1"})
    assert _matched(_router("GET /researchers"), "HEAD", "/researchers") is None


def test_default_route_takes_the_rest_and_slashes_are_taken_literally() -> None:
    router = _router("GET /researchers", "ANY $default")
    assert _matched(router, "GET", "/researchers") == ("GET /researchers", {})
    assert _matched(router, "GET", "/researchers/") == ("$default", {})
    assert _matched(router, "GET", "//researchers") == ("$default", {})
    assert _matched(_router("GET /researchers"), "GET", "/nowhere") is None


def test_parameters_are_url_decoded_and_a_greedy_proxy_keeps_empty_segments() -> None:
    router = _router("GET /researchers/{id}", "ANY /files/{proxy+}")
    assert _matched(router, "GET", "/researchers/%41") == ("GET /researchers/{id}", {"id": "A"})
    assert _matched(router, "GET", "/files//x/") == ("ANY /files/{proxy+}", {"proxy": "/x/"})


def test_named_stages_prefix_their_routes() -> None:
    router = _router("GET /", "GET /researchers", stage="prod")
    assert _matched(router, "GET", "/prod") == ("GET /", {})
    assert _matched(router, "GET", "/prod/") == ("GET /", {})
    assert _matched(router, "GET", "/prod/researchers") == ("GET /researchers", {})
    assert _matched(router, "GET", "/researchers") is None


def test_duplicate_routes_are_refused() -> None:
    with pytest.raises(GlueError, match="more than once"):
        _router("GET /researchers", "GET /researchers")

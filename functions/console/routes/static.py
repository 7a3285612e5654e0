"""``/console/static/*``: the console's stylesheet and its vendored htmx, served by the function (no CDN)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

if __package__ != "routes":
    from .. import web
else:  # on Lambda this function's directory is the zip root
    import web  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The only files served, with their types: nothing else in the directory (the manifest) is reachable.
FILES = {"console.css": "text/css; charset=utf-8", "htmx.min.js": "text/javascript; charset=utf-8"}
# Static files change only with a deployment; an hour in the browser's cache spares every page view two requests.
CACHE_CONTROL = "private, max-age=3600"


@lru_cache(maxsize=len(FILES))
def _read(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


@router.get(f"{web.STATIC_PATH}/<name>")
def static_file(name: str) -> Response[str]:
    if name not in FILES:
        return web.problem(router.current_event, None, 404, web.text(router.current_event, "problem_404"))
    return Response(
        status_code=200,
        content_type=FILES[name],
        body=_read(name),
        headers={**web.security_headers(), "Cache-Control": CACHE_CONTROL},
    )

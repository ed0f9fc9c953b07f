"""Static responses for the widget and the demo page (``process_request`` answers)."""

from __future__ import annotations

import http
from functools import cache
from importlib import resources

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

__all__ = ["WEB_PATHS", "demo_csp", "web_response"]

_WIDGET = {
    "/widget.js": ("widget.js", "text/javascript; charset=utf-8"),
    "/widget.css": ("widget.css", "text/css; charset=utf-8"),
}
_DEMO = {
    "/demo": ("demo.html", "text/html; charset=utf-8"),
    "/demo/": ("demo.html", "text/html; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
}
WEB_PATHS = frozenset(_WIDGET) | frozenset(_DEMO)
"""Every path this module may answer (the demo's only with ``demo_page`` on)."""


def demo_csp() -> str:
    """The demo page's Content-Security-Policy: scripts, styles and images from this
    server only (no inline script or style, no ``eval``), websockets to this server only
    (``'self'`` covers ``ws:``/``wss:`` of the same host and port, CSP Level 3), no
    plugins, frames, forms posting elsewhere or ``<base>``."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


@cache
def _asset(name: str) -> str:
    return resources.files("handoff_server.web").joinpath("static", name).read_text("utf-8")


def web_response(connection: ServerConnection, path: str, *, demo_page: bool) -> Response | None:
    """The response for ``path`` if it is the widget's (``/widget.js``, ``/widget.css``)
    or, when ``demo_page``, the demo page's (``/demo``, ``/demo.css``); ``None`` for any
    other path (the gateway goes on with it).

    The widget's files may be loaded from any site (``Cross-Origin-Resource-Policy:
    cross-origin``) and are revalidated on each load (``Cache-Control: no-cache``), so a
    new server version reaches visitors at once. The demo page carries :func:`demo_csp`.
    """
    target = _WIDGET.get(path) or (_DEMO.get(path) if demo_page else None)
    if target is None:
        return None
    name, content_type = target
    resp = connection.respond(http.HTTPStatus.OK, _asset(name))
    del resp.headers["Content-Type"]
    resp.headers["Content-Type"] = content_type
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if path in _WIDGET:
        resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    else:
        resp.headers["Content-Security-Policy"] = demo_csp()
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
    return resp

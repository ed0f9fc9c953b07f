"""The web widget's files and the demo page over the gateway's port (issue 15): served
with their content types, the demo page only when ``demo_page`` is on and with its
Content-Security-Policy; the widget's script never writes HTML from strings."""

from __future__ import annotations

import re
from importlib import resources

import httpx

from handoff_server.client import connect_visitor
from handoff_server.protocol import SWelcome, VStart


async def _get(srv, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://127.0.0.1:{srv.port}{path}")


async def test_the_widget_is_served_to_any_site_and_the_demo_page_only_when_on(server_factory):
    srv = await server_factory()
    script = await _get(srv, "/widget.js")
    assert script.status_code == 200
    assert script.headers.get_list("content-type") == ["text/javascript; charset=utf-8"]
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "/v1/visitor" in script.text
    css = await _get(srv, "/widget.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await _get(srv, "/demo")).status_code == 404
    assert (await _get(srv, "/widget.jsx")).status_code == 404


async def test_the_demo_page_carries_a_content_security_policy(server_factory):
    srv = await server_factory(server={"demo_page": True})
    page = await _get(srv, "/demo")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = dict(part.split(" ", 1) for part in page.headers["content-security-policy"].split("; "))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert '<script src="/widget.js"' in page.text
    assert "<style" not in page.text and " style=" not in page.text  # nothing inline to allow
    assert (await _get(srv, "/demo.css")).status_code == 200
    # The websocket paths still work next to the pages.
    conn = await connect_visitor(srv.url)
    await conn.send(VStart(type="start"))
    assert isinstance(await conn.recv(timeout=10), SWelcome)
    await conn.close()


def test_the_widget_script_builds_nodes_and_never_parses_html():
    source = resources.files("handoff_server.web").joinpath("static", "widget.js").read_text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in code, sink
    assert "new Function" not in code and "DOMParser" not in code
    assert "textContent" in code

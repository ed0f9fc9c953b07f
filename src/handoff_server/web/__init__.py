"""The web chat widget and its demo page, served over the gateway's port.

``GET /widget.js`` and ``GET /widget.css`` are the embeddable widget (plain JavaScript,
no build step; see ``docs/widget.md``); ``GET /demo`` (with ``/demo.css``) is a fictional
site embedding it, served only when ``server.demo_page`` is on (``handoff serve
--demo-page``), with a Content-Security-Policy header. The files are package data under
``static/``.
"""

from handoff_server.web.assets import WEB_PATHS, demo_csp, web_response

__all__ = ["WEB_PATHS", "demo_csp", "web_response"]

"""The one place a server URL typed by a person becomes the websocket base URL that the
clients open (``--server``, ``HANDOFF_SERVER_URL``, ``[client] server_url``).

Accepted forms: ``ws://host:port`` and ``wss://…`` as they are; ``http://`` and
``https://`` (mapped to ``ws://`` and ``wss://``); a bare ``host:port`` or ``host``
(``ws://`` is assumed). A path (a reverse proxy's prefix) is kept; a trailing ``/`` is
dropped. Anything else (another scheme, no host, a bad port, a query or fragment) raises
:class:`InvalidServerURL`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["InvalidServerURL", "http_base_url", "normalize_server_url"]

_TO_WS = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_TO_HTTP = {"ws": "http", "wss": "https"}


class InvalidServerURL(ValueError):
    """A string that cannot name a handoff server; ``str(exc)`` says why (no input echo
    beyond the URL itself)."""


def normalize_server_url(url: str) -> str:
    """``url`` as ``ws[s]://host[:port][/path]`` (no trailing slash).

    Raises :class:`InvalidServerURL` for an empty value, a scheme other than ws, wss,
    http or https, a missing host, a port that is not a number in 1-65535, or a query
    or fragment (the clients append ``/v1/...`` to the base URL).
    """
    text = url.strip()
    if not text:
        raise InvalidServerURL("the server URL is empty (e.g. ws://127.0.0.1:8765)")
    if "://" not in text:
        text = "ws://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidServerURL(f"{url!r} is not a server URL: {exc}") from None
    scheme = _TO_WS.get(parts.scheme.lower())
    if scheme is None:
        raise InvalidServerURL(
            f"{url!r} is not a server URL: the scheme must be ws, wss, http or https"
            " (or none: host:port means ws://host:port)"
        )
    if not parts.hostname:
        raise InvalidServerURL(f"{url!r} is not a server URL: it names no host")
    if port == 0:
        raise InvalidServerURL(f"{url!r} is not a server URL: port 0 is not a server's port")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InvalidServerURL(f"{url!r} is not a server URL: it has a query or fragment")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def http_base_url(url: str) -> str:
    """The HTTP base URL of the server at ``url`` (any form :func:`normalize_server_url`
    accepts): ``ws`` becomes ``http``, ``wss`` ``https``. Raises :class:`InvalidServerURL`."""
    base = normalize_server_url(url)
    scheme, rest = base.split("://", 1)
    return f"{_TO_HTTP[scheme]}://{rest}"

"""The one normalization of server URLs (``handoff_server.server_url``)."""

from __future__ import annotations

import pytest

from handoff_server.server_url import InvalidServerURL, http_base_url, normalize_server_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:8765", "ws://localhost:8765"),
        ("127.0.0.1", "ws://127.0.0.1"),
        ("http://h:1/", "ws://h:1"),
        ("HTTPS://h/prefix/", "wss://h/prefix"),
        ("wss://[::1]:9", "wss://[::1]:9"),
    ],
)
def test_normalized_forms(given, expected):
    assert normalize_server_url(given) == expected
    assert http_base_url(given) == expected.replace("ws", "http", 1)


@pytest.mark.parametrize("given", ["", "ftp://h", "ws://", "h:0", "h:70000", "ws://h/?q=1", "::1"])
def test_refused_forms(given):
    with pytest.raises(InvalidServerURL):
        normalize_server_url(given)

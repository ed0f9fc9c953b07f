"""permessage-deflate (RFC 7692) for the WebSocket server, sized for idle connections.

Browsers always offer permessage-deflate. With websockets' default settings the server
keeps a zlib compressor (``window_bits`` 12, ``memLevel`` 5) and a decompressor per
connection for its whole life, "context takeover": about 40 KiB of an idle connection's
68 KiB. Here both sides are asked for *no context takeover* instead: each message is
compressed and decompressed on its own, the zlib state exists only while one message is
being encoded or decoded, and an idle connection holds none. Frames are JSON of a few
KiB at most, which still compress on their own (about 2–3× for an AI answer); what is
lost is the dictionary shared across messages, worth little on a chat's traffic. The
price is a zlib set-up per compressed message (microseconds).
"""

from __future__ import annotations

from websockets.extensions import ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

__all__ = ["server_extensions"]


def server_extensions() -> list[ServerExtensionFactory]:
    """The server's WebSocket extensions: permessage-deflate without context takeover in
    either direction (a client not offering it gets plain frames)."""
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ]

"""permessage-deflate (RFC 7692) for the WebSocket server, sized for idle connections.

Browsers always offer permessage-deflate. With websockets' default settings the server
keeps a zlib compressor (``window_bits`` 12, ``memLevel`` 5) and a decompressor per
connection for its whole life, "context takeover": about 40 KiB of an idle connection's
68 KiB. Here both sides are asked for *no context takeover* instead: each message is
compressed and decompressed on its own, the zlib state exists only while one message is
being encoded or decoded, and an idle connection holds none. Frames are JSON of a few
KiB at most, which still compress on their own (about 2–3× for an AI answer); what is
lost is the dictionary shared across messages, worth little on a chat's traffic. The
price is a zlib set-up per compressed message (about 10 µs).

Small messages go uncompressed (RFC 7692 lets an endpoint send any message without
compression: the first frame's RSV1 bit says which): under :data:`MIN_COMPRESSED_BYTES`
(an ``ack``, a typing frame, a short message's event) deflate saves a few dozen bytes at
the cost of that set-up, two of a turn's three frames to a visitor.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.extensions import Extension, ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

__all__ = ["MIN_COMPRESSED_BYTES", "server_extensions"]

MIN_COMPRESSED_BYTES = 512
"""Messages (bytes of their payload) below this size are sent uncompressed."""


class _SmallPlain(PerMessageDeflate):
    """permessage-deflate that sends a whole message under :data:`MIN_COMPRESSED_BYTES`
    in one frame as it is (RSV1 clear); any other frame is compressed as usual."""

    def encode(self, frame: Frame) -> Frame:
        """The frame to send: as it is when small, else compressed."""
        if (
            frame.fin
            and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
            and len(frame.data) < MIN_COMPRESSED_BYTES
        ):
            return frame
        return super().encode(frame)


class _Factory(ServerPerMessageDeflateFactory):
    """The negotiation of :class:`ServerPerMessageDeflateFactory`, giving
    :class:`_SmallPlain` extensions."""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """As websockets' factory does; raises what it raises for unusable offers."""
        response, ext = super().process_request_params(params, accepted_extensions)
        return response, _SmallPlain(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )


def server_extensions() -> list[ServerExtensionFactory]:
    """The server's WebSocket extensions: permessage-deflate without context takeover in
    either direction, small messages uncompressed (a client not offering it gets plain
    frames)."""
    return [
        _Factory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ]

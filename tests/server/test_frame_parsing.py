"""The frame parser (:mod:`handoff_server.frames`) on text and on bytes: one strict JSON
decoder, built once, reads a client's frames as ``json.loads`` would (bytes in any of
JSON's encodings) and refuses the non-JSON numbers in both forms."""

from __future__ import annotations

import pytest

from handoff_server.errors import ProtocolError
from handoff_server.frames import parse_visitor_frame
from handoff_server.protocol import VMessage

MESSAGE = '{"type": "message", "client_msg_id": "m1", "text": "how do I reset my password"}'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_a_frame_in_bytes_reads_as_its_text(encoding):
    as_text = parse_visitor_frame(MESSAGE)
    as_bytes = parse_visitor_frame(MESSAGE.encode(encoding))
    assert isinstance(as_bytes, VMessage)
    assert as_bytes == as_text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_non_json_numbers_are_refused_as_text_and_as_bytes(constant, as_bytes):
    raw = '{"type": "typing", "active": ' + constant + "}"
    with pytest.raises(ProtocolError) as caught:
        parse_visitor_frame(raw.encode() if as_bytes else raw)
    assert caught.value.code == "invalid_json"
    assert constant.lstrip("-") in str(caught.value)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00", b'{"type": "message", "text": "\xc3"}'])
def test_bytes_that_are_no_text_are_invalid_json(raw):
    with pytest.raises(ProtocolError) as caught:
        parse_visitor_frame(raw)
    assert caught.value.code == "invalid_json"


def test_the_decoder_is_reused_across_frames_and_keeps_no_state():
    # A refused frame leaves nothing behind for the next one.
    with pytest.raises(ProtocolError):
        parse_visitor_frame('{"type": "typing", "active": NaN}')
    assert parse_visitor_frame(MESSAGE) == parse_visitor_frame(MESSAGE.encode())

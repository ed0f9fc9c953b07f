"""Issue 8, kind 3: text with no visible character is ``empty_message`` for every text a
client sends, through a real server: nothing stored, nothing sent to the AI, no turn.

Visible means a letter, number, punctuation or symbol that draws something; combining
marks without a visible base, private-use and unassigned code points and known blanks
draw nothing (the newcomer's second pass found those accepted)."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AHandback,
    ANote,
    AOpen,
    ARelease,
    AReply,
    AResolve,
    SConversation,
    SError,
    VMessage,
    VRequestHuman,
)
from tests.conftest import create_token
from tests.helpers import RecordingAnswerer, agent, events, say, start_visitor, wait_ack

INVISIBLE = [
    "\u200b",  # ZERO WIDTH SPACE (the inputs)
    "\u2060",  # WORD JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u200d",  # ZERO WIDTH JOINER
    " \u200b\u2060 \n\t\ufeff\u200d ",  # mixed with ordinary whitespace
    "\u202e\u2066\u2069",  # bidirectional controls (Cf)
    "\u00ad",  # SOFT HYPHEN (Cf)
    "\u3164\u115f",  # Hangul fillers: letters that draw nothing (default-ignorable)
    "\ufe0f\u034f",  # a variation selector and the combining grapheme joiner alone
    "\U000e0041\U000e007f",  # tag characters
    "\u2800",  # BRAILLE PATTERN BLANK
    "\x07\x1b",  # control characters
    "\u3000\u00a0\u2028",  # ideographic space, no-break space, line separator
    # The second pass: marks with no base, blanks, unassigned and private-use code points.
    "\u0300",  # COMBINING GRAVE ACCENT alone
    "\u0301\u0301",  # two combining marks, no base
    "\u034f\u0301",  # a combining mark on the (invisible) grapheme joiner
    "\u2800\u0301",  # a combining mark on a blank
    "\ud7ff",  # unassigned (Cn)
    "\ue000",  # private use (Co)
    "\U000f0000",  # supplementary private use (Co)
    "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD: a symbol that draws nothing
]

VISIBLE = [
    "a",
    "👍",
    "👨\u200d👩\u200d👧",  # emoji joined by ZWJ
    "👍🏽",  # emoji with a skin tone
    "\u200bhello\u2060",
    "é",
    "e\u0301",  # a combining mark on a visible base
    "你好",
    "مرحبا",  # right-to-left
    "\U0001fae8",
    "1\ufe0f\u20e3",  # keycap sequence
    "?",
]

_UNASSIGNED = regex.compile(r"\p{Cn}")
_invisible_piece = st.one_of(
    st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Mn", "Mc", "Me"]),
    st.characters(categories=["Cn"]).filter(lambda c: _UNASSIGNED.fullmatch(c) is not None),
    st.sampled_from("\u2800\u115f\u1160\u3164\uffa0\U0001d159\u034f\ufe0f\U000e0041"),
)
_HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"
_letter = st.characters(categories=["L"]).filter(lambda c: c not in _HANGUL_FILLERS)


async def _stored(server, cid):
    return await server.store.call(server.store.store.events_after, cid, 0)


async def _conv(server, cid):
    return await server.store.call(server.store.store.get_conversation, cid)


async def _refused(conn, cmid: str) -> SError:
    frames = await wait_ack(conn, cmid)
    err = frames[-1]
    assert isinstance(err, SError), frames
    assert err.code == "empty_message", err
    return err


@pytest.mark.parametrize("text", VISIBLE)
def test_visible_text_is_visible(text):
    from handoff_server.protocol import has_visible_text

    assert has_visible_text(text)


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_text_is_not(text):
    from handoff_server.protocol import has_visible_text

    assert not has_visible_text(text)


@given(st.lists(_invisible_piece, max_size=12).map("".join))
def test_only_invisible_pieces_is_never_visible(text):
    """Whitespace, controls, format, private-use, unassigned, marks and blanks, in any
    order and number, add up to nothing visible."""
    from handoff_server.protocol import has_visible_text

    assert not has_visible_text(text)


@given(
    st.lists(_invisible_piece, max_size=6).map("".join),
    _letter,
    st.lists(_invisible_piece, max_size=6).map("".join),
)
def test_one_visible_letter_among_invisible_pieces_is_visible(before, letter, after):
    from handoff_server.protocol import has_visible_text

    assert has_visible_text(before + letter + after)


async def test_invisible_visitor_messages_are_refused_and_change_nothing(
    server_factory, demo_answerer
):
    counting = RecordingAnswerer(demo_answerer)
    server = await server_factory(answerer=counting)
    conn, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    before = await _stored(server, cid)
    for text in INVISIBLE:
        cmid = new_client_msg_id()
        await conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
        await _refused(conn, cmid)
        cmid = new_client_msg_id()
        await conn.send(VRequestHuman(type="request_human", client_msg_id=cmid, text=text))
        await _refused(conn, cmid)
    assert await _stored(server, cid) == before
    conv = await _conv(server, cid)
    assert conv.status == "ai" and conv.first_question is None and conv.last_seq == 1
    assert counting.questions == []
    # The first real message is the conversation's first turn and first question.
    frames = await say(conn, "how do I reset my password")
    assert events(frames, "ai_message")
    assert counting.questions == ["how do I reset my password"]
    assert (await _conv(server, cid)).first_question == "how do I reset my password"
    kinds = [e.kind for e in await _stored(server, cid)]
    assert kinds == ["conversation_started", "visitor_message", "ai_message"]
    await conn.close()


async def test_visible_text_with_format_characters_is_accepted(server):
    conn, welcome = await start_visitor(server.url)
    for text in VISIBLE:
        frames = await say(conn, text, ai_expected=False)
        assert not [f for f in frames if isinstance(f, SError)], frames
    stored = [
        e.data["text"]
        for e in await _stored(server, welcome.conversation_id)
        if e.kind == "visitor_message"
    ]
    assert stored == VISIBLE
    await conn.close()


async def test_invisible_agent_texts_are_refused_and_change_nothing(server):
    visitor, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(visitor, "I want to talk to a person")
    sam = await agent(server.url, await create_token(server, "Sam"))
    claim = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    await wait_ack(sam, claim)
    before = await _stored(server, cid)
    for text in ("\u200b", "\u2060 \ufeff", "\u200d\n", "\u0301", "\ue000", "\U0001d159"):
        for frame_type, kind in (
            (AReply, "reply"),
            (ANote, "note"),
            (AResolve, "resolve"),
            (ARelease, "release"),
            (AHandback, "handback"),
        ):
            cmid = new_client_msg_id()
            await sam.send(
                frame_type(type=kind, conversation_id=cid, client_msg_id=cmid, text=text)
            )
            await _refused(sam, cmid)
    assert await _stored(server, cid) == before
    assert (await _conv(server, cid)).status == "assigned"
    # Nothing reached the packet either.
    await sam.send(AOpen(type="open", conversation_id=cid, subscribe=False))
    packet = (await sam.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    assert [e.kind for e in packet.transcript] == [e.kind for e in before]
    await sam.close()
    await visitor.close()

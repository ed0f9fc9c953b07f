"""Issue 8, kind 2: the KB draft an agent inserts into a reply (ctrl+g) is plain text the
visitor reads well, made from the KB's Markdown by one server function."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff_server.kb import load_kb
from handoff_server.protocol import AOpen, SConversation
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor

CASES = [
    ("# Reset your password\n\nGo to **Account**.", "Reset your password\n\nGo to Account."),
    ("Some *em*, _em_, __strong__ and ~~old~~ text", "Some em, em, strong and old text"),
    ("See [the guide](https://x.example/a?b=1).", "See the guide (https://x.example/a?b=1)."),
    (
        "Mail <support@x.example> or <https://x.example>",
        "Mail support@x.example or https://x.example",
    ),
    ("- one\n- **two**\n  - nested\n* three", "- one\n- two\n  - nested\n\n- three"),
    ("1. first\n2. second\n\n   more", "1. first\n2. second\n   more"),
    ("Run `dig +short NS x.example` now", "Run dig +short NS x.example now"),
    ("```\nmy *literal* [code](x)\n```", "my *literal* [code](x)"),
    ("A\\*b\\* &amp; c", "A*b* & c"),
    ("my error log says [/var/log/nginx] is full", "my error log says [/var/log/nginx] is full"),
    ("| a | b |\n|---|---|\n| 1 | **2** |", "a | b\n1 | 2"),
    ("one\ntwo  \nthree", "one two\nthree"),
    ("![logo](https://x.example/l.png)", "logo (https://x.example/l.png)"),
    ("above\n\n---\n\nbelow", "above\n\nbelow"),
    ("", ""),
]


@pytest.mark.parametrize(("markdown", "text"), CASES)
def test_markdown_to_text(markdown, text):
    from handoff_server.kb.plaintext import markdown_to_text

    assert markdown_to_text(markdown) == text


def test_every_demo_kb_answer_loses_its_markdown_syntax():
    from handoff_server.kb.plaintext import markdown_to_text

    for entry in load_kb(None).entries:
        text = markdown_to_text(entry.answer)
        assert text, entry.id
        for syntax in ("**", "](", "`", "\n#", "\n* "):
            assert syntax not in text, (entry.id, syntax, text)


@given(st.text())
def test_any_string_converts_without_error(markdown):
    from handoff_server.kb.plaintext import markdown_to_text

    assert isinstance(markdown_to_text(markdown), str)


async def test_the_draft_an_agent_receives_is_plain_text(server):
    visitor, welcome = await start_visitor(server.url)
    (esc,) = events(await say(visitor, "cancel my account"), "escalated")
    sam = await agent(server.url, await create_token(server, "Sam"))
    await sam.send(AOpen(type="open", conversation_id=welcome.conversation_id))
    packet = (await sam.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    (escalated,) = [e for e in packet.transcript if e.kind == "escalated"]
    draft = escalated.data.draft.text
    assert draft.startswith("Cancel a single service: Billing → Services → the service → Cancel.")
    assert "**" not in draft and "\n1. Download a backup" in draft
    from handoff_server.kb.plaintext import markdown_to_text

    entry = next(e for e in load_kb(None).entries if e.id == "account-close")
    assert draft == markdown_to_text(entry.answer)
    await sam.close()
    await visitor.close()

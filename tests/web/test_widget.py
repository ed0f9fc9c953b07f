"""The web chat widget (issue 15) in headless Chromium against a real ``handoff serve``.

One server per module (a subprocess on a fixed free port, so it can be killed and
started again where the widget reconnects), one agent (a protocol test client on its own
event loop), a fresh browser context per test. The server's allow-list holds the demo
page's origin only; its KB is the demo KB plus one entry whose answer carries markup.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.config import StoreSettings
from handoff_server.protocol import (
    AClaim,
    AOpen,
    APresence,
    AReply,
    ATyping,
    HandoffPacket,
    SConversation,
    SStaff,
    STyping,
)
from handoff_server.store import AgentRecord, hash_token, open_store, utcnow
from tests.helpers import online_agent, wait_ack
from tests.web.conftest import chromium_path

PAYLOAD = "<img src=x onerror=alert(1)>"
KB_MARKUP_ENTRY = f"""---
id: chat-markup
title: How the chat shows code and tags
category: account
questions:
  - does the chat window show html tags as text
  - how does the chat show an image tag
---
The chat shows **tags as text**: {PAYLOAD} stays as you see it, and so does `<b>bold</b>`.
See [our status page](https://status.brambleport.example/) or [this](javascript:alert(3)).
"""
SCREENS = os.environ.get("HANDOFF_WEB_SCREENS")
"""Read at import: the suite's autouse fixture hides ``HANDOFF_*`` variables from tests."""
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}


def _handoff(*args: str) -> list[str]:
    return [sys.executable, "-m", "handoff_cli", *args]


@dataclass
class Site:
    """``handoff serve --demo-page`` on ``port``: started, killed (SIGKILL) and started
    again on the same port and data dir."""

    port: int
    data_dir: Path
    config: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server; its output goes to ``server.log`` in the data dir's parent (a
        file, not a pipe nobody reads, which would stall a chatty server)."""
        args = ["serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--config", str(self.config), "--demo-page", "--log-level", "WARNING"]
        log = self.data_dir.parent / "server.log"
        with log.open("a", encoding="utf-8") as out:
            start = out.tell()
            self.proc = subprocess.Popen(
                _handoff(*args), stdout=out, stderr=subprocess.STDOUT, text=True, env=_env()
            )
        deadline = time.monotonic() + 120
        while "demo page on" not in log.read_text(encoding="utf-8")[start:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.read_text()[start:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


class AgentDesk:
    """Agent "Sam" (a protocol test client) on an event loop thread of its own, so the
    synchronous browser tests can act as the agent."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn: Connection | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self) -> None:
        self.conn = self.run(online_agent(self.url, self.token))

    def presence(self, status: str) -> None:
        async def go(conn: Connection) -> None:
            await conn.send(APresence(type="presence", status=status))
            await conn.recv_until(lambda f: isinstance(f, SStaff))

        self.run(go(self._conn()))

    def claim(self, conversation_id: str) -> None:
        cmid = new_client_msg_id()
        frame = AClaim(type="claim", conversation_id=conversation_id, client_msg_id=cmid)
        self.run(self._acked(frame, cmid))

    def reply(self, conversation_id: str, text: str) -> None:
        cmid = new_client_msg_id()
        frame = AReply(type="reply", conversation_id=conversation_id, client_msg_id=cmid, text=text)
        self.run(self._acked(frame, cmid))

    def typing(self, conversation_id: str) -> None:
        frame = ATyping(type="typing", conversation_id=conversation_id, active=True)
        self.run(self._conn().send(frame))

    def watch_typing(self, conversation_id: str, write: Callable[[], None]) -> STyping:
        """Open the conversation live, run ``write`` (the visitor types), and return the
        visitor's ``typing`` frame the agent gets."""

        async def opened(conn: Connection) -> None:
            await conn.send(
                AOpen(type="open", conversation_id=conversation_id, last_seq=0, subscribe=True)
            )
            await conn.recv_until(lambda f: isinstance(f, SConversation))

        async def typing(conn: Connection) -> STyping:
            frames = await conn.recv_until(lambda f: isinstance(f, STyping) and f.active)
            return cast(STyping, frames[-1])

        self.run(opened(self._conn()))
        write()
        return self.run(typing(self._conn()))

    def packet(self, conversation_id: str) -> HandoffPacket:
        async def go(conn: Connection) -> HandoffPacket:
            await conn.send(
                AOpen(type="open", conversation_id=conversation_id, last_seq=0, subscribe=False)
            )
            frames = await conn.recv_until(lambda f: isinstance(f, SConversation))
            return frames[-1].packet

        return self.run(go(self._conn()))

    async def _acked(self, frame: Any, cmid: str) -> None:
        conn = self._conn()
        await conn.send(frame)
        last = (await wait_ack(conn, cmid))[-1]
        assert last.type == "ack", last

    def _conn(self) -> Connection:
        assert self.conn is not None
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.run(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    kb = root / "kb"
    demo = importlib.resources.files("handoff_server.kb").joinpath("demo")
    shutil.copytree(str(demo), kb)
    (kb / "chat-markup.md").write_text(KB_MARKUP_ENTRY, encoding="utf-8")
    port = _free_port()
    config = root / "handoff.toml"
    config.write_text(
        f'[server]\nallowed_origins = ["http://127.0.0.1:{port}"]\n[ai]\nkb = "{kb}"\n'
        # The team's mail system for offline messages' answers (without one they are
        # not offered): a closed port here.
        + "[[webhooks.endpoints]]\n"
        + 'url = "http://127.0.0.1:9/offline-replies"\n'
        + 'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
        + 'allow_private = true\nevents = ["offline_message.replied"]\n',
        encoding="utf-8",
    )
    srv = Site(port, root / "data", config)
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.kill()


@pytest.fixture(scope="module")
def desk(site: Site) -> Iterator[AgentDesk]:
    token = "hnd_test_" + uuid.uuid4().hex
    store = open_store(StoreSettings(data_dir=site.data_dir))
    try:
        record = AgentRecord(
            id="agt_sam",
            name="Sam",
            role="agent",
            token_hash=hash_token(token),
            created_at=utcnow(),
        )
        store.create_agent(record)
    finally:
        store.close()
    agent = AgentDesk(site.ws, token)
    agent.connect()
    yield agent
    agent.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable)
        yield chromium
        chromium.close()


@dataclass
class Visitor:
    """A browser tab on the demo page, with every dialog it opened."""

    page: Any
    dialogs: list[str] = field(default_factory=list)

    def shoot(self, name: str, *, whole: bool = False) -> None:
        """Save a screenshot as ``$HANDOFF_WEB_SCREENS/NAME.png`` when that is set: the
        right half of the page, where the widget is, unless ``whole``."""
        if SCREENS:
            clip = None if whole else {"x": 500, "y": 0, "width": 600, "height": 760}
            self.page.screenshot(path=str(Path(SCREENS) / f"{name}.png"), clip=clip)

    def open_chat(self, name: str = "Ada Lovelace", email: str = "ada@example.com") -> None:
        self.page.get_by_role("button", name="Brambleport support").click()
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_label("Your email").fill(email)
        self.page.get_by_role("button", name="Start chat").click()

    def say(self, text: str) -> None:
        self.page.get_by_label("Your message", exact=True).fill(text)
        self.page.keyboard.press("Enter")

    def lines(self) -> list[str]:
        return [
            " ".join(t.split()) for t in self.page.locator(".hw-log .hw-line").all_inner_texts()
        ]

    def wait_line(self, selector: str, text: str, timeout: float = 20) -> None:
        self.page.locator(f".hw-log {selector}", has_text=text).first.wait_for(
            timeout=timeout * 1000
        )

    def conversation_id(self) -> str:
        saved = self.page.evaluate(
            "Object.entries(localStorage).find(([k]) => k.startsWith('handoff-widget:'))[1]"
        )
        return str(json.loads(saved)["conversation_id"])


@pytest.fixture
def visitor(browser: Any, site: Site) -> Iterator[Visitor]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    seen = Visitor(page)

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{site.http}/demo")
    yield seen
    context.close()


def _focused(page: Any) -> str:
    """The name of the element focused inside the widget's shadow root."""
    return str(
        page.evaluate(
            "document.getElementById('handoff-widget').shadowRoot.activeElement?.name || ''"
        )
    )


def test_kb_question_is_answered_in_markdown_and_the_visitor_is_known(visitor, desk, site):
    page = visitor.page
    visitor.shoot("01-launcher", whole=True)
    for _ in range(10):  # the launcher is reachable with Tab
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "handoff-widget":
            break
    assert _focused(page) == "launcher"
    page.keyboard.press("Enter")
    assert _focused(page) == "name"  # focus moved into the panel
    assert page.get_by_role("log", name="Conversation").get_attribute("aria-live") == "polite"
    visitor.shoot("02-prechat")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Your email").fill("ada@example.com")
    page.keyboard.press("Enter")
    assert _focused(page) == "message"
    visitor.say("how do I point my domain at your nameservers")
    visitor.wait_line(".hw-ai", "nameservers")
    answer = page.locator(".hw-log .hw-ai").first
    assert answer.locator("strong").count() > 0  # the KB's Markdown is rendered
    assert "**" not in answer.inner_text()
    visitor.shoot("03-ai-answer")
    packet = desk.packet(visitor.conversation_id())
    assert packet.visitor.name == "Ada Lovelace"
    assert packet.visitor.email == "ada@example.com"
    assert packet.visitor.fields == {"plan": "Business", "customer_since": "2021"}
    assert packet.visitor.page_url == f"{site.http}/demo"
    page.keyboard.press("Escape")  # closes the panel and gives the focus back
    assert page.get_by_role("dialog").is_hidden()
    assert _focused(page) == "launcher"


def test_handoff_agent_reply_reload_and_server_restart(visitor, desk, site):
    page = visitor.page
    visitor.open_chat()
    page.get_by_role("button", name="Talk to a person").click()
    visitor.wait_line(".hw-handoff", "person")
    wait = page.get_by_role("status").filter(has_text="minute")
    wait.wait_for(timeout=10_000)  # the wait estimate
    visitor.shoot("04-handoff-wait")
    cid = visitor.conversation_id()
    desk.claim(cid)
    box = page.get_by_label("Your message", exact=True)
    seen = desk.watch_typing(cid, lambda: box.press_sequentially("Hel"))
    assert (seen.role, seen.conversation_id) == ("visitor", cid)
    box.fill("")
    desk.typing(cid)
    page.locator(".hw-typing", has_text="Sam is typing").wait_for(timeout=10_000)
    visitor.shoot("05-agent-typing")
    desk.reply(cid, "Hi Ada, I'm Sam. I can look at your domain now.")
    visitor.wait_line(".hw-agent", "I'm Sam")
    assert page.locator(".hw-typing").inner_text() == ""
    visitor.shoot("06-agent-reply")
    before = visitor.lines()
    assert len(before) == len(set(before))

    page.reload()  # the conversation outlives the page: same lines, once each
    visitor.wait_line(".hw-agent", "I'm Sam")
    assert visitor.lines() == before
    visitor.shoot("07-after-reload")

    site.kill()
    page.locator(".hw-panel[data-connection=offline]").wait_for(timeout=10_000)
    visitor.say("Are you still there?")
    page.locator(".hw-outbox .hw-pending", has_text="Are you still there?").wait_for()
    visitor.shoot("08-connection-lost")
    site.start()
    desk.connect()
    page.locator(".hw-panel[data-connection=online]").wait_for(timeout=20_000)
    visitor.wait_line(".hw-visitor", "Are you still there?")
    desk.reply(cid, "Yes, still here.")
    visitor.wait_line(".hw-agent", "still here")
    visitor.shoot("09-resumed")
    assert visitor.lines() == [*before, "You Are you still there?", "Sam Yes, still here."]
    assert page.locator(".hw-outbox .hw-line").count() == 0
    texts = [e.data.text for e in desk.packet(cid).transcript if e.kind == "visitor_message"]
    assert texts.count("Are you still there?") == 1


def test_a_lost_ack_is_resent_with_the_same_id_and_shown_and_stored_once(visitor, desk):
    """The connection drops between the server storing a message and the widget hearing
    its ack: the widget resends it with the same client id on the next connection, and
    the line is on screen once and in the transcript once."""
    page = visitor.page
    sent: list[dict[str, Any]] = []
    dropped: list[str] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        def to_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "ack" and not dropped:
                dropped.append(frame["client_msg_id"])
                ws.close()
                return
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/v1/visitor$"), route)
    visitor.open_chat()
    visitor.say("where can I find my invoices")
    visitor.wait_line(".hw-ai", "Invoices")
    ids = [f["client_msg_id"] for f in sent if f["type"] == "message"]
    assert ids == [dropped[0], dropped[0]]  # sent, then resent with the same id
    assert visitor.lines().count("You where can I find my invoices") == 1
    assert page.locator(".hw-log .hw-ai").count() == 1
    kinds = [e.kind for e in desk.packet(visitor.conversation_id()).transcript]
    assert kinds.count("visitor_message") == 1 and kinds.count("ai_message") == 1


def test_markup_from_every_party_is_shown_as_text(visitor, desk):
    page = visitor.page
    visitor.open_chat(name=PAYLOAD)
    visitor.say("does the chat window show html tags as text")
    visitor.wait_line(".hw-ai", PAYLOAD)
    page.get_by_role("button", name="Talk to a person").click()
    visitor.wait_line(".hw-handoff", "person")
    assert page.get_by_role("button", name="Talk to a person").is_hidden()
    visitor.say(PAYLOAD)
    visitor.wait_line(".hw-visitor", PAYLOAD)
    cid = visitor.conversation_id()
    desk.claim(cid)
    desk.reply(cid, f"Seen: {PAYLOAD} and <script>alert(2)</script>")
    visitor.wait_line(".hw-agent", "<script>alert(2)</script>")
    visitor.shoot("14-markup-as-text")
    widget_imgs = page.evaluate(
        "document.getElementById('handoff-widget').shadowRoot.querySelectorAll('img, script').length"
    )
    assert widget_imgs == 0
    links = page.locator(".hw-ai a")  # only http(s) and mailto links become links
    assert links.count() == 1
    assert links.get_attribute("href") == "https://status.brambleport.example/"
    assert links.get_attribute("rel") == "noopener noreferrer nofollow"
    assert "this" in page.locator(".hw-ai").inner_text()
    assert page.locator("img").count() == 0
    page.wait_for_timeout(300)  # a broken image's onerror would have fired by now
    assert visitor.dialogs == []
    assert desk.packet(cid).visitor.name == PAYLOAD


def test_fallback_forms_when_nobody_is_online(visitor, desk):
    page = visitor.page
    desk.presence("away")
    try:
        visitor.open_chat()
        page.get_by_role("button", name="Talk to a person").click()
        offer = page.locator(".hw-fallback .hw-offer")
        offer.wait_for(timeout=10_000)
        visitor.shoot("10-fallback-offer")
        page.locator(".hw-choice[data-option=offline_message]").click()
        assert _focused(page) == "email"
        page.get_by_label("Message for the team").fill("Please email me the DNS records.")
        visitor.shoot("11-offline-message-form")
        page.locator(".hw-choice[data-option=callback]").click()
        page.get_by_label(re.compile("^Phone")).fill("+44 20 7946 0000")
        page.get_by_label("Note (optional)").fill("Afternoons are best")
        visitor.shoot("12-callback-form")
        page.get_by_role("button", name="Call me back").click()
        visitor.wait_line(".hw-system", "by phone")
        assert page.locator(".hw-fallback").is_hidden()
        visitor.shoot("13-callback-requested")
    finally:
        desk.presence("online")


def _demo_with(page: Any, site: Site, attributes: dict[str, str]) -> None:
    """Open the demo page with ``attributes`` set on its script tag as the page is parsed
    (before the deferred widget runs), as a site embedding it would write them."""
    page.add_init_script(
        f"const attrs = {json.dumps(attributes)};"
        """new MutationObserver((_, observer) => {
            const tag = document.querySelector('script[src="/widget.js"]');
            if (!tag) return;
            for (const [k, v] of Object.entries(attrs)) tag.setAttribute(k, v);
            observer.disconnect();
        }).observe(document, {childList: true, subtree: true});"""
    )
    page.goto(f"{site.http}/demo")


def test_what_the_site_knows_skips_the_pre_chat_form_and_a_refused_start_is_said(
    visitor, desk, site
):
    page = visitor.page
    _demo_with(page, site, {"data-name": "Grace Hopper", "data-email": "grace@example.com"})
    page.get_by_role("button", name="Brambleport support").click()
    assert page.get_by_label("Your name").is_hidden()
    visitor.say("where can I find my invoices")
    visitor.wait_line(".hw-ai", "Invoices")
    packet = desk.packet(visitor.conversation_id())
    assert (packet.visitor.name, packet.visitor.email) == ("Grace Hopper", "grace@example.com")

    page.evaluate("localStorage.clear()")
    _demo_with(page, site, {"data-field-notes": "x" * 501})  # a field may have 500
    page.get_by_role("button", name="Brambleport support").click()
    visitor.say("hello")
    visitor.wait_line(".hw-system", "The chat could not start")


def test_an_origin_off_the_allow_list_is_refused(browser, site):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"http://localhost:{site.port}/demo")  # same server, another origin
        before = _forbidden(site)
        page.get_by_role("button", name="Brambleport support").click()
        page.get_by_label("Your name").fill("Eve")
        page.get_by_label("Your email").fill("eve@example.com")
        page.get_by_role("button", name="Start chat").click()
        page.get_by_label("Your message", exact=True).fill("hello")
        page.keyboard.press("Enter")
        page.locator(".hw-panel[data-connection=offline]").wait_for(timeout=10_000)
        assert _forbidden(site) > before
        assert page.locator(".hw-log .hw-visitor").count() == 0
    finally:
        context.close()


def _forbidden(site: Site) -> int:
    deadline = time.monotonic() + 5
    while True:
        text = httpx.get(f"{site.http}/metrics").text
        m = re.search(r'kind="handshake_forbidden_origin"\} (\d+)', text)
        if m or time.monotonic() > deadline:
            return int(m.group(1)) if m else 0
        time.sleep(0.1)

"""`handoff visit` when nobody can come (the wait estimate, the fallback offer and the
visitor's answer, scripted, typed and as JSON) and `handoff webhooks test`: the CLI as a
real process against a real server on an ephemeral port and a real HTTP receiver."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from handoff_server.protocol import AOpen, SConversation
from tests.cli.test_cli_visit_resume import VisitProcess
from tests.conftest import create_token
from tests.helpers import MAIL_HOOK, agent, online_agent, run_handoff
from tests.server.test_webhooks import SECRET, Receiver


@pytest.fixture
async def server(server_factory):
    """A real server that can keep every fallback it offers: offline messages' answers
    go to a mail hook (``MAIL_HOOK``; without one they are not offered)."""
    return await server_factory(webhooks=MAIL_HOOK)


ASK = "I want to talk to a person"


def _frames(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def _wait_frames(visit: VisitProcess, kind: str, count: int, timeout: float = 30) -> None:
    """Wait until ``count`` frames of ``type`` ``kind`` have been printed."""
    async with asyncio.timeout(timeout):
        while sum(1 for f in visit.frames if f.get("type") == kind) < count:
            visit._new.clear()
            await visit._new.wait()


async def test_visit_json_sees_the_estimate_change_when_an_agent_comes_online(server):
    visit = await VisitProcess.start(server.url, "-m", ASK, "--linger", "30")
    await _wait_frames(visit, "fallback_offer", 1)
    (first,) = [f for f in visit.frames if f["type"] == "wait_estimate"]
    assert (first["minutes"], first["ahead"]) == (None, 0)
    assert first["text"].startswith("Nobody from the team is online right now")
    offer = next(f for f in visit.frames if f["type"] == "fallback_offer")
    assert offer["reason"] == "no_agents"
    assert [c["option"] for c in offer["choices"]] == [
        "wait",
        "callback",
        "offline_message",
        "ai_continues",
    ]
    sam = await online_agent(server.url, await create_token(server))
    await _wait_frames(visit, "wait_estimate", 2)
    second = [f for f in visit.frames if f["type"] == "wait_estimate"][1]
    assert (second["minutes"], second["max_minutes"]) == (0, None)
    assert second["text"] == "You're next in line. A person should be with you in under a minute."
    visit.proc.terminate()
    await visit.proc.wait()
    await sam.close()


async def test_visit_answers_the_offer_with_a_callback(server):
    done = await run_handoff(
        "visit", "--server", server.url, "-m", ASK,
        "-m", "/callback +49 30 901820; ; please call about my DNS",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "⏱ Nobody from the team is online right now" in out
    assert "→ Nobody from the team is online right now. What would you like to do?" in out
    for line in (
        "/wait      Wait in the queue",
        "/callback  Ask for a call back",
        "/message   Leave a message (answered by email)",
        "/ai        Go on with the AI; a person follows up here",
    ):
        assert line in out, out
    assert (
        "→ Thanks: a person will get back to you by phone at +4930901820 as soon as someone"
        " is available." in out
    )
    cid = next(line.split()[-1] for line in out.splitlines() if line.startswith("conversation "))
    sam = await agent(server.url, await create_token(server))
    await sam.send(AOpen(type="open", conversation_id=cid, subscribe=False))
    packet = (await sam.recv_until(lambda f: isinstance(f, SConversation), 10))[-1].packet
    asked = [e for e in packet.transcript if e.kind == "callback_requested"]
    assert asked[0].data.note == "please call about my DNS"
    await sam.close()


async def test_visit_asks_for_the_offline_message_when_typed(server):
    typed = "\n".join([ASK, "/message", "ada@example.com", "My DNS is broken", ""])
    done = await run_handoff("visit", "--server", server.url, stdin=typed)
    assert done.returncode == 0, done.stderr
    assert "Your email: " in done.stdout and "Your message: " in done.stdout
    assert "→ Thanks: your message is saved and a person will answer it by email at" in (
        done.stdout
    )


async def test_visit_json_refuses_a_bad_phone_number_before_sending(server):
    done = await run_handoff(
        "visit", "--server", server.url, "--json", "-m", ASK, "-m", "/callback 12345"
    )
    assert done.returncode == 1
    assert "error[invalid_frame]: phone: not a phone number in international format" in (
        done.stderr
    )
    assert not any(f.get("kind") == "callback_requested" for f in _frames(done.stdout))


async def test_visit_goes_on_with_the_ai(server):
    done = await run_handoff(
        "visit", "--server", server.url, "--json", "-m", ASK, "-m", "/ai",
        "-m", "how do I reset my password",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frames = _frames(done.stdout)
    kinds = [f.get("kind") for f in frames if f["type"] == "event"]
    assert kinds[-3:] == ["fallback_chosen", "visitor_message", "ai_message"]
    assert frames[-1]["text"] and frames[-1]["confidence"] >= 0.7


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "hooks.toml"
    path.write_text(
        f'[[webhooks.endpoints]]\nurl = "{url}"\nsecret = "{SECRET}"\nallow_private = true\n',
        encoding="utf-8",
    )
    return path


async def test_webhooks_test_sends_a_signed_event_and_prints_the_status(tmp_path: Path):
    receiver = Receiver()
    try:
        config = _config(tmp_path, receiver.url)
        done = await run_handoff(
            "webhooks", "test", "--endpoint", receiver.url, "--config", str(config)
        )
        assert (done.returncode, done.stdout.strip()) == (0, f"{receiver.url}: HTTP 200 OK")
        (got,) = receiver.requests
        payload = Webhook(SECRET).verify(got.body, got.headers)
        assert payload["type"] == "webhook.test" and payload["id"].startswith("msg_test_")
        receiver.script = [(503, {})]
        failing = await run_handoff("webhooks", "test", "--config", str(config))
        assert failing.returncode == 1
        assert failing.stdout.strip() == f"{receiver.url}: HTTP 503 Service Unavailable"
        unknown = await run_handoff(
            "webhooks", "test", "--endpoint", "http://elsewhere.example/", "--config", str(config)
        )
        assert unknown.returncode == 2
        assert unknown.stderr.startswith("error[not_found]: 'http://elsewhere.example/' is not")
    finally:
        receiver.close()


async def test_webhooks_test_refuses_a_private_address_unless_allowed(tmp_path: Path):
    receiver = Receiver()
    try:
        config = tmp_path / "private.toml"
        key = base64.b64encode(b"0123456789abcdef").decode()
        config.write_text(
            f'[[webhooks.endpoints]]\nurl = "{receiver.url}"\nsecret = "whsec_{key}"\n',
            encoding="utf-8",
        )
        done = await run_handoff("webhooks", "test", "--config", str(config))
        assert done.returncode == 1
        assert "failed: refused: 127.0.0.1 resolves to 127.0.0.1" in done.stdout
        assert receiver.requests == []
    finally:
        receiver.close()

"""Push assignment: a conversation every agent passed on is offered again in a new round
``[assignment] reoffer_after_seconds`` later (``"off"``: never), and the setting's bad
values are refused. Real server, real agent and visitor clients."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from handoff_server.app import RunningServer
from handoff_server.client import Connection
from handoff_server.config import load_settings
from handoff_server.errors import ConfigError
from handoff_server.protocol import SAck, SOffer, SStaff, SWaitEstimate
from tests.conftest import ServerFactory
from tests.server.routing_kit import (
    act,
    first_offer,
    next_offer,
    offer_ended,
    push_pair_asked,
)

ROUND = 1.5
"""The test servers' ``reoffer_after_seconds``."""


async def _two_agents_and_a_visitor(
    server_factory: ServerFactory, reoffer: float | str
) -> tuple[RunningServer, Connection, Connection, Connection, str]:
    """A push server whose visitor asked for a person, with Kim and Lee online (two
    slots each): the server, the agent offered it first, the other, the visitor and
    the conversation id."""
    srv, agents, visitor, cid = await push_pair_asked(server_factory, reoffer_after_seconds=reoffer)
    kim, lee = agents["Kim"], agents["Lee"]
    first = kim if await first_offer(agents) == "Kim" else lee
    return srv, first, lee if first is kim else kim, visitor, cid


async def _decline(conn: Connection, cid: str) -> None:
    """``conn``'s agent declines their open offer of ``cid``."""
    await conn.send({"type": "decline", "conversation_id": cid})
    ended = await offer_ended(conn)
    assert (ended.conversation_id, ended.reason) == (cid, "declined")


async def _offers_before_roster(conn: Connection) -> list[SOffer]:
    """The offers ``conn`` received before the answer to a ``presence`` sent now (the
    server sends one connection's frames in order)."""
    await conn.send({"type": "presence", "status": "online"})
    frames = await conn.recv_until(lambda f: isinstance(f, SStaff))
    return [f for f in frames if isinstance(f, SOffer)]


async def test_a_conversation_everyone_passed_on_is_offered_again_after_the_interval(
    server_factory: ServerFactory,
) -> None:
    """Both agents declined: the round is over and nobody was ever offered it again,
    idle as they were (before: not in 12 s, nor ever). Now a new round starts
    ``reoffer_after_seconds`` after the last decline: the agent first in the
    least-loaded order (equally loaded, the one offered longest ago) is offered it
    again, and when they decline, the other is at once. Meanwhile the visitor was told
    no "under a minute" (the agents who passed were no capacity for it); once the round
    starts they count again and the visitor is told so."""
    srv, first, second, visitor, cid = await _two_agents_and_a_visitor(server_factory, ROUND)
    await _decline(first, cid)
    assert (await next_offer(second)).item.conversation_id == cid
    await _decline(second, cid)
    passed = time.monotonic()
    told = (await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate), timeout=5))[-1]
    assert told.minutes is not None and told.minutes >= 1

    again = await next_offer(first, timeout=ROUND + 5)
    took = time.monotonic() - passed
    assert again.item.conversation_id == cid
    assert ROUND - 0.2 <= took <= ROUND + 2, f"offered again {took:.1f} s after the last pass"
    assert not await _offers_before_roster(second)  # one offer at a time
    told = (await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate), timeout=5))[-1]
    assert told.minutes == 0 and "under a minute" in told.text

    await _decline(first, cid)
    assert (await next_offer(second, timeout=2)).item.conversation_id == cid
    assert isinstance(await act(second, "accept", cid), SAck)
    assert srv.desk.offers.open == {} and not srv.desk.offers.rounds.due(cid)
    for conn in (visitor, first, second):
        await conn.close()


async def _offer_counts(srv: RunningServer) -> dict[str, float]:
    """The push offers' counters in the server's ``/metrics`` (:mod:`handoff_server.
    routing.offer_metrics`), by sample name and labels, e.g.
    ``handoff_offers_ended_total{outcome="declined"}``."""
    async with httpx.AsyncClient() as client:
        response = await client.get(srv.url.replace("ws://", "http://") + "/metrics")
    counts = {}
    for line in response.text.splitlines():
        if line.startswith(("handoff_offers_", "handoff_offer_rounds_")):
            name, value = line.rsplit(" ", 1)
            if not name.endswith("_created") and "_created{" not in name:
                counts[name] = float(value)
    return counts


async def test_offers_and_rounds_are_counted_in_metrics(server_factory: ServerFactory) -> None:
    """An operator sees in ``/metrics`` how a push team's offers end and how often
    everyone passed: two declines, a new round, a decline and an acceptance are four
    offers sent, three declined, one accepted and one round."""
    srv, first, second, visitor, cid = await _two_agents_and_a_visitor(server_factory, ROUND)
    before = await _offer_counts(srv)
    await _decline(first, cid)
    await next_offer(second)
    await _decline(second, cid)
    await next_offer(first, timeout=ROUND + 5)
    await _decline(first, cid)
    await next_offer(second, timeout=2)
    assert isinstance(await act(second, "accept", cid), SAck)
    after = await _offer_counts(srv)
    grew = {name: after[name] - before.get(name, 0.0) for name in after}
    assert grew == {
        "handoff_offers_sent_total": 3.0,  # the first offer was sent before `before`
        'handoff_offers_ended_total{outcome="accepted"}': 1.0,
        'handoff_offers_ended_total{outcome="declined"}': 3.0,
        'handoff_offers_ended_total{outcome="expired"}': 0.0,
        'handoff_offers_ended_total{outcome="withdrawn"}': 0.0,
        'handoff_offers_ended_total{outcome="taken"}': 0.0,
        "handoff_offer_rounds_total": 1.0,
    }
    for conn in (visitor, first, second):
        await conn.close()


async def test_off_keeps_one_round_while_it_stays_queued(server_factory: ServerFactory) -> None:
    """``reoffer_after_seconds = "off"``: everyone passed, so nobody is offered it again
    (no next round is even due, long past when one would have started); a claim still
    works."""
    srv, first, second, visitor, cid = await _two_agents_and_a_visitor(server_factory, "off")
    await _decline(first, cid)
    assert (await next_offer(second)).item.conversation_id == cid
    await _decline(second, cid)
    assert not srv.desk.offers.rounds.due(cid)
    with pytest.raises(TimeoutError):
        await next_offer(first, timeout=ROUND + 1)
    assert not await _offers_before_roster(second)
    assert isinstance(await act(first, "claim", cid), SAck)
    for conn in (visitor, first, second):
        await conn.close()


def test_reoffer_after_seconds_defaults_to_a_minute_and_may_be_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default is 60 s; ``"off"`` (any case, in the file or the environment) is
    ``None``; numbers as text are read."""
    assert load_settings(None).assignment.reoffer_after_seconds == 60.0
    for value, read in [("off", None), (" Off ", None), (5, 5.0), ("7.5", 7.5), (3600, 3600.0)]:
        settings = load_settings(None, {"assignment": {"reoffer_after_seconds": value}})
        assert settings.assignment.reoffer_after_seconds == read, value
    config = tmp_path / "handoff.toml"
    config.write_text('[assignment]\nreoffer_after_seconds = "off"\n')
    assert load_settings(config).assignment.reoffer_after_seconds is None
    monkeypatch.setenv("HANDOFF_ASSIGNMENT__REOFFER_AFTER_SECONDS", "OFF")
    assert load_settings(None).assignment.reoffer_after_seconds is None


NUMBER = 'must be a number of seconds (1 to 3600) or "off"'
"""What a value that is no number says."""


@pytest.mark.parametrize(
    ("toml_value", "says"),
    [
        ("0", "greater than or equal to 1"),
        ("0.5", "greater than or equal to 1"),
        ("-1", "greater than or equal to 1"),
        ("3601", "less than or equal to 3600"),
        ("nan", "finite number"),
        ("inf", "finite number"),
        ("-inf", "finite number"),
        ("true", NUMBER),
        ('"soon"', NUMBER),
        ('""', NUMBER),
        ("[30]", "valid number"),
    ],
)
def test_bad_reoffer_after_seconds_are_refused(tmp_path: Path, toml_value: str, says: str) -> None:
    """Not finite, out of 1 to 3600 s, or no number (nor ``"off"``): ``bad_config``
    naming the key and what is wrong with the value."""
    config = tmp_path / "handoff.toml"
    config.write_text(f"[assignment]\nreoffer_after_seconds = {toml_value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert info.value.code == "bad_config"
    lines = str(info.value).splitlines()[1:]  # the first names the file
    (line,) = [x for x in lines if "reoffer_after_seconds" in x]
    assert line.strip().startswith("assignment.reoffer_after_seconds:") and says in line


@pytest.mark.parametrize(
    ("text", "says"),
    [("nan", "finite number"), ("inf", "finite number"), ("0", "greater than or equal to 1")]
    + [("1e9", "less than or equal to 3600"), ("soon", NUMBER), ("never", NUMBER)],
)
def test_bad_reoffer_after_seconds_from_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, text: str, says: str
) -> None:
    """The environment's text is checked as the file's numbers are."""
    monkeypatch.setenv("HANDOFF_ASSIGNMENT__REOFFER_AFTER_SECONDS", text)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.code == "bad_config"
    assert "assignment.reoffer_after_seconds: " in str(info.value) and says in str(info.value)

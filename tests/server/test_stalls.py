"""What stalls the event loop (issue 14's p99 at 500 visitors): CPython's full cyclic GC
collections, which visit every tracked object on the loop's thread. The conversations
kept in memory must cost the collector a few objects per turn, not the parsed events'
dozens; ``handoff serve`` freezes its start-up heap out of the collector's reach. Counts
of objects, not wall-clock time."""

from __future__ import annotations

import gc
import re
import urllib.request
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest

from handoff_server import heap
from handoff_server.protocol import CandidateInfo, _Event, _EventPart
from handoff_server.protocol_operator import SKbEntryCreated
from tests.conftest import create_token
from tests.helpers import ANSWERED_QUESTIONS, agent, say, start_serve, start_visitor
from tests.server.test_operator_kb import RAILS, entry_frame
from tests.server.test_operator_policy import ask


def tracked_from(root: object) -> int:
    """GC-tracked objects reachable from ``root`` (classes, modules and functions, the
    program's rather than the data's, left out)."""
    return len(tracked_objects(root))


async def _turns(conn: Any, count: int) -> None:
    for n in range(count):
        frames = await say(conn, ANSWERED_QUESTIONS[n % len(ANSWERED_QUESTIONS)])
        assert frames[-1].event.kind == "ai_message", frames[-1]


async def test_a_conversation_in_memory_costs_the_gc_a_few_objects_per_turn(server: Any) -> None:
    """Each turn adds its events to the conversation's memory; what the collector must
    visit grows by a handful of objects a turn (the AI answer's parsed decision alone
    was ~70: its triggers, candidates, their dicts and sets)."""
    conn, welcome = await start_visitor(server.url, name="Ada")
    await _turns(conn, 5)
    gc.collect()  # atomic-only tuples are untracked by a collection
    before = tracked_from(await server.service.memory.held(welcome.conversation_id))
    await _turns(conn, 30)
    gc.collect()
    after = tracked_from(await server.service.memory.held(welcome.conversation_id))
    await conn.close()
    assert (after - before) / 30 <= 8, (before, after)


async def test_conversations_at_rest_keep_no_parsed_event_not_even_the_last(
    server: Any,
) -> None:
    """Between turns the memory holds no event in its parsed form: the last one was kept
    parsed for the next turn, so every conversation held its last AI answer's decision
    (~50 objects: triggers, candidates, their dicts and sets) until its next turn
    replaced it. Under 500 visitors those objects outlived the young collections, which
    then each walked tens of thousands of them (10-70 ms on the loop: the p99). (That a
    "yes" still accepts an offer in the last answer, now a flag:
    ``test_server_visitor_view``'s accepted offer.)"""
    conns = []
    for name in ("Ada", "Grace", "Linus"):
        conn, welcome = await start_visitor(server.url, name=name)
        await _turns(conn, 2)
        conns.append((conn, welcome.conversation_id))
    for _, cid in conns:
        entry = await server.service.memory.held(cid)
        parsed = [
            type(o).__name__
            for o in tracked_objects(entry)
            if isinstance(o, _Event | _EventPart | CandidateInfo)
        ]
        assert not parsed, parsed
    for conn, _ in conns:
        await conn.close()


async def test_the_remembered_events_read_back_as_stored(server: Any) -> None:
    """The compact memory gives back what the store holds: every event, its data and
    its wire form, after a reconnect (resume) as before."""
    conn, welcome = await start_visitor(server.url, name="Ada")
    await _turns(conn, 3)
    await conn.close()
    cid = welcome.conversation_id
    remembered = await server.service.memory.events(cid)
    stored = await server.store.call(server.store.store.events_after, cid, 0)
    assert [e.model_dump() for e in remembered] == [e.model_dump() for e in stored]
    entry = await server.service.memory.held(cid)
    assert entry.last is not None and entry.last.seq == stored[-1].seq
    assert [e.kind for e in entry.wire] == [e.kind for e in stored]


def test_handoff_serve_freezes_its_start_up_heap_out_of_the_gcs_reach(tmp_path: Path) -> None:
    """Once ready, ``handoff serve`` has moved the objects start-up left (the index, the
    detectors, the libraries: well over 50,000) out of the collector's reach, and
    ``/metrics`` says how many and times the collections."""
    proc, url = start_serve(tmp_path / "data")
    try:
        http = url.replace("ws://", "http://") + "/metrics"
        with urllib.request.urlopen(http, timeout=10) as resp:
            text = resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    frozen = re.search(r"^handoff_gc_frozen_objects (\S+)$", text, re.M)
    assert frozen is not None, text
    assert float(frozen.group(1)) > 50_000
    assert re.search(r'^handoff_gc_pause_seconds_count\{generation="2"\} [1-9]', text, re.M)


def tracked_objects(root: object) -> list[Any]:
    """The GC-tracked objects reachable from ``root``, as :func:`tracked_from` counts them."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    found: list[Any] = []
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType | FunctionType):
            continue
        seen.add(id(obj))
        if gc.is_tracked(obj):
            found.append(obj)
            stack.extend(gc.get_referents(obj))
    return found


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> Any:
    """This process's heap settled as ``handoff serve`` settles its own once ready
    (:func:`handoff_server.heap.settle`); unfrozen and the GC's thresholds restored after."""
    thresholds = gc.get_threshold()
    monkeypatch.setattr(heap, "_settled", [False], raising=False)
    yield heap.settle
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_a_reindex_freezes_the_new_index_out_of_the_gcs_reach_too(
    server_factory: Any, tmp_path: Path, settled: Any
) -> None:
    """``handoff serve`` froze its start-up heap, but the index an operator's reindex
    swapped in at run time stayed in the collector's oldest generation: every full
    collection walked it again. After the swap the heap is frozen again: none of the new
    answerer's objects is left for a collection to visit, and the old one's are gone."""
    srv = await server_factory(data_dir=tmp_path / "data")
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    settled()
    old = srv.service.answerer
    old_objects = {id(o) for o in tracked_objects(old)}
    del old
    created = await ask(op, entry_frame(RAILS))
    assert isinstance(created, SKbEntryCreated), created
    new_objects = tracked_objects(srv.service.answerer)
    fresh = [o for o in new_objects if id(o) not in old_objects]
    assert len(fresh) > 20, len(fresh)  # the new index's own objects, not the KB's shared
    visited = {id(o) for o in gc.get_objects()}  # what a full collection walks
    walked = [o for o in fresh if id(o) in visited]
    assert not walked, (len(walked), len(fresh), [type(o).__name__ for o in walked[:10]])
    await op.close()

"""Benchmark: the cost of a turn (issue 14), each figure beside its same-run baseline.

One command starts everything (``handoff serve`` on free ports in temporary data dirs,
and two baseline servers in this process) and prints five tables:

1. closed loop at 10, 50 and 200 visitors (no think time; each visitor holds a
   conversation of ``--turns`` answerable questions, then starts the next): round trips
   per second (a visitor message to the AI's answer) and their p50/p99, for a bare
   ``websockets`` echo server speaking the visitor protocol, the same echo storing the
   same events in SQLite (``AsyncStore``, ``synchronous=FULL``: a conversation and two
   events a turn), and ``handoff serve``;
2. 500 visitors each sending a message every 5 s on average (think time uniform 0–10 s,
   so 100 messages/s offered whatever the answers' speed; the simulator's closed loop
   with think time): p50/p99 against the echo's;
3. the server's CPU per turn (user + system of the ``handoff serve`` process from
   ``/proc``, all its threads, under the closed loop; a conversation's start shared by
   its turns) against what the answerer and ``decide()`` cost in this process for the
   same conversations (each turn with its history so far, as the server gives it), and
   the floor: the CPU per turn of the echo storing the same events (in a process of its
   own, driven by the same visitors), so what a server doing only that and the AI would
   read. In ``--rounds`` rounds per level, each measuring the three back to back for
   ``--round-seconds``, so each round's figures share the machine's state of that
   moment; the medians over the rounds, and the range of the target's ratio;
4. one conversation of 500 turns: server CPU and latency per turn over its turns
   451–500 against turns 1–50 of a new conversation, measured interleaved (10 turns of
   each in turn, so both see the same load on a shared machine);
5. memory per idle visitor connection (``start`` sent, then silence; the server's RSS
   growth over ``--idle`` connections), with the client offering permessage-deflate (as
   browsers do) and without.

The visitors are the simulator's (:mod:`handoff_cli.simulate`, the one load generator)
except in 4 and 5, which drive ``handoff_server.client`` directly (one sequential
conversation; silent connections).

Event loops: ``handoff serve`` runs on its ``server.event_loop`` (uvloop by default);
this process (the echo baselines and the visitors) runs on ``--loop``, uvloop by default
too, so the echo baselines are served by the same loop as the server. The header says
which loop each side runs.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_turn.py [--seconds 10] [--turns 10]
        [--only 1,2,3,4,5] [--rounds 5] [--round-seconds 4] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_simulate import _echo  # noqa: E402  (the same echo server as bench_simulate)

from handoff_cli.simulate import Plan, run_simulation  # noqa: E402
from handoff_cli.simulate.record import Script  # noqa: E402
from handoff_cli.simulate.report import quantiles  # noqa: E402
from handoff_cli.simulate.scenario import ConversationExpect, Turn  # noqa: E402
from handoff_cli.simulate.servers import start_server, stop_server  # noqa: E402
from handoff_server.ai import make_answerer  # noqa: E402
from handoff_server.client import connect_visitor, new_client_msg_id  # noqa: E402
from handoff_server.config import Settings  # noqa: E402
from handoff_server.escalation import PriorTurn, TurnContext, decide_turn  # noqa: E402
from handoff_server.event_loop import loop_name, run  # noqa: E402
from handoff_server.frames import parse_visitor_frame  # noqa: E402
from handoff_server.kb import demo_kb_path, load_kb  # noqa: E402
from handoff_server.protocol import (  # noqa: E402
    AiMessage,
    AiMessageData,
    ConversationStarted,
    ConversationStartedData,
    SAck,
    SError,
    SEvent,
    SWelcome,
    VisitorInfo,
    VisitorMessage,
    VisitorMessageData,
    VMessage,
    VStart,
    dump_frame,
)
from handoff_server.store import (  # noqa: E402
    AsyncStore,
    ConversationRecord,
    NewEvent,
    SQLiteStore,
    utcnow,
)

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_questions.csv"
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- what a turn should cost


class Baseline:
    """What a turn's AI work costs without the server: the default engine's answer and
    ``decide()`` in a tight loop in this process, over the conversations the closed
    loop sends (:func:`scripts`), each turn with its conversation's history so far, as
    the server gives it. ``decide()`` reads every earlier turn of the conversation (up
    to 20), so the history's length is part of what a turn costs."""

    def __init__(self) -> None:
        settings = Settings()
        self.answerer = make_answerer(load_kb(settings.ai.kb or demo_kb_path()), settings.ai.engine)
        self.policy = settings.policy

    def pick(self, limit: int) -> list[str]:
        """Up to ``limit`` questions of the demo set (in order) the default engine
        answers without a handoff, with a confidence 0.03 or more over the threshold."""
        texts = [
            line.rsplit(",", 1)[0].strip('"') for line in QUESTIONS.read_text().splitlines()[1:]
        ]
        picked: list[str] = []
        for text in texts:
            answer = self.answerer.answer(text)
            ctx = TurnContext(text=text, answer=answer, now=utcnow())
            # A margin over the threshold: a served index may score a borderline question
            # a little lower, and one handoff ends the 500-turn conversation.
            margin = answer.confidence >= self.policy.threshold + 0.03
            if margin and decide_turn(self.policy, ctx)[0].action == "continue":
                picked.append(text)
            if len(picked) == limit:
                break
        for text in picked:  # warm up
            self.answerer.answer(text)
        return picked

    def per_turn(self, questions: list[str], turns: int) -> float:
        """Mean CPU seconds (this process) of answer + ``decide()`` per turn over the
        conversations of ``turns`` of ``questions`` each."""
        conversations = [list(s.turns) for s in scripts(questions, turns)]
        t0 = time.process_time()
        for conversation in conversations:
            history: list[PriorTurn] = []
            for turn in conversation:
                answer = self.answerer.answer(turn.say)
                ctx = TurnContext(text=turn.say, answer=answer, history=history[-20:], now=utcnow())
                decide_turn(self.policy, ctx)
                history.append(PriorTurn(text=turn.say, confidence=answer.confidence))
        return (time.process_time() - t0) / (len(conversations) * turns)


def answerable(limit: int, turns: int = 10) -> tuple[list[str], float]:
    """:meth:`Baseline.pick` and :meth:`Baseline.per_turn` of a new baseline: the
    questions and the answerer's + ``decide()``'s mean seconds per turn."""
    baseline = Baseline()
    picked = baseline.pick(limit)
    return picked, baseline.per_turn(picked, turns)


# ---------------------------------------------------------------- the baselines


def echo_with_store(store: AsyncStore) -> Any:
    """The echo server, storing what ``handoff serve`` stores for the same frames: the
    conversation with its first event, then per message the visitor's event and the
    answer's, each in its own ``append_events`` (acknowledged after the first)."""

    async def handler(ws: ServerConnection) -> None:
        cid, seq = uuid.uuid4().hex, 0
        db = store.store

        def frame(model: type[Any], kind: str, data: Any, actor: str) -> str:
            ev = model(
                conversation_id=cid,
                seq=seq,
                kind=kind,
                at=datetime.now(UTC),
                actor=actor,
                data=data,
            )
            return dump_frame(SEvent(event=ev))

        async for raw in ws:
            msg = parse_visitor_frame(raw)
            if msg.type == "start":
                now = utcnow()
                rec = ConversationRecord(
                    id=cid, status="ai", resume_token_hash="x", created_at=now, updated_at=now
                )
                first = NewEvent(kind="conversation_started", data={})
                seq = (await store.call(db.create_conversation, rec, [first]))[-1].seq
                welcome = SWelcome(conversation_id=cid, resume_token="t", status="ai", last_seq=0)
                await ws.send(dump_frame(welcome))
                started = ConversationStartedData()
                await ws.send(
                    frame(ConversationStarted, "conversation_started", started, "visitor")
                )
            elif msg.type == "message":
                said = NewEvent(
                    kind="visitor_message",
                    data={"text": msg.text},
                    client_msg_id=msg.client_msg_id,
                    sender="visitor",
                )
                seq = (await store.call(db.append_events, cid, [said], {}))[-1].seq
                await ws.send(
                    frame(
                        VisitorMessage,
                        "visitor_message",
                        VisitorMessageData(text=msg.text),
                        "visitor",
                    )
                )
                await ws.send(
                    dump_frame(SAck(client_msg_id=msg.client_msg_id, conversation_id=cid, seq=seq))
                )
                reply = NewEvent(kind="ai_message", data={"text": "echo", "confidence": 1.0})
                seq = (await store.call(db.append_events, cid, [reply], {}))[-1].seq
                answer = AiMessageData(text="echo", confidence=1.0, sources=["echo"])
                await ws.send(frame(AiMessage, "ai_message", answer, "ai"))

    return handler


class Floor:
    """The echo + SQLite server (:func:`echo_with_store`) in a child process of its own
    (``--serve-floor``), so its CPU per turn can be read from ``/proc`` as the server's
    is: what framing a turn's frames and storing its two events durably cost without
    the AI or anything else ``handoff serve`` does (table 3's floor)."""

    def __init__(self, loop: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-floor", "--loop", loop],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"the floor server did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{int(line)}"

    async def cpu_per_turn(self, plan: list[Script], visitors: int, seconds: float) -> float:
        """CPU seconds per turn of the child under one closed-loop run."""
        cpu0 = cpu_seconds(self.process.pid)
        r = await load(self.url, plan, visitors, seconds)
        if r["errors"]:
            raise RuntimeError(f"the floor server: {r}")
        return (cpu_seconds(self.process.pid) - cpu0) / max(1, r["turns"])

    def close(self) -> None:
        """Stop the child."""
        self.process.kill()
        self.process.wait()


async def serve_floor() -> None:
    """The child of :class:`Floor`: serve :func:`echo_with_store` on a free port, print
    the port, run until killed."""
    store = AsyncStore(SQLiteStore(Path(tempfile.mkdtemp(prefix="bench-floor-"))))
    server = await serve(echo_with_store(store), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


# ---------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has run, all its live threads: the sum
    of each thread's run time in ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds). The
    clock-tick counts of ``/proc/<pid>/stat`` move in 10 ms steps: table 4's window of 50
    turns is ~7 of them on a machine where a turn costs 1.4 ms, so its ratio moved by
    ±15% from rounding alone. A thread that ended is no longer counted; the processes
    measured here (``handoff serve``, the floor) keep theirs (the loop's, the store's,
    the executor's) for their whole life. Falls back to the clock ticks where the kernel
    keeps no schedstat."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    if total:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def served_loop(pid: int) -> str:
    """The event loop process ``pid`` (a ``handoff serve``) runs on: ``uvloop`` when
    uvloop's extension is mapped into it, else ``asyncio``."""
    return "uvloop" if "/uvloop/" in Path(f"/proc/{pid}/maps").read_text() else "asyncio"


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def scripts(questions: list[str], turns: int) -> list[Script]:
    """Conversations of ``turns`` answerable questions each, rotating through the set."""
    out = []
    for n in range(len(questions)):
        said = [questions[(n + i) % len(questions)] for i in range(turns)]
        out.append(
            Script(
                name=f"visitor {n}",
                visitor=VisitorInfo(name=f"Visitor {n}"),
                turns=tuple(Turn(say=text) for text in said),
                expect=ConversationExpect(),
            )
        )
    return out


async def load(
    url: str,
    plan_scripts: list[Script],
    visitors: int,
    seconds: float,
    think: Any = 0.0,
    warmup: float = 0.0,
) -> dict[str, Any]:
    """One run of the simulator: round trips/s, p50/p99 (ms), turns, handoffs, errors;
    counting only the turns sent ``warmup`` seconds or more after the start."""
    plan = Plan(
        server_url=url,
        scripts=plan_scripts,
        concurrency=visitors,
        duration=seconds,
        timeout=60.0,
        patience=0.0,
        think_time=think,
    )
    t0 = time.monotonic()
    result = await run_simulation(plan)
    wall = time.monotonic() - t0
    turns = [
        t
        for r in result.records
        for t in r.turns
        if t.latency is not None and t.sent_at is not None and r.t0 + t.sent_at - t0 >= warmup
    ]
    lat = [t.latency for t in turns if t.outcome == "answered" and t.latency is not None]
    q = quantiles(lat)
    return {
        "trips_per_s": len(lat) / (wall - warmup),
        "p50_ms": (q["p50"] or 0) * 1000,
        "p99_ms": (q["p99"] or 0) * 1000,
        "turns": len(lat),
        "handoffs": sum(1 for t in turns if t.outcome == "escalated"),
        "errors": sum(len(r.errors) for r in result.records),
    }


async def _turn(conn: Any, text: str, n: int) -> float:
    """One visitor message and its AI answer; returns the seconds it took. Raises
    ``RuntimeError`` when the server refuses the message or hands the turn off."""
    t0 = time.perf_counter()
    await conn.send(VMessage(type="message", client_msg_id=new_client_msg_id(), text=text))
    while True:
        frame = await conn.recv(timeout=30)
        if isinstance(frame, SError):
            raise RuntimeError(f"turn {n} refused: {frame.code}: {frame.detail}")
        if isinstance(frame, SEvent) and frame.event.kind in ("ai_message", "escalated"):
            if frame.event.kind == "escalated":
                raise RuntimeError(f"turn {n} was handed off; pick other questions")
            return time.perf_counter() - t0


async def long_conversation(
    url: str, pid: int, questions: list[str], turns: int, block: int = 10
) -> list[dict[str, float]]:
    """The server's CPU (ms) and the median latency (ms) per turn over turns 1–50 of a
    new conversation and turns ``turns``-49 to ``turns`` of a long one, one message at a
    time. The long conversation first runs to ``turns`` - 50; then the two windows are
    measured interleaved, ``block`` turns of each in turn, so both see the same load."""
    long_conn, new_conn = await connect_visitor(url), await connect_visitor(url)
    for conn in (long_conn, new_conn):
        await conn.send(VStart(type="start", visitor=VisitorInfo(name="Long")))
    for i in range(turns - 50):
        await _turn(long_conn, questions[i % len(questions)], i + 1)
    lat: dict[str, list[float]] = {"new": [], "long": []}
    cpu = {"new": 0.0, "long": 0.0}
    for start in range(0, 50, block):
        for name, conn, first in (("new", new_conn, 0), ("long", long_conn, turns - 50)):
            cpu0 = cpu_seconds(pid)
            for i in range(first + start, first + start + block):
                lat[name].append(await _turn(conn, questions[i % len(questions)], i + 1))
            cpu[name] += cpu_seconds(pid) - cpu0
    for conn in (long_conn, new_conn):
        await conn.close()
    return [
        {"cpu_ms": cpu[name] / 50 * 1000, "p50_ms": sorted(lat[name])[25] * 1000}
        for name in ("new", "long")
    ]


async def idle_memory(count: int, deflate: bool, serve_args: list[str]) -> float:
    """KiB of server RSS per idle visitor connection (``start`` sent, then silence)."""
    root = Path(tempfile.mkdtemp(prefix="bench-turn-mem-"))
    started = await start_server(root, "mem", None, 0, serve_args)
    pid = started.process.pid
    conns = []
    try:
        for _ in range(20):  # warm: first connections allocate shared state
            conns.append(await _idle(started.url, deflate))
        await asyncio.sleep(1.0)
        before = rss_kib(pid)
        for _ in range(count):
            conns.append(await _idle(started.url, deflate))
        await asyncio.sleep(2.0)
        after = rss_kib(pid)
    finally:
        for ws in conns:
            await ws.close()
        await stop_server(started.process)
    return (after - before) / count


async def _idle(url: str, deflate: bool) -> Any:
    ws = await connect(url.rstrip("/") + "/v1/visitor", compression="deflate" if deflate else None)
    await ws.send(dump_frame(VStart(type="start", visitor=VisitorInfo(name="Idle"))))
    await ws.recv()
    await ws.recv()
    return ws


# ---------------------------------------------------------------- the tables


def row(*cells: Any) -> str:
    return " ".join(f"{c:>10}" if not isinstance(c, float) else f"{c:>10.1f}" for c in cells)


async def closed_loop(
    args: argparse.Namespace,
    questions: list[str],
    urls: dict[str, str],
) -> None:
    """Table 1: each server under each level of visitors, one run each."""
    print(f"\n## 1. closed loop, {args.turns}-turn conversations, {args.seconds:g} s per run")
    print(row("visitors", "server", "trips/s", "p50 ms", "p99 ms", "handoffs", "errors", "vs echo"))
    plan_scripts = scripts(questions, args.turns)
    for level in [int(x) for x in args.levels.split(",")]:
        base: dict[str, Any] | None = None
        for name, url in urls.items():
            r = await load(url, plan_scripts, level, args.seconds)
            base = base or r
            ratio = f"{r['trips_per_s'] / base['trips_per_s']:.1%}" if base["trips_per_s"] else "-"
            print(
                row(
                    level,
                    name,
                    r["trips_per_s"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["handoffs"],
                    r["errors"],
                    ratio,
                )
            )


def gc_pauses(url: str) -> tuple[float, float] | None:
    """The server's full (generation 2) GC collections so far and their seconds in all,
    from ``/metrics`` (``handoff_gc_pause_seconds``); ``None`` when it has no such
    metric (a server before it)."""
    http = url.replace("ws://", "http://").rstrip("/") + "/metrics"
    with urllib.request.urlopen(http, timeout=10) as resp:
        text = resp.read().decode()
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^handoff_gc_pause_seconds_(count|sum)\{generation="2"\} (\S+)$', text, re.M
        )
    }
    return (found["count"], found["sum"]) if len(found) == 2 else None


async def open_loop(
    args: argparse.Namespace, questions: list[str], urls: dict[str, str], pid: int
) -> None:
    print(
        f"\n## 2. 500 visitors x 0.2 msg/s (think time uniform 0-10 s), {args.open_seconds:g} s,"
        f" turns sent after the first {args.warmup:g} s (the 500 connections and starts);"
        " the server's full (gen-2) GC collections during the run, their ms in all, and the"
        " server's CPU (% of one core)"
    )
    print(
        row("server", "trips/s", "p50 ms", "p99 ms", "handoffs", "errors", "gen-2 GCs", "GC ms")
        + row("cpu %")
    )
    for name in ("echo", "handoff"):
        before = await asyncio.to_thread(gc_pauses, urls[name]) if name == "handoff" else None
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        r = await load(
            urls[name], scripts(questions, 4), 500, args.open_seconds, (0.0, 10.0), args.warmup
        )
        busy = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        after = await asyncio.to_thread(gc_pauses, urls[name]) if name == "handoff" else None
        gcs: tuple[Any, Any] = ("-", "-")
        if before is not None and after is not None:
            gcs = (int(after[0] - before[0]), (after[1] - before[1]) * 1000)
        cells = (r["trips_per_s"], r["p50_ms"], r["p99_ms"], r["handoffs"], r["errors"], *gcs)
        print(row(name, *cells) + row(busy if name == "handoff" else "-"))


async def long_table(url: str, pid: int, questions: list[str]) -> None:
    print("\n## 4. one conversation of 500 turns, per turn (interleaved with a new one)")
    first, last = await long_conversation(url, pid, questions, 500)
    print(row("turns", "cpu ms", "p50 ms"))
    print(row("1-50", first["cpu_ms"], first["p50_ms"]))
    print(row("451-500", last["cpu_ms"], last["p50_ms"]))
    print(
        row(
            "ratio",
            f"{last['cpu_ms'] / first['cpu_ms']:.2f}x",
            f"{last['p50_ms'] / first['p50_ms']:.2f}x",
        )
    )


Reading = tuple[float, float, float]
"""One round of table 3: the server's, the baseline's and the floor's CPU s a turn."""


async def cpu_rounds(
    args: argparse.Namespace,
    questions: list[str],
    started: Any,
    floor: Floor,
    baseline: Baseline,
) -> dict[int, list[Reading]]:
    """Table 3's readings: per level of visitors, ``args.rounds`` rounds back to back,
    each the server's CPU seconds a turn under ``args.round_seconds`` of the closed
    loop, the floor's under the same visitors, then the baseline's
    (:meth:`Baseline.per_turn`), so each round's three figures share the machine's
    state of that moment."""
    plan = scripts(questions, args.turns)
    pid = started.process.pid
    out: dict[int, list[Reading]] = {}
    for level in [int(x) for x in args.levels.split(",")]:
        out[level] = []
        for _ in range(args.rounds):
            cpu0 = cpu_seconds(pid)
            r = await load(started.url, plan, level, args.round_seconds)
            server = (cpu_seconds(pid) - cpu0) / max(1, r["turns"])
            echo_db = await floor.cpu_per_turn(plan, level, args.round_seconds)
            out[level].append((server, baseline.per_turn(questions, args.turns), echo_db))
    return out


def cpu_table(readings: dict[int, list[Reading]]) -> None:
    """Print table 3 from :func:`cpu_rounds`: per level the medians over the rounds
    (ms a turn) and of each round's ratios, with the range of the target's ratio."""
    rounds = len(next(iter(readings.values())))
    print(f"\n## 3. CPU per turn (ms), the server against answer + decide() here, {rounds} rounds")
    print(
        "# each round: the server under the closed loop, the echo+db (the echo storing the"
        " same events, its own process) under the same visitors, then answer + decide()"
        " over the same conversations; medians over the rounds"
    )
    print(
        "# ratio: server / (answer + decide()), the target's (range: its lowest and highest"
        " round); floor: what a server doing only the echo+db's work and the AI would read;"
        " beyond: (server - echo+db) / (answer + decide()); vs AI+floor: server /"
        " (answer + decide() + echo+db)"
    )
    print(
        row("visitors", "server", "answer+decide", "ratio", "range", "echo+db")
        + " "
        + row("floor", "beyond", "vs AI+floor")
    )
    for level, rs in readings.items():
        ratios = [c / o for c, o, _ in rs]
        cells = (
            level,
            f"{median(c for c, _, _ in rs) * 1000:.2f}",
            f"{median(o for _, o, _ in rs) * 1000:.2f}",
            f"{median(ratios):.2f}x",
            f"{min(ratios):.2f}-{max(ratios):.2f}",
            f"{median(f for _, _, f in rs) * 1000:.2f}",
            f"{median((o + f) / o for _, o, f in rs):.2f}x",
            f"{median((c - f) / o for c, o, f in rs):.2f}x",
            f"{median(c / (o + f) for c, o, f in rs):.2f}x",
        )
        print(row(*cells))


async def main(args: argparse.Namespace) -> None:
    # One visitor sends 500 messages in seconds (table 4): lift the per-connection and
    # per-conversation rate limits (60 a minute each) for the servers started here.
    os.environ["HANDOFF_SERVER__RATE_LIMIT_PER_MINUTE"] = "1000000"
    os.environ["HANDOFF_SERVER__RATE_LIMIT_PER_CONVERSATION_PER_MINUTE"] = "1000000"
    print(
        f"# {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · load average {os.getloadavg()[0]:.2f} at start"
    )
    baseline = Baseline()
    questions = baseline.pick(60)
    root = Path(tempfile.mkdtemp(prefix="bench-turn-"))
    # A deep listen backlog: the echoes share this process's loop with the visitors, whose
    # 200 connects (table 1) can all go out before the echo accepts one; on uvloop, 15-20
    # of them then overflowed the default 100 and timed out in their handshake.
    echo = await serve(_echo, "127.0.0.1", 0, backlog=1024)
    store = AsyncStore(SQLiteStore(root / "echo-store"))
    echo_db = await serve(echo_with_store(store), "127.0.0.1", 0, backlog=1024)
    started = await start_server(root, "turn", None, 0, [])
    print(
        f"# event loops: echo, echo+db and the visitors {loop_name(asyncio.get_running_loop())},"
        f" handoff serve {served_loop(started.process.pid)}"
    )
    urls = {
        "echo": f"ws://127.0.0.1:{echo.sockets[0].getsockname()[1]}",
        "echo+db": f"ws://127.0.0.1:{echo_db.sockets[0].getsockname()[1]}",
        "handoff": started.url,
    }
    only = {int(x) for x in args.only.split(",")}
    try:
        if 1 in only:
            await closed_loop(args, questions, urls)
        if 2 in only:
            await open_loop(args, questions, urls, started.process.pid)
        if 3 in only:
            floor = Floor(args.loop)
            try:
                cpu_table(await cpu_rounds(args, questions, started, floor, baseline))
            finally:
                floor.close()
        if 4 in only:
            await long_table(started.url, started.process.pid, questions)
    finally:
        await stop_server(started.process)
        echo.close()
        echo_db.close()
        await store.close()
    if 5 in only:
        print(f"\n## 5. memory per idle visitor connection ({args.idle} connections)")
        print(row("client", "KiB/conn"))
        for deflate in (False, True):
            kib = await idle_memory(args.idle, deflate, [])
            print(row("deflate" if deflate else "plain", kib))
    print(f"\n# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels", default="10,50,200", help="closed-loop visitors, comma-separated"
    )
    parser.add_argument("--only", default="1,2,3,4,5", help="tables to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="table 3: rounds per level")
    parser.add_argument(
        "--round-seconds", type=float, default=4.0, help="table 3: seconds per run of a round"
    )
    parser.add_argument("--open-seconds", type=float, default=30.0, help="open-loop run")
    parser.add_argument("--warmup", type=float, default=10.0, help="open loop: seconds not counted")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    parser.add_argument(
        "--turns", type=int, default=10, help="turns per conversation (closed loop)"
    )
    parser.add_argument(
        "--idle", type=int, default=300, help="idle connections for the memory figure"
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of this process (the echo baselines and the visitors)",
    )
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    run(serve_floor() if parsed.serve_floor else main(parsed), parsed.loop)

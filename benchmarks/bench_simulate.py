"""Benchmark: visitors' round trips through the real server, driven by the simulator's
engine (the one load generator: ``handoff simulate`` runs the same code).

Closed loop at each concurrency level, no think time: every simulated visitor asks one
question of the demo question set, waits for the answer or the handoff, and starts the
next conversation. The same run measures a baseline: an echo server that speaks the
visitor protocol and answers every message at once (no AI, no store), which is what the
simulator and the protocol cost by themselves on this machine. The table gives, per
level and server: conversations per second, round trips per second (a message to its
outcome: the AI's answer or the handoff), their time (p50/p99, ms), errors, and the
server's round trips as a share of the echo's.

Usage (starts ``handoff serve`` itself on a free port, in a temporary data dir)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_simulate.py [--levels 10,50,200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from handoff_cli.simulate import Plan, build_report, question_scripts, run_simulation
from handoff_cli.simulate.report import quantiles
from handoff_cli.simulate.servers import start_server, stop_server
from handoff_server.frames import parse_visitor_frame
from handoff_server.protocol import (
    AiMessage,
    AiMessageData,
    ConversationStarted,
    ConversationStartedData,
    SAck,
    SEvent,
    SWelcome,
    VisitorMessage,
    VisitorMessageData,
    dump_frame,
)

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_questions.csv"


async def _echo(ws: ServerConnection) -> None:
    """The baseline server: welcome, then an ack and an AI answer for every message."""
    cid, seq = uuid.uuid4().hex, 0

    def event(model: type[Any], kind: str, data: Any, actor: str) -> str:
        nonlocal seq
        seq += 1
        at = datetime.now(UTC)
        ev = model(conversation_id=cid, seq=seq, kind=kind, at=at, actor=actor, data=data)
        return dump_frame(SEvent(event=ev))

    async for raw in ws:
        frame = parse_visitor_frame(raw)
        if frame.type == "start":
            await ws.send(
                dump_frame(SWelcome(conversation_id=cid, resume_token="t", status="ai", last_seq=0))
            )
            started = ConversationStartedData()
            await ws.send(event(ConversationStarted, "conversation_started", started, "visitor"))
        elif frame.type == "message":
            said = VisitorMessageData(text=frame.text)
            await ws.send(event(VisitorMessage, "visitor_message", said, "visitor"))
            await ws.send(
                dump_frame(SAck(client_msg_id=frame.client_msg_id, conversation_id=cid, seq=seq))
            )
            answer = AiMessageData(text="echo", confidence=1.0, sources=["echo"])
            await ws.send(event(AiMessage, "ai_message", answer, "ai"))


async def _measure(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """One closed-loop run; a round trip is a message to its outcome (the AI's answer
    or the handoff)."""
    plan = Plan(
        server_url=url,
        scripts=question_scripts(QUESTIONS),
        concurrency=concurrency,
        duration=seconds,
        timeout=60.0,
        patience=0.0,
        shuffle=True,
    )
    result = await run_simulation(plan)
    report = build_report(result, {})
    turns = [
        t.latency
        for r in result.records
        for t in r.turns
        if t.latency is not None and t.outcome in ("answered", "escalated")
    ]
    q = quantiles(turns)
    return {
        "conv_per_s": report["conversations"]["finished"] / result.seconds,
        "trips_per_s": len(turns) / result.seconds,
        "p50_ms": (q["p50"] or 0) * 1000,
        "p99_ms": (q["p99"] or 0) * 1000,
        "errors": report["errors"]["total"],
    }


async def main(levels: list[int], seconds: float) -> None:
    echo = await serve(_echo, "127.0.0.1", 0)
    echo_url = f"ws://127.0.0.1:{echo.sockets[0].getsockname()[1]}"
    root = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    started = await start_server(root, "bench", None, 0, [])
    print(
        f"# {platform.node()} · {os.cpu_count()} cores · {platform.python_version()} · {seconds:g} s per level"
    )
    print(
        f"{'visitors':>8} {'server':>8} {'conv/s':>8} {'trips/s':>8} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'errors':>7} {'vs echo':>8}"
    )
    try:
        for level in levels:
            base = await _measure(echo_url, level, seconds)
            real = await _measure(started.url, level, seconds)
            for name, row in (("echo", base), ("handoff", real)):
                ratio = row["trips_per_s"] / base["trips_per_s"] if base["trips_per_s"] else 0.0
                print(
                    f"{level:>8} {name:>8} {row['conv_per_s']:>8.1f} {row['trips_per_s']:>8.1f} "
                    f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['errors']:>7} {ratio:>8.1%}"
                )
    finally:
        await stop_server(started.process)
        echo.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="10,50,200", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per level and server")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.levels.split(",")], args.seconds))

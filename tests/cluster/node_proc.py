"""One ``handoff serve`` node for the multi-node tests, in its own process:
``python -m tests.cluster.node_proc STORE_URL BUS_URL DATA_DIR [--slow] [--webhook URL]
[--refresh SECONDS] [--push] [--heartbeat SECONDS]``.

It is the real server (:func:`~handoff_server.app.start_server`) on port 0 with the
demo KB's default engine; ``--slow`` makes the AI take 60 seconds over any message
containing ``SLOWLY`` (so a test can kill the node mid-turn); ``--webhook`` posts every
webhook event to ``URL`` (a local receiver: private addresses allowed);
``--refresh`` is how often its waiting room recomputes wait estimates; ``--push``
offers queued conversations to agents (``[assignment] mode = "push"``, offers lasting
5 s) and, unless ``--refresh`` says otherwise, re-estimates only on changes (an hour),
so an offer of a conversation queued through another node comes from that node's queue
notice, not from this node's periodic re-estimate storing (and so republishing) the row.
``--heartbeat`` is how often it reads the other nodes' presence (default 2 s; its rows
then count for three heartbeats). Prints
``handoff listening on ws://...`` when ready; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
import time
from pathlib import Path

from handoff_server.ai import make_answerer
from handoff_server.ai.base import Answer, Answerer
from handoff_server.app import start_server
from handoff_server.config import load_settings
from handoff_server.kb import load_kb

SLOW_WORD = "SLOWLY"


class SlowAnswerer:
    """The demo engine, but 60 s over a question containing :data:`SLOW_WORD`."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner

    def answer(self, question: str) -> Answer:
        if SLOW_WORD in question:
            time.sleep(60)
        return self.inner.answer(question)


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


async def main(store_url: str, bus_url: str, data_dir: Path, args: list[str]) -> None:
    webhook, refresh = _option(args, "--webhook"), _option(args, "--refresh")
    push = "--push" in args
    heartbeat = float(_option(args, "--heartbeat") or 2.0)
    endpoints = [{"url": webhook, "secret": WEBHOOK_SECRET, "allow_private": True}]
    settings = load_settings(
        None,
        {
            "server": {"port": 0, "ai_timeout_seconds": 30, "rate_limit_per_minute": 100_000},
            "store": {"data_dir": data_dir, "url": store_url},
            # A long catch-up: what reaches another node's clients comes through the bus.
            "cluster": {
                "bus": bus_url,
                "recover_after_seconds": 1.0,
                "catch_up_seconds": 60,
                "presence_heartbeat_seconds": heartbeat,
                "presence_ttl_seconds": max(10.0, 3 * heartbeat),
            },
            "assignment": {
                "disconnect_grace_seconds": 600,
                "mode": "push" if push else "pull",
                "offer_timeout_seconds": 5 if push else 30,
            },
            "webhooks": {"endpoints": endpoints if webhook else []},
            "waiting": {"refresh_seconds": float(refresh or (3600 if push else 20))},
        },
    )
    slow = "--slow" in args
    answerer: Answerer = make_answerer(load_kb(None), "default", cache_dir=data_dir / "cache")
    if slow:
        answerer = SlowAnswerer(answerer)
    server = await start_server(settings, answerer=answerer)
    print(f"handoff listening on {server.url}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], Path(args[2]), args[3:]))

"""Benchmark: the cyclic GC around an operator's reindex on ``handoff serve``.

Starts ``handoff serve --port 0`` (extra arguments passed on, e.g. ``--engine
embeddings``), creates an operator token, reads ``/metrics`` (objects frozen, full
collections and their summed pause), has the operator add a KB entry
(``kb_entry_create``: the answerer is rebuilt and swapped in), and reads ``/metrics``
again. With :func:`handoff_server.heap.refreeze` the frozen count grows by the new
index's objects and one short full collection appears; without it the count drops (the
old index, freed) and the new index stays in the collector's reach.

Usage::

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_reindex_freeze.py [serve args]
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import agent, start_serve
from tests.server.test_operator_kb import RAILS, entry_frame

from handoff_server.client import new_client_msg_id


def gc_figures(url: str) -> tuple[float, float, float]:
    """(objects frozen, full collections, their summed pause in s) from ``/metrics``."""
    with urllib.request.urlopen(url.replace("ws://", "http://") + "/metrics", timeout=10) as r:
        text = r.read().decode()
    pattern = (
        r"^handoff_gc_frozen_objects (\S+)$",
        r'^handoff_gc_pause_seconds_count\{generation="2"\} (\S+)$',
        r'^handoff_gc_pause_seconds_sum\{generation="2"\} (\S+)$',
    )
    found = [re.search(p, text, re.M) for p in pattern]
    frozen, count, total = (float(m.group(1)) if m else float("nan") for m in found)
    return frozen, count, total


async def ask(conn: Any, frame: dict[str, object]) -> Any:
    """An operator request and the frame answering it (a reindex may take minutes)."""
    rid = new_client_msg_id()
    await conn.send({**frame, "request_id": rid})
    frames = await conn.recv_until(lambda f: getattr(f, "request_id", None) == rid, timeout=600)
    return frames[-1]


async def main(serve_args: list[str]) -> None:
    data = Path(tempfile.mkdtemp()) / "data"
    proc, url = start_serve(data, *serve_args)
    try:
        made = subprocess.run(
            [sys.executable, "-m", "handoff_cli", "token", "create", "--name", "Olga"]
            + ["--role", "operator", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            check=True,
        )
        op = await agent(url, made.stdout.strip().splitlines()[-1])
        before = gc_figures(url)
        created = await ask(op, entry_frame(RAILS))
        after = gc_figures(url)
        await op.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"reindex answered with {type(created).__name__}")
    for name, (frozen, count, total) in (("before", before), ("after", after)):
        print(
            f"{name}: frozen {frozen:.0f}, full collections {count:.0f}, their pause {total:.3f} s"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

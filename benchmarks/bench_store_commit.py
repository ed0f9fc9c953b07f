"""What a commit costs the store thread against the writes it carries (issue 14).

Appends one visitor message at a time to 50 conversations of a fresh ``SQLiteStore``
(``synchronous=FULL``, as the server opens it), in groups of 1, 2, 5 and 50 appends per
``group()`` (one transaction, one commit), on this thread; prints the user and system
CPU per append (``getrusage``) for each group size, and its ratio to a group of one
(each append its own commit), measured in the same run. Two passes over the sizes: the
machine is shared, so both are printed.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_store_commit.py [--appends 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

from handoff_server.store import ConversationRecord, NewEvent, SQLiteStore, utcnow

SIZES = (1, 2, 5, 50)
"""Appends per group (per commit)."""


def _store(conversations: int) -> SQLiteStore:
    db = SQLiteStore(Path(tempfile.mkdtemp(prefix="bench-commit-")))
    now = utcnow()
    for i in range(conversations):
        record = ConversationRecord(
            id=f"c{i}", status="ai", resume_token_hash="x", created_at=now, updated_at=now
        )
        db.create_conversation(record, [NewEvent(kind="conversation_started")])
    return db


def per_append(db: SQLiteStore, size: int, appends: int, tag: str) -> tuple[float, float]:
    """User and system CPU seconds per append, ``appends`` appends in groups of ``size``
    (conversations taken in turn)."""
    data = {"text": "How do I reset my password? " * 3}
    before = resource.getrusage(resource.RUSAGE_SELF)
    done = 0
    while done < appends:
        with db.group():
            for i in range(size):
                event = NewEvent(
                    kind="visitor_message",
                    data=data,
                    client_msg_id=f"{tag}-{done + i}",
                    sender="visitor",
                )
                db.append_events(f"c{(done + i) % 50}", [event], {})
        done += size
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) / done, (after.ru_stime - before.ru_stime) / done


def main(appends: int) -> None:
    """Print the table (microseconds per append; ratio of user + system to a group of 1)."""
    print(f"# load average {os.getloadavg()[0]:.2f} at start")
    db = _store(50)
    print(f"{'pass':>4} {'per commit':>10} {'user us':>8} {'sys us':>8} {'vs 1':>6}")
    for run in (1, 2):
        alone = 0.0
        for size in SIZES:
            user, system = per_append(db, size, appends, f"r{run}s{size}")
            total = user + system
            alone = alone or total
            print(
                f"{run:>4} {size:>10} {user * 1e6:>8.1f} {system * 1e6:>8.1f}"
                f" {total / alone:>5.2f}x"
            )
    db.close()
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=1000, help="appends per group size")
    main(parser.parse_args().appends)

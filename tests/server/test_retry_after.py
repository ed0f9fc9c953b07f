"""``Retry-After`` on a refused reconnect: a visitor's link waits at least what the server
asked (``503 not_ready`` while it starts, ``503 too_many_connections`` at its cap),
never more than a minute. A real server on an ephemeral port behind a proxy that refuses
connections, and the header's parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from handoff_server.client import VisitorLink
from handoff_server.protocol import SAck, VisitorInfo
from handoff_server.retry_after import CLIENT_CAP_SECONDS, retry_after_seconds, retry_wait
from tests.helpers import LinkProxy


async def test_a_visitor_link_waits_as_long_as_the_server_asked(server) -> None:
    """After a drop, the first reconnect is answered ``503`` with ``Retry-After: 2``: the
    link's own back-off (0.05 s here) was used, and the server asked again at once. It
    now waits the two seconds, then resumes and its message is stored."""
    faults = LinkProxy(server.port)
    proxy = await faults.start()
    waits: list[float] = []
    url = f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    link = VisitorLink(
        url,
        VisitorInfo(name="Ada"),
        initial_backoff=0.05,
        max_backoff=0.1,
        on_reconnecting=lambda attempt, delay, why: waits.append(delay),
    )
    async with proxy:
        frames = link.frames()
        await anext(frames)  # welcome
        faults.refuse, faults.drops = 1, faults.seen  # the next connection is refused
        await link.drop()
        cmid = await link.send_message("hello after the restart")
        async for frame in frames:
            if isinstance(frame, SAck) and frame.client_msg_id == cmid:
                break
        await link.close()
    assert waits and waits[0] >= 2.0, waits
    assert faults.seen == faults.drops + 2  # the refused one, then the one that resumed


def test_retry_after_is_a_floor_capped_at_a_minute() -> None:
    """Delta-seconds or an HTTP date; absent or unreadable: the back-off alone."""
    now = datetime.now(UTC)
    assert retry_wait(0.5, "2") == 2.0
    assert retry_wait(5.0, "2") == 5.0
    assert retry_wait(0.5, None) == retry_wait(0.5, "soon") == 0.5
    assert retry_wait(0.5, "86400") == CLIENT_CAP_SECONDS
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert 28 <= retry_after_seconds(later, now) <= 31
    assert retry_after_seconds("-1", now) is None and retry_after_seconds("٣", now) is None

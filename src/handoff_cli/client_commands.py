"""``handoff visit`` (a visitor, interactive or scripted), ``handoff queue`` and
``handoff transcript`` (for agents and scripts)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import Annotated, Any

import typer
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from handoff_cli.common import (
    ConfigOpt,
    JsonOpt,
    ServerOpt,
    TokenOpt,
    fail,
    fail_if_not_ready,
    key_values,
    print_json,
    settings_from,
)
from handoff_cli.output import check_output_closed, echo, for_terminal, one_line, styled
from handoff_cli.times import seconds_option
from handoff_cli.visit_fallbacks import (
    ChoiceFrame,
    CommandError,
    choice_frame,
    command_option,
    fallback_words,
    prompt_choice,
    show_offer,
    show_wait,
)
from handoff_cli.visit_partial import PartialLine
from handoff_server.client import (
    Connection,
    LinkError,
    MessageTooLong,
    VisitorLink,
    check_message_length,
    connect_agent,
    new_client_msg_id,
)
from handoff_server.client_reads import read_packet, read_queue
from handoff_server.errors import WireError
from handoff_server.kb.plaintext import markdown_to_text
from handoff_server.protocol import (
    AgentMessage,
    AiMessage,
    AOpen,
    CallbackDone,
    CallbackRequested,
    Claimed,
    ConversationStarted,
    Escalated,
    Event,
    EventAgent,
    FallbackChosen,
    HandedBack,
    HandoffPacket,
    Note,
    OfflineMessage,
    OfflineReply,
    Released,
    Reopened,
    Requeued,
    Resolved,
    SAck,
    SAiPartial,
    SError,
    SEvent,
    SFallbackOffer,
    SWaitEstimate,
    SWelcome,
    SystemMessage,
    Transferred,
    VisitorInfo,
    VisitorMessage,
    has_visible_text,
    normalized_email,
)


def _flatten(frame: Any) -> dict[str, Any]:
    """A server frame as one flat JSON object (events: their data at the top level)."""
    if isinstance(frame, SEvent):
        ev = frame.event
        out = {
            "type": "event",
            "conversation_id": ev.conversation_id,
            "seq": ev.seq,
            "kind": ev.kind,
            "actor": ev.actor,
            "at": ev.at.isoformat(),
        }
        out.update(ev.data.model_dump(mode="json"))
        return out
    return frame.model_dump(mode="json")


_NOTICES = {
    "escalated": "You're being handed to a person.",
    "claimed": "A person joined the conversation.",
    "released": "You're back in the queue for a person.",
    "handed_back": "You're back with our AI assistant.",
    "resolved": "This conversation was marked resolved.",
    "reopened": "Your conversation is open again.",
    "transferred": "A colleague is taking over this conversation.",
    "requeued": "You're back in the queue for a person.",
}
"""What a visitor is told for an event that carries no sentence of its own."""


def _agent_name(agent: EventAgent) -> str:
    return one_line(agent.name) if agent.name else "Agent"


_AGENT_ACTIONS = (Claimed, Released, HandedBack, Resolved)
"""The events of an agent's action: each carries a ``notice`` for the visitor."""


def _action_words(ev: Claimed | Released | HandedBack | Resolved) -> str:
    """The agent's own words on an action (a claim has none)."""
    return "" if isinstance(ev, Claimed) else ev.data.text or ""


def _transfer_words(ev: Transferred) -> str:
    """Who passed it to whom, with the note (for agents)."""
    to = ev.data.to_agent.name if ev.data.to_agent else f"team {ev.data.to_team or '-'}"
    words = f"{_agent_name(ev.data.agent) if ev.data.agent else 'Agent'} → {one_line(to)}"
    return f"{words} ({ev.data.note})" if ev.data.note else words


class _VisitorView:
    """Prints frames for a visitor: only the sentences written for them (the AI's and
    agents' texts, notices, errors about their own messages), never the agent-side
    analysis a frame may also carry (trigger, detail, confidence, threshold, rule).

    No typing lines: a printed line cannot be taken back, so "Sam is typing…" would stay
    on screen as a state that is soon false, and the server ends an agent's typing just
    before storing the reply, so a "stopped typing" line would precede most replies."""

    def __init__(self) -> None:
        self.welcomed = False
        self.partial = PartialLine()

    def __call__(self, frame: Any) -> None:
        if isinstance(frame, SAiPartial):
            self.partial.show(frame)
            return
        self.partial.clear()  # provisional text never stays on screen
        if isinstance(frame, SWelcome):
            if self.welcomed:
                echo(styled("reconnected; the conversation continues", dim=True), err=True)
            else:
                echo(styled(f"conversation {frame.conversation_id}", dim=True))
            self.welcomed = True
        elif isinstance(frame, SEvent):
            self._event(frame.event)
        elif isinstance(frame, SError):
            echo(styled(f"error[{frame.code}]: ", fg="red"), frame.detail)
        elif isinstance(frame, SWaitEstimate):
            show_wait(frame)
        elif isinstance(frame, SFallbackOffer):
            show_offer(frame)

    def _event(self, ev: Event) -> None:
        # KB answers are Markdown: the visitor reads them as text, the syntax removed as in
        # the agent's draft. What an agent writes is shown as written.
        if isinstance(ev, AiMessage):
            text = for_terminal(markdown_to_text(ev.data.text), offset=len("AI: "))
            echo(styled("AI", fg="cyan", bold=True), ": ", text)
        elif isinstance(ev, AgentMessage):
            echo(styled(_agent_name(ev.data.agent), fg="green", bold=True), ": ", ev.data.text)
        elif isinstance(ev, SystemMessage):
            echo(styled("· ", fg="magenta"), ev.data.text)
        elif isinstance(ev, Escalated):
            echo(styled("→ ", fg="yellow"), ev.data.text or _NOTICES[ev.kind])
        elif isinstance(ev, Reopened):
            # Reopened's text is for agents; the visitor gets the stock sentence.
            echo(styled("→ ", fg="yellow"), _NOTICES[ev.kind])
        elif isinstance(ev, Transferred | Requeued):
            echo(styled("→ ", fg="yellow"), ev.data.notice or _NOTICES[ev.kind])
        elif isinstance(ev, _AGENT_ACTIONS):
            sentence = ev.data.notice or _NOTICES[ev.kind]
            text = _action_words(ev)
            said = f" {_agent_name(ev.data.agent)}: {text}" if text else ""
            echo(styled("→ ", fg="yellow"), sentence, said)
        elif isinstance(ev, OfflineReply):
            name = _agent_name(ev.data.agent)
            echo(styled(f"{name} (by email)", fg="green", bold=True), ": ", ev.data.text)
            echo(styled("→ ", fg="yellow"), ev.data.notice)
        elif isinstance(ev, FallbackChosen | CallbackRequested | OfflineMessage | CallbackDone):
            echo(styled("→ ", fg="yellow"), ev.data.notice)


def _reconnecting(attempt: int, delay: float, reason: str) -> None:
    what = "connection lost" if attempt == 1 else f"still no connection (attempt {attempt})"
    echo(styled(f"{what}: {one_line(reason)}; retrying in {delay:.1f} s", dim=True), err=True)


class _VisitorSession:
    """One visitor conversation over a :class:`VisitorLink`: a reader task shows every
    frame and settles each sent message once its outcome arrives (the AI's answer, the
    handoff, or — when a person has the conversation — the ack; an error for it counts
    as a failure). If the reader stops (the link gave up), every wait fails with its
    exception."""

    def __init__(self, link: VisitorLink, emit: Any, messages: list[str]) -> None:
        self.link = link
        self.emit = emit
        self.messages = messages
        self.status = "ai"
        self.waiting: dict[str, asyncio.Future[bool]] = {}
        self.acked: list[str] = []
        self.failures = 0
        self.started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.broken: Exception | None = None
        """What stopped :meth:`read` (a lost link, standard output closed), if it stopped."""
        self.offer: SFallbackOffer | None = None
        """The fallback offer not answered yet, if any."""
        self.offered = asyncio.Event()
        self.choices: set[str] = set()
        """Client message ids of the answers to offers sent."""

    async def read(self) -> None:
        """Show and track every frame of the link until it stops (then fail the waits)."""
        try:
            async for frame in self.link.frames():
                self._track(frame)
                self.emit(frame)
        except Exception as exc:
            self.broken = exc
            for fut in [self.started, *self.waiting.values()]:
                if not fut.done():
                    fut.set_exception(exc)
            raise

    def _track(self, frame: Any) -> None:
        if isinstance(frame, SWelcome) and not self.started.done():
            # The server's limit is known now: refuse an over-long --message before
            # anything is shown or sent.
            for text in self.messages:
                check_message_length(text, self.link.max_message_chars)
            self.started.set_result(True)
        elif isinstance(frame, SFallbackOffer):
            self.offer = frame
            self.offered.set()
        elif isinstance(frame, SEvent):
            kind = frame.event.kind
            if kind in ("escalated", "claimed"):
                self.status = "human"
            elif kind in ("handed_back", "reopened"):
                self.status = "ai"
            if isinstance(frame.event, FallbackChosen | CallbackRequested | OfflineMessage):
                self.offer = None
                ai = (
                    isinstance(frame.event, FallbackChosen)
                    and frame.event.data.option == "ai_continues"
                )
                self.status = "ai" if ai else "human"
            if kind in ("ai_message", "escalated") and self.acked:
                self._settle(self.acked.pop(0), True)
        elif isinstance(frame, SAck) and frame.client_msg_id in self.waiting:
            # An answer to the offer is settled by its ack; a message to the AI by the reply.
            answer = frame.client_msg_id in self.choices
            if self.status == "ai" and not frame.duplicate and not answer:
                self.acked.append(frame.client_msg_id)
            else:
                self._settle(frame.client_msg_id, True)
        elif isinstance(frame, SError):
            if frame.client_msg_id in self.waiting:
                self._settle(frame.client_msg_id, False)
            elif not self.started.done():
                self.started.set_exception(LinkError(frame.code, frame.detail))

    def _settle(self, cmid: str, ok: bool) -> None:
        fut = self.waiting.pop(cmid, None)
        if fut is not None and not fut.done():
            fut.set_result(ok)

    async def say(self, text: str, timeout: float) -> None:
        """Send ``text`` and wait for its outcome. ``timeout`` seconds count only while
        one connection lasts: a reconnect starts the wait again (the link itself gives
        up after its ``retry_for``). A fallback command answers a pending offer instead
        (see :mod:`handoff_cli.visit_fallbacks`)."""
        check_message_length(text, self.link.max_message_chars)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        choice = await self._choice(text, timeout)
        cmid = choice.client_msg_id if choice is not None else new_client_msg_id()
        self.waiting[cmid] = fut  # before sending: the outcome can arrive at once
        if self.broken is not None:  # nothing would read its outcome
            raise self.broken
        if choice is not None:
            self.choices.add(cmid)
            await self.link.send_frame(choice)
        else:
            await self.link.send_message(text, client_msg_id=cmid)
        while True:
            generation = self.link.generation
            try:
                ok = await asyncio.wait_for(asyncio.shield(fut), timeout)
                break
            except TimeoutError:
                if self.link.connected and self.link.generation == generation:
                    raise
        if not ok:
            self.failures += 1

    async def _choice(self, text: str, timeout: float) -> ChoiceFrame | None:
        """The frame a fallback command stands for (waiting up to ``timeout`` for the
        offer, which follows the handoff), else ``None``: ``text`` is a message. Raises
        :class:`CommandError` for a command that cannot be sent."""
        if command_option(text) is None:
            return None
        offer = await self.current_offer(timeout)
        return choice_frame(text, offer) if offer is not None else None

    async def current_offer(self, timeout: float) -> SFallbackOffer | None:
        """The offer not answered yet; with a person asked for and none here yet, the one
        that may follow the handoff, waited for up to ``timeout`` seconds."""
        if self.offer is None and self.status == "human":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.offered.wait(), timeout)
        return self.offer


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines of standard input as they are typed, then ``None`` at its end. A daemon
    thread reads them, so leaving (the link gave up) never waits for the next line."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:  # the loop closed first: the chat is over
            return

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return lines


async def _unless_link_fails(work: Any, reader: asyncio.Task[None]) -> Any:
    """Await ``work``; if the link gives up first, raise its error (``LinkError``)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task, reader}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    reader.result()
    raise LinkError("connection_closed", "the conversation ended")


async def _chat(session: _VisitorSession, reader: asyncio.Task[None], timeout: float) -> None:
    """Send each line of standard input until it ends."""
    echo(styled("Type a message and press Enter; Ctrl-D to leave.", dim=True), err=True)
    lines = _stdin_lines()

    async def ask(prompt: str) -> str | None:
        echo(styled(prompt, bold=True))
        line = await _unless_link_fails(lines.get(), reader)
        return line.rstrip("\n") if line is not None else None

    while (line := await _unless_link_fails(lines.get(), reader)) is not None:
        text = line.rstrip("\n")
        if not has_visible_text(text):
            continue
        option = command_option(text)
        alone = text.strip().lower() in ("/callback", "/message")
        if option in ("callback", "offline_message") and alone:
            if await session.current_offer(timeout) is not None:
                text = await prompt_choice(option, ask) or text
        await _say(session, text, timeout)


async def _say(session: _VisitorSession, text: str, timeout: float) -> None:
    """Send one line; a refusal before sending is printed and counted as a failure."""
    try:
        await session.say(text, timeout)
    except MessageTooLong as exc:
        echo(styled(f"error[{exc.code}]: ", fg="red"), str(exc), " (not sent)", err=True)
        session.failures += 1
    except CommandError as exc:
        echo(styled(f"error[{exc.code}]: ", fg="red"), str(exc), " (not sent)", err=True)
        session.failures += 1


async def _visit(
    link: VisitorLink, messages: list[str], as_json: bool, linger: float, timeout: float
) -> int:
    session = _VisitorSession(
        link, (lambda f: print_json(_flatten(f))) if as_json else _VisitorView(), messages
    )
    reader = asyncio.create_task(session.read())
    try:
        await asyncio.wait_for(asyncio.shield(session.started), timeout)
        for text in messages:
            if not as_json:
                echo(styled("you", bold=True), ": ", text)
            await _say(session, text, timeout)
        if not messages:
            await _chat(session, reader, timeout)
        if linger > 0:
            await _unless_link_fails(asyncio.sleep(linger), reader)
    finally:
        await link.close()
        reader.cancel()
        with contextlib.suppress(
            asyncio.CancelledError, ConnectionClosed, LinkError, MessageTooLong, OSError
        ):
            await reader
    return 1 if session.failures else 0


MessagesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--message",
        "-m",
        metavar="TEXT",
        help="Send this message (repeatable); without it, chat interactively.",
    ),
]
FieldsOpt = Annotated[
    list[str] | None,
    typer.Option("--field", metavar="KEY=VALUE", help="Form field (repeatable)."),
]


def _visitor_info(
    name: str | None, email: str | None, page_url: str | None, fields: list[str]
) -> VisitorInfo:
    """The visitor as the options describe them, or exit with ``invalid_option`` (an
    ``--email`` that is not an address: the wire keeps any text, a person can fix it)."""
    try:
        if email is not None:
            normalized_email(email.strip())
    except ValueError as exc:
        fail(f"--email {email!r}: {exc}", "invalid_option")
    try:
        return VisitorInfo(
            name=name, email=email, page_url=page_url, fields=key_values(fields, "--field")
        )
    except ValueError as exc:
        fail(str(exc), "invalid_option")


def _check_messages(messages: list[str]) -> None:
    """Exit with ``empty_message`` before connecting (their length is checked against the
    server's limit once it is known)."""
    for text in messages:
        if not has_visible_text(text):
            fail("--message has no visible character", "empty_message")


LingerOpt = Annotated[
    float,
    seconds_option("Seconds to keep listening after the last message (e.g. for an agent's reply)."),
]
RetryForOpt = Annotated[
    float,
    seconds_option(
        "Seconds to keep reconnecting after the connection drops before giving up.", "--retry-for"
    ),
]


def visit(
    message: MessagesOpt = None,
    name: Annotated[str | None, typer.Option(metavar="TEXT", help="Visitor name.")] = None,
    email: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Visitor email (checked).")
    ] = None,
    page_url: Annotated[
        str | None, typer.Option("--page-url", metavar="URL", help="Page the visitor started on.")
    ] = None,
    field: FieldsOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    linger: LingerOpt = 0.0,
    timeout: Annotated[
        float, seconds_option("Seconds to wait for each reply.", minimum=0.1)
    ] = 30.0,
    retry_for: RetryForOpt = 60.0,
    config: ConfigOpt = None,
) -> None:
    """Chat with the AI as a website visitor.

    With --message (repeatable) it sends each message, waits for the AI's answer or the
    handoff, and exits 0 (2 with error[code] if a message is refused); --json prints every frame received
    as one JSON object a line. Without --message it reads one message a line from
    standard input until end of input.

    A dropped connection is resumed (with growing, jittered pauses, for up to --retry-for
    seconds) and unacknowledged messages are sent again; the server stores each once.
    A message over the server's limit (4000 by default) is not sent (message_too_long).
    """
    url = server or settings_from(config).client.server_url
    visitor = _visitor_info(name, email, page_url, field or [])
    _check_messages(message or [])
    link = VisitorLink(url, visitor, retry_for=retry_for, on_reconnecting=_reconnecting)
    try:
        code = asyncio.run(_visit(link, list(message or []), as_json, linger, timeout))
    except LinkError as exc:
        fail(exc.detail, exc.code)
    except MessageTooLong as exc:
        fail(f"--message: {exc}", exc.code)
    except InvalidStatus as exc:
        fail_if_not_ready(exc.response.status_code)
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    except (OSError, InvalidURI) as exc:
        check_output_closed(exc)
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    except TimeoutError:
        fail(f"no reply from {url} within {timeout:g}s", "timeout")
    except ConnectionClosed as exc:
        fail(f"the server closed the connection: {exc}", "connection_closed")
    raise typer.Exit(code)


async def _agent_conn(url: str, token: str | None) -> Connection:
    if not token:
        fail(
            "an agent token is needed: --token, $HANDOFF_TOKEN or [client] token in the config",
            "unauthorized",
        )
    try:
        conn = await connect_agent(url, token)
    except InvalidStatus as exc:
        status = exc.response.status_code
        fail_if_not_ready(status)
        fail(
            f"the server refused the token (HTTP {status})",
            "unauthorized" if status == 401 else "forbidden",
        )
    await conn.recv(timeout=10)  # authenticated
    return conn


async def _packet(conn: Connection, conversation_id: str) -> Any:
    """The handoff packet of ``conversation_id`` with its whole transcript, page by page
    (:func:`~handoff_server.client_reads.read_packet`: a ``rate_limited`` refusal, as
    in a long queue read in one go, is retried after a jittered back-off)."""
    try:
        return await read_packet(conn, conversation_id)
    except WireError as exc:
        fail(exc.detail, exc.code)


def _agent_run(url: str, work: Any) -> Any:
    """Run an agent-side coroutine; exit with a clear code when the server is
    unreachable, silent or closes the connection."""
    try:
        return asyncio.run(work)
    except (OSError, InvalidURI) as exc:
        check_output_closed(exc)
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    except TimeoutError:
        fail(f"no answer from {url} within 10 s", "timeout")
    except ConnectionClosed as exc:
        fail(f"the server closed the connection: {exc}", "connection_closed")


async def _queue(url: str, token: str | None, transcripts: bool) -> list[dict[str, Any]]:
    """The queue's rows (``QueueItem`` as JSON), each with its ``transcript`` when
    ``transcripts`` (one packet request per row)."""
    async with await _agent_conn(url, token) as conn:
        try:
            items = await read_queue(conn)
        except WireError as exc:
            fail(exc.detail, exc.code)
        out = []
        for item in items:
            row = item.model_dump(mode="json")
            if transcripts:
                packet = await _packet(conn, item.conversation_id)
                row["transcript"] = [e.model_dump(mode="json") for e in packet.transcript]
            out.append(row)
        return out


def _queue_row(r: dict[str, Any]) -> None:
    """One conversation on one line: every field from a visitor or agent is shown with
    its control characters (newlines too) as escapes, so no field can forge a row."""
    trig = r.get("trigger") or {}
    conf = r.get("last_confidence")
    who = one_line((r.get("visitor") or {}).get("name") or "visitor")
    agent = r.get("assigned_agent") or {}
    echo(
        f"{r['conversation_id']}  {r['status']:<8} p{r['priority']}  {who:<16} ",
        f"{one_line(trig.get('kind') or '-'):<20} ",
        f"conf={'-' if conf is None else f'{conf:.2f}'}  ",
        f"team={one_line(r.get('team') or '-')}  ",
        f"agent={one_line(agent.get('name') or '-')}  ",
        one_line(r.get("first_question") or ""),
    )


def queue(
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List queued and assigned conversations, most urgent first.

    Each row shows the status, priority, visitor, trigger, the AI's last confidence,
    team, assigned agent and first question; --json adds each transcript.
    """
    settings = settings_from(config)
    url = server or settings.client.server_url
    rows = _agent_run(url, _queue(url, token or settings.client.token, transcripts=as_json))
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("The queue is empty.")
    for r in rows:
        _queue_row(r)


def _transcript_event(ev: Event) -> None:
    """One event of the transcript, for an agent (confidence and trigger included)."""
    if isinstance(ev, ConversationStarted):
        return
    if isinstance(ev, VisitorMessage):
        echo(styled("visitor", bold=True), ": ", ev.data.text)
    elif isinstance(ev, AiMessage):
        conf = ev.data.confidence
        label = "AI" if conf is None else f"AI ({conf:.2f})"
        echo(styled(label, fg="cyan", bold=True), ": ", ev.data.text)
    elif isinstance(ev, AgentMessage):
        echo(styled(_agent_name(ev.data.agent), fg="green", bold=True), ": ", ev.data.text)
    elif isinstance(ev, Note):
        echo(styled(f"note ({_agent_name(ev.data.agent)})", dim=True), ": ", ev.data.text)
    elif isinstance(ev, Escalated):
        trig = ev.data.trigger
        kind, detail = (trig.kind, trig.detail) if trig is not None else ("", "")
        echo(styled("→ escalated", fg="yellow"), f" ({one_line(kind or '-')}: {one_line(detail)})")
        if ev.data.text:
            echo("  told the visitor: ", ev.data.text)
    else:
        if isinstance(ev, SystemMessage):
            notice, text = "", ev.data.text
        elif isinstance(ev, Reopened | Requeued):
            notice, text = ev.data.notice, ev.data.text
        elif isinstance(ev, Transferred):
            notice, text = ev.data.notice, _transfer_words(ev)
        elif isinstance(ev, _AGENT_ACTIONS):
            notice, text = ev.data.notice, _action_words(ev)
        else:
            notice, text = ev.data.notice, fallback_words(ev)
        said = ": ".join(t for t in (notice, text) if t)
        echo(styled(f"· {one_line(ev.kind)}", fg="magenta"), f": {said}" if said else "")


def _packet_header(packet: HandoffPacket) -> None:
    """Who, where, why: the packet's visitor, trigger, AI analysis and candidates."""
    v = packet.visitor
    agent = packet.assigned_agent.name if packet.assigned_agent else "-"
    echo(
        styled(packet.conversation_id, bold=True),
        f" {packet.status}  p{packet.priority}  team: {one_line(packet.team or '-')}  ",
        f"agent: {one_line(agent)}",
    )
    echo(
        f"visitor: {one_line(v.name or '-')} <{one_line(v.email or '-')}>  ",
        f"page: {one_line(v.page_url or '-')}",
    )
    for key, value in v.fields.items():
        echo(f"  {one_line(key)}: {one_line(value)}")
    if packet.trigger:
        echo(f"trigger: {one_line(packet.trigger.kind)} — {one_line(packet.trigger.detail)}")
    if packet.analysis:
        echo("analysis: ", packet.analysis)
    for c in packet.candidates:
        echo(f"  candidate {one_line(c.entry_id)}: {c.score:.2f}  {one_line(c.title)}")
    if packet.confidence_history:
        echo("confidence history: " + ", ".join(f"{c:.2f}" for c in packet.confidence_history))


def transcript(
    conversation_id: Annotated[
        str, typer.Argument(metavar="CONVERSATION_ID", help="Conversation id.")
    ],
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Print a conversation's handoff packet.

    The visitor and their fields, the trigger, the AI's analysis and candidates, then the
    transcript; --json prints the packet as one JSON object.
    """
    settings = settings_from(config)
    url = server or settings.client.server_url
    try:
        AOpen(type="open", conversation_id=conversation_id)
    except ValueError:
        fail(f"{conversation_id!r} is not a conversation id", "invalid_option")

    async def run() -> HandoffPacket:
        async with await _agent_conn(url, token or settings.client.token) as conn:
            return await _packet(conn, conversation_id)

    packet = _agent_run(url, run())
    if as_json:
        print_json(packet.model_dump(mode="json"))
        return
    _packet_header(packet)
    for ev in packet.transcript:
        _transcript_event(ev)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command("visit")(visit)
    app.command("queue")(queue)
    app.command("transcript")(transcript)

"""``handoff visit`` (a visitor, interactive or scripted), ``handoff queue`` and
``handoff transcript`` (for agents and scripts)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from handoff_cli.common import (
    ConfigOpt,
    JsonOpt,
    ServerOpt,
    TokenOpt,
    fail,
    key_values,
    print_json,
    settings_from,
)
from handoff_server.client import Connection, connect_agent, connect_visitor, new_client_msg_id
from handoff_server.protocol import (
    AOpen,
    ASubscribeQueue,
    SAck,
    SConversation,
    SError,
    SEvent,
    SQueue,
    STyping,
    SWelcome,
    VisitorInfo,
    VMessage,
    VStart,
)

console = Console(highlight=False)


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
        out.update(ev.data)
        return out
    return frame.model_dump(mode="json")


def _say(frame: Any) -> None:
    """Print a frame for a person."""
    if isinstance(frame, SWelcome):
        console.print(f"[dim]conversation {frame.conversation_id}[/dim]")
    elif isinstance(frame, SEvent):
        ev = frame.event
        d = ev.data
        if ev.kind == "ai_message":
            conf = d.get("confidence")
            console.print(
                f"[bold cyan]AI[/bold cyan] [dim](confidence {conf:.2f})[/dim]: {d.get('text', '')}"
            )
        elif ev.kind == "agent_message":
            console.print(
                f"[bold green]{d.get('agent', {}).get('name', 'Agent')}[/bold green]: {d.get('text', '')}"
            )
        elif ev.kind == "escalated":
            trig = d.get("trigger") or {}
            console.print(
                f"[yellow]→ handed to a person ({trig.get('kind')}: {trig.get('detail')})[/yellow]"
            )
            console.print(f"[yellow]{d.get('text', '')}[/yellow]")
        elif ev.kind in (
            "claimed",
            "released",
            "handed_back",
            "resolved",
            "reopened",
            "system_message",
        ):
            said = d.get("text")
            console.print(
                f"[magenta]· {d.get('notice') or ev.kind}{': ' + said if said else ''}[/magenta]"
            )
    elif isinstance(frame, SError):
        console.print(f"[red]error[{frame.code}]: {frame.detail}[/red]")
    elif isinstance(frame, STyping) and frame.active:
        console.print(f"[dim]{frame.name or frame.role} is typing…[/dim]")


class _VisitorSession:
    """One visitor connection: a reader task shows every frame and settles each sent
    message once its outcome arrives (the AI's answer, the handoff, or — when a person has
    the conversation — the ack; an error for it counts as a failure)."""

    def __init__(self, conn: Connection, emit: Any) -> None:
        self.conn = conn
        self.emit = emit
        self.status = "ai"
        self.waiting: dict[str, asyncio.Future[bool]] = {}
        self.acked: list[str] = []
        self.failures = 0
        self.started = asyncio.get_running_loop().create_future()

    async def read(self) -> None:
        async for frame in self.conn.frames():
            self.emit(frame)
            if isinstance(frame, SEvent):
                kind = frame.event.kind
                if kind == "conversation_started" and not self.started.done():
                    self.started.set_result(True)
                if kind in ("escalated", "claimed"):
                    self.status = "human"
                elif kind in ("handed_back", "reopened"):
                    self.status = "ai"
                if kind in ("ai_message", "escalated") and self.acked:
                    self._settle(self.acked.pop(0), True)
            elif isinstance(frame, SAck) and frame.client_msg_id in self.waiting:
                if self.status == "ai" and not frame.duplicate:
                    self.acked.append(frame.client_msg_id)
                else:
                    self._settle(frame.client_msg_id, True)
            elif isinstance(frame, SError):
                if frame.client_msg_id in self.waiting:
                    self._settle(frame.client_msg_id, False)
                elif not self.started.done():
                    self.started.set_exception(RuntimeError(f"{frame.code}: {frame.detail}"))

    def _settle(self, cmid: str, ok: bool) -> None:
        fut = self.waiting.pop(cmid, None)
        if fut is not None and not fut.done():
            fut.set_result(ok)

    async def say(self, text: str, timeout: float) -> None:
        cmid = new_client_msg_id()
        fut = asyncio.get_running_loop().create_future()
        self.waiting[cmid] = fut
        await self.conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
        if not await asyncio.wait_for(fut, timeout):
            self.failures += 1


async def _visit(
    server: str,
    visitor: VisitorInfo,
    messages: list[str],
    as_json: bool,
    linger: float,
    timeout: float,
) -> int:
    async with await connect_visitor(server) as conn:
        session = _VisitorSession(conn, (lambda f: print_json(_flatten(f))) if as_json else _say)
        reader = asyncio.create_task(session.read())
        try:
            await conn.send(VStart(type="start", visitor=visitor))
            await asyncio.wait_for(session.started, timeout)
            if messages:
                for text in messages:
                    if not as_json:
                        console.print(f"[bold]you[/bold]: {text}")
                    await session.say(text, timeout)
            else:
                console.print("[dim]Type a message and press Enter; Ctrl-D to leave.[/dim]")
                while line := await asyncio.to_thread(sys.stdin.readline):
                    if line.strip():
                        await session.say(line.rstrip("\n"), timeout)
            if linger > 0:
                await asyncio.sleep(linger)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader
    return 1 if session.failures else 0


def visit(
    message: Annotated[
        list[str] | None,
        typer.Option(
            "--message",
            "-m",
            help="Send this message (repeatable); without it, chat interactively.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Visitor name.")] = None,
    email: Annotated[str | None, typer.Option(help="Visitor email.")] = None,
    page_url: Annotated[
        str | None, typer.Option("--page-url", help="Page the visitor started on.")
    ] = None,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Form field KEY=VALUE (repeatable).")
    ] = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    linger: Annotated[
        float,
        typer.Option(
            help="Seconds to keep listening after the last message (e.g. for an agent's reply).",
            min=0,
        ),
    ] = 0.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.", min=0.1)] = 30.0,
    config: ConfigOpt = None,
) -> None:
    """Chat with the AI as a website visitor.

    With --message (repeatable) it sends each message, waits for the AI's answer or the
    handoff, and exits 0; --json prints every frame received as one JSON object a line.
    """
    settings = settings_from(config)
    url = server or settings.client.server_url
    try:
        visitor = VisitorInfo(name=name, email=email, page_url=page_url, fields=key_values(field or [], "--field"))
    except ValueError as exc:
        fail(str(exc), "invalid_option")
    for text in message or []:
        if not text.strip():
            fail("--message must not be empty", "empty_message")
    try:
        code = asyncio.run(_visit(url, visitor, list(message or []), as_json, linger, timeout))
    except (OSError, InvalidURI, InvalidStatus) as exc:
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
        fail(
            f"the server refused the token (HTTP {status})",
            "unauthorized" if status == 401 else "forbidden",
        )
    await conn.recv(timeout=10)  # authenticated
    return conn


async def _packet(conn: Connection, conversation_id: str) -> Any:
    await conn.send(AOpen(type="open", conversation_id=conversation_id, subscribe=False))
    frames = await conn.recv_until(lambda f: isinstance(f, SConversation | SError), 10)
    last = frames[-1]
    if isinstance(last, SError):
        fail(last.detail, last.code)
    return last.packet


async def _queue(url: str, token: str | None) -> list[dict[str, Any]]:
    async with await _agent_conn(url, token) as conn:
        await conn.send(ASubscribeQueue(type="subscribe_queue"))
        frames = await conn.recv_until(lambda f: isinstance(f, SQueue), 10)
        out = []
        for item in frames[-1].items:
            row = item.model_dump(mode="json")
            packet = await _packet(conn, item.conversation_id)
            row["transcript"] = [e.model_dump(mode="json") for e in packet.transcript]
            out.append(row)
        return out


def queue(
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List queued and assigned conversations, highest priority first, with the trigger,
    the AI's last confidence and (with --json) the transcript."""
    settings = settings_from(config)
    url = server or settings.client.server_url
    try:
        rows = asyncio.run(_queue(url, token or settings.client.token))
    except (OSError, InvalidURI) as exc:
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("The queue is empty.")
    for r in rows:
        trig = r.get("trigger") or {}
        conf = r.get("last_confidence")
        who = (r.get("visitor") or {}).get("name") or "visitor"
        console.print(
            f"{r['conversation_id']}  {r['status']:<8} p{r['priority']}  {who:<16} "
            f"{trig.get('kind', '-'):<20} conf={'-' if conf is None else f'{conf:.2f}'}  {r.get('first_question') or ''}"
        )


def transcript(
    conversation_id: Annotated[str, typer.Argument(help="Conversation id.")],
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Print a conversation's handoff packet: transcript, trigger, AI analysis, visitor."""
    settings = settings_from(config)
    url = server or settings.client.server_url

    async def run() -> Any:
        async with await _agent_conn(url, token or settings.client.token) as conn:
            return await _packet(conn, conversation_id)

    try:
        packet = asyncio.run(run())
    except (OSError, InvalidURI) as exc:
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    if as_json:
        print_json(packet.model_dump(mode="json"))
        return
    trig = packet.trigger
    console.print(
        f"[bold]{conversation_id}[/bold] {packet.status}  visitor: {packet.visitor.name or '-'} <{packet.visitor.email or '-'}>  page: {packet.visitor.page_url or '-'}"
    )
    if trig:
        console.print(f"trigger: {trig.kind} — {trig.detail}")
    for ev in packet.transcript:
        _say(SEvent(event=ev))
        if ev.kind == "visitor_message":
            console.print(f"[bold]visitor[/bold]: {ev.data.get('text', '')}")
        elif ev.kind == "note":
            console.print(
                f"[dim]note ({ev.data.get('agent', {}).get('name')}): {ev.data.get('text')}[/dim]"
            )


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command("visit")(visit)
    app.command("queue")(queue)
    app.command("transcript")(transcript)

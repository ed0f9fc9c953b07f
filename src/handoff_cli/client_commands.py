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
            console.print(f"[magenta]· {d.get('text', ev.kind)}[/magenta]")
    elif isinstance(frame, SError):
        console.print(f"[red]error[{frame.code}]: {frame.detail}[/red]")
    elif isinstance(frame, STyping) and frame.active:
        console.print(f"[dim]{frame.name or frame.role} is typing…[/dim]")


async def _visit(
    server: str,
    visitor: VisitorInfo,
    messages: list[str],
    as_json: bool,
    linger: float,
    timeout: float,
) -> int:
    emit = print_json if as_json else None
    failures = 0
    async with await connect_visitor(server) as conn:
        await conn.send(VStart(type="start", visitor=visitor))
        status = "ai"

        def show(frame: Any) -> None:
            nonlocal status
            if isinstance(frame, SEvent) and frame.event.kind in ("escalated", "claimed"):
                status = "queued"
            if isinstance(frame, SEvent) and frame.event.kind in ("handed_back", "reopened"):
                status = "ai"
            if emit:
                emit(_flatten(frame))
            else:
                _say(frame)

        for frame in await conn.recv_until(lambda f: isinstance(f, SEvent | SError), timeout):
            show(frame)
        if not messages:
            return await _interactive(conn, show)
        for text in messages:
            cmid = new_client_msg_id()
            await conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
            if not as_json:
                console.print(f"[bold]you[/bold]: {text}")
            acked = False
            while True:
                frame = await conn.recv(timeout=timeout)
                show(frame)
                if isinstance(frame, SError) and frame.client_msg_id == cmid:
                    failures += 1
                    break
                if isinstance(frame, SAck) and frame.client_msg_id == cmid:
                    acked = True
                    if status != "ai":
                        break  # with a person: the AI stays silent, nothing more to wait for
                    continue
                if (
                    acked
                    and isinstance(frame, SEvent)
                    and frame.event.kind in ("ai_message", "escalated")
                ):
                    break
        if linger > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(linger):
                    async for frame in conn.frames():
                        show(frame)
    return 1 if failures else 0


async def _interactive(conn: Connection, show: Any) -> int:
    console.print("[dim]Type a message and press Enter; Ctrl-D to leave.[/dim]")

    async def reader() -> None:
        async for frame in conn.frames():
            if not isinstance(frame, SAck):
                show(frame)

    task = asyncio.create_task(reader())
    try:
        while True:
            try:
                line = await asyncio.to_thread(sys.stdin.readline)
            except (KeyboardInterrupt, EOFError):
                break
            if not line:
                break
            if line.strip():
                await conn.send(
                    VMessage(
                        type="message", client_msg_id=new_client_msg_id(), text=line.rstrip("\n")
                    )
                )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task
    return 0


def _field(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--field takes KEY=VALUE, got {item!r}", "invalid_option")
        out[key.strip()] = value
    return out


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
        visitor = VisitorInfo(name=name, email=email, page_url=page_url, fields=_field(field or []))
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

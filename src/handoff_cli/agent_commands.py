"""``handoff agent`` (the agent terminal UI), ``handoff operator`` (the same UI opened on
the operator screens) and ``handoff demo`` (a whole support desk on this machine: server,
simulated visitors and the agent UI)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from handoff_cli.common import (
    ConfigOpt,
    DemoKbOpt,
    ServerOpt,
    TokenOpt,
    fail,
    settings_from,
)
from handoff_cli.times import seconds_option
from handoff_server.userfiles import DATA_FILE_BYTES, read_user_text

if TYPE_CHECKING:
    from handoff_tui import TUISettings

__all__ = ["agent_settings", "register"]

log = logging.getLogger("handoff.demo")


def agent_settings(config: Path | None, server: str | None, token: str | None) -> TUISettings:
    """The agent UI's settings: ``server`` and ``token`` (options or their environment
    variables), else the ``[client]`` section of ``config`` (read once). Exits with
    ``no_token`` when there is no token, ``unauthorized``/``forbidden`` (naming the
    server) when the server refuses it; an unreachable server, and one still starting
    (HTTP 503 ``not_ready``: building or loading its index), are left to the UI, which
    waits for them and says so."""
    from handoff_tui import TUISettings

    client = settings_from(config).client
    url = server or client.server_url
    token = token or client.token
    if not token:
        fail(
            "no token: pass --token, set HANDOFF_TOKEN or [client] token in the config"
            " ('handoff token create')",
            "no_token",
        )
    asyncio.run(_check_token(url, token))
    return TUISettings(server_url=url, token=token)


async def _check_token(url: str, token: str) -> None:
    """Exit with a clear error when the server at ``url`` refuses ``token``. A server
    still starting cannot say yet: the UI checks the token once it is ready."""
    from websockets.exceptions import InvalidStatus, InvalidURI

    from handoff_server.client import connect_agent

    try:
        conn = await asyncio.wait_for(connect_agent(url, token), 10)
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 503:
            return
        fail(
            f"the server at {url} refused the token (HTTP {status}): check --token / "
            "HANDOFF_TOKEN ('handoff token create')",
            "unauthorized" if status == 401 else "forbidden",
        )
    except InvalidURI as exc:
        fail(f"--server: {exc}", "invalid_option")
    except (OSError, TimeoutError):
        return
    await conn.close()


def agent(server: ServerOpt = None, token: TokenOpt = None, config: ConfigOpt = None) -> None:
    """Open the agent terminal UI. It shows the live queue and your conversations.

    The server defaults to $HANDOFF_SERVER_URL, else [client] server_url in the config;
    the token to $HANDOFF_TOKEN, else [client] token (create one with 'handoff token
    create'). A refused token exits at once (unauthorized).
    """
    from handoff_tui import make_app

    app = make_app(agent_settings(config, server, token))
    app.run()
    if app.refusal:
        fail(
            f"{app.refusal}: check --token / HANDOFF_TOKEN ('handoff token create')", "unauthorized"
        )


def operator(server: ServerOpt = None, token: TokenOpt = None, config: ConfigOpt = None) -> None:
    """Open the operator screens. Tune the escalation policy live (checked as you type),
    see what a change would do on your own conversations before applying it, its history
    and rollbacks, risk–coverage, analytics and knowledge gaps.

    Needs an operator token ('handoff token create --role operator'); server and token
    as for 'handoff agent'. An agent's token exits at once (forbidden). The queue is one
    escape away: operators work it too.
    """
    from handoff_tui import make_app

    app = make_app(agent_settings(config, server, token), operator=True)
    app.run()
    if app.refusal:
        code = app.model.link.refusal_code
        how = "--role operator" if code == "forbidden" else ""
        fail(
            f"{app.refusal}: check --token / HANDOFF_TOKEN ('handoff token create{how and ' ' + how}')",
            code,
        )


# --------------------------------------------------------------------------- demo

ESCALATING: dict[str, list[str]] = {
    "human request": [
        "I want to talk to a human",
        "Can I speak to a real person please?",
        "Please get me an agent, not a bot",
        "Let me speak to a manager right now",
        "Is there a phone number? I'd rather talk to someone",
    ],
    "frustration": [
        "This is the third outage this month and nobody tells us anything. Absolutely useless.",
        "I've been trying to fix this for two hours, this is ridiculous and I'm furious",
        "Our shop has been down all morning and we're losing sales, this is unacceptable",
        "Everything is broken again and I'm sick of it",
    ],
    "keyword": [
        "I want to cancel my account today",
        "Cancel account please, we are moving to another host",
        "We think there was a data breach on one of our mailboxes",
        "Please cancel account for our agency, we're done",
        "I need to cancel account and get my data out before Friday",
    ],
    "low confidence": [
        "Do you sell gift cards for the garden centre?",
        "What's the weather going to be like in Lisbon tomorrow?",
        "Can you recommend a good accountant?",
        "My cat walked over the keyboard and now the screen is upside down",
        "Can you help me write a cover letter for a job application?",
    ],
}
"""Visitor messages the AI should not handle alone, by the trigger they are meant to fire
under the default policy (checked with ``handoff triage``)."""

FOLLOW_UPS = [
    "Thanks, that helps. One more thing: is this on my invoice?",
    "Great, thank you! Will I get an email when it's done?",
    "OK, I'll try that now.",
    "Thanks. How long does that usually take?",
    "That worked, cheers.",
    "Hmm, I don't see that option. Where exactly is it?",
]
"""What an escalated visitor answers to the agent's first reply."""

FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Margaret",
    "Barbara",
    "Ken",
    "Radia",
    "Katherine",
    "Edsger",
    "Frances",
    "Linus",
    "Hedy",
    "Dennis",
    "Sophie",
    "Tim",
    "Anita",
    "Vint",
    "Shafi",
]
LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Hamilton",
    "Liskov",
    "Thompson",
    "Perlman",
    "Johnson",
    "Dijkstra",
    "Allen",
    "Torvalds",
    "Lamarr",
    "Ritchie",
    "Wilson",
    "Berners-Lee",
    "Borg",
    "Cerf",
    "Goldwasser",
]
DOMAINS = ["example.com", "example.org", "shop.example", "studio.example", "mail.example"]
PAGES = [
    "https://brambleport.example/help/dns",
    "https://brambleport.example/billing",
    "https://brambleport.example/pricing",
    "https://brambleport.example/help/email",
    "https://brambleport.example/account/settings",
    "https://brambleport.example/status",
]
PLANS = ["Starter", "Business", "Pro", "Agency"]


def _kb_questions(kb: Path | None) -> list[str]:
    from handoff_server.kb import load_kb

    questions: list[str] = []
    for entry in load_kb(kb).entries:
        if not getattr(entry, "out_of_scope", False):
            questions.extend(entry.questions[:3])
    return questions


def _csv_questions(path: Path) -> list[str]:
    try:
        text = read_user_text(path, DATA_FILE_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}", "bad_questions")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    column = next(
        (c for c in ("text", "question", "query") if c in (reader.fieldnames or [])), None
    )
    if column is None:
        fail(f"{path}: needs a 'text' or 'question' column", "bad_questions")
    return [row[column].strip() for row in reader if row.get(column, "").strip()]


@dataclass
class _Demo:
    """A running demo: the data dir, the server process, its URL and, with the demo page
    on, the page's URL."""

    data_dir: Path
    process: subprocess.Popen[str]
    url: str
    page_url: str | None = None


def _handoff(*args: str) -> list[str]:
    return [sys.executable, "-m", "handoff_cli", *args]


def _checked_pool(questions: Path | None, kb: Path | None) -> tuple[list[str], float | None]:
    """The demo visitors' questions and the estimated seconds of the KB's first index
    build (None: the index is cached), checked before anything is created: a refused
    option leaves nothing behind."""
    pool = _csv_questions(questions) if questions else _kb_questions(kb)
    if not pool:
        fail("no questions to ask", "bad_questions")
    return pool, _build_seconds(kb)


def _build_seconds(kb: Path | None) -> float | None:
    """About how long the build of ``kb``'s index takes (the server's own estimate,
    :func:`handoff_server.warmup.build_estimate`, for the environment's engine), or
    None when the server will load it from :func:`demo_cache_dir` instead."""
    from handoff_server.ai.factory import index_path
    from handoff_server.answering import index_engine
    from handoff_server.kb import load_kb
    from handoff_server.warmup import build_estimate

    loaded, engine = load_kb(kb), index_engine(settings_from(None))
    if index_path(loaded, engine, demo_cache_dir()).exists():
        return None
    return build_estimate(loaded, engine)


def _starting_note(data_dir: Path, kb: Path | None, seconds: float | None) -> str:
    if seconds is None:
        return f"starting the server in {data_dir} … (loading the cached index from {demo_cache_dir()})"
    which = "the demo KB" if kb is None else "this KB"
    return (
        f"starting the server in {data_dir} … (the first run with a KB builds its index, "
        f"about {seconds:.0f} s for {which} on a quiet 2-core machine, longer when busy; "
        f"later runs load it from {demo_cache_dir()})"
    )


def demo_cache_dir() -> Path:
    """Where ``handoff demo`` keeps built indexes between runs: the folder ``handoff
    serve`` (and ``kb build``, ``eval``, ``triage``) use without ``--data-dir`` or
    ``--config``, :func:`handoff_server.config.index_cache_dir` of the environment's
    settings (``[ai] cache_dir``, else ``cache`` in the default data dir,
    ``~/.local/share/handoff/cache`` on Linux; ``HANDOFF_AI__CACHE_DIR``,
    ``HANDOFF_STORE__DATA_DIR`` or ``HANDOFF_CONFIG`` change it as they change those
    commands'). So the demo's index and the server's are one: whichever builds it first,
    the other loads it. Exits with ``bad_config`` when the environment's settings are
    invalid."""
    from handoff_server.config import index_cache_dir

    return index_cache_dir(settings_from(None))


def _prepare_cache_dir() -> Path:
    """:func:`demo_cache_dir`, with the default data dir created first (mode 0700, as
    ``handoff serve`` creates it) when the cache lies in it: the cache would create it
    with the umask's mode, and ``handoff serve`` would warn that others can read it. A
    data dir that cannot be made is left to the server (the cache is optional)."""
    from handoff_server.datadir import private_dir

    cache = demo_cache_dir()
    data_dir = settings_from(None).store.data_dir
    if cache.is_relative_to(data_dir):
        with contextlib.suppress(OSError):
            private_dir(data_dir)
    return cache


def _start_server(
    data_dir: Path, kb: Path | None, port: int, timeout: float, *, web: bool = False
) -> _Demo:
    """Start ``handoff serve`` (with the demo page when ``web``) and wait for its address
    (and the page's)."""
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "WARNING"]
    if kb:
        args += ["--kb", str(kb)]
    if web:
        args.append("--demo-page")
    log_file = (data_dir / "server.log").open("w", encoding="utf-8")
    # The data dir is temporary, the cache is not: the one `handoff serve` uses by default.
    env = {**os.environ, "HANDOFF_AI__CACHE_DIR": str(_prepare_cache_dir())}
    # Same process group as the UI: if the terminal goes away (SIGHUP) the server goes too.
    proc = subprocess.Popen(
        _handoff(*args), stdout=subprocess.PIPE, stderr=log_file, text=True, env=env
    )
    try:
        return _await_address(proc, data_dir, timeout, web)
    except BaseException:  # an interrupt while it starts: no server left behind
        proc.kill()
        raise


def _await_address(proc: subprocess.Popen[str], data_dir: Path, timeout: float, web: bool) -> _Demo:
    """Read the started server's address (and its page's, with ``web``) from its
    output; exits with ``server_failed`` when it ends or takes over ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    url: str | None = None
    while True:
        line = proc.stdout.readline()
        if "listening on" in line:
            url = line.strip().rsplit(" ", 1)[-1]
            if not web:
                return _Demo(data_dir, proc, url)
        if url is not None and "demo page on" in line:
            return _Demo(data_dir, proc, url, line.strip().rsplit(" ", 1)[-1])
        if not line or time.monotonic() > deadline:
            proc.kill()
            fail(f"the server did not start; see {data_dir / 'server.log'}", "server_failed")


def _create_token(data_dir: Path) -> str:
    out = subprocess.run(
        _handoff(
            "token",
            "create",
            "--name",
            "Demo Agent",
            "--role",
            "agent",
            "--data-dir",
            str(data_dir),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        fail(f"cannot create a token: {out.stderr.strip()}", "token_failed")
    return out.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class SimulatedVisitor:
    """One visitor of the demo: who they are, what they first say, and why (``reason``:
    ``kb question`` for a question the AI should answer, else the escalation category)."""

    name: str
    email: str
    text: str
    reason: str
    follow_up: str
    """What they answer to the agent's first reply."""


class _Deck:
    """Draws items in a shuffled order without repeats until all were drawn, then again."""

    def __init__(self, items: list[str], rng: random.Random) -> None:
        self._items = list(items)
        self._rng = rng
        self._left: list[str] = []

    def draw(self) -> str:
        """The next item."""
        if not self._left:
            self._left = self._items[:]
            self._rng.shuffle(self._left)
        return self._left.pop()


def visitor_script(
    questions: list[str], escalate_share: float, seed: int
) -> Iterator[SimulatedVisitor]:
    """The demo's visitors, in order: deterministic for a ``seed``, endless.

    The first visitor asks for a handoff (the queue is busy within seconds), the second
    asks a KB question (the AI view shows the AI at work); after that a share
    ``escalate_share`` (0–1) escalate. Escalating visitors go through the categories of
    :data:`ESCALATING` in turn (human request, frustration, keyword, low confidence); no
    name, question or escalating line repeats until its list is used up.
    """
    rng = random.Random(seed)
    people = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(people)
    categories = list(ESCALATING)
    lines = {category: _Deck(texts, rng) for category, texts in ESCALATING.items()}
    asked, follow_ups = _Deck(questions, rng), _Deck(FOLLOW_UPS, rng)
    escalations = 0
    for n in itertools.count():
        name = people[n % len(people)]
        email = f"{name.split()[0].lower()}.{n}@{rng.choice(DOMAINS)}"
        escalate = n == 0 or (n > 1 and rng.random() < escalate_share)
        if escalate:
            reason = categories[escalations % len(categories)]
            escalations += 1
            text = lines[reason].draw()
        else:
            reason, text = "kb question", asked.draw()
        yield SimulatedVisitor(name, email, text, reason, follow_ups.draw())


async def _visitor(
    url: str, rng: random.Random, who: SimulatedVisitor, hold_seconds: float
) -> None:
    """One simulated visitor: start, type, ask, read the answer; stay a while if handed off."""
    from handoff_server.client import connect_visitor, new_client_msg_id
    from handoff_server.protocol import SEvent, VisitorInfo, VMessage, VStart, VTyping

    info = VisitorInfo(
        name=who.name,
        email=who.email,
        page_url=rng.choice(PAGES),
        fields={"plan": rng.choice(PLANS), "customer since": str(rng.randint(2015, 2025))},
    )
    async with await connect_visitor(url) as conn:
        await conn.send(VStart(type="start", visitor=info))
        await conn.send(VTyping(type="typing", active=True))
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        await conn.send(VMessage(type="message", client_msg_id=new_client_msg_id(), text=who.text))
        frames = await conn.recv_until(
            lambda f: isinstance(f, SEvent) and f.event.kind in ("ai_message", "escalated"),
            timeout=30,
        )
        if frames[-1].event.kind == "escalated":
            # Stay connected so the agent's replies reach someone; answer once.
            deadline = asyncio.get_running_loop().time() + hold_seconds
            answered = False
            while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    frame = await conn.recv(timeout=remaining)
                except TimeoutError:
                    break
                if isinstance(frame, SEvent) and frame.event.kind == "resolved":
                    break
                if (
                    isinstance(frame, SEvent)
                    and frame.event.kind == "agent_message"
                    and not answered
                ):
                    answered = True
                    await conn.send(VTyping(type="typing", active=True))
                    await asyncio.sleep(2.0)
                    await conn.send(
                        VMessage(
                            type="message", client_msg_id=new_client_msg_id(), text=who.follow_up
                        )
                    )


async def simulate(
    url: str, questions: list[str], interval: float, escalate_share: float, seed: int
) -> None:
    """Start the visitors of :func:`visitor_script` against the server at ``url`` until
    cancelled: the first two within a second (an escalation, then a question the AI
    answers), then one every ``interval`` seconds on average."""
    rng = random.Random(seed)
    tasks: set[asyncio.Task[None]] = set()
    try:
        for n, who in enumerate(visitor_script(questions, escalate_share, seed), start=1):
            task = asyncio.create_task(_visitor(url, rng, who, hold_seconds=600))
            tasks.add(task)
            task.add_done_callback(_log_outcome(tasks))
            await asyncio.sleep(1.0 if n == 1 else interval * rng.uniform(0.5, 1.5))
    finally:
        for task in tasks:
            task.cancel()


def _log_outcome(tasks: set[asyncio.Task[None]]):
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.warning("simulated visitor failed: %r", task.exception())

    return done


async def _run_demo(
    url: str, token: str, questions: list[str], interval: float, escalate_share: float, seed: int
) -> None:
    from handoff_tui import TUISettings, make_app

    app = make_app(TUISettings(server_url=url, token=token))
    sim = asyncio.create_task(simulate(url, questions, interval, escalate_share, seed))
    loop = asyncio.get_running_loop()
    # SIGTERM (systemd, docker stop, timeout) quits the UI as ctrl+q does.
    loop.add_signal_handler(signal.SIGTERM, app.exit)
    try:
        await app.run_async()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        sim.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sim


_WebOpt = Annotated[
    bool,
    typer.Option(
        "--web",
        help="Be the visitor in a browser: serve the demo page with the web widget, "
        "print its URL and the agent UI's command, and run until Ctrl-C.",
    ),
]


def demo(
    kb: DemoKbOpt = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="CSV of real visitor questions ('text' or 'question' column).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    interval: Annotated[
        float, seconds_option("Average seconds between new visitors.", minimum=0.2)
    ] = 8.0,
    escalate_share: Annotated[
        float,
        typer.Option(
            metavar="FRACTION",
            help="Share (0–1) of visitors sent a message meant to be handed "
            "off (the first visitor always is).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.35,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Random seed for the simulated visitors.")
    ] = 7,
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Server port (0 picks a free one).", min=0)
    ] = 0,
    keep_data: Annotated[
        bool, typer.Option(help="Keep the temporary data dir (its path is printed).")
    ] = False,
    web: _WebOpt = False,
) -> None:
    """Run a whole support desk here. A server on embedded defaults in a temporary data dir,
    simulated visitors (some the AI answers, some it hands off), and the agent UI.
    Quitting the UI (ctrl+q) stops everything. With --web: the demo page instead; open it,
    chat in its widget and answer from the printed 'handoff agent' command."""
    pool, seconds = _checked_pool(questions, kb)
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-demo-"))
    try:
        logging.basicConfig(filename=data_dir / "demo.log", level=logging.INFO)
        typer.echo(_starting_note(data_dir, kb, seconds), err=True)
        with _terminated_as_interrupted():
            token = _create_token(data_dir)
            server = _start_server(data_dir, kb, port, timeout=300, web=web)
            with _running(server.process):
                if web:
                    _serve_web(server, token)
                else:
                    asyncio.run(_run_demo(server.url, token, pool, interval, escalate_share, seed))
    finally:
        if keep_data:
            typer.echo(f"data kept in {data_dir}", err=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _serve_web(server: _Demo, token: str) -> None:
    """Print the demo page's URL and the agent UI's command; wait for Ctrl-C (or the
    server's end)."""
    # A Ctrl-C from the first line printed on is the way to stop (exit status 0): one
    # that came between the lines and the wait used to end the demo with status 130.
    with contextlib.suppress(KeyboardInterrupt):
        typer.echo(f"demo page: {server.page_url}")
        typer.echo(f"answer as an agent: handoff agent --server {server.url} --token {token}")
        typer.echo("Ctrl-C stops the server and deletes its data.", err=True)
        server.process.wait()


@contextlib.contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """Within the block SIGTERM (systemd, ``docker stop``, ``timeout``) is Ctrl-C: the
    demo stops its server and deletes its temporary data either way (the default
    SIGTERM ended the process at once, leaving both behind)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _running(process: subprocess.Popen[str]) -> Iterator[None]:
    """Stop ``process`` when the block ends, however it ends."""
    try:
        yield
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def register(app: typer.Typer) -> None:
    """Add ``agent``, ``operator`` and ``demo`` to the main app."""
    app.command("agent")(agent)
    app.command("operator")(operator)
    app.command("demo")(demo)

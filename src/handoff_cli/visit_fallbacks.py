"""``handoff visit`` when nobody can come: the wait estimate, the fallback offer and the
visitor's answer to it.

While an offer is pending, a line (typed, or a ``--message``) that is one of these
commands answers it instead of being sent as a message:

- ``/wait``: stay in the queue; ``/ai``: go on with the AI until a person comes;
- ``/callback CONTACT[; TIME[; NOTE]]``: a call back at CONTACT (a phone number in
  international format, or an email address), at TIME (``2026-03-03 10:00``, in this
  machine's time zone unless it carries an offset; left out: as soon as possible);
- ``/message EMAIL; TEXT``: leave TEXT, to be answered by email at EMAIL.

Typed alone, ``/callback`` and ``/message`` ask for each part in turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import ValidationError

from handoff_cli.output import echo, one_line, styled
from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    CallbackDone,
    CallbackRequested,
    Event,
    FallbackChosen,
    FallbackOption,
    OfflineMessage,
    OfflineReply,
    SFallbackOffer,
    SWaitEstimate,
    VChooseFallback,
    VLeaveMessage,
    VRequestCallback,
)

__all__ = [
    "COMMANDS",
    "ChoiceFrame",
    "CommandError",
    "choice_frame",
    "command_option",
    "fallback_words",
    "prompt_choice",
    "show_offer",
    "show_wait",
]

ChoiceFrame = VChooseFallback | VRequestCallback | VLeaveMessage
"""A visitor's answer to a fallback offer."""

COMMANDS: dict[str, FallbackOption] = {
    "/wait": "wait",
    "/callback": "callback",
    "/message": "offline_message",
    "/ai": "ai_continues",
}
"""The command that chooses each fallback."""
_COMMAND_OF = {option: command for command, option in COMMANDS.items()}


class CommandError(ValueError):
    """A fallback command that cannot be sent (``code``: a stable error code)."""

    def __init__(self, detail: str, code: str = "invalid_option") -> None:
        super().__init__(detail)
        self.code = code


def command_option(text: str) -> FallbackOption | None:
    """The fallback ``text`` chooses when it is one of :data:`COMMANDS`, else ``None``."""
    word = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return COMMANDS.get(word.lower())


def _when(text: str) -> datetime | None:
    """A preferred time: ISO 8601, in this machine's zone unless it has an offset."""
    if not text.strip() or text.strip().lower() in ("asap", "now"):
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"time {text.strip()!r}: write it as YYYY-MM-DD HH:MM (or leave it out)"
        ) from None
    return at if at.tzinfo is not None else at.astimezone()


def choice_frame(text: str, offer: SFallbackOffer) -> ChoiceFrame:
    """The frame a fallback command stands for. Raises :class:`CommandError` for a
    choice not offered or a part that is missing or malformed."""
    word, _, rest = text.strip().partition(" ")
    option = COMMANDS[word.lower()]
    if option not in {c.option for c in offer.choices}:
        raise CommandError(f"{word} was not offered", "invalid_state")
    cmid = new_client_msg_id()
    parts = [p.strip() for p in rest.split(";")] if rest.strip() else []
    try:
        if option == "callback":
            if not parts or not parts[0]:
                raise CommandError("/callback needs a phone number or an email address")
            contact = parts[0]
            key = "email" if "@" in contact else "phone"
            return VRequestCallback(
                type="request_callback",
                client_msg_id=cmid,
                **{key: contact},
                preferred_at=_when(parts[1]) if len(parts) > 1 else None,
                note=parts[2] if len(parts) > 2 and parts[2] else None,
            )
        if option == "offline_message":
            if len(parts) < 2 or not parts[1]:
                raise CommandError("/message needs an email address and the message: EMAIL; TEXT")
            email = parts[0]
            body = ";".join(rest.split(";")[1:]).strip()
            return VLeaveMessage(type="leave_message", client_msg_id=cmid, email=email, text=body)
        return VChooseFallback(type="choose_fallback", client_msg_id=cmid, option=option)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise CommandError(problems, "invalid_frame") from None


async def prompt_choice(
    option: FallbackOption, ask: Callable[[str], Awaitable[str | None]]
) -> str | None:
    """The full command for ``/callback`` or ``/message`` typed alone: each part asked
    for with ``ask`` (a prompt → the line typed, ``None`` at the end of input)."""
    if option == "callback":
        contact = await ask("Phone (international, +49 …) or email: ")
        when = await ask("When (YYYY-MM-DD HH:MM; Enter for as soon as possible): ")
        note = await ask("Anything we should know (Enter to skip): ")
        if contact is None:
            return None
        return f"/callback {contact}; {when or ''}; {note or ''}"
    email = await ask("Your email: ")
    body = await ask("Your message: ")
    if email is None or body is None:
        return None
    return f"/message {email}; {body}"


def show_wait(frame: SWaitEstimate) -> None:
    """The wait estimate, for a person."""
    echo(styled("⏱ ", fg="yellow"), frame.text)


def show_offer(frame: SFallbackOffer) -> None:
    """The offer and its choices, each with the command that chooses it."""
    echo(styled("→ ", fg="yellow"), frame.text)
    for choice in frame.choices:
        command = _COMMAND_OF[choice.option]
        echo("  ", styled(f"{command:<10}", bold=True), " ", one_line(choice.label))
    echo(styled("Type a command above to choose (or just keep writing).", dim=True))


def fallback_words(ev: Event) -> str:
    """What a fallback event says (for a transcript): the details the visitor gave, or
    the agent's answer."""
    if isinstance(ev, FallbackChosen):
        return f"chose {ev.data.option}"
    if isinstance(ev, CallbackRequested):
        when = ev.data.preferred_at.isoformat() if ev.data.preferred_at else "as soon as possible"
        how = " / ".join(x for x in (ev.data.phone, ev.data.email) if x)
        return f"call back {one_line(how)}, {when}" + (
            f" ({one_line(ev.data.note)})" if ev.data.note else ""
        )
    if isinstance(ev, OfflineMessage):
        return f"message for {one_line(ev.data.email)}: {ev.data.text}"
    if isinstance(ev, CallbackDone):
        return ev.data.text or ""
    if isinstance(ev, OfflineReply):
        return f"answered by email to {one_line(ev.data.email)}: {ev.data.text}"
    return ""

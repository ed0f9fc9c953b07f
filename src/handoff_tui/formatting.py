"""Short, people-facing words for protocol values (trigger reasons, confidences)."""

from __future__ import annotations

from datetime import datetime

from handoff_server.protocol import QueueItem, TriggerInfo
from handoff_tui.model import ServerLimits, format_wait, visitor_label

__all__ = [
    "confidence_style",
    "estimate_label",
    "is_late",
    "fired_value",
    "is_task",
    "trigger_label",
    "trigger_sentence",
    "waiting_summary",
]

_KIND_WORDS = {
    "low_confidence": "low confidence",
    "keyword": "keyword",
    "human_request": "asked for human",
    "sentiment": "negative sentiment",
    "intent": "intent",
    "kb_entry": "KB entry escalates",
    "unresolved_exchanges": "unresolved turns",
    "ai_error": "AI error",
    "rule": "rule",
}


def fired_value(trigger: TriggerInfo) -> object:
    """The measured value of the evaluation that fired for ``trigger.kind`` (e.g. the
    matched keyword), or ``None``."""
    for ev in trigger.evaluations:
        if ev.trigger == trigger.kind and ev.fired:
            return ev.value
    return None


def trigger_label(trigger: TriggerInfo | None) -> str:
    """A few words for a queue cell: ``low confidence``, ``keyword 'cancel'``, ..."""
    if trigger is None:
        return ""
    words = _KIND_WORDS.get(trigger.kind, trigger.kind.replace("_", " "))
    if trigger.kind == "keyword":
        value = fired_value(trigger)
        if value:
            return f"keyword '{value}'"
    if trigger.kind == "rule" and trigger.rule:
        return f"rule {trigger.rule}"
    return words


def trigger_sentence(trigger: TriggerInfo | None) -> str:
    """A system line for the transcript: ``escalated: keyword 'cancel account'``."""
    if trigger is None:
        return "escalated"
    label = trigger_label(trigger)
    if trigger.kind == "low_confidence" and trigger.confidence is not None:
        threshold = f" < {trigger.threshold:.2f}" if trigger.threshold is not None else ""
        label = f"{label} {trigger.confidence:.2f}{threshold}"
    return f"escalated: {label}"


def confidence_style(
    confidence: float | None, threshold: float | None, fallback: float = ServerLimits.threshold
) -> str:
    """Theme variable for a confidence (0–1) against its threshold: ``$error`` below it,
    ``$warning`` within 0.10 above it, ``$success`` above that. ``fallback``: the
    threshold in force (the server's ``limits``) for a confidence without its own."""
    if confidence is None:
        return "$text-muted"
    if threshold is None:
        threshold = fallback
    if confidence < threshold:
        return "$error"
    if confidence < threshold + 0.10:
        return "$warning"
    return "$success"


def is_task(item: QueueItem) -> bool:
    """Whether a queued row waits as a task (a call back or an offline message) rather
    than a visitor in the chat."""
    chosen = item.fallback.chosen if item.fallback else None
    return item.status == "queued" and chosen in ("callback", "offline_message")


def estimate_label(item: QueueItem) -> str:
    """The queue's ``Est.`` cell, at most 8 cells: a task's kind (``callback``,
    ``email``), else the wait the visitor was told (``<1m``, ``~5m``, ``45-60m``, ``>2h``,
    ``no agent``), marked ``!`` when it is late (they waited past an estimate told:
    ``!~5m``; see :func:`is_late`) and ``AI·`` while the AI goes on for them; empty when
    not queued."""
    if item.status != "queued":
        return ""
    chosen = item.fallback.chosen if item.fallback else None
    if chosen == "callback":
        return "callback"
    if chosen == "offline_message":
        return "email"
    wait = item.wait
    if wait is None:
        return ""
    if wait.minutes is None:
        told = "no agent"
    elif wait.minutes == 0:
        told = "<1m"
    elif wait.max_minutes is not None:
        told = f"{wait.minutes}-{wait.max_minutes}m"
    elif wait.minutes >= 120:
        told = ">2h"
    else:
        told = f"~{wait.minutes}m"
    if is_late(item):
        told = "!" + told
    return f"AI·{told}" if chosen == "ai_continues" else told


def is_late(item: QueueItem) -> bool:
    """Whether ``item`` is queued and its visitor has waited past an estimate they were
    told (the server's ``wait.late``, ``docs/routing.md``): the Est. cell in red. A
    late wait with no figure ("no agent") is not marked: nothing told was missed."""
    wait = item.wait
    return item.status == "queued" and wait is not None and wait.late and wait.minutes is not None


def waiting_summary(items: list[QueueItem], now: datetime) -> tuple[str, str]:
    """A ``waiting_work`` offer as ``(sentence, title)``: the three oldest (who, their
    estimate or task, how long they have waited at ``now``), then how many more; the title
    says how many wait."""
    oldest = [
        f"{visitor_label(item.visitor)} "
        f"({estimate_label(item) or 'waiting'}, "
        f"{format_wait((now - (item.queued_at or item.updated_at)).total_seconds())})"
        for item in items[:3]
    ]
    more = f" and {len(items) - 3} more" if len(items) > 3 else ""
    return "Oldest first: " + "; ".join(oldest) + more, f"{len(items)} waiting"

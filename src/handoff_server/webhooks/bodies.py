"""What is posted: the body (standard JSON or Slack) and its Standard Webhooks headers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from handoff_server.config import WebhookEndpoint


def body_for(endpoint: WebhookEndpoint, payload: dict[str, Any]) -> str:
    """The JSON text posted to ``endpoint``: the event itself, or for ``format = "slack"``
    an incoming-webhook ``{"text", "blocks"}`` body describing it."""
    if endpoint.format == "slack":
        text = slack_text(payload)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        return json.dumps({"text": text, "blocks": blocks}, separators=(",", ":"))
    return json.dumps(payload, separators=(",", ":"))


def signed_headers(
    endpoint: WebhookEndpoint, event_id: str, body: str, now: datetime
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` (Unix seconds of ``now``) and
    ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the
    endpoint's secret), by the Standard Webhooks reference library."""
    signature = Webhook(endpoint.secret).sign(event_id, now, body)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def slack_escape(text: str) -> str:
    """Text made inert for Slack's mrkdwn: ``&``, ``<`` and ``>`` as entities, so
    visitor text can make no link, mention or markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def last_visitor_text(packet: dict[str, Any]) -> str:
    """The visitor's newest message in a packet's transcript ("" when none)."""
    for event in reversed(packet.get("transcript") or []):
        if event.get("kind") == "visitor_message":
            return str(event.get("data", {}).get("text", ""))
    return ""


def slack_text(payload: dict[str, Any]) -> str:
    """One line for a person reading the Slack channel; every value from the event is
    escaped."""
    data = payload.get("data", {})
    cid = slack_escape(str(data.get("conversation_id", "")))
    if payload.get("type") == "conversation.escalated":
        packet = data.get("packet") or {}
        trigger = slack_escape(str((packet.get("trigger") or {}).get("kind", "unknown")))
        team = slack_escape(str(packet.get("team") or "none"))
        question = slack_escape(str(data.get("question") or last_visitor_text(packet)))
        return (
            f"Conversation {cid} escalated ({trigger}; team {team}; priority "
            f"{int(packet.get('priority') or 0)}): {question}"
        )
    kind = payload.get("type")
    if kind in _TASK_TEXT:
        return _TASK_TEXT[str(kind)](cid, data)
    agent = slack_escape(str((data.get("agent") or {}).get("name", "someone")))
    if kind == "conversation.transferred":
        to_agent = data.get("to_agent")
        where = (
            slack_escape(str(to_agent.get("name", "someone")))
            if isinstance(to_agent, dict)
            else "team " + slack_escape(str(data.get("to_team") or "none"))
        )
        return f"Conversation {cid} transferred by {agent} to {where}"
    verb = "assigned to" if kind == "conversation.assigned" else "resolved by"
    how = _RESOLVED_HOW.get(str(data.get("via"))) if kind == "conversation.resolved" else None
    return f"Conversation {cid} {verb} {agent}" + (f" ({how})" if how else "")


_RESOLVED_HOW = {"callback": "call back done", "offline_message": "offline message answered"}
"""How a resolution came about, in the Slack line (a plain ``resolve`` says nothing more)."""


def _callback(cid: str, data: dict[str, Any]) -> str:
    how = " / ".join(slack_escape(str(data[k])) for k in ("phone", "email") if data.get(k))
    when = slack_escape(str(data.get("preferred_at") or "as soon as possible"))
    return f"Call back requested in conversation {cid}: {how}, {when}"


def _message(cid: str, data: dict[str, Any]) -> str:
    email = slack_escape(str(data.get("email", "")))
    return f"Offline message in conversation {cid} from {email}: {slack_escape(str(data.get('text', '')))}"


def _replied(cid: str, data: dict[str, Any]) -> str:
    agent = slack_escape(str((data.get("agent") or {}).get("name", "someone")))
    return f"Offline message in conversation {cid} answered by {agent} by email"


_TASK_TEXT = {
    "callback.requested": _callback,
    "offline_message.created": _message,
    "offline_message.replied": _replied,
    "webhook.test": lambda cid, data: "handoff test event: webhooks reach this channel.",
}
"""Slack lines of the fallback events and of the test event."""

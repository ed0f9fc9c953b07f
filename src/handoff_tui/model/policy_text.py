"""The policy in words: rules' conditions, values and version diffs, for people.

Pure functions over the policy's JSON object (what ``handoff policy export --json``
prints and the operator frames carry): the TUI never imports the server's policy
classes. What they return is data (phrases and names come from operators and
visitors): show it as plain text, never as markup.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from handoff_server.protocol_operator import PolicyChange

__all__ = [
    "TRIGGER_WORDS",
    "change_text",
    "condition_text",
    "flat_changes",
    "inline_toml",
    "parse_inline_toml",
    "rule_text",
    "value_text",
]

TRIGGER_WORDS = {
    "low_confidence": "low confidence",
    "keyword": "keyword",
    "human_request": "asked for a person",
    "sentiment": "negative sentiment",
    "intent": "intent",
    "kb_entry": "KB entry escalates",
    "unresolved_exchanges": "unresolved exchanges",
    "ai_error": "AI error",
    "explicit_human_request": "pressed talk to a person",
    "contained": "contained",
}
"""A few words for each trigger (and ``contained``, the what-if's other outcome)."""

_FIRED = {
    "low_confidence": "confidence is below the threshold",
    "keyword": "a keyword matched",
    "human_request": "the visitor asked for a person",
    "sentiment": "the visitor is frustrated",
    "intent": "an operator intent matched",
    "kb_entry": "the KB entry says escalate",
    "unresolved_exchanges": "too many unresolved exchanges",
    "ai_error": "the AI failed",
}
"""What a ``trigger = "..."`` condition says, in words."""

_BOUNDS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}
_MEASURES = {
    "confidence": "confidence",
    "sentiment": "sentiment",
    "exchanges": "exchanges",
    "unresolved": "unresolved turns",
}


def value_text(value: Any) -> str:
    """A setting's value, short: strings quoted, lists and tables as compact JSON,
    ``None`` as ``(none)``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _comparison(name: str, bounds: Any) -> str:
    if not isinstance(bounds, dict) or not bounds:
        return f"{name} {value_text(bounds)}"
    parts = [f"{name} {_BOUNDS.get(k, k)} {value_text(v)}" for k, v in bounds.items()]
    return " and ".join(parts)


def _visitor(test: Any) -> str:
    if not isinstance(test, dict):
        return f"visitor {value_text(test)}"
    field = str(test.get("field", "?"))
    for op, words in (("eq", "="), ("ne", "≠"), ("contains", "contains"), ("matches", "matches")):
        if op in test:
            return f"visitor {field} {words} {value_text(test[op])}"
    if "in" in test:
        return f"visitor {field} is one of {value_text(test['in'])}"
    if "exists" in test:
        return f"visitor has {field}" if test["exists"] else f"visitor has no {field}"
    return f"visitor {field} {value_text(test)}"


def _page(test: Any) -> str:
    if isinstance(test, str):
        return f"page URL like {test!r}"
    if isinstance(test, dict) and "glob" in test:
        return f"page URL like {test['glob']!r}"
    if isinstance(test, dict) and "regex" in test:
        return f"page URL matches {test['regex']!r}"
    return f"page URL {value_text(test)}"


def _joined(children: Any, word: str) -> str:
    if not isinstance(children, list) or not children:
        return f"{word} {value_text(children)}"
    return "(" + f" {word} ".join(condition_text(c) for c in children) + ")"


def condition_text(cond: Any) -> str:
    """A rule's ``when`` in words: ``a keyword matched``, ``confidence < 0.5``,
    ``(intent is 'billing_dispute' and visitor plan = 'pro')``. Anything not understood
    is shown as its JSON."""
    if not isinstance(cond, dict) or len(cond) != 1:
        return value_text(cond)
    key, value = next(iter(cond.items()))
    if key == "trigger":
        return _FIRED.get(str(value), f"trigger {value_text(value)} fired")
    if key in _MEASURES:
        return _comparison(_MEASURES[key], value)
    if key in ("all", "any"):
        return _joined(value, "and" if key == "all" else "or")
    if key == "not":
        return f"not {condition_text(value)}"
    if key == "intent":
        names = value if isinstance(value, list) else [value]
        if len(names) == 1:
            return f"intent is {value_text(names[0])}"
        return "intent is one of " + ", ".join(value_text(n) for n in names)
    if key == "keyword":
        return "any keyword matched" if value == "*" else f"keyword {value_text(value)} matched"
    if key == "visitor":
        return _visitor(value)
    if key == "page_url":
        return _page(value)
    if key == "business_hours":
        return "in business hours" if value else "outside business hours"
    return value_text(cond)


def rule_text(rule: Any) -> str:
    """``when <condition> → escalate (priority 2, team billing)`` for one rule object."""
    if not isinstance(rule, dict):
        return value_text(rule)
    action = str(rule.get("action", "escalate")).replace("_", " ")
    extra = []
    if rule.get("priority"):
        extra.append(f"priority {rule['priority']}")
    if rule.get("team"):
        extra.append(f"team {rule['team']}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"when {condition_text(rule.get('when'))} → {action}{tail}"


def change_text(change: PolicyChange) -> str:
    """One difference between versions: ``threshold: 0.7 → 0.65``; ``+``/``−`` for a
    setting added or removed."""
    if change.before is None:
        return f"+ {change.path}: {value_text(change.after)}"
    if change.after is None:
        return f"− {change.path}: {value_text(change.before)}"
    return f"{change.path}: {value_text(change.before)} → {value_text(change.after)}"


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten(child, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for n, child in enumerate(value):
            _flatten(child, f"{path}[{n}]", out)
    else:
        out[path] = value


def flat_changes(before: dict[str, Any], after: dict[str, Any]) -> list[PolicyChange]:
    """The settings that differ between two policy objects, as dotted paths
    (``rules[2].team``), in the order of ``after`` then the removed ones; for the apply
    confirmation (the server's history has its own)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flatten(before, "", old)
    _flatten(after, "", new)
    changes = [
        PolicyChange(path=p, before=old.get(p), after=v) for p, v in new.items() if old.get(p) != v
    ]
    changes += [PolicyChange(path=p, before=v, after=None) for p, v in old.items() if p not in new]
    return changes


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def inline_toml(value: Any) -> str:
    """``value`` (a rule's ``when``) as a TOML inline value:
    ``{ all = [{ trigger = "keyword" }, { confidence = { lt = 0.5 } }] }``."""
    if isinstance(value, dict):
        items = [
            f"{k if _BARE_KEY.match(k) else json.dumps(k)} = {inline_toml(v)}"
            for k, v in value.items()
        ]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def parse_inline_toml(text: str) -> Any:
    """The TOML inline value ``text`` (as :func:`inline_toml` writes it). Raises
    ``ValueError`` saying what is wrong."""
    try:
        return tomllib.loads(f"value = {text.strip() or '{}'}")["value"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not a TOML value: {exc}") from None

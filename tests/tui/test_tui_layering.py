"""handoff_tui reaches the server only through the protocol (the agent's and the
operator's frames), the client (with its paged reads) and config."""

from __future__ import annotations

import ast
from pathlib import Path

import handoff_tui

ALLOWED = {
    "handoff_server.protocol",
    "handoff_server.protocol_operator",
    "handoff_server.client",
    "handoff_server.client_reads",
    "handoff_server.config",
}


def test_tui_imports_only_protocol_client_and_config() -> None:
    root = Path(handoff_tui.__file__).parent
    seen: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("handoff_server"):
                    seen.setdefault(name, set()).add(path.name)
    assert seen, "expected the TUI to use the protocol"
    assert set(seen) <= ALLOWED, {k: v for k, v in seen.items() if k not in ALLOWED}

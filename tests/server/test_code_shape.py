"""The house rules on the shape of the code, checked over all of ``src/``: no function or
method over 60 lines, no class over 300, no import cycle inside a package."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("handoff_server", "handoff_tui", "handoff_cli")


def _sizes() -> list[tuple[str, str, int]]:
    """(place, kind, lines) of every function and class in ``src/``."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                out.append((f"{path.relative_to(SRC)}:{node.lineno} {node.name}", kind, lines))
    return out


def test_no_function_over_60_lines_and_no_class_over_300():
    sizes = _sizes()
    assert len(sizes) > 300  # the scan saw the code
    too_long = [s for s in sizes if s[2] > (300 if s[1] == "class" else 60)]
    assert too_long == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package: str):
    graph = grimp.build_graph(package)
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in graph.modules and graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []

"""Names a package loads on first use (PEP 562), so importing it stays cheap.

A package whose submodules pull in scikit-learn, SciPy or the like (a second or more to
import) lists those names with their submodule and sets ``__getattr__ =
lazy_names(__name__, table)``: the CLI and the protocol import the package without the
heavy libraries, and the first use of a name imports its submodule.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` (a module
    path, absolute or relative to ``package`` such as ``".metrics"``) on first use and
    returns its ``name``. Raises ``AttributeError`` for a name not in ``table``."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__

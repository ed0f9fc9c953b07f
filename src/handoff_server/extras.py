"""How to install one of the package's optional extras, for the message of a command
that needs it: ``pip install 'handoff[EXTRA]'`` for an installed package, and the form
for a checkout (the README's ``pip install -e '.[EXTRA]'``), which is how most people run
handoff today: the first form alone would look for a package called "handoff" on PyPI.
"""

from __future__ import annotations

__all__ = ["install_hint"]


def install_hint(extra: str) -> str:
    """The install commands for ``extra`` (e.g. ``"plots"``), one line."""
    return f"pip install 'handoff[{extra}]' (in a checkout: pip install -e '.[{extra}]')"

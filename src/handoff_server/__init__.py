"""handoff server: AI answers from a knowledge base, humans take over what it can't answer.

The server never imports ``textual`` or ``handoff_tui``; clients speak the wire protocol
in :mod:`handoff_server.protocol`.
"""

__version__ = "0.1.0"

"""Errors, with stable codes.

Hierarchy (every class carries a stable ``code`` used on the wire and in CLI output)::

    HandoffError                      code
    ├── ConfigError                   bad_config          (handoff_server.config)
    ├── KBError                       bad_kb              (handoff_server.kb)
    ├── ProtocolError                 invalid_frame / invalid_json / unknown_type
    ├── NotFound                      not_found
    ├── InvalidState                  invalid_state
    ├── Conflict                      conflict
    ├── Forbidden                     forbidden
    └── ValidationFailed              (code given per instance: message_too_long, empty_message, ...)

Rejected input never changes stored state: validation happens before any write.
"""

from __future__ import annotations


class HandoffError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``str(exc)`` is for people."""

    code: str = "error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class ProtocolError(HandoffError):
    """A frame could not be parsed or validated."""

    code = "invalid_frame"


class NotFound(HandoffError):
    """The conversation, agent or object does not exist."""

    code = "not_found"


class InvalidState(HandoffError):
    """The action is not allowed in the conversation's current state."""

    code = "invalid_state"


class Conflict(HandoffError):
    """Someone else holds it (e.g. another agent claimed the conversation)."""

    code = "conflict"


class Forbidden(HandoffError):
    """The caller's role does not allow this action."""

    code = "forbidden"


class ValidationFailed(HandoffError):
    """Input was well-formed but not acceptable (too long, empty, ...)."""

    code = "validation_failed"

"""Every error class of handoff, each with a stable code.

Hierarchy (``code`` is stable and machine-readable; ``detail`` and ``str(exc)`` are for
people)::

    HandoffError                      code: Code (ErrorCode | LocalCode)
    ├── WireError                     an ErrorCode, sent to a client in an ``error`` frame
    │   ├── ProtocolError             invalid_frame / invalid_json / unknown_type
    │   ├── NotFound                  not_found
    │   ├── InvalidState              invalid_state
    │   ├── Conflict                  conflict
    │   ├── Forbidden                 forbidden
    │   └── MessageTooLong            message_too_long (a client's check before sending;
    │                                 also a ValueError)
    ├── ConfigError                   bad_config     (settings: file, environment, options)
    │   ├── UnknownEngine             bad_engine     (``ai.engine`` names no engine;
    │   │                                             also a ValueError)
    │   └── DataDirError              bad_data_dir   (the store's folder cannot be used)
    ├── KBError                       bad_kb         (``problems``: each ``file:line: message``)
    ├── PolicyError                   bad_policy     (``problems``: each ``location: message``)
    │   └── StoredPolicyInvalid       bad_policy     (``version``: the stored version refused)
    ├── ScenarioError                 bad_scenario   (``problems``: each ``location: message``;
    │                                                 a ``handoff simulate`` scenario file)
    ├── AnswererError                 ai_error       (engine failure, missing index, timeout)
    ├── ListenError                   listen_failed  (the server cannot bind its host:port)
    └── LinkError                     connect_failed / connection_closed / bad_resume_token /
                                      message_too_long (a visitor link gave up)

Wire errors carry a protocol :data:`~handoff_server.protocol.ErrorCode`; the others a
:data:`LocalCode`, which the CLI prints as ``error[code]: detail`` (exit status 2).
Rejected input never changes stored state: validation happens before any write.

This module imports nothing of the server but the protocol.
"""

from __future__ import annotations

from typing import Any, Literal

from handoff_server.protocol import ErrorCode

__all__ = [
    "AnswererError",
    "Code",
    "ConfigError",
    "Conflict",
    "DataDirError",
    "Forbidden",
    "HandoffError",
    "InvalidState",
    "KBError",
    "LinkError",
    "ListenError",
    "LocalCode",
    "MessageTooLong",
    "NotFound",
    "PolicyError",
    "ProtocolError",
    "QuestionsError",
    "ScenarioError",
    "StoredPolicyInvalid",
    "UnknownEngine",
    "WireError",
]

LocalCode = Literal[
    "bad_config",
    "bad_engine",
    "bad_data_dir",
    "bad_kb",
    "bad_policy",
    "bad_questions",
    "bad_scenario",
    "ai_error",
    "connect_failed",
    "connection_closed",
    "not_ready",
    "timeout",
    "invalid_option",
    "no_token",
    "listen_failed",
    "store_failed",
    "server_failed",
    "token_failed",
    "missing_extra",
    "io_error",
    "exists",
]
"""Codes of errors that never travel in an ``error`` frame: the CLI's and the
configuration's (printed as ``error[code]: ...``)."""

Code = ErrorCode | LocalCode
"""Every stable code: the protocol's and the local ones."""


class HandoffError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``detail`` is for people."""

    code: Code = "internal"

    def __init__(self, detail: str, *, code: Code | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class WireError(HandoffError):
    """A refusal a client receives as an ``error`` frame (``code`` is a protocol code)."""

    code: ErrorCode = "internal"

    def __init__(self, detail: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(detail, code=code)


class ProtocolError(WireError):
    """A frame could not be parsed or validated."""

    code: ErrorCode = "invalid_frame"


class NotFound(WireError):
    """The conversation, agent or object does not exist."""

    code: ErrorCode = "not_found"


class InvalidState(WireError):
    """The action is not allowed in the conversation's current state."""

    code: ErrorCode = "invalid_state"


class Conflict(WireError):
    """Someone else holds it (e.g. another agent claimed the conversation)."""

    code: ErrorCode = "conflict"


class Forbidden(WireError):
    """The caller's role does not allow this action."""

    code: ErrorCode = "forbidden"


class MessageTooLong(WireError, ValueError):
    """A message over the server's length limit; the client sent nothing."""

    code: ErrorCode = "message_too_long"


class ConfigError(HandoffError):
    """The configuration file, environment or a command-line option is invalid."""

    code: Code = "bad_config"


class UnknownEngine(ConfigError, ValueError):
    """The answerer engine named in the settings does not exist."""

    code: Code = "bad_engine"


class DataDirError(ConfigError):
    """The data dir cannot be created, read or written (``detail`` names it)."""

    code: Code = "bad_data_dir"


class ListenError(HandoffError):
    """The server cannot listen on its host and port (``detail`` names them and why);
    raised only for the bind itself, so a data dir failure is never reported as one."""

    code: Code = "listen_failed"


class KBError(HandoffError):
    """The knowledge base cannot be used; ``problems`` lists each one
    (:class:`~handoff_server.kb.loader.Problem`: ``file:line: message``)."""

    code: Code = "bad_kb"

    def __init__(self, detail: str, *, problems: list[Any] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or []


class QuestionsError(HandoffError):
    """A labelled questions file (``text,label``: ``handoff eval --questions``,
    ``handoff simulate --questions``) cannot be used; the detail says where
    (``file:line``)."""

    code: Code = "bad_questions"


class PolicyError(HandoffError):
    """A policy was refused. ``problems`` lists every problem as ``"location: message"``."""

    code: Code = "bad_policy"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid policy:\n" + "\n".join(f"  {p}" for p in problems))


class StoredPolicyInvalid(PolicyError):
    """The newest stored policy version does not validate (``version``: its number);
    ``problems`` as for :class:`PolicyError`."""

    def __init__(self, version: int, problems: list[str]) -> None:
        super().__init__(problems)
        self.version = version


class ScenarioError(HandoffError):
    """A ``handoff simulate`` scenario file was refused. ``problems`` lists every problem
    as ``"location: message"`` (``visitors.0.turns.1.expect.min_confidence: ...``)."""

    code: Code = "bad_scenario"

    def __init__(self, detail: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(detail + "".join(f"\n  {p}" for p in problems))


class AnswererError(HandoffError):
    """The answerer could not produce an answer (engine failure, missing index, timeout)."""

    code: Code = "ai_error"


class LinkError(HandoffError):
    """A visitor link gave up. ``code``: ``connect_failed`` (no connection for its
    ``retry_for`` seconds, or the server refused the handshake), ``bad_resume_token``
    (the server no longer knows the conversation), ``message_too_long`` (the server
    closed with 1009: a frame over its size limit) or ``connection_closed``."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail, code=code)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

"""Configuration, read in one place.

Sources, later ones winning: built-in defaults → the TOML config file → ``HANDOFF_``
environment variables (nested keys joined by ``__``, e.g. ``HANDOFF_SERVER__PORT=9000``,
``HANDOFF_POLICY__THRESHOLD=0.8``) → explicit overrides passed by the CLI.

The config file is the path given to :func:`load_settings`, else ``$HANDOFF_CONFIG``,
else none: the developer's home is never searched, so tests and CI see only the defaults
they set. ``config.example.toml`` documents every key.

Errors: :class:`ConfigError` (code ``bad_config``) lists every problem with its key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from handoff_server.ai.llm.settings import LLMSettings
from handoff_server.errors import ConfigError
from handoff_server.escalation.policy import Policy
from handoff_server.escalation.policy_numbers import numbers_from_text
from handoff_server.event_loop import EventLoopName
from handoff_server.protocol import TeamName
from handoff_server.server_url import normalize_server_url
from handoff_server.userfiles import CONFIG_FILE_BYTES, read_user_text

__all__ = [
    "AssignmentSettings",
    "Settings",
    "default_data_dir",
    "index_cache_dir",
    "load_settings",
]


def default_data_dir() -> Path:
    """The platform's per-user data directory for handoff (``platformdirs``)."""
    return Path(platformdirs.user_data_dir("handoff", appauthor=False))


TYPING_EXPIRY_SECONDS = 6.0
"""Default of ``server.typing_expiry_seconds``: seconds one ``typing active=true`` holds."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """The websocket server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    """TCP port; 0 picks a free one."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Origins a browser visitor may connect from; empty allows any (and non-browser clients)."""
    max_message_chars: int = Field(default=4000, ge=1, le=100_000)
    """Longest visitor or agent message accepted, in characters."""
    max_frame_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    """Largest websocket frame accepted, in bytes; larger closes the connection (1009)."""
    rate_limit_per_minute: int = Field(default=60, ge=1)
    """Frames one connection may send per minute (token bucket, burst of the same size)."""
    ai_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time the answerer may take for one turn before the turn escalates with ``ai_error``."""
    auth_timeout_seconds: float = Field(default=5.0, gt=0)
    """Time an agent connection without a handshake token has to send its ``auth`` frame."""
    token_check_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often the server re-reads the agents' tokens while agents are connected: a
    ``handoff token revoke`` closes the agent's open connections within this many
    seconds (plus one store read)."""
    typing_expiry_seconds: float = Field(default=TYPING_EXPIRY_SECONDS, gt=0)
    """How long one ``typing active=true`` holds; a client still typing repeats it sooner.
    Past it the server tells the others ``active=false`` itself."""
    demo_page: bool = False
    """Serve ``/demo``, a fictional site embedding the web widget (``handoff serve
    --demo-page``); ``/widget.js`` is served either way."""
    max_connections: int = Field(default=900, ge=1, le=1_000_000)
    """Open connections (TCP, handshakes included) the server keeps at once; more are
    answered HTTP 503 ``too_many_connections`` and closed. Keep it below the process's
    file-descriptor limit (``ulimit -n``, often 1,024)."""
    max_connections_per_ip: int = Field(default=100, ge=1, le=1_000_000)
    """Open connections from one IP address; more are answered HTTP 503
    ``too_many_connections``. Behind a reverse proxy every client has the proxy's
    address: raise it there."""
    handshake_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """Time a new TCP connection has to finish its websocket handshake."""
    first_frame_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """Time a visitor connection has to send ``start`` or ``resume`` (agents: see
    ``auth_timeout_seconds``); silent connections are closed (1008)."""
    send_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    """Bytes waiting to be sent to one client before it counts as too slow and is
    closed (1013; it resumes from its last ``seq``). An answer to the client's own
    request (a queue, a transcript page, a resume's replay) is always queued whole, but
    the server reads the client's next frame only once its queue is below this."""
    page_bytes: int = Field(default=256 * 1024, ge=16 * 1024, le=512 * 1024)
    """Largest page one answer carries, in JSON bytes: a ``conversation``'s transcript (at
    least one event; the client asks for the rest by ``seq``, see ``more``), a
    ``queue`` frame's rows and a ``policy_history`` page's versions. At most 512 KiB: the product's clients accept frames up to
    1 MiB, and a packet carries more than its transcript."""
    queue_page_rows: int = Field(default=100, ge=1, le=10_000)
    """Rows in one ``queue`` frame (and ``page_bytes`` at most); the rest of the answer
    follows as ``queue_item`` frames."""
    max_visitor_fields: int = Field(default=20, ge=0, le=50)
    """Form fields a visitor's ``start`` may carry (``visitor.fields``); more are
    refused with ``visitor_info_too_large``."""
    max_visitor_info_bytes: int = Field(default=4096, ge=256, le=64 * 1024)
    """Size of a visitor's ``start`` info (its JSON, in bytes) accepted; larger is
    refused with ``visitor_info_too_large``."""
    rate_limit_per_ip_per_minute: int = Field(default=1200, ge=1)
    """Frames all connections from one IP address may send per minute together."""
    rate_limit_per_conversation_per_minute: int = Field(default=60, ge=1)
    """Frames a conversation's visitor connections may send per minute together."""
    auth_failures_per_ip_per_minute: int = Field(default=10, ge=1)
    """Failed token attempts from one IP address per minute; past it every attempt from
    that address is refused (HTTP 429 or an ``error`` frame, ``rate_limited``) until the
    minute has passed."""
    overload_log_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    """Refused connections and rate-limited frames are logged at most once per this many
    seconds, with their count."""
    metrics_token: str | None = Field(default=None, min_length=16, max_length=256)
    """When set, ``/metrics`` answers only a request carrying ``Authorization: Bearer``
    and this value (HTTP 401 otherwise; Prometheus sends it with its scrape config's
    ``authorization`` credentials). Unset: ``/metrics`` is open, as Prometheus endpoints
    usually are, and ``handoff serve`` warns at start when it listens beyond loopback.
    16–256 printable characters, no spaces."""
    event_loop: EventLoopName = "uvloop"
    """The event loop ``handoff serve`` runs on: ``uvloop`` (the loop's own work in C:
    1-4% less server CPU per turn measured; a dependency except on Windows; where it
    cannot be imported the server logs it and runs on asyncio's) or ``asyncio`` (the
    standard library's). See :mod:`handoff_server.event_loop`."""

    @field_validator("metrics_token")
    @classmethod
    def _token_chars(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[!-~]+", value):
            raise ValueError("must be printable ASCII without spaces")
        return value


class StoreSettings(_Section):
    """Persistence."""

    data_dir: Path = Field(default_factory=default_data_dir)
    """Folder holding ``handoff.sqlite3`` and caches."""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """SQLite ``PRAGMA synchronous`` in WAL mode: FULL survives power loss, NORMAL a crash."""
    url: str | None = None
    """``postgresql://USER@HOST:PORT/DB`` to keep conversations in PostgreSQL, shared by
    several ``handoff serve`` nodes (``docs/scaling.md``; needs the ``postgres`` extra);
    unset: SQLite in ``data_dir``. ``data_dir`` still holds the caches."""
    pool_size: int = Field(default=8, ge=1, le=100)
    """PostgreSQL only: connections per process (and store calls run at once)."""
    retain_days: float | None = Field(default=None, gt=0)
    """Days a resolved conversation (its visitor's data, messages, AI turns, webhook
    deliveries) is kept after its last change; a background sweep deletes older ones.
    Unset: kept until erased (``handoff erase``)."""
    retention_sweep_seconds: float = Field(default=3600.0, gt=0)
    """How often the retention sweep runs, in seconds (only with ``retain_days``)."""

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value


class ClusterSettings(_Section):
    """Several nodes on one PostgreSQL store (``docs/scaling.md``)."""

    bus: str | None = None
    """``nats://HOST:PORT``: the NATS server the nodes ring each other through; unset:
    an in-process bus (one node)."""
    recover_after_seconds: float = Field(default=2.0, gt=0, le=3600)
    """How often (seconds) a node of a PostgreSQL store looks for AI turns another node
    left unfinished (it died mid-turn) and finishes them."""
    catch_up_seconds: float = Field(default=2.0, gt=0, le=3600)
    """How often (seconds) a node re-reads the conversations its clients follow and the
    shared queue (who holds what, what waits), for a notice the bus lost (while NATS was
    unreachable, say)."""
    presence_heartbeat_seconds: float = Field(default=2.0, gt=0, le=60)
    """How often (seconds) a node of a PostgreSQL store writes the presence of the agents
    connected to it and reads every other node's (``docs/scaling.md``); a change of its
    own (an agent connecting, saying away, leaving) is written at once."""
    presence_ttl_seconds: float = Field(default=10.0, gt=0, le=600)
    """How long (seconds) a node's presence rows count after its last heartbeat: the
    agents of a node that died stop counting as online on the others within this, plus
    one of their heartbeats. Keep it a few heartbeats long (a slow database round trip
    must not make a live node's agents flicker offline)."""

    @model_validator(mode="after")
    def _ttl_past_heartbeat(self) -> ClusterSettings:
        if self.presence_ttl_seconds <= 2 * self.presence_heartbeat_seconds:
            raise ValueError(
                "presence_ttl_seconds must be more than twice presence_heartbeat_seconds"
            )
        return self

    @field_validator("bus")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("nats://", "tls://")):
            raise ValueError("must be a nats:// URL")
        return value


class AISettings(_Section):
    """The answerer."""

    kb: Path | None = None
    """KB folder or file; unset means the bundled demo KB."""
    engine: str = "default"
    """Answerer engine name (``handoff kb build --help`` lists them), or ``llm``: answers
    written by a Chat Completions model from the retrieved entries (``[ai.llm]``)."""
    cache_dir: Path | None = None
    """Folder for built answerer indexes (created 0700; only files this user wrote there
    are loaded); unset means ``cache`` in the data dir. ``handoff demo``, whose data dir
    is temporary, points its server at the folder ``handoff serve`` uses by default, so
    both share one index."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    """The ``llm`` engine's model server (read only when ``engine = "llm"``)."""


class ClientSettings(_Section):
    """How the CLI and the agent TUI reach a server."""

    server_url: str = "ws://127.0.0.1:8765"
    """Base websocket URL of the server; ``http(s)://`` and a bare ``host:port`` are
    accepted and normalized (:mod:`handoff_server.server_url`)."""
    token: str | None = None
    """Agent or operator token (``handoff token create``); prefer ``HANDOFF_TOKEN``."""

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        return normalize_server_url(value)


REOFFER_AFTER_SECONDS = 60.0
"""Default of ``assignment.reoffer_after_seconds``: a minute between rounds of offers."""
REOFFER_MAX_SECONDS = 3600.0
"""Longest ``assignment.reoffer_after_seconds`` accepted (an hour)."""


class AssignmentSettings(_Section):
    """How queued conversations reach agents (``docs/routing.md``): claimed from the queue
    (pull) or offered to one agent at a time (push), per team; agents' capacity and the
    grace periods of presence."""

    mode: Literal["pull", "push"] = "pull"
    """For teams not listed below and conversations without a team: ``pull`` (agents
    claim) or ``push`` (the least-loaded online agent with a free slot gets an offer)."""
    push_teams: list[TeamName] = Field(default_factory=list)
    """Teams whose conversations are pushed, whatever ``mode`` says."""
    pull_teams: list[TeamName] = Field(default_factory=list)
    """Teams whose conversations are pulled, whatever ``mode`` says."""
    default_capacity: int = Field(default=3, ge=1, le=1000)
    """Most conversations an agent holds at once, unless set for the agent."""
    offer_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Time an agent has to accept an offer before it goes to the next agent."""
    disconnect_grace_seconds: float = Field(default=60.0, gt=0, le=86400)
    """How long an agent whose client is gone keeps their presence and conversations;
    after it they are offline and their conversations go back to the queue."""
    reoffer_after_seconds: float | None = Field(
        default=REOFFER_AFTER_SECONDS, ge=1, le=REOFFER_MAX_SECONDS, allow_inf_nan=False
    )
    """When every agent who could take a pushed conversation has passed on it (declined,
    let the offer expire, went away), a new round of offers starts this many seconds
    later (finite, 1 to 3600), in the same least-loaded order; ``"off"`` (``None``):
    never, it waits for a claim or an agent who has not passed (:mod:`~handoff_server.
    routing.rounds`)."""

    @field_validator("reoffer_after_seconds", mode="before")
    @classmethod
    def _off_or_seconds(cls, value: Any) -> Any:
        """``"off"`` (any case) is ``None``; anything else must read as a number (a
        bool, which pydantic would take for 0 or 1, does not)."""
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        problem = 'must be a number of seconds (1 to 3600) or "off"'
        if isinstance(value, bool):
            raise ValueError(problem)
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise ValueError(problem) from None
        return value

    @field_validator("pull_teams")
    @classmethod
    def _not_both(cls, value: list[str], info: Any) -> list[str]:
        both = sorted(set(value) & set(info.data.get("push_teams", [])))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be in both push_teams and pull_teams")
        return value

    def pushes(self, team: str | None) -> bool:
        """Whether conversations of ``team`` (``None``: no team) are offered (push)."""
        if team in self.push_teams:
            return True
        if team in self.pull_teams:
            return False
        return self.mode == "push"


WebhookEvent = Literal[
    "conversation.escalated",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.resolved",
    "callback.requested",
    "offline_message.created",
    "offline_message.replied",
]
"""The webhook event types sent today (``docs/webhooks.md``)."""

RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18000] + [36000] * 6
"""Default ceilings (seconds) of the waits between webhook tries: 5 s, 5 min, 30 min,
2 h, 5 h, then 10 h six times (about 2.8 days in all); each wait is drawn at random
between 0 and its ceiling (full jitter), never shorter than a ``Retry-After``."""


WEBHOOK_TIMEOUT_MAX_SECONDS = 600.0
"""Longest ``webhooks.timeout_seconds`` accepted (ten minutes)."""
RETRY_CEILING_MAX_SECONDS = 30 * 86400.0
"""Longest ceiling accepted in ``webhooks.retry_schedule_seconds`` (30 days)."""

RetryCeiling = Annotated[float, Field(gt=0, le=RETRY_CEILING_MAX_SECONDS, allow_inf_nan=False)]
"""One ceiling of ``webhooks.retry_schedule_seconds``: finite, above 0, at most 30 days."""


def webhook_url(value: str) -> str:
    """``value`` if it is an absolute ``http://`` or ``https://`` URL with a host (and a
    valid port, no spaces or control characters); raises ``ValueError`` otherwise."""
    problem = "must be an absolute http:// or https:// URL with a host"
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(problem + " (no spaces or control characters)")
    try:
        parts = urlsplit(value)
        port = parts.port  # reading it checks it: ValueError when not a port number
    except ValueError as exc:
        raise ValueError(f"{problem} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    if port == 0:
        raise ValueError(problem + " (port 0 is no port)")
    return value


class WebhookEndpoint(_Section):
    """One ``[[webhooks.endpoints]]`` entry."""

    url: str
    """Where events are POSTed: an absolute http or https URL with a host."""
    secret: str
    """Signing secret, ``whsec_`` + base64 (Standard Webhooks)."""
    events: list[WebhookEvent] = Field(default_factory=list)
    """Event types sent to this endpoint; empty sends all."""
    format: Literal["standard", "slack"] = "standard"
    """``standard``: the signed JSON event; ``slack``: an incoming-webhook ``text``/``blocks`` body."""
    allow_private: bool = False
    """Allow private, loopback and link-local addresses (refused by default)."""

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        body = value.removeprefix("whsec_")
        try:
            key = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if body == value or len(key) < 16:
            raise ValueError("must be 'whsec_' followed by base64 of at least 16 bytes")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return webhook_url(value)


class WebhookSettings(_Section):
    """Outgoing webhooks (``docs/webhooks.md``)."""

    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    retry_schedule_seconds: list[RetryCeiling] = Field(
        default_factory=lambda: [float(s) for s in RETRY_SCHEDULE_SECONDS], min_length=1
    )
    """Ceilings (seconds; each finite, above 0, at most 30 days) of the waits between
    tries; after the last the delivery is failed."""
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=WEBHOOK_TIMEOUT_MAX_SECONDS, allow_inf_nan=False
    )
    """Time one try of a delivery may take in all (seconds; finite, above 0, at most
    600): resolving the host, connecting, sending, the answer's headers and the start of
    its body."""

    @field_validator("endpoints")
    @classmethod
    def _distinct_urls(cls, value: list[WebhookEndpoint]) -> list[WebhookEndpoint]:
        urls = [ep.url for ep in value]
        if len(set(urls)) != len(urls):
            raise ValueError("each endpoint url may appear once")
        return value


class WaitingSettings(_Section):
    """Wait-time estimates (``docs/routing.md``); agents' capacity is
    ``[assignment]``'s."""

    default_handling_seconds: float = Field(default=600.0, ge=60.0, le=3600.0)
    """Handling time (seconds an agent holds a conversation) assumed until five have been
    measured; then the median of the last 50 is used."""
    refresh_seconds: float = Field(default=20.0, gt=0)
    """How often every queued visitor's estimate is recomputed (besides at once when the
    queue changes or an agent comes online)."""


class Settings(BaseSettings):
    """All settings. See ``config.example.toml``."""

    model_config = SettingsConfigDict(
        env_prefix="HANDOFF_", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    ai: AISettings = Field(default_factory=AISettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    assignment: AssignmentSettings = Field(default_factory=AssignmentSettings)
    waiting: WaitingSettings = Field(default_factory=WaitingSettings)
    policy: Policy = Field(default_factory=Policy)
    """The escalation policy applied on first start; later changes live in the store."""

    _file_data: ClassVar[dict[str, Any] | None] = None
    """The config file's data, set on the subclass :func:`load_settings` makes for a file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI overrides (init) beat the environment, which beats the TOML file (its
        # data, parsed once by load_settings).
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(env_settings)]
        file_data = getattr(settings_cls, "_file_data", None)
        if file_data:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=file_data))
        return tuple(sources)


class _Environment(PydanticBaseSettingsSource):
    """The environment source, checked and read as a settings file is:

    - a ``HANDOFF_<SECTION>__<KEY>`` variable naming no section is refused
      (:func:`_refuse_unknown_sections`; raises :class:`ConfigError`);
    - the policy's numbers are read from their text: a policy number is strictly a
      number (:mod:`handoff_server.escalation.policy_numbers`), and
      ``HANDOFF_POLICY__THRESHOLD=0.8`` can only be text."""

    def __init__(self, env: PydanticBaseSettingsSource) -> None:
        super().__init__(env.settings_cls)
        self._env = env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._env.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        _refuse_unknown_sections(os.environ)
        data = self._env()
        if isinstance(data.get("policy"), dict):
            data = {**data, "policy": numbers_from_text(Policy, data["policy"])}
        return data


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _prune(value)
            if not value:
                continue
        if value is not None:
            out[key] = value
    return out


def index_cache_dir(settings: Settings) -> Path:
    """Where built answerer indexes are kept: ``[ai] cache_dir``, else ``cache`` in the
    data dir."""
    return settings.ai.cache_dir or settings.store.data_dir / "cache"


def load_settings(
    config_file: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Read the settings.

    ``config_file``: a TOML file; ``None`` uses ``$HANDOFF_CONFIG`` if set, else no file.
    ``overrides``: nested dict of values from the CLI (``None`` values are ignored); they
    win over the environment and the file.

    Raises :class:`ConfigError` when the file is missing or unreadable, is not TOML, or any
    value is invalid; the message lists every problem.
    """
    path = config_file if config_file is not None else os.environ.get("HANDOFF_CONFIG")
    cls: type[Settings] = Settings
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(read_user_text(p, CONFIG_FILE_BYTES))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        cls = type("FileSettings", (Settings,), {"_file_data": data})
    try:
        return cls(**_prune(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, path)) from None


def _refuse_unknown_sections(environ: Mapping[str, str]) -> None:
    """Refuse ``HANDOFF_<SECTION>__<KEY>`` variables naming no section. pydantic-settings
    reads only the variables of known sections (a wrong key inside one is refused with
    the rest), so ``HANDOFF_POLCY__THRESHOLD=0.8`` was silently ignored and the server
    ran on the default threshold. Variables without ``__`` (``HANDOFF_TOKEN``,
    ``HANDOFF_CONFIG``, ...) are not settings and are let be.

    Raises :class:`ConfigError` (``bad_config``) naming each such variable."""
    sections = set(Settings.model_fields)
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith("HANDOFF_")
        and "__" in name
        and name[len("HANDOFF_") :].split("__", 1)[0].lower() not in sections
    )
    if unknown:
        lines = [f"  {name}: no such section" for name in unknown]
        known = ", ".join(sorted(sections))
        raise ConfigError(
            "invalid configuration in the environment:\n"
            + "\n".join(lines)
            + f"\n  (HANDOFF_<SECTION>__<KEY>, the sections: {known})"
        )


def _format_errors(exc: ValidationError, path: Any) -> str:
    where = f" in {path}" if path else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)

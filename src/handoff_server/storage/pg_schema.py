"""The PostgreSQL schema, as numbered migrations applied on start (and by
``handoff db upgrade``).

Version numbers follow the SQLite store's (:data:`handoff_server.store.MIGRATIONS`): the
first PostgreSQL version is 4, the whole schema as SQLite has it at version 4, so one
number names one set of tables on both backends. A later SQLite migration gets its
PostgreSQL twin here under the same number (the store contract tests fail until it does).

Types: times are ``timestamptz`` (UTC), JSON is ``jsonb``, flags are ``boolean``.
"""

from __future__ import annotations

__all__ = ["PG_MIGRATIONS", "PG_SCHEMA_VERSION"]

_V4 = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    resume_token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    visitor JSONB NOT NULL,
    page_url TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    assigned_agent_id TEXT,
    assigned_agent_name TEXT,
    assigned_agent_role TEXT,
    team TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    trigger JSONB,
    last_confidence DOUBLE PRECISION,
    first_question TEXT,
    queued_at TIMESTAMPTZ,
    wait_estimate JSONB,
    fallback JSONB
);
CREATE INDEX conversations_status ON conversations(status);
CREATE INDEX conversations_created ON conversations(created_at);
CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    data JSONB NOT NULL,
    client_msg_id TEXT,
    sender TEXT,
    visible_to_visitor BOOLEAN NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX events_client_msg
    ON events(conversation_id, sender, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE INDEX events_kind ON events(kind);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    teams JSONB NOT NULL DEFAULT '[]',
    capacity INTEGER
);
CREATE TABLE policies (
    version INTEGER PRIMARY KEY,
    author TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    body JSONB NOT NULL,
    comment TEXT,
    rolled_back_to INTEGER,
    author_id TEXT,
    client_msg_id TEXT
);
CREATE UNIQUE INDEX policies_client_msg ON policies(author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
CREATE TABLE webhook_outbox (
    id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (id, endpoint)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(status, next_attempt_at);
CREATE TABLE ai_turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    text TEXT NOT NULL,
    policy_version INTEGER,
    action TEXT NOT NULL,
    trigger TEXT,
    confidence DOUBLE PRECISION,
    threshold DOUBLE PRECISION NOT NULL,
    question BOOLEAN NOT NULL,
    entry_id TEXT,
    exchange INTEGER NOT NULL,
    layout INTEGER NOT NULL,
    ai_error BOOLEAN NOT NULL,
    pressed BOOLEAN NOT NULL,
    said_yes BOOLEAN NOT NULL,
    courtesy BOOLEAN NOT NULL,
    entry_escalate BOOLEAN NOT NULL,
    topic_negated BOOLEAN NOT NULL,
    answer_team TEXT,
    repeat BOOLEAN NOT NULL,
    human_fired BOOLEAN NOT NULL,
    human_about BOOLEAN NOT NULL,
    sentiment DOUBLE PRECISION NOT NULL,
    history TEXT NOT NULL,
    keywords TEXT NOT NULL,
    intent TEXT,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX ai_turns_at ON ai_turns(at);
CREATE TABLE eval_runs (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    engine TEXT NOT NULL,
    kb TEXT NOT NULL,
    samples JSONB NOT NULL
)
"""

_V5 = """
ALTER TABLE agents ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE agents ADD COLUMN revoked_at TIMESTAMPTZ;
CREATE INDEX conversations_resolved ON conversations(updated_at) WHERE status = 'resolved'
"""
"""Version 5, SQLite's twin: tokens (issue 14) get an optional expiry and a revocation
time (the agent row is kept: events name the agent); the partial index serves the
retention sweep's ``resolved_before``."""

_V6 = """
ALTER TABLE webhook_outbox ADD COLUMN conversation_id TEXT;
ALTER TABLE webhook_outbox ADD COLUMN claimed_until TIMESTAMPTZ;
UPDATE webhook_outbox SET conversation_id = COALESCE(
    payload->'data'->>'conversation_id', payload->'data'->'packet'->>'conversation_id');
CREATE INDEX webhook_outbox_conversation
    ON webhook_outbox(endpoint, (COALESCE(conversation_id, id))) WHERE status = 'pending'
"""
"""Version 6, SQLite's twin: webhook deliveries are claimed across nodes (issue 17):
the conversation a delivery is about (one conversation's deliveries to one endpoint are
claimed together and posted in order) and until when a deliverer's claim holds (a node
that dies leaves its claims to lapse)."""

_V7 = """
CREATE INDEX conversations_assigned ON conversations(assigned_agent_id)
    WHERE status = 'assigned';
CREATE TABLE agent_presence (
    agent_id TEXT NOT NULL,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    teams JSONB NOT NULL,
    capacity INTEGER,
    status TEXT NOT NULL,
    connected BOOLEAN NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, node)
);
CREATE INDEX agent_presence_node ON agent_presence(node);
CREATE TABLE offer_leases (
    conversation_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    node TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
)
"""
"""Version 7 (issue 17): the index by which a claim counts the agent's assigned
conversations in its transaction (SQLite's twin), and the shared presence of agents, one
row per agent and node with a connection of theirs, refreshed by the node's heartbeat
and ignored (then deleted) once older than the time-to-live
(:mod:`handoff_server.storage.pg_presence`), and the push offers' leases (one open offer
of a conversation at a time across nodes). PostgreSQL only: one SQLite node keeps
presence and offers in memory."""

PG_MIGRATIONS: list[tuple[int, str]] = [(4, _V4), (5, _V5), (6, _V6), (7, _V7)]
"""``(version, SQL script)``, oldest first; each is applied with its version bump in one
transaction (PostgreSQL's DDL is transactional), never edited once released."""

PG_SCHEMA_VERSION = PG_MIGRATIONS[-1][0]
"""The newest schema version this release writes on PostgreSQL."""

"""Several ``handoff serve`` nodes on one PostgreSQL store (``docs/scaling.md``).

- :mod:`.locks`: one writer per conversation across nodes (a PostgreSQL advisory lock
  held by the writing node's session), or in-process only for one node.
- :mod:`.bus`: the doorbell between nodes (NATS), or in-process for one node.
- :mod:`.fanout`: delivers what other nodes stored to this node's subscribers, reading
  it from the store by seq.
- :mod:`.live`: the frames that are not events (typing, wait estimates, fallback
  offers, ``ai_partial``, ``waiting_work``) to and from the other nodes' clients.
- :mod:`.recovery`: finishes the AI turns of a node that died mid-turn, once.
"""

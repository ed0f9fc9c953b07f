"""Routing: where an escalated conversation goes and what the visitor is told.

- :mod:`.teams`: the team and priority of a handoff (:func:`route`);
- :mod:`.queue`: the visitor's place in the queue and the handoff notice sentence
  (:class:`Router`).

Later routing features (skills, wait estimates, fallbacks when nobody is online) belong
here. Never here: storing events or deciding whether to escalate (that is
:mod:`handoff_server.escalation`).
"""

from handoff_server.routing.queue import Router, handoff_notice, queue_position
from handoff_server.routing.teams import Route, route

__all__ = ["Route", "Router", "handoff_notice", "queue_position", "route"]

"""Routing: where an escalated conversation goes and what the visitor is told.

- :mod:`.teams`: the team and priority of a handoff (:func:`route`);
- :mod:`.queue`: the visitor's place in the queue and the handoff notice sentence
  (:class:`Router`);
- :mod:`.presence`: agents' presence, capacity, teams and load; :class:`Staffing`, what
  wait estimates and fallbacks read;
- :mod:`.assignment`: push offers with an accept time-out;
- :mod:`.transfer`: transfers and returns to the queue (the changes, stored by the
  conversation service);
- :mod:`.desk`: the wiring to the gateway and the service (imported by ``app.py`` and
  the gateway, not from here: it reads the conversation service's interfaces).

Never here: storing events or deciding whether to escalate (that is
:mod:`handoff_server.escalation`). See ``docs/routing.md``.
"""

from handoff_server.routing.presence import Staffing
from handoff_server.routing.queue import Router, handoff_notice, queue_position
from handoff_server.routing.teams import Route, route

__all__ = ["Route", "Router", "Staffing", "handoff_notice", "queue_position", "route"]

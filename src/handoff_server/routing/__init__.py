"""Routing: where an escalated conversation goes and what the visitor is told.

- :mod:`.teams`: the team and priority of a handoff (:func:`route`);
- :mod:`.queue`: the handoff notice sentence (:class:`Router`);
- :mod:`.presence`: agents' presence, capacity, teams and load; :class:`Staffing`, what
  wait estimates, the queue gate and fallbacks read (:class:`~.presence.Presence`
  implements it);
- :mod:`.assignment`: push offers with an accept time-out;
- :mod:`.rounds`: the next round of offers of a conversation everyone passed on;
- :mod:`.transfer`: transfers and returns to the queue (the changes, stored by the
  conversation service);
- :mod:`.desk`: the wiring to the gateway and the service (imported by ``app.py`` and
  the gateway, not from here: it reads the conversation service's interfaces);
- :mod:`.wait`: the wait-time estimate and how it is told;
- :mod:`.gate`: the queue gate (business hours, nobody online, length, wait);
- :mod:`.fallbacks`: the offer, the visitor's choice and the agents' tasks;
- :mod:`.waiting`: :class:`WaitingRoom`, which keeps queued visitors told.

Never here: storing events or deciding whether to escalate (that is
:mod:`handoff_server.escalation`). See ``docs/routing.md``.
"""

from handoff_server.routing import fallbacks
from handoff_server.routing.presence import Staffing
from handoff_server.routing.queue import Router, handoff_notice
from handoff_server.routing.teams import Route, route
from handoff_server.routing.waiting import WaitingRoom

__all__ = [
    "Route",
    "Router",
    "Staffing",
    "WaitingRoom",
    "fallbacks",
    "handoff_notice",
    "route",
]

"""Routing: where an escalated conversation goes and what the visitor is told.

- :mod:`.teams`: the team and priority of a handoff (:func:`route`);
- :mod:`.queue`: the handoff notice sentence (:class:`Router`);
- :mod:`.staffing`: who can come (:class:`Staffing`, and :class:`ConnectedStaffing`,
  the stand-in from connected agents);
- :mod:`.wait`: the wait-time estimate and how it is told;
- :mod:`.gate`: the queue gate (business hours, nobody online, length, wait);
- :mod:`.fallbacks`: the offer, the visitor's choice and the agents' tasks;
- :mod:`.waiting`: :class:`WaitingRoom`, which keeps queued visitors told.

Never here: storing events or deciding whether to escalate (that is
:mod:`handoff_server.escalation`).
"""

from handoff_server.routing import fallbacks
from handoff_server.routing.queue import Router, handoff_notice
from handoff_server.routing.staffing import ConnectedStaffing, Staffing
from handoff_server.routing.teams import Route, route
from handoff_server.routing.waiting import WaitingRoom

__all__ = [
    "ConnectedStaffing",
    "Route",
    "Router",
    "Staffing",
    "WaitingRoom",
    "fallbacks",
    "handoff_notice",
    "route",
]

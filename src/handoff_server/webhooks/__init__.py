"""Outgoing webhooks: the outbox rows written with an event, and their delivery.

The conversation service asks :class:`Outbox` for the rows announcing an event and
hands them to the store with the event (one transaction); :class:`Deliverer`, started by
``app.py``, posts them off the conversation path. See ``docs/webhooks.md``.
"""

from handoff_server.webhooks.delivery import TEST_EVENT_TYPE, Deliverer, send_test_event
from handoff_server.webhooks.outbox import EVENT_TYPES, Outbox, announced_as, resolved_data

__all__ = [
    "EVENT_TYPES",
    "TEST_EVENT_TYPE",
    "Deliverer",
    "Outbox",
    "announced_as",
    "resolved_data",
    "send_test_event",
]

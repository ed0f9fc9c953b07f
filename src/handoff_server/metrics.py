"""Prometheus metrics kept with ``prometheus_client``, served by ``/metrics``.

The gateway writes its own counters by hand; anything else registers its metrics in
:data:`REGISTRY` and :func:`exposition` appends them to the same response.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

__all__ = ["REGISTRY", "exposition"]

REGISTRY = CollectorRegistry(auto_describe=True)
"""The process's registry for metrics beyond the gateway's."""


def exposition() -> str:
    """The metrics of :data:`REGISTRY` in the Prometheus text format (0.0.4)."""
    return generate_latest(REGISTRY).decode()

"""The server's own counters: ``/metrics`` (Prometheus text format) read before and after
a run, parsed with ``prometheus_client``'s parser."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from handoff_server.server_url import http_base_url

__all__ = ["http_base", "metrics_change", "scrape_metrics"]


def http_base(server_url: str) -> str:
    """The HTTP base URL of a server given in any form ``--server`` takes
    (:func:`~handoff_server.server_url.http_base_url`)."""
    return http_base_url(server_url)


def _key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


async def scrape_metrics(client: httpx.AsyncClient, server_url: str) -> dict[str, Any]:
    """Every sample of the server's ``/metrics`` as ``{'name{label="v"}': value}``, or
    ``{"error": sentence}`` when it cannot be read (the run goes on without it)."""
    try:
        response = await client.get(http_base(server_url) + "/metrics", timeout=10)
        response.raise_for_status()
        families = text_string_to_metric_families(response.text)
        return {_key(s.name, s.labels): s.value for f in families for s in f.samples}
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": f"cannot read /metrics: {exc}"}


def metrics_change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """``after − before`` for every counter (samples named ``*_total``) that changed."""
    if "error" in before or "error" in after:
        return {}
    out = {}
    for key, value in after.items():
        if key.split("{")[0].endswith("_total"):
            delta = float(value) - float(before.get(key, 0.0))
            if delta:
                out[key] = delta
    return out

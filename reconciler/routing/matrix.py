"""The latency matrix the routing LP prices: client region x serving region, in ms.

Each pair comes from the first source that has it:

1. measured: the median latency request logs saw for the pair (``UserSignals.latency_ms``);
2. configured: the policy's ``actions.routing.latency_ms`` (client -> serving -> ms), for pairs
   the logs have not measured (a region that serves nobody yet);
3. same region: a client served in its own region costs ``SAME_REGION_MS``.

Any other pair is not allowed: the LP never routes a client region to a serving region nobody
has a latency for, rather than guess one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["SAME_REGION_MS", "latency_matrix"]

#: Round trip (ms) assumed from clients to a serving region in their own region when nothing
#: measured it: a few milliseconds of access network and load balancer, not zero, so that a
#: measured cross-region path faster than this is still believed.
SAME_REGION_MS = 5.0


def latency_matrix(
    clients: Iterable[str],
    servers: Iterable[str],
    measured: Mapping[tuple[str, str], float],
    configured: Mapping[str, Mapping[str, float]] | None = None,
    *,
    same_region_ms: float = SAME_REGION_MS,
) -> dict[tuple[str, str], float]:
    """(client, serving) -> ms for every allowed pair of ``clients`` x ``servers``."""
    configured = configured or {}
    out: dict[tuple[str, str], float] = {}
    serving = list(servers)
    for c in clients:
        for s in serving:
            if (c, s) in measured:
                out[(c, s)] = float(measured[(c, s)])
            elif s in configured.get(c, {}):
                out[(c, s)] = float(configured[c][s])
            elif c == s:
                out[(c, s)] = same_region_ms
    return out

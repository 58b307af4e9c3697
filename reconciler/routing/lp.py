"""The routing LP: each client region's traffic split over serving regions for least latency.

Minimise the request-weighted latency ``sum_cs d_c x_cs L_cs / sum_c d_c`` subject to
``sum_s x_cs = 1`` (every client region's traffic goes somewhere) and, per serving region,
``sum_c d_c x_cs + t_s <= U_s (1 + z)`` with ``U_s = cap_s x max_utilization`` (the share of
its capacity the policy lets routing fill), with HiGHS (``scipy.optimize.linprog``).

- ``t_s >= e_c x_cs`` for every client ``c``: with ``surprise_gbps`` (``e_c``, how far a
  client region's demand may exceed its forecast, e.g. its p99 above its p90), each serving
  region keeps room for the largest single client surprise among the traffic it takes (a
  robust constraint with a budget of one, Bertsimas and Sim, "The Price of Robustness", 2004).
  Spreading a volatile client over several regions lowers that room: the LP hedges.
- ``z >= 0`` is how far every region is pushed above its usable capacity when the demand does
  not fit; priced far above any latency, it is as small as it can be, so the LP is always
  feasible and the excess lands evenly (in proportion to capacity). What lands above ``U_s``
  is reported as the region's overload.

A (client, serving) pair without a latency is not allowed (``reconciler.routing.matrix`` fills
the matrix); a client region with no allowed serving region is reported as unroutable, and one
whose allowed regions have no capacity is spread evenly over them (all of it overload).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array

__all__ = ["RoutingError", "RoutingSolution", "predicted_latency", "solve_routing"]

#: Below this (Gbps) a load or an overload is noise from the solver's tolerances.
_EPS = 1e-9


class RoutingError(ValueError):
    """Bad routing input (a negative demand, a NaN latency...); the message names it."""


@dataclass(frozen=True)
class RoutingSolution:
    """Where each client region's traffic goes and what that predicts.

    - ``split``: client region -> serving region -> share of its traffic (each row sums to 1);
    - ``shares``: serving region -> share of all routed traffic (sums to 1 when any is routed);
    - ``load_gbps``: traffic each serving region receives under ``split``;
    - ``latency_ms``: predicted request-weighted latency of the routed traffic;
    - ``headroom_gbps``: usable capacity (capacity x max_utilization) left per serving region;
    - ``overload_gbps``: load above the usable capacity per serving region (0 when none);
    - ``unroutable_gbps``: demand of client regions with no allowed serving region.
    """

    split: dict[str, dict[str, float]]
    shares: dict[str, float]
    load_gbps: dict[str, float]
    latency_ms: float
    headroom_gbps: dict[str, float]
    overload_gbps: dict[str, float]
    unroutable_gbps: dict[str, float] = field(default_factory=dict)

    @property
    def overloaded(self) -> bool:
        """Whether some serving region gets more than its usable capacity."""
        return any(v > _EPS for v in self.overload_gbps.values())


def _finite(value: float, what: str, *, positive: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        need = "> 0" if positive else ">= 0"
        raise RoutingError(f"{what} is {value!r}: must be a finite number {need}")
    return v


def _validate(
    demand: Mapping[str, float],
    latency: Mapping[tuple[str, str], float],
    capacity: Mapping[str, float],
    max_utilization: float,
) -> tuple[dict[str, float], dict[str, float], dict[tuple[str, str], float]]:
    d = {c: _finite(v, f"routing demand of client region {c!r} (Gbps)") for c, v in demand.items()}
    cap = {
        s: _finite(v, f"routing capacity of serving region {s!r} (Gbps)")
        for s, v in capacity.items()
    }
    if not cap:
        raise RoutingError("routing needs at least one serving region with a capacity")
    util = float(max_utilization)
    if not (0 < util <= 1):
        raise RoutingError(f"routing max_utilization is {max_utilization!r}: must be in (0, 1]")
    lat = {
        (c, s): _finite(v, f"routing latency {c!r} -> {s!r} (ms)")
        for (c, s), v in latency.items()
        if c in d and s in cap
    }
    return d, cap, lat


def solve_routing(
    demand_gbps: Mapping[str, float],
    latency_ms: Mapping[tuple[str, str], float],
    capacity_gbps: Mapping[str, float],
    *,
    max_utilization: float = 1.0,
    surprise_gbps: Mapping[str, float] | None = None,
) -> RoutingSolution:
    """The least-latency split of ``demand_gbps`` (client region -> Gbps) over the serving
    regions of ``capacity_gbps`` (serving region -> Gbps, of which ``max_utilization`` may be
    filled), where ``latency_ms`` (client, serving) -> ms lists the allowed pairs, keeping in
    each serving region room for the largest ``surprise_gbps`` (client region -> Gbps above
    its demand) among the clients it serves.

    Raises ``RoutingError`` on a negative or non-finite demand, capacity or latency, a
    ``max_utilization`` outside (0, 1] or no serving region; never for too much demand (that is
    reported as ``overload_gbps``).
    """
    d, cap, lat = _validate(demand_gbps, latency_ms, capacity_gbps, max_utilization)
    surprise = {
        c: _finite(v, f"routing surprise of client region {c!r} (Gbps)")
        for c, v in (surprise_gbps or {}).items()
    }
    usable = {s: v * max_utilization for s, v in cap.items()}
    servers = sorted(cap)
    allowed = {c: [s for s in servers if (c, s) in lat] for c in sorted(d)}
    unroutable = {c: d[c] for c, ss in allowed.items() if not ss and d[c] > 0}
    split: dict[str, dict[str, float]] = {}
    active = [c for c, ss in allowed.items() if ss and d[c] > 0]
    for c, ss in allowed.items():  # idle clients: their (future) traffic to the nearest region
        if ss and d[c] <= 0:
            nearest = min(ss, key=lambda s: (lat[(c, s)], s))
            split[c] = {s: float(s == nearest) for s in ss}
    for c in [c for c in active if not any(usable[s] > 0 for s in allowed[c])]:
        active.remove(c)  # nowhere with capacity: spread evenly, all of it overload
        split[c] = {s: 1.0 / len(allowed[c]) for s in allowed[c]}
    if active:
        split.update(_lp_split(active, allowed, d, lat, usable, surprise))
    routed = [c for c in allowed if allowed[c] and d[c] > 0]
    load = {s: sum(d[c] * split[c].get(s, 0.0) for c in routed) for s in servers}
    total = sum(d[c] for c in routed)
    return RoutingSolution(
        split=split,
        shares={s: (load[s] / total if total > 0 else 0.0) for s in servers},
        load_gbps=load,
        latency_ms=predicted_latency(d, lat, split),
        headroom_gbps={s: max(0.0, usable[s] - load[s]) for s in servers},
        overload_gbps={s: (o if (o := load[s] - usable[s]) > _EPS else 0.0) for s in servers},
        unroutable_gbps=unroutable,
    )


def _lp_split(
    clients: list[str],
    allowed: Mapping[str, list[str]],
    d: Mapping[str, float],
    lat: Mapping[tuple[str, str], float],
    usable: Mapping[str, float],
    surprise: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """Solve the LP for clients with demand and an allowed serving region that has capacity.

    Variables: ``x_cs`` per allowed pair; ``t_s`` per serving region, the room it keeps for the
    largest single surprise among the clients it serves; ``z``, the utilisation every region
    is pushed above its usable capacity when the demand does not fit (priced far above any
    latency, so it is as small as it can be and shared evenly: the overload).
    """
    servers = sorted(usable)
    col = {s: j for j, s in enumerate(servers)}
    pairs = [(c, s) for c in clients for s in allowed[c]]
    n_x, n_t = len(pairs), len(servers)
    n = n_x + n_t + 1
    total = sum(d[c] for c in clients)
    room = sum(usable.values())
    worst = max((lat[p] for p in pairs), default=0.0)
    # one more Gbps served can move traffic along at most every server: this price wins
    penalty = 10.0 * (len(servers) + 1) * max(worst, 1.0)
    cost = np.zeros(n)
    cost[:n_x] = [d[c] * lat[(c, s)] / total for c, s in pairs]
    cost[-1] = penalty * room / total
    row_of = {c: i for i, c in enumerate(clients)}
    eq = coo_array(
        (np.ones(n_x), ([row_of[c] for c, _ in pairs], list(range(n_x)))),
        shape=(len(clients), n),
    )
    # capacity: sum_c d_c x_cs + t_s - z usable_s <= usable_s; surprise: e_c x_cs - t_s <= 0
    rows = [col[s] for _, s in pairs] + list(range(n_t)) * 2
    cols = list(range(n_x)) + list(range(n_x, n_x + n_t)) + [n - 1] * n_t
    vals = [d[c] for c, _ in pairs] + [1.0] * n_t + [-usable[s] for s in servers]
    bound = [usable[s] for s in servers]
    for k, (c, s) in enumerate(pairs):
        if surprise.get(c, 0.0) > 0:
            rows += [len(bound)] * 2
            cols += [k, n_x + col[s]]
            vals += [surprise[c], -1.0]
            bound.append(0.0)
    ub = coo_array((vals, (rows, cols)), shape=(len(bound), n))
    res = linprog(
        cost,
        A_ub=ub.tocsr(),
        b_ub=np.array(bound),
        A_eq=eq.tocsr(),
        b_eq=np.ones(len(clients)),
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0 or res.x is None:  # always feasible by construction: a solver fault
        raise RuntimeError(f"routing LP failed: {res.message}")
    x = np.clip(res.x[:n_x], 0.0, None)
    split = {c: dict.fromkeys(allowed[c], 0.0) for c in clients}
    for (c, s), v in zip(pairs, x, strict=True):
        split[c][s] = float(v)
    return {c: {s: v / sum(row.values()) for s, v in row.items()} for c, row in split.items()}


def predicted_latency(
    demand_gbps: Mapping[str, float],
    latency_ms: Mapping[tuple[str, str], float],
    split: Mapping[str, Mapping[str, float]],
) -> float:
    """Request-weighted latency (ms) of ``demand_gbps`` routed by ``split`` (client region ->
    serving region -> share). Pairs without a latency are left out and each client's shares
    renormalised over the pairs that have one; 0.0 when nothing can be priced."""
    num = den = 0.0
    for c, dc in demand_gbps.items():
        row = {s: w for s, w in split.get(c, {}).items() if w > 0 and (c, s) in latency_ms}
        weight = sum(row.values())
        if dc <= 0 or weight <= 0:
            continue
        num += dc * sum(w * latency_ms[(c, s)] for s, w in row.items()) / weight
        den += dc
    return num / den if den > 0 else 0.0

"""Explain a group's grant: the ledger lines, the cut reasons and how much each one accounts for.

Shared by the allocator, operator overrides and remediation adjustments, so every change to a
grant keeps ``Allocation.cut_by_reason`` summing to ``Allocation.cut_gbps``.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.allocation.models import GLOBAL_POOL, Allocation, CutReason, GroupDemand

__all__ = ["CUT_TOLERANCE", "adjusted_cut", "group_steps", "reason_text"]

#: Cuts (and parts of cuts) at or below this many Gbps are rounding, not decisions.
CUT_TOLERANCE = 1e-6


def _label(reason: str, region: str) -> str:
    return f"{reason} {region!r}" if reason == CutReason.NO_POOL else reason


def _ordered(parts: Mapping[str, float], above: float) -> list[str]:
    known = [r for r in CutReason.ORDER if parts.get(r, 0.0) > above]
    return known + sorted(r for r in parts if r not in CutReason.ORDER and parts[r] > above)


def reason_text(parts: Mapping[str, float], region: str) -> str | None:
    """``cut_reason`` for a breakdown: its reasons in ``CutReason.ORDER``, or None for no cut."""
    if sum(parts.values()) <= CUT_TOLERANCE:
        return None
    named = _ordered(parts, CUT_TOLERANCE)
    if not named:  # a cut made only of rounding-sized parts: name the largest
        named = [max(parts, key=lambda r: parts[r])]
    return "; ".join(_label(r, region) for r in named)


def _cut_line(cut: float, parts: Mapping[str, float], region: str) -> str:
    listed = _ordered(parts, 0.0)
    return f"cut {cut:.3f} Gbps: " + "; ".join(
        f"{_label(r, region)} {parts[r]:.3f} Gbps" for r in listed
    )


def group_steps(d: GroupDemand, a: Allocation, placed: bool) -> list[str]:
    """The ledger lines for one group: each phase's grant, the total and the cut by reason."""
    basis = f" {d.quantile_basis}" if d.quantile_basis else ""
    q = f" (forecast q{d.quantile:.3g}{basis} + headroom)" if d.quantile is not None else ""
    steps = [
        f"demand {d.demand_gbps:.3f} Gbps{q}; class {d.group_class} "
        f"(priority {d.priority}, weight {d.weight:g})"
    ]
    if d.ceiling_gbps is not None:
        steps.append(f"class ceiling {d.ceiling_gbps:.3f} Gbps")
    if not placed:
        steps.append(f"no pool for region {d.region!r}: nothing to allocate from")
    else:
        line = f"guarantee {a.guaranteed_gbps:.3f} of {d.guarantee_gbps:.3f} Gbps"
        if a.guarantee_borrowed_gbps > CUT_TOLERANCE:
            line += (
                f" ({a.guarantee_borrowed_gbps:.3f} above {d.region}'s rate, borrowed from "
                f"{GLOBAL_POOL})"
            )
        steps += [
            line,
            f"{d.region} pool share {a.pool_share_gbps:.3f} Gbps",
            f"borrowed {a.borrowed_gbps:.3f} Gbps from {GLOBAL_POOL}",
        ]
    steps.append(
        f"allocated {a.allocated_gbps:.3f} Gbps = {a.guaranteed_gbps:.3f} guarantee + "
        f"{a.pool_share_gbps:.3f} pool share + {a.borrowed_gbps:.3f} borrowed"
    )
    if a.cut_reason:
        steps.append(_cut_line(a.cut_gbps, a.cut_by_reason, d.region))
    return steps


def adjusted_cut(a: Allocation, new_gbps: float, reason: str) -> dict[str, float]:
    """``a``'s cut breakdown once its grant is moved to ``new_gbps`` by ``reason``.

    A larger cut adds the difference under ``reason``; a smaller one takes it back from the most
    recent reasons first (``reason`` itself, then ``CutReason.ORDER`` backwards).
    """
    parts = {r: v for r, v in a.cut_by_reason.items() if v > 0}
    if not parts and a.cut_gbps > CUT_TOLERANCE:  # stored before cuts were broken down
        parts = {a.cut_reason or "unexplained": a.cut_gbps}
    old = sum(parts.values())
    new = max(0.0, a.demand_gbps - new_gbps)
    if new >= old:
        parts[reason] = parts.get(reason, 0.0) + (new - old)
    else:
        give_back = old - new
        order = [reason, *reversed(CutReason.ORDER)]
        order += sorted(r for r in parts if r not in order)
        for r in order:
            take = min(give_back, parts.get(r, 0.0))
            if take > 0:
                parts[r] -= take
                give_back -= take
    return {r: v for r, v in parts.items() if v > 1e-9}

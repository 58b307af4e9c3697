"""Circuit breaker: a group whose forecasts keep missing is sized reactively until they recover.

Per group it keeps the last ``breaker_window`` cycles' outcomes (missed or not). With
``breaker_misses`` misses in that window the breaker opens (reactive mode: size from recent use
plus a margin); after ``breaker_recover`` cycles in a row without a miss it closes again.
The state is plain JSON so the state store can keep it between cycles and processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.remediation.types import Action, ActionKind, RemediationConfig

__all__ = ["CircuitBreaker"]

PREDICTIVE = "predictive"
REACTIVE = "reactive"


@dataclass
class CircuitBreaker:
    cfg: RemediationConfig
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, cfg: RemediationConfig, data: dict[str, Any] | None) -> CircuitBreaker:
        state: dict[str, dict[str, Any]] = {}
        for gid, entry in (data or {}).items():
            mode = entry.get("mode", PREDICTIVE)
            if mode not in (PREDICTIVE, REACTIVE):
                raise ValueError(f"breaker state for group {gid}: unknown mode {mode!r}")
            state[gid] = {
                "mode": mode,
                "history": [bool(x) for x in entry.get("history", [])],
                "good_streak": int(entry.get("good_streak", 0)),
            }
        return cls(cfg, state)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {gid: dict(entry) for gid, entry in self.state.items()}

    def mode(self, group_id: str) -> str:
        return str(self.state.get(group_id, {}).get("mode", PREDICTIVE))

    def reactive_groups(self) -> tuple[str, ...]:
        return tuple(sorted(g for g, e in self.state.items() if e["mode"] == REACTIVE))

    def observe(self, group_id: str, missed: bool) -> Action | None:
        """Record one cycle's outcome; returns the action when the breaker changes state."""
        entry = self.state.setdefault(
            group_id, {"mode": PREDICTIVE, "history": [], "good_streak": 0}
        )
        history: list[bool] = entry["history"]
        history.append(missed)
        del history[: max(0, len(history) - self.cfg.breaker_window)]
        entry["good_streak"] = 0 if missed else entry["good_streak"] + 1
        misses = sum(history)
        if entry["mode"] == PREDICTIVE and misses >= self.cfg.breaker_misses:
            entry["mode"] = REACTIVE
            return Action(
                ActionKind.REACTIVE,
                group_id,
                f"forecast missed in {misses} of the last {len(history)} cycles "
                f"(limit {self.cfg.breaker_misses}): sizing from recent use until it recovers",
            )
        if entry["mode"] == REACTIVE and entry["good_streak"] >= self.cfg.breaker_recover:
            entry["mode"] = PREDICTIVE
            history.clear()
            return Action(
                ActionKind.PREDICTIVE,
                group_id,
                f"forecast held for {entry['good_streak']} cycles in a row: predictive again",
            )
        return None

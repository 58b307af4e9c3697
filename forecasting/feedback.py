"""The feedback loop: predicted vs actual per group and metric, accuracy over time, and the
decisions it drives (retrain on schedule or drift; demote a model that loses to the baseline).

Pure logic over a small store protocol (``AccuracyStore``): an in-memory and a Parquet store live
here; the SQL state store implements the same four methods. Decisions are returned as data with
their reasons and evidence, never applied here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

__all__ = [
    "RECORD_SCHEMA",
    "AccuracyStore",
    "AccuracyTracker",
    "InMemoryAccuracyStore",
    "ModelChoice",
    "ParquetAccuracyStore",
    "RetrainCause",
    "RetrainDecision",
]

Use = Literal["model", "baseline"]
#: Why a model is (not) retrained: none yet, the schedule, drifting error or coverage, or not.
RetrainCause = Literal["initial", "schedule", "drift", "none"]

RECORD_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "metric": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "actual": pl.Float64(),
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
        "baseline_p50": pl.Float64(),
        "model_version": pl.String(),
    }
)


class AccuracyStore(Protocol):
    """Where accuracy records and the model/baseline status per (group, metric) live."""

    def append(self, rows: pl.DataFrame) -> None: ...

    def records(self, *, since: datetime | None = None) -> pl.DataFrame: ...

    def statuses(self) -> dict[tuple[str, str], Use]: ...

    def set_status(self, group_id: str, metric: str, use: Use) -> None: ...


class InMemoryAccuracyStore:
    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []
        self._status: dict[tuple[str, str], Use] = {}

    def append(self, rows: pl.DataFrame) -> None:
        self._parts.append(rows.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA))

    def records(self, *, since: datetime | None = None) -> pl.DataFrame:
        frame = pl.concat(self._parts) if self._parts else pl.DataFrame(schema=RECORD_SCHEMA)
        return frame if since is None else frame.filter(pl.col("ts") >= since)

    def statuses(self) -> dict[tuple[str, str], Use]:
        return dict(self._status)

    def set_status(self, group_id: str, metric: str, use: Use) -> None:
        self._status[(group_id, metric)] = use


class ParquetAccuracyStore(InMemoryAccuracyStore):
    """Records as numbered Parquet part files under ``root``; statuses in ``status.parquet``."""

    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        status = self.root / "status.parquet"
        if status.exists():
            for g, m, u in pl.read_parquet(status).iter_rows():
                self._status[(g, m)] = u

    def append(self, rows: pl.DataFrame) -> None:
        part = rows.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA)
        n = len(list(self.root.glob("part-*.parquet")))
        part.write_parquet(self.root / f"part-{n:06d}.parquet")

    def records(self, *, since: datetime | None = None) -> pl.DataFrame:
        files = sorted(self.root.glob("part-*.parquet"))
        if not files:
            return pl.DataFrame(schema=RECORD_SCHEMA)
        lazy = pl.scan_parquet(files)
        if since is not None:
            lazy = lazy.filter(pl.col("ts") >= since)
        return lazy.collect()

    def set_status(self, group_id: str, metric: str, use: Use) -> None:
        super().set_status(group_id, metric, use)
        rows = [(g, m, u) for (g, m), u in self._status.items()]
        pl.DataFrame(rows, schema=["group_id", "metric", "use"], orient="row").write_parquet(
            self.root / "status.parquet"
        )


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    cause: RetrainCause = "none"


@dataclass(frozen=True)
class ModelChoice:
    """Which forecaster a (group, metric) uses next cycle, and why (reported to operators)."""

    group_id: str
    metric: str
    use: Use
    changed: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


class AccuracyTracker:
    """Records forecasts against actuals and turns recent accuracy into decisions.

    ``window`` is one evaluation window; demotion looks at the last ``demote_windows`` of them
    and demotes when the model's MAE exceeds the baseline's by more than ``margin`` in every one;
    a demoted pair recovers when the model beats the baseline in the last ``recover_windows``.
    """

    def __init__(
        self,
        store: AccuracyStore,
        *,
        window: timedelta = timedelta(hours=6),
        demote_windows: int = 3,
        recover_windows: int = 3,
        margin: float = 0.05,
        min_points: int = 6,
    ) -> None:
        self.store = store
        self.window = window
        self.demote_windows = demote_windows
        self.recover_windows = recover_windows
        self.margin = margin
        self.min_points = min_points

    def record(
        self,
        group_id: str,
        metric: str,
        ts: datetime,
        predicted: dict[str, float],
        actual: float,
        *,
        baseline: dict[str, float] | None = None,
        model_version: str | None = None,
    ) -> None:
        """Store one predicted-vs-actual point (``predicted`` keyed ``p50``, ``p90``, ``p99``)."""
        if ts.tzinfo is None:
            raise ValueError(f"record({group_id!r}, {metric!r}): ts must be timezone-aware")
        if "p50" not in predicted:
            raise ValueError(f"record({group_id!r}, {metric!r}): predicted needs a 'p50'")
        row = {
            "group_id": group_id,
            "metric": metric,
            "ts": ts,
            "actual": float(actual),
            "p50": predicted.get("p50"),
            "p90": predicted.get("p90"),
            "p99": predicted.get("p99"),
            "baseline_p50": (baseline or {}).get("p50"),
            "model_version": model_version,
        }
        self.store.append(pl.DataFrame([row], schema=RECORD_SCHEMA))

    def record_frame(self, rows: pl.DataFrame) -> None:
        """Store many records at once (columns as ``RECORD_SCHEMA``; missing ones become null)."""
        missing = [
            c for c in ("group_id", "metric", "ts", "actual", "p50") if c not in rows.columns
        ]
        if missing:
            raise ValueError(f"record_frame: missing column(s) {missing}")
        filled = rows.with_columns(
            [
                pl.lit(None, dtype=t).alias(c)
                for c, t in RECORD_SCHEMA.items()
                if c not in rows.columns
            ]
        )
        self.store.append(filled)

    def rolling(
        self, *, now: datetime, windows: int = 4, model_version: str | None = None
    ) -> pl.DataFrame:
        """Accuracy per (group, metric, window start) over the last ``windows`` windows (of
        ``model_version``'s forecasts only, when given)."""
        since = now - windows * self.window
        recs = self.store.records(since=since).filter(pl.col("ts") < now)
        if model_version is not None:
            recs = recs.filter(pl.col("model_version") == model_version)
        start = since
        err = (pl.col("actual") - pl.col("p50")).abs()
        base_err = (pl.col("actual") - pl.col("baseline_p50")).abs()
        return (
            recs.with_columns(
                (
                    (pl.col("ts") - start).dt.total_microseconds()
                    // int(self.window.total_seconds() * 1_000_000)
                )
                .cast(pl.Int64)
                .alias("window")
            )
            .group_by("group_id", "metric", "window")
            .agg(
                pl.len().alias("n"),
                err.mean().alias("mae"),
                base_err.mean().alias("baseline_mae"),
                (pl.col("actual") <= pl.col("p90")).mean().alias("coverage_p90"),
                (pl.col("actual") <= pl.col("p99")).mean().alias("coverage_p99"),
                pl.col("actual").abs().mean().alias("mean_abs_actual"),
            )
            .with_columns(
                (pl.lit(start) + pl.col("window") * pl.lit(self.window)).alias("window_start"),
                (pl.col("mae") / pl.col("baseline_mae")).alias("relative_mae"),
            )
            .sort("group_id", "metric", "window")
        )

    def needs_retrain(
        self,
        *,
        now: datetime,
        last_trained: datetime | None,
        every: timedelta = timedelta(days=1),
        drift_ratio: float = 1.5,
        coverage_tolerance: float = 0.1,
        model_version: str | None = None,
    ) -> RetrainDecision:
        """Retrain when the schedule is due, or when recent error drifted past the threshold
        (judged on ``model_version``'s forecasts only, when given).

        Drift: pooled MAE (scaled by mean |actual| per pair, so metrics of different units
        pool) in the latest window exceeds ``drift_ratio`` times that of the window before it,
        or p90 coverage in the latest window is further than ``coverage_tolerance`` from 0.9.
        """
        if last_trained is None:
            return RetrainDecision(True, "no model trained yet", cause="initial")
        if now - last_trained >= every:
            return RetrainDecision(
                True,
                f"scheduled: last trained {now - last_trained} ago (every {every})",
                cause="schedule",
            )
        table = self.rolling(now=now, windows=2, model_version=model_version).filter(
            pl.col("n") >= self.min_points
        )
        # a pair whose actuals were all zero (an idle disk's IO) has no scaled error: left out
        # of the pooled mean (null), or it would make it inf or NaN for every metric
        scaled = table.with_columns(
            pl.when(pl.col("mean_abs_actual") > 0)
            .then(pl.col("mae") / pl.col("mean_abs_actual"))
            .alias("smae")
        )
        by_window = scaled.group_by("window").agg(
            pl.col("smae").mean(), pl.col("coverage_p90").mean(), pl.col("n").sum()
        )
        recent = by_window.filter(pl.col("window") == 1)
        before = by_window.filter(pl.col("window") == 0)
        if recent.height == 0:
            return RetrainDecision(False, "no recent accuracy records")
        r_smae, r_cov = recent["smae"][0], recent["coverage_p90"][0]
        r_err = float("nan") if r_smae is None else float(r_smae)
        evidence: dict[str, Any] = {"recent_scaled_mae": r_err, "recent_coverage_p90": r_cov}
        if before.height and before["smae"][0] is not None:
            b_err = float(before["smae"][0])
            evidence["previous_scaled_mae"] = b_err
            if b_err > 0 and r_err > drift_ratio * b_err:
                return RetrainDecision(
                    True,
                    f"error drift: scaled MAE {r_err:.3f} > {drift_ratio} x {b_err:.3f}",
                    evidence,
                    cause="drift",
                )
        if r_cov is not None and abs(float(r_cov) - 0.9) > coverage_tolerance:
            return RetrainDecision(
                True,
                f"coverage drift: p90 covered {float(r_cov):.1%} of actuals",
                evidence,
                cause="drift",
            )
        return RetrainDecision(False, "accuracy stable and schedule not due", evidence)

    def choose_models(self, *, now: datetime) -> list[ModelChoice]:
        """Demote pairs whose model loses to the baseline on recent windows; restore on recovery.

        The new status is saved in the store; every pair with records gets a ``ModelChoice``.
        """
        span = max(self.demote_windows, self.recover_windows)
        table = self.rolling(now=now, windows=span).filter(
            (pl.col("n") >= self.min_points) & pl.col("baseline_mae").is_not_null()
        )
        status = self.store.statuses()
        out: list[ModelChoice] = []
        for (group_id, metric), rows in table.group_by("group_id", "metric", maintain_order=True):
            g, m = str(group_id), str(metric)
            current: Use = status.get((g, m), "model")
            rel = rows.sort("window")["relative_mae"].to_list()
            evidence = {"relative_mae_by_window": rel, "margin": self.margin}
            if current == "model":
                last = rel[-self.demote_windows :]
                losing = len(last) == self.demote_windows and all(
                    r is not None and r > 1 + self.margin for r in last
                )
                if losing:
                    self.store.set_status(g, m, "baseline")
                    reason = (
                        f"demoted: model MAE above baseline by >{self.margin:.0%} in the last "
                        f"{self.demote_windows} windows"
                    )
                    out.append(ModelChoice(g, m, "baseline", True, reason, evidence))
                else:
                    out.append(ModelChoice(g, m, "model", False, "model holds", evidence))
            else:
                last = rel[-self.recover_windows :]
                winning = len(last) == self.recover_windows and all(
                    r is not None and r < 1 for r in last
                )
                if winning:
                    self.store.set_status(g, m, "model")
                    reason = (
                        f"restored: model beat baseline in the last {self.recover_windows} windows"
                    )
                    out.append(ModelChoice(g, m, "model", True, reason, evidence))
                else:
                    out.append(ModelChoice(g, m, "baseline", False, "still demoted", evidence))
        return out

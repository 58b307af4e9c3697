"""Build a ``RunContext`` from settings: policy file, state database, history root, provider.

Used by ``headroom run``/``serve``, the Lambda handler and the demo, so all of them run the same
cycle. The policy is validated (structure, then meaning against the provider's catalog) before
any step runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from forecasting.serve import ModelFactory
from providers.base import CloudProvider
from reconciler.clock import Clock
from reconciler.context import RunContext, default_holder, lease_ttl_setting
from reconciler.steps.package import PackageSteps, StepSettings
from reconciler.steps.record import StateRecorder

__all__ = ["CycleSettings", "build_context", "engine_models", "load_checked_policy"]


@dataclass(frozen=True)
class CycleSettings:
    """Where the cycle's inputs and state live. ``database_url`` None means the SQLite default
    under ``state_dir`` (or ``HEADROOM_DATABASE_URL`` when set); ``lease_ttl`` defaults to
    ``HEADROOM_LEASE_TTL`` seconds, else a minute."""

    policy_path: Path
    history_root: str
    state_dir: Path = Path(".headroom")
    database_url: str | None = None
    dry_run: bool = False
    lease_ttl: timedelta = field(default_factory=lease_ttl_setting)
    steps: StepSettings = field(default_factory=StepSettings)
    check_policy: bool = True
    #: where fitted models are kept between processes (``forecasting.shelf``), so a Lambda or a
    #: one-shot run reuses the last fit until its retrain interval: None is
    #: ``<history_root>/models``, "" keeps none
    model_store: str | None = None


def load_checked_policy(path: Path, provider: CloudProvider | None = None) -> Any:
    """Load a policy; with a provider, also check its meaning against the live catalog."""
    from policies import PolicyError, check_against, load_policy

    policy = load_policy(path)
    if provider is not None:
        regions = {r.region for r in provider.inventory()}
        issues = check_against(policy, provider.instance_catalog(), regions, source=str(path))
        if issues:
            raise PolicyError(issues)
    return policy


def build_context(
    settings: CycleSettings,
    *,
    clock: Clock,
    provider: CloudProvider,
    actuator: Any = None,
    policy: Any = None,
    state: Any = None,
    holder: str | None = None,
    models: Any = None,
    history: Any = None,
) -> RunContext:
    """A context for one cycle. Pass ``state``/``policy`` to reuse open ones (serve, demo),
    ``models`` (a ``ModelCache``) to keep fitted forecasters between the cycles of one process,
    and ``history`` (a ``HistoryStore`` on ``settings.history_root``) to keep the store's
    checked-files map, so a cycle does not reopen every file footer the last one checked.
    Either way fits are kept in the model store (``CycleSettings.model_store``) and reused
    from it until their retrain interval, so a Lambda's cold start does not refit."""
    from reconciler.history import HistoryStore
    from reconciler.state import StateStore, resolve_database_url

    if policy is None:
        policy = load_checked_policy(
            settings.policy_path, provider if settings.check_policy else None
        )
    if state is None:
        url = resolve_database_url(settings.database_url, state_dir=settings.state_dir)
        state = StateStore.open(url)
    models = _with_shelf(models, settings, clock)
    return RunContext(
        clock=clock,
        provider=provider,
        policy=policy,
        history=history if history is not None else HistoryStore(settings.history_root),
        store=StateRecorder(state, clock),
        steps=PackageSteps(settings=settings.steps, state=state, make_model=engine_models(policy)),
        models=models,
        actuator=actuator,
        dry_run=settings.dry_run,
        holder=holder or default_holder(),
        lease_ttl=settings.lease_ttl,
    )


def engine_models(policy: Any) -> ModelFactory | None:
    """The forecasters the policy's ``engine`` asks for: None (the local ones) unless
    ``engine: dask``; then LightGBM trains and predicts on that cluster
    (``forecasting.lgbm_dask``) through the client the history queries keep."""
    engine = getattr(policy, "engine", None)
    if engine is None or engine.kind != "dask":
        return None
    from forecasting.lgbm_dask import dask_models
    from reconciler.history.engine import connect

    return dask_models(lambda: connect(engine.scheduler), engine.timeout)


def _with_shelf(models: Any, settings: CycleSettings, clock: Clock) -> Any:
    """``models`` (a ``ModelCache``; a new one for this cycle alone when None, which keeps no
    accuracy tracker) with the model store of ``settings.model_store`` attached."""
    from forecasting.cache import ModelCache
    from forecasting.shelf import ModelShelf
    from forecasting.store import ModelStore

    root = settings.model_store
    if root is None:
        root = f"{settings.history_root.rstrip('/')}/models"
    if models is None:
        models = ModelCache(track_feedback=False)
    if root and isinstance(models, ModelCache) and models.shelf is None:
        models.shelf = ModelShelf(ModelStore(root, clock=clock))
    return models

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

from providers.base import CloudProvider
from reconciler.clock import Clock
from reconciler.context import RunContext, default_holder, lease_ttl_setting
from reconciler.steps.package import PackageSteps, StepSettings
from reconciler.steps.record import StateRecorder

__all__ = ["CycleSettings", "build_context", "load_checked_policy"]


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
) -> RunContext:
    """A context for one cycle. Pass ``state``/``policy`` to reuse open ones (serve, demo) and
    ``models`` (a ``ModelCache``) to keep fitted forecasters between the cycles of one process:
    without it every cycle refits (a Lambda cold start does)."""
    from reconciler.history import HistoryStore
    from reconciler.state import StateStore, resolve_database_url

    if policy is None:
        policy = load_checked_policy(
            settings.policy_path, provider if settings.check_policy else None
        )
    if state is None:
        url = resolve_database_url(settings.database_url, state_dir=settings.state_dir)
        state = StateStore.open(url)
    return RunContext(
        clock=clock,
        provider=provider,
        policy=policy,
        history=HistoryStore(settings.history_root),
        store=StateRecorder(state, clock),
        steps=PackageSteps(settings=settings.steps, state=state),
        models=models,
        actuator=actuator,
        dry_run=settings.dry_run,
        holder=holder or default_holder(),
        lease_ttl=settings.lease_ttl,
    )

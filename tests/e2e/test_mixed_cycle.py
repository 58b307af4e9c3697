"""``run_once`` on a mixed fleet: AWS (a moto server on loopback) and Azure (the recorded ARM
answers and Monitor of ``test_azure_cycle``) in one cycle, through the provider the CLI and the
Lambda build for ``--cloud aws --cloud azure``."""

from __future__ import annotations

from pathlib import Path

import responses

from providers.multi import MultiProvider
from reconciler.clock import SimulatedClock
from reconciler.clouds import Cloud, CloudChoice, build_provider
from reconciler.loop import run_once
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from tests.e2e.conftest import Seeded
from tests.e2e.test_azure_cycle import _METRICS, _monitor
from tests.e2e.test_azure_cycle import _policy as azure_policy
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, load, register

ROOT = Path(__file__).resolve().parents[2]


def _policy():  # type: ignore[no-untyped-def]
    """The Azure cycle's policy with a pool in each AWS and Azure region."""
    policy = azure_policy()
    pool = policy.pools.regions["westeurope"]
    regions = {"us-east-1": pool, "eu-west-1": pool, "westeurope": pool}
    pools = policy.pools.model_copy(update={"regions": regions})
    return policy.model_copy(update={"pools": pools})


def test_one_cycle_over_aws_and_azure(seeded: Seeded, tmp_path: Path) -> None:
    choice = CloudChoice(
        clouds=(Cloud.AWS, Cloud.AZURE),
        regions=(*seeded.regions, "westeurope"),
        endpoint_url=seeded.endpoint,
        azure_subscriptions=(SUB,),
        azure_cursor=tmp_path / "azure-flow-cursor.json",
    )
    provider = build_provider(
        choice, azure_credential=FakeCredential(), azure_transport=RecordingTransport()
    )
    assert isinstance(provider, MultiProvider) and provider.name == "aws+azure"
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=db,
        dry_run=True,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        register(mock, load("fleet.json"))
        mock.add_callback(responses.GET, _METRICS, callback=_monitor)
        ctx = build_context(
            settings, clock=SimulatedClock(seeded.now), provider=provider, policy=_policy()
        )
        report = run_once(ctx)

    for name in ("collect", "analyze", "compose", "forecast", "allocate", "plan"):
        assert report.step(name).status == "ok", (name, report.step(name).error)
    assert report.step("collect").summary["resources"] == 23 + 5  # the sandbox's and Azure's
    state = StateStore.open(db)
    assert {"us-east-1", "eu-west-1", "westeurope"} <= {p.pool for p in state.latest_pool_states()}
    groups = {g.id: set(g.members) for g in state.latest_groups()}
    azure = {m for members in groups.values() for m in members if m.startswith("/subscriptions/")}
    assert azure, groups
    both = {gid for gid, m in groups.items() if m & azure and any(x.startswith("i-") for x in m)}
    assert both, groups  # the tenant tag groups one tenant's VMs on both clouds
    allocated = {a.group_id for a in state.latest_allocations()}
    assert both & allocated, (both, allocated)

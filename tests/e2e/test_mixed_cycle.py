"""``run_once`` on a mixed fleet: AWS (a moto server on loopback) and Azure (the recorded ARM
answers and Monitor of ``test_azure_cycle``, VNet flow-log blobs on Azurite) in one cycle,
through the provider the CLI and the Lambda build for ``--cloud aws --cloud azure``.

The Azure fleet's flows (``tests/e2e/azure_flows.py``: the web VMs call the ``api-ss`` scale
set's VMs) make the scale set's VMs a group of their own; its API VMs run hot (Monitor's CPU),
so the group is allocated from the ``westeurope`` pool and its scale set is scaled out, the
command folded into the desired state's Azure scale set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import responses

from providers.azure.provider import AzureProvider
from providers.multi import MultiProvider
from reconciler.clock import SimulatedClock
from reconciler.clouds import Cloud, CloudChoice, build_provider
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from tests.e2e.azure_flows import write_flow_blobs
from tests.e2e.conftest import Seeded
from tests.e2e.test_azure_cycle import _METRICS, monitor
from tests.e2e.test_azure_cycle import _policy as azure_policy
from tests.providers.azure.azurite import ACCOUNT, KEY, azurite_server
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, load, register

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_KEY = {"account_name": ACCOUNT, "account_key": KEY}
#: The scale set of the recorded fleet (lower-cased ARM id, as the inventory has it).
API_SS = (
    f"/subscriptions/{SUB}/resourcegroups/shop-rg/providers/microsoft.compute/"
    "virtualmachinescalesets/api-ss"
)


def _policy():  # type: ignore[no-untyped-def]
    """The Azure cycle's policy with a pool in each AWS and Azure region."""
    policy = azure_policy()
    pool = policy.pools.regions["westeurope"]
    regions = {"us-east-1": pool, "eu-west-1": pool, "westeurope": pool}
    pools = policy.pools.model_copy(update={"regions": regions})
    return policy.model_copy(update={"pools": pools})


@dataclass(frozen=True)
class Mixed:
    """One dry-run cycle over both clouds: its report, what the steps produced, its store."""

    report: RunReport
    out: CycleOutputs
    db: str


@pytest.fixture(scope="module")
def mixed(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    with azurite_server() as url:
        yield _cycle(seeded, url, tmp_path_factory.mktemp("mixed"))


def _cycle(seeded: Seeded, azurite: str, tmp_path: Path) -> Mixed:
    """One dry-run cycle over both clouds with three hours of Azure flow logs before ``now``."""
    from azure.storage.blob import BlobServiceClient

    end = seeded.now.replace(minute=0, second=0, microsecond=0)
    assert write_flow_blobs(BlobServiceClient(azurite, credential=ACCOUNT_KEY), end, 3) == 12
    choice = CloudChoice(
        clouds=(Cloud.AWS, Cloud.AZURE),
        regions=(*seeded.regions, "westeurope"),
        endpoint_url=seeded.endpoint,
        azure_subscriptions=(SUB,),
        azure_flow_logs=(f"westeurope={azurite}",),
        azure_cursor=tmp_path / "azure-flow-cursor.json",
    )
    provider = build_provider(
        choice, azure_credential=FakeCredential(), azure_transport=RecordingTransport()
    )
    assert isinstance(provider, MultiProvider) and provider.name == "aws+azure"
    azure = provider.providers[1]
    assert isinstance(azure, AzureProvider)
    azure.flow_logs[0].credential = ACCOUNT_KEY  # Azurite takes its account key, not a token
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=db,
        dry_run=True,
    )
    seen: list[CycleOutputs] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(azurite)
        register(mock, load("fleet.json"))
        mock.add_callback(responses.GET, _METRICS, callback=monitor({"/api-ss/": 95.0}))
        ctx = build_context(
            settings, clock=SimulatedClock(seeded.now), provider=provider, policy=_policy()
        )
        ctx.observer = lambda _report, out: seen.append(out)
        report = run_once(ctx)
    return Mixed(report, seen[0], db)


def _api_group(mixed: Mixed) -> str:
    """The one group holding exactly Azure VMs, the scale set's among them."""
    groups = {g.id: set(g.members) for g in StateStore.open(mixed.db).latest_groups()}
    azure = {m for members in groups.values() for m in members if m.startswith("/subscriptions/")}
    api_vms = {f"{API_SS}/virtualmachines/0", f"{API_SS}/virtualmachines/1"}
    own = [gid for gid, m in groups.items() if m and m <= azure and api_vms <= m]
    assert len(own) == 1, groups
    return own[0]


def test_one_cycle_over_aws_and_azure(mixed: Mixed) -> None:
    report = mixed.report
    for name in ("collect", "analyze", "compose", "forecast", "allocate", "plan", "apply"):
        assert report.step(name).status == "ok", (name, report.step(name).error)
    assert report.step("collect").summary["resources"] == 23 + 5  # the sandbox's and Azure's
    state = StateStore.open(mixed.db)
    assert {"us-east-1", "eu-west-1", "westeurope"} <= {p.pool for p in state.latest_pool_states()}
    groups = {g.id: set(g.members) for g in state.latest_groups()}
    azure = {m for members in groups.values() for m in members if m.startswith("/subscriptions/")}
    assert azure, groups
    both = {gid for gid, m in groups.items() if m & azure and any(x.startswith("i-") for x in m)}
    assert both, groups  # the tenant tag groups one tenant's VMs on both clouds
    allocated = {a.group_id for a in state.latest_allocations()}
    assert both & allocated, (both, allocated)


def test_azure_flows_form_a_group_allocated_from_the_azure_pool(mixed: Mixed) -> None:
    """The flows among the Azure VMs make the scale set's VMs an Azure group of their own,
    allocated from the westeurope pool."""
    gid = _api_group(mixed)
    allocation = mixed.out.allocation
    assert allocation is not None
    assert allocation.pool_of_group.get(gid) == "westeurope", allocation.pool_of_group
    pools = {p.pool_id: p.allocated_gbps for p in allocation.pools}
    assert pools["westeurope"] >= allocation.groups[gid] > 0
    rows = {a.group_id: a for a in StateStore.open(mixed.db).latest_allocations()}
    assert rows[gid].pool == "westeurope" and rows[gid].gbps > 0


def test_the_azure_scale_set_is_scaled_out_in_the_desired_state(mixed: Mixed) -> None:
    """The scale set's VMs run hot: it is scaled out, the command folded into the desired
    state's Azure scale set (within the autoscale bounds the cloud reports)."""
    gid = _api_group(mixed)
    out = mixed.out
    assert out.plan is not None
    scales = [c for c in out.plan.commands if c.kind == "scale" and c.target == API_SS]
    assert len(scales) == 1, [(c.kind, c.target) for c in out.plan.commands]
    wanted = scales[0].after["desired"]
    assert wanted == 3  # 2 x Standard_D2s_v5 at ~83 % CPU, sized at 80 %
    assert out.applied is not None and out.applied.desired is not None
    declared = {
        s.import_id: (g.id, s)
        for g in out.applied.desired.groups
        for s in g.scaling_groups
        if s.provider == "azure"
    }
    group_id, spec = declared[API_SS]
    assert group_id == gid
    assert (spec.region, spec.desired, spec.min_size, spec.max_size) == ("westeurope", 3, 2, 6)

"""``run_once`` on a mixed fleet: AWS (a moto server on loopback) and Google Cloud (the
project ``tests.e2e.gcp_cloud`` serves in the REST APIs' shapes, with its VPC flow logs) in
one cycle, through the provider the CLI builds for
``--cloud aws --cloud gcp --gcp-project P --gcp-key key.json``, pools per cloud region."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import responses

from policies import load_policy
from policies.schema import Policy
from providers.multi import MultiProvider
from reconciler.clock import SimulatedClock
from reconciler.clouds import Cloud, CloudChoice, build_provider
from reconciler.loop import run_once
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.e2e.conftest import Seeded
from tests.e2e.gcp_cloud import FLEET, PROJECT, serve
from tests.e2e.test_gcp_cycle import _key_file

ROOT = Path(__file__).resolve().parents[2]
GCP_REGIONS = ("us-central1", "europe-west1")


def _policy(aws_regions: list[str]) -> Policy:
    """The default policy with a pool in each AWS and each GCP region, groups formed in one
    cycle and a lookback the sandbox's 1.6 days fill."""
    policy = load_policy(ROOT / "policies" / "examples" / "default.yaml")
    pool = policy.pools.regions["us-east-1"]
    regions = {r: pool for r in (*aws_regions, *GCP_REGIONS)}
    pools = policy.pools.model_copy(update={"regions": regions, "global_gbps": 400})
    sel = policy.group_selection
    traffic = sel.traffic.model_copy(update={"form_cycles": 1})
    return policy.model_copy(
        update={
            "pools": pools,
            "forecast": policy.forecast.model_copy(update={"lookback": timedelta(days=2)}),
            "group_selection": sel.model_copy(update={"traffic": traffic}),
        }
    )


@pytest.fixture
def gcp_cloud() -> Iterator[responses.RequestsMock]:
    """The GCP project, and Google's token endpoint for the key file's exchange (botocore does
    not go through ``requests``: the moto server is reached as usual)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps)
        rsps.post(
            "https://oauth2.googleapis.com/token",
            json={"access_token": "ya29.mixed", "expires_in": 3600, "token_type": "Bearer"},
        )
        yield rsps


def test_one_cycle_over_aws_and_gcp(
    seeded: Seeded, gcp_cloud: responses.RequestsMock, tmp_path: Path
) -> None:
    choice = CloudChoice(
        clouds=(Cloud.AWS, Cloud.GCP),
        regions=(*seeded.regions, *GCP_REGIONS),
        endpoint_url=seeded.endpoint,
        gcp_project=PROJECT,
        gcp_key=str(_key_file(tmp_path / "key.json")),
    )
    provider = build_provider(choice)
    assert isinstance(provider, MultiProvider) and provider.name == "aws+gcp"
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=db,
        dry_run=True,
        # the sandbox keeps an hour of CloudWatch points: demand from flows on both clouds
        steps=StepSettings(
            demand_source="flows",
            flow_backfill=timedelta(days=2),
            metric_backfill=timedelta(hours=1),
        ),
        model_store="",
    )
    ctx = build_context(
        settings,
        clock=SimulatedClock(seeded.now),
        provider=provider,
        policy=_policy(seeded.regions),
    )
    report = run_once(ctx)

    for name in ("collect", "analyze", "compose", "forecast", "allocate", "plan"):
        assert report.step(name).status == "ok", (name, report.step(name).error)
    collect = report.step("collect").summary
    assert collect["resources"] == 23 + len(FLEET)  # the sandbox's and the GCP project's
    assert collect["rejected"] == 0
    state = StateStore.open(db)
    pools = {p.pool for p in state.latest_pool_states()}
    assert {*seeded.regions, *GCP_REGIONS} <= pools, pools

    # the GCP VMs form groups of their own (nothing on AWS shares their app label or talks to
    # them), one per app: web in us-central1, db in europe-west1
    gcp_ids = {f"projects/{PROJECT}/zones/{vm.zone}/instances/{vm.name}" for vm in FLEET}
    groups = {g.id: set(g.members) for g in state.latest_groups()}
    gcp_groups = {gid: m for gid, m in groups.items() if m & gcp_ids}
    assert gcp_groups, groups
    assert all(m <= gcp_ids for m in gcp_groups.values()), gcp_groups
    assert set().union(*gcp_groups.values()) == gcp_ids
    assert any(any(not x.startswith("projects/") for x in m) for m in groups.values())

    # each GCP group is allocated a non-zero share of its own region's pool
    allocations = {a.group_id: a for a in state.latest_allocations()}
    for gid in gcp_groups:
        assert gid in allocations, (gid, sorted(allocations))
        assert allocations[gid].gbps > 0, allocations[gid]
    assert {allocations[gid].pool for gid in gcp_groups} == set(GCP_REGIONS)
    # and the AWS groups theirs from the AWS pools (demand from flows on both clouds)
    aws_pools = {a.pool for gid, a in allocations.items() if gid not in gcp_groups and a.gbps > 0}
    assert aws_pools == set(seeded.regions), aws_pools
    # the desired state declares every group, the GCP instances with their machine types
    apply = report.step("apply").summary
    assert apply["desired_groups"] == len(groups) and apply.get("not_declared", 0) == 0

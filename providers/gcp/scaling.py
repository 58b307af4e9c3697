"""Managed instance groups as the cloud has them now: target size, autoscaler bounds, members.

Zonal and regional MIGs come from one ``instanceGroupManagers.aggregatedList``, autoscalers
from one ``autoscalers.aggregatedList`` (matched to their MIG by ``target``), members from
each MIG's ``listManagedInstances``. A MIG's name in Headroom is its relative resource name
(the ``pulumi-gcp`` import id). ``min_size``/``max_size`` are the autoscaler's replicas when an
autoscaler is on; a MIG without one has no bounds of its own, so both are its target size
(the policy's limits then govern what the planner may ask).
"""

from __future__ import annotations

from collections.abc import Collection

from google.api_core.retry import Retry
from google.cloud import compute_v1

from providers.gcp.inventory import PAGE_SIZE, fail_on_unreachable
from providers.gcp.names import last_segment, region_of_zone, relative_name, scope_location
from providers.gcp.session import gcp_errors
from providers.models import ProviderName, ScalingGroup

__all__ = ["AUTOSCALER_TAG", "TEMPLATE_TAG", "MigClients", "collect_migs"]

#: Tag naming the autoscaler of a MIG (its relative name), absent when it has none.
AUTOSCALER_TAG = "gcp:autoscaler"
#: Tag naming the MIG's instance template (also in ``launch_template_id``).
TEMPLATE_TAG = "gcp:instance-template"


class MigClients:
    """The four Compute clients MIG collection needs."""

    def __init__(
        self,
        managers: compute_v1.InstanceGroupManagersClient,
        regional: compute_v1.RegionInstanceGroupManagersClient,
        autoscalers: compute_v1.AutoscalersClient,
        retry: Retry,
    ) -> None:
        self.managers = managers
        self.regional = regional
        self.autoscalers = autoscalers
        self.retry = retry


def _autoscalers(c: MigClients, project: str) -> dict[str, compute_v1.Autoscaler]:
    """Autoscalers that are on, by the relative name of the MIG they scale."""
    out: dict[str, compute_v1.Autoscaler] = {}
    unreachable: list[str] = []
    op = f"autoscalers.aggregatedList {project}"
    request = compute_v1.AggregatedListAutoscalersRequest(project=project, max_results=PAGE_SIZE)
    with gcp_errors(op):
        for page in c.autoscalers.aggregated_list(request=request, retry=c.retry).pages:
            unreachable.extend(page.unreachables)
            for scoped in page.items.values():
                for a in scoped.autoscalers:
                    if a.autoscaling_policy.mode != "OFF":
                        out[relative_name(a.target)] = a
    fail_on_unreachable(unreachable, op)
    return out


def _members(c: MigClients, project: str, kind: str, where: str, name: str) -> tuple[str, ...]:
    if kind == "zones":
        with gcp_errors(f"instanceGroupManagers.listManagedInstances {name}", where):
            found = list(
                c.managers.list_managed_instances(
                    project=project, zone=where, instance_group_manager=name, retry=c.retry
                )
            )
    else:
        with gcp_errors(f"regionInstanceGroupManagers.listManagedInstances {name}", where):
            found = list(
                c.regional.list_managed_instances(
                    project=project, region=where, instance_group_manager=name, retry=c.retry
                )
            )
    return tuple(sorted(relative_name(m.instance) for m in found if m.instance))


def collect_migs(
    c: MigClients, project: str, regions: Collection[str] | None
) -> list[ScalingGroup]:
    """Every MIG of ``project`` in ``regions`` (all when None) with its autoscaler and members."""
    scalers = _autoscalers(c, project)
    out: list[ScalingGroup] = []
    unreachable: list[str] = []
    op = f"instanceGroupManagers.aggregatedList {project}"
    request = compute_v1.AggregatedListInstanceGroupManagersRequest(
        project=project, max_results=PAGE_SIZE
    )
    with gcp_errors(op):
        pages = list(c.managers.aggregated_list(request=request, retry=c.retry).pages)
    for page in pages:
        unreachable.extend(page.unreachables)
        for scope, scoped in page.items.items():
            kind, where = scope_location(scope)
            region = region_of_zone(where) if kind == "zones" else where
            if regions is not None and region not in regions:
                continue
            for m in scoped.instance_group_managers:
                rid = f"projects/{project}/{kind}/{where}/instanceGroupManagers/{m.name}"
                scaler = scalers.get(rid)
                template = relative_name(m.instance_template) if m.instance_template else None
                tags = {TEMPLATE_TAG: template} if template else {}
                lo = hi = m.target_size
                if scaler is not None:
                    tags[AUTOSCALER_TAG] = relative_name(scaler.self_link) or scaler.name
                    lo = scaler.autoscaling_policy.min_num_replicas
                    hi = scaler.autoscaling_policy.max_num_replicas
                out.append(
                    ScalingGroup(
                        name=rid,
                        provider=ProviderName.GCP,
                        account=project,
                        region=region,
                        desired=m.target_size,
                        min_size=lo,
                        max_size=max(hi, lo),
                        launch_template_id=template,
                        launch_template_version=last_segment(template) if template else None,
                        instance_ids=_members(c, project, kind, where, m.name),
                        tags=tags,
                    )
                )
    fail_on_unreachable(unreachable, op)
    return sorted(out, key=lambda g: (g.region, g.name))

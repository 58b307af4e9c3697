"""Parameters of behavioural analysis, named plainly so the policy schema can map onto them."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnalysisConfig"]


class AnalysisConfig(BaseModel):
    """How the traffic graph is built, clustered and how shared-service hubs are recognised.

    ``hard_tag_keys``: resources with different values of these tags are never grouped together and
    resources with the same value are never split. ``soft_tag_keys``: an edge between two resources
    sharing a value gets its weight multiplied by ``1 + soft_tag_bonus``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback: timedelta = Field(default=timedelta(hours=6), gt=timedelta(0))
    half_life: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    weight_by: Literal["bytes", "flows", "packets"] = "bytes"
    leiden_resolution: float = Field(default=1.0, gt=0)
    leiden_iterations: int = Field(default=-1, description="-1: iterate until stable")
    split_max_link_share: float = Field(
        default=0.02,
        ge=0,
        lt=1,
        description=(
            "parts of a community (found at the community's own scale) exchanging less than this "
            "share of the smaller part's traffic are separate applications; 0 disables"
        ),
    )
    seed: int = 42
    hard_tag_keys: tuple[str, ...] = ()
    soft_tag_keys: tuple[str, ...] = ()
    soft_tag_bonus: float = Field(default=1.0, ge=0)
    # hub detection
    external_nodes_are_hubs: bool = True
    hub_min_partners: int = Field(default=8, ge=2)
    hub_partner_zscore: float = Field(default=6.0, gt=0)
    hub_min_communities: int = Field(default=3, ge=2)
    hub_min_participation: float = Field(default=0.5, ge=0, le=1)
    hub_community_min_share: float = Field(default=0.05, ge=0, le=1)
    hub_kinds: tuple[str, ...] = ("nat_gateway", "vpc_endpoint")
    hub_candidate_share: float = Field(
        default=0.02, ge=0, le=1, description="top share by partners judged with them left out"
    )
    hub_min_candidates: int = Field(
        default=8,
        ge=0,
        description=(
            "at least this many nodes (by partners and by traffic) judged held out, so a small "
            "fleet, where the top share rounds to one node, still has its hubs judged"
        ),
    )
    hub_lone_servers: bool = Field(
        default=True,
        description=(
            "a node left alone in its community (e.g. a hard tag of its own) that serves at "
            "least hub_min_partners grouped resources is a shared service, not an application"
        ),
    )
    hub_passes: int = Field(default=2, ge=1, le=5)
    # anomalies: robust residual against the same time of day
    anomaly_zscore: float = Field(default=5.0, gt=0)
    anomaly_slot: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    anomaly_min_points: int = Field(default=2, ge=1, description="per slot, else overall median")
    anomaly_recent: timedelta = Field(
        default=timedelta(hours=1),
        gt=timedelta(0),
        description="windows this recent are scored against the history before them",
    )
    membership_change_share: float = Field(default=0.3, gt=0, le=1)
    # explanations
    top_edges: int = Field(default=5, ge=1)
    giant_component_share: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _tags_hard_or_soft(self) -> AnalysisConfig:
        overlap = set(self.hard_tag_keys) & set(self.soft_tag_keys)
        if overlap:
            raise ValueError(f"tag keys {sorted(overlap)} are both hard and soft; pick one")
        return self

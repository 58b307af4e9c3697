"""User demand series (one tier per request, zero-filled counts), latency matrix, shares."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from reconciler.users.models import (
    LATENCY_EDGES_MS,
    UserGroup,
    UserGroupKind,
    user_series_id,
)
from reconciler.users.series import (
    DEMAND_SCHEMA,
    group_shares,
    histogram_quantile,
    latency_matrix,
    one_tier,
    user_demand,
)
from tests.users.frames import at, bucket, buckets

G1 = UserGroup("ug-aaaaaa", "cohort-a", UserGroupKind.COHORT, ("u1", "u2"))
G2 = UserGroup("ug-bbbbbb", "cohort-b", UserGroupKind.COHORT, ("u3",))
STEP = timedelta(minutes=5)


def _hist(ms: float, n: int = 1) -> list[int]:
    h = [0] * (len(LATENCY_EDGES_MS) + 1)
    h[LATENCY_EDGES_MS.index(ms)] = n
    return h


def _values(frame: pl.DataFrame, series: str, metric: str) -> list[float]:
    rows = frame.filter((pl.col("group_id") == series) & (pl.col("metric") == metric))
    return rows.sort("ts").get_column("y").to_list()


def test_edge_rows_count_and_the_origin_copy_of_the_same_requests_does_not() -> None:
    edge = {"log_kind": "cloudfront", "resource_id": None, "serving_region": "us-east-1"}
    frame = buckets(
        bucket(user="u1", client_region="eu-west-1", requests=30, **edge),
        bucket(user="u1", requests=10),  # the misses, logged again at the origin ALB
        bucket(user="u3", requests=6, serving_region="eu-west-1", client_region="eu-west-1"),
    )
    kept = one_tier(frame)
    assert sorted(kept.get_column("requests").to_list()) == [6, 30]
    out = user_demand(frame, [G1, G2], STEP)
    eu1 = user_series_id(G1.id, "eu-west-1")
    assert sorted(out.get_column("group_id").unique().to_list()) == sorted(
        [eu1, user_series_id(G2.id, "eu-west-1")]
    )
    assert _values(out, eu1, "requests_per_s") == [30 / 300]


def test_edge_rows_without_a_serving_region_drop_all_the_users_origin_rows() -> None:
    frame = buckets(
        bucket(user="u1", log_kind="cloudfront", serving_region=None, client_region="eu-west-1"),
        bucket(user="u1", serving_region="ap-south-1", client_region="ap-south-1"),
        bucket(user="u2", serving_region="ap-south-1", client_region="ap-south-1"),
    )
    assert one_tier(frame).get_column("user").to_list() == ["u1", "u2"]
    assert one_tier(frame).get_column("log_kind").to_list() == ["cloudfront", "alb"]


def test_demand_dtypes_rates_latency_and_zero_filling() -> None:
    frame = buckets(
        bucket(
            ts=at(0), user="u1", requests=3, bytes_out=3000, latency_sum_ms=30.0, latency_count=3
        ),
        bucket(
            ts=at(0), user="u2", requests=1, bytes_out=1000, latency_sum_ms=50.0, latency_count=1
        ),
        bucket(
            ts=at(15), user="u1", requests=6, bytes_out=600, latency_sum_ms=0.0, latency_count=0
        ),
        bucket(ts=at(10), user="u3", requests=1),
        bucket(ts=at(10), user="nobody", requests=99),  # in no group
    )
    out = user_demand(frame, [G1, G2], STEP)
    assert out.schema == pl.Schema(DEMAND_SCHEMA)
    s1 = user_series_id(G1.id, "us-east-1")
    assert _values(out, s1, "requests_per_s") == [4 / 300, 0.0, 0.0, 6 / 300]
    assert _values(out, s1, "bytes_out_gbps") == pytest.approx(
        [4000 * 8 / 300 / 1e9, 0.0, 0.0, 600 * 8 / 300 / 1e9]
    )
    assert _values(out, s1, "user_latency_ms") == [20.0]  # (30 + 50) / 4; no latency, no row
    s2 = user_series_id(G2.id, "us-east-1")
    assert _values(out, s2, "requests_per_s") == [0.0, 0.0, 1 / 300, 0.0]
    ts = out.filter(pl.col("group_id") == s1).get_column("ts").unique().sort().to_list()
    assert ts == [at(0), at(5), at(10), at(15)]
    hourly = user_demand(frame, [G1], timedelta(hours=1))
    assert _values(hourly, s1, "requests_per_s") == [10 / 3600]
    with pytest.raises(ValueError, match="multiple of 5 minutes"):
        user_demand(frame, [G1], timedelta(minutes=1))
    assert user_demand(frame.head(0), [G1], STEP).schema == pl.Schema(DEMAND_SCHEMA)


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    h = [0] * (len(LATENCY_EDGES_MS) + 1)
    h[LATENCY_EDGES_MS.index(10)] = 4  # 7 < x <= 10
    assert histogram_quantile(h, 0.5) == pytest.approx(8.5)
    assert histogram_quantile([0] * len(h), 0.5) is None
    h[-1] = 100
    assert histogram_quantile(h, 0.5) == LATENCY_EDGES_MS[-1]


def test_latency_matrix_merges_histograms_and_prefers_edge_rows_per_pair() -> None:
    frame = buckets(
        bucket(client_region="eu-west-1", log_kind="cloudfront", latency_hist=_hist(100, 3)),
        bucket(client_region="eu-west-1", log_kind="cloudfront", latency_hist=_hist(50, 1)),
        bucket(client_region="eu-west-1", serving_region="eu-west-1", latency_hist=_hist(5)),
        bucket(latency_hist=_hist(10)),  # origin only for (us-east-1, us-east-1)
        bucket(client_region="ap-south-1", latency_count=0, latency_hist=[0] * 27),
    )
    m = latency_matrix(frame)
    assert set(m) == {
        ("eu-west-1", "us-east-1"),
        ("eu-west-1", "eu-west-1"),
        ("us-east-1", "us-east-1"),
    }
    assert m[("eu-west-1", "us-east-1")] == pytest.approx(70 + 30 * (2 - 1) / 3)
    assert m[("us-east-1", "us-east-1")] == pytest.approx(8.5)
    assert m[("eu-west-1", "eu-west-1")] == pytest.approx(4.0)


def test_group_shares_split_origin_requests_by_resource() -> None:
    frame = buckets(
        bucket(user="u1", resource_id="i-a", requests=3),
        bucket(user="u2", resource_id="i-b", requests=1),
        bucket(user="u1", resource_id=None, requests=50),  # unresolved target
        bucket(user="u1", log_kind="cloudfront", resource_id=None, requests=70),
        bucket(user="u3", resource_id="i-b", requests=2),
    )
    shares = group_shares(frame, [G1, G2])
    assert shares == {G1.id: {"i-a": 0.75, "i-b": 0.25}, G2.id: {"i-b": 1.0}}

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from reconciler.users.loadmodel import (
    MAX_MAPE,
    MIN_R2,
    OTHER,
    LoadModel,
    MetricFit,
    class_mix,
    fit_load_models,
    measured_rates,
    request_load,
    user_loads,
    user_needs,
)
from reconciler.users.models import REQUEST_BUCKET_SCHEMA, UserGroup, UserGroupKind

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(minutes=5)
API, UPLOAD, STATIC, RARE = "GET /api", "POST /upload", "GET /static", "DELETE /x"
#: per req/s of each class: vCPU; intercept 0.5 vCPU
TRUE_CPU = {API: 0.02, UPLOAD: 0.1, STATIC: 0.005}


def row(ts, cls, requests, *, resource="i-1", user="u1", kind="alb", bytes_out=0):
    return {
        "ts": ts,
        "log_kind": kind,
        "user": user,
        "client_region": "eu-west-1",
        "serving_region": "eu-west-1",
        "resource_id": resource,
        "request_class": cls,
        "requests": requests,
        "bytes_in": 10 * requests,
        "bytes_out": bytes_out,
        "latency_sum_ms": 0.0,
        "latency_count": 0,
        "latency_hist": [],
        "origin_ms_sum": 0.0,
        "hits": 0,
        "errors": 0,
    }


def frame(rows):
    return pl.DataFrame(rows, schema=REQUEST_BUCKET_SCHEMA)


def synthetic(n=200, noise=0.02, seed=7):
    """Requests of three classes (+ a rare one) on i-1/i-2 and the CPU they cost, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rates = {
        API: 50 + 40 * np.sin(2 * np.pi * t / 288) + rng.uniform(0, 20, n),
        UPLOAD: 5 + 4 * np.cos(2 * np.pi * t / 144) + rng.uniform(0, 3, n),
        STATIC: 200 + rng.uniform(-100, 100, n),
    }
    rows, demand = [], []
    for i in range(n):
        ts = T0 + i * STEP
        cpu = 0.5
        for cls, r in rates.items():
            count = round(r[i] * 300)
            # split over two resources and two 150 s sub-buckets of the step
            for k, res in enumerate(("i-1", "i-2")):
                rows.append(row(ts + k * timedelta(seconds=150), cls, count // 2, resource=res))
            rows.append(row(ts, cls, count - 2 * (count // 2), resource="i-1"))
            cpu += TRUE_CPU[cls] * count / 300
        if i % 70 == 0:
            rows.append(row(ts, RARE, 30))
        demand.append(("app-a", "cpu_vcpu", ts, cpu + rng.normal(0, noise)))
        demand.append(("app-a", "memory_gib", ts, 4.0 + rng.normal(0, 0.01)))
    gd = pl.DataFrame(
        demand,
        schema={
            "group_id": pl.String,
            "metric": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "y": pl.Float64,
        },
        orient="row",
    )
    return frame(rows), gd


def test_request_load_rates_per_group_class_and_step():
    req = frame(
        [
            row(T0, API, 300),
            row(T0 + timedelta(minutes=2), API, 300, resource="i-2"),
            row(T0, API, 900, kind="cloudfront", resource=None),  # edge: not origin load
            row(T0, API, 600, resource=None),  # target not resolved
            row(T0, API, 600, resource="i-9"),  # no group
            row(T0 + STEP, UPLOAD, 150, bytes_out=3000),
        ]
    )
    load = request_load(req, {"app-a": ["i-1", "i-2"]}, STEP)
    assert load.select("request_class", "ts", "requests_per_s").rows() == [
        (API, T0, 2.0),
        (UPLOAD, T0 + STEP, 0.5),
    ]
    assert load["bytes_out_per_s"].to_list() == [0.0, 10.0]
    assert load["group_id"].unique().to_list() == ["app-a"]
    with pytest.raises(ValueError, match="request_load: requests table lacks columns user"):
        request_load(req.drop("user"), {}, STEP)
    with pytest.raises(ValueError, match="step must be positive"):
        request_load(req, {}, timedelta(0))


def test_fit_recovers_known_coefficients_from_noisy_history():
    req, gd = synthetic()
    load = request_load(req, {"app-a": ["i-1", "i-2"]}, STEP)
    models = fit_load_models(load, gd)
    cpu = models["app-a"].fits["cpu_vcpu"]
    assert cpu.usable and cpu.reason == "" and cpu.points == 200
    assert cpu.intercept == pytest.approx(0.5, abs=0.05)
    for cls, coef in TRUE_CPU.items():
        assert cpu.coefficients[cls] == pytest.approx(coef, rel=0.1, abs=2e-4)
    assert RARE not in cpu.coefficients and OTHER in cpu.coefficients  # 3 points: pooled
    assert cpu.r2 > 0.9 and cpu.mape < 0.05
    # memory does not move with load: a flat baseline, near-zero costs, usable on its MAPE
    mem = models["app-a"].fits["memory_gib"]
    assert mem.usable and mem.intercept == pytest.approx(4.0, abs=0.05)
    assert max(mem.coefficients.values()) < 1e-3
    # no network or IO series: kept, not usable, with the reason
    net = models["app-a"].fits["network_gbps"]
    assert not net.usable and net.points == 0 and "0 aligned points, fewer than 24" in net.reason
    assert models["app-a"].usable("network_gbps") is None


def test_too_few_points_and_poor_fit_are_not_usable():
    req, gd = synthetic(n=20)
    load = request_load(req, {"app-a": ["i-1", "i-2"]}, STEP)
    cpu = fit_load_models(load, gd).get("app-a")
    assert cpu is not None
    fit = cpu.fits["cpu_vcpu"]
    assert not fit.usable and fit.reason == "20 aligned points, fewer than 24"
    # CPU that has nothing to do with the requests: the held-out tail shows it
    req, gd = synthetic(n=200)
    rng = np.random.default_rng(1)
    noisy = gd.with_columns(
        pl.when(pl.col("metric") == "cpu_vcpu")
        .then(pl.Series(rng.uniform(0.1, 10, gd.height)))
        .otherwise(pl.col("y"))
        .alias("y")
    )
    bad = fit_load_models(request_load(req, {"app-a": ["i-1", "i-2"]}, STEP), noisy)
    fit = bad["app-a"].fits["cpu_vcpu"]
    assert not fit.usable and fit.r2 < MIN_R2 and fit.mape > MAX_MAPE
    assert fit.reason.startswith("held-out R^2") and f"< {MIN_R2}" in fit.reason
    with pytest.raises(ValueError, match="group_demand lacks columns y"):
        fit_load_models(load, gd.drop("y"))


def _fit(metric, coefficients, intercept=1.0, usable=True, r2=0.9):
    return MetricFit(metric, intercept, coefficients, 0.05, r2, 0.02, 100, usable)


def test_user_needs_on_a_hand_made_case():
    models = {
        "app-a": LoadModel(
            "app-a",
            {
                "cpu_vcpu": _fit("cpu_vcpu", {API: 0.01, UPLOAD: 0.1}),
                "memory_gib": _fit("memory_gib", {API: 0.002, OTHER: 0.004}),
                "io_mbps": _fit("io_mbps", {API: 1.0}, usable=False),
            },
        ),
        "app-b": LoadModel("app-b", {"cpu_vcpu": _fit("cpu_vcpu", {API: 0.03}, r2=0.8)}),
    }
    rates = {"ug-1": {"eu-west-1": 60.0, "us-east-1": 40.0}}  # 100 req/s
    shares = {"ug-1": {"i-1": 0.5, "i-2": 0.25, "i-3": 0.25}}  # a: 0.75, b: 0.25
    mix = {"ug-1": {API: 0.8, UPLOAD: 0.2}}
    owner = {"i-1": "app-a", "i-2": "app-a", "i-3": "app-b"}
    needs, serving = user_needs(rates, shares, mix, models, owner)
    assert serving == {"ug-1": {"app-a": 0.75, "app-b": 0.25}}
    # cpu: a costs 0.8*0.01 + 0.2*0.1 = 0.028, b 0.8*0.03 + 0.2*0.03 (UPLOAD: mean 0.05)
    cpu_a = 100 * 0.75 * (0.8 * 0.01 + 0.2 * 0.1)
    cpu_b = 100 * 0.25 * (0.8 * 0.03 + 0.2 * 0.05)
    assert needs["ug-1"]["cpu_vcpu"] == pytest.approx(cpu_a + cpu_b)
    # memory: only app-a (75 % < MIN_COVERED) has a fit -> not stated; io: not usable
    assert set(needs["ug-1"]) == {"cpu_vcpu"}
    # intercepts (1.0 each) are the app groups' baselines: not in the user group's need
    assert needs["ug-1"]["cpu_vcpu"] < 5
    only_a = user_needs(rates, {"ug-1": {"i-1": 1.0}}, mix, models, owner)[0]
    assert only_a["ug-1"]["memory_gib"] == pytest.approx(100 * (0.8 * 0.002 + 0.2 * 0.004))
    loads = user_loads(rates, shares, mix, models, owner, measured={"ug-1": 130.0})
    load = loads["ug-1"]
    assert load.requests_per_s == 100.0 and load.measured_per_s == 130.0
    assert load.per_request == {"cpu_vcpu": pytest.approx((cpu_a + cpu_b) / 100)}
    assert load.r2 == {"app-a": {"cpu_vcpu": 0.9, "memory_gib": 0.9}, "app-b": {"cpu_vcpu": 0.8}}


def test_mix_and_measured_rate_from_the_requests_table():
    groups = [
        UserGroup("ug-1", "acme", UserGroupKind.NAMED, ("u1", "u2")),
        UserGroup("ug-2", "rest", UserGroupKind.COHORT, ("u3",)),
    ]
    req = frame(
        [
            row(T0, API, 300, user="u1"),
            row(T0, UPLOAD, 100, user="u2", resource="i-2"),
            row(T0 + STEP, API, 600, user="u1"),
            row(T0 + STEP + timedelta(minutes=1), API, 300, user="u2", resource="i-2"),
            row(T0, API, 999, user="u1", kind="cloudfront", resource=None),
            row(T0, API, 50, user="u9"),  # in no group
        ]
    )
    assert class_mix(req, groups) == {"ug-1": {API: 1200 / 1300, UPLOAD: 100 / 1300}}
    assert measured_rates(req, groups, STEP) == {"ug-1": 3.0, "ug-2": 0.0}
    assert math.isclose(sum(class_mix(req, groups)["ug-1"].values()), 1.0)


def test_a_large_idle_baseline_is_not_skill():
    """Memory-like metric: a large constant plus noise unrelated to the requests. Its MAPE is
    small whatever the model does, but a constant does as well: not usable."""
    req, gd = synthetic(n=200)
    rng = np.random.default_rng(3)
    flat = gd.with_columns(
        pl.when(pl.col("metric") == "cpu_vcpu")
        .then(pl.Series(100 + rng.normal(0, 2, gd.height)))
        .otherwise(pl.col("y"))
        .alias("y")
    )
    fit = fit_load_models(request_load(req, {"app-a": ["i-1", "i-2"]}, STEP), flat)
    cpu = fit["app-a"].fits["cpu_vcpu"]
    assert cpu.mape <= MAX_MAPE  # small, as for any flat series
    assert cpu.usable and cpu.reason.startswith("no better than a constant")
    assert cpu.intercept == pytest.approx(100, abs=1) and not any(cpu.coefficients.values())
    assert cpu.mean_per_request == 0.0

"""Season-context features (what the series did over the same stretch one period ago) and the
sliced parallel training of the quantile boosters."""

from __future__ import annotations

import numpy as np

from forecasting.features import SMOOTH_HALF, FeatureSpec, build_rows, flatten
from forecasting.lgbm import _train_parallel

from .conftest import make_series

SEASON = 288


def _spec(context: bool) -> FeatureSpec:
    return FeatureSpec(step_seconds=300, season_length=SEASON, season_context=context)


def test_season_context_values_and_no_look_ahead() -> None:
    frame = make_series(n_series=2, days=3.0, noise=0.3)
    spec = _spec(True)
    flat = flatten(frame, spec)
    names = spec.names()
    origin = int(flat.start[0]) + 2 * SEASON + 40
    h = np.array([1, 12, 48])
    o = np.full(3, origin)
    X = build_rows(flat, spec, o, h)
    s, c, y = flat.scale[origin], flat.center[origin], flat.y
    delta = X[:, names.index("season_delta_1")]
    want = (y[origin + h - SEASON] - y[origin - SEASON]) / s
    np.testing.assert_allclose(delta, want, rtol=1e-9)
    smooth = X[:, names.index("season_smooth_1")]
    mid = origin + h - SEASON
    want_smooth = [(y[m - SMOOTH_HALF : m + SMOOTH_HALF + 1].mean() - c) / s for m in mid]
    np.testing.assert_allclose(smooth, want_smooth, rtol=1e-9)
    # a lag beyond the history (7 periods) is missing, not read from another series
    assert np.isnan(X[:, names.index("season_delta_7")]).all()
    # nothing after the origin is read: spoil the future and the features do not move
    spoiled = flat.y.copy()
    spoiled[origin + 1 : int(flat.end[0]) + 1] = 1e12
    flat.y = spoiled
    np.testing.assert_array_equal(build_rows(flat, spec, o, h), X)


def test_season_context_is_off_for_models_saved_without_it() -> None:
    """A spec read from an older model.json has no ``season_context``: its features stay the
    ones its boosters were trained on."""
    old = _spec(False)
    assert not any(n.startswith(("season_delta", "season_smooth")) for n in old.names())
    flat = flatten(make_series(n_series=1, days=2.0), old)
    X = build_rows(flat, old, np.array([SEASON + 5]), np.array([3]))
    assert X.shape == (1, len(old.names()))


def test_sliced_training_gives_the_trees_lgb_train_gives() -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5))
    y = X[:, 0] + rng.standard_t(3, size=3000)
    params = {
        "objective": "quantile",
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "num_threads": 1,
        "seed": 0,
        "verbose": -1,
    }
    data = lgb.Dataset(X, label=y, free_raw_data=False, params={"verbose": -1})
    data.construct()
    quantiles = (0.1, 0.5, 0.9)
    ours = _train_parallel(lgb, params, data, quantiles, 35, 2)  # 35: a partial last slice
    for q, booster in zip(quantiles, ours, strict=True):
        plain = lgb.train({**params, "alpha": q}, data, num_boost_round=35)
        assert booster.num_trees() == 35
        np.testing.assert_array_equal(booster.predict(X), plain.predict(X))
    assert (ours[0].predict(X) < ours[2].predict(X)).mean() > 0.9

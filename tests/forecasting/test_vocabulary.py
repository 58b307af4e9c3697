"""The forecasting package speaks the reconciler's vocabulary without importing the reconciler."""

import subprocess
import sys

from forecasting.demand import DEMAND_SOURCES, NETWORK_GBPS
from forecasting.run import FORECAST_SCHEMA, LOOKAHEAD_COLUMN
from reconciler.planning.models import PlanMetric
from reconciler.steps import types


def test_demand_metrics_are_the_planners_metrics() -> None:
    assert list(DEMAND_SOURCES) == [str(m) for m in PlanMetric]
    assert NETWORK_GBPS == PlanMetric.NETWORK_GBPS


def test_forecast_rows_are_what_the_step_reads() -> None:
    assert LOOKAHEAD_COLUMN == types.LOOKAHEAD_COLUMN
    assert list(FORECAST_SCHEMA) == [*types.FORECAST_COLUMNS, types.LOOKAHEAD_COLUMN]


def test_the_cycle_forecast_modules_do_not_import_the_reconciler() -> None:
    code = (
        "import sys, forecasting.cache, forecasting.demand, forecasting.grid, "
        "forecasting.run, forecasting.serve; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'reconciler'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

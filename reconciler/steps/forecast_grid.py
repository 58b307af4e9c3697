"""Moved: the grid is ``forecasting.grid``, the model cache ``forecasting.cache``.

``ModelCache`` is re-exported here only because ``reconciler.runner_cli`` imports it from here.
"""

from __future__ import annotations

from forecasting.cache import ModelCache

__all__ = ["ModelCache"]

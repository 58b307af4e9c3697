"""Instance size names and their order, shared by the policy checks and the planner."""

from __future__ import annotations

import math
import re

__all__ = ["size_rank"]


#: Named sizes below ``xlarge``, smallest first; ``<n>xlarge`` ranks by n above them.
_NAMED_SIZES = ("nano", "micro", "small", "medium", "large")
_XLARGE = re.compile(r"^(\d*)xlarge$")
_METAL = re.compile(r"^metal(?:-(\d+)xl)?$")


def size_rank(size: str) -> float | None:
    """Order of an instance size: nano < ... < large < xlarge < 2xlarge < ... < metal.

    ``metal-<n>xl`` ranks just above ``<n>xlarge``; plain ``metal`` above every other size.
    None for a size outside this naming scheme.
    """
    size = size.lower()
    if size in _NAMED_SIZES:
        return float(_NAMED_SIZES.index(size))
    if m := _XLARGE.match(size):
        return len(_NAMED_SIZES) - 1 + float(m.group(1) or 1)
    if m := _METAL.match(size):
        return math.inf if m.group(1) is None else len(_NAMED_SIZES) - 1 + float(m.group(1)) + 0.5
    return None

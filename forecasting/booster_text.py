"""A structural check of a LightGBM text model before LightGBM's native parser reads it.

LightGBM 4 parses the trees of a model string in parallel at the offsets its ``tree_sizes``
header gives and calls ``Log::Fatal`` inside that OpenMP region when a block is not a tree or
an array has the wrong length: the process aborts or segfaults instead of raising (a model
file truncated anywhere in its trees did so every time). The checksum manifest
(``forecasting.manifest``) refuses such files first; this check is the second line, for a file
whose checksum was recomputed after the damage: it requires what the native parser assumes
(the header keys, one ``Tree=i`` block at each offset, every array of the length ``num_leaves``
implies, child and feature indices in range) and the feature names the metadata expects.

Residual risk, stated precisely: a file crafted to pass both checks (right digest, consistent
structure, in-range indices) with values LightGBM still mishandles, e.g. categorical split
bitsets (``cat_threshold``) that point past their array, could still crash the native code;
our forecaster trains no categorical splits, so a model with any is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from forecasting.manifest import ModelLoadError

__all__ = ["check_booster_text"]

_HEADER = ("version", "num_class", "num_tree_per_iteration", "max_feature_idx", "feature_names")
_INNER = (
    "split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child",
    "internal_value", "internal_weight", "internal_count",
)  # fmt: skip
_LEAF = ("leaf_value", "leaf_weight", "leaf_count")
_END = "end of trees"


def check_booster_text(text: str, features: Sequence[str], name: str = "booster") -> None:
    """Raise ModelLoadError (``name: reason``) unless ``text`` is a whole LightGBM text model
    over exactly ``features``, as LightGBM's parser expects it."""
    if not text.startswith("tree\n"):
        raise ModelLoadError(f"{name}: not a LightGBM text model (no 'tree' header)")
    start = text.find("\nTree=0\n")
    end = text.find("\n" + _END)
    if start < 0 or end < 0:
        raise ModelLoadError(f"{name}: no trees or no {_END!r} (truncated?)")
    header = _pairs(text[:start].splitlines())
    missing = [k for k in (*_HEADER, "tree_sizes") if k not in header]
    if missing:
        raise ModelLoadError(f"{name}: LightGBM header lacks {', '.join(missing)}")
    names = header["feature_names"].split(" ")
    if names != list(features):
        raise ModelLoadError(
            f"{name}: model has {len(names)} features, the metadata {len(features)} "
            "(another model's file?)"
            if len(names) != len(features)
            else f"{name}: feature names differ from the metadata"
        )
    if _int(header["max_feature_idx"], name) != len(names) - 1:
        raise ModelLoadError(f"{name}: max_feature_idx does not match the feature names")
    if header["num_class"] != "1" or header["num_tree_per_iteration"] != "1":
        raise ModelLoadError(f"{name}: not a single-output model")
    sizes = [_int(s, name) for s in header["tree_sizes"].split()]
    pos = start + 1
    for i, size in enumerate(sizes):
        block = text[pos : pos + size]
        if size <= 0 or len(block) < size or not block.startswith(f"Tree={i}\n"):
            raise ModelLoadError(f"{name}: tree {i} is not where tree_sizes puts it (truncated?)")
        _check_tree(block, len(names), f"{name}: tree {i}")
        pos += size
    if not text.startswith(_END, pos):
        raise ModelLoadError(f"{name}: {_END!r} not after the last tree (truncated?)")


def _check_tree(block: str, n_features: int, where: str) -> None:
    tree = _pairs(block.splitlines()[1:])
    leaves = _int(tree.get("num_leaves", ""), where)
    if leaves < 1 or "leaf_value" not in tree or tree.get("num_cat") != "0":
        raise ModelLoadError(f"{where}: needs num_leaves >= 1, leaf_value and num_cat=0")
    if tree.get("is_linear", "0") != "0":
        raise ModelLoadError(f"{where}: linear trees are not produced by this forecaster")
    arrays = {k: tree[k].split() for k in (*_INNER, *_LEAF) if k in tree}
    for key, values in arrays.items():
        want = leaves if key in _LEAF else leaves - 1
        if len(values) != want:
            raise ModelLoadError(f"{where}: {key} has {len(values)} values, expected {want}")
    if leaves == 1:
        return
    for key in ("split_feature", "threshold", "decision_type", "left_child", "right_child"):
        if key not in arrays:
            raise ModelLoadError(f"{where}: missing {key}")
    ranges = {
        "split_feature": (0, n_features - 1),
        "left_child": (-leaves, leaves - 2),
        "right_child": (-leaves, leaves - 2),
        "decision_type": (0, 15),
    }
    for key, (low, high) in ranges.items():
        if any(not low <= _int(v, where) <= high for v in arrays[key]):
            raise ModelLoadError(f"{where}: {key} has a value outside {low}..{high}")


def _pairs(lines: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key, value)
    return out


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ModelLoadError(f"{where}: {value[:40]!r} is not an integer") from None

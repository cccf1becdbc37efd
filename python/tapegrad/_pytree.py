"""Pytrees for tapegrad.func and its vmap: a tensor, or a tuple, list, namedtuple or dict of
pytrees, flattened to leaves in order and a spec that rebuilds the same structure. Anything else
(numbers, None, strings) is a leaf and passes through the transforms untouched."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves in order and a spec that :func:`_unflatten` turns back into the same structure."""
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        specs: list[Any] = []
        for t in tree:
            lv, sp = _flatten(t)
            leaves += lv
            specs.append((len(lv), sp))
        kind = type(tree) if hasattr(tree, "_fields") else (tuple if isinstance(tree, tuple)
                                                            else list)
        return leaves, (kind, specs)
    if isinstance(tree, dict):
        leaves = []
        specs = []
        for k, v in tree.items():
            lv, sp = _flatten(v)
            leaves += lv
            specs.append((k, len(lv), sp))
        return leaves, (dict, specs)
    return [tree], None


def _unflatten(leaves: Sequence[Any], spec: Any) -> Any:
    if spec is None:
        return leaves[0]
    kind, specs = spec
    if kind is dict:
        out, i = {}, 0
        for k, n, sp in specs:
            out[k] = _unflatten(leaves[i:i + n], sp)
            i += n
        return out
    items, i = [], 0
    for n, sp in specs:
        items.append(_unflatten(leaves[i:i + n], sp))
        i += n
    if kind in (tuple, list):
        return kind(items)
    return kind(*items)  # a namedtuple

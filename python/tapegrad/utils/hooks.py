"""``RemovableHandle`` (``torch.utils.hooks``): what registering a hook returns.

>>> import tapegrad as tg
>>> x = tg.ones(2, requires_grad=True)
>>> h = x.register_hook(lambda g: g * 3)
>>> (2 * x).sum().backward(); x.grad
tensor([6., 6.])
>>> h.remove()
>>> x.grad = None; (2 * x).sum().backward(); x.grad
tensor([2., 2.])
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["RemovableHandle"]

_ids = itertools.count()


class RemovableHandle:
    """Removes one hook with ``remove()`` (also as a context manager's exit). The handle does
    not keep the tensor or module it was registered on alive."""

    def __init__(self, hooks_dict: Any = None, *, extra_dicts: Any = (),
                 remove_fn: Callable[[], None] | None = None) -> None:
        self.id = next(_ids)
        self._refs = [weakref.ref(d) for d in ((hooks_dict,) if hooks_dict is not None else ())]
        self._refs += [weakref.ref(d) for d in extra_dicts]
        self._remove_fn = remove_fn

    def remove(self) -> None:
        for ref in self._refs:
            d = ref()
            if d is not None:
                d.pop(self.id, None)
        if self._remove_fn is not None:
            self._remove_fn()
            self._remove_fn = None

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

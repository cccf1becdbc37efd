"""``LazyModuleMixin``: modules whose parameters take their shapes from the first input
(``torch.nn.modules.lazy``)."""

from __future__ import annotations

from typing import Any

from ... import _capture, _core
from ..parameter import is_lazy

__all__ = ["LazyModuleMixin"]


class LazyModuleMixin:
    """Mixed in before a layer class: the first call runs ``initialize_parameters(*args)``,
    which materialises the parameters (``UninitializedParameter``) from the input's shape and
    initialises them as the layer would; the module then becomes ``cls_to_become`` (its
    ``__class__`` is switched, as PyTorch does), so later calls cost nothing extra.
    Parameters keep their identity, so an optimizer built before the first call works. The
    first call cannot be captured by ``tapegrad.compile`` (it creates the parameters): run
    one eager step first.

    >>> import tapegrad as tg
    >>> layer = tg.nn.LazyLinear(4)
    >>> isinstance(layer, LazyModuleMixin), layer.has_uninitialized_params()
    (True, True)
    >>> _ = layer(tg.ones(1, 3)); isinstance(layer, LazyModuleMixin), layer.weight.shape
    (False, tapegrad.Size([4, 3]))
    """

    cls_to_become: type | None = None

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module is still uninitialised."""
        return any(is_lazy(t) for d in (self._parameters, self._buffers)  # type: ignore[attr-defined]
                   for t in d.values())

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define initialize_parameters")

    def _infer_parameters(self, args: tuple, kwargs: dict) -> None:
        if _capture.ACTIVE:
            _core._capture_refuse(f"{type(self).__name__}'s first call creates its parameters")
        from .module import _structure_changed

        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {type(self).__name__} has not been fully initialized")
        _structure_changed()
        object.__setattr__(self, "_lazy_done", True)
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        become = self.cls_to_become
        if not self.__dict__.get("_lazy_done"):
            self._infer_parameters(args, kwargs)
        if become is not None:  # this module is a `become` now
            return become.__call__(self, *args, **kwargs)
        return super().__call__(*args, **kwargs)  # type: ignore[misc]

"""Parameters to one flat vector and back (``torch.nn.utils.convert_parameters``)."""

from __future__ import annotations

from collections.abc import Iterable

from ... import _core
from ...autograd import no_grad

Tensor = _core.Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the flattened parameters into one 1-D tensor (differentiable).

    >>> import tapegrad as tg
    >>> lin = tg.nn.Linear(3, 2)
    >>> tg.nn.utils.parameters_to_vector(lin.parameters()).shape
    tapegrad.Size([8])
    """
    return _core.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no history).

    >>> import tapegrad as tg
    >>> lin = tg.nn.Linear(2, 1)
    >>> tg.nn.utils.vector_to_parameters(tg.tensor([1.0, 2.0, 3.0]), lin.parameters())
    >>> lin.weight.tolist(), lin.bias.tolist()
    ([[1.0, 2.0]], [3.0])
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    need = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != need:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {need} elements for "
                         f"parameters of shapes {[list(p.shape) for p in params]}, got shape "
                         f"{list(vec.shape)}")
    at = 0
    with no_grad():
        for p in params:
            n = p.numel()
            src = vec[at:at + n].reshape(tuple(p.shape))
            p.copy_(src if src.dtype == p.dtype else src.to(p.dtype))
            at += n

"""Elementwise activation layers."""

from __future__ import annotations

from ... import _core
from .. import functional
from .module import Module

Tensor = _core.Tensor

__all__ = ["ReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid",
           "Hardtanh"]


# inplace=True: the layer writes its result into its input (F.relu_ and the others), as
# torch.nn's layers of that argument. A class attribute too, so a layer pickled before the
# argument existed loads as out-of-place.
def _inplace_repr(inplace: bool, rest: str = "") -> str:
    if not inplace:
        return rest
    return f"{rest}, inplace=True" if rest else "inplace=True"


class ReLU(Module):
    """max(x, 0) elementwise; ``inplace=True`` writes it into the input.

    >>> import tapegrad as tg
    >>> tg.nn.ReLU()(tg.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
    >>> tg.nn.ReLU(inplace=True)
    ReLU(inplace=True)
    """

    inplace = False

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if self.inplace:
            return functional.relu_(input)
        # The core op directly, not F.relu: one Python call less in every training step.
        return _core.relu(input)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.Sigmoid()(tg.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.sigmoid(input)


class Tanh(Module):
    """tanh(x) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.Tanh()(tg.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.tanh(input)


class GELU(Module):
    """x·Φ(x) elementwise (``approximate='tanh'`` for the tanh form), as ``torch.nn.GELU``.

    >>> import tapegrad as tg
    >>> tg.nn.GELU()
    GELU(approximate='none')
    >>> [round(v, 4) for v in tg.nn.GELU()(tg.tensor([1.0])).tolist()]
    [0.8413]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x·σ(x) elementwise; ``inplace=True`` writes it into the input.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in tg.nn.SiLU()(tg.tensor([1.0])).tolist()]
    [0.7311]
    """

    inplace = False

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope·x.

    >>> import tapegrad as tg
    >>> tg.nn.LeakyReLU()
    LeakyReLU(negative_slope=0.01)
    >>> tg.nn.LeakyReLU(0.5)(tg.tensor([-2.0, 2.0])).tolist()
    [-1.0, 2.0]
    """

    inplace = False

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"negative_slope={self.negative_slope}")


class ELU(Module):
    """x where x > 0, else alpha·(eˣ − 1).

    >>> import tapegrad as tg
    >>> tg.nn.ELU(inplace=True)
    ELU(alpha=1.0, inplace=True)
    >>> [round(v, 4) for v in tg.nn.ELU()(tg.tensor([-1.0, 2.0])).tolist()]
    [-0.6321, 2.0]
    """

    inplace = False

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"alpha={self.alpha}")


class Softplus(Module):
    """log(1 + e^(β·x))/β, linear where β·x > threshold.

    >>> import tapegrad as tg
    >>> tg.nn.Softplus()
    Softplus(beta=1.0, threshold=20.0)
    >>> [round(v, 4) for v in tg.nn.Softplus()(tg.tensor([0.0])).tolist()]
    [0.6931]
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Module):
    """``log σ(x)`` elementwise, stable for large ``|x|``.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in tg.nn.LogSigmoid()(tg.tensor([0.0])).tolist()]
    [-0.6931]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.logsigmoid(input)


class Hardtanh(Module):
    """x clamped to [min_val, max_val].

    >>> import tapegrad as tg
    >>> tg.nn.Hardtanh()
    Hardtanh(min_val=-1.0, max_val=1.0)
    >>> tg.nn.Hardtanh()(tg.tensor([-2.0, 0.5])).tolist()
    [-1.0, 0.5]
    """

    inplace = False

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if not all(isinstance(v, (int, float)) for v in (min_val, max_val)):
            raise TypeError("Hardtanh: min_val and max_val must be numbers, got "
                            f"{type(min_val).__name__} and {type(max_val).__name__}")
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than "
                             f"max_val ({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"min_val={self.min_val}, max_val={self.max_val}")


# ----- the softmax family as modules (dim=None: PyTorch's legacy implicit dim, with its
# warning) -----
class _SoftmaxBase(Module):
    _name = "softmax"

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def _dim(self, input: Tensor) -> int:  # noqa: A002
        if self.dim is not None:
            return self.dim
        return functional._softmax_dim(self._name, input.dim(), 5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / Σ exp(x) along ``dim`` (``torch.nn.Softmax``).

    >>> import tapegrad as tg
    >>> tg.nn.Softmax(dim=1)
    Softmax(dim=1)
    >>> tg.nn.Softmax(dim=1)(tg.tensor([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _core.softmax(input, self._dim(input))


class LogSoftmax(_SoftmaxBase):
    """x − logsumexp(x) along ``dim`` (``torch.nn.LogSoftmax``).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in tg.nn.LogSoftmax(dim=0)(tg.tensor([0.0, 0.0])).tolist()]
    [-0.6931, -0.6931]
    """

    _name = "log_softmax"

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _core.log_softmax(input, self._dim(input))


class Softmin(_SoftmaxBase):
    """softmax(−x) along ``dim`` (``torch.nn.Softmin``).

    >>> import tapegrad as tg
    >>> tg.nn.Softmin(dim=0)(tg.tensor([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """

    _name = "softmin"

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _core.softmax(-input, self._dim(input))


__all__ += ["Softmax", "LogSoftmax", "Softmin"]

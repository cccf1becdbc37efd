"""Neural-network building blocks shaped like ``torch.nn``.

>>> import tapegrad as tg
>>> tg.manual_seed(0)  # doctest: +ELLIPSIS
<tapegrad.Generator seed=0>
>>> net = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 3))
>>> net(tg.randn(2, 4)).shape
tapegrad.Size([2, 3])
>>> net[0].weight.shape
tapegrad.Size([8, 4])
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .. import _core
from ..autograd import no_grad
from . import functional, init

Tensor = _core.Tensor

__all__ = ["Module", "Parameter", "Linear", "Sequential", "Flatten", "Identity", "ReLU",
           "Sigmoid", "Tanh", "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "functional",
           "init"]


# ----- Parameter ----------------------------------------------------------------------------
# Note [Parameter is a marked Tensor]
# Tensor is a pybind11 class without a Python-callable constructor, so a Python subclass cannot
# be given the C++ tensor it should wrap. A Parameter is therefore a plain leaf ``Tensor`` whose
# C++ TensorImpl carries a flag, ``is_parameter`` (``_is_parameter`` in Python), set by
# ``Parameter(...)``; ``isinstance(t, Parameter)`` reads that flag through the metaclass.
# Everything that works on a Tensor works on a Parameter, and ``isinstance(p, tg.Tensor)`` holds.
# The flag lives and dies with the tensor itself, so there is no registry to keep in step: a
# tensor that reuses a dead Parameter's ``id()`` is not a Parameter, and a Parameter is one
# whatever else the garbage collector has taken. As in PyTorch only the Parameter object itself
# is one: ``detach()``, ``clone()``, views and op results are fresh TensorImpls without the flag
# (so ``state_dict()``, which detaches, holds plain tensors).


def _is_parameter(obj: Any) -> bool:
    return isinstance(obj, Tensor) and obj._is_parameter


class _ParameterMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return _is_parameter(obj)


class Parameter(metaclass=_ParameterMeta):
    """A leaf tensor that a :class:`Module` registers as trainable (``torch.nn.Parameter``).

    ``Parameter(data)`` returns a ``tapegrad.Tensor`` that shares ``data``'s storage, is a leaf
    and requires grad (unless ``requires_grad=False``).

    >>> import tapegrad as tg
    >>> p = tg.nn.Parameter(tg.zeros(2))
    >>> isinstance(p, tg.Tensor), isinstance(p, tg.nn.Parameter), p.is_leaf, p.requires_grad
    (True, True, True, True)
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = _core.empty(0)
        elif not isinstance(data, Tensor):
            data = _core.tensor(data)
        t = data.detach()
        if requires_grad:
            if not t.is_floating_point():
                raise RuntimeError(
                    f"Parameter: only floating point tensors can require gradients (got {t.dtype})")
            t.requires_grad_(True)
        t._is_parameter = True
        return t


# ----- Module -------------------------------------------------------------------------------
class Module:
    """Base class of layers and models (``torch.nn.Module``).

    Assigning a :class:`Parameter` or a ``Module`` to an attribute registers it; ``parameters()``
    walks the tree; ``model(x)`` calls ``forward(x)``.

    >>> import tapegrad as tg
    >>> class Line(tg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.m = tg.nn.Parameter(tg.tensor([0.9]))
    ...         self.b = tg.nn.Parameter(tg.tensor([0.1]))
    ...     def forward(self, x):
    ...         return self.m * x + self.b
    >>> [name for name, _ in Line().named_parameters()]
    ['m', 'b']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    # -- registration --
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if _is_parameter(value):
            self._remove_attr(name)
            params[name] = value
        elif isinstance(value, Module):
            self._remove_attr(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as parameter {name!r} "
                                "(tapegrad.nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as child module "
                                f"{name!r} (tapegrad.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__!r} as buffer {name!r} "
                                "(tapegrad.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_attr(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(key, {}):
                del self.__dict__[key][name]
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """Register ``param`` (a Parameter, or None) under ``name``."""
        if param is not None and not _is_parameter(param):
            raise TypeError(f"cannot assign {type(param).__name__!r} object to parameter "
                            f"{name!r} (tapegrad.nn.Parameter or None required)")
        self._remove_attr(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Register a non-trainable tensor saved in ``state_dict`` (e.g. running statistics)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__!r} object to buffer {name!r} "
                            "(tapegrad.Tensor or None required)")
        self._remove_attr(name)
        self._buffers[name] = tensor

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._remove_attr(name)
        self._modules[name] = module

    # -- calling --
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- traversal --
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module and every descendant (each once)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for the direct children."""
        for k, m in self._modules.items():
            if m is not None:
                yield k, m

    def children(self) -> Iterator[Module]:
        """Yield the direct children."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for k, t in getattr(mod, attr).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_name}.{k}" if mod_name else k), t

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, parameter)``, each parameter once.

        >>> import tapegrad as tg
        >>> [n for n, _ in tg.nn.Sequential(tg.nn.Linear(2, 1)).named_parameters()]
        ['0.weight', '0.bias']
        """
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield the parameters (what an optimizer takes).

        >>> import tapegrad as tg
        >>> sum(p.numel() for p in tg.nn.Linear(3, 2).parameters())
        8
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, buffer)``."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield the buffers."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every descendant, then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and grads --
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its descendants; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to None (default, like PyTorch) or to zeros (one
        C++ call over all of them)."""
        _core._zero_grad(list(self.parameters()), set_to_none)

    # -- state --
    def state_dict(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Name → tensor (detached, sharing storage) for every parameter and buffer.

        >>> import tapegrad as tg
        >>> list(tg.nn.Linear(2, 1).state_dict())
        ['weight', 'bias']
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for mod_name, mod in self.named_modules(prefix.rstrip(".")):
            for attr in ("_parameters", "_buffers"):
                for k, t in getattr(mod, attr).items():
                    if t is not None:
                        out[f"{mod_name}.{k}" if mod_name else k] = t.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy tensors (or arrays) from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (default) missing or unexpected keys raise ``RuntimeError``; a shape
        mismatch always raises. Returns ``(missing_keys, unexpected_keys)``.

        >>> import tapegrad as tg
        >>> a, b = tg.nn.Linear(2, 1), tg.nn.Linear(2, 1)
        >>> b.load_state_dict(a.state_dict())
        ([], [])
        >>> a.weight.tolist() == b.weight.tolist()
        True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError("Expected state_dict to be dict-like, got "
                            f"{type(state_dict).__name__}.")
        own = self.state_dict()
        targets: dict[str, Tensor] = {}
        for mod_name, mod in self.named_modules():
            for attr in ("_parameters", "_buffers"):
                for k, t in getattr(mod, attr).items():
                    if t is not None:
                        targets[f"{mod_name}.{k}" if mod_name else k] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        sources: dict[str, Tensor] = {}
        for k, dst in targets.items():
            if k not in state_dict:
                continue
            src = state_dict[k]
            if not isinstance(src, Tensor):
                try:
                    src = _core.tensor(np.asarray(src))
                except Exception as exc:  # noqa: BLE001 - re-raised with the key's name
                    errors.append(f"could not convert {k!r} ({type(src).__name__}) to a tensor: "
                                  f"{exc}")
                    continue
            if tuple(src.shape) != tuple(dst.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape "
                              f"{list(src.shape)} from checkpoint, the shape in current model "
                              f"is {list(dst.shape)}.")
                continue
            sources[k] = src
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for k, src in sources.items():
                dst = targets[k]
                dst.copy_(src if src.dtype == dst.dtype else src.to(dst.dtype))
        return missing, unexpected

    # -- printing --
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for k, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({k}): {child}")
        if not self._modules:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


# ----- layers -------------------------------------------------------------------------------
class Linear(Module):
    """y = x·Wᵀ + b with weight (out_features, in_features), PyTorch's default init:
    W, b ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5).

    >>> import tapegrad as tg
    >>> layer = tg.nn.Linear(3, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer(tg.ones(5, 3)).shape
    tapegrad.Size([5, 2])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: in_features and out_features must be non-negative, got "
                             f"({in_features}, {out_features})")
        self.in_features = in_features
        self.out_features = out_features
        dtype = dtype or _core.dtype.float32
        self.weight = Parameter(_core.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(_core.empty((out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        # The registry is read directly: `self.weight` would first fail the instance lookup
        # (CPython formats an AttributeError message) before Module.__getattr__ finds it,
        # which cost more than the whole GEMM of a small layer. A weight replaced by a plain
        # attribute (not a registered Parameter) is still found through getattr.
        p = self._parameters
        weight = p["weight"] if "weight" in p else self.weight
        bias = p["bias"] if "bias" in p else self.bias
        try:
            return _core.linear(input, weight, bias)
        except ValueError as e:  # name the layer, not the GEMM inside it
            if isinstance(input, Tensor) and (input.ndim == 0
                                              or input.shape[-1] != self.in_features):
                raise ValueError(
                    f"Linear(in_features={self.in_features}, out_features="
                    f"{self.out_features}): expected input whose last dimension is "
                    f"{self.in_features}, got shape {list(input.shape)}") from e
            raise

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied in order; indexable (``net[0].weight``), sliceable, iterable.

    >>> import tapegrad as tg
    >>> net = tg.nn.Sequential(tg.nn.Flatten(), tg.nn.Linear(4, 2))
    >>> print(net)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=4, out_features=2, bias=True)
    )
    >>> net(tg.ones(3, 2, 2)).shape
    tapegrad.Size([3, 2])
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for k, m in args[0].items():
                self.add_module(str(k), m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _index(self, idx: int) -> int:
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for Sequential of length {n}")
        return idx % n

    def __getitem__(self, idx: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[self._index(idx)][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input: Any) -> Any:  # noqa: A002
        for m in self._modules.values():
            input = m(input)
        return input


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (default: all but the batch dim).

    >>> import tapegrad as tg
    >>> tg.nn.Flatten()(tg.zeros(2, 8, 8)).shape
    tapegrad.Size([2, 64])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return input


class ReLU(Module):
    """max(x, 0) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.ReLU()(tg.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _core.relu(input)


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


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        functional._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (``reduction`` 'mean' | 'sum' | 'none').

    >>> import tapegrad as tg
    >>> tg.nn.MSELoss()(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item()
    2.5
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against int64 class indices (N,).

    >>> import tapegrad as tg
    >>> round(tg.nn.CrossEntropyLoss()(tg.zeros(1, 4), tg.tensor([2])).item(), 4)
    1.3863
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (stable).

    >>> import tapegrad as tg
    >>> round(tg.nn.BCEWithLogitsLoss()(tg.zeros(2), tg.ones(2)).item(), 4)
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.binary_cross_entropy_with_logits(input, target, self.reduction)

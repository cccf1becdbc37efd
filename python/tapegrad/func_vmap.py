"""``tapegrad.func.vmap``: batched tensors and their batch rules.

Note [vmap batch rules]
Inside ``vmap(f)``, ``f`` sees each batched input as a :class:`BatchedTensor`: a wrapper around
a tensor (the *value*) whose dim 0 is the batch and whose remaining dims are what ``f`` sees
(the *logical* shape). Every op on a batched tensor goes to that op's batch rule, which calls
the ordinary tapegrad op once on the values with the batch dim kept in front (``x.sum(1)`` on
logical dims becomes ``value.sum(2)``; an unbatched operand of a binary op broadcasts against
the batch because NumPy aligns shapes from the right). The rules are written with tapegrad ops,
so they record on the tape and ``grad`` inside ``vmap`` gives per-sample gradients.

Nesting: each ``vmap`` call gets a *level* (increasing); a batched tensor's value may itself be
a batched tensor of a lower level. A rule runs for the highest level among its operands and
calls ops on the values, which dispatch again for the lower levels. The *physical* tensor
under all wrappers has one batch dim per level, lowest level first.

Dispatch: methods and operators of :class:`BatchedTensor` go to the rules directly. The op
functions (``tg.exp``, ``tg.nn.functional.mse_loss`` through ``_core``) and the ``Tensor``
methods taking a tensor argument are C++ callables that know nothing of batched tensors, so
while a ``vmap`` is running they are replaced, in ``tapegrad``, ``tapegrad._core``,
``tapegrad._core._nn`` and on ``Tensor``, by wrappers that send calls with a batched operand to
the rules (and everything else to the original, unchanged); the originals come back when the
outermost ``vmap`` returns. The wrappers are built from the op table (``_core._op_table()``), so
an op added to the table later is caught too: without a rule in :data:`BATCH_RULES` it raises
``RuntimeError("vmap: no batch rule for '<op>'")`` — never a silently wrong answer. Random ops
follow ``randomness`` ('error' raises, 'same' draws once for the batch, 'different' draws per
sample).

>>> import tapegrad as tg
>>> from tapegrad.func import vmap
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> vmap(lambda r: (r * r).sum())(x).tolist()             # per-row sum of squares
[5.0, 25.0]
>>> vmap(lambda r, w: r @ w, in_dims=(0, None))(x, tg.tensor([1.0, -1.0])).tolist()
[-1.0, -1.0]
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core, _inplace
from ._pytree import _flatten, _unflatten
from ._tensor import Size

Tensor = _core.Tensor

__all__ = ["BATCH_RULES", "BatchedTensor", "vmap"]


# ----- levels ----------------------------------------------------------------------------------
_level_ids = itertools.count(1)
_tls = threading.local()


def _stack_levels() -> list[tuple[int, int, str]]:
    s = getattr(_tls, "levels", None)
    if s is None:
        s = _tls.levels = []
    return s


def _active_levels() -> list[int]:
    """The levels of the ``vmap`` calls running on this thread, outermost first."""
    return [lv for lv, _, _ in _stack_levels()]


def _level_size(level: int) -> int:
    for lv, n, _ in _stack_levels():
        if lv == level:
            return n
    raise RuntimeError("vmap: a batched tensor escaped the vmap that created it")


class BatchedTensor:
    """What a function under :func:`vmap` sees for a batched input: a tensor of the logical
    (per-sample) shape whose ops run on the whole batch at once (Note [vmap batch rules]).

    >>> import tapegrad as tg
    >>> from tapegrad.func import vmap
    >>> seen = []
    >>> vmap(lambda r: seen.append((type(r).__name__, r.shape)) or r * 2)(tg.ones(3, 2))
    tensor([[2., 2.],
            [2., 2.],
            [2., 2.]])
    >>> seen
    [('BatchedTensor', tapegrad.Size([2]))]
    """

    __slots__ = ("_level", "_value")
    __array_priority__ = 2000  # NumPy defers to our reflected operators

    def __init__(self, value: Any, level: int) -> None:
        self._value = value
        self._level = level

    # -- metadata (logical) --
    @property
    def shape(self) -> Size:
        return Size(tuple(self._value.shape)[1:])

    @property
    def ndim(self) -> int:
        return len(self._value.shape) - 1

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield _dispatch("getitem", (self, i), {})

    @property
    def dtype(self) -> Any:
        return self._value.dtype

    @property
    def requires_grad(self) -> bool:
        return bool(self._value.requires_grad)

    @property
    def is_leaf(self) -> bool:
        return bool(self._value.is_leaf)

    @property
    def grad_fn(self) -> Any:
        return self._value.grad_fn

    def is_floating_point(self) -> bool:
        return bool(self._value.is_floating_point())

    def element_size(self) -> int:
        return int(self.dtype.itemsize)

    @property
    def T(self) -> BatchedTensor:
        return _dispatch("permute", (self, *range(self.ndim - 1, -1, -1)), {})

    def requires_grad_(self, requires_grad: bool = True) -> BatchedTensor:
        raise RuntimeError("vmap: requires_grad_() on a batched tensor; use tapegrad.func.grad "
                           "inside vmap instead")

    def __repr__(self) -> str:
        return f"BatchedTensor(level={self._level}, bdim=0, value={self._value!r})"

    # -- data-dependent Python values cannot be batched --
    def _no_data(self, what: str) -> Any:
        raise RuntimeError(f"vmap: {what} on a batched tensor (shape {list(self.shape)}) would "
                           "need one value per sample; compute it outside vmap or keep it a "
                           "tensor")

    def __array__(self, *a: Any, **k: Any) -> Any:
        return self._no_data("conversion to a NumPy array")

    def __bool__(self) -> bool:
        return bool(self._no_data("bool()"))

    def __float__(self) -> float:
        return float(self._no_data("float()"))

    def __int__(self) -> int:
        return int(self._no_data("int()"))

    def __index__(self) -> int:
        return int(self._no_data("use as a Python index"))

    def __hash__(self) -> int:
        return id(self)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define: a Tensor method without a rule.
        # The data-dependent ones raise AttributeError, so that C++ argument conversion (which
        # asks for ``item`` to recognise NumPy scalars) passes a batched tensor by.
        if name in ("item", "tolist", "numpy"):
            raise AttributeError(f"vmap: {name}() on a batched tensor would need one value per "
                                 "sample; compute it outside vmap or keep it a tensor")
        if not name.startswith("_") and hasattr(Tensor, name):
            if not callable(getattr(Tensor, name)):
                raise _no_rule(f"Tensor.{name}")

            def missing(*a: Any, **k: Any) -> Any:
                raise _no_rule(f"Tensor.{name}")
            return missing
        raise AttributeError(f"'BatchedTensor' object has no attribute {name!r}")


def _no_rule(op: str, why: str = "") -> RuntimeError:
    return RuntimeError(f"vmap: no batch rule for '{op}'{' (' + why + ')' if why else ''}; "
                        "compute it outside vmap, or loop over the batch")


# Methods and operators: one line each, all through the rule table.
def _method(name: str) -> Callable[..., Any]:
    def m(self: BatchedTensor, *args: Any, **kwargs: Any) -> Any:
        return _dispatch(name, (self, *args), kwargs)

    m.__name__ = name
    return m


def _rmethod(name: str) -> Callable[..., Any]:
    def m(self: BatchedTensor, other: Any) -> Any:
        return _dispatch(name, (other, self), {})

    return m


_METHOD_NAMES = [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "neg", "exp", "log", "log1p", "erf",
    "sqrt", "abs", "relu", "sigmoid", "tanh", "sin", "cos", "clamp", "clone", "sum", "mean",
    "amax", "amin", "max", "min", "logsumexp", "softmax", "log_softmax", "argmax", "argmin",
    "all", "any", "sign", "isnan", "isinf", "logical_not", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_xor", "matmul", "mm", "bmm", "reshape", "view",
    "view_as", "reshape_as", "expand", "expand_as", "flatten", "transpose", "permute", "t",
    "squeeze", "unsqueeze", "detach", "to", "float", "double", "long", "add_", "sub_", "mul_",
    "div_", "zero_", "fill_", "copy_", "contiguous",
    "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor",  # integers are exact
]
for _n in _METHOD_NAMES:
    setattr(BatchedTensor, _n, _method(_n))
for _d, _n in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow"),
               ("matmul", "matmul"), ("and", "bitwise_and"), ("or", "bitwise_or"),
               ("xor", "bitwise_xor")]:
    setattr(BatchedTensor, f"__{_d}__", _method(_n))
    setattr(BatchedTensor, f"__r{_d}__", _rmethod(_n))
for _d, _n in [("eq", "eq"), ("ne", "ne"), ("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge"),
               ("getitem", "getitem"), ("setitem", "setitem"), ("neg", "neg"), ("abs", "abs"),
               ("invert", "bitwise_not"), ("iadd", "add_"), ("isub", "sub_"), ("imul", "mul_"),
               ("itruediv", "div_")]:
    setattr(BatchedTensor, f"__{_d}__", _method(_n))


# ----- physical tensors ------------------------------------------------------------------------

def _levels_of(x: Any) -> list[int]:
    """The vmap levels ``x`` is batched at, lowest first ([] for a plain tensor)."""
    out = []
    while isinstance(x, BatchedTensor):
        out.append(x._level)
        x = x._value
    return out[::-1]


def _to_physical(x: Any, levels: list[int]) -> Any:
    """The plain tensor under ``x``, with one leading batch dim per level in ``levels`` (lowest
    first); levels ``x`` is not batched at are added by expanding."""
    own = _levels_of(x)
    p = x
    while isinstance(p, BatchedTensor):
        p = p._value
    if own == list(levels):
        return p
    if not set(own) <= set(levels):
        raise RuntimeError("vmap: internal error: a tensor batched at more levels than expected")
    logical = list(p.shape)[len(own):]
    for pos, lv in enumerate(levels):
        if lv not in own:
            p = p.unsqueeze(pos)
    return p.expand(*[_level_size(lv) for lv in levels], *logical)


def _from_physical(p: Any, levels: list[int]) -> Any:
    for lv in levels:
        p = BatchedTensor(p, lv)
    return p


def _lift(x: Any, level: int) -> Any:
    """``x`` (not batched at ``level``) as a value with the batch of ``level`` in front."""
    n = _level_size(level)
    return x.unsqueeze(0).expand(n, *x.shape)


# ----- dispatch --------------------------------------------------------------------------------

def _iter_args(args: Any, kwargs: dict[str, Any]) -> Any:
    for a in itertools.chain(args, kwargs.values()):
        if isinstance(a, (list, tuple)):
            yield from a
        else:
            yield a


def _has_batched(args: Any, kwargs: dict[str, Any]) -> bool:
    return any(isinstance(a, BatchedTensor) for a in _iter_args(args, kwargs))


def _dispatch(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    level = max(a._level for a in _iter_args(args, kwargs) if isinstance(a, BatchedTensor))
    rule = BATCH_RULES.get(name)
    if rule is None:
        raise _no_rule(name)
    return rule(level, *args, **kwargs)


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Op ``name`` on ``args``: through its batch rule if an operand is batched, else the
    original op (function of _core or _core._nn, or Tensor method)."""
    if _has_batched(args, kwargs):
        return _dispatch(name, args, kwargs)
    fn = _ORIGINALS.get(name) or _ORIG_METHODS.get(name) or _OPERATORS.get(name)
    if fn is None:
        fn = getattr(Tensor, name)
    return fn(*args, **kwargs)


_ORIGINALS: dict[str, Any] = {}
# Ops bound only as operators (their rows are exposed N without a function).
_OPERATORS: dict[str, Any] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge, "logical_and": operator.and_,
    "logical_or": operator.or_, "logical_xor": operator.xor, "bitwise_not": operator.invert,
}
_ORIG_METHODS: dict[str, Any] = {}


def _save_originals() -> None:
    nn: Any = getattr(_core, "_nn")  # noqa: B009 - a pybind11 submodule the stub omits
    for row in _core._op_table():
        name = row["name"]
        if "F" in row["expose"] and hasattr(_core, name):
            _ORIGINALS[name] = getattr(_core, name)
        elif "N" in row["expose"] and hasattr(nn, name):
            _ORIGINALS[name] = getattr(nn, name)
        if "M" in row["expose"] and name in Tensor.__dict__:
            _ORIG_METHODS[name] = Tensor.__dict__[name]
    for name in ("zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like"):
        if hasattr(_core, name):
            _ORIGINALS[name] = getattr(_core, name)


_save_originals()


def _bv(x: Any, level: int) -> tuple[Any, bool]:
    """(value, True) for an operand batched at ``level``; (x, False) otherwise."""
    if isinstance(x, BatchedTensor) and x._level == level:
        return x._value, True
    return x, False


def _wrap(v: Any, level: int) -> BatchedTensor:
    return BatchedTensor(v, level)


def _is_tensor(x: Any) -> bool:
    return isinstance(x, (Tensor, BatchedTensor))


def _norm_dim(d: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: dim {d} out of range for a tensor of {ndim} dims")
    return d % n


def _pad(v: Any, nd: int, r: int) -> Any:
    """Value of a batched operand with logical rank ``nd``, given ``r - nd`` unit dims after
    the batch so that it broadcasts like the logical operand would."""
    if nd >= r:
        return v
    shape = tuple(v.shape)
    return v.reshape(shape[0], *([1] * (r - nd)), *shape[1:])


# ----- rules -----------------------------------------------------------------------------------
BATCH_RULES: dict[str, Callable[..., Any]] = {}
"""op name → rule(level, *args, **kwargs); the ops ``vmap`` can batch."""


def _rule(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for n in names:
            BATCH_RULES[n] = fn
        return fn

    return deco


def _unary_rule(op: str, level: int, x: Any, *args: Any, **kwargs: Any) -> Any:
    # y = f(x) elementwise with non-tensor parameters: f on the whole batch at once.
    if any(_is_tensor(a) for a in _iter_args(args, kwargs)):
        raise _no_rule(op, "tensor arguments besides the input")
    v, _ = _bv(x, level)
    return _wrap(_call(op, v, *args, **kwargs), level)


_UNARY = ["neg", "exp", "log", "log1p", "erf", "sqrt", "abs", "relu", "sigmoid", "tanh", "sin",
          "cos", "clamp", "clone", "sign", "isnan", "isinf", "logical_not", "bitwise_not",
          "detach", "to", "float", "double", "long", "contiguous", "gelu", "silu", "leaky_relu",
          "elu", "softplus", "log_sigmoid", "hardtanh"]
for _n in _UNARY:
    BATCH_RULES[_n] = functools.partial(_unary_rule, _n)


def _inplace_unary_rule(op: str, level: int, x: Any, *args: Any, **kwargs: Any) -> Any:
    # x.f_() with non-tensor parameters: the in-place op on the whole batch at once.
    if any(_is_tensor(a) for a in _iter_args(args, kwargs)):
        raise _no_rule(op, "tensor arguments besides the input")
    getattr(_bv(x, level)[0], op)(*args, **kwargs)
    return x


for _n in _UNARY:
    if _n in _inplace.METHODS:
        BATCH_RULES[_n + "_"] = functools.partial(_inplace_unary_rule, _n + "_")
        setattr(BatchedTensor, _n + "_", _method(_n + "_"))


def _as_operand(a: Any) -> Any:
    """Lists and arrays as tensors (their rank decides how the batch is aligned)."""
    if isinstance(a, (list, tuple, np.ndarray)):
        return _core.tensor(a)
    return a


def _elementwise_rule(op: str, level: int, *args: Any, **kwargs: Any) -> Any:
    # Broadcasting ops: batched operands get unit dims after the batch up to the largest logical
    # rank; unbatched ones broadcast against (B, ...) from the right as they would per sample.
    if any(_is_tensor(a) for a in kwargs.values()):
        raise _no_rule(op, "tensor keyword arguments")
    if op == "where" and len(args) != 3:  # where(cond) alone is nonzero: data-dependent shape
        raise _no_rule(op, "where(condition) without the two values")
    args = tuple(_as_operand(a) for a in args)
    r = max((a.ndim for a in args if _is_tensor(a)), default=0)
    new = []
    for a in args:
        v, b = _bv(a, level)
        new.append(_pad(v, a.ndim, r) if b else v)
    return _wrap(_call(op, *new, **kwargs), level)


for _n in ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
           "ge", "logical_and", "logical_or", "logical_xor", "where",
           "bitwise_and", "bitwise_or", "bitwise_xor"]:
    BATCH_RULES[_n] = functools.partial(_elementwise_rule, _n)


def _inplace_rule(op: str, level: int, x: Any, other: Any, **kwargs: Any) -> Any:
    # x op= other on the batch: only a batched x can take a batched right-hand side.
    xv, xb = _bv(x, level)
    ov, ob = _bv(other, level)
    if not xb:
        raise RuntimeError(f"vmap: {op} would write a batched value into an unbatched tensor "
                           f"(shape {list(x.shape)})")
    if ob:
        ov = _pad(ov, other.ndim, x.ndim)
    getattr(xv, op)(ov, **kwargs)  # add_/sub_'s alpha
    return x


for _n in ["add_", "sub_", "mul_", "div_", "copy_"]:
    BATCH_RULES[_n] = functools.partial(_inplace_rule, _n)


def _fill_rule(op: str, level: int, x: Any, *args: Any) -> Any:
    if any(_is_tensor(a) for a in args):
        raise _no_rule(op, "tensor fill value")
    getattr(_bv(x, level)[0], op)(*args)
    return x


BATCH_RULES["zero_"] = functools.partial(_fill_rule, "zero_")


def _copy_data_rule(op: str, level: int, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(f"vmap: tapegrad.{op}() of a batched tensor would copy one sample's data "
                       "at a time; use x.clone() or x.detach() instead")


BATCH_RULES["tensor"] = functools.partial(_copy_data_rule, "tensor")
BATCH_RULES["as_tensor"] = functools.partial(_copy_data_rule, "as_tensor")
# Metadata: the per-sample answer is the same for every sample.
BATCH_RULES["numel"] = lambda level, x: x.numel()
BATCH_RULES["is_floating_point"] = lambda level, x: x.is_floating_point()
BATCH_RULES["fill_"] = functools.partial(_fill_rule, "fill_")


def _like_rule(op: str, level: int, x: Any, *args: Any, **kwargs: Any) -> Any:
    v, _ = _bv(x, level)
    return _wrap(_call(op, v, *args, **kwargs), level)


for _n in ["zeros_like", "ones_like", "full_like", "empty_like"]:
    BATCH_RULES[_n] = functools.partial(_like_rule, _n)


# -- reductions --
def _reduce_args(op: str, x: Any, dim: Any, keepdim: Any, kwargs: dict[str, Any]) -> tuple:
    axis = kwargs.pop("axis", None)
    keepdims = kwargs.pop("keepdims", None)
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)


def _reduction_rule(op: str, level: int, x: Any, dim: Any = None, keepdim: Any = False,
                    **kwargs: Any) -> Any:
    # op over logical dims d is op over value dims d + 1; dim=None reduces every logical dim:
    # the value is flattened to (B, -1) and reduced over dim 1.
    if _is_tensor(dim):
        if op in ("max", "min"):  # max(x, other) is maximum
            return _elementwise_rule("maximum" if op == "max" else "minimum", level, x, dim)
        raise _no_rule(op, "tensor dim")
    dim, keepdim = _reduce_args(op, x, dim, keepdim, kwargs)
    v, _ = _bv(x, level)
    nd = x.ndim
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0 and op != "logsumexp"):
        flat = v.reshape(v.shape[0], -1)
        fop = {"max": "amax", "min": "amin"}.get(op, op)
        out = _call(fop, flat, 1, **kwargs)
        if keepdim:
            out = out.reshape(out.shape[0], *([1] * nd))
        return _wrap(out, level)
    if nd == 0:  # a 0-d tensor has one reducible dim (0 or -1) of size 1
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        for d in dims:
            _norm_dim(d, 0, op)
        out = _call(op, v.unsqueeze(1), 1, False, **kwargs)
        return _wrap_result(out, level)
    if isinstance(dim, (tuple, list)):
        pdim: Any = tuple(_norm_dim(d, nd, op) + 1 for d in dim)
    else:
        pdim = _norm_dim(dim, nd, op) + 1
    return _wrap_result(_call(op, v, pdim, keepdim, **kwargs), level)


def _wrap_result(out: Any, level: int) -> Any:
    if isinstance(out, tuple):  # (values, indices) of max/min
        return type(out)(*(_wrap(o, level) for o in out))
    return _wrap(out, level)


for _n in ["sum", "mean", "amax", "amin", "logsumexp", "max", "min", "argmax", "argmin", "all",
           "any"]:
    BATCH_RULES[_n] = functools.partial(_reduction_rule, _n)


def _softmax_rule(op: str, level: int, x: Any, dim: Any = None, *args: Any,
                  **kwargs: Any) -> Any:
    if "axis" in kwargs:
        dim = kwargs.pop("axis")
    if dim is None:
        raise _no_rule(op, "implicit dim; pass dim=")
    v, _ = _bv(x, level)
    if x.ndim == 0:
        _norm_dim(dim, 0, op)
        return _wrap(_call(op, v.unsqueeze(1), 1, *args, **kwargs).squeeze(1), level)
    return _wrap(_call(op, v, _norm_dim(dim, x.ndim, op) + 1, *args, **kwargs), level)


BATCH_RULES["softmax"] = functools.partial(_softmax_rule, "softmax")
BATCH_RULES["log_softmax"] = functools.partial(_softmax_rule, "log_softmax")


# -- matmul --
def _matmul_rule(op: str, level: int, a: Any, b: Any) -> Any:
    # Vectors become matrices ((n,) → (1, n) on the left, (n, 1) on the right), batched operands
    # get unit batch dims up to the common rank, one physical matmul broadcasts the rest, and
    # the unit dims of the vectors are squeezed out again.
    if op == "mm" and (a.ndim != 2 or b.ndim != 2):
        raise RuntimeError(f"mm: expected 2-D tensors, got {list(a.shape)} and {list(b.shape)}")
    if op == "bmm" and (a.ndim != 3 or b.ndim != 3):
        raise RuntimeError(f"bmm: expected 3-D tensors, got {list(a.shape)} and {list(b.shape)}")
    a, b = _as_operand(a), _as_operand(b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"{op}: both arguments need at least 1 dim, got {list(a.shape)} and "
                           f"{list(b.shape)}")
    av, ab = _bv(a, level)
    bv, bb = _bv(b, level)
    av, bv = _as_operand(av), _as_operand(bv)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        av = av.unsqueeze(-2)
    if b_vec:
        bv = bv.unsqueeze(-1)
    ra, rb = max(a.ndim, 2), max(b.ndim, 2)
    r = max(ra, rb)
    if ab:
        av = _pad(av, ra, r)
    if bb:
        bv = _pad(bv, rb, r)
    out = _call("matmul", av, bv)
    if a_vec:
        out = out.squeeze(-2)
    if b_vec:
        out = out.squeeze(-1)
    return _wrap(out, level)


for _n in ["matmul", "mm", "bmm"]:
    BATCH_RULES[_n] = functools.partial(_matmul_rule, _n)


def _linear_rule(level: int, x: Any, weight: Any, bias: Any = None) -> Any:
    # y = x·Wᵀ + b: one fused op on the batch when only x is batched, else through matmul.
    xv, _ = _bv(x, level)
    wv, wb = _bv(weight, level)
    bv, bb = _bv(bias, level)
    if not wb and not bb:
        if x.ndim == 0:
            raise RuntimeError(f"linear: input must have at least 1 dim, got {list(x.shape)}")
        return _wrap(_call("linear", xv, wv, bv), level)
    if weight.ndim != 2 or x.ndim == 0:
        raise RuntimeError(f"linear: expected input (..., in) and weight (out, in), got "
                           f"{list(x.shape)} and {list(weight.shape)}")
    if not wb:
        y = _matmul_rule("matmul", level, x, weight.T)
        return y if bias is None else y + bias
    # A weight per sample (per-sample gradients): y = (W · xᵀ)ᵀ on (B, out, in) · (B, in, M),
    # so neither the forward nor the backward moves a weight-sized tensor; only the
    # activations are transposed.
    n = _level_size(level)
    lead = tuple(x.shape)[:-1]
    xv = xv if _bv(x, level)[1] else _lift(xv, level)
    x2 = xv.reshape(n, math.prod(lead), x.shape[-1]).transpose(1, 2)
    y = _call("matmul", wv, x2).transpose(1, 2).reshape(n, *lead, weight.shape[0])
    out = _wrap(y, level)
    return out if bias is None else out + bias


BATCH_RULES["linear"] = _linear_rule


# -- shapes --
def _sizes(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        return tuple(args[0])
    return tuple(args)


def _reshape_rule(op: str, level: int, x: Any, *shape: Any, **kwargs: Any) -> Any:
    if "shape" in kwargs:
        shape = (kwargs.pop("shape"),)
    if kwargs:
        raise _no_rule(op, f"arguments {sorted(kwargs)}")
    v, _ = _bv(x, level)
    s = _sizes(shape)
    return _wrap(getattr(v, op)(v.shape[0], *s), level)


BATCH_RULES["reshape"] = functools.partial(_reshape_rule, "reshape")
BATCH_RULES["view"] = functools.partial(_reshape_rule, "view")


def _as_rule(op: str, level: int, x: Any, other: Any) -> Any:
    target = tuple(other.shape)
    if op == "expand_as":
        return _dispatch("expand", (x, *target), {}) if isinstance(x, BatchedTensor) and \
            x._level == level else _wrap(_lift(x.expand(*target), level), level)
    base = x if isinstance(x, BatchedTensor) and x._level == level else _wrap(_lift(x, level),
                                                                                level)
    return _reshape_rule("reshape" if op == "reshape_as" else "view", level, base, *target)


for _n in ["view_as", "reshape_as", "expand_as"]:
    BATCH_RULES[_n] = functools.partial(_as_rule, _n)


@_rule("expand")
def _expand_rule(level: int, x: Any, *sizes: Any) -> Any:
    v, _ = _bv(x, level)
    s = _sizes(sizes)
    nd = x.ndim
    if len(s) < nd:
        raise RuntimeError(f"expand: the number of sizes ({len(s)}) must be at least the number "
                           f"of dims ({nd}) of the tensor of shape {list(x.shape)}")
    v = _pad(v, nd, len(s))
    return _wrap(v.expand(v.shape[0], *s), level)


@_rule("flatten")
def _flatten_rule(level: int, x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    v, _ = _bv(x, level)
    if x.ndim == 0:
        return _wrap(v.reshape(v.shape[0], 1), level)
    s = _norm_dim(start_dim, x.ndim, "flatten") + 1
    e = _norm_dim(end_dim, x.ndim, "flatten") + 1
    return _wrap(v.flatten(s, e), level)


@_rule("transpose")
def _transpose_rule(level: int, x: Any, dim0: int, dim1: int) -> Any:
    v, _ = _bv(x, level)
    if x.ndim == 0:
        _norm_dim(dim0, 0, "transpose")
        _norm_dim(dim1, 0, "transpose")
        return _wrap(v, level)
    return _wrap(v.transpose(_norm_dim(dim0, x.ndim, "transpose") + 1,
                             _norm_dim(dim1, x.ndim, "transpose") + 1), level)


@_rule("t")
def _t_rule(level: int, x: Any) -> Any:
    if x.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, got {list(x.shape)}")
    return x if x.ndim < 2 else _transpose_rule(level, x, 0, 1)


@_rule("permute")
def _permute_rule(level: int, x: Any, *dims: Any) -> Any:
    v, _ = _bv(x, level)
    ds = _sizes(dims)
    if len(ds) != x.ndim:
        raise RuntimeError(f"permute: got {len(ds)} dims for a tensor of shape {list(x.shape)}")
    return _wrap(v.permute(0, *[_norm_dim(d, x.ndim, "permute") + 1 for d in ds]), level)


@_rule("unsqueeze")
def _unsqueeze_rule(level: int, x: Any, dim: int) -> Any:
    v, _ = _bv(x, level)
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a tensor of {x.ndim} dims")
    return _wrap(v.unsqueeze(dim % n + 1), level)


@_rule("squeeze")
def _squeeze_rule(level: int, x: Any, dim: Any = None) -> Any:
    v, _ = _bv(x, level)
    shape = list(x.shape)
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 1]
    elif x.ndim == 0:
        _norm_dim(dim, 0, "squeeze")
        return _wrap(v, level)
    else:
        ds = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = [_norm_dim(d, x.ndim, "squeeze") for d in ds]
        if len(set(dims)) != len(dims):  # as the eager op (PyTorch's RuntimeError)
            raise RuntimeError(f"squeeze: dim {next(d for d in dims if dims.count(d) > 1)} "
                               f"appears multiple times in the list of dims")
        dims = [d for d in dims if shape[d] == 1]
    keep = [s for i, s in enumerate(shape) if i not in dims]
    return _wrap(v.reshape(v.shape[0], *keep), level)


def _cat_like(op: str, level: int, tensors: Any, dim: int = 0) -> Any:
    # Every operand gets the batch (unbatched ones are expanded); cat/stack along dim + 1.
    ts = list(tensors)
    vals = []
    for t in ts:
        v, b = _bv(t, level)
        vals.append(v if b else _lift(v, level))
    if op == "stack":
        d = _norm_dim(dim, ts[0].ndim + 1, op) + 1
    else:
        ref = next((t for t in ts if t.ndim > 0), ts[0])
        d = _norm_dim(dim, ref.ndim, op) + 1
    return _wrap(_call(op, vals, d), level)


BATCH_RULES["cat"] = functools.partial(_cat_like, "cat")
BATCH_RULES["stack"] = functools.partial(_cat_like, "stack")


# -- losses --
def _reduce_per_sample(out: Any, reduction: str, op: str, first: int | None = None) -> Any:
    """The loss's reduction over each sample's elements of ``out`` = (B, ...) ('none' values).
    ``batchmean`` (kl_div) divides the sum by the sample's first logical dim ``first``."""
    if reduction == "none":
        return out
    flat = out.reshape(out.shape[0], -1)
    if reduction == "mean":
        return flat.mean(1)
    if reduction == "sum":
        return flat.sum(1)
    if reduction == "batchmean" and first is not None:
        return flat.sum(1) / first
    raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _lifted(x: Any, level: int) -> Any:
    v, b = _bv(x, level)
    return v if b else _lift(v, level)


def _pointwise_loss_rule(op: str, level: int, input: Any, target: Any,
                         reduction: str = "mean", *extra: Any, **kwargs: Any) -> Any:
    # ℓ elementwise on the batch ('none'), then the reduction per sample. tapegrad's losses
    # take equal shapes (no broadcasting), so an unbatched operand is expanded.
    if any(_is_tensor(a) for a in _iter_args(extra, kwargs)):
        raise _no_rule(op, "tensor options")
    out = _call(op, _lifted(input, level), _lifted(target, level), "none", *extra, **kwargs)
    first = input.shape[0] if input.ndim else 1
    return _wrap(_reduce_per_sample(out, reduction, op, first), level)


for _n in ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"]:
    BATCH_RULES[_n] = functools.partial(_pointwise_loss_rule, _n)

# Positional parameters after (input, target), as bound in C++, with their defaults.
_LOSS_PARAMS: dict[str, tuple[tuple[str, Any], ...]] = {
    "binary_cross_entropy_with_logits": (("weight", None), ("reduction", "mean"),
                                         ("pos_weight", None)),
    "binary_cross_entropy": (("weight", None), ("reduction", "mean")),
    "cross_entropy": (("weight", None), ("ignore_index", -100), ("reduction", "mean"),
                      ("label_smoothing", 0.0)),
    "nll_loss": (("weight", None), ("ignore_index", -100), ("reduction", "mean")),
}


def _loss_options(op: str, rest: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    params = _LOSS_PARAMS[op]
    if len(rest) > len(params) or set(kwargs) - {n for n, _ in params}:
        raise _no_rule(op, "unexpected arguments")
    opts = {n: d for n, d in params}
    opts.update(zip([n for n, _ in params], rest))
    opts.update(kwargs)
    return opts


def _weighted_pointwise_rule(op: str, level: int, input: Any, target: Any,
                             *rest: Any, **kwargs: Any) -> Any:
    # Binary cross-entropies: per-element ``weight`` (broadcast to the input) and per-class
    # ``pos_weight`` (broadcast to the target) are brought to the batch and expanded, so the
    # per-element values are the per-sample ones; then the reduction runs per sample.
    opts = _loss_options(op, rest, kwargs)
    x, t = _lifted(input, level), _lifted(target, level)
    for name, like, lv in (("weight", input, x), ("pos_weight", target, t)):
        w = opts.get(name)
        if w is None:
            continue
        wv, wb = _bv(w, level)
        wv = _pad(wv, w.ndim, like.ndim) if wb else _lift(wv, level)
        opts[name] = wv.expand(*lv.shape)
    reduction = opts.pop("reduction")
    out = _call(op, x, t, **opts, reduction="none")
    return _wrap(_reduce_per_sample(out, reduction, op), level)


for _n in ["binary_cross_entropy_with_logits", "binary_cross_entropy"]:
    BATCH_RULES[_n] = functools.partial(_weighted_pointwise_rule, _n)


def _class_loss_rule(op: str, level: int, input: Any, target: Any,
                     *rest: Any, **kwargs: Any) -> Any:
    # Logits/log-probabilities (N, C, d...) per sample become (B·N, C, d...) for one call with
    # reduction='none' (class weights, ignore_index, label smoothing applied per element); the
    # mean then divides each sample's sum by its own Σ weight[target] over the kept targets.
    opts = _loss_options(op, rest, kwargs)
    weight = opts["weight"]
    if isinstance(weight, BatchedTensor) and weight._level == level:
        raise _no_rule(op, "class weights per sample")
    reduction = opts.pop("reduction")
    probs = target.is_floating_point()
    x, t = _lifted(input, level), _lifted(target, level)
    if input.ndim == 1:  # unbatched (C,): one element per sample
        x, t = x.unsqueeze(1), t.unsqueeze(1)
    n = _level_size(level)
    xs, ts = tuple(x.shape), tuple(t.shape)
    out = _call(op, x.reshape(n * xs[1], *xs[2:]), t.reshape(n * ts[1], *ts[2:]), **opts,
                reduction="none")
    out = out.reshape(n, *xs[1:2], *tuple(out.shape)[1:])
    if reduction == "none":
        return _wrap(out.squeeze(1) if input.ndim == 1 else out, level)
    if reduction == "sum" or probs:
        if probs and reduction == "mean" and weight is not None:
            raise _no_rule(op, "mean over probability targets with class weights")
        return _wrap(_reduce_per_sample(out, reduction, op), level)
    if reduction != "mean":
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    keep = t != opts["ignore_index"]
    if weight is None:
        den = keep.to(out.dtype)
    else:
        safe = _call("where", keep, t, _core.zeros((), dtype=t.dtype))
        den = weight[safe] * keep.to(out.dtype)
    total = out.reshape(n, -1).sum(1)
    return _wrap(total / den.reshape(n, -1).sum(1), level)


for _n in ["cross_entropy", "nll_loss"]:
    BATCH_RULES[_n] = functools.partial(_class_loss_rule, _n)


# -- convolution and padding --
def _conv_rule(op: str, level: int, input: Any, weight: Any, bias: Any = None,
               stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
    # Only the input batched: the batch joins the conv's own batch dim, (B, N, C, ...) →
    # (B·N, C, ...). A weight per sample: the samples become groups of one conv, input
    # (N, B·C, ...) against weight (B·O, C/g, ...) with groups B·g, and back.
    spatial = 1 if op == "conv1d" else 2
    if input.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{op}: expected a {spatial + 1}-D or {spatial + 2}-D input, got "
                           f"{list(input.shape)}")
    xv, xb = _bv(input, level)
    wv, wb = _bv(weight, level)
    bv, bb = _bv(bias, level)
    n = _level_size(level)
    unbatched = input.ndim == spatial + 1
    if not xb:
        xv = _lift(xv, level)
    if unbatched:  # (B, C, ...) is already a batched input
        xv = xv.unsqueeze(1)
    shape = tuple(xv.shape)  # (B, N, C, *spatial)
    if not wb and not bb:
        out = _call(op, xv.reshape(n * shape[1], *shape[2:]), wv, bv, stride, padding,
                    dilation, groups)
        out = out.reshape(n, shape[1], *tuple(out.shape)[1:])
    else:
        if not wb:
            wv = _lift(wv, level)
        if bias is not None and not bb:
            bv = _lift(bv, level)
        ws = tuple(wv.shape)  # (B, O, C/g, *kernel)
        x2 = xv.transpose(0, 1).reshape(shape[1], n * shape[2], *shape[3:])
        w2 = wv.reshape(n * ws[1], *ws[2:])
        b2 = None if bias is None else bv.reshape(n * ws[1])
        out = _call(op, x2, w2, b2, stride, padding, dilation, groups * n)
        os_ = tuple(out.shape)  # (N, B·O, *spatial)
        out = out.reshape(os_[0], n, ws[1], *os_[2:]).transpose(0, 1)
    return _wrap(out.squeeze(1) if unbatched else out, level)


for _n in ["conv1d", "conv2d"]:
    BATCH_RULES[_n] = functools.partial(_conv_rule, _n)


@_rule("pad")
def _pad_rule(level: int, input: Any, pad: Any, mode: str = "constant",
              value: Any = None) -> Any:
    # Padding works from the last dim, so the batch in front is left alone; the modes other
    # than 'constant' take a fixed rank, so the batch is merged into the first logical dim
    # when there is one to spare.
    v, _ = _bv(input, level)
    k = len(pad) // 2
    if mode == "constant" or input.ndim <= k:
        return _wrap(_call("pad", v, pad, mode, value), level)
    shape = tuple(v.shape)
    out = _call("pad", v.reshape(shape[0] * shape[1], *shape[2:]), pad, mode, value)
    return _wrap(out.reshape(shape[0], shape[1], *tuple(out.shape)[1:]), level)


# -- indexing --
def _key_tuple(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def _advanced(k: Any) -> bool:
    return _is_tensor(k) or isinstance(k, (list, np.ndarray))


def _adjacent_advanced(key: tuple[Any, ...]) -> bool:
    """Whether NumPy places the advanced-index dims where the indices are (they are adjacent;
    ints count as advanced when there is an index tensor) rather than first."""
    if not any(_advanced(k) for k in key):
        return True
    pos = [i for i, k in enumerate(key) if _advanced(k) or isinstance(k, int)]
    return pos == list(range(pos[0], pos[-1] + 1))


def _adv_ndim(key: tuple[Any, ...]) -> int:
    shapes = []
    for k in key:
        if _is_tensor(k):
            shapes.append((1,) if k.dtype == _core.dtype.bool else tuple(k.shape))
        elif isinstance(k, (list, np.ndarray)):
            shapes.append(np.shape(k)[:1] if np.asarray(k).dtype == bool else np.shape(k))
    return len(np.broadcast_shapes(*shapes)) if shapes else 0


@_rule("getitem")
def _getitem_rule(level: int, x: Any, key: Any) -> Any:
    key = _key_tuple(key)
    if any(isinstance(k, bool) for k in key):
        raise _no_rule("getitem", "bool index")
    xv, xb = _bv(x, level)
    batched_keys: list[BatchedTensor] = [k for k in key
                                         if isinstance(k, BatchedTensor) and k._level == level]
    if not batched_keys:
        out = xv[(slice(None), *key)]
        if not _adjacent_advanced(key):
            # NumPy put the index dims first, before the batch: move the batch back in front.
            m = _adv_ndim(key)
            out = out.permute(m, *range(m), *range(m + 1, len(out.shape)))
        return _wrap(out, level)
    # A batched index tensor: gather per sample with an arange over the batch, which is
    # supported when the index tensors (and ints) follow only full slices.
    for bk in batched_keys:
        if bk.dtype == _core.dtype.bool:
            raise RuntimeError("vmap: indexing with a batched boolean mask has a data-dependent "
                               "shape per sample")
    if not xb:
        xv = _lift(xv, level)
    p = 0
    while p < len(key) and isinstance(key[p], slice) and key[p] == slice(None):
        p += 1
    adv = key[p:]
    n_adv = 0
    while n_adv < len(adv) and (_advanced(adv[n_adv]) or isinstance(adv[n_adv], int)):
        n_adv += 1
    if any(_advanced(k) or k is None or k is Ellipsis for k in adv[n_adv:]) or any(
            _is_tensor(k) and k.dtype == _core.dtype.bool for k in adv[:n_adv]):
        raise _no_rule("getitem", "batched index tensors must follow only full slices ':'")
    shapes = [tuple(k.shape) if _is_tensor(k) else () for k in adv[:n_adv]]
    r = len(np.broadcast_shapes(*shapes))
    n = _level_size(level)
    ar = _core.arange(n).reshape(n, *([1] * r))
    idx = []
    for k in adv[:n_adv]:
        kv, kb = _bv(k, level)
        idx.append(_pad(kv, k.ndim, r) if kb else kv)
    out = xv[(ar, *([slice(None)] * p), *idx, *adv[n_adv:])]
    if p:
        # NumPy put (batch, index dims) first and the sliced dims after: move the index dims
        # behind the p sliced dims, as the per-sample result has them.
        out = out.permute(0, *range(r + 1, r + 1 + p), *range(1, r + 1),
                          *range(r + 1 + p, len(out.shape)))
    return _wrap(out, level)


@_rule("setitem")
def _setitem_rule(level: int, x: Any, key: Any, value: Any) -> None:
    key = _key_tuple(key)
    xv, xb = _bv(x, level)
    vv, vb = _bv(value, level)
    if any(isinstance(k, BatchedTensor) and k._level == level for k in key):
        raise _no_rule("setitem", "batched index")
    if not xb:
        raise RuntimeError(f"vmap: setitem would write a batched value into an unbatched tensor "
                           f"(shape {list(x.shape)})")
    if not _adjacent_advanced(key):
        raise _no_rule("setitem", "separated index tensors")
    pkey = (slice(None), *key)
    if vb:
        target = len(xv[pkey].shape) - 1
        vv = _pad(vv, value.ndim, target)
    xv[pkey] = vv


# ----- randomness ------------------------------------------------------------------------------
_RANDOM = ["rand", "randn", "rand_like", "randn_like", "normal", "randint", "randperm"]
_RANDOM_METHODS = ["normal_", "uniform_", "bernoulli_", "random_", "exponential_"]


_RANDOM_ORIGINALS = {n: getattr(_core, n) for n in _RANDOM if hasattr(_core, n)}


def _random_wrapper(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
    def w(*args: Any, **kwargs: Any) -> Any:
        levels = _stack_levels()
        if not levels:
            return orig(*args, **kwargs)
        modes = {m for _, _, m in levels}
        if "error" in modes:
            raise RuntimeError(f"vmap: called random operation '{name}' while in "
                               "randomness='error' mode; pass randomness='different' or 'same' "
                               "to vmap")
        different = [lv for lv, _, m in levels if m == "different"]
        if name in ("rand_like", "randn_like"):
            x = args[0]
            args = (*x.shape,)
            kwargs.setdefault("dtype", x.dtype)
            name_ = name[:-5]
            fn = _RANDOM_ORIGINALS[name_]
        else:
            fn = orig
            name_ = name
        if name_ not in ("rand", "randn"):
            if different:
                raise _no_rule(name, "randomness='different'")
            return fn(*args, **kwargs)
        if not different:
            return fn(*args, **kwargs)
        size = _sizes(args)
        n = [_level_size(lv) for lv in different]
        return _from_physical(fn(*n, *size, **kwargs), different)

    return w


def _random_method_wrapper(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
    def w(self: Any, *args: Any, **kwargs: Any) -> Any:
        levels = _stack_levels()
        if levels and any(m != "same" for _, _, m in levels):
            raise RuntimeError(f"vmap: called random operation 'Tensor.{name}' while in "
                               f"randomness={levels[-1][2]!r} mode on a tensor that is not "
                               "batched; pass randomness='same' or create it outside vmap")
        return orig(self, *args, **kwargs)

    return w


# ----- the scoped replacement of the op functions (Note [vmap batch rules]) --------------------
_patch_lock = threading.RLock()
_patch_count = 0
_patched: list[tuple[Any, str, Any]] = []

_ALIASES = {"subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
            "negative": "neg", "clip": "clamp", "concat": "cat", "concatenate": "cat"}


def _fn_wrapper(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
    def w(*args: Any, **kwargs: Any) -> Any:
        if _has_batched(args, kwargs):
            return _dispatch(name, args, kwargs)
        return orig(*args, **kwargs)

    w.__name__ = name
    w.__doc__ = getattr(orig, "__doc__", None)
    return w


def _targets() -> list[tuple[Any, str, Callable[..., Any]]]:
    import tapegrad

    nn: Any = getattr(_core, "_nn")  # noqa: B009 - a pybind11 submodule the stub omits
    out: list[tuple[Any, str, Callable[..., Any]]] = []
    fnames, mnames = set(), set()
    for row in _core._op_table():
        if "F" in row["expose"]:
            fnames.add(row["name"])
        if "N" in row["expose"] and hasattr(nn, row["name"]):
            out.append((nn, row["name"], _fn_wrapper(row["name"], getattr(nn, row["name"]))))
        if "M" in row["expose"]:
            mnames.add(row["name"])
    fnames |= {"zeros_like", "ones_like", "full_like", "empty_like", "tensor", "as_tensor"}
    # Python composites whose argument checks refuse a batched tensor: vmap's own error instead
    from . import _composites

    fnames |= set(_composites.NO_BATCH_RULE)
    for owner in (tapegrad, _core):
        for name in sorted(fnames):
            if hasattr(owner, name):
                out.append((owner, name, _fn_wrapper(name, getattr(owner, name))))
        for name in _RANDOM:
            if hasattr(owner, name):
                out.append((owner, name, _random_wrapper(name, getattr(owner, name))))
    for alias, name in _ALIASES.items():
        if hasattr(tapegrad, alias):
            out.append((tapegrad, alias, _fn_wrapper(name, getattr(tapegrad, alias))))
    # Tensor methods whose other arguments may be batched (the receiver is a plain tensor).
    for name in sorted(mnames | {"__getitem__", "__setitem__", "add_", "sub_", "mul_", "div_",
                                 "copy_"}):
        if name in Tensor.__dict__:
            orig = Tensor.__dict__[name]
            op = {"__getitem__": "getitem", "__setitem__": "setitem"}.get(name, name)
            out.append((Tensor, name, _fn_wrapper(op, orig)))
    for name in _RANDOM_METHODS:
        if name in Tensor.__dict__:
            out.append((Tensor, name, _random_method_wrapper(name, Tensor.__dict__[name])))
    return out


_targets_cache: list[tuple[Any, str, Callable[..., Any]]] = []


def _enter() -> None:
    global _patch_count
    with _patch_lock:
        if _patch_count == 0:
            if not _targets_cache:
                _targets_cache.extend(_targets())
            for owner, name, wrapper in _targets_cache:
                _patched.append((owner, name, owner.__dict__[name] if owner is Tensor
                                 else getattr(owner, name)))
                setattr(owner, name, wrapper)
        _patch_count += 1


def _exit() -> None:
    global _patch_count
    with _patch_lock:
        _patch_count -= 1
        if _patch_count == 0:
            while _patched:
                owner, name, orig = _patched.pop()
                setattr(owner, name, orig)


# ----- vmap ------------------------------------------------------------------------------------

def _broadcast_dims(dims: Any, tree: Any, what: str) -> list[Any]:
    """One in_dim/out_dim per leaf of ``tree`` (``dims`` is a prefix of its structure)."""

    if dims is None or isinstance(dims, int):
        return [dims] * len(_flatten(tree)[0])
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(dims) != len(tree):
            raise ValueError(f"vmap: {what} has {len(dims)} entries for {len(tree)} values")
        out: list[Any] = []
        for d, t in zip(dims, tree):
            out += _broadcast_dims(d, t, what)
        return out
    if isinstance(dims, dict) and isinstance(tree, dict):
        out = []
        for k, t in tree.items():
            out += _broadcast_dims(dims.get(k), t, what)
        return out
    raise ValueError(f"vmap: {what}={dims!r} does not match the structure of the values")


def _move_to_front(x: Any, d: int) -> Any:
    if d == 0:
        return x
    order = [d, *[i for i in range(x.ndim) if i != d]]
    return x.permute(*order)


def _move_from_front(v: Any, d: int) -> Any:
    if d == 0:
        return v
    nd = len(v.shape)
    order = [*range(1, d + 1), 0, *range(d + 1, nd)]
    return v.permute(*order)


def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0,
         randomness: str = "error", *, chunk_size: int | None = None) -> Callable[..., Any]:
    """Vectorize ``func`` over a batch dimension, as ``torch.func.vmap``: ``func`` is written
    for one sample; the returned function runs it on a batch at once, through the batch rules
    of the ops it uses (Note [vmap batch rules]).

    ``in_dims``: for each positional argument, the dim holding the batch (``None``: not
    batched); an int applies to all; nested tuples/dicts follow the arguments' structure.
    ``out_dims``: where the batch goes in each output. ``randomness``: 'error' (random ops
    raise), 'same' (one draw for the whole batch) or 'different' (one per sample).
    ``chunk_size``: run the batch in chunks of this many samples (less memory).

    >>> import tapegrad as tg
    >>> from tapegrad.func import vmap, grad
    >>> w = tg.tensor([1.0, 2.0])
    >>> xs = tg.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> vmap(lambda x: (x * w).sum())(xs).tolist()
    [1.0, 2.0, 3.0]
    >>> vmap(vmap(lambda a, b: a * b), in_dims=(0, None))(xs, w).shape   # nested
    tapegrad.Size([3, 2])
    >>> # per-sample gradients of a loss with respect to shared weights
    >>> vmap(grad(lambda w, x: ((x * w).sum() - 1) ** 2), in_dims=(None, 0))(w, xs).tolist()
    [[0.0, 0.0], [0.0, 2.0], [4.0, 4.0]]
    """
    if randomness not in ("error", "same", "different"):
        raise RuntimeError(f"vmap: randomness must be 'error', 'same' or 'different', got "
                           f"{randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:

        if isinstance(in_dims, (tuple, list)) and len(in_dims) != len(args):
            raise ValueError(f"vmap: in_dims has {len(in_dims)} entries but the function got "
                             f"{len(args)} positional arguments")
        leaves, spec = _flatten(args)
        dims = _broadcast_dims(in_dims, args, "in_dims")
        size = None
        for x, d in zip(leaves, dims):
            if d is None:
                continue
            if not _is_tensor(x):
                raise ValueError(f"vmap: in_dim {d} given for a non-tensor argument "
                                 f"({type(x).__name__})")
            if not -max(x.ndim, 1) <= d < max(x.ndim, 1) or x.ndim == 0:
                raise ValueError(f"vmap: in_dim {d} is out of range for an argument of shape "
                                 f"{list(x.shape)}")
            n = x.shape[d]
            if size is not None and n != size:
                raise ValueError(f"vmap: batched arguments have different sizes along their "
                                 f"in_dims: {size} and {n}")
            size = n
        if size is None:
            raise ValueError("vmap: at least one argument must be a tensor with an in_dim that "
                             "is not None")
        norm = [None if d is None else d % x.ndim for x, d in zip(leaves, dims)]
        if chunk_size is not None and size > chunk_size:
            return _chunked(leaves, spec, norm, size, kwargs)
        return _run(leaves, spec, norm, size, kwargs)

    def _run(leaves: list[Any], spec: Any, dims: list[Any], size: int,
             kwargs: dict[str, Any]) -> Any:

        level = next(_level_ids)
        _enter()
        _stack_levels().append((level, size, randomness))
        try:
            wrapped = [x if d is None else BatchedTensor(_move_to_front(x, d), level)
                       for x, d in zip(leaves, dims)]
            out = func(*_unflatten(wrapped, spec), **kwargs)
            out_leaves, out_spec = _flatten(out)
            odims = _broadcast_dims(out_dims, out, "out_dims")
            res = []
            for o, d in zip(out_leaves, odims):
                if not _is_tensor(o):
                    raise ValueError(f"vmap: func must return tensors, got {type(o).__name__}")
                v, b = _bv(o, level)
                if d is None:
                    if b:
                        raise ValueError("vmap: out_dims=None for an output that is batched")
                    res.append(o)
                    continue
                if not b:
                    v = _lift(v, level)
                nd = o.ndim + 1
                if not -nd <= d < nd:
                    raise ValueError(f"vmap: out_dim {d} is out of range for an output of "
                                     f"shape {list(o.shape)}")
                res.append(_move_from_front(v, d % nd))
            return _unflatten(res, out_spec)
        finally:
            _stack_levels().pop()
            _exit()

    def _chunked(leaves: list[Any], spec: Any, dims: list[Any], size: int,
                 kwargs: dict[str, Any]) -> Any:

        step = chunk_size or size
        parts = []
        for s in range(0, size, step):
            e = min(s + step, size)
            sl = [x if d is None else x[(slice(None),) * d + (slice(s, e),)]
                  for x, d in zip(leaves, dims)]
            parts.append(_flatten(_run(sl, spec, dims, e - s, kwargs)))
        out_spec = parts[0][1]
        odims = _broadcast_dims(out_dims, _unflatten(parts[0][0], out_spec), "out_dims")
        res = []
        for i, d in enumerate(odims):
            if d is None:
                res.append(parts[0][0][i])
            else:
                res.append(_call("cat", [p[0][i] for p in parts], d))
        return _unflatten(res, out_spec)

    return wrapper

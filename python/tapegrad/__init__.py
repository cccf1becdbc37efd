"""tapegrad: a small, fast tape-based reverse-mode autodiff library.

>>> import tapegrad as tg
>>> x = tg.tensor([0, 1, 2, 3, 4, 5, 6, 7.])
>>> y = tg.tensor([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])
>>> m = tg.tensor([0.9]).requires_grad_()
>>> b = tg.tensor([0.1], requires_grad=True)
>>> C = tg.sum((m * x + b - y) ** 2) / len(y)
>>> C.backward(); print(f"{m.grad.item():.4f}")  # (tg.round is PyTorch's, for tensors)
36.3050
"""

from __future__ import annotations

import builtins as _builtins
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from . import _core
from ._tensor import Size, Tensor
from .autograd import (
    GradcheckError,
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from . import autograd

__version__ = _core.__version__

# dtypes
dtype = _core.dtype
float32 = _core.dtype.float32
float64 = _core.dtype.float64
int64 = _core.dtype.int64
bool = _core.dtype.bool  # noqa: A001 - PyTorch's name
float = float32  # noqa: A001
double = float64
long = int64
# torch.int is int32 (the storage dtypes: _dtypes, Note [storage dtypes])
int = _core.dtype.int32  # noqa: A001

# creation
tensor = _core.tensor
from_numpy = _core.from_numpy
as_tensor = _core.as_tensor
zeros = _core.zeros
ones = _core.ones
empty = _core.empty
full = _core.full
arange = _core.arange
linspace = _core.linspace
eye = _core.eye
rand = _core.rand
randn = _core.randn
randint = _core.randint
randperm = _core.randperm
zeros_like = _core.zeros_like
ones_like = _core.ones_like
full_like = _core.full_like
rand_like = _core.rand_like
randn_like = _core.randn_like
normal = _core.normal
initial_seed = _core.initial_seed
cpu_info = _core.cpu_info
set_num_threads = _core.set_num_threads
get_num_threads = _core.get_num_threads


def tape_stats() -> dict[str, _builtins.int]:
    """What the calling thread's tape holds, for debugging memory leaks.

    - ``entries``: recorded ops in the tape's arrays, live ones plus dead ones waiting to be
      compacted away (compaction runs once dead entries outnumber live ones);
    - ``live_entries``: ops that a live tensor can still reach. In a loop that drops its
      results this stays flat; if it grows every iteration, something (a list of losses, a
      running total like ``total += loss``) keeps a graph alive — store ``loss.item()`` or
      ``loss.detach()`` instead;
    - ``saved_bytes``: bytes of the tensors those live entries keep for the backward.

    >>> x = tapegrad.ones(3, requires_grad=True)
    >>> before = tapegrad.tape_stats()["live_entries"]
    >>> y = (x * 2).exp()
    >>> tapegrad.tape_stats()["live_entries"] - before
    2
    """
    return dict(_core.tape_stats())



Generator = _core.Generator
default_generator = _core.default_generator


def manual_seed(seed: _builtins.int) -> Generator:
    """Seed tapegrad's default random generator; returns it (``tapegrad.default_generator``).

    >>> _ = tapegrad.manual_seed(0); a = tapegrad.rand(2)
    >>> _ = tapegrad.manual_seed(0); (tapegrad.rand(2) == a).all().item()
    True
    """
    seed = _builtins.int(seed)
    _core.manual_seed(seed)
    return default_generator



# ops as functions: every row of the op table (cpp/include/tapegrad/ops.def) whose `expose`
# column has F, bound once in C++ (the same callable is the Tensor method where there is one).
_OP_TABLE = _core._op_table()
_OP_FUNCTIONS = [row["name"] for row in _OP_TABLE if "F" in row["expose"]]
globals().update({name: getattr(_core, name) for name in _OP_FUNCTIONS})

# NumPy's and PyTorch's other names for the same functions.
_ALIASES = {
    "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "negative": "neg", "clip": "clamp", "concat": "cat", "concatenate": "cat",
}
globals().update({alias: getattr(_core, name) for alias, name in _ALIASES.items()})
_ALIAS_NAMES = list(_ALIASES)

def is_tensor(obj: object) -> _builtins.bool:
    """Whether ``obj`` is a :class:`Tensor` (parameters included).

    >>> tapegrad.is_tensor(tapegrad.ones(2)), tapegrad.is_tensor([1.0])
    (True, False)
    """
    return isinstance(obj, Tensor)


def save(obj: Mapping[str, Any], path: str | os.PathLike[str] | BinaryIO) -> None:
    """Save a state dict (name → tensor) to ``path`` as ``.npz`` (see ``tapegrad.serialization``).

    >>> import io
    >>> buf = io.BytesIO(); tapegrad.save({"w": tapegrad.ones(2)}, buf); _ = buf.seek(0)
    >>> tapegrad.load(buf)["w"]
    tensor([1., 1.])
    """
    from .serialization import save as _save

    return _save(obj, path)


def load(path: str | os.PathLike[str] | BinaryIO) -> dict[str, Tensor]:
    """Load a state dict saved by :func:`save`; never unpickles.

    >>> import io
    >>> buf = io.BytesIO(); tapegrad.save({"b": tapegrad.zeros(1)}, buf); _ = buf.seek(0)
    >>> list(tapegrad.load(buf))
    ['b']
    """
    from .serialization import load as _load

    return _load(path)


from . import data, distributed, nn, optim, utils  # noqa: E402

# ----- PyTorch's everyday surface: devices, creation keywords, legacy forms (_device, _legacy)
from . import _device, _legacy  # noqa: E402
from ._device import backends, cuda, device, get_default_device, set_default_device  # noqa: E402
from ._legacy import (  # noqa: E402
    BoolTensor, DoubleTensor, FloatTensor, LongTensor, bfloat16, cosh, cumsum, dot, float16,
    get_default_dtype, int8, int16, int32, meshgrid, mv, norm, set_default_dtype, sinh, uint8,
)

half = float16
short = int16
# ----- storage dtypes (int32, int16, int8, uint8, float16): legacy constructors, randint(dtype=)
from ._legacy import ByteTensor, CharTensor, HalfTensor, IntTensor, ShortTensor  # noqa: E402
char = int8
from . import _composites  # noqa: E402
from ._composites import (  # noqa: E402
    allclose, chunk, flip, index_select, isclose, isfinite, log2, log10, masked_fill, movedim,
    narrow, outer, reciprocal, roll, rsqrt, split, square, std, unbind, var,
)
from ._composites import (  # noqa: E402  (rounding, expm1, inverse trig and hyperbolic)
    acos, acosh, asin, asinh, atan, atan2, atanh, ceil, expm1, floor, frac, trunc,
)
from ._composites import round_ as round  # noqa: E402, A004
from ._composites import (  # noqa: E402  (repeat/tile, repeat_interleave, swaps, products)
    cumprod, prod, repeat_interleave, swapaxes, swapdims, tile,
)

_device.install()
_legacy.install()
_composites.install()
# creation functions take device=/pin_memory= (and requires_grad= where C++ lacks it)
for _name, _native_rg in [
    ("tensor", True), ("zeros", True), ("ones", True), ("empty", True), ("full", True),
    ("arange", True), ("linspace", True), ("eye", False), ("rand", True), ("randn", True),
    ("randint", False), ("randperm", False), ("zeros_like", True), ("ones_like", True),
    ("full_like", True), ("rand_like", False), ("randn_like", False), ("normal", True),
    ("as_tensor", False),
]:
    globals()[_name] = _device.with_torch_keywords(getattr(_core, _name), _name, _native_rg)
del _name, _native_rg
randint = _device.with_dtype(randint, "randint")  # storage dtypes: int64 draws converted
__surface__ = [
    "device", "cuda", "backends", "get_default_device", "set_default_device", "FloatTensor",
    "DoubleTensor", "LongTensor", "BoolTensor", "int32", "int16", "int8", "uint8", "float16",
    "bfloat16", "half", "short", "get_default_dtype", "set_default_dtype", "meshgrid", "sinh",
    "cosh", "cumsum", "dot", "mv", "norm",
    "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "HalfTensor", "char",
]


def __getattr__(name: str) -> Any:
    # viz pulls in matplotlib: import it only when someone asks for it.
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'tapegrad' has no attribute {name!r}")


__all__ = [
    "nn", "optim", "data", "utils", "viz",
    "Tensor", "Size", "dtype", "float32", "float64", "int64", "bool", "float", "double", "long",
    "tensor", "from_numpy", "as_tensor", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "full_like", "arange", "linspace", "eye", "rand", "randn", "rand_like",
    "randn_like", "normal", "randint", "randperm", "manual_seed", "initial_seed", "Generator",
    "is_tensor",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad", "gradcheck",
    "GradcheckError", "detect_anomaly", "autograd", "cpu_info", "set_num_threads",
    "get_num_threads", "tape_stats", "save", "load", "__version__",
]
__all__ += __surface__ + _composites.FUNCTIONS
# The op functions and their aliases come from the op table (not a literal by design).
if TYPE_CHECKING:
    # The same names, spelled out for type checkers and editors, which cannot run
    # _core._op_table(); their signatures come from _core.pyi. tests/test_typing.py checks that
    # this list is exactly the table's F rows plus the aliases, so it cannot drift.
    from ._core import (  # noqa: F401
        add, sub, mul, div, pow, maximum, minimum, neg, exp, log, log1p, erf, sqrt, abs,
        relu, sigmoid, tanh, sin, cos, where, clamp, clone, sum, amax, amin, logsumexp,
        softmax, log_softmax, mm, bmm, linear, reshape, permute, cat, cross_entropy,
        binary_cross_entropy_with_logits, mse_loss, mean, max, min, matmul, flatten,
        squeeze, unsqueeze, transpose, t, stack, argmax, argmin, all, any, sign, isnan,
        isinf, logical_not, logical_and, logical_or, eq, detach, numel,
        is_floating_point,
        gather, scatter, scatter_add,  # gather and scatter along a dim
    )
    from ._core import argsort, kthvalue, msort, nonzero, sort, topk  # noqa: F401 (sorting)
    from ._core import (  # noqa: F401  (integers are exact: the bitwise rows)
        logical_xor, bitwise_not, bitwise_and, bitwise_or, bitwise_xor,
    )

    subtract = sub
    multiply = mul
    divide = div
    true_divide = div
    negative = neg
    clip = clamp
    concat = cat
    concatenate = cat

    __all__ += [
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "neg", "exp", "log", "log1p",
        "erf", "sqrt", "abs", "relu", "sigmoid", "tanh", "sin", "cos", "where", "clamp", "clone",
        "sum", "amax", "amin", "logsumexp", "softmax", "log_softmax", "mm", "bmm", "linear",
        "reshape", "permute", "cat", "cross_entropy", "binary_cross_entropy_with_logits",
        "mse_loss", "mean", "max", "min", "matmul", "flatten", "squeeze", "unsqueeze",
        "transpose", "t", "stack", "argmax", "argmin", "all", "any", "sign", "isnan",
        "isinf", "logical_not", "logical_and", "logical_or", "eq", "detach", "numel",
        "is_floating_point", "subtract", "multiply", "divide", "true_divide", "negative",
        "clip", "concat", "concatenate",
        "sort", "argsort", "msort", "topk", "kthvalue", "nonzero",  # sorting
        # integers are exact: the bitwise rows
        "logical_xor", "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor",
        "gather", "scatter", "scatter_add",  # gather and scatter along a dim
    ]
else:
    __all__ += _OP_FUNCTIONS + _ALIAS_NAMES  # noqa: PLE0605

# ----- sorting, selection, einsum and linalg (sort/topk/kthvalue/nonzero are op-table rows;
# unique and einsum are Python, tapegrad.linalg a module of norms)
from . import linalg  # noqa: E402
from ._einsum import einsum  # noqa: E402
from ._unique import unique  # noqa: E402
from . import _unique  # noqa: E402

_unique.install()
__all__ += ["linalg", "einsum", "unique"]

# Function transforms (tapegrad.func, as torch.func): grad, vjp, jvp, jacrev, jacfwd, hessian,
# vmap, functional_call.
from . import func  # noqa: E402

# Capture and replay of a training step (tapegrad.compile, as torch.compile).
from ._compile import compile, load_program, SavedProgram  # noqa: E402, A004

__all__ += ["func", "compile", "load_program", "SavedProgram"]

# ----- probability distributions (tapegrad.distributions, as torch.distributions)
from . import distributions  # noqa: E402

__all__ += ["distributions"]

# ----- Bernoulli and multinomial draws with generator= (tapegrad._random)
from . import _random  # noqa: E402
from ._random import bernoulli, multinomial  # noqa: E402

_random.install()
__all__ += ["bernoulli", "multinomial"]

# ----- in-place forms of the elementwise methods (x.relu_(), x.clamp_(0, 1); tapegrad._inplace)
from . import _inplace  # noqa: E402

_inplace.install()

# ----- out= on the functions that have it in PyTorch (tapegrad._out holds the one registry;
# Note [out= arguments] in cpp/src/bindings/out.cpp). Last: it wraps the names defined above.
from . import _out  # noqa: E402

_out.install(globals())

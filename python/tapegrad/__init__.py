"""tapegrad: a small, fast tape-based reverse-mode autodiff library.

>>> import tapegrad as tg
>>> x = tg.tensor([0, 1, 2, 3, 4, 5, 6, 7.])
>>> y = tg.tensor([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])
>>> m = tg.tensor([0.9]).requires_grad_()
>>> b = tg.tensor([0.1], requires_grad=True)
>>> C = tg.sum((m * x + b - y) ** 2) / len(y)
>>> C.backward(); round(m.grad.item(), 4)
36.305
"""

from __future__ import annotations

import builtins as _builtins

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
int = int64  # noqa: A001

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
initial_seed = _core.initial_seed
cpu_info = _core.cpu_info
set_num_threads = _core.set_num_threads
get_num_threads = _core.get_num_threads


def tape_stats() -> dict[str, int]:
    """What the calling thread's tape holds, for debugging memory leaks.

    - ``entries``: recorded ops in the tape's arrays, live ones plus dead ones waiting to be
      compacted away (compaction runs once dead entries outnumber live ones);
    - ``live_entries``: ops that a live tensor can still reach. In a loop that drops its
      results this stays flat; if it grows every iteration, something (a list of losses, a
      running total like ``total += loss``) keeps a graph alive — store ``loss.item()`` or
      ``loss.detach()`` instead;
    - ``saved_bytes``: bytes of the tensors those live entries keep for the backward.

    >>> x = tapegrad.ones(3, requires_grad=True)
    >>> y = (x * 2).exp()
    >>> tapegrad.tape_stats()["live_entries"]
    2
    """
    return dict(_core.tape_stats())



class Generator:
    """What ``manual_seed`` returns (PyTorch returns its default generator)."""

    def __init__(self, seed: int):
        self._seed = seed

    def initial_seed(self) -> int:
        return self._seed

    def manual_seed(self, seed: int) -> "Generator":
        return manual_seed(seed)

    def __repr__(self) -> str:
        return f"<tapegrad.Generator seed={self._seed}>"


def manual_seed(seed) -> Generator:
    """Seed tapegrad's random generator; returns a generator-like object."""
    seed = _builtins.int(seed)
    _core.manual_seed(seed)
    return Generator(seed)



def zeros_like(t, *, dtype=None, requires_grad=False):
    return zeros(tuple(t.shape), dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, requires_grad=False):
    return ones(tuple(t.shape), dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, requires_grad=False):
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def rand_like(t, *, dtype=None):
    return rand(tuple(t.shape), dtype=dtype or t.dtype)


def randn_like(t, *, dtype=None):
    return randn(tuple(t.shape), dtype=dtype or t.dtype)


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, generator=None, requires_grad=False):
    """Normal samples: ``normal(mean_tensor, std)`` or ``normal(mean, std, size)``.

    >>> w = tg.normal(0, 0.01, size=(2, 1), requires_grad=True)   # d2l's initialisation
    """
    if isinstance(mean, Tensor):
        if isinstance(std, Tensor):
            with no_grad():
                out = mean + randn_like(mean) * std
        else:
            out = _core._normal_tensor(mean, _builtins.float(std))
    elif isinstance(std, Tensor):
        with no_grad():
            out = mean + randn_like(std) * std
    else:
        if size is None:
            raise TypeError("normal: with scalar mean and std, size= is required")
        out = _core._normal_scalar(_builtins.float(mean), _builtins.float(std), size, dtype)
    if requires_grad:
        out.requires_grad_(True)
    return out


# ops as functions (each is also a Tensor method)
add = _core.add
sub = _core.sub
subtract = _core.sub
mul = _core.mul
multiply = _core.mul
div = _core.div
divide = _core.div
true_divide = _core.div
pow = _core.pow  # noqa: A001
neg = _core.neg
negative = _core.neg
exp = _core.exp
log = _core.log
sqrt = _core.sqrt
abs = _core.abs  # noqa: A001
relu = _core.relu
sigmoid = _core.sigmoid
tanh = _core.tanh
sin = _core.sin
cos = _core.cos
sign = _core.sign
isnan = _core.isnan
isinf = _core.isinf
logical_not = _core.logical_not
logical_and = _core.logical_and
logical_or = _core.logical_or
maximum = _core.maximum
minimum = _core.minimum
where = _core.where
matmul = _core.matmul
mm = _core.mm
bmm = _core.bmm
cat = _core.cat
concat = _core.cat
concatenate = _core.cat
stack = _core.stack


def _method(name):
    meth = getattr(Tensor, name)

    def fn(input, *args, **kwargs):  # noqa: A002
        return meth(input, *args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``tapegrad.{name}(t, ...)`` is ``t.{name}(...)``."
    return fn


sum = _method("sum")  # noqa: A001
mean = _method("mean")
max = _method("max")  # noqa: A001
min = _method("min")  # noqa: A001
amax = _method("amax")
amin = _method("amin")
argmax = _method("argmax")
argmin = _method("argmin")
logsumexp = _method("logsumexp")
softmax = _method("softmax")
log_softmax = _method("log_softmax")
reshape = _method("reshape")
flatten = _method("flatten")
squeeze = _method("squeeze")
unsqueeze = _method("unsqueeze")
permute = _method("permute")
transpose = _method("transpose")
t = _method("t")
clamp = _method("clamp")
clip = _method("clamp")
numel = _method("numel")
all = _method("all")  # noqa: A001
any = _method("any")  # noqa: A001
clone = _method("clone")
detach = _method("detach")


def is_tensor(obj) -> _builtins.bool:
    return isinstance(obj, Tensor)


def is_floating_point(t) -> _builtins.bool:
    return t.is_floating_point()


def eq(a, b):
    return a == b


def save(obj, path):
    """Save a state dict (name → tensor) to ``path`` as ``.npz`` (see ``tapegrad.serialization``)."""
    from .serialization import save as _save

    return _save(obj, path)


def load(path):
    """Load a state dict saved by :func:`save`; never unpickles."""
    from .serialization import load as _load

    return _load(path)


from . import data, nn, optim, utils  # noqa: E402


def __getattr__(name: str):
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
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid",
    "tanh", "sin", "cos", "sign", "maximum", "minimum", "where", "clamp", "clip", "isnan", "isinf",
    "logical_not", "logical_and", "logical_or", "sum", "mean", "max", "min", "amax", "amin",
    "argmax", "argmin", "logsumexp", "softmax", "log_softmax", "matmul", "mm", "bmm", "reshape",
    "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "cat", "concat", "stack",
    "numel", "all", "any", "clone", "detach", "is_tensor", "is_floating_point", "eq",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad", "gradcheck",
    "GradcheckError", "detect_anomaly", "autograd", "cpu_info", "set_num_threads",
    "get_num_threads", "tape_stats", "save", "load", "__version__",
]

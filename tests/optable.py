"""The one op table behind test_ops_gradcheck.py and test_torch_parity.py.

Every case is ``fn(ns, *inputs)``: the same expression evaluated with tapegrad or with PyTorch,
``ns`` giving the few things that differ between them (constants, dtypes, the losses). Inputs
are float64 arrays drawn from a per-input *domain* that keeps them off the kinks and outside
the singularities of the op (positive for log/sqrt, distinct values for max/min, away from 0
for abs/relu). Shapes follow docs/architecture.md, "Tests": scalars, vectors, matrices, broadcast pairs,
odd sizes that are not SIMD multiples (7, 45×65, 64×99; only on a few ops, gradcheck costs
two forwards per input element), and zero-size.

>>> case = CASES[0]
>>> xs = case.inputs()            # numpy float64 arrays
>>> out = case.fn(TG, *[tg.tensor(x, requires_grad=True) for x in xs])
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np

import tapegrad as tg

# The op set of docs/architecture.md (the differentiable part) plus the indexing forms: the table must
# cover every one of these names (test_table_covers_the_op_set).
OP_SET = [
    "add", "sub", "mul", "div", "neg", "pow_tt", "pow_ts", "pow_st", "exp", "log", "sqrt",
    "abs", "relu", "sigmoid", "tanh", "sin", "cos", "maximum", "minimum", "where", "clamp",
    "sum", "mean", "max", "min", "amax", "amin", "logsumexp", "softmax", "log_softmax",
    "matmul", "reshape", "view", "flatten", "transpose", "permute", "T", "squeeze",
    "unsqueeze", "expand", "cat", "stack", "index_int", "index_slice", "index_none",
    "index_ellipsis", "index_gather", "index_mask", "setitem", "mse_loss", "cross_entropy",
    "bce_with_logits", "to", "inplace", "linear",
]


def _tg_ns():
    core = tg._core
    return SimpleNamespace(
        name="tapegrad",
        lib=tg,
        float32=tg.float32,
        float64=tg.float64,
        const=lambda a: tg.tensor(np.asarray(a)),
        mse_loss=core.mse_loss,
        cross_entropy=core.cross_entropy,
        linear=core.linear,
        bce_with_logits=core.binary_cross_entropy_with_logits,
        F=tg.nn.functional,
    )


TG = _tg_ns()


def torch_ns():
    import torch
    import torch.nn.functional as F

    return SimpleNamespace(
        name="torch",
        lib=torch,
        float32=torch.float32,
        float64=torch.float64,
        const=lambda a: torch.tensor(np.asarray(a)),
        mse_loss=F.mse_loss,
        cross_entropy=F.cross_entropy,
        linear=F.linear,
        bce_with_logits=F.binary_cross_entropy_with_logits,
        F=F,
    )


# ----- input domains ---------------------------------------------------------------------------
def _draw(domain: str, shape, rng: np.random.Generator) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "pos":  # log, sqrt, pow bases
        return rng.uniform(0.5, 2.0, shape)
    if domain == "above-1":  # log1p: (-1, ∞), small values included
        return rng.uniform(-0.9, 2.0, shape)
    if domain == "nonzero":  # abs, relu: off the kink at 0
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
    if domain == "distinct":  # max/min/amax/amin: no ties, gaps far above gradcheck's eps
        return (rng.permutation(n) * (4.0 / max(n, 1)) - 2.0 + 0.01).reshape(shape)
    if domain == "clampable":  # clamp(-0.5, 0.5): off both bounds
        v = rng.uniform(-1.5, 1.5, shape)
        return np.where(np.abs(np.abs(v) - 0.5) < 0.05, v + 0.1, v)
    if domain == "wide":  # softplus/log_sigmoid: far tails, where the naive forms overflow
        return rng.uniform(-60.0, 60.0, shape)
    if domain == "off-unit":  # hardtanh(-1, 1): off both kinks
        v = rng.uniform(-2.0, 2.0, shape)
        return np.where(np.abs(np.abs(v) - 1.0) < 0.05, v * 0.9, v)
    if domain == "off-half":  # softplus(beta=2, threshold=1): off β·x = threshold at x = 0.5
        v = rng.uniform(-1.5, 1.5, shape)
        return np.where(np.abs(v - 0.5) < 0.05, v + 0.1, v)
    if domain == "zeros":  # products: exact zeros, one in some rows/columns, two in others
        v = rng.standard_normal(shape)
        v.reshape(-1)[::3] = 0.0
        return v
    raise ValueError(domain)


@dataclass(frozen=True)
class Case:
    op: str                           # one of OP_SET
    fn: Callable                      # fn(ns, *inputs) -> tensor or tuple of tensors
    shapes: tuple                     # one shape per input
    domain: str | tuple = "real"      # per input (a tuple) or for all
    label: str = ""                   # tells cases of the same op and shapes apart
    gradcheck: dict = field(default_factory=dict)  # eps/atol/rtol overrides
    torch: bool = True                # has a PyTorch twin (False: tapegrad-only semantics)

    @property
    def id(self) -> str:
        shapes = ",".join("x".join(map(str, s)) or "0d" for s in self.shapes)
        return f"{self.op}{'-' + self.label if self.label else ''}[{shapes}]"

    def inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        doms = self.domain if isinstance(self.domain, tuple) else (self.domain,) * len(self.shapes)
        return [_draw(d, s, rng) for d, s in zip(doms, self.shapes)]


CASES: list[Case] = []


def case(op, fn, shapes, domain="real", label="", **kw):
    CASES.append(Case(op, fn, tuple(tuple(s) for s in shapes), domain, label, **kw))


# ----- elementwise -----------------------------------------------------------------------------
UNARY_SHAPES = [(), (7,), (3, 4), (2, 3, 4), (0,), (2, 0)]
BINARY_PAIRS = [
    ((), ()), ((7,), (7,)), ((3, 4), (3, 4)),
    ((1, 5), (4, 1)),          # 1×n with n×1
    ((3, 4), (4,)),            # prepended dim
    ((3, 1), (2, 1, 4)),       # both sides broadcast, prepended dim
    ((), (3, 4)), ((2, 3), ()),  # 0-d with a matrix
    ((0, 3), (3,)), ((2, 0), (1, 0)),  # zero-size
]

for op, f in [
    ("add", lambda ns, a, b: a + b),
    ("sub", lambda ns, a, b: a - b),
    ("mul", lambda ns, a, b: a * b),
]:
    for sa, sb in BINARY_PAIRS:
        case(op, f, [sa, sb])
for sa, sb in BINARY_PAIRS:
    case("div", lambda ns, a, b: a / b, [sa, sb], ("real", "nonzero"))
case("add", lambda ns, a, b: a + b, [(64, 99), (99,)], label="odd")
case("mul", lambda ns, a, b: a * b, [(45, 65), (45, 65)], label="odd")
case("add", lambda ns, a: a + 2.5, [(3, 4)], label="scalar")
case("sub", lambda ns, a: 1.5 - a, [(7,)], label="rscalar")
case("mul", lambda ns, a: 3 * a, [(7,)], label="intscalar")
case("div", lambda ns, a: 2.0 / a, [(7,)], "nonzero", label="rscalar")
case("div", lambda ns, a: a / 4, [(2, 3)], label="scalar")
case("mul", lambda ns, a: a * a, [(3, 4)], label="same-input")

for s in UNARY_SHAPES:
    case("neg", lambda ns, x: -x, [s])
    case("exp", lambda ns, x: x.exp(), [s])
    case("log", lambda ns, x: x.log(), [s], "pos")
    case("log1p", lambda ns, x: x.log1p(), [s], "above-1")
    case("sqrt", lambda ns, x: x.sqrt(), [s], "pos")
    case("abs", lambda ns, x: x.abs(), [s], "nonzero")
    case("relu", lambda ns, x: x.relu(), [s], "nonzero")
    case("sigmoid", lambda ns, x: x.sigmoid(), [s])
    case("tanh", lambda ns, x: x.tanh(), [s])
    case("sin", lambda ns, x: x.sin(), [s])
    case("cos", lambda ns, x: x.cos(), [s])
    case("clamp", lambda ns, x: x.clamp(-0.5, 0.5), [s], "clampable")
case("exp", lambda ns, x: ns.lib.exp(x), [(45, 65)], label="odd")
case("tanh", lambda ns, x: ns.lib.tanh(x), [(64, 99)], label="odd")
case("sigmoid", lambda ns, x: ns.lib.sigmoid(x), [(7,)], label="fn")
case("log", lambda ns, x: ns.lib.log(x), [(7,)], "pos", label="fn")
case("log1p", lambda ns, x: ns.lib.log1p(x), [(45, 65)], "above-1", label="odd")

# activations (torch.nn.functional's): domains off their kinks (0 for leaky_relu/elu, ±1 for
# hardtanh, β·x = threshold for softplus)
for s in UNARY_SHAPES:
    case("erf", lambda ns, x: x.erf(), [s])
    case("gelu", lambda ns, x: ns.F.gelu(x), [s])
    case("gelu", lambda ns, x: ns.F.gelu(x, approximate="tanh"), [s], label="tanh")
    case("silu", lambda ns, x: ns.F.silu(x), [s])
    case("leaky_relu", lambda ns, x: ns.F.leaky_relu(x), [s], "nonzero")
    case("elu", lambda ns, x: ns.F.elu(x), [s], "nonzero")
    case("softplus", lambda ns, x: ns.F.softplus(x), [s])
    case("log_sigmoid", lambda ns, x: ns.F.logsigmoid(x), [s])
    case("hardtanh", lambda ns, x: ns.F.hardtanh(x), [s], "off-unit")
case("erf", lambda ns, x: ns.lib.erf(x), [(45, 65)], label="odd")
case("gelu", lambda ns, x: ns.F.gelu(x), [(45, 65)], label="odd")
case("gelu", lambda ns, x: ns.F.gelu(x, approximate="tanh"), [(64, 99)], "wide", label="tanh-odd")
case("silu", lambda ns, x: ns.F.silu(x), [(45, 65)], "wide", label="odd")
case("leaky_relu", lambda ns, x: ns.F.leaky_relu(x, 0.2), [(3, 4)], "nonzero", label="slope")
case("leaky_relu", lambda ns, x: ns.F.leaky_relu(x, negative_slope=-0.5), [(7,)], "nonzero",
     label="negslope")
case("elu", lambda ns, x: ns.F.elu(x, alpha=0.5), [(3, 4)], "nonzero", label="alpha")
case("elu", lambda ns, x: ns.F.elu(x, 2.0), [(45, 65)], "nonzero", label="odd")
case("softplus", lambda ns, x: ns.F.softplus(x), [(7,)], "wide", label="wide")
case("softplus", lambda ns, x: ns.F.softplus(x, beta=2, threshold=1), [(3, 4)], "off-half",
     label="threshold")
case("softplus", lambda ns, x: ns.F.softplus(x, 0.5), [(45, 65)], "wide", label="odd")
case("log_sigmoid", lambda ns, x: ns.F.logsigmoid(x), [(45, 65)], "wide", label="odd")
case("hardtanh", lambda ns, x: ns.F.hardtanh(x, -0.5, 0.5), [(3, 4)], "clampable", label="bounds")
case("hardtanh", lambda ns, x: ns.F.hardtanh(x), [(45, 65)], "off-unit", label="odd")
case("clamp", lambda ns, x: x.clamp(min=-0.5), [(3, 4)], "clampable", label="min")
case("clamp", lambda ns, x: x.clamp(max=0.5), [(3, 4)], "clampable", label="max")
case("clamp", lambda ns, x: ns.lib.clamp(x, -0.5, 0.5), [(45, 65)], "clampable", label="odd")

# pow: tensor ** tensor (positive base), tensor ** scalar, scalar ** tensor
for sa, sb in [((), ()), ((7,), (7,)), ((1, 5), (4, 1)), ((3, 4), (4,)), ((0, 3), (3,))]:
    case("pow_tt", lambda ns, a, b: a ** b, [sa, sb], ("pos", "real"))
case("pow_tt", lambda ns, a, b: ns.lib.pow(a, b), [(2, 3), (2, 3)], ("pos", "real"), label="fn")
for s in [(), (7,), (3, 4), (0,)]:
    case("pow_ts", lambda ns, x: x ** 2, [s], label="sq")
    case("pow_ts", lambda ns, x: x ** 2.5, [s], "pos", label="frac")
    case("pow_st", lambda ns, x: 2.0 ** x, [s])
case("pow_ts", lambda ns, x: x ** 3, [(7,)], label="cube")
case("pow_ts", lambda ns, x: x ** -1.5, [(7,)], "pos", label="neg")
case("pow_ts", lambda ns, x: x ** 0.5, [(3, 4)], "pos", label="half")
case("pow_st", lambda ns, x: 0.5 ** x, [(3, 4)], label="half")

for sa, sb in BINARY_PAIRS:
    case("maximum", lambda ns, a, b: ns.lib.maximum(a, b), [sa, sb])
    case("minimum", lambda ns, a, b: ns.lib.minimum(a, b), [sa, sb])


def _where(cond_shape):
    mask = np.random.default_rng(7).random(cond_shape) > 0.5

    def f(ns, a, b):
        return ns.lib.where(ns.const(mask), a, b)

    return f


case("where", _where((7,)), [(7,), (7,)])
case("where", _where((3, 4)), [(3, 4), (3, 4)])
case("where", _where((3, 4)), [(1, 4), (3, 1)], label="bcast")
case("where", _where((2, 1, 4)), [(3, 1), ()], label="bcast3")
case("where", _where(()), [(), ()])
case("where", _where((0, 3)), [(0, 3), (3,)])
case("where", lambda ns, a, b: ns.lib.where(a > b, a, b * 2), [(3, 4), (3, 4)], label="data")

# ----- reductions ------------------------------------------------------------------------------
for s in [(), (7,), (3, 4), (2, 3, 4), (0,), (2, 0, 3)]:
    case("sum", lambda ns, x: x.sum(), [s])
    if 0 not in s:  # the mean of nothing is nan
        case("mean", lambda ns, x: x.mean(), [s])
case("sum", lambda ns, x: ns.lib.sum(x, 1), [(2, 3, 4)], label="d1")
case("sum", lambda ns, x: x.sum(dim=-1, keepdim=True), [(2, 3, 4)], label="keep")
case("sum", lambda ns, x: x.sum(dim=(0, 2)), [(2, 3, 4)], label="tuple")
case("sum", lambda ns, x: x.sum(dim=(0, 2), keepdim=True), [(2, 3, 4)], label="tuplekeep")
case("sum", lambda ns, x: x.sum(1), [(2, 0, 3)], label="zero")
case("sum", lambda ns, x: x.sum(0), [(45, 65)], label="odd")
case("mean", lambda ns, x: x.mean(1), [(2, 3, 4)], label="d1")
case("mean", lambda ns, x: x.mean(dim=(0, 2), keepdim=True), [(2, 3, 4)], label="tuplekeep")
case("mean", lambda ns, x: ns.lib.mean(x, dim=-1), [(3, 7)], label="fn")
case("mean", lambda ns, x: x.mean(2), [(2, 0, 3)], label="zero")

for op in ["max", "min"]:
    case(op, lambda ns, x, _o=op: getattr(x, _o)(), [(3, 4)], "distinct", label="all")
    case(op, lambda ns, x, _o=op: getattr(x, _o)(), [(7,)], "distinct", label="all")
    case(op, lambda ns, x, _o=op: tuple(getattr(x, _o)(1)), [(3, 4)], "distinct", label="dim")
    case(op, lambda ns, x, _o=op: tuple(getattr(x, _o)(dim=0, keepdim=True)), [(2, 3, 4)],
         "distinct", label="keep")
    case(op, lambda ns, x, _o=op: getattr(ns.lib, _o)(x, -1).values, [(7,)], "distinct",
         label="fn")
for op in ["amax", "amin"]:
    case(op, lambda ns, x, _o=op: getattr(x, _o)(), [(3, 4)], "distinct", label="all")
    case(op, lambda ns, x, _o=op: getattr(x, _o)(1), [(3, 4)], "distinct", label="d1")
    case(op, lambda ns, x, _o=op: getattr(x, _o)(dim=(0, 2)), [(2, 3, 4)], "distinct",
         label="tuple")
    case(op, lambda ns, x, _o=op: getattr(x, _o)(dim=-1, keepdim=True), [(2, 3, 4)], "distinct",
         label="keep")
    case(op, lambda ns, x, _o=op: getattr(ns.lib, _o)(x, 1), [(45, 65)], "distinct", label="odd")
case("logsumexp", lambda ns, x: x.logsumexp(1), [(3, 4)])
case("logsumexp", lambda ns, x: x.logsumexp(0), [(7,)])
case("logsumexp", lambda ns, x: x.logsumexp(dim=(0, 2), keepdim=True), [(2, 3, 4)], label="tuple")
case("logsumexp", lambda ns, x: ns.lib.logsumexp(x * 100, -1), [(3, 5)], label="big")
case("logsumexp", lambda ns, x: x.logsumexp(1), [(0, 4)], label="zero")
for s, d in [((7,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((0, 5), 1)]:
    case("softmax", lambda ns, x, _d=d: x.softmax(_d), [s], label=f"d{d}")
    case("log_softmax", lambda ns, x, _d=d: x.log_softmax(_d), [s], label=f"d{d}")
case("softmax", lambda ns, x: ns.lib.softmax(x * 50, dim=1), [(4, 6)], label="big")
case("log_softmax", lambda ns, x: ns.lib.log_softmax(x * 50, dim=1), [(4, 6)], label="big")
case("log_softmax", lambda ns, x: x.log_softmax(1), [(45, 65)], label="odd")

# ----- matmul ----------------------------------------------------------------------------------
for sa, sb in [
    ((5,), (5,)), ((5,), (5, 3)), ((4, 5), (5,)), ((4, 5), (5, 3)),
    ((2, 4, 5), (2, 5, 3)), ((2, 4, 5), (5, 3)), ((4, 5), (2, 5, 3)), ((5,), (2, 5, 3)),
    ((2, 4, 5), (5,)),
    ((2, 1, 4, 5), (3, 5, 2)), ((1, 4, 5), (3, 5, 2)),  # broadcast batch dims
    ((7, 9), (9, 5)), ((64, 99), (99, 7)),  # odd sizes
    ((0, 5), (5, 3)), ((4, 0), (0, 3)), ((0,), (0,)), ((2, 0, 5), (5, 3)),  # zero-size
    ((0, 0), (0,)), ((2, 3, 0), (0, 4)), ((2, 0, 0), (1, 0, 3)),
]:
    case("matmul", lambda ns, a, b: a @ b, [sa, sb])
case("matmul", lambda ns, a, b: ns.lib.matmul(a, b.T), [(3, 4), (5, 4)], label="fnT")
case("matmul", lambda ns, a: a @ a, [(4, 4)], label="same")
# mm and bmm: the recorded primitives behind matmul, also exposed by name.
case("mm", lambda ns, a, b: ns.lib.mm(a, b), [(4, 5), (5, 3)])
case("mm", lambda ns, a, b: a.mm(b), [(7, 9), (9, 0)], label="zero")
case("bmm", lambda ns, a, b: ns.lib.bmm(a, b), [(2, 4, 5), (2, 5, 3)])
case("bmm", lambda ns, a, b: a.bmm(b), [(3, 1, 7), (3, 7, 2)], label="row")

# linear: x·Wᵀ + b as one fused entry (1-D, 2-D and N-D inputs, with and without bias).
for sx, sw in [((4, 5), (3, 5)), ((5,), (3, 5)), ((2, 4, 5), (3, 5)), ((7, 9), (5, 9)),
               ((0, 5), (3, 5)), ((4, 0), (3, 0)), ((4, 5), (0, 5))]:
    case("linear", lambda ns, x, w, b: ns.linear(x, w, b), [sx, sw, sw[:1]])
    case("linear", lambda ns, x, w: ns.linear(x, w), [sx, sw], label="nobias")
case("linear", lambda ns, x, w, b: ns.linear(x, w, b), [(3, 4), (2, 4), ()], label="bias0d")
case("linear", lambda ns, x: ns.linear(x, x, x[0]), [(4, 4)], label="same")

# ----- shapes ----------------------------------------------------------------------------------
case("reshape", lambda ns, x: x.reshape(6, 4) * 2, [(2, 3, 4)])
case("reshape", lambda ns, x: x.reshape(-1), [(2, 3, 4)], label="flat")
case("reshape", lambda ns, x: x.reshape(4, -1).exp(), [(2, 3, 4)], label="infer")
case("reshape", lambda ns, x: x.reshape(()), [(1,)], label="0d")
case("reshape", lambda ns, x: x.reshape(3, 0), [(0, 3)], label="zero")
case("view", lambda ns, x: x.view(3, 8).sin(), [(2, 3, 4)])
case("view", lambda ns, x: x.view(-1, 2), [(7, 2)], label="infer")
case("flatten", lambda ns, x: x.flatten(), [(2, 3, 4)])
case("flatten", lambda ns, x: x.flatten(1), [(2, 3, 4)], label="start")
case("flatten", lambda ns, x: ns.lib.flatten(x), [()], label="0d")
case("transpose", lambda ns, x: x.transpose(0, 2).exp(), [(2, 3, 4)])
case("transpose", lambda ns, x: x.transpose(-1, -2) * ns.const(np.arange(3.0)), [(3, 4)],
     label="neg")
case("permute", lambda ns, x: x.permute(2, 0, 1) * ns.const(np.arange(3.0)), [(2, 3, 4)])
case("permute", lambda ns, x: x.permute(1, 0).sin(), [(45, 65)], label="odd")
case("T", lambda ns, x: x.T * ns.const(np.arange(3.0)), [(3, 4)])
case("T", lambda ns, x: x.T.sum(0), [(0, 4)], label="zero")
case("squeeze", lambda ns, x: x.squeeze(), [(1, 3, 1, 4)])
case("squeeze", lambda ns, x: x.squeeze(0), [(1, 3, 1, 4)], label="d0")
case("squeeze", lambda ns, x: x.squeeze(2), [(1, 3, 1, 4)], label="d2")
case("squeeze", lambda ns, x: x.squeeze(1), [(3, 4)], label="noop")
case("unsqueeze", lambda ns, x: x.unsqueeze(0), [(3, 4)])
case("unsqueeze", lambda ns, x: x.unsqueeze(-1) * ns.const(np.arange(2.0)), [(3, 4)], label="neg")
case("unsqueeze", lambda ns, x: x.unsqueeze(0), [()], label="0d")
case("expand", lambda ns, x: x.expand(3, 4) * ns.const(np.arange(12.0).reshape(3, 4)), [(1, 4)])
case("expand", lambda ns, x: x.expand(2, 3, 5).sin(), [(3, 1)], label="prepend")
case("expand", lambda ns, x: x.expand(-1, 4), [(3, 1)], label="keep")
case("expand", lambda ns, x: x.expand(2, 3), [()], label="0d")
case("expand", lambda ns, x: x.expand(0, 4), [(1, 4)], label="zero")
case("view_as", lambda ns, a, b: a.view_as(b) * b, [(2, 6), (3, 4)])
case("reshape_as", lambda ns, a, b: a.reshape_as(b).exp() + b, [(12,), (4, 3)])
case("expand_as", lambda ns, a, b: a.expand_as(b) * b, [(1, 4), (3, 4)])
case("expand_as", lambda ns, a, b: a.expand_as(b) + b, [(), (2, 3)], label="0d")
case("clone", lambda ns, x: x.clone() * 2, [(3, 4)])
case("clone", lambda ns, x: ns.lib.clone(x), [()], label="fn")
case("cat", lambda ns, a, b: ns.lib.cat([a, b]), [(2, 3), (4, 3)])
case("cat", lambda ns, a, b: ns.lib.cat([a, b], dim=1).sin(), [(2, 3), (2, 5)], label="d1")
case("cat", lambda ns, a, b, c: ns.lib.cat([a, b, a, c], -1), [(7,), (0,), (2,)], label="three")
case("cat", lambda ns, a, b: ns.lib.cat([a, b], 0), [(0, 3), (2, 3)], label="zero")
case("stack", lambda ns, a, b: ns.lib.stack([a, b]), [(2, 3), (2, 3)])
case("stack", lambda ns, a, b, c: ns.lib.stack([a, b, c], dim=1).exp(), [(2, 3)] * 3, label="d1")
case("stack", lambda ns, a, b: ns.lib.stack([a, b, a]), [(), ()], label="0d")
case("stack", lambda ns, a, b: ns.lib.stack([a, b], -1), [(0, 2), (0, 2)], label="zero")

# ----- indexing --------------------------------------------------------------------------------
X3 = (4, 5, 6)
case("index_int", lambda ns, x: x[1], [X3])
case("index_int", lambda ns, x: x[-1, 2], [X3], label="neg")
case("index_int", lambda ns, x: x[3], [(7,)], label="0d")
case("index_int", lambda ns, x: x[1, 2, 3], [X3], label="all")
case("index_slice", lambda ns, x: x[1:3], [X3])
case("index_slice", lambda ns, x: x[::2, 1:4:2], [X3], label="step")
case("index_slice", lambda ns, x: x[-3:-1, :, -2:], [X3], label="negbounds")
case("index_slice", lambda ns, x: x[:, 3:1], [X3], label="empty")
case("index_slice", lambda ns, x: x[1:100], [(7,)], label="clip")
case("index_slice", lambda ns, x: x[::-1], [(7,)], label="negstep", torch=False)
case("index_slice", lambda ns, x: x[:, ::-2, 1], [X3], label="negstep2", torch=False)
case("index_none", lambda ns, x: x[None], [(3, 4)])
case("index_none", lambda ns, x: x[:, None, 2], [X3], label="mid")
case("index_none", lambda ns, x: x[None, None], [()], label="0d")
case("index_ellipsis", lambda ns, x: x[..., 1], [X3])
case("index_ellipsis", lambda ns, x: x[1, ..., None], [X3], label="none")
case("index_ellipsis", lambda ns, x: x[...], [()], label="0d")


def _gather(idx, *more):
    def f(ns, x):
        keys = tuple(ns.const(np.asarray(i, dtype=np.int64)) if isinstance(i, list) else i
                     for i in (idx, *more))
        return x[keys if len(keys) > 1 else keys[0]]

    return f


case("index_gather", _gather([0, 1, 2, 3], [1, 0, 4, 2]), [(4, 5)], label="p[arange,y]")
case("index_gather", _gather([0, 0, 2, -1]), [(4, 5)], label="repeat")
case("index_gather", _gather([[0, 2], [1, 1]]), [(3, 4)], label="2d")
case("index_gather", _gather(slice(None), [2, 0, 2]), [(3, 4)], label="cols")
case("index_gather", _gather([0, 1], slice(None), [1, 3]), [X3], label="split")
case("index_gather", _gather(slice(None), [1, 3], [0, 5]), [X3], label="adjacent")
case("index_gather", _gather([]), [(3, 4)], label="empty")
case("index_gather", _gather([0, 2, 4, 6, 1]), [(7,)], label="vec")


def _masked(mask_shape):
    mask = np.random.default_rng(3).random(mask_shape) > 0.4

    def f(ns, x):
        return x[ns.const(mask)]

    return f


case("index_mask", _masked((3, 4)), [(3, 4)])
case("index_mask", _masked((4,)), [(4, 5)], label="rows")
case("index_mask", _masked((4, 5)), [X3], label="partial")
case("index_mask", lambda ns, x: x[x > 0], [(7,)], label="data")
case("index_mask", lambda ns, x: x[:, ns.const(np.array([True, False, True, True]))], [(3, 4)],
     label="cols")
case("index_mask", lambda ns, x: x[ns.const(np.zeros(7, bool))], [(7,)], label="none")


def _setitem(assign):
    def f(ns, x, v):
        y = x * 1.0  # a non-leaf copy we may write into
        assign(ns, y, v)
        return y

    return f


case("setitem", _setitem(lambda ns, y, v: y.__setitem__(1, v)), [(3, 4), (4,)], label="row")
case("setitem",
     _setitem(lambda ns, y, v: y.__setitem__((slice(None), slice(None, None, 2)), v * 2)),
     [(3, 4), (3, 2)], label="slice")
case("setitem", _setitem(lambda ns, y, v: y.__setitem__((slice(None), 1), v)),
     [(3, 4), ()], label="bcast")
case("setitem",
     _setitem(lambda ns, y, v: y.__setitem__(ns.const(np.array([True, False, True])), v)),
     [(3, 4), (4,)], label="mask")
case("setitem", _setitem(lambda ns, y, v: y.__setitem__(ns.const(np.array([2, 0])), v.exp())),
     [(3, 4), (2, 4)], label="gather")
case("setitem", _setitem(lambda ns, y, v: y.__setitem__((0, 0), v)), [(7, 1), ()], label="elem")



def _inplace(op):
    def f(ns, x, w):
        y = x * 1.0  # a non-leaf we may modify
        getattr(y, op)(w)
        return y.exp() if op == "__imul__" else y

    return f


# In-place arithmetic on non-leaves (history rebased onto the result, Note [in-place ops]).
for op in ["__iadd__", "__isub__", "__imul__", "__itruediv__"]:
    case("inplace", _inplace(op), [(3, 4), (4,)], ("real", "nonzero"), label=op.strip("_"))
case("inplace", _inplace("__imul__"), [(), ()], label="imul")

# ----- losses ----------------------------------------------------------------------------------
for red in ["none", "mean", "sum"]:
    case("mse_loss", lambda ns, a, b, _r=red: ns.mse_loss(a, b, reduction=_r), [(7,), (7,)],
         label=red)
    case("mse_loss", lambda ns, a, b, _r=red: ns.mse_loss(a, b, reduction=_r), [(3, 4), (3, 4)],
         label=red)
case("mse_loss", lambda ns, a, b: ns.mse_loss(a, b), [(), ()], label="0d")
case("mse_loss", lambda ns, a: ns.mse_loss(a, a.detach() * 0 + 1), [(8,)], label="const")
case("mse_loss", lambda ns, a, b: ns.mse_loss(a, b, reduction="sum"), [(0, 3), (0, 3)],
     label="zero")

_Y4 = [1, 0, 4, 2]
for red in ["none", "mean", "sum"]:
    case("cross_entropy",
         lambda ns, x, _r=red: ns.cross_entropy(x, ns.const(np.array(_Y4)), reduction=_r),
         [(4, 5)], label=red)
case("cross_entropy", lambda ns, x: ns.cross_entropy(x * 30, ns.const(np.array(_Y4))),
     [(4, 5)], label="big")
case("cross_entropy", lambda ns, x: ns.cross_entropy(x, ns.const(np.array([2]))), [(1, 3)],
     label="one")
case("cross_entropy",
     lambda ns, x: ns.cross_entropy(x, ns.const(np.arange(45) % 65), reduction="sum"),
     [(45, 65)], label="odd")
case("cross_entropy",
     lambda ns, x: ns.cross_entropy(x, ns.const(np.zeros(0, np.int64)), reduction="sum"),
     [(0, 5)], label="zero")

_T7 = np.random.default_rng(11).random(7)
_T34 = np.random.default_rng(12).random((3, 4))
for red in ["none", "mean", "sum"]:
    case("bce_with_logits",
         lambda ns, x, _r=red: ns.bce_with_logits(x, ns.const(_T7), reduction=_r),
         [(7,)], label=red)
    case("bce_with_logits",
         lambda ns, x, _r=red: ns.bce_with_logits(x * 20, ns.const(_T34), reduction=_r),
         [(3, 4)], label=red)
case("bce_with_logits", lambda ns, x, t: ns.bce_with_logits(x, t.sigmoid()), [(7,), (7,)],
     label="target-grad")

# torch.nn.functional's other losses (one or two rows each; tests/test_losses.py sweeps every
# loss × reduction × option against PyTorch)
_W5 = np.random.default_rng(13).uniform(0.5, 2.0, 5)
_YI = [1, -100, 4, 1]  # one ignored target
for red in ["none", "mean", "sum"]:
    case("nll_loss", lambda ns, x, _r=red: ns.F.nll_loss(x.log_softmax(1), ns.const(np.array(_Y4)),
                                                         reduction=_r), [(4, 5)], label=red)
    case("l1_loss", lambda ns, a, b, _r=red: ns.F.l1_loss(a, b, reduction=_r), [(3, 4), (3, 4)],
         label=red)
    case("smooth_l1_loss", lambda ns, a, b, _r=red: ns.F.smooth_l1_loss(a, b, reduction=_r, beta=0.7),
         [(3, 4), (3, 4)], label=red)
    case("huber_loss", lambda ns, a, b, _r=red: ns.F.huber_loss(a, b, reduction=_r, delta=0.7),
         [(3, 4), (3, 4)], label=red)
    case("binary_cross_entropy",
         lambda ns, x, t, _r=red: ns.F.binary_cross_entropy(x.sigmoid(), t.sigmoid(), reduction=_r),
         [(3, 4), (3, 4)], label=red)
for red in ["none", "batchmean", "sum"]:  # 'mean' warns (as PyTorch): tests/test_losses.py
    case("kl_div", lambda ns, x, t, _r=red: ns.F.kl_div(x.log_softmax(1), t.softmax(1),
                                                        reduction=_r),
         [(3, 4), (3, 4)], label=red)
case("nll_loss", lambda ns, x: ns.F.nll_loss(x, ns.const(np.array(_YI)),
                                             weight=ns.const(_W5).to(x.dtype)),
     [(4, 5)], label="weight-ignore")
case("kl_div", lambda ns, x, t: ns.F.kl_div(x, t, reduction="batchmean", log_target=True),
     [(3, 4), (3, 4)], label="log_target")
case("cross_entropy", lambda ns, x: ns.F.cross_entropy(x, ns.const(np.array(_YI)),
                                                       weight=ns.const(_W5).to(x.dtype),
                                                       label_smoothing=0.2),
     [(4, 5)], label="options")
case("cross_entropy", lambda ns, x, t: ns.F.cross_entropy(x, t.softmax(1)), [(4, 5), (4, 5)],
     label="probs")
case("bce_with_logits", lambda ns, x: ns.bce_with_logits(x, ns.const(_T34), weight=ns.const(_T34[0]),
                                                         pos_weight=ns.const(_T34[:, 0:1] + 1)),
     [(3, 4)], label="weights")

# ----- casts -----------------------------------------------------------------------------------
# Through float32 the finite differences need a larger step (float32 rounding is ~1e-7).
_F32_CHECK = {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-3}
case("to", lambda ns, x: (x.to(ns.float32) * 3).to(ns.float64), [(7,)], gradcheck=_F32_CHECK)
case("to", lambda ns, x: x.float().exp().double(), [(3, 4)], label="methods", gradcheck=_F32_CHECK)
case("to", lambda ns, x: x.to(ns.float64) * 2, [(3, 4)], label="same")
case("to", lambda ns, x: x.double().sum(), [(0, 2)], label="zero")

# ----- pooling (ops/pool.cpp) --------------------------------------------------------------------
# Max pooling on distinct values (no ties within gradcheck's eps); odd sizes, stride, padding,
# dilation, ceil_mode, unbatched and zero-size batches. tests/test_pool.py has the wider sweep.
case("max_pool2d", lambda ns, x: ns.F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 9)],
     "distinct", label="s2p1ceil")
case("max_pool2d", lambda ns, x: ns.F.max_pool2d(x, 2, return_indices=True), [(1, 2, 5, 5)],
     "distinct", label="indices")
case("max_pool2d", lambda ns, x: ns.F.max_pool2d(x, (3, 2), 1, (1, 0), dilation=(2, 1)),
     [(3, 6, 6)], "distinct", label="dilated-unbatched")
case("max_pool2d", lambda ns, x: ns.F.max_pool2d(x, 2), [(0, 2, 5, 5)], label="zero")
case("avg_pool2d", lambda ns, x: ns.F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                 count_include_pad=False),
     [(2, 3, 7, 9)], label="s2p1ceil-nopad")
case("avg_pool2d", lambda ns, x: ns.F.avg_pool2d(x, (2, 3), padding=(1, 1), divisor_override=5),
     [(1, 2, 5, 6)], label="divisor")
case("avg_pool2d", lambda ns, x: ns.F.avg_pool2d(x, 2, 1), [(3, 5, 5)], label="unbatched")
case("avg_pool2d", lambda ns, x: ns.F.avg_pool2d(x, 2), [(0, 2, 4, 4)], label="zero")
case("adaptive_avg_pool2d", lambda ns, x: ns.F.adaptive_avg_pool2d(x, (3, 4)), [(2, 3, 7, 9)])
case("adaptive_avg_pool2d", lambda ns, x: ns.F.adaptive_avg_pool2d(x, (None, 2)), [(2, 5, 5)],
     label="none")
case("adaptive_max_pool2d", lambda ns, x: ns.F.adaptive_max_pool2d(x, (3, 4)), [(2, 2, 7, 9)],
     "distinct")
case("adaptive_max_pool2d", lambda ns, x: ns.F.adaptive_max_pool2d(x, 2, return_indices=True),
     [(3, 5, 4)], "distinct", label="indices")
case("max_pool1d", lambda ns, x: ns.F.max_pool1d(x, 3, 2, 1), [(2, 3, 11)], "distinct")
case("avg_pool1d", lambda ns, x: ns.F.avg_pool1d(x, 4, 3, 2, ceil_mode=True), [(2, 3, 11)])
case("adaptive_avg_pool1d", lambda ns, x: ns.F.adaptive_avg_pool1d(x, 4), [(3, 10)])
case("adaptive_max_pool1d", lambda ns, x: ns.F.adaptive_max_pool1d(x, 4), [(2, 3, 10)],
     "distinct")
# ----- normalization, dropout, embeddings (cpp/src/ops/norm.cpp) ------------------------------
def _batch_norm(training, weight=True, bias=True, stats=True):
    def f(ns, x, *params):
        c = x.shape[1]
        rng = np.random.default_rng(5)
        rm = ns.const(rng.standard_normal(c)) if stats else None
        rv = ns.const(rng.uniform(0.5, 2.0, c)) if stats else None
        it = iter(params)
        w = next(it) if weight else None
        b = next(it) if bias else None
        return ns.F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)

    return f


for sx in [(4, 3), (5, 3, 7), (2, 3, 4, 5), (3, 2, 1)]:
    c = sx[1]
    case("batch_norm", _batch_norm(True), [sx, (c,), (c,)], label="train")
    case("batch_norm", _batch_norm(False), [sx, (c,), (c,)], label="eval")
case("batch_norm", _batch_norm(True, stats=False), [(7, 5, 9), (5,), (5,)], label="train-odd")
case("batch_norm", _batch_norm(True, weight=False, bias=False, stats=False), [(6, 4)],
     label="plain")
case("batch_norm", _batch_norm(True, bias=False), [(3, 2, 5), (2,)], label="nobias")
case("batch_norm", _batch_norm(False, weight=False), [(3, 2, 5), (2,)], label="eval-bias")
case("batch_norm", _batch_norm(False), [(0, 3, 2), (3,), (3,)], label="eval-zero")
case("batch_norm", lambda ns, x, w: ns.F.batch_norm(x * x, None, None, w, None, training=True),
     [(4, 3), (3,)], label="composed")

for sx, ns_ in [((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((7,), (7,)), ((45, 65), (65,))]:
    case("layer_norm", lambda ns, x, w, b, _s=ns_: ns.F.layer_norm(x, _s, w, b), [sx, ns_, ns_])
case("layer_norm", lambda ns, x: ns.F.layer_norm(x, (9,), eps=1e-2), [(5, 9)], label="plain")
case("layer_norm", lambda ns, x, w: ns.F.layer_norm(x, [3], w), [(4, 3), (3,)], label="nobias")
case("layer_norm", lambda ns, x, w, b: ns.F.layer_norm(x, (4,), w, b), [(0, 4), (4,), (4,)],
     label="zero")


def _seeded_dropout(p, kind="dropout"):
    def f(ns, x):
        if ns.name == "tapegrad":  # the same mask on every evaluation of gradcheck
            ns.lib.manual_seed(7)
        return getattr(ns.F, kind)(x, p, training=True)

    return f


for s in [(7,), (3, 4), (0, 5)]:
    case("dropout", lambda ns, x: ns.F.dropout(x, 0.0), [s], label="p0")
    case("dropout", lambda ns, x: ns.F.dropout(x, 0.5, training=False) * 2, [s], label="eval")
    case("dropout", _seeded_dropout(0.4), [s], label="seeded", torch=False)
case("dropout", lambda ns, x: ns.F.dropout(x * 1, 1.0), [(3, 4)], label="p1")
case("dropout", _seeded_dropout(0.3), [(45, 65)], label="odd", torch=False)
case("dropout", _seeded_dropout(0.5, "dropout1d"), [(2, 3, 4)], label="1d", torch=False)
case("dropout", _seeded_dropout(0.5, "dropout2d"), [(2, 3, 2, 2)], label="2d", torch=False)


def _embedding(idx, padding_idx=None):
    def f(ns, w):
        if padding_idx is not None:
            # The padding row gets no gradient by definition (the forward still reads it):
            # hold it at zero, as nn.Embedding does, so finite differences agree.
            keep = np.ones((w.shape[0], 1))
            keep[padding_idx] = 0.0
            w = w * ns.const(keep)
        return ns.F.embedding(ns.const(np.asarray(idx, dtype=np.int64)), w,
                              padding_idx=padding_idx)

    return f


case("embedding", _embedding([[0, 2, 2], [4, 0, 1]]), [(5, 3)])
case("embedding", _embedding([[0, 2, 2], [4, 0, 2]], padding_idx=2), [(5, 3)], label="pad")
case("embedding", _embedding([3, 3, 1, 3], padding_idx=-2), [(4, 2)], label="negpad")
case("embedding", _embedding(1), [(4, 2)], label="0d")
case("embedding", _embedding(np.zeros((2, 0))), [(4, 2)], label="empty")
case("embedding", _embedding(np.arange(60) % 45), [(45, 65)], label="odd")
case("embedding", lambda ns, w: ns.F.embedding(ns.const(np.array([1, 0, 1])), w * w),
     [(2, 3)], label="composed")

# ----- convolution and padding (torch.nn.functional's) -------------------------------------
# Small geometries; the full shape matrix (odd sizes, all stride/padding/dilation/groups
# combinations, float32) is swept in test_conv.py.
case("conv2d", lambda ns, x, w, b: ns.F.conv2d(x, w, b), [(2, 3, 5, 4), (4, 3, 3, 2), (4,)])
case("conv2d", lambda ns, x, w, b: ns.F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2),
                                               dilation=(2, 1), groups=2),
     [(2, 4, 6, 5), (6, 2, 2, 3), (6,)], label="strided-groups")
def _same_conv(ns, x, w):
    # PyTorch warns that an even kernel with padding='same' pads a copy of the input.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ns.F.conv2d(x, w, padding="same")


case("conv2d", _same_conv, [(1, 2, 5, 6), (3, 2, 2, 4)], label="same-even")
case("conv2d", lambda ns, x, w: ns.F.conv2d(x, w, padding=1, groups=3),
     [(2, 3, 5, 5), (3, 1, 3, 3)], label="depthwise")
case("conv2d", lambda ns, x, w, b: ns.F.conv2d(x, w, b), [(2, 3, 4, 5), (4, 3, 1, 1), (4,)],
     label="1x1")
case("conv2d", lambda ns, x, w, b: ns.F.conv2d(x, w, b), [(0, 2, 4, 4), (3, 2, 3, 3), (3,)],
     label="zero-batch")
case("conv2d", lambda ns, x, w: ns.F.conv2d(x, w, padding="valid", stride=2),
     [(2, 7, 6), (2, 2, 3, 3)], label="unbatched")
case("conv1d", lambda ns, x, w, b: ns.F.conv1d(x, w, b, stride=2, padding=1),
     [(2, 3, 7), (4, 3, 3), (4,)])
case("conv1d", lambda ns, x, w: ns.F.conv1d(x, w, padding="same", dilation=2),
     [(3, 9), (2, 3, 2)], label="same-unbatched")
case("pad", lambda ns, x: ns.F.pad(x, (1, 2, -1, 1), value=0.5), [(2, 3, 4)], label="constant")
case("pad", lambda ns, x: ns.F.pad(x, (0, 1, 1, 0, 2, 1)), [(2, 3, 4)], label="3dims")
case("pad", lambda ns, x: ns.F.pad(x, (2, 1), mode="reflect"), [(2, 3, 5)], label="reflect")
case("pad", lambda ns, x: ns.F.pad(x, (1, 2, 2, 0), mode="replicate"), [(1, 2, 3, 4)],
     label="replicate")
case("pad", lambda ns, x: ns.F.pad(x, (2, 1, 1, 3), mode="circular"), [(1, 2, 3, 4)],
     label="circular")

# ----- sorting and selection by value, einsum, linalg norms -------------------------------------
# Distinct values, so the indices are PyTorch's too (ties: tests/test_sorting.py).
for s, d in [((), 0), ((7,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1), ((0,), 0), ((2, 0), 1)]:
    case("sort", lambda ns, x, _d=d: tuple(x.sort(_d)), [s], "distinct", label=f"d{d}")
case("sort", lambda ns, x: tuple(ns.lib.sort(x, dim=-1, descending=True, stable=True)),
     [(2, 3, 4)], "distinct", label="desc")
case("sort", lambda ns, x: ns.lib.sort(x, 0).values * x, [(7,)], "distinct", label="reuse")
case("msort", lambda ns, x: ns.lib.msort(x), [(3, 4)], "distinct")
case("msort", lambda ns, x: x.msort(), [(7,)], "distinct")
for s, k, kw in [((7,), 3, {}), ((3, 4), 2, {"dim": 0}), ((2, 3, 4), 2, {"dim": 1, "largest": False}),
                 ((0,), 0, {}), ((3, 4), 4, {"largest": False, "sorted": True}), ((), 1, {})]:
    case("topk", lambda ns, x, _k=k, _kw=kw: tuple(x.topk(_k, **_kw)), [s], "distinct",
         label=f"k{k}" + "".join(f"-{a}{int(v)}" for a, v in kw.items()))
case("topk", lambda ns, x: ns.lib.topk(x, 2).values, [(45, 65)], "distinct", label="odd")
for s, k, kw in [((7,), 3, {}), ((3, 4), 2, {"dim": 0, "keepdim": True}), ((2, 3, 4), 4, {}),
                 ((2, 3, 4), 1, {"dim": 1}), ((), 1, {})]:
    case("kthvalue", lambda ns, x, _k=k, _kw=kw: tuple(ns.lib.kthvalue(x, _k, **_kw)), [s],
         "distinct", label=f"k{k}" + "".join(f"-{a}{int(v)}" for a, v in kw.items()))
for eq, shapes in [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]), ("ii->", [(4, 4)]), ("ii->i", [(3, 3)]), ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(7,), (7,)]), ("ijk->j", [(2, 3, 4)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("...ij->...ji", [(2, 3, 4)]), ("bij,jk", [(2, 3, 4), (4, 5)]), ("ij,ij->ij", [(2, 3), (1, 3)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]), ("iij->j", [(3, 3, 2)]), ("ij,j->i", [(45, 65), (65,)]),
]:
    case("einsum", lambda ns, *xs, _eq=eq: ns.lib.einsum(_eq, *xs), shapes,
         label=eq.replace("->", "_").replace(",", "-").replace("...", "E"))
for s, kw in [((7,), {}), ((3, 4), {"dim": 1}), ((2, 3, 4), {"dim": (0, 2), "keepdim": True}),
              ((3, 4), {"ord": 1}), ((7,), {"ord": float("inf")}), ((3, 4), {"ord": 3, "dim": 0}),
              ((3, 4), {"ord": float("inf")}), ((2, 3, 4), {"ord": 1, "dim": (2, 1)}),
              ((3, 4), {"ord": -float("inf"), "dim": (0, 1), "keepdim": True}),
              ((0, 3), {"dim": 1})]:
    # Random normal values: no ties among the |x| sums that the matrix 1/inf norms compare.
    case("linalg.norm", lambda ns, x, _kw=kw: ns.lib.linalg.norm(x, **_kw), [s], "nonzero",
         label="-".join(f"{a}{v}" for a, v in kw.items()))
for s, kw in [((3, 4), {"ord": -float("inf")}), ((2, 3, 4), {"ord": 0.5, "dim": -1}),
              ((7,), {"ord": 1})]:
    case("linalg.vector_norm", lambda ns, x, _kw=kw: ns.lib.linalg.vector_norm(x, **_kw), [s],
         "nonzero", label="-".join(f"{a}{v}" for a, v in kw.items()))
case("linalg.matrix_norm", lambda ns, x: ns.lib.linalg.matrix_norm(x), [(2, 3, 4)])

# ----- repeat/tile, repeat_interleave, swapaxes/swapdims, gather/scatter, prod/cumprod, alpha --
for s_, reps in [((2, 3), (2, 1)), ((2, 3), (1, 2, 3)), ((), (3,)), ((7,), (2,)), ((2, 3), (0, 2)),
                 ((0, 3), (2, 1))]:
    case("repeat", lambda ns, x, _r=reps: x.repeat(*_r), [s_], label="x".join(map(str, reps)))
case("tile", lambda ns, x: ns.lib.tile(x, (2,)), [(2, 3)])
case("tile", lambda ns, x: x.tile(2, 1, 2), [(3, 4)], label="more")
case("tile", lambda ns, x: x.tile((0,)), [(7,)], label="zero")
_RI = np.array([2, 0, 1, 3])
case("repeat_interleave", lambda ns, x: ns.lib.repeat_interleave(x, 2), [(2, 3)])
case("repeat_interleave", lambda ns, x: x.repeat_interleave(3, dim=1), [(2, 3)], label="dim")
# A tensor of counts: the result's shape depends on its values (repeat_interleave_counts: a
# data-dependent shape to tapegrad.compile, as nonzero).
case("repeat_interleave_counts", lambda ns, x: x.repeat_interleave(ns.const(_RI), 0), [(4, 3)])
case("repeat_interleave_counts", lambda ns, x: ns.lib.repeat_interleave(
    x, ns.const(_RI), dim=-1, output_size=6), [(2, 4)], label="size")
case("repeat_interleave_counts", lambda ns, x: x.repeat_interleave(ns.const(np.array([2])), 0),
     [(7,)], label="one")
case("repeat_interleave", lambda ns, x: x.repeat_interleave(2), [()], label="0d")
case("repeat_interleave", lambda ns, x: x.repeat_interleave(2, 0), [(0, 3)], label="empty")
case("swapaxes", lambda ns, x: ns.lib.swapaxes(x, 0, 2).sin(), [(2, 3, 4)])
case("swapaxes", lambda ns, x: x.swapaxes(-1, 0) * ns.const(np.arange(3.0)), [(3, 4)],
     label="method")
case("swapdims", lambda ns, x: ns.lib.swapdims(x, 1, 0) * ns.const(np.arange(3.0)), [(3, 4)])
case("swapdims", lambda ns, x: x.swapdims(dim0=2, dim1=1).exp(), [(2, 3, 4)], label="method")

_RNG = np.random.default_rng(21)
_G34 = _RNG.integers(0, 4, (3, 4))          # column indices into (3, 4), repeats allowed
_G25 = _RNG.integers(0, 3, (2, 5))          # row indices into (3, 5)
_G234 = _RNG.integers(0, 3, (2, 3, 2))      # dim 1 of (2, 3, 4), index narrower outside dim
# scatter: distinct positions (a repeated position keeps one write: its finite difference and
# PyTorch's gradient, a gather, disagree by definition)
_S24 = np.stack([_RNG.permutation(3)[:2] for _ in range(4)], 1)  # (2, 4): rows of (3, 4)
_S32 = np.stack([_RNG.permutation(5)[:2] for _ in range(3)])     # (3, 2): columns of (3, 5)


def _idx(a):
    return lambda ns: ns.const(np.asarray(a, dtype=np.int64))


case("gather", lambda ns, x: ns.lib.gather(x, 1, _idx(_G34)(ns)), [(3, 4)])
case("gather", lambda ns, x: x.gather(0, _idx(_G25)(ns)), [(3, 5)], label="d0")
case("gather", lambda ns, x: x.gather(-2, index=_idx(_G234)(ns)), [(2, 3, 4)], label="narrow")
case("gather", lambda ns, x: x.gather(1, _idx(np.arange(45 * 64) % 65)(ns).reshape(45, 64)),
     [(45, 65)], label="odd")
case("gather", lambda ns, x: x.gather(0, _idx(2)(ns)), [(7,)], label="0d-index")
case("gather", lambda ns, x: x.gather(0, _idx([0, 0])(ns)), [()], label="0d")
case("gather", lambda ns, x: x.gather(1, _idx(np.zeros((2, 0)))(ns)), [(3, 4)], label="empty")
case("scatter", lambda ns, x, s: ns.lib.scatter(x, 0, _idx(_S24)(ns), s), [(3, 4), (2, 4)])
# A src larger than index: PyTorch's forward reads its leading block, but its backward returns
# a gradient of index's shape and fails ("invalid gradient"); tapegrad's is src's shape (zeros
# outside the block), checked by gradcheck only.
case("scatter", lambda ns, x, s: x.scatter(1, _idx(_S32)(ns), src=s), [(3, 5), (4, 3)],
     label="wide-src", torch=False)
case("scatter", lambda ns, x: x.scatter(1, _idx(_S32)(ns), 2.5), [(3, 5)], label="value")
case("scatter", lambda ns, x: ns.lib.scatter(x, 1, _idx(_S32)(ns), value=-1.0), [(3, 5)],
     label="value-kw")
case("scatter", lambda ns, x, s: (x * 1).scatter_(0, _idx(_S24)(ns), s), [(3, 4), (2, 4)],
     label="inplace")
case("scatter_add", lambda ns, x, s: ns.lib.scatter_add(x, 1, _idx(_G34)(ns), s),
     [(3, 4), (3, 4)])
case("scatter_add", lambda ns, x, s: x.scatter_add(0, _idx(_G25)(ns), s), [(3, 5), (4, 6)],
     label="wide-src", torch=False)
case("scatter_add", lambda ns, x, s: (x * 1).scatter_add_(1, _idx(_G34)(ns), s),
     [(3, 4), (3, 4)], label="inplace")
case("scatter_add", lambda ns, x, s: x.scatter_add(0, _idx(np.zeros((0, 3)))(ns), s),
     [(2, 3), (1, 3)], label="empty")
for s_ in [(), (7,), (3, 4), (2, 3, 4), (0,)]:
    case("prod", lambda ns, x: ns.lib.prod(x), [s_])
    case("prod", lambda ns, x: x.prod(), [s_], "zeros", label="zeros")
for d in [0, 1, -1]:
    case("prod", lambda ns, x, _d=d: x.prod(_d), [(3, 4)], "zeros", label=f"zeros-d{d}")
    case("cumprod", lambda ns, x, _d=d: x.cumprod(_d), [(3, 4)], "zeros", label=f"zeros-d{d}")
    case("cumprod", lambda ns, x, _d=d: ns.lib.cumprod(x, _d), [(3, 5)], label=f"d{d}")
case("prod", lambda ns, x: ns.lib.prod(x, 1, keepdim=True), [(2, 5, 3)], label="keep")
case("prod", lambda ns, x: x.prod(0), [(45, 5)], label="odd")
case("prod", lambda ns, x: x.prod(1), [(2, 0, 3)], label="empty-dim")
case("cumprod", lambda ns, x: x.cumprod(0), [(7,)])
case("cumprod", lambda ns, x: x.cumprod(0), [(19,)], "zeros", label="zeros-long")
case("cumprod", lambda ns, x: x.cumprod(-1), [(45, 11)], label="odd")
case("cumprod", lambda ns, x: x.cumprod(0), [()], label="0d")
case("cumprod", lambda ns, x: x.cumprod(1), [(2, 0)], label="zero")
for sa, sb in [((3, 4), (3, 4)), ((1, 5), (4, 1)), ((3, 4), ()), ((0, 3), (3,))]:
    case("add", lambda ns, a, b: ns.lib.add(a, b, alpha=2.5), [sa, sb], label="alpha")
    case("sub", lambda ns, a, b: a.sub(b, alpha=-0.5), [sa, sb], label="alpha")
case("add", lambda ns, a: ns.lib.add(a, 3, alpha=2), [(7,)], label="alpha-scalar")
case("inplace", lambda ns, a, b: (a * 1).add_(b, alpha=1.5), [(3, 4), (4,)], label="add_alpha")
case("inplace", lambda ns, a, b: (a * 1).sub_(b, alpha=3), [(3, 4), (3, 4)], label="sub_alpha")

IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS), [i for i in IDS if IDS.count(i) > 1]

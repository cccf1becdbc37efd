// Docstrings of the C++-bound functions (help(tg.sum), the API reference): what each does in
// one line and a small example. tests/test_docs.py runs every example as a doctest (with `tg`
// in scope) and fails for an exposed op without one. Included by ops.cpp and module.cpp.
#pragma once

#include <string_view>

namespace tapegrad::bind {

struct OpDoc {
  std::string_view name;
  const char* doc;
};

inline constexpr OpDoc kOpDocs[] = {
    {"add", R"doc(``add(input, other, *, alpha=1)``: elementwise ``input + alpha·other`` with
broadcasting; also ``x + y`` and ``x.add_(y, alpha=1)``. A float ``alpha`` needs a floating
result, a bool one a bool result (RuntimeError otherwise, as PyTorch).

>>> tg.add(tg.tensor([1., 2.]), 10)
tensor([11., 12.])
>>> tg.add(tg.tensor([1., 2.]), tg.tensor([1., 1.]), alpha=0.5)
tensor([1.5000, 2.5000])
)doc"},
    {"sub", R"doc(``sub(input, other, *, alpha=1)``: elementwise ``input - alpha·other`` with
broadcasting; also ``x - y`` and ``x.sub_(y, alpha=1)``.

>>> tg.sub(tg.tensor([1., 2.]), tg.tensor([0.5]))
tensor([0.5000, 1.5000])
>>> tg.tensor([1, 2]).sub(1, alpha=2)
tensor([-1,  0])
)doc"},
    {"mul", R"doc(Elementwise ``input * other`` with broadcasting; also ``x * y``.

>>> tg.mul(tg.tensor([1., 2.]), tg.tensor([[1.], [2.]]))
tensor([[1., 2.],
        [2., 4.]])
)doc"},
    {"div", R"doc(Elementwise true division ``input / other``; integer inputs give float32.

>>> tg.div(tg.tensor([1, 3]), 2)
tensor([0.5000, 1.5000])
)doc"},
    {"pow", R"doc(Elementwise ``input ** other``; either side may be a Python number.

>>> tg.pow(tg.tensor([1., 2., 3.]), 2)
tensor([1., 4., 9.])
)doc"},
    {"maximum", R"doc(Elementwise maximum of two tensors (the gradient goes to the larger; ties split it).

>>> tg.maximum(tg.tensor([1., 5.]), tg.tensor([3., 2.]))
tensor([3., 5.])
)doc"},
    {"minimum", R"doc(Elementwise minimum of two tensors (the gradient goes to the smaller; ties split it).

>>> tg.minimum(tg.tensor([1., 5.]), tg.tensor([3., 2.]))
tensor([1., 2.])
)doc"},
    {"neg", R"doc(``-input``.

>>> tg.neg(tg.tensor([1., -2.]))
tensor([-1.,  2.])
)doc"},
    {"exp", R"doc(Elementwise e**x.

>>> tg.exp(tg.tensor([0., 1.]))
tensor([1.0000, 2.7183])
)doc"},
    {"log", R"doc(Elementwise natural logarithm.

>>> tg.log(tg.tensor([1., 100.]))
tensor([0.0000, 4.6052])
)doc"},
    {"sqrt", R"doc(Elementwise square root.

>>> tg.sqrt(tg.tensor([4., 9.]))
tensor([2., 3.])
)doc"},
    {"abs", R"doc(Elementwise absolute value; also ``abs(x)``.

>>> tg.abs(tg.tensor([-1.5, 2.]))
tensor([1.5000, 2.0000])
)doc"},
    {"relu", R"doc(Elementwise ``max(x, 0)``.

>>> tg.relu(tg.tensor([-1., 2.]))
tensor([0., 2.])
)doc"},
    {"sigmoid", R"doc(Elementwise logistic function 1 / (1 + e**-x).

>>> tg.sigmoid(tg.tensor([0., 2.]))
tensor([0.5000, 0.8808])
)doc"},
    {"tanh", R"doc(Elementwise hyperbolic tangent.

>>> tg.tanh(tg.tensor([0., 1.]))
tensor([0.0000, 0.7616])
)doc"},
    {"sin", R"doc(Elementwise sine.

>>> tg.sin(tg.tensor([0., 1.5708]))
tensor([0., 1.])
)doc"},
    {"cos", R"doc(Elementwise cosine.

>>> tg.cos(tg.tensor([0., 3.1416]))
tensor([ 1., -1.])
)doc"},
    {"where", R"doc(``input`` where ``condition`` is true, else ``other`` (broadcast together).

>>> x = tg.tensor([-1., 2., -3.])
>>> tg.where(x > 0, x, 0.0)
tensor([0., 2., 0.])
)doc"},
    {"clamp", R"doc(Limit values to ``[min, max]`` (either bound may be None); also ``clip``.

>>> tg.clamp(tg.tensor([-2., 0.5, 3.]), min=0, max=1)
tensor([0.0000, 0.5000, 1.0000])
)doc"},
    {"to", R"doc(This tensor converted to ``dtype`` (itself if it already has it).

>>> tg.tensor([1.7, -2.]).to(tg.int64)
tensor([ 1, -2])
)doc"},
    {"clone", R"doc(A copy that stays on the tape (gradients flow back to the original).

>>> x = tg.tensor([1., 2.], requires_grad=True)
>>> tg.clone(x)
tensor([1., 2.], grad_fn=<CloneBackward0>)
)doc"},
    {"sum", R"doc(Sum over ``dim`` (all dims by default); ``keepdim`` keeps reduced dims as size 1.

>>> x = tg.tensor([[1., 2.], [3., 4.]])
>>> tg.sum(x), tg.sum(x, dim=0), x.sum(1, keepdim=True).shape
(tensor(10.), tensor([4., 6.]), tapegrad.Size([2, 1]))
)doc"},
    {"mean", R"doc(Mean over ``dim`` (all dims by default).

>>> tg.mean(tg.tensor([[1., 2.], [3., 4.]]), dim=1)
tensor([1.5000, 3.5000])
)doc"},
    {"max", R"doc(``max(x)``: the largest value; ``max(x, dim)``: ``(values, indices)`` along ``dim``; ``max(x, other)``: ``maximum``.

>>> x = tg.tensor([[1., 5.], [4., 2.]])
>>> tg.max(x)
tensor(5.)
>>> tg.max(x, dim=1).indices
tensor([1, 0])
)doc"},
    {"min", R"doc(``min(x)``: the smallest value; ``min(x, dim)``: ``(values, indices)`` along ``dim``; ``min(x, other)``: ``minimum``.

>>> x = tg.tensor([[1., 5.], [4., 2.]])
>>> tg.min(x)
tensor(1.)
>>> tg.min(x, dim=0).values
tensor([1., 2.])
)doc"},
    {"amax", R"doc(Largest values over one or several dims (the gradient is split among ties).

>>> tg.amax(tg.tensor([[1., 5.], [4., 2.]]), dim=0)
tensor([4., 5.])
)doc"},
    {"amin", R"doc(Smallest values over one or several dims (the gradient is split among ties).

>>> tg.amin(tg.tensor([[1., 5.], [4., 2.]]), dim=0)
tensor([1., 2.])
)doc"},
    {"logsumexp", R"doc(``log(sum(exp(x)))`` over ``dim``, computed without overflow.

>>> tg.logsumexp(tg.tensor([1000., 1000.]), dim=0)
tensor(1000.6932)
)doc"},
    {"softmax", R"doc(Softmax along ``dim``: ``exp(x) / sum(exp(x))``, stable for large inputs.

>>> tg.softmax(tg.tensor([[0., 0.], [0., 1000.]]), dim=1)
tensor([[0.5000, 0.5000],
        [0.0000, 1.0000]])
)doc"},
    {"log_softmax", R"doc(``log(softmax(x, dim))``, computed directly (no log of 0).

>>> tg.log_softmax(tg.tensor([0., 0.]), dim=0)
tensor([-0.6931, -0.6931])
)doc"},
    {"mm", R"doc(Matrix product of two 2-D tensors.

>>> tg.mm(tg.ones(2, 3), tg.ones(3, 4)).shape
tapegrad.Size([2, 4])
)doc"},
    {"bmm", R"doc(Batched matrix product of (b, n, k) and (b, k, m) tensors.

>>> tg.bmm(tg.ones(5, 2, 3), tg.ones(5, 3, 4)).shape
tapegrad.Size([5, 2, 4])
)doc"},
    {"linear", R"doc(``input @ weight.T + bias`` (weight of shape (out, in), as ``nn.Linear``).

>>> tg.linear(tg.ones(2, 3), tg.ones(4, 3), tg.zeros(4))
tensor([[3., 3., 3., 3.],
        [3., 3., 3., 3.]])
)doc"},
    {"reshape", R"doc(The same elements in a new shape (a view when possible); one size may be -1.

>>> tg.arange(6).reshape(2, -1)
tensor([[0, 1, 2],
        [3, 4, 5]])
)doc"},
    {"view", R"doc(A view with a new shape; the tensor must be contiguous (else use ``reshape``).

>>> tg.arange(6).view(3, 2).shape
tapegrad.Size([3, 2])
)doc"},
    {"view_as", R"doc(``view(other.shape)``.

>>> tg.arange(6).view_as(tg.zeros(2, 3)).shape
tapegrad.Size([2, 3])
)doc"},
    {"reshape_as", R"doc(``reshape(other.shape)``.

>>> tg.arange(6).reshape_as(tg.zeros(3, 2)).shape
tapegrad.Size([3, 2])
)doc"},
    {"expand", R"doc(A broadcast view with size-1 dims repeated (-1 keeps a size); no copy.

>>> tg.tensor([[1.], [2.]]).expand(2, 3)
tensor([[1., 1., 1.],
        [2., 2., 2.]])
)doc"},
    {"expand_as", R"doc(``expand(other.shape)``.

>>> tg.tensor([1., 2.]).expand_as(tg.zeros(2, 2))
tensor([[1., 2.],
        [1., 2.]])
)doc"},
    {"permute", R"doc(A view with the dims reordered.

>>> tg.zeros(2, 3, 4).permute(2, 0, 1).shape
tapegrad.Size([4, 2, 3])
)doc"},
    {"cat", R"doc(Join tensors along an existing ``dim``.

>>> tg.cat([tg.ones(1, 2), tg.zeros(2, 2)]).shape
tapegrad.Size([3, 2])
)doc"},
    {"cross_entropy", R"doc(Softmax cross-entropy of logits (N, C) against int64 class indices (N,); ``reduction`` is 'mean', 'sum' or 'none'.

>>> logits = tg.tensor([[2., 0.], [0., 2.]])
>>> tg.cross_entropy(logits, tg.tensor([0, 1]))
tensor(0.1269)
)doc"},
    {"binary_cross_entropy_with_logits", R"doc(Binary cross-entropy of logits against targets in [0, 1], computed stably.

>>> tg.binary_cross_entropy_with_logits(tg.tensor([0.]), tg.tensor([1.]))
tensor(0.6931)
)doc"},
    {"mse_loss", R"doc(Mean squared error (``reduction`` 'mean', 'sum' or 'none').

>>> tg.mse_loss(tg.tensor([1., 2.]), tg.tensor([1., 4.]))
tensor(2.)
)doc"},
    {"matmul", R"doc(Matrix product with NumPy's rules: 1-D vectors, 2-D matrices, batched N-D; also ``a @ b``.

>>> tg.matmul(tg.ones(4, 2, 3), tg.ones(3)).shape
tapegrad.Size([4, 2])
)doc"},
    {"flatten", R"doc(Merge dims ``start_dim`` to ``end_dim`` into one.

>>> tg.flatten(tg.zeros(2, 3, 4), start_dim=1).shape
tapegrad.Size([2, 12])
)doc"},
    {"squeeze", R"doc(Remove size-1 dims (all, or only ``dim``: an int or a tuple of ints, whose
dims of another size stay).

>>> tg.squeeze(tg.zeros(2, 1, 3)).shape
tapegrad.Size([2, 3])
>>> tg.zeros(1, 3, 1).squeeze((0, 1, -1)).shape
tapegrad.Size([3])
)doc"},
    {"unsqueeze", R"doc(Insert a size-1 dim at ``dim``.

>>> tg.unsqueeze(tg.zeros(3), 0).shape
tapegrad.Size([1, 3])
)doc"},
    {"transpose", R"doc(A view with ``dim0`` and ``dim1`` swapped.

>>> tg.transpose(tg.zeros(2, 3, 4), 0, 2).shape
tapegrad.Size([4, 3, 2])
)doc"},
    {"t", R"doc(Transpose of a tensor of at most 2 dims.

>>> tg.t(tg.zeros(2, 3)).shape
tapegrad.Size([3, 2])
)doc"},
    {"stack", R"doc(Join same-shaped tensors along a new ``dim``.

>>> tg.stack([tg.ones(3), tg.zeros(3)], dim=1).shape
tapegrad.Size([3, 2])
)doc"},
    {"argmax", R"doc(Index of the largest value (over the flattened tensor, or along ``dim``).

>>> tg.argmax(tg.tensor([[1., 5.], [4., 2.]]), dim=1)
tensor([1, 0])
)doc"},
    {"argmin", R"doc(Index of the smallest value (over the flattened tensor, or along ``dim``).

>>> tg.argmin(tg.tensor([[1., 5.], [4., 2.]]), dim=1)
tensor([0, 1])
)doc"},
    {"all", R"doc(Whether every element is true (over ``dim``, or all).

>>> tg.all(tg.tensor([True, False])), tg.all(tg.tensor([[True], [True]]), dim=1)
(tensor(False), tensor([True, True]))
)doc"},
    {"any", R"doc(Whether any element is true (over ``dim``, or all).

>>> tg.any(tg.tensor([True, False]))
tensor(True)
)doc"},
    {"sign", R"doc(Elementwise -1, 0 or 1.

>>> tg.sign(tg.tensor([-2., 0., 3.]))
tensor([-1.,  0.,  1.])
)doc"},
    {"isnan", R"doc(Elementwise test for NaN.

>>> tg.isnan(tg.tensor([1., float('nan')]))
tensor([False,  True])
)doc"},
    {"isinf", R"doc(Elementwise test for ±infinity.

>>> tg.isinf(tg.tensor([1., float('-inf')]))
tensor([False,  True])
)doc"},
    {"logical_not", R"doc(Elementwise NOT (nonzero is true); ``~x`` on bool tensors.

>>> tg.logical_not(tg.tensor([True, False]))
tensor([False,  True])
)doc"},
    {"logical_and", R"doc(Elementwise AND (nonzero is true); ``x & y`` on bool tensors (bitwise_and on int64).

>>> tg.logical_and(tg.tensor([True, True]), tg.tensor([True, False]))
tensor([ True, False])
)doc"},
    {"logical_or", R"doc(Elementwise OR (nonzero is true); ``x | y`` on bool tensors (bitwise_or on int64).

>>> tg.logical_or(tg.tensor([True, False]), tg.tensor([False, False]))
tensor([ True, False])
)doc"},
    {"eq", R"doc(Elementwise ``input == other`` as a bool tensor.

>>> tg.eq(tg.tensor([1, 2]), 2)
tensor([False,  True])
)doc"},
    {"detach", R"doc(The same data, cut from the tape (``requires_grad=False``).

>>> x = tg.ones(2, requires_grad=True)
>>> tg.detach(x * 2)
tensor([2., 2.])
)doc"},
    {"numel", R"doc(The number of elements.

>>> tg.numel(tg.zeros(2, 3))
6
)doc"},
    {"is_floating_point", R"doc(Whether the dtype is float32 or float64.

>>> tg.is_floating_point(tg.ones(1)), tg.is_floating_point(tg.arange(2))
(True, False)
)doc"},

    // creation, random numbers, grad mode and kernel settings (bindings/module.cpp)
    {"tensor", R"doc(A tensor holding a copy of ``data`` (numbers, nested lists, NumPy arrays); floats become float32 and ints int64 unless ``dtype`` says otherwise.

>>> tg.tensor([[1, 2], [3, 4]])
tensor([[1, 2],
        [3, 4]])
>>> tg.tensor([0.5], dtype=tg.float64, requires_grad=True)
tensor([0.5000], dtype=tapegrad.float64, requires_grad=True)
)doc"},
    {"from_numpy", R"doc(A tensor sharing memory with a NumPy array (a write to one shows in the other).

>>> import numpy as np
>>> a = np.zeros(2, dtype=np.float32)
>>> t = tg.from_numpy(a); a[0] = 7
>>> t
tensor([7., 0.])
)doc"},
    {"as_tensor", R"doc(``data`` as a tensor: a tensor is returned as is (or converted to ``dtype``), anything else is copied.

>>> x = tg.ones(2)
>>> tg.as_tensor(x) is x, tg.as_tensor([1, 2], dtype=tg.float32)
(True, tensor([1., 2.]))
)doc"},
    {"zeros", R"doc(A tensor of zeros; the size as ints or one sequence, ``dtype=`` and ``requires_grad=`` by keyword.

>>> tg.zeros(2, 3).shape, tg.zeros((2,), dtype=tg.int64)
(tapegrad.Size([2, 3]), tensor([0, 0]))
)doc"},
    {"ones", R"doc(A tensor of ones.

>>> tg.ones(2, requires_grad=True)
tensor([1., 1.], requires_grad=True)
)doc"},
    {"empty", R"doc(An uninitialised tensor (its values are whatever memory held).

>>> tg.empty(2, 3).shape
tapegrad.Size([2, 3])
)doc"},
    {"full", R"doc(A tensor of ``size`` filled with ``fill_value``.

>>> tg.full((2, 2), 7.0)
tensor([[7., 7.],
        [7., 7.]])
)doc"},
    {"zeros_like", R"doc(Zeros with the shape (and, unless given, the dtype) of ``input``.

>>> tg.zeros_like(tg.arange(3))
tensor([0, 0, 0])
)doc"},
    {"ones_like", R"doc(Ones with the shape (and, unless given, the dtype) of ``input``.

>>> tg.ones_like(tg.arange(3), dtype=tg.float32)
tensor([1., 1., 1.])
)doc"},
    {"full_like", R"doc(``fill_value`` everywhere, with the shape and dtype of ``input``.

>>> tg.full_like(tg.zeros(2), 3.0)
tensor([3., 3.])
)doc"},
    {"rand_like", R"doc(Uniform [0, 1) samples with the shape of ``input``.

>>> tg.rand_like(tg.zeros(2, 3)).shape
tapegrad.Size([2, 3])
)doc"},
    {"randn_like", R"doc(Standard normal samples with the shape of ``input``.

>>> tg.randn_like(tg.zeros(2, 3)).shape
tapegrad.Size([2, 3])
)doc"},
    {"arange", R"doc(Values from ``start`` to ``end`` (excluded) by ``step``; int64 for integer arguments.

>>> tg.arange(4), tg.arange(0, 1, 0.25)
(tensor([0, 1, 2, 3]), tensor([0.0000, 0.2500, 0.5000, 0.7500]))
)doc"},
    {"linspace", R"doc(``steps`` evenly spaced values from ``start`` to ``end`` (included).

>>> tg.linspace(0, 1, 5)
tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
)doc"},
    {"eye", R"doc(An identity matrix (``n`` × ``m``, square by default).

>>> tg.eye(2)
tensor([[1., 0.],
        [0., 1.]])
)doc"},
    {"rand", R"doc(Uniform [0, 1) samples from tapegrad's generator (``manual_seed``).

>>> _ = tg.manual_seed(0)
>>> x = tg.rand(2, 3)
>>> x.shape, bool(((x >= 0) & (x < 1)).all())
(tapegrad.Size([2, 3]), True)
)doc"},
    {"randn", R"doc(Standard normal samples from tapegrad's generator.

>>> tg.randn(2, 3, dtype=tg.float64).dtype
tapegrad.float64
)doc"},
    {"randint", R"doc(Random integers in ``[low, high)`` (or ``[0, low)`` when ``high`` is omitted) of shape ``size``.

>>> x = tg.randint(0, 10, (5,))
>>> x.dtype, bool(((x >= 0) & (x < 10)).all())
(tapegrad.int64, True)
)doc"},
    {"randperm", R"doc(A random permutation of ``0 .. n-1`` (int64).

>>> sorted(tg.randperm(5).tolist())
[0, 1, 2, 3, 4]
)doc"},
    {"initial_seed", R"doc(The seed last given to ``manual_seed``.

>>> _ = tg.manual_seed(42)
>>> tg.initial_seed()
42
)doc"},
    {"normal", R"doc(Normal samples with ``mean`` and ``std`` (numbers or tensors, broadcast) of shape ``size``.

>>> tg.normal(0.0, 1.0, size=(2, 3)).shape
tapegrad.Size([2, 3])
)doc"},
    {"is_grad_enabled", R"doc(Whether ops are being recorded (False inside ``no_grad``).

>>> tg.is_grad_enabled()
True
)doc"},
    {"cpu_info", R"doc(What the CPU offers and which kernel target tapegrad selected (``TAPEGRAD_ARCH`` overrides it).

Returns a dict: ``vendor``, ``model_name``, ``family``, ``model``, ``stepping``; ``features``,
``os_avx``, ``os_avx512``; ``available`` targets and the ``selected`` one; ``num_threads``;
``caches`` (``L1d``, ``L2``, ``L3``: ``size`` in bytes, ``ways``, ``line``, ``sets``,
``shared_by``; ``source``: ``"cpuid"``, ``"sysfs"`` or ``"default"``) and ``gemm``
(``float32`` / ``float64``: the micro-kernel tile ``mr`` × ``nr`` and the cache blocks ``kc``,
``mc``, ``nc`` derived from the caches at start-up; all 0 for the generic target).

>>> info = tg.cpu_info()
>>> info["selected"] in info["available"]
True
>>> sorted(info["caches"]["L1d"])
['line', 'sets', 'shared_by', 'size', 'ways']
>>> sorted(info["gemm"]["float32"])
['kc', 'mc', 'mr', 'nc', 'nr']
)doc"},
    {"set_num_threads", R"doc(Use ``n`` threads for the C++ kernels (``TAPEGRAD_NUM_THREADS`` sets the start value).

>>> n = tg.get_num_threads()
>>> tg.set_num_threads(1)
>>> tg.get_num_threads()
1
>>> tg.set_num_threads(n)
)doc"},
    {"get_num_threads", R"doc(The number of threads the C++ kernels use.

>>> tg.get_num_threads() >= 1
True
)doc"},
};

// The docstring of the function called `name`; "" for one without (the docs test names it).
// Docstrings written beside their rows in tapegrad/ops.def (TG_DOC); they take precedence.
inline constexpr OpDoc kRowDocs[] = {
#define TG_OP(...)
#define TG_DOC(name, text) {#name, text},
#include "tapegrad/ops.def"
#undef TG_DOC
#undef TG_OP
    {"", ""},  // keeps the array non-empty
};

inline const char* op_doc(std::string_view name) {
  for (const OpDoc& d : kRowDocs)
    if (!name.empty() && d.name == name) return d.doc;
  for (const OpDoc& d : kOpDocs)
    if (d.name == name) return d.doc;
  return "";
}

}  // namespace tapegrad::bind

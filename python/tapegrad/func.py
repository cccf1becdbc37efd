"""Composable function transforms, as ``torch.func``: ``grad``, ``grad_and_value``, ``vjp``,
``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap`` and ``functional_call``.

Each transform takes a function and returns a function; they compose (``grad(grad(f))``,
``jacfwd(jacrev(f))``, ``vmap(grad(f))`` for per-sample gradients). Inputs and outputs may be
pytrees: tuples, lists and dicts of tensors, nested.

>>> import tapegrad as tg
>>> from tapegrad.func import grad, vmap
>>> x = tg.tensor([0.0, 1.0, 2.0], dtype=tg.float64)
>>> grad(lambda t: (t.sin() ** 2).sum())(x).tolist() == (2 * x.sin() * x.cos()).tolist()
True
>>> vmap(grad(lambda t: t ** 3))(x).tolist()     # d/dt t³ = 3t², per element
[0.0, 3.0, 12.0]

How the transforms are built (see docs/architecture.md, "Function transforms"): the reverse
transforms run the function on fresh differentiable aliases of the inputs and call the tape's
reverse sweep (``tapegrad.autograd.grad``); when an outer transform is active (or an input
already requires grad) the sweep records itself (``create_graph=True``) so the outer
transform can differentiate through it, otherwise the results are detached and the user's
tensors are left untouched. ``jvp`` and ``jacfwd`` have no forward mode of their own: they use
the double-vjp trick (Note [jvp by two reverse sweeps]). ``vmap`` is a batched-tensor wrapper
with one batch rule per op (``tapegrad.func_vmap``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from . import _core
from ._pytree import _flatten, _unflatten
from .autograd import enable_grad
from .autograd import grad as _autograd_grad
from .func_vmap import (
    BatchedTensor,
    _active_levels,
    _call,
    _from_physical,
    _level_size,
    _levels_of,
    _to_physical,
    vmap,
)

Tensor = _core.Tensor

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "vjp",
    "vmap",
]


# ----- pytrees ---------------------------------------------------------------------------------
# A pytree is a tensor (a leaf), or a tuple, list or dict of pytrees; anything else is a leaf
# too (numbers, None, strings) and passes through the transforms untouched.

def _is_tensor(x: Any) -> bool:
    return isinstance(x, (Tensor, BatchedTensor))


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, spec = _flatten(tree)
    return _unflatten([fn(x) if _is_tensor(x) else x for x in leaves], spec)


# ----- nesting ---------------------------------------------------------------------------------
# How many differentiation transforms are running on this thread. Inside one, a nested transform
# records its reverse sweep so the outer one can differentiate the result.
_state = threading.local()


def _depth() -> int:
    return getattr(_state, "depth", 0)


@contextmanager
def _transform():
    _state.depth = _depth() + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _requires_grad(x: Any) -> bool:
    return _is_tensor(x) and x.requires_grad


def _fresh_input(x: Any, create: bool) -> Any:
    """A new differentiable tensor standing for ``x``: a leaf (``x`` detached) when nothing
    outside needs the graph, else a recorded alias of ``x`` so an outer transform still sees
    the dependence. Under vmap it is batched at every active level, so the gradient with
    respect to it is per sample even when ``x`` itself is shared by the batch."""
    if not _is_tensor(x):
        return x
    if not x.is_floating_point():
        raise TypeError(f"func transforms: only floating-point inputs are differentiable, got "
                        f"{x.dtype} (shape {list(x.shape)})")
    levels = _active_levels()
    phys = _to_physical(x, levels)
    if create and phys.requires_grad:
        phys = phys.clone()
    else:
        phys = phys.detach()  # a new tensor object: the flag below stays off the user's one
        phys.requires_grad_(True)
    return _from_physical(phys, levels)


def _sweep(outputs: list[Any], inputs: list[Any], seeds: list[Any], create: bool) -> list[Any]:
    """Σ seedᵀ·∂output/∂input for every input (a ``None`` seed skips its output), through
    batched tensors: every operand is brought to the same vmap levels and the sweep runs on the
    physical tensors (each sample is independent, so the gradient of the whole batch is the
    batch of per-sample gradients). A seed batched at a level the inputs are not (``vjp_fn``
    called under ``vmap``) is looped over, one sweep per sample, and the results stacked."""
    in_levels = set().union(*(_levels_of(x) for x in inputs)) if inputs else set()
    extra = sorted(set().union(*(_levels_of(s) for s in seeds if s is not None)) - in_levels)
    if extra:
        level = extra[-1]
        per = [_sweep(outputs, inputs,
                      [None if s is None else _select(s, level, i) for s in seeds], create)
               for i in range(_level_size(level))]
        return [_stack_level([p[k] for p in per], level) for k in range(len(inputs))]
    pairs = [(o, s) for o, s in zip(outputs, seeds)
             if s is not None and _is_tensor(o) and o.requires_grad]
    result: list[Any] = [None] * len(inputs)
    if pairs:
        outs, gs = [], []
        for o, s in pairs:
            lv = sorted(set(_levels_of(o)) | set(_levels_of(s)))
            outs.append(_to_physical(o, lv))
            gs.append(_to_physical(s, lv).to(outs[-1].dtype))
        phys_in = [_to_physical(x, _levels_of(x)) for x in inputs]
        grads = _autograd_grad(outs, phys_in, grad_outputs=gs, retain_graph=True,
                               create_graph=create, allow_unused=True)
        result = [None if g is None else _from_physical(g, _levels_of(x))
                  for g, x in zip(grads, inputs)]
    return [_zeros_like(x) if g is None else g for g, x in zip(result, inputs)]


def _select(x: Any, level: int, i: int) -> Any:
    """Sample ``i`` of ``x`` along vmap level ``level`` (``x`` itself if not batched there)."""
    lv = _levels_of(x)
    if level not in lv:
        return x
    p = _to_physical(x, lv)
    pos = lv.index(level)
    return _from_physical(p[(slice(None),) * pos + (i,)], [v for v in lv if v != level])


def _stack_level(xs: list[Any], level: int) -> Any:
    """The inverse of :func:`_select`: stack samples into a tensor batched at ``level``."""
    lv = sorted(set().union(*(_levels_of(x) for x in xs)))
    phys = [_to_physical(x, lv) for x in xs]
    full = sorted(lv + [level])
    return _from_physical(_core.stack(phys, full.index(level)), full)


def _zeros_like(x: Any) -> Any:
    lv = _levels_of(x)
    return _from_physical(_core.zeros_like(_to_physical(x, lv).detach()), lv)


def _detach(x: Any) -> Any:
    return x.detach() if _is_tensor(x) else x


def _argnums_tuple(argnums: int | tuple[int, ...], nargs: int, who: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{who}: argnums must be non-empty")
    out = []
    for a in nums:
        if not isinstance(a, int):
            raise RuntimeError(  # noqa: TRY004 - torch.func raises RuntimeError
                f"{who}: argnums must be int or tuple of int, got {argnums!r}")
        if not -nargs <= a < nargs:
            raise RuntimeError(f"{who}: got argnums={argnums!r} but only {nargs} positional "
                               "arguments")
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{who}: argnums has duplicates: {argnums!r}")
    return tuple(out)


def _split_aux(out: Any, has_aux: bool, who: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{who}(f, has_aux=True): f must return a (output, aux) tuple")
    return out


# ----- vjp -------------------------------------------------------------------------------------

class _Recorded:
    """One forward run of ``func`` on fresh inputs, ready for reverse sweeps."""

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], diff: tuple[int, ...],
                 has_aux: bool, who: str, kwargs: Mapping[str, Any] | None = None,
                 force_create: bool = False) -> None:
        flat = {i: _flatten(args[i]) for i in diff}
        outer = _depth() > 0 or any(_requires_grad(x) for i in diff for x in flat[i][0])
        self.create = force_create or outer
        self.outer = outer
        self.inputs: list[Any] = []
        self.specs = []
        new_args = list(args)
        for i in diff:
            leaves, spec = flat[i]
            fresh = [_fresh_input(x, self.create) for x in leaves]
            self.inputs += [x for x in fresh if _is_tensor(x)]
            self.specs.append((leaves, spec, fresh))
            new_args[i] = _unflatten(fresh, spec)
        with _transform(), enable_grad():
            out = func(*new_args, **(kwargs or {}))
        self.output, self.aux = _split_aux(out, has_aux, who)
        self.out_leaves, self.out_spec = _flatten(self.output)
        for o in self.out_leaves:
            if not _is_tensor(o):
                raise RuntimeError(f"{who}: f must return tensors (or a pytree of tensors), got "
                                   f"{type(o).__name__}")

    def pullback(self, cotangents: list[Any], create: bool | None = None) -> list[Any]:
        """Input-shaped gradients (flat, in the order of ``self.inputs``)."""
        if create is None:
            create = self.create
        return _sweep(self.out_leaves, self.inputs, cotangents, create)

    def grads_tree(self, flat_grads: list[Any], single: bool) -> Any:
        """Flat gradients back into the structure of the differentiated arguments."""
        trees, k = [], 0
        for leaves, spec, fresh in self.specs:
            g = []
            for x in fresh:
                if _is_tensor(x):
                    g.append(flat_grads[k])
                    k += 1
                else:
                    g.append(x)
            trees.append(_unflatten(g, spec))
        return trees[0] if single else tuple(trees)

    def finish(self, tree: Any) -> Any:
        """Detach results unless an outer transform or an outer graph needs them."""
        return tree if self.outer else _tree_map(_detach, tree)


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` returns one vector-Jacobian
    product per primal (a tuple), as ``torch.func.vjp``. ``vjp_fn`` may be called many times.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    >>> out, vjp_fn = vjp(lambda t: t * t, x)
    >>> vjp_fn(tg.ones(2, dtype=tg.float64))[0].tolist()
    [2.0, 4.0]
    """
    rec = _Recorded(func, primals, tuple(range(len(primals))), has_aux, "vjp")

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        cts, spec = _flatten(cotangents)
        if spec != rec.out_spec and not (len(rec.out_leaves) == 1 and len(cts) == 1):
            raise RuntimeError("vjp_fn: expected cotangents with the structure of the output")
        for o, c in zip(rec.out_leaves, cts):
            if not _is_tensor(c) or tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"vjp_fn: cotangent of shape {list(getattr(c, 'shape', []))} does not match "
                    f"the output's shape {list(o.shape)}")
        create = rec.create or any(_requires_grad(c) for c in cts) or _depth() > 0
        grads = rec.pullback(cts, create)
        tree = rec.grads_tree(grads, single=False)
        return tree if create else _tree_map(_detach, tree)

    output = rec.finish(rec.output)
    if has_aux:
        return output, vjp_fn, rec.finish(rec.aux)
    return output, vjp_fn


# ----- grad ------------------------------------------------------------------------------------

def grad_and_value(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """Like :func:`grad`, also returning the value: ``(gradient, value)``, and
    ``(gradient, (value, aux))`` with ``has_aux``, as ``torch.func.grad_and_value``.

    >>> import tapegrad as tg
    >>> g, v = grad_and_value(lambda t: (t * t).sum())(tg.tensor([3.0]))
    >>> g.tolist(), v.item()
    ([6.0], 9.0)
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        diff = _argnums_tuple(argnums, len(args), "grad")
        rec = _Recorded(func, args, diff, has_aux, "grad", kwargs)
        out = rec.output
        if not _is_tensor(out) or tuple(out.shape) != ():
            shape = list(out.shape) if _is_tensor(out) else type(out).__name__
            raise RuntimeError(f"grad: expected f(*args) to return a scalar Tensor, got {shape}")
        if not out.is_floating_point():
            raise RuntimeError(f"grad: f(*args) must be floating point, got {out.dtype}")
        grads = rec.pullback([_core.ones((), dtype=out.dtype)])  # lifted to out's vmap levels
        g = rec.finish(rec.grads_tree(grads, single=isinstance(argnums, int)))
        value = rec.finish(out)
        if has_aux:
            return g, (value, rec.finish(rec.aux))
        return g, value

    wrapper.__doc__ = getattr(func, "__doc__", None)
    return wrapper


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar function with respect to argument ``argnums`` (an int, or a
    tuple giving a tuple of gradients), as ``torch.func.grad``; with ``has_aux`` ``func``
    returns ``(output, aux)`` and the transform ``(gradient, aux)``.

    >>> import tapegrad as tg
    >>> x = tg.tensor(2.0, dtype=tg.float64)
    >>> grad(lambda t: t ** 3)(x).item()                 # 3x²
    12.0
    >>> grad(grad(lambda t: t ** 3))(x).item()           # 6x
    12.0
    >>> gx, gy = grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, x + 1)
    >>> gx.item(), gy.item()
    (3.0, 2.0)
    """
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        if has_aux:
            return g, value[1]
        return g

    return wrapper


# ----- jvp -------------------------------------------------------------------------------------
# Note [jvp by two reverse sweeps]
# tapegrad has only reverse mode. For y = f(x), the vjp u ↦ Jᵀu is linear in u; recorded with
# create_graph (u a fresh leaf), it is a function of u whose own vjp is v ↦ (∂(Jᵀu)/∂u)ᵀ v =
# J v. So one reverse sweep of f (recorded) plus one reverse sweep of that recorded sweep gives
# the forward-mode product J v; jacfwd repeats only the second sweep, once per input element.
# Cost: about three times a vjp (the recorded first sweep is a little dearer than a plain one).

def _jvp_core(func: Callable[..., Any], primals: tuple[Any, ...], has_aux: bool,
              who: str) -> tuple[_Recorded, list[Any], list[Any]]:
    """Run ``func`` and its recorded vjp at a dummy cotangent u; returns the recording, the
    leaves u and the input gradients Jᵀu (functions of u)."""
    rec = _Recorded(func, primals, tuple(range(len(primals))), has_aux, who, force_create=True)
    us = []
    for o in rec.out_leaves:
        lv = _levels_of(o)
        u = _core.zeros_like(_to_physical(o, lv).detach())
        u.requires_grad_(True)
        us.append(_from_physical(u, lv))
    with _transform(), enable_grad():
        jtu = rec.pullback(us, create=True)
    return rec, us, jtu


def jvp(func: Callable[..., Any], primals: tuple[Any, ...], tangents: tuple[Any, ...],
        *, strict: bool = False, has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), J·tangents)``, the Jacobian-vector product, as ``torch.func.jvp``
    (``primals`` and ``tangents`` are tuples of pytrees of the same structure).

    Computed with two reverse sweeps (Note [jvp by two reverse sweeps]).

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    >>> out, jv = jvp(lambda t: t ** 2, (x,), (tg.tensor([1.0, 0.0], dtype=tg.float64),))
    >>> jv.tolist()
    [2.0, 0.0]
    """
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise RuntimeError(  # noqa: TRY004 - torch.func raises RuntimeError
            "jvp: primals and tangents must be tuples")
    pl, ps = _flatten(primals)
    tl, ts = _flatten(tangents)
    if ps != ts:
        raise RuntimeError("jvp: expected primals and tangents to have the same structure")
    for p, t in zip(pl, tl):
        if _is_tensor(p) and (not _is_tensor(t) or tuple(p.shape) != tuple(t.shape)):
            raise RuntimeError(f"jvp: tangent of shape {list(getattr(t, 'shape', []))} does not "
                               f"match primal of shape {list(p.shape)}")
    rec, us, jtu = _jvp_core(func, primals, has_aux, "jvp")
    vs = [t for p, t in zip(pl, tl) if _is_tensor(p)]
    outer = rec.outer or any(_requires_grad(t) for t in vs)
    dots = []
    for g, v in zip(jtu, vs):
        if g.requires_grad:
            dots.append(g * v)
    jv = _sweep_sum(dots, us, outer)
    out = _unflatten(rec.out_leaves, rec.out_spec)
    jv_tree = _unflatten(jv, rec.out_spec)
    fin = (lambda t: t) if outer else (lambda t: _tree_map(_detach, t))
    if has_aux:
        return fin(out), fin(jv_tree), fin(rec.aux)
    return fin(out), fin(jv_tree)


def _sweep_sum(terms: list[Any], wrt: list[Any], create: bool) -> list[Any]:
    """∂(Σ terms)/∂wrt with a seed of ones on every term (terms may be batched)."""
    sums = [t.sum() for t in terms]
    seeds = [_core.ones((), dtype=t.dtype) for t in sums]
    return _sweep(sums, wrt, seeds, create)


# ----- Jacobians -------------------------------------------------------------------------------

def _basis(n: int, like: Any) -> Any:
    return _core.eye(n, dtype=like.dtype)


def jacrev(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
           has_aux: bool = False, chunk_size: int | None = None) -> Callable[..., Any]:
    """The Jacobian by reverse mode (one vjp per output element), as ``torch.func.jacrev``:
    for an output of shape ``O`` and an input of shape ``I`` the result has shape ``O + I``;
    pytree outputs give the same structure of Jacobians, ``argnums`` tuples a tuple per output.
    ``chunk_size`` is accepted for compatibility (the vjps run one by one).

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    >>> jacrev(lambda t: t ** 2)(x).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError("jacrev: chunk_size must be positive")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        diff = _argnums_tuple(argnums, len(args), "jacrev")
        rec = _Recorded(func, args, diff, has_aux, "jacrev", kwargs)
        per_out = []
        for k, o in enumerate(rec.out_leaves):
            m = o.numel()
            oshape = tuple(o.shape)
            rows: list[list[Any]] = []
            eye = _basis(m, o)
            for j in range(m):
                seeds: list[Any] = [None] * len(rec.out_leaves)
                seeds[k] = eye[j].reshape(oshape)
                rows.append(rec.pullback(seeds))
            jacs = []
            for i, x in enumerate(rec.inputs):
                xs = tuple(x.shape)
                if m:
                    jacs.append(_stack([r[i] for r in rows]).reshape(*oshape, *xs))
                else:
                    jacs.append(_zeros_shape(x, oshape + xs))
            per_out.append(rec.grads_tree(jacs, single=isinstance(argnums, int)))
        out = rec.finish(_unflatten(per_out, rec.out_spec))
        if has_aux:
            return out, rec.finish(rec.aux)
        return out

    return wrapper


def _zeros_shape(like: Any, shape: tuple[int, ...]) -> Any:
    lv = _levels_of(like)
    phys = _to_physical(like, lv)
    lead = tuple(phys.shape)[:len(lv)]
    return _from_physical(_core.zeros(*lead, *shape, dtype=phys.dtype), lv)


def jacfwd(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
           has_aux: bool = False, *, randomness: str = "error") -> Callable[..., Any]:
    """The Jacobian column by column (one Jacobian-vector product per input element), as
    ``torch.func.jacfwd``; same shapes as :func:`jacrev`. The products come from the double-vjp
    trick (Note [jvp by two reverse sweeps]): one recorded reverse sweep, then one more sweep
    per input element.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    >>> jacfwd(lambda t: t.sin() * 2)(x).tolist() == jacrev(lambda t: t.sin() * 2)(x).tolist()
    True
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        diff = _argnums_tuple(argnums, len(args), "jacfwd")
        fixed = {i: a for i, a in enumerate(args) if i not in diff}

        def only_diff(*dargs: Any) -> Any:
            full = [None] * len(args)
            for i, a in fixed.items():
                full[i] = a
            for i, a in zip(diff, dargs):
                full[i] = a
            return func(*full, **kwargs)

        rec, us, jtu = _jvp_core(only_diff, tuple(args[i] for i in diff), has_aux, "jacfwd")
        outer = rec.outer
        # columns[i][j] = J e_j for input leaf i, a list over the output leaves
        jac_leaves: list[list[Any]] = [[] for _ in rec.out_leaves]
        for i, x in enumerate(rec.inputs):
            n = x.numel()
            xs = tuple(x.shape)
            cols = []
            g = jtu[i]
            eye = _basis(n, x)
            for j in range(n):
                if g.requires_grad:
                    cols.append(_sweep_sum([g * eye[j].reshape(xs)], us, True))
                else:
                    cols.append([_zeros_like(u) for u in us])
            for k, o in enumerate(rec.out_leaves):
                oshape = tuple(o.shape)
                if n:
                    stacked = _stack([c[k] for c in cols], -1)
                    jac_leaves[k].append(stacked.reshape(*oshape, *xs))
                else:
                    jac_leaves[k].append(_zeros_shape(o, oshape + xs))
        per_out = [rec.grads_tree(j, single=isinstance(argnums, int)) for j in jac_leaves]
        out = _unflatten(per_out, rec.out_spec)
        fin = (lambda t: t) if outer else (lambda t: _tree_map(_detach, t))
        if has_aux:
            return fin(out), fin(rec.aux)
        return fin(out)

    return wrapper


def _stack(xs: list[Any], dim: int = 0) -> Any:
    return _call("stack", xs, dim)


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Hessian of a scalar function, ``jacfwd(jacrev(func, argnums), argnums)``, as
    ``torch.func.hessian``.

    >>> import tapegrad as tg
    >>> hessian(lambda t: (t ** 3).sum())(tg.tensor([1.0, 2.0], dtype=tg.float64)).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacfwd(jacrev(func, argnums), argnums)


# ----- functional_call -------------------------------------------------------------------------

def functional_call(module: Any, parameter_and_buffer_dicts: Mapping[str, Any] | Sequence[
        Mapping[str, Any]], args: Any = None, kwargs: Mapping[str, Any] | None = None, *,
        tie_weights: bool = True, strict: bool = False) -> Any:
    """Call ``module`` with some of its parameters and buffers replaced by the given tensors,
    restoring the originals afterwards (also when the call raises), as
    ``torch.func.functional_call``. Names are dotted (``"0.weight"``); with ``tie_weights`` a
    tensor registered under several names is replaced under all of them; ``strict`` requires
    exactly the module's parameters and buffers.

    >>> import tapegrad as tg
    >>> lin = tg.nn.Linear(2, 1)
    >>> w = {"weight": tg.ones(1, 2), "bias": tg.zeros(1)}
    >>> functional_call(lin, w, (tg.tensor([[1.0, 2.0]]),)).tolist()
    [[3.0]]
    """
    if isinstance(parameter_and_buffer_dicts, Mapping):
        new = dict(parameter_and_buffer_dicts)
    else:
        new = {}
        for d in parameter_and_buffer_dicts:
            for k, v in d.items():
                if k in new:
                    raise ValueError(f"functional_call: {k!r} appeared in more than one dict")
                new[k] = v
    # Every (owner module, dict, key) under which a tensor is registered, by dotted name.
    slots: dict[str, tuple[Any, str, str]] = {}
    by_id: dict[int, list[str]] = {}
    for mod_name, mod in module.named_modules():
        for attr in ("_parameters", "_buffers"):
            for k, t in getattr(mod, attr).items():
                name = f"{mod_name}.{k}" if mod_name else k
                slots[name] = (mod, attr, k)
                if t is not None:
                    by_id.setdefault(id(t), []).append(name)
    if strict:
        missing = sorted(set(slots) - set(new))
        unexpected = sorted(set(new) - set(slots))
        if missing or unexpected:
            raise RuntimeError(f"functional_call: strict: missing keys {missing}, unexpected "
                               f"keys {unexpected}")
    if tie_weights:
        for names in by_id.values():
            given = [n for n in names if n in new]
            if given:
                first = new[given[0]]
                for n in given[1:]:
                    if new[n] is not first:
                        raise ValueError(f"functional_call: tied tensors {given} got different "
                                         "values")
                for n in names:
                    new.setdefault(n, first)
    saved: list[tuple[Any, str, str, Any, bool]] = []
    try:
        for name, value in new.items():
            if name in slots:
                mod, attr, k = slots[name]
                d = getattr(mod, attr)
                saved.append((mod, attr, k, d[k], True))
                d[k] = value
            else:
                *path, k = name.split(".")
                mod = module
                for p in path:
                    mod = getattr(mod, p)
                had = k in mod.__dict__
                saved.append((mod, "__dict__", k, mod.__dict__.get(k), had))
                mod.__dict__[k] = value
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for mod, attr, k, old, had in reversed(saved):
            d = getattr(mod, attr) if attr != "__dict__" else mod.__dict__
            if had:
                d[k] = old
            else:
                del d[k]

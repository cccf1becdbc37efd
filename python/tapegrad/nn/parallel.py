"""Data-parallel training: ``DistributedDataParallel`` (as ``torch.nn.parallel``).

Each rank runs the same model on its own share of every batch; after ``backward()`` the
gradients are averaged over the ranks, so every rank takes the same optimizer step — the one a
single process would take on the whole batch.

>>> import tapegrad.distributed as dist
>>> from tapegrad.nn.parallel import DistributedDataParallel as DDP
>>> dist.init_process_group("mpi")                       # doctest: +SKIP
>>> model = DDP(tg.nn.Linear(784, 10))                   # doctest: +SKIP
>>> loss = F.cross_entropy(model(X_shard), y_shard)      # doctest: +SKIP
>>> loss.backward()                                      # gradients now averaged  # doctest: +SKIP

Note [when DDP reduces]
PyTorch starts each bucket's all-reduce from gradient-ready hooks while the backward sweep is
still running. tapegrad's engine has no such hooks, so the reduction runs right *after* the
sweep: while at least one DDP model exists, ``Tensor.backward`` and
``tapegrad.autograd.backward`` are wrapped by a function that calls the original and then lets
every DDP model whose ``forward`` ran (with grad enabled, outside ``no_sync()``) since the last
backward average its gradients. The wrappers are installed by the first DDP constructed and
removed when the last one is garbage-collected, so code that never uses DDP runs the engine's
own ``backward`` untouched. As in PyTorch, whether a backward reduces is decided by the forward
that built the graph: ``no_sync()`` must enclose the forward.

Would overlap pay? Not for the 784→256→10 MLP, and on one host hardly for any model. The first
layer's 0.8 MB weight gradient — 99 % of the bytes — is the *last* gradient the sweep produces
and its weight the first one the next forward needs, so there is nothing to run during its
all-reduce, hooks or not (only the second layer's 10 KB could travel early); and on one host an
all-reduce is memory copies and additions done by the ranks' own cores, the cores that run the
backward. bench/distributed.py measures the averaging's share of a step
(bench/results/distributed.md). Across hosts, for deep models whose gradients are spread over
many layers, a gradient-ready hook in the engine would let the late layers' buckets travel
during the sweep; this module's buckets are already in the order that would need.

Note [gradient buckets]
Parameters that require grad are grouped by dtype, in reverse registration order (the order in
which a backward produces their gradients — the order overlap would need). Gradients of at
least ``DIRECT_BYTES`` (256 KiB) are averaged in place, one ``MPI_Allreduce`` on the
gradient's own memory each (Note [collectives in place] in tapegrad.distributed); the smaller
ones are packed into flat NumPy buckets of at most ``bucket_cap_mb`` MiB (25 by default,
PyTorch's), one ``MPI_Allreduce`` per bucket — a few large messages instead of one per
parameter, and no copies of the large gradients (for the 784→256→10 MLP: two collectives, the
first layer's 0.8 MB weight in place and one bucket for the rest). Each rank contributes
g·(1/world) (scaled while packing, or in place), so the sum is the mean. The last bucket of a
dtype also carries one "has a gradient" flag per parameter: the summed flags tell which
parameters no rank used (their ``.grad`` stays None, as in PyTorch) and which some rank did
not use (they get the average, to which that rank contributed zeros). Reading ``.grad`` forms
batch-1 factored gradients (Note [factored weight gradients] in the engine), so the averaged
result is the one of the materialised path.
"""

from __future__ import annotations

import contextlib
import weakref
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _capture, _core
from .. import autograd as _autograd
from .. import distributed as dist
from .modules import Module

Tensor = _core.Tensor

__all__ = ["DistributedDataParallel"]

_NP = {_core.dtype.float32: np.float32, _core.dtype.float64: np.float64}

# ----- Note [when DDP reduces] -------------------------------------------------------------------
_live = 0                                            # DDP models alive
_pending: list[weakref.ref[DistributedDataParallel]] = []  # forward ran, backward not yet
_originals: dict[str, Any] = {}


def _reduce_pending() -> None:
    todo = [r() for r in _pending]
    _pending.clear()
    for ddp in todo:
        if ddp is not None:
            ddp._reduce_gradients()


def _tensor_backward(self: Tensor, *args: Any, **kwargs: Any) -> None:
    _originals["Tensor.backward"](self, *args, **kwargs)
    if _pending:
        _reduce_pending()


def _autograd_backward(*args: Any, **kwargs: Any) -> None:
    _originals["autograd.backward"](*args, **kwargs)
    if _pending:
        _reduce_pending()


def _install_hooks() -> None:
    global _live
    _live += 1
    if _live == 1:
        _originals["Tensor.backward"] = Tensor.backward
        Tensor.backward = _tensor_backward  # type: ignore[method-assign]
        if hasattr(_autograd, "backward"):
            _originals["autograd.backward"] = _autograd.backward
            _autograd.backward = _autograd_backward


def _remove_hooks() -> None:
    global _live
    _live -= 1
    if _live == 0 and _originals:
        Tensor.backward = _originals.pop("Tensor.backward")  # type: ignore[method-assign]
        if "autograd.backward" in _originals:
            _autograd.backward = _originals.pop("autograd.backward")
        _pending.clear()


#: Gradients of at least this many bytes are averaged in place in their own memory (one
#: collective each) rather than copied into a bucket and back: above ~256 KiB the two copies
#: cost more than one more collective's latency (Note [gradient buckets]).
DIRECT_BYTES = 256 * 1024


class _Segment:
    """Where one bucket's parameters live in its flat buffer."""

    def __init__(self, indices: list[int], sizes: list[int], np_dtype: Any, flags: int) -> None:
        self.indices = indices
        self.offsets = np.cumsum([0] + [sizes[i] for i in indices]).tolist()
        self.numel = self.offsets[-1]
        self.flat = np.empty(self.numel + flags, dtype=np_dtype)


class _DtypeGroup:
    """The gradient averaging of all parameters of one dtype (Note [gradient buckets])."""

    def __init__(self, named: list[tuple[str, Tensor]], np_dtype: Any, cap_bytes: int) -> None:
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.np_dtype = np_dtype
        sizes = [p.numel() for p in self.params]
        item = np.dtype(np_dtype).itemsize
        self.direct = [i for i, n in enumerate(sizes) if n * item >= DIRECT_BYTES]
        packed = [i for i, n in enumerate(sizes) if n * item < DIRECT_BYTES]
        groups: list[list[int]] = []
        size = 0
        for i in packed:
            if groups and size + sizes[i] * item <= cap_bytes:
                groups[-1].append(i)
                size += sizes[i] * item
            else:
                groups.append([i])
                size = sizes[i] * item
        if not groups:
            groups.append([])  # a bucket for the flags alone
        # the last bucket also carries one "has a gradient" flag per parameter of this dtype
        self.buckets = [_Segment(g, sizes, np_dtype, len(self.params) if k == len(groups) - 1
                                 else 0) for k, g in enumerate(groups)]

    def reduce(self, world: int) -> None:
        scale = 1.0 / world
        last = self.buckets[-1]
        flags = last.flat[last.numel:]
        # reading .grad forms a factored batch-1 gradient (Note [factored weight gradients])
        grads = [p.grad for p in self.params]
        for i, g in enumerate(grads):
            flags[i] = g is not None
        # Each rank adds g·(1/world), the mean of the ranks' gradients; for a world size that
        # is a power of two the scaling is exact, so this is bit for bit sum/world.
        fresh: dict[int, np.ndarray] = {}
        for i in self.direct:
            g = grads[i]
            if g is None:  # unused here: contribute zeros
                buf = fresh[i] = np.zeros(self.params[i].numel(), dtype=self.np_dtype)
            else:
                buf = g.detach().numpy().reshape(-1)
                np.multiply(buf, scale, out=buf)
            dist._allreduce_sum_unchecked(buf)
        for b in self.buckets:
            for k, i in enumerate(b.indices):
                seg = b.flat[b.offsets[k]: b.offsets[k + 1]]
                g = grads[i]
                if g is None:
                    seg.fill(0)
                else:
                    np.multiply(g.detach().numpy().reshape(-1), scale, out=seg)
            dist._allreduce_sum_unchecked(b.flat)
            for k, i in enumerate(b.indices):
                seg = b.flat[b.offsets[k]: b.offsets[k + 1]]
                g = grads[i]
                if g is not None:
                    np.copyto(g.detach().numpy().reshape(-1), seg)
                else:
                    fresh[i] = seg.copy()
        for i, buf in fresh.items():
            if flags[i] > 0:  # used on some other rank: take the average (zeros from here)
                p = self.params[i]
                p.grad = _core.from_numpy(buf.reshape(tuple(p.shape)))
            # else: no rank used it; its .grad stays None, as in PyTorch

    def summary(self) -> list[tuple[str, list[str]]]:
        out = [("in place", [self.names[i]]) for i in self.direct]
        return out + [("bucket", [self.names[i] for i in b.indices]) for b in self.buckets]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the ranks of
    :mod:`tapegrad.distributed` (``torch.nn.parallel.DistributedDataParallel`` on CPU).

    - construction broadcasts rank 0's parameters and buffers to every rank (one message) and
      checks that every rank wraps a model of the same shapes;
    - ``forward`` runs ``module``; with ``broadcast_buffers`` (default) rank 0's buffers are
      broadcast first, as in PyTorch;
    - the next ``backward()`` averages the gradients over the ranks (Note [when DDP reduces],
      Note [gradient buckets]); inside ``with ddp.no_sync():`` forwards skip that, so
      gradients accumulate locally until a forward outside it;
    - ``ddp.module`` is the wrapped model (save ``ddp.module.state_dict()`` for a checkpoint
      that loads without DDP).

    ``device_ids`` and ``output_device`` must be None (CPU); ``find_unused_parameters`` is
    accepted and not needed (parameters without a gradient are always handled);
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted and change nothing.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool | None = True, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a tapegrad.nn.Module, got "
                            f"{type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: tapegrad runs on the CPU; device_ids and "
                             "output_device must be None")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        self.process_group = process_group
        self._world = dist.get_world_size(process_group)  # raises if not initialized
        self.module = module
        self.dim = dim
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters()]
        for n, p in named:
            if p.requires_grad and p.dtype not in _NP:
                raise TypeError(f"DistributedDataParallel: parameter {n!r} has dtype {p.dtype}; "
                                "gradients can be averaged for float32 and float64")
        self._verify_same_model(named)
        if init_sync:
            self._sync_states([p for _, p in named] + [b for _, b in module.named_buffers()])
        self._buckets = self._make_buckets([(n, p) for n, p in named if p.requires_grad])
        self._finalizer = weakref.finalize(self, _remove_hooks)
        _install_hooks()

    # -- construction ----------------------------------------------------------------------
    def _verify_same_model(self, named: list[tuple[str, Tensor]]) -> None:
        """One Allgather of (count, elements, shape checksum): every rank raises the same error
        if the models differ, instead of mixing unrelated gradients later."""
        desc = ";".join(f"{n}:{p.dtype}:{list(p.shape)}:{int(p.requires_grad)}"
                        for n, p in named).encode()
        numel = sum(p.numel() for _, p in named)
        rec = np.array([len(named), numel, zlib.crc32(desc)], dtype=np.int64)
        table = dist._allgather_records(rec)
        if not (table == table[0]).all():
            per_rank = "; ".join(f"rank {r}: {int(t[0])} parameters, {int(t[1])} elements"
                                 for r, t in enumerate(table))
            raise RuntimeError("DistributedDataParallel: the wrapped models differ across ranks "
                               f"({per_rank}; or their names, shapes or dtypes differ); every "
                               "rank must wrap the same model")

    @staticmethod
    def _sync_states(tensors: list[Tensor]) -> None:
        """Rank 0's parameters and buffers, packed as bytes into one broadcast."""
        if not tensors or dist.get_world_size() == 1:
            return
        arrays = [t.detach().numpy() for t in tensors]  # a strided view's memory too
        views = [np.ascontiguousarray(a.reshape(-1)).view(np.uint8)  # copies for strided views
                 for a in arrays]
        packed = np.concatenate(views) if dist.get_rank() == 0 else \
            np.empty(sum(v.size for v in views), dtype=np.uint8)
        dist._bcast_bytes_unchecked(packed, 0)
        if dist.get_rank() != 0:
            off = 0
            for a, v in zip(arrays, views):
                np.copyto(v, packed[off: off + v.size])
                if not np.may_share_memory(a, v):  # through the view into its base
                    np.copyto(a, v.view(a.dtype).reshape(a.shape))
                off += v.size

    def _make_buckets(self, named: list[tuple[str, Tensor]]) -> list[_DtypeGroup]:
        cap = int(self.bucket_cap_mb * 2**20)
        groups = []
        for dtype, np_dtype in _NP.items():
            # reversed: the order in which a backward produces the gradients
            mine = [(n, p) for n, p in reversed(named) if p.dtype == dtype]
            if mine:
                groups.append(_DtypeGroup(mine, np_dtype, cap))
        return groups

    # -- training --------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if _capture.ACTIVE:  # the gradient averaging is queued from Python, per forward
            _core._capture_refuse("DistributedDataParallel queues its gradient averaging in "
                                  "Python on every forward, which a replay would skip")
        if self.broadcast_buffers and self._world > 1 and _autograd.is_grad_enabled() \
                and self.training:
            bufs = [b for _, b in self.module.named_buffers()]
            if bufs:
                self._sync_states(bufs)
        out = self.module(*inputs, **kwargs)
        if self.require_backward_grad_sync and _autograd.is_grad_enabled() and self._buckets \
                and not any(r() is self for r in _pending):
            _pending.append(weakref.ref(self))
        return out

    def _reduce_gradients(self) -> None:
        if self._world == 1:
            return
        for b in self._buckets:
            b.reduce(self._world)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Forwards inside skip the gradient averaging of their backward (gradients accumulate
        locally); the backward of the next forward outside averages the accumulated sum.

        >>> with ddp.no_sync():                    # doctest: +SKIP
        ...     loss_fn(ddp(x1), y1).backward()    # local gradients only
        >>> loss_fn(ddp(x2), y2).backward()        # doctest: +SKIP
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return ""

    def _bucket_summary(self) -> list[tuple[str, str, list[str]]]:
        """(dtype, "in place" or "bucket", parameter names) per collective, in their order."""
        return [(np.dtype(g.np_dtype).name, kind, names) for g in self._buckets
                for kind, names in g.summary()]

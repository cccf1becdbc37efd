"""Collectives across processes over MPI, with ``torch.distributed``'s names and semantics.

Launch N copies of a script with ``mpiexec -n N python script.py``; in each one::

    import tapegrad as tg
    import tapegrad.distributed as dist

    dist.init_process_group("mpi")            # rank and world size come from mpiexec
    t = tg.full((3,), float(dist.get_rank()))
    dist.all_reduce(t)                          # in place: every rank now holds 0 + 1 + … + N-1
    dist.destroy_process_group()

The transport is MPI through ``mpi4py`` (``pip install "tapegrad[mpi]"`` brings mpi4py and the
MPICH wheel; a system MPI such as Open MPI works too when mpi4py finds it). Importing this
module never imports mpi4py: that happens in :func:`init_process_group`, so ``import tapegrad``
stays free of MPI.

Note [collectives in place]
Every collective works on the tensor's own memory: ``t.detach().numpy()`` is a NumPy view of
the storage, and for a contiguous tensor that view is the MPI buffer. So ``all_reduce``,
``broadcast``, ``all_gather_into_tensor`` and ``reduce_scatter_tensor`` copy nothing;
``all_gather`` and ``reduce_scatter`` with Python lists copy once between the list and one
contiguous buffer. A strided view (``w.T``, ``x[:, ::2]``) is sent from a contiguous copy, and
a buffer MPI writes is copied back through the view when the collective completes
(``_write_back``), so the result reaches the view's base as PyTorch's does. ``ReduceOp.AVG`` is a SUM followed by a division by the world size
(MPI has no average), so it needs a floating-point tensor.

Note [shape check]
MPI trusts the caller: if rank 0 all-reduces 3 floats and rank 1 4 floats, MPI may write past
a buffer or mix unrelated data. Before each public collective the ranks therefore exchange one
fixed 16-number record (collective, op or root, dtype, shape) with a single small
``Allgather`` (a few µs on one host) and every rank raises the same RuntimeError — naming the
ranks and their shapes — when the records differ; since all ranks see the same table, none is
left waiting. DistributedDataParallel checks its gradient layout once at construction and then
reduces through the unchecked path.

Note [failure]
``init_process_group`` installs a ``sys.excepthook``: an uncaught exception on any rank prints
its traceback, then ``tapegrad.distributed: rank R of N failed …`` and calls ``MPI_Abort``,
which makes ``mpiexec`` stop every rank and exit non-zero within a second or two — without
it the other ranks would wait in their next collective for ever. ``destroy_process_group``
restores the previous hook. (A rank that leaves early *without* an exception, e.g. by returning
from ``main`` while the others still call collectives, is not detected: MPI cannot tell it
from a slow rank.)
"""

from __future__ import annotations

import enum
import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core

Tensor = _core.Tensor

__all__ = [
    "Backend",
    "GroupMember",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
]


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` combines the ranks' tensors (``torch.distributed.ReduceOp``)."""

    SUM = 0
    PRODUCT = 1
    MIN = 2
    MAX = 3
    AVG = 7

    def __repr__(self) -> str:
        return f"<ReduceOp.{self.name}: {self.value}>"


class Backend(str):
    """Backend names (``torch.distributed.Backend``); tapegrad has one: ``"mpi"``."""

    MPI = "mpi"


class _World:
    """The default (and only) process group: every rank of ``MPI_COMM_WORLD``."""

    def __repr__(self) -> str:
        return "<tapegrad.distributed.group.WORLD>"


class group:
    """``group.WORLD`` names the default process group (the only one tapegrad has)."""

    WORLD = _World()


GroupMember = group

_DTYPE_CODES = {_core.dtype.float32: 1, _core.dtype.float64: 2, _core.dtype.int64: 3}
_DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int64"}


class _State:
    def __init__(self, MPI: Any, comm: Any, prev_hook: Callable[..., Any]) -> None:
        self.MPI = MPI
        self.comm = comm  # a duplicate of COMM_WORLD: our traffic never matches the user's own
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self.prev_hook = prev_hook
        self.mpi_types = {1: MPI.FLOAT, 2: MPI.DOUBLE, 3: MPI.INT64_T}
        self.mpi_ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                        ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}


_state: _State | None = None


def is_available() -> bool:
    """True: the distributed package is part of every tapegrad (the transport is optional)."""
    return True


def is_mpi_available() -> bool:
    """Whether ``mpi4py`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError("tapegrad.distributed needs mpi4py and an MPI library: "
                           "pip install \"tapegrad[mpi]\" (or: pip install mpi4py mpich)") from exc
    except RuntimeError as exc:  # mpi4py found no libmpi
        raise RuntimeError(f"tapegrad.distributed: mpi4py could not load an MPI library ({exc}); "
                           "pip install mpich, or point MPI4PY_LIBMPI at your libmpi") from exc
    return MPI


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       store: Any = None, group_name: str = "", pg_options: Any = None,
                       device_id: Any = None) -> None:
    """Join the default process group: every process that ``mpiexec`` started.

    ``backend`` must be ``"mpi"`` (or None). Rank and world size come from MPI; ``world_size``
    and ``rank``, when given, must agree with them. ``init_method`` and ``store`` are not needed
    (MPI's launcher already connected the processes) and ``timeout`` is not enforced (MPI
    collectives cannot time out); see Note [failure] for what bounds a failed run.

    Also: installs an excepthook that aborts all ranks when one raises (Note [failure]); and,
    unless ``TAPEGRAD_NUM_THREADS`` is set, lowers tapegrad's kernel threads so that the
    ranks on one host share its cores (``cores // ranks on this host``, at least 1) — as
    ``torchrun`` sets ``OMP_NUM_THREADS=1``.

    >>> import tapegrad.distributed as dist
    >>> dist.init_process_group("mpi")            # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()    # doctest: +SKIP
    (0, 2)
    """
    global _state
    if _state is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available in tapegrad; "
                         "its only backend is 'mpi' (launch with: mpiexec -n N python script.py)")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method {init_method!r} is not supported; "
                         "with the 'mpi' backend the processes are connected by mpiexec")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD.Dup()
    n, r = comm.Get_size(), comm.Get_rank()
    if world_size not in (-1, None) and int(world_size) != n:
        comm.Free()
        raise ValueError(f"init_process_group: world_size={world_size} but mpiexec started {n} "
                         "process(es)")
    if rank not in (-1, None) and int(rank) != r:
        comm.Free()
        raise ValueError(f"init_process_group: rank={rank} but MPI says this is rank {r}")
    _state = _State(MPI, comm, sys.excepthook)
    sys.excepthook = _abort_on_exception
    if "TAPEGRAD_NUM_THREADS" not in os.environ and n > 1:
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        per_rank = max(1, _cpus() // local.Get_size())
        local.Free()
        if _core.get_num_threads() > per_rank:
            _core.set_num_threads(per_rank)


def _abort_on_exception(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    st = _state
    if st is None:
        sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        st.prev_hook(exc_type, exc, tb)
    finally:
        if st.size > 1:
            sys.stderr.write(f"tapegrad.distributed: rank {st.rank} of {st.size} failed with "
                             f"{exc_type.__name__}; aborting all {st.size} ranks (MPI_Abort)\n")
            sys.stderr.flush()
            # The launcher forwards each rank's output through its own pipes, and MPI_Abort
            # tears the job down at once: without a pause, the traceback written just now can
            # be cut off (seen with MPICH's mpiexec: only its first line arrived).
            time.sleep(0.5)
            st.MPI.COMM_WORLD.Abort(1)


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has been called (and not undone)."""
    return _state is not None


def _group_state(group: Any, name: str = "") -> _State:
    if _state is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    if group is not None and group is not GroupMember.WORLD:
        raise ValueError(f"{name or 'tapegrad.distributed'}: only the default group "
                         f"(group=None or group.WORLD) exists in tapegrad, got {group!r}")
    return _state


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group (MPI itself is finalized when the process exits)."""
    global _state
    st = _group_state(group, "destroy_process_group")
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = st.prev_hook
    st.comm.Free()
    _state = None


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 … world size − 1."""
    return _group_state(group, "get_rank").rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return _group_state(group, "get_world_size").size


def get_backend(group: Any = None) -> str:
    """``"mpi"``."""
    _group_state(group, "get_backend")
    return Backend.MPI


class Work:
    """What a collective returns with ``async_op=True``: ``wait()`` blocks until it is done."""

    def __init__(self, request: Any = None, finish: Callable[[], None] | None = None) -> None:
        self._request = request
        self._finish = finish
        self._done = request is None

    def wait(self, timeout: Any = None) -> bool:
        if not self._done:
            self._request.Wait()
            self._done = True
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._done = True
            if self._finish is not None:
                self._finish()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()


def _dtype_code(name: str, t: Any, arg: str = "tensor") -> int:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {arg} must be a tapegrad.Tensor, got {type(t).__name__}")
    code = _DTYPE_CODES.get(t.dtype)
    if code is None:
        raise TypeError(f"{name}: {arg} has dtype {t.dtype}; collectives support float32, "
                        "float64 and int64")
    return code


def _view(t: Tensor) -> np.ndarray:
    """The tensor's memory as a flat NumPy array; a copy for a strided view (Note
    [collectives in place])."""
    # reshape(-1) of a strided view may itself be strided (x[:, ::2] of a C-ordered x)
    return np.ascontiguousarray(t.detach().numpy().reshape(-1))


def _write_back(t: Tensor, buf: np.ndarray) -> Callable[[], None] | None:
    """After MPI wrote ``buf`` (``_view(t)``): nothing when it is t's memory, else the copy of
    ``buf`` into the strided view t."""
    a = t.detach().numpy()
    if np.may_share_memory(a, buf):
        return None

    def finish() -> None:
        np.copyto(a, buf.reshape(a.shape))

    return finish


def _then(*steps: Callable[[], None] | None) -> Callable[[], None] | None:
    """The finishing steps in order (None when there are none)."""
    todo = [f for f in steps if f is not None]
    if not todo:
        return None

    def finish() -> None:
        for f in todo:
            f()

    return finish


_RECORD = 16  # collective, argument, dtype, ndim, numel, 11 dims


def _record(op: int, arg: int, code: int, shape: Sequence[int]) -> np.ndarray:
    dims = list(shape)
    rec = [op, arg, code, len(dims), math.prod(dims)] + dims[: _RECORD - 5]
    return np.array(rec + [-1] * (_RECORD - len(rec)), dtype=np.int64)


_OPS = ["all_reduce", "broadcast", "all_gather", "reduce_scatter", "reduce", "barrier"]


def _describe(rec: np.ndarray) -> str:
    op, arg = _OPS[int(rec[0])], int(rec[1])
    if op in ("all_reduce", "reduce_scatter"):
        call = f"{op}({ReduceOp(arg).name})"
    elif op == "reduce":
        call = f"reduce(dst={arg % 1000}, {ReduceOp(arg // 1000).name})"
    elif op == "broadcast":
        call = f"broadcast(src={arg})"
    else:
        call = op
    nd = int(rec[3])
    dims = [int(d) for d in rec[5:5 + min(nd, _RECORD - 5)]]
    shape = "[" + ", ".join(map(str, dims)) + (", …" if nd > _RECORD - 5 else "") + "]"
    return f"{call} on {_DTYPE_NAMES.get(int(rec[2]), '?')} {shape}"


def _check(st: _State, name: str, op: int, arg: int, code: int, shape: Sequence[int]) -> None:
    """Note [shape check]: one small Allgather; every rank raises the same error on mismatch."""
    if st.size == 1:
        return
    mine = _record(op, arg, code, shape)
    table = np.empty((st.size, _RECORD), dtype=np.int64)
    st.comm.Allgather([mine, st.MPI.INT64_T], [table, st.MPI.INT64_T])
    raw = table.tobytes()
    if raw == raw[: mine.nbytes] * st.size:  # every rank's record equals rank 0's
        return
    lines = "; ".join(f"rank {r}: {_describe(table[r])}" for r in range(st.size))
    raise RuntimeError(f"{name}: the ranks' calls do not match ({lines}); every rank must call "
                       "the same collective on tensors of the same shape and dtype")


def _avg_finisher(st: _State, buf: np.ndarray, op: ReduceOp) -> Callable[[], None] | None:
    if op is not ReduceOp.AVG:
        return None
    n = st.size

    def finish() -> None:
        np.divide(buf, n, out=buf)

    return finish


def _check_op(name: str, op: Any, code: int) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a tapegrad.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and code == 3:
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor (the average of "
                        "int64 values is not an int64); use SUM and divide")
    return op


def _run(st: _State, blocking: Callable[[], None], nonblocking: Callable[[], Any],
         finish: Callable[[], None] | None, async_op: bool) -> Work | None:
    if async_op:
        return Work(nonblocking(), finish)
    blocking()
    if finish is not None:
        finish()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across all ranks with ``op``; every rank gets the result, in place.

    >>> t = tg.tensor([1.0, 2.0]) * (dist.get_rank() + 1)   # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)             # doctest: +SKIP
    """
    st = _group_state(group, "all_reduce")
    code = _dtype_code("all_reduce", tensor)
    op = _check_op("all_reduce", op, code)
    _check(st, "all_reduce", 0, op.value, code, tensor.shape)
    buf = _view(tensor)
    msg = [buf, st.mpi_types[code]]
    mop = st.mpi_ops[op]
    return _run(st, lambda: st.comm.Allreduce(st.MPI.IN_PLACE, msg, op=mop),
                lambda: st.comm.Iallreduce(st.MPI.IN_PLACE, msg, op=mop),
                _then(_avg_finisher(st, buf, op), _write_back(tensor, buf)), async_op)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across ranks into rank ``dst``'s tensor (the others keep theirs)."""
    st = _group_state(group, "reduce")
    code = _dtype_code("reduce", tensor)
    op = _check_op("reduce", op, code)
    _check_root(st, "reduce", "dst", dst)
    _check(st, "reduce", 4, op.value * 1000 + dst, code, tensor.shape)
    buf = _view(tensor)
    msg = [buf, st.mpi_types[code]]
    mop, MPI = st.mpi_ops[op], st.MPI
    send = MPI.IN_PLACE if st.rank == dst else msg
    recv = msg if st.rank == dst else None
    finish = _then(_avg_finisher(st, buf, op), _write_back(tensor, buf)) if st.rank == dst \
        else None
    return _run(st, lambda: st.comm.Reduce(send, recv, op=mop, root=dst),
                lambda: st.comm.Ireduce(send, recv, op=mop, root=dst), finish, async_op)


def _check_root(st: _State, name: str, what: str, root: Any) -> None:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) \
            or not 0 <= root < st.size:
        raise ValueError(f"{name}: {what}={root!r} is not a rank of this group (0 … {st.size - 1})")


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s tensor into every other rank's ``tensor``, in place."""
    st = _group_state(group, "broadcast")
    code = _dtype_code("broadcast", tensor)
    _check_root(st, "broadcast", "src", src)
    _check(st, "broadcast", 1, int(src), code, tensor.shape)
    buf = _view(tensor)
    msg = [buf, st.mpi_types[code]]
    finish = _write_back(tensor, buf) if st.rank != src else None
    return _run(st, lambda: st.comm.Bcast(msg, root=src),
                lambda: st.comm.Ibcast(msg, root=src), finish, async_op)


def _check_list(st: _State, name: str, arg: str, tensors: Any, like: Tensor, code: int) -> None:
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: {arg} must be a list of tensors, got {type(tensors).__name__}")
    if len(tensors) != st.size:
        raise ValueError(f"{name}: {arg} has {len(tensors)} tensors, expected one per rank "
                         f"({st.size})")
    for i, t in enumerate(tensors):
        if _dtype_code(name, t, f"{arg}[{i}]") != code or tuple(t.shape) != tuple(like.shape):
            raise ValueError(f"{name}: {arg}[{i}] is {t.dtype} {list(t.shape)}, expected "
                             f"{like.dtype} {list(like.shape)} like the other tensor")


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank."""
    st = _group_state(group, "all_gather")
    code = _dtype_code("all_gather", tensor)
    _check_list(st, "all_gather", "tensor_list", tensor_list, tensor, code)
    _check(st, "all_gather", 2, 0, code, tensor.shape)
    send = [_view(tensor), st.mpi_types[code]]
    gathered = np.empty((st.size, tensor.numel()), dtype=send[0].dtype)
    recv = [gathered, st.mpi_types[code]]

    def finish() -> None:
        for r, t in enumerate(tensor_list):
            a = t.detach().numpy()  # a strided view's memory too
            np.copyto(a, gathered[r].reshape(a.shape))

    return _run(st, lambda: st.comm.Allgather(send, recv),
                lambda: st.comm.Iallgather(send, recv), finish, async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """Gather every rank's ``input_tensor`` into ``output_tensor`` (rank r's block r of the
    first dimension, or of a flat view), without copies."""
    st = _group_state(group, "all_gather_into_tensor")
    code = _dtype_code("all_gather_into_tensor", input_tensor, "input_tensor")
    if _dtype_code("all_gather_into_tensor", output_tensor, "output_tensor") != code \
            or output_tensor.numel() != st.size * input_tensor.numel():
        raise ValueError(f"all_gather_into_tensor: output_tensor {output_tensor.dtype} "
                         f"{list(output_tensor.shape)} must hold {st.size} × input_tensor "
                         f"{input_tensor.dtype} {list(input_tensor.shape)}")
    _check(st, "all_gather_into_tensor", 2, 0, code, input_tensor.shape)
    out = _view(output_tensor)
    send, recv = [_view(input_tensor), st.mpi_types[code]], [out, st.mpi_types[code]]
    return _run(st, lambda: st.comm.Allgather(send, recv),
                lambda: st.comm.Iallgather(send, recv), _write_back(output_tensor, out),
                async_op)


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Work | None:
    """``output`` on rank r = ``op`` over all ranks of their ``input_list[r]``."""
    st = _group_state(group, "reduce_scatter")
    code = _dtype_code("reduce_scatter", output, "output")
    op = _check_op("reduce_scatter", op, code)
    _check_list(st, "reduce_scatter", "input_list", input_list, output, code)
    _check(st, "reduce_scatter", 3, op.value, code, output.shape)
    out = _view(output)
    packed = np.empty((st.size, output.numel()), dtype=out.dtype)
    for r, t in enumerate(input_list):
        packed[r] = _view(t)
    return _reduce_scatter_block(st, packed, out, code, op, async_op,
                                 _write_back(output, out))


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,
                          group: Any = None, async_op: bool = False) -> Work | None:
    """``output`` on rank r = ``op`` over all ranks of block r of ``input`` (``input`` holds
    world-size × ``output``'s elements), without copies."""
    st = _group_state(group, "reduce_scatter_tensor")
    code = _dtype_code("reduce_scatter_tensor", output, "output")
    op = _check_op("reduce_scatter_tensor", op, code)
    if _dtype_code("reduce_scatter_tensor", input, "input") != code \
            or input.numel() != st.size * output.numel():
        raise ValueError(f"reduce_scatter_tensor: input {input.dtype} {list(input.shape)} must "
                         f"hold {st.size} × output {output.dtype} {list(output.shape)}")
    _check(st, "reduce_scatter_tensor", 3, op.value, code, output.shape)
    out = _view(output)
    return _reduce_scatter_block(st, _view(input), out, code, op, async_op,
                                 _write_back(output, out))


def _reduce_scatter_block(st: _State, send_buf: np.ndarray, out: np.ndarray, code: int,
                          op: ReduceOp, async_op: bool,
                          write_back: Callable[[], None] | None) -> Work | None:
    send, recv = [send_buf, st.mpi_types[code]], [out, st.mpi_types[code]]
    mop = st.mpi_ops[op]
    return _run(st, lambda: st.comm.Reduce_scatter_block(send, recv, op=mop),
                lambda: st.comm.Ireduce_scatter_block(send, recv, op=mop),
                _then(_avg_finisher(st, out, op), write_back), async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank has reached this call."""
    st = _group_state(group, "barrier")
    return _run(st, st.comm.Barrier, st.comm.Ibarrier, None, async_op)


def _abort(code: int = 1) -> None:
    """Stop every rank of the job now (``MPI_Abort``), e.g. after an error only this rank saw."""
    st = _group_state(None)
    st.MPI.COMM_WORLD.Abort(code)


# ----- for DistributedDataParallel (tapegrad.nn.parallel) ----------------------------------------
def _allreduce_sum_unchecked(buf: np.ndarray) -> None:
    """In-place SUM of a float32/float64 NumPy buffer over all ranks, without the per-call
    shape check (the caller verified the layout once; Note [shape check])."""
    st = _group_state(None)
    if st.size > 1:
        st.comm.Allreduce(st.MPI.IN_PLACE, buf, op=st.MPI.SUM)


def _bcast_bytes_unchecked(buf: np.ndarray, src: int = 0) -> None:
    st = _group_state(None)
    if st.size > 1:
        st.comm.Bcast([buf, st.MPI.BYTE], root=src)


def _allgather_records(rec: np.ndarray) -> np.ndarray:
    """Every rank's int64 record (rows in rank order)."""
    st = _group_state(None)
    table = np.empty((st.size, rec.size), dtype=np.int64)
    st.comm.Allgather([rec, st.MPI.INT64_T], [table, st.MPI.INT64_T])
    return table

"""The collectives against NumPy, on every rank (run under mpiexec; see conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.distributed as dist

if not dist.is_initialized():
    pytest.skip("runs on all ranks under mpiexec (see conftest.py)", allow_module_level=True)

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
OPS = list(dist.ReduceOp)
RTOL = {np.float32: 1e-6, np.float64: 1e-13, np.int64: 0}


def _data(rank: int, shape: tuple[int, ...], dtype, op=None, salt: int = 0) -> np.ndarray:
    """Rank ``rank``'s tensor: every rank can compute every other rank's (the oracle)."""
    rng = np.random.default_rng(1000 * salt + rank)
    if dtype == np.int64:
        lo, hi = (-3, 4) if op is dist.ReduceOp.PRODUCT else (-1000, 1000)
        return rng.integers(lo, hi, size=shape).astype(np.int64)
    if op is dist.ReduceOp.PRODUCT:
        return rng.uniform(0.5, 1.5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _oracle(op, arrays: list[np.ndarray]) -> np.ndarray:
    stack = np.stack(arrays)
    if op is dist.ReduceOp.SUM:
        return stack.sum(0)
    if op is dist.ReduceOp.AVG:
        return stack.sum(0) / len(arrays)
    if op is dist.ReduceOp.PRODUCT:
        return stack.prod(0)
    return stack.max(0) if op is dist.ReduceOp.MAX else stack.min(0)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    rtol = RTOL[got.dtype.type]
    if rtol == 0:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=rtol)


R, N = dist.get_rank(), dist.get_world_size()
SHAPES = [(), (0,), (7,), (45, 65)]


def test_world():
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    assert 0 <= R < N and N >= 2
    assert dist.get_rank(dist.group.WORLD) == R


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_all_reduce(op, dtype, shape):
    t = tg.from_numpy(_data(R, shape, dtype, op))
    if op is dist.ReduceOp.AVG and dtype == np.int64:
        with pytest.raises(TypeError, match="AVG needs a floating-point tensor"):
            dist.all_reduce(t, op=op)
        return
    ptr = t.numpy().__array_interface__["data"][0]
    assert dist.all_reduce(t, op=op) is None
    assert t.numpy().__array_interface__["data"][0] == ptr  # in place, same storage
    _close(t.numpy(), _oracle(op, [_data(r, shape, dtype, op) for r in range(N)]))


@pytest.mark.parametrize("op", [dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX],
                         ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_all_reduce_async(op, dtype):
    t = tg.from_numpy(_data(R, (33,), dtype, op))
    work = dist.all_reduce(t, op=op, async_op=True)
    assert work.wait()
    assert work.is_completed()
    _close(t.numpy(), _oracle(op, [_data(r, (33,), dtype, op) for r in range(N)]))


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("src", range(3))
def test_broadcast(dtype, src):
    src = src % N
    t = tg.from_numpy(_data(R, (5, 3), dtype))
    dist.broadcast(t, src=src)
    np.testing.assert_array_equal(t.numpy(), _data(src, (5, 3), dtype))
    w = tg.from_numpy(_data(R, (4,), dtype))
    dist.broadcast(w, src, async_op=True).wait()
    np.testing.assert_array_equal(w.numpy(), _data(src, (4,), dtype))


def test_broadcast_into_a_parameter():
    p = tg.full((3,), float(R), requires_grad=True)
    dist.broadcast(p, 0)
    assert p.requires_grad and p.detach().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_reduce(op, dtype):
    if op is dist.ReduceOp.AVG and dtype == np.int64:
        return
    dst = N - 1
    t = tg.from_numpy(_data(R, (6,), dtype, op))
    dist.reduce(t, dst, op=op)
    if R == dst:
        _close(t.numpy(), _oracle(op, [_data(r, (6,), dtype, op) for r in range(N)]))
    else:
        np.testing.assert_array_equal(t.numpy(), _data(R, (6,), dtype, op))


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("async_op", [False, True])
def test_all_gather(dtype, async_op):
    t = tg.from_numpy(_data(R, (2, 3), dtype))
    out = [tg.zeros((2, 3), dtype=t.dtype) for _ in range(N)]
    work = dist.all_gather(out, t, async_op=async_op)
    if async_op:
        work.wait()
    for r in range(N):
        np.testing.assert_array_equal(out[r].numpy(), _data(r, (2, 3), dtype))
    big = tg.zeros((N * 2, 3), dtype=t.dtype)
    dist.all_gather_into_tensor(big, t)
    np.testing.assert_array_equal(big.numpy(),
                                  np.concatenate([_data(r, (2, 3), dtype) for r in range(N)]))


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_reduce_scatter(op, dtype):
    if op is dist.ReduceOp.AVG and dtype == np.int64:
        with pytest.raises(TypeError, match="AVG"):
            dist.reduce_scatter(tg.zeros(4, dtype=tg.int64),
                                [tg.zeros(4, dtype=tg.int64)] * N, op=op)
        return
    # rank s contributes block r = _data(s, salt=r) to rank r
    inputs = [tg.from_numpy(_data(R, (4,), dtype, op, salt=r + 1)) for r in range(N)]
    out = tg.zeros(4, dtype=inputs[0].dtype)
    dist.reduce_scatter(out, inputs, op=op)
    want = _oracle(op, [_data(s, (4,), dtype, op, salt=R + 1) for s in range(N)])
    _close(out.numpy(), want)
    flat = tg.from_numpy(np.concatenate([t.numpy() for t in inputs]))
    out2 = tg.zeros(4, dtype=inputs[0].dtype)
    dist.reduce_scatter_tensor(out2, flat, op=op)
    _close(out2.numpy(), want)


def test_barrier():
    dist.barrier()
    dist.barrier(async_op=True).wait()


# ----- mismatches raise on every rank, and the ranks stay usable afterwards -----------------------
def _after_error_still_works():
    t = tg.ones(3)
    dist.all_reduce(t)
    assert t.tolist() == [float(N)] * 3


def test_mismatched_shapes_raise_on_every_rank():
    t = tg.zeros(3 + R)  # rank r: r + 3 elements
    with pytest.raises(RuntimeError, match=r"all_reduce: the ranks' calls do not match "
                                           r"\(rank 0: all_reduce\(SUM\) on float32 \[3\]; "
                                           r"rank 1: all_reduce\(SUM\) on float32 \[4\]"):
        dist.all_reduce(t)
    assert t.tolist() == [0.0] * (3 + R)  # untouched
    _after_error_still_works()


def test_mismatched_dtypes_raise():
    t = tg.zeros(3, dtype=tg.float64 if R == 0 else tg.float32)
    with pytest.raises(RuntimeError, match="rank 0: broadcast\\(src=0\\) on float64 \\[3\\]"):
        dist.broadcast(t, 0)
    _after_error_still_works()


def test_mismatched_collectives_raise():
    t = tg.zeros(2, 2)
    with pytest.raises(RuntimeError, match="rank 0: all_reduce\\(MAX\\).*rank 1: broadcast"):
        if R == 0:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        else:
            dist.broadcast(t, 0)
    _after_error_still_works()


def test_mismatched_gather_shapes_raise():
    t = tg.zeros(R + 1)
    with pytest.raises(RuntimeError, match="all_gather"):
        dist.all_gather_into_tensor(tg.zeros(N * (R + 1)), t)
    _after_error_still_works()


def test_bad_arguments():
    with pytest.raises(TypeError, match="collectives support float32, float64 and int64"):
        dist.all_reduce(tg.zeros(2, dtype=tg.bool))
    with pytest.raises(TypeError, match="must be a tapegrad.Tensor"):
        dist.all_reduce(np.zeros(2))
    with pytest.raises(TypeError, match="ReduceOp"):
        dist.all_reduce(tg.zeros(2), op="sum")
    with pytest.raises(ValueError, match=r"src=99 is not a rank"):
        dist.broadcast(tg.zeros(2), 99)
    with pytest.raises(ValueError, match="expected one per rank"):
        dist.all_gather([tg.zeros(2)] * (N + 1), tg.zeros(2))
    with pytest.raises(ValueError, match=r"tensor_list\[0\] is tapegrad.float32 \[3\]"):
        dist.all_gather([tg.zeros(3)] * N, tg.zeros(2))
    with pytest.raises(ValueError, match="only the default group"):
        dist.all_reduce(tg.zeros(2), group="other")
    with pytest.raises(ValueError, match="twice"):
        dist.init_process_group("mpi")
    _after_error_still_works()

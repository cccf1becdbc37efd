"""Collectives and DistributedDataParallel on strided views, on every rank (run under mpiexec):
what MPI writes reaches the view's base, as PyTorch's collectives write through views."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.distributed as dist
from tapegrad import nn
from tapegrad.nn.parallel import DistributedDataParallel as DDP

if not dist.is_initialized():
    pytest.skip("runs on all ranks under mpiexec (see conftest.py)", allow_module_level=True)

R, N = dist.get_rank(), dist.get_world_size()

# A view of a (4, 6) base and the same elements in NumPy.
VIEWS = {
    "T": lambda b: b.T,
    "step": lambda b: b[:, ::2],
    "neg_step": lambda b: b[::-1, 1:],
    "col": lambda b: b[:, 3],
}


def _base(rank: int) -> np.ndarray:
    return np.arange(24, dtype=np.float64).reshape(4, 6) * (rank + 1)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("async_op", [False, True])
def test_collectives_write_through_views(view, async_op):
    mk = VIEWS[view]

    def run(f):
        w = f()
        if async_op and w is not None:
            w.wait()

    b = tg.tensor(_base(R))
    run(lambda: dist.all_reduce(mk(b), async_op=async_op))
    want = _base(R).copy()
    mk(want)[...] = sum(mk(_base(r)) for r in range(N))
    np.testing.assert_array_equal(b.numpy(), want)

    b = tg.tensor(_base(R))
    run(lambda: dist.broadcast(mk(b), N - 1, async_op=async_op))
    want = _base(R).copy()
    mk(want)[...] = mk(_base(N - 1))
    np.testing.assert_array_equal(b.numpy(), want)

    outs = [tg.zeros(4, 6, dtype=tg.float64) for _ in range(N)]
    run(lambda: dist.all_gather([mk(o) for o in outs], mk(tg.tensor(_base(R))),
                                async_op=async_op))
    for r, o in enumerate(outs):
        want = np.zeros((4, 6))
        mk(want)[...] = mk(_base(r))
        np.testing.assert_array_equal(o.numpy(), want)

    big = tg.zeros(6, 4 * N, dtype=tg.float64)  # gathered into big.T, a (4N, 6) view
    run(lambda: dist.all_gather_into_tensor(big.T, tg.tensor(_base(R)), async_op=async_op))
    np.testing.assert_array_equal(big.numpy().T, np.concatenate([_base(r) for r in range(N)]))

    b = tg.tensor(_base(R))
    ins = [mk(tg.tensor(_base(R) + s)) for s in range(N)]
    run(lambda: dist.reduce_scatter(mk(b), ins, async_op=async_op))
    want = _base(R).copy()
    mk(want)[...] = sum(mk(_base(r) + R) for r in range(N))
    np.testing.assert_array_equal(b.numpy(), want)


def test_ddp_broadcasts_strided_parameters_and_buffers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4)
            # a transposed parameter and a strided buffer, each a view of a base
            self.w = nn.Parameter(tg.randn(3, 4).T)
            self.register_buffer("stats", tg.randn(2, 8)[:, ::2])

        def forward(self, x):
            return self.lin(x) + x @ self.w.T + self.stats.sum()

    tg.manual_seed(R)
    net = DDP(Net())
    for t in (net.module.w.detach(), net.module.stats):
        gathered = [tg.zeros(t.shape) for _ in range(N)]
        dist.all_gather(gathered, t)
        for g in gathered:
            np.testing.assert_array_equal(g.numpy(), t.numpy())

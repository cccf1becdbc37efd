"""DistributedDataParallel and DistributedSampler on every rank (run under mpiexec).

The central check: N ranks, each with B/N rows of every batch, end with the parameters of one
process that trains on the whole batch B — after 20 steps of SGD, momentum SGD or Adam, in
float64, to 1e-6 (in practice to rounding)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.distributed as dist
from tapegrad import nn, optim
from tapegrad.nn.parallel import DistributedDataParallel as DDP
from tapegrad.utils.data import DataLoader, DistributedSampler, TensorDataset

if not dist.is_initialized():
    pytest.skip("runs on all ranks under mpiexec (see conftest.py)", allow_module_level=True)

R, N = dist.get_rank(), dist.get_world_size()


def _mlp(seed: int, dtype=tg.float64, d_in: int = 9, hidden: int = 13, d_out: int = 4):
    tg.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    return _cast(net, dtype)


def _cast(net, dtype):
    with tg.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight = nn.Parameter(m.weight.detach().to(dtype))
                m.bias = nn.Parameter(m.bias.detach().to(dtype))
    return net


def _data(n: int, d_in: int = 9, classes: int = 4, dtype=np.float64):
    rng = np.random.default_rng(42)
    return (tg.from_numpy(rng.standard_normal((n, d_in)).astype(dtype)),
            tg.from_numpy(rng.integers(0, classes, n).astype(np.int64)))


def _opt(kind: str, params):
    if kind == "sgd":
        return optim.SGD(params, lr=0.1)
    if kind == "momentum":
        return optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3)
    return optim.Adam(params, lr=0.01)


def _params(net):
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("bucket_cap_mb", [25, 1e-4])
@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("per_rank", [1, 2])  # per-rank batch 1 takes the factored-gradient path
def test_ranks_with_a_share_of_the_batch_equal_one_process(kind, per_rank, bucket_cap_mb):
    B, steps = per_rank * N, 20
    X, y = _data(B * steps)
    ref = _mlp(0)                       # one process, whole batches
    ddp = DDP(_mlp(R), bucket_cap_mb=bucket_cap_mb)  # different inits: construction syncs them
    for k, v in _params(ref).items():
        np.testing.assert_array_equal(_params(ddp.module)[k], v)
    opt_ref, opt = _opt(kind, ref.parameters()), _opt(kind, ddp.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for s in range(steps):
        rows = slice(s * B, (s + 1) * B)
        loss = loss_fn(ref(X[rows]), y[rows])
        opt_ref.zero_grad(); loss.backward(); opt_ref.step()
        mine = tg.arange(s * B + R, (s + 1) * B, N)  # rank R's rows of the batch
        loss = loss_fn(ddp(X[mine]), y[mine])
        opt.zero_grad(); loss.backward(); opt.step()
    got, want = _params(ddp.module), _params(ref)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6)
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)  # in fact: rounding
    summary = ddp._bucket_summary()  # reverse order; every gradient is small: packed
    if bucket_cap_mb < 1:
        assert [names for _, _, names in summary] == [["2.bias"], ["2.weight"], ["0.bias"],
                                                      ["0.weight"]]
    else:
        assert summary == [("float64", "bucket", ["2.bias", "2.weight", "0.bias", "0.weight"])]


def test_float32_factored_batch_one_gradients_average_exactly():
    X, y = _data(N, d_in=300, dtype=np.float32)
    net = DDP(_mlp(0, dtype=tg.float32, d_in=300, hidden=256))  # 300 KB: averaged in place
    assert net._bucket_summary() == [("float32", "in place", ["0.weight"]),
                                     ("float32", "bucket", ["2.bias", "2.weight", "0.bias"])]
    F = nn.CrossEntropyLoss()
    F(net(X[R:R + 1]), y[R:R + 1]).backward()
    grads = {n: p.grad.numpy().copy() for n, p in net.module.named_parameters()}
    # the oracle: every rank's own (materialised) gradient, gathered and averaged here
    plain = _mlp(0, dtype=tg.float32, d_in=300, hidden=256)
    table = []
    for r in range(N):
        plain.zero_grad()
        F(plain(X[r:r + 1]), y[r:r + 1]).backward()
        table.append({n: p.grad.numpy().copy() for n, p in plain.named_parameters()})
    for n, got in grads.items():
        want = np.sum([t[n] for t in table], axis=0, dtype=np.float32) / np.float32(N)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_no_sync_accumulates_then_averages():
    X, y = _data(4 * N)
    F = nn.CrossEntropyLoss()
    ddp, ref = DDP(_mlp(0)), _mlp(0)
    a, b = tg.arange(R, 2 * N, N), tg.arange(2 * N + R, 4 * N, N)
    with ddp.no_sync():
        F(ddp(X[a]), y[a]).backward()
    local = {n: p.grad.numpy().copy() for n, p in ddp.module.named_parameters()}
    F(ddp(X[b]), y[b]).backward()
    (F(ref(X[:2 * N]), y[:2 * N]) + F(ref(X[2 * N:]), y[2 * N:])).backward()
    for (n, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-12)
    # the no_sync step really was local: the ranks held different gradients
    mine = tg.from_numpy(local["0.weight"])
    everyone = [tg.zeros(mine.shape, dtype=mine.dtype) for _ in range(N)]
    dist.all_gather(everyone, mine)
    assert not np.array_equal(everyone[0].numpy(), everyone[1].numpy())


class _Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(tg.tensor([1.0, 2.0], dtype=tg.float64))
        self.b = nn.Parameter(tg.tensor([3.0], dtype=tg.float64))
        self.c = nn.Parameter(tg.tensor([4.0], dtype=tg.float64))  # never used
        # the same, large enough to be averaged in place (DIRECT_BYTES)
        self.d = nn.Parameter(tg.zeros(40000, dtype=tg.float64))
        self.e = nn.Parameter(tg.zeros(40000, dtype=tg.float64))

    def forward(self, x):
        out = (self.a * x).sum()
        return out + self.b.sum() * x.sum() + self.d.sum() if R == 0 else out


def test_parameters_unused_on_some_or_all_ranks():
    net = DDP(_Branches())
    net(tg.full((2,), float(R + 1), dtype=tg.float64)).backward()
    m = net.module
    mean = sum(r + 1 for r in range(N)) / N
    np.testing.assert_allclose(m.a.grad.numpy(), [mean, mean])
    np.testing.assert_allclose(m.b.grad.numpy(), [2.0 / N])  # rank 0's 2·1, zeros elsewhere
    assert m.c.grad is None
    np.testing.assert_array_equal(m.d.grad.numpy(), np.full(40000, 1.0 / N))
    assert m.e.grad is None
    assert [kind for _, kind, _ in net._bucket_summary()] == ["in place", "in place", "bucket"]


def test_models_that_differ_across_ranks_raise_on_every_rank():
    with pytest.raises(RuntimeError, match="the wrapped models differ across ranks"):
        DDP(_mlp(0, hidden=13 + (R == N - 1)))
    t = tg.ones(2)
    dist.all_reduce(t)  # nothing left hanging
    assert t.tolist() == [float(N)] * 2


class _WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("count", tg.full((3,), R, dtype=tg.int64))

    def forward(self, x):
        return self.lin(x)


def test_construction_broadcasts_parameters_and_buffers():
    tg.manual_seed(R)
    net = DDP(_WithBuffer())
    assert net.module.count.tolist() == [0, 0, 0]
    w = net.module.lin.weight.detach()
    gathered = [tg.zeros(w.shape) for _ in range(N)]
    dist.all_gather(gathered, w)
    for g in gathered:
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert set(net.state_dict()) == {"module.lin.weight", "module.lin.bias", "module.count"}


def test_backward_wrapper_only_while_a_ddp_model_lives():
    gc.collect()
    plain = tg.Tensor.backward
    net = DDP(_mlp(0))
    assert tg.Tensor.backward is not plain
    x = tg.ones(1, 9, dtype=tg.float64)
    tg.autograd.backward(net(x).sum())  # the functional form reduces too
    with tg.no_grad():
        net(x)  # eval-style forward: nothing pending
    del net
    gc.collect()
    assert tg.Tensor.backward is plain


def test_distributed_sampler_defaults_and_coverage():
    ds = TensorDataset(tg.arange(23))
    for drop_last in (False, True):
        sampler = DistributedSampler(ds, seed=3, drop_last=drop_last)
        assert (sampler.num_replicas, sampler.rank) == (N, R)
        loader = DataLoader(ds, batch_size=4, sampler=sampler)
        for epoch in range(2):
            sampler.set_epoch(epoch)
            mine = np.concatenate([b.numpy() for (b,) in loader])
            assert len(mine) == len(sampler)
            everyone = tg.zeros(N * len(mine), dtype=tg.int64)
            dist.all_gather_into_tensor(everyone, tg.from_numpy(mine))
            seen = np.sort(everyone.numpy())
            if drop_last:
                assert len(set(seen)) == len(seen) == 23 // N * N
            else:
                assert set(seen) == set(range(23))
                assert len(seen) == -(-23 // N) * N

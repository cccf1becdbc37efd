"""tapegrad.distributed without a job: import isolation, errors before init_process_group,
DistributedSampler with explicit ranks, DataLoader(sampler=...). The multi-process tests are in
tests/distributed (run under mpiexec by .ci/run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.distributed as dist
from tapegrad.utils.data import DataLoader, DistributedSampler, Sampler, TensorDataset


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_importing_tapegrad_never_imports_mpi4py():
    p = _python("""
        import sys
        import tapegrad, tapegrad.distributed, tapegrad.nn.parallel, tapegrad.utils.data
        import tapegrad.examples.softmax, tapegrad.cli
        assert "mpi4py" not in sys.modules, "mpi4py imported"
        assert not tapegrad.distributed.is_initialized()
        print("ok")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_without_mpi4py_init_says_how_to_install_it():
    p = _python("""
        import sys
        sys.modules["mpi4py"] = None  # as if it were not installed
        import tapegrad.distributed as dist
        try:
            dist.init_process_group("mpi")
        except RuntimeError as e:
            print(e)
    """)
    assert 'pip install "tapegrad[mpi]"' in p.stdout, p.stderr
    p = _python("""
        import sys
        sys.modules["mpi4py"] = None
        from tapegrad.cli import main
        sys.exit(main(["softmax", "--distributed", "--epochs", "1"]))
    """)
    assert p.returncode == 1 and "tapegrad[mpi]" in p.stderr


def test_before_init_process_group():
    assert dist.is_available() and not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn()
    with pytest.raises(ValueError, match="has not been initialized"):
        dist.all_reduce(tg.ones(2))
    with pytest.raises(ValueError, match="has not been initialized"):
        DistributedSampler(range(4))
    from tapegrad.nn.parallel import DistributedDataParallel

    with pytest.raises(ValueError, match="has not been initialized"):
        DistributedDataParallel(tg.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend 'nccl' is not available in tapegrad; its only "
                                         "backend is 'mpi'"):
        dist.init_process_group("nccl")
    assert repr(dist.ReduceOp.SUM) == "<ReduceOp.SUM: 0>"
    assert {o.name for o in dist.ReduceOp} == {"SUM", "AVG", "MAX", "MIN", "PRODUCT"}


@pytest.mark.parametrize("n", [10, 11, 12, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_covers_every_sample_once_per_epoch(n, replicas, shuffle):
    samplers = [DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=shuffle,
                                   seed=7) for r in range(replicas)]
    per = -(-n // replicas)
    orders = []
    for epoch in range(3):
        for s in samplers:
            s.set_epoch(epoch)
        parts = [list(s) for s in samplers]
        assert all(len(p) == len(s) == per for p, s in zip(parts, samplers))
        every = sorted(i for p in parts for i in p)
        assert set(every) == set(range(n))                 # every sample …
        assert len(every) - n == per * replicas - n < replicas  # … once, plus the padding
        # batch k of all ranks together = positions [k·N, (k+1)·N) of one permutation
        orders.append([p[k] for k in range(per) for p in parts][:n])
        assert sorted(orders[-1]) == list(range(n))
    if shuffle:
        assert orders[0] != orders[1] != orders[2]  # set_epoch reshuffles …
        s = DistributedSampler(range(n), num_replicas=replicas, rank=0, seed=7)
        s.set_epoch(2)  # … and the same epoch gives the same order
        assert list(s) == list(samplers[0])
    else:
        assert orders[0] == orders[1] == list(range(n))


def test_distributed_sampler_same_epoch_same_order_and_drop_last():
    a = DistributedSampler(range(10), num_replicas=3, rank=2, seed=1)
    b = DistributedSampler(range(10), num_replicas=3, rank=2, seed=1)
    a.set_epoch(4), b.set_epoch(4)
    assert list(a) == list(b)
    assert list(DistributedSampler(range(10), num_replicas=1, rank=0, seed=2)) != list(
        DistributedSampler(range(10), num_replicas=1, rank=0, seed=1))
    parts = [list(DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False,
                                     drop_last=True)) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert len(DistributedSampler(range(10), num_replicas=3, rank=0, drop_last=True)) == 3
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(10), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be a positive integer"):
        DistributedSampler(range(10), num_replicas=0, rank=0)


def test_dataloader_with_a_sampler():
    ds = TensorDataset(tg.arange(10).float(), tg.arange(10))
    s = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    loader = DataLoader(ds, batch_size=2, sampler=s)
    assert len(loader) == 3
    assert [y.tolist() for _, y in loader] == [[1, 3], [5, 7], [9]]
    assert len(DataLoader(ds, batch_size=2, sampler=s, drop_last=True)) == 2

    class Backwards(Sampler):
        def __iter__(self):
            return iter(range(9, -1, -1))

        def __len__(self):
            return 10

    assert [y.tolist() for _, y in DataLoader(ds, batch_size=4, sampler=Backwards())] == [
        [9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    # a plain list of indices is a sampler too; other datasets are batched by collate
    pairs = [(float(i), i) for i in range(5)]
    assert [b[1].tolist() for b in DataLoader(pairs, batch_size=2, sampler=[4, 0, 2])] == [
        [4, 0], [2]]
    batches = DataLoader(ds, batch_sampler=[[0, 1, 2], [7]])
    assert [y.tolist() for _, y in batches] == [[0, 1, 2], [7]] and len(batches) == 2
    got = DataLoader(pairs, batch_size=2, collate_fn=lambda b: [x for _, x in b])
    assert list(got) == [[0, 1], [2, 3], [4]]


def test_dataloader_sampler_argument_errors():
    ds = TensorDataset(tg.arange(4))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], drop_last=True)
    with pytest.raises(TypeError, match="sampler must be an iterable of indices"):
        DataLoader(ds, sampler=3)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError):  # beyond batch_sampler the arguments are keyword-only
        DataLoader(ds, 2, False, None, None, 0)
    # PyTorch scripts pass these; batches are gathered in-process either way
    a = [y.tolist() for (y,) in DataLoader(ds, batch_size=3, num_workers=2, pin_memory=True)]
    assert a == [[0, 1, 2], [3]]
    assert np.array_equal(next(iter(DataLoader(ds, batch_size=4, shuffle=None)))[0].numpy(),
                          np.arange(4))

"""Sums follow PyTorch's summation order (contiguous runs up to 32768 elements, column sums of
any size; Note [summation order] in cpp/src/kernels/sum_order.cpp)), so printed digits match."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 3, 8, 10, 32, 100, 256, 784, 1000, 4096, 10000])
def test_contiguous_sums_equal_pytorch_bitwise(dtype, n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        a = rng.standard_normal(n).astype(dtype)
        assert tg.tensor(a).sum().item() == torch.tensor(a).sum().item()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "shape", [(8, 3), (32, 10), (256, 10), (100, 64), (1000, 33), (5, 100), (256, 784), (784, 256)]
)
@pytest.mark.parametrize("dim", [0, 1])
def test_row_and_column_sums_equal_pytorch_bitwise(dtype, shape, dim):
    a = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    got = tg.tensor(a).sum(dim).numpy()
    want = torch.tensor(a).sum(dim).numpy()
    np.testing.assert_array_equal(got, want)


def test_seed_gradients_equal_pytorch_bitwise():
    x0 = [0, 1, 2, 3, 4, 5, 6, 7.0]
    y0 = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]
    out = []
    for lib in (tg, torch):
        x, y = lib.tensor(x0), lib.tensor(y0)
        m = lib.tensor([0.9], requires_grad=True)
        b = lib.tensor([0.1], requires_grad=True)
        C = lib.sum((m * x + b - y) ** 2) / len(y)
        C.backward()
        out.append((C.item(), m.grad.item(), b.grad.item()))
    assert out[0] == out[1]


@pytest.mark.parametrize("arch", ["generic", "avx2", "avx512"])
def test_small_sums_do_not_depend_on_the_kernel_target(arch):
    if arch not in tg.cpu_info()["available"]:
        pytest.skip(f"{arch} not available on this CPU")
    a = np.random.default_rng(7).standard_normal((37, 41)).astype("float32")
    before = tg.cpu_info()["selected"]
    ref = [tg.tensor(a).sum().item(), tg.tensor(a).sum(0).numpy(), tg.tensor(a).sum(1).numpy()]
    try:
        tg._core._set_arch(arch)
        got = [tg.tensor(a).sum().item(), tg.tensor(a).sum(0).numpy(), tg.tensor(a).sum(1).numpy()]
    finally:
        tg._core._set_arch(before)
    assert got[0] == ref[0]
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[2], ref[2])


def test_seed_training_log_equals_pytorch_line_for_line():
    """The regression-in-pytorch notebook's 1000-line epoch log, printed by both libraries."""
    logs = []
    for lib in (tg, torch):
        x = lib.tensor([0, 1, 2, 3, 4, 5, 6, 7.0])
        y = lib.tensor([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])
        m = lib.tensor([0.9]).requires_grad_()
        b = lib.tensor([0.1]).requires_grad_()
        opt = lib.optim.SGD([m, b], lr=0.01)
        log = []
        for epoch in range(1001):
            opt.zero_grad()
            C = lib.sum((m * x + b - y) ** 2) / len(y)
            C.backward()
            opt.step()
            log.append(f"{epoch} {C.item():.3g} {m.grad.item():.3g} {b.grad.item():.3g}")
        logs.append((log, m.item(), b.item()))
    assert logs[0][0] == logs[1][0]
    assert logs[0][1:] == logs[1][1:]  # final m, b bit for bit

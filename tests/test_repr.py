"""repr(tensor) prints what PyTorch prints (learners compare notebook outputs line by line)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

CASES = [
    [0, 1, 2, 3, 4, 5, 6, 7.0],
    [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37],
    [[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]],
    19.6755,
    [1e-5, 1.0, 3.0],
    [1e9, 2.0],
    [123456.0, 0.5],
    [float("nan"), 1.5, float("inf"), -float("inf")],
    [float("nan"), 0.0],
    [0.0, 0.0],
    [[1, -2], [30, 4]],
    [True, False],
    [[[1.5, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.25]]],
]


def _ours(t: str) -> str:
    return t.replace("torch.", "tapegrad.")


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_repr_matches_pytorch(data):
    assert repr(tg.tensor(data)) == _ours(repr(torch.tensor(data)))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (40,), (25, 4), (2000,), (50, 50), (3, 400, 2)])
def test_layout_and_summaries_match_pytorch(shape):
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert repr(tg.tensor(a)) == _ours(repr(torch.tensor(a)))


def test_suffixes_wrap_like_pytorch():
    x = [0, 1, 2, 3, 4, 5, 6, 7.0]
    m, tm = tg.tensor([0.9], requires_grad=True), torch.tensor([0.9], requires_grad=True)
    assert repr(m) == repr(tm)
    assert repr(m * tg.tensor(x) + 0.1) == repr(tm * torch.tensor(x) + 0.1)
    d = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    td = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert repr(d) == _ours(repr(td))
    assert repr(tg.zeros(0, dtype=tg.bool)) == _ours(repr(torch.zeros(0, dtype=torch.bool)))

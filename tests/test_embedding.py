"""Embeddings against PyTorch: forward and weight gradients with repeated indices, padding_idx
(whose row gets no gradient) and indices of any shape; nn.Embedding's initialisation, repr,
state_dict and from_pretrained; errors. (Float64 gradcheck and second order are in optable.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.nn.functional as F

torch = pytest.importorskip("torch")

INDICES = [
    [1, 1, 1, 4],
    [[0, 3, 3], [3, 2, 0]],
    np.random.default_rng(0).integers(0, 6, (2, 3, 4)),
    7,
    np.zeros((0, 3), np.int64),
]


@pytest.mark.parametrize("padding_idx", [None, 3, -1])
@pytest.mark.parametrize("idx", INDICES, ids=lambda i: str(np.shape(i)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_gradient_match_torch(idx, padding_idx, dtype, rng):
    idx = np.asarray(idx, np.int64) % 8 if np.ndim(idx) else np.int64(idx)
    w0 = rng.standard_normal((8, 5)).astype(dtype)  # the padding row is not zero: no gradient
    w, tw = tg.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    y = F.embedding(tg.tensor(idx), w, padding_idx)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    v = rng.standard_normal(tuple(y.shape)).astype(dtype)
    (y * tg.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=tol)
    if padding_idx is not None:
        assert not w.grad.numpy()[padding_idx].any()


def test_module_init_repr_state_dict():
    tg.manual_seed(0)
    emb = tg.nn.Embedding(400, 50, padding_idx=2)
    temb = torch.nn.Embedding(400, 50, padding_idx=2)
    assert repr(emb) == repr(temb) and list(emb.state_dict()) == list(temb.state_dict())
    w = emb.weight.detach().numpy()
    assert not w[2].any()
    rest = np.delete(w, 2, axis=0)
    assert abs(rest.mean()) < 0.03 and abs(rest.std() - 1) < 0.03  # N(0, 1)
    assert emb.weight.requires_grad and emb.weight.dtype == tg.float32
    assert repr(tg.nn.Embedding(4, 3)) == repr(torch.nn.Embedding(4, 3))
    assert tg.nn.Embedding(4, 3, padding_idx=-1).padding_idx == 3
    assert tg.nn.Embedding(4, 3, dtype=tg.float64).weight.dtype == tg.float64


def test_module_trains_like_torch(rng):
    w0 = rng.standard_normal((6, 4)).astype(np.float32)
    emb = tg.nn.Embedding.from_pretrained(tg.tensor(w0), freeze=False, padding_idx=0)
    temb = torch.nn.Embedding.from_pretrained(torch.tensor(w0), freeze=False, padding_idx=0)
    opt, topt = tg.optim.SGD(emb.parameters(), lr=0.5), torch.optim.SGD(temb.parameters(), lr=0.5)
    for _ in range(3):
        idx = rng.integers(0, 6, (5, 2))
        loss = (emb(tg.tensor(idx)) ** 2).sum()
        tloss = (temb(torch.tensor(idx)) ** 2).sum()
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
    np.testing.assert_allclose(emb.weight.detach().numpy(), temb.weight.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(emb.weight.detach().numpy()[0], w0[0])  # padding row kept


def test_from_pretrained():
    w = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = tg.nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad and emb(tg.tensor([1, 0])).tolist() == [[3, 4], [1, 2]]
    assert tg.nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-dimensional"):
        tg.nn.Embedding.from_pretrained(tg.ones(3))


def test_errors_name_the_op_and_shapes():
    w = tg.ones(10, 3)
    with pytest.raises(IndexError, match=r"embedding: index 10 is out of range for weight of "
                                         r"shape \[10, 3\] \(indices of shape \[2, 2\]\)"):
        F.embedding(tg.tensor([[1, 2], [10, 0]]), w)
    with pytest.raises(IndexError, match="embedding: index -1"):
        F.embedding(tg.tensor([-1]), w)
    with pytest.raises(TypeError, match=r"embedding: expected indices of dtype int64, got "
                                        r"float32 of shape \[2\]"):
        F.embedding(tg.tensor([1.0, 2.0]), w)
    with pytest.raises(ValueError, match="Padding_idx must be within num_embeddings"):
        F.embedding(tg.tensor([1]), w, padding_idx=10)
    with pytest.raises(ValueError, match="Padding_idx must be within num_embeddings"):
        tg.nn.Embedding(5, 2, padding_idx=-6)
    with pytest.raises(ValueError, match=r"embedding: 'weight' must be 2-D"):
        F.embedding(tg.tensor([1]), tg.ones(3))
    with pytest.raises(TypeError, match="embedding"):
        F.embedding(tg.tensor([1]), tg.ones(3, 2, dtype=tg.int64))
    with pytest.raises(NotImplementedError, match="max_norm"):
        F.embedding(tg.tensor([1]), w, max_norm=1.0)

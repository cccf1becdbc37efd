"""repeat and tile against PyTorch (values and gradients, float64) and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


@pytest.mark.parametrize("shape,reps", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (1, 2, 3)),
                                        ((2, 1, 3), (2, 3, 1)), ((), (3,)), ((2, 3), (0, 2))])
@pytest.mark.parametrize("kind", ["repeat", "tile", "tile_fn"])
def test_repeat_tile_parity(shape, reps, kind):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal(shape)
    x, tx = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    if kind == "tile_fn":
        y, ty = tg.tile(x, reps), torch.tile(tx, reps)
    else:
        y, ty = getattr(x, kind)(*reps), getattr(tx, kind)(*reps)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (gx,) = tg.autograd.grad((y * tg.tensor(g)).sum(), [x])
    (tgx,) = torch.autograd.grad((ty * torch.tensor(g)).sum(), [tx])
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-9, atol=1e-12)


def test_tile_short_dims_gradcheck_and_errors():
    torch = pytest.importorskip("torch")
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(tg.tensor(a).tile((2,)).numpy(),
                                  torch.tensor(a).tile((2,)).numpy())
    x = tg.tensor(a, requires_grad=True)
    assert tg.autograd.gradcheck(lambda t: t.repeat(2, 1, 2), (x,))
    with pytest.raises(RuntimeError, match="repeat"):
        x.repeat(2)
    with pytest.raises(TypeError, match="repeat"):
        x.repeat(1.5, 2)
    with pytest.raises(TypeError, match="tile"):
        tg.tile(None, (2,))

"""The lessons are tests: the seed's numbers, d2l's linear regression, digits accuracy, and
tapegrad vs PyTorch trained side by side."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.data import DataLoader, TensorDataset
from tapegrad.examples import graph, linreg, regression, softmax


def _quiet(_msg: str) -> None:
    pass


def test_regression_reproduces_the_seed_numbers():
    r = regression.run(epochs=1000, lr=0.01, out=None, log=_quiet)
    assert r.C0 == pytest.approx(19.6755, abs=1e-4)
    assert r.dC_dm0 == pytest.approx(36.3050, abs=1e-4)
    assert r.dC_db0 == pytest.approx(6.2650, abs=1e-4)
    assert r.manual_dm0 == pytest.approx(r.dC_dm0, abs=1e-4)
    assert r.manual_db0 == pytest.approx(r.dC_db0, abs=1e-4)
    assert (r.m1, r.b1, r.C1) == pytest.approx((0.5369, 0.0374, 8.5722), abs=1e-4)
    assert r.m == pytest.approx(-0.4681258, abs=1e-6)
    assert r.b == pytest.approx(1.7542962, abs=1e-6)
    assert r.cost == pytest.approx(0.0195, abs=5e-5)
    assert len(r.costs) == 1001 and len(r.path) == 1002
    assert r.costs == sorted(r.costs, reverse=True)  # monotone descent at lr 0.01


def test_regression_prints_initial_gradients_manual_gradients_and_final_fit():
    lines: list[str] = []
    regression.run(epochs=1000, out=None, log=lines.append)
    text = "\n".join(lines)
    assert "C0 = 19.6755" in text
    assert "autodiff: dC/dm = 36.3050   dC/db = 6.2650" in text
    assert "manual:   dC/dm = 36.3050   dC/db = 6.2650" in text
    assert "Epoch 0, cost 8.57" in text
    assert "m = -0.4681258, b = 1.7542962, cost = 0.0195" in lines[-1]


def test_linreg_recovers_w_and_b():
    r = linreg.run(log=_quiet)
    assert max(abs(e) for e in r.w_error) < 1e-2 and abs(r.b_error) < 1e-2
    assert r.losses[-1] < 1e-4  # ≈ 5e-5 = ½·noise²
    assert len(r.losses) == 3


def test_digits_softmax_reaches_95_percent_with_defaults():
    r = softmax.run("softmax", "digits", log=_quiet)
    assert len(r.history["test acc"]) == softmax.DEFAULTS[("softmax", "digits")]["epochs"]
    assert r.history["test acc"][-1] >= 0.95
    assert r.history["loss"][-1] < r.history["loss"][0]


def test_digits_mlp_reaches_95_percent_with_defaults():
    r = softmax.run("mlp", "digits", log=_quiet)
    assert r.history["test acc"][-1] >= 0.95
    assert [type(m).__name__ for m in r.model] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_digits_split_is_fixed_and_disjoint():
    a, b = softmax.load("digits", seed=0), softmax.load("digits", seed=0)
    assert a.X_train.shape == (1437, 8, 8) and a.X_test.shape == (360, 8, 8)
    np.testing.assert_array_equal(a.y_test.numpy(), b.y_test.numpy())
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        softmax.load("mnist")


def test_softmax_training_matches_pytorch():
    torch = pytest.importorskip("torch")
    data = softmax.load("digits", seed=0)
    tg.manual_seed(0)
    net = softmax.make_model(64)
    init = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    epochs, lr, bs, seed = 3, 0.5, 64, 0
    softmax.train(data, model=net, epochs=epochs, lr=lr, batch_size=bs, seed=seed, log=_quiet)

    tnet = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        tnet[1].weight.copy_(torch.from_numpy(init["1.weight"]))
        tnet[1].bias.copy_(torch.from_numpy(init["1.bias"]))
    topt = torch.optim.SGD(tnet.parameters(), lr=lr)
    # The same batch order: train() shuffles with DataLoader(seed=seed).
    loader = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=bs, shuffle=True,
                        seed=seed)
    for _ in range(epochs):
        for X, y in loader:
            loss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(X.numpy().copy())),
                                                     torch.from_numpy(y.numpy().copy()))
            topt.zero_grad()
            loss.backward()
            topt.step()
    # the issue asks for 1e-4; float32 round-off over the whole run stays far below that
    np.testing.assert_allclose(net[1].weight.detach().numpy(), tnet[1].weight.detach().numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(net[1].bias.detach().numpy(), tnet[1].bias.detach().numpy(),
                               atol=1e-5)
    assert not np.allclose(init["1.weight"], net[1].weight.detach().numpy(), atol=1e-3)


def test_graph_example(tmp_path):
    g = graph.run(out=tmp_path, log=_quiet)
    assert [n.label for n in g.nodes] == ["m", "x", "mul", "b", "add", "y"]
    assert (tmp_path / "graph.png").exists()
    assert (tmp_path / "graph.dot").read_text().startswith("digraph tape {")


def test_regression_writes_its_plots(tmp_path):
    r = regression.run(epochs=20, out=tmp_path, log=_quiet)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cost_curve.png", "cost_surface.png", "regression_after.png",
                     "regression_before.png"]
    assert len(r.files) == 4

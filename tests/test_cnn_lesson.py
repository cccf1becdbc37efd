"""The CNN and dropout-MLP lessons (tapegrad.examples.cnn, .mlp): the digits as 28×28 LeNet
input, LeNet reaching 0.97 on the digits in 10 epochs, LeNet trained side by side with PyTorch
from the same weights on the same batches, the MLP with dropout, and both from the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.data import DataLoader, TensorDataset
from tapegrad.examples import cnn, mlp

needs_conv = pytest.mark.skipif(not hasattr(tg.nn, "Conv2d"), reason="needs nn.Conv2d")
needs_dropout = pytest.mark.skipif(not hasattr(tg.nn, "Dropout"), reason="needs nn.Dropout")


def _quiet(_msg: str) -> None:
    pass


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _pngs(path):
    return sorted(p.name for p in path.iterdir() if p.suffix == ".png")


def test_digits_become_28x28_by_nearest_neighbour_and_a_zero_border():
    X = tg.tensor(np.random.default_rng(0).random((3, 8, 8)), dtype=tg.float32)
    got = cnn.to_lenet_input(X).numpy()
    want = np.pad(np.kron(X.numpy(), np.ones((3, 3), np.float32)), ((0, 0), (2, 2), (2, 2)))
    assert got.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(got[:, 0], want)
    assert cnn.to_lenet_input(tg.zeros(2, 28, 28)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"cnn: expected 8×8 or 28×28 images, got shape \[2, 5, 5\]"):
        cnn.to_lenet_input(tg.zeros(2, 5, 5))


@needs_conv
def test_lenet_is_d2ls():
    net = cnn.make_lenet()
    assert [type(m).__name__ for m in net] == [
        "Conv2d", "ReLU", "AvgPool2d", "Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "ReLU",
        "Linear", "ReLU", "Linear"]
    assert net(tg.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 61706  # d2l's count
    kinds = [type(m).__name__ for m in cnn.make_lenet("sigmoid", "max")]
    assert kinds.count("Sigmoid") == 4 and kinds.count("MaxPool2d") == 2
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        cnn.make_lenet("tanh")


@needs_conv
def test_lenet_reaches_97_percent_on_the_digits_in_10_epochs():
    r = cnn.run("digits", log=_quiet)
    assert len(r.history["test acc"]) == 10
    assert r.history["test acc"][-1] >= 0.97
    assert r.history["loss"][-1] < r.history["loss"][0]


@needs_conv
def test_lenet_training_matches_pytorch():
    torch = pytest.importorskip("torch")
    data = cnn.load("digits", seed=0)
    small = cnn.Data(data.name, data.X_train[:256], data.y_train[:256], data.X_test[:64],
                     data.y_test[:64], data.class_names)
    tg.manual_seed(0)
    net = cnn.make_lenet()
    init = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.AvgPool2d(2, 2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.AvgPool2d(2, 2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10))
    tnet.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()})
    epochs, lr, bs, seed = 2, 0.01, 32, 0  # 16 steps with momentum
    cnn.train(small, net, epochs=epochs, lr=lr, batch_size=bs, seed=seed, log=_quiet)
    topt = torch.optim.SGD(tnet.parameters(), lr=lr, momentum=cnn.MOMENTUM)
    loader = DataLoader(TensorDataset(small.X_train, small.y_train), batch_size=bs, shuffle=True,
                        seed=seed)
    for _ in range(epochs):
        for X, y in loader:
            loss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(X.numpy().copy())),
                                                     torch.from_numpy(y.numpy().copy()))
            topt.zero_grad()
            loss.backward()
            topt.step()
    final = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    for k, v in tnet.state_dict().items():
        np.testing.assert_allclose(final[k], v.numpy(), atol=1e-4, err_msg=k)
    assert not np.allclose(init["0.weight"], final["0.weight"], atol=1e-3)  # it did train


@needs_conv
def test_cnn_from_the_cli(tmp_path, capsys):
    code, out, err = _run(capsys, "cnn", "--epochs", "1", "--batch-size", "64", "--out",
                          str(tmp_path), "--threads", "1")
    assert code == 0, err
    assert "LeNet-5, relu, avg pooling" in out and "epoch   1: loss" in out
    assert out.strip().splitlines()[-1].startswith("cnn digits: test acc 0.")
    assert _pngs(tmp_path) == ["cnn_digits_history.png", "cnn_digits_predictions.png"]


@needs_conv
def test_cnn_flags_from_the_cli(tmp_path, capsys):
    code, out, err = _run(capsys, "cnn", "--epochs", "1", "--batch-size", "256", "--activation",
                          "sigmoid", "--pool", "max", "--out", str(tmp_path))
    assert code == 0, err
    assert "LeNet-5, sigmoid, max pooling" in out


def test_cnn_cli_errors_are_one_line(capsys):
    code, _, err = _run(capsys, "cnn", "--activation", "tanh")
    assert code == 2 and "invalid choice: 'tanh'" in err
    code, _, err = _run(capsys, "cnn", "--dataset", "mnist")
    assert code == 2 and "cnn: unknown dataset 'mnist'" in err
    code, _, err = _run(capsys, "cnn", "--distributed")
    assert code == 2 and "--distributed does not apply to this command" in err


@needs_conv
def test_cnn_on_fashion_mnist_files(tmp_path, capsys):
    import gzip

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 16)):
        pix = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, n, dtype=np.uint8)
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(np.array([2051, n, 28, 28], ">i4").tobytes() + pix.tobytes()))
        (tmp_path / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(np.array([2049, n], ">i4").tobytes() + lab.tobytes()))
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "cnn", "--dataset", "fashion-mnist", "--data-dir",
                          str(tmp_path), "--epochs", "1", "--out", str(out_dir))
    assert code == 0, err
    assert "64 train / 16 test images of 1×28×28" in out
    assert _pngs(out_dir) == ["cnn_fashion_mnist_history.png",
                              "cnn_fashion_mnist_predictions.png"]


# ----- the MLP with dropout ----------------------------------------------------------------------
def test_mlp_without_dropout_is_two_relu_layers():
    net = mlp.make_model(784, dropout=(0.0, 0.0))
    assert [m.weight.shape for m in net if isinstance(m, tg.nn.Linear)] == [
        (256, 784), (256, 256), (10, 256)]
    with pytest.raises(ValueError, match="dropout probability must be in"):
        mlp.make_model(64, dropout=(0.2, 1.0))
    with pytest.raises(ValueError, match="2 hidden layers need 2 dropout"):
        mlp.make_model(64, dropout=(0.2,))
    r = mlp.run("digits", dropout=(0.0,), log=_quiet)
    assert r.history["test acc"][-1] >= 0.95


@needs_dropout
def test_mlp_with_dropout_reaches_95_percent_on_the_digits():
    r = mlp.run("digits", log=_quiet)
    assert [type(m).__name__ for m in r.model] == [
        "Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert r.history["test acc"][-1] >= 0.95
    # eval mode: dropout off, so the model is deterministic
    X = tg.tensor(np.random.default_rng(1).random((4, 8, 8)), dtype=tg.float32)
    r.model.eval()
    np.testing.assert_array_equal(r.model(X).detach().numpy(), r.model(X).detach().numpy())


@needs_dropout
def test_mlp_dropout_from_the_cli(tmp_path, capsys):
    code, out, err = _run(capsys, "mlp", "--dropout", "0.5", "--epochs", "2", "--out",
                          str(tmp_path))
    assert code == 0, err
    assert "dropout 0.5, 0.5" in out
    assert out.strip().splitlines()[-1].startswith("mlp digits: test acc 0.")
    assert _pngs(tmp_path) == ["mlp_digits_history.png", "mlp_digits_predictions.png"]
    code, _, err = _run(capsys, "mlp", "--dropout", "1.5")
    assert code == 2 and "dropout" in err


def _fashion_mnist_dir():
    from tapegrad.data import default_fashion_mnist_dir

    d = default_fashion_mnist_dir()
    return d if (d / "t10k-labels-idx1-ubyte.gz").is_file() else None


@needs_conv
@pytest.mark.skipif(_fashion_mnist_dir() is None,
                    reason="Fashion-MNIST not installed (apt install dataset-fashion-mnist)")
def test_cnn_reaches_088_on_fashion_mnist():
    """The issue's bar, where the dataset is installed: d2l's LeNet, 10 epochs, the lesson's
    defaults, test accuracy at least 0.88 (about a minute on one thread; CI has no copy)."""
    r = cnn.run("fashion-mnist", data_dir=str(_fashion_mnist_dir()), seed=0, out=None,
                log=lambda s: None)
    acc = r.history["test acc"][-1]
    assert len(r.history["test acc"]) == 10 and acc >= 0.88, acc

"""The command line: every command runs (few epochs, into tmp_path), prints its numbers and one
summary line, writes its PNGs; bad input gives one clean error line and a non-zero status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tapegrad.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _pngs(path):
    return sorted(p.name for p in path.iterdir() if p.suffix == ".png")


def test_regression(tmp_path, capsys):
    code, out, err = _run(capsys, "regression", "--out", str(tmp_path))
    assert code == 0, err
    assert "C0 = 19.6755" in out
    assert "dC/dm = 36.3050" in out and "dC/db = 6.2650" in out
    assert "manual:" in out and "Epoch 999" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("regression: m = -0.4681, b = 1.7543, cost = 0.0195 after 1001 updates")
    assert _pngs(tmp_path) == ["cost_curve.png", "cost_surface.png", "regression_after.png",
                               "regression_before.png"]


def test_linreg(capsys):
    code, out, _ = _run(capsys, "linreg", "--epochs", "2", "--seed", "1")
    assert code == 0
    assert "epoch 2, loss" in out and "error in estimating w" in out
    assert out.strip().splitlines()[-1].startswith("linreg: w = [")


@pytest.mark.parametrize("command", ["softmax", "mlp"])
def test_classifiers_on_digits(tmp_path, capsys, command):
    code, out, err = _run(capsys, command, "--epochs", "2", "--out", str(tmp_path),
                          "--threads", "1")
    assert code == 0, err
    assert "epoch   2: loss" in out and "test acc" in out
    assert out.strip().splitlines()[-1].startswith(f"{command} digits: test acc 0.")
    assert _pngs(tmp_path) == [f"{command}_digits_history.png", f"{command}_digits_predictions.png"]


def test_softmax_on_fashion_mnist_files(tmp_path, capsys):
    import gzip

    import numpy as np

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 16)):
        pix = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, n, dtype=np.uint8)
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(np.array([2051, n, 28, 28], ">i4").tobytes() + pix.tobytes()))
        (tmp_path / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(np.array([2049, n], ">i4").tobytes() + lab.tobytes()))
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "softmax", "--dataset", "fashion-mnist", "--data-dir",
                          str(tmp_path), "--epochs", "1", "--batch-size", "32", "--out",
                          str(out_dir))
    assert code == 0, err
    assert "64 train / 16 test images of 28×28" in out
    assert _pngs(out_dir) == ["softmax_fashion_mnist_history.png",
                              "softmax_fashion_mnist_predictions.png"]


def test_graph(tmp_path, capsys):
    code, out, _ = _run(capsys, "graph", "--out", str(tmp_path))
    assert code == 0 and "digraph tape {" in out
    assert _pngs(tmp_path) == ["graph.png"] and (tmp_path / "graph.dot").exists()


def test_bench(capsys, monkeypatch):
    from tapegrad.examples import bench

    real = bench.run
    monkeypatch.setattr(bench, "run", lambda: real(repeat=20))
    code, out, _ = _run(capsys, "bench")
    assert code == 0 and "µs/step" in out and out.strip().splitlines()[-1].startswith("bench:")


@pytest.mark.parametrize("argv,status,needle", [
    ([], 2, "required: COMMAND"),
    (["fit"], 2, "invalid choice: 'fit'"),
    (["regression", "--lr", "-1"], 2, "learning rate must be a positive number"),
    (["regression", "--epochs", "x"], 2, "epochs must be an integer"),
    (["softmax", "--batch-size", "0"], 2, "batch size must be positive"),
    (["softmax", "--dataset", "mnist"], 2, "unknown dataset 'mnist'"),
    (["softmax", "--download"], 2, "--data-dir/--download are for fashion-mnist"),
    (["regression", "--batch-size", "4"], 2, "--batch-size does not apply"),
    (["softmax", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent/dir"], 1,
     "not found in /nonexistent/dir"),
])
def test_errors_are_one_clean_line(capsys, argv, status, needle):
    code, out, err = _run(capsys, *argv)
    assert code == status
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_lists_the_commands(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for c in ("regression", "linreg", "softmax", "mlp", "graph", "bench"):
        assert c in out
    code, out, _ = _run(capsys, "softmax", "--help")
    assert code == 0 and "--dataset" in out and "--data-dir" in out and "--download" in out


def test_python_dash_m(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, "-m", "tapegrad", "graph", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("graph: 6 nodes (2 ops)")
    p = subprocess.run([sys.executable, "-m", "tapegrad", "softmax", "--dataset", "nope"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_console_script(tmp_path):
    exe = shutil.which("tapegrad")
    if exe is None:
        pytest.skip("the tapegrad console script is not on PATH (package not installed)")
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("tapegrad ")

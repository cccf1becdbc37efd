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


# ----- each command takes only its own options -------------------------------------------------
_OWN = {
    "regression": {"--out", "--epochs", "--lr", "--threads", "--compile", "--save-step"},
    "linreg": {"--epochs", "--lr", "--batch-size", "--seed", "--threads", "--compile"},
    "softmax": {"--out", "--epochs", "--lr", "--batch-size", "--seed", "--threads", "--dataset",
                "--data-dir", "--download", "--distributed", "--checkpoint", "--compile"},
    "graph": {"--out"},
    "bench": {"--threads"},
}


@pytest.mark.parametrize("command", sorted(_OWN))
def test_help_lists_exactly_the_options_a_command_uses(capsys, command):
    import re

    code, out, _ = _run(capsys, command, "--help")
    assert code == 0
    listed = set(re.findall(r"(--[a-z][a-z-]*)", out)) - {"--help"}
    assert listed == _OWN[command], out


@pytest.mark.parametrize("argv,flag", [
    (["graph", "--epochs", "3"], "--epochs"),
    (["graph", "--lr", "0.1"], "--lr"),
    (["bench", "--seed", "5"], "--seed"),
    (["bench", "--out", "x"], "--out"),
    (["linreg", "--out", "x"], "--out"),
    (["regression", "--seed", "1"], "--seed"),
])
def test_options_of_other_commands_are_rejected(capsys, argv, flag):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert f"{flag} does not apply to this command" in err and f"tapegrad {argv[0]}" in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_system_directory(capsys):
    # /proc/sys refuses new entries even for root (the read-only test above skips as root).
    if not os.path.isdir("/proc/sys") or os.access("/proc/sys", os.W_OK | os.X_OK):
        pytest.skip("no unwritable /proc/sys here")
    code, out, err = _run(capsys, "graph", "--out", "/proc/sys/tapegrad-plots")
    assert code == 2 and out == ""
    assert err == ("tapegrad: error: graph: cannot write plots to --out "
                   "'/proc/sys/tapegrad-plots': '/proc/sys' is not writable\n")


def test_a_failing_command_leaves_no_out_directory(tmp_path, capsys):
    out = tmp_path / "new" / "plots"
    code, _, _ = _run(capsys, "softmax", "--dataset", "mnist", "--out", str(out))
    assert code == 2 and not (tmp_path / "new").exists()


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = _run(capsys, "graph", "--frobnicate")
    assert code == 2 and "unrecognized arguments: --frobnicate" in err


# ----- --out is checked before any training ----------------------------------------------------
@pytest.mark.parametrize("command", ["regression", "softmax", "mlp", "graph"])
def test_unwritable_out_fails_fast_in_one_line(tmp_path, capsys, monkeypatch, command):
    from tapegrad.examples import graph, regression, softmax

    def boom(*a, **k):
        raise AssertionError("trained before checking --out")

    for mod in (graph, regression, softmax):
        monkeypatch.setattr(mod, "run", boom)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = _run(capsys, command, "--out", str(blocker / "plots"))
    assert code == 2, err
    assert (f"cannot write plots to --out '{blocker / 'plots'}': '{blocker}' is not a directory"
            in err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, _, err = _run(capsys, "graph", "--out", str(ro / "plots"))
    assert code == 2 and f"'{ro}' is not writable" in err


# ----- a closed pipe ends quietly ------------------------------------------------------------
def test_closed_stdout_pipe_is_quiet(tmp_path):
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line, like `tapegrad graph | head -0`
    try:
        p = subprocess.run([sys.executable, "-m", "tapegrad", "graph", "--out", str(tmp_path)],
                           stdout=w, stderr=subprocess.PIPE, text=True, timeout=120,
                           env=dict(os.environ, MPLBACKEND="Agg"))
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""


def test_pipe_into_head(tmp_path):
    if shutil.which("head") is None:
        pytest.skip("no head(1)")
    p = subprocess.run(f"{sys.executable} -m tapegrad graph --out {tmp_path} | head -1",
                       shell=True, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MPLBACKEND="Agg"))
    assert p.returncode == 0 and p.stdout.count("\n") == 1
    assert p.stderr == ""


# ----- TAPEGRAD_ARCH ---------------------------------------------------------------------------
def _arch_run(value):
    code = "import tapegrad as tg; (tg.ones(3) + 1).sum(); print(tg.cpu_info()['selected'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, TAPEGRAD_ARCH=value))


@pytest.mark.parametrize("value", ["bogus", "AVX512"])
def test_unknown_arch_says_what_it_chose(value):
    import tapegrad as tg

    best = tg.cpu_info()["available"][-1]
    p = _arch_run(value)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == best
    assert p.stderr == (f"tapegrad: TAPEGRAD_ARCH={value} is not a target (expected generic, "
                        f"avx2 or avx512); using {best}\n")


def test_unavailable_arch_says_what_it_chose():
    import tapegrad as tg

    missing = [a for a in ("avx2", "avx512") if a not in tg.cpu_info()["available"]]
    if not missing:
        pytest.skip("this CPU runs every target")
    best = tg.cpu_info()["available"][-1]
    p = _arch_run(missing[-1])
    assert p.stdout.strip() == best
    assert f"TAPEGRAD_ARCH={missing[-1]} is not available on this CPU; using {best}" in p.stderr


@pytest.mark.parametrize("value", ["generic", "avx2"])
def test_known_arch_is_quiet(value):
    import tapegrad as tg

    if value not in tg.cpu_info()["available"]:
        pytest.skip(f"this CPU cannot run {value}")
    p = _arch_run(value)
    assert p.returncode == 0 and p.stdout.strip() == value and p.stderr == ""

"""``--compile`` on the lessons (regression, linreg, softmax, mlp) and compiled rows in ``tapegrad
bench``: the training step runs through ``tapegrad.compile`` and actually replays, and the
printed numbers, returned results and plots are those of the eager run, to the bit."""

from __future__ import annotations

import re

import pytest

import tapegrad as tg
from tapegrad.cli import main


@pytest.fixture
def compiled(monkeypatch):
    """Every object ``tg.compile`` returns while the test runs (the lessons call ``tg.compile``)."""
    made = []
    real = tg.compile

    def spy(*args, **kwargs):
        c = real(*args, **kwargs)
        made.append(c)
        return c

    monkeypatch.setattr(tg, "compile", spy)
    return made


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return re.sub(r" \[[0-9.]+ s\]$", "", out.rstrip(), flags=re.MULTILINE)  # the wall-clock suffix


def _replayed(made, captures):
    assert len(made) == 1
    stats = made[0]._stats
    assert stats["captures"] == captures and stats["replays"] > 0 and stats["eager_calls"] == 0
    assert made[0].fallback_reasons == []


@pytest.mark.parametrize("argv", [["regression", "--epochs", "5"],
                                  ["softmax", "--epochs", "1", "--batch-size", "128"],
                                  ["mlp", "--epochs", "1", "--batch-size", "128"]])
def test_cli_compile_prints_and_plots_the_same(tmp_path, capsys, compiled, argv):
    eager, comp = tmp_path / "eager", tmp_path / "compiled"
    out_eager = _cli(capsys, *argv, "--out", str(eager))
    assert compiled == []
    out_comp = _cli(capsys, *argv, "--compile", "--out", str(comp))
    # softmax: 1437 digits in batches of 128 end with a partial batch, a second signature
    _replayed(compiled, captures=1 if argv[0] == "regression" else 2)
    if argv[0] == "mlp":  # its two Linear → ReLU pairs run fused (Note [fused linear-relu])
        assert compiled[0]._stats["fused"] == 2 * 2  # per captured signature
    assert out_comp == out_eager.replace(str(eager), str(comp))
    pngs = sorted(p.name for p in eager.iterdir() if p.suffix == ".png")
    assert pngs and pngs == sorted(p.name for p in comp.iterdir() if p.suffix == ".png")
    for name in pngs:
        assert (eager / name).read_bytes() == (comp / name).read_bytes(), name


def test_cli_linreg_compile(capsys, compiled):
    argv = ["linreg", "--epochs", "1", "--batch-size", "32"]  # 1000 = 31·32 + 8: two shapes
    assert _cli(capsys, *argv, "--compile") == _cli(capsys, *argv)
    _replayed(compiled, captures=2)


def test_regression_results_bitwise(compiled):
    from tapegrad.examples import regression

    lines = {}
    results = {}
    for flag in (False, True):
        lines[flag] = []
        results[flag] = regression.run(epochs=20, out=None, log=lines[flag].append,
                                       print_every=3, compile=flag)
    _replayed(compiled, captures=1)
    assert compiled[0]._stats["replays"] == 19
    assert lines[True] == lines[False]
    assert results[True] == results[False]  # costs and (m, b) path of every update included


def test_softmax_results_bitwise(compiled):
    from tapegrad.examples import softmax

    data = softmax.load("digits")
    runs = {flag: softmax.train(data, hidden=16, epochs=2, lr=0.3, batch_size=100,
                                log=lambda s: None, compile=flag) for flag in (False, True)}
    _replayed(compiled, captures=2)
    assert runs[True].history == runs[False].history
    for p, q in zip(runs[False].model.parameters(), runs[True].model.parameters(), strict=True):
        assert p.tolist() == q.tolist()


def test_compile_with_distributed_is_a_clean_error(capsys):
    code = main(["softmax", "--compile", "--distributed"])
    _, err = capsys.readouterr()
    assert code == 2 and "--compile does not apply with --distributed" in err
    assert len(err.strip().splitlines()) == 1


def test_bench_has_compiled_rows(capsys, monkeypatch):
    from tapegrad.examples import bench

    real = bench.run
    monkeypatch.setattr(bench, "run", lambda: real(repeat=20))
    out = _cli(capsys, "bench")
    assert out.count("compiled") >= 3
    r = real(repeat=20, log=lambda s: None)
    assert all(r[k] > 0 for k in ("regression_compiled_step_us", "softmax_compiled_step_us"))


def test_regression_save_step(tmp_path, capsys):
    """``tapegrad regression --save-step FILE``: the trained step and m, b go to FILE, and the
    loaded step goes on as the lesson would have (the lesson trained 3 more epochs)."""
    from tapegrad.cli import main
    from tapegrad.examples import regression

    path = tmp_path / "step.tgp"
    assert main(["regression", "--epochs", "4", "--save-step", str(path), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"saved the training step with m, b after 5 updates to {path}" in out
    saved = tg.load_program(str(path))
    losses = [saved().item() for _ in range(3)]
    ref = regression.run(epochs=7, out=None, log=lambda s: None)
    assert losses == ref.costs[-3:]
    assert (saved.state["m"].item(), saved.state["b"].item()) == (ref.m, ref.b)
    assert main(["regression", "--epochs", "0", "--save-step", str(path)]) == 1
    assert "needs at least one epoch" in capsys.readouterr().err

"""The lesson `tapegrad backward`: linear regression's backward by hand (a Function and plain
formulas) trained beside autodiff, the trajectories equal; gradcheck catches a wrong backward."""

from __future__ import annotations

import re

import numpy as np

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.examples import backward, linreg


def test_cli_prints_equal_trajectories_and_catches_the_broken_backward(capsys):
    code = main(["backward", "--epochs", "2", "--broken"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for name in ("Linreg", "SquaredLoss", "Softplus", "LegendreP3"):
        assert f"gradcheck({name}): True" in out
    # the broken backward: the message names the input and the size of the error
    assert re.search(r"gradient of input 0 is wrong, max abs difference [0-9.e+-]+ at index \(\d+, 0\)"
                     r" \(analytical [0-9.e+-]+, numerical [0-9.e+-]+\), max rel difference 1\b",
                     out), out
    rows = [line.split(")")[:3] for line in out.splitlines() if re.match(r"\s+\d+\s+\(", line)]
    assert len(rows) == 2
    for row in rows:  # the three printed (w1, w2, b) agree digit for digit
        a, f, m = (r.split("(")[1] for r in row)
        assert a == f == m
    assert out.strip().splitlines()[-1].startswith("backward: gradchecks passed")
    assert "gradcheck caught the broken backward" in out


def test_trajectories_agree_and_match_the_linreg_lesson():
    r = backward.run(epochs=3, log=lambda s: None)
    assert r.max_difference < 1e-12
    w1, w2, b = r.function[-1]
    assert abs(w1 - linreg.TRUE_W[0]) < 1e-2 and abs(w2 - linreg.TRUE_W[1]) < 1e-2
    assert abs(b - linreg.TRUE_B) < 1e-2


def test_the_lesson_functions_match_autodiff():
    x = tg.tensor(np.linspace(-4, 4, 9), requires_grad=True)
    for fn, ref in ((backward.Softplus.apply, tg.nn.functional.softplus),
                    (backward.LegendreP3.apply, lambda t: 0.5 * (5 * t**3 - 3 * t))):
        (g,) = tg.grad(fn(x).sum(), x)
        (h,) = tg.grad(ref(x).sum(), x)
        np.testing.assert_allclose(g.numpy(), h.numpy(), rtol=1e-12, atol=1e-15)


def test_help_lists_its_options(capsys):
    assert main(["backward", "--help"]) == 0
    out = capsys.readouterr()[0]
    assert set(re.findall(r"(--[a-z][a-z-]*)", out)) - {"--help"} == {
        "--epochs", "--lr", "--batch-size", "--seed", "--broken"}

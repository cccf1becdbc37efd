"""The LeNet step of bench/steps.py computes the same thing in tapegrad and PyTorch: from the same
initial weights and batch, the losses of the first two SGD steps agree (the second one checks that
the update moved both networks the same way). Float32 everywhere, hence the 1e-5 tolerance."""

import importlib.util
from pathlib import Path

import pytest


def _steps():
    path = Path(__file__).resolve().parent.parent / "bench" / "steps.py"
    spec = importlib.util.spec_from_file_location("bench_steps", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lenet_step_matches_torch():
    torch = pytest.importorskip("torch")
    import tapegrad as tg

    steps = _steps()
    threads, tg_threads = torch.get_num_threads(), tg.get_num_threads()
    try:
        ours, theirs = steps.lenet_tapegrad(), steps.lenet_torch()
        for _ in range(2):
            assert float(ours().item()) == pytest.approx(float(theirs().item()), rel=1e-5)
    finally:
        torch.set_num_threads(threads)
        tg.set_num_threads(tg_threads)


def test_rounds_keep_the_fastest_time_and_the_worst_bounds():
    steps = _steps()
    runs = [{"seconds": 3e-6, "peak_mb": 40.0, "cpu_ratio": 0.99, "first_call_s": 1e-3},
            {"seconds": 2e-6, "peak_mb": 42.0, "cpu_ratio": 0.97, "first_call_s": 4e-3},
            {"seconds": 5e-6, "peak_mb": 41.0, "cpu_ratio": 1.00, "first_call_s": 2e-3}]
    best = steps.best_of_rounds(runs)
    assert best["seconds"] == 2e-6
    assert best["first_call_s"] == 4e-3 and best["peak_mb"] == 42.0 and best["cpu_ratio"] == 1.00
    assert best["rounds"] == 3
    assert steps.best_of_rounds([]) is None
    assert "first_call_s" not in steps.best_of_rounds([{"seconds": 1.0, "peak_mb": 1.0,
                                                        "cpu_ratio": 1.0}])

"""Whole jobs started with ``mpiexec`` from one pytest process: a rank that fails ends the job,
and the CLI lesson trains data-parallel (see conftest.py for when these run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import tapegrad as tg


def _mpiexec(n: int, *args: str, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("mpiexec") or "mpiexec", "-n", str(n), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


FAILING = textwrap.dedent("""
    import tapegrad as tg
    import tapegrad.distributed as dist

    dist.init_process_group("mpi")
    dist.barrier()
    if dist.get_rank() == 1:
        raise ValueError("rank one fails on purpose")
    while True:  # the others wait for rank 1 in a collective that never completes
        dist.all_reduce(tg.ones(4))
""")


def test_a_failing_rank_stops_the_job_within_60_s(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(FAILING)
    t0 = time.monotonic()
    p = _mpiexec(2, sys.executable, str(script), timeout=60)
    elapsed = time.monotonic() - t0
    assert p.returncode != 0
    assert elapsed < 60
    assert "ValueError: rank one fails on purpose" in p.stderr
    assert "tapegrad.distributed: rank 1 of 2 failed with ValueError; aborting all 2 ranks" \
        in p.stderr


def _summary(out: str) -> tuple[float, float, float]:
    m = re.search(r"test acc ([\d.]+), train acc ([\d.]+), loss ([\d.]+) after", out)
    assert m, out
    return float(m[1]), float(m[2]), float(m[3])


def test_the_lesson_trains_on_two_processes_like_one(tmp_path):
    args = ["-m", "tapegrad", "softmax", "--distributed", "--epochs", "5", "--batch-size", "64"]
    two = _mpiexec(2, sys.executable, *args, "--out", str(tmp_path / "two"), "--checkpoint",
                   str(tmp_path / "two" / "softmax.npz"))
    assert two.returncode == 0, two.stderr
    # rank 0 alone prints: one header, one line per epoch, one summary
    assert two.stdout.count("epoch   1:") == 1 and two.stdout.count("softmax digits:") == 1
    assert "data-parallel over 2 processes: 32 rows of every batch of 64" in two.stdout
    assert "(2 processes)" in two.stdout
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "softmax.npz", "softmax_digits_history.png", "softmax_digits_predictions.png"]
    state = tg.load(tmp_path / "two" / "softmax.npz")  # the unwrapped model's keys
    assert sorted(state) == ["1.bias", "1.weight"]

    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert one.returncode == 0, one.stderr
    # the same global batches (DistributedSampler deals batch k's rows round-robin); only the
    # last, padded batch of each epoch differs slightly (1437 rows: one row is repeated)
    a, b = _summary(one.stdout), _summary(two.stdout)
    np.testing.assert_allclose(a, b, atol=0.005)

"""CI check of a C++ training loop from a step defined in Python (docs/saved-programs.md):
the regression lesson trains 5 epochs and saves its compiled step; examples/cpp's
train_saved_step (built by CMake with TAPEGRAD_BUILD_TESTS) runs 200 more steps of it; the
loss and m, b it prints must equal, bit for bit, the lesson trained 205 epochs in Python.

    python tools/check_saved_step.py BUILD_DIR/train_saved_step
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from tapegrad.examples import regression


def main(binary: str) -> int:
    quiet = lambda s: None  # noqa: E731
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "step.tgp"
        regression.run(epochs=5, out=None, log=quiet, save_step=path)
        p = subprocess.run([binary, str(path), "200"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        return 1
    got = {line.split()[0]: float.fromhex(line.split()[1]) for line in p.stdout.splitlines()}
    ref = regression.run(epochs=205, out=None, log=quiet)
    want = {"loss": ref.costs[-1], "m": ref.m, "b": ref.b}
    print(p.stdout.strip())
    if got != want:
        print(f"MISMATCH: C++ {got} vs Python {want}")
        return 1
    print("train_saved_step: 200 steps in C++ equal the Python lesson's to the bit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Two kinds of tests live here (see .ci/run):

- ``test_spmd_*.py`` run on every rank at once, under ``mpiexec -n N python -m pytest
  tests/distributed`` (CI: N = 2 and 3); each rank executes the same tests in the same order, so
  their collectives pair up;
- ``test_launch_*.py`` run in one ordinary pytest process and start ``mpiexec`` themselves
  (a failing rank, the CLI lesson).

Each kind is skipped in the other situation, and everything is skipped without mpi4py, so every
test runs exactly once per CI step that installs the ``mpi`` extra.
"""

from __future__ import annotations

import faulthandler
import functools
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest


def launched_world_size() -> int:
    """World size announced by the MPI launcher in the environment (1 when not launched)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_WORLD_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
UNDER_MPIEXEC = launched_world_size() > 1


@functools.lru_cache(maxsize=1)
def mpiexec_problem() -> str | None:
    """Why ``mpiexec -n 2`` cannot run an mpi4py job here (None when it can): mpi4py may find
    no libmpi, or a libmpi of another MPI than the mpiexec on PATH (then every process is rank
    0 of 1). The tests under mpiexec fail loudly in that case; the launcher tests skip."""
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        return "mpiexec not on PATH"
    probe = ("from mpi4py import MPI\n"
             "if MPI.COMM_WORLD.Get_rank() == 0: print(MPI.COMM_WORLD.Get_size())")
    try:
        p = subprocess.run([mpiexec, "-n", "2", sys.executable, "-c", probe],
                           capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mpiexec -n 2 did not run: {exc}"
    if p.returncode != 0 or p.stdout.split() != ["2"]:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return f"mpiexec -n 2 with mpi4py does not form a 2-process job ({last})"
    return None


def pytest_configure(config: pytest.Config) -> None:
    if HAVE_MPI and UNDER_MPIEXEC:
        import tapegrad.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("mpi")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The hook sees the whole session's items: touch only the ones under this directory.
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if not str(item.path).startswith(here + os.sep):
            continue
        spmd = item.path.name.startswith("test_spmd_")
        if not HAVE_MPI:
            reason = "needs mpi4py and an MPI (pip install \"tapegrad[mpi]\")"
        elif spmd and not UNDER_MPIEXEC:
            reason = "runs on all ranks: mpiexec -n 2 python -m pytest tests/distributed"
        elif not spmd and UNDER_MPIEXEC:
            reason = "starts mpiexec itself: run without mpiexec"
        elif not spmd and mpiexec_problem() is not None:
            reason = str(mpiexec_problem())
        else:
            continue
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _watchdog():
    """Under mpiexec a test that fails on one rank between two collectives could leave the
    others waiting; after 120 s the stuck rank prints its stack and exits, and mpiexec stops
    the job (non-zero)."""
    if UNDER_MPIEXEC:
        faulthandler.dump_traceback_later(120, exit=True)
    yield
    if UNDER_MPIEXEC:
        faulthandler.cancel_dump_traceback_later()

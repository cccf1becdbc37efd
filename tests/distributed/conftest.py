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
import importlib.util
import os
import shutil

import pytest


def launched_world_size() -> int:
    """World size announced by the MPI launcher in the environment (1 when not launched)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_WORLD_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
UNDER_MPIEXEC = launched_world_size() > 1


def pytest_configure(config: pytest.Config) -> None:
    if HAVE_MPI and UNDER_MPIEXEC:
        import tapegrad.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("mpi")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        spmd = item.path.name.startswith("test_spmd_")
        if not HAVE_MPI:
            reason = "needs mpi4py and an MPI (pip install \"tapegrad[mpi]\")"
        elif spmd and not UNDER_MPIEXEC:
            reason = "runs on all ranks: mpiexec -n 2 python -m pytest tests/distributed"
        elif not spmd and UNDER_MPIEXEC:
            reason = "starts mpiexec itself: run without mpiexec"
        elif not spmd and shutil.which("mpiexec") is None:
            reason = "mpiexec not on PATH"
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

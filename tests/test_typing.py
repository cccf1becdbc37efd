"""Typing: a user script checked with ``mypy --strict`` sees ``Tensor`` (never ``Any``) from
ops, operators, module calls and DataLoader batches; the ``_core`` stub matches the compiled
module (``mypy.stubtest``); the static op list in ``tapegrad/__init__.py`` matches the op table."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tapegrad as tg

HERE = Path(__file__).parent / "typing"


def _mypy(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_user_script_is_strictly_typed(tmp_path):
    p = _mypy("mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
              str(HERE / "user_script.py"), tmp_path=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_user_script_runs():
    # The assert_type calls are no-ops at run time: the script must also just work.
    pytest.importorskip("typing_extensions")
    p = subprocess.run([sys.executable, str(HERE / "user_script.py")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_stub_matches_the_compiled_module(tmp_path):
    p = _mypy("mypy.stubtest", "tapegrad._core", "--allowlist",
              str(HERE / "stubtest_allowlist.txt"), tmp_path=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_static_op_names_match_the_op_table():
    """The TYPE_CHECKING block names exactly the functions the op table exposes, plus aliases."""
    tree = ast.parse(inspect.getsource(tg))
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
                 and any(isinstance(s, ast.ImportFrom) for s in n.body))
    imported = [a.name for s in block.body if isinstance(s, ast.ImportFrom) for a in s.names]
    aliases = {s.targets[0].id: s.value.id for s in block.body  # type: ignore[attr-defined]
               if isinstance(s, ast.Assign) and isinstance(s.value, ast.Name)}
    listed = next(ast.literal_eval(s.value) for s in block.body if isinstance(s, ast.AugAssign))
    assert sorted(imported) == sorted(tg._OP_FUNCTIONS)
    assert aliases == tg._ALIASES
    assert sorted(listed) == sorted(tg._OP_FUNCTIONS + tg._ALIAS_NAMES)

"""Documentation: every docstring example in the package runs (doctest), and every public
name has a docstring with an example."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import tapegrad as tg

# viz draws with matplotlib (slow to import, exercised by test_viz.py); the examples package
# runs whole lessons (test_examples.py).
_SKIP = ("tapegrad.viz", "tapegrad.examples", "tapegrad.__main__")
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(tg.__path__, "tapegrad.")
    if not m.name.startswith(_SKIP)
) + ["tapegrad", "tapegrad._core"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    # `tg` and `tapegrad` are in scope in every example, as in the README's.
    globs = {"tg": tg, "tapegrad": tg}
    tests = finder.find(module, name)  # each example sees its module's globals
    if name == "tapegrad._core":  # the pybind11 classes' own docstrings
        tests += finder.find(tg.Tensor, "tapegrad.Tensor", globs={})
        tests += finder.find(tg.dtype, "tapegrad.dtype", globs={})
        # doctest does not look inside pybind11 methods: parse the method-only ops' docstrings.
        parser = doctest.DocTestParser()
        for row in tg._OP_TABLE:
            if row["expose"] == "M":
                doc = getattr(tg.Tensor, row["name"]).__doc__ or ""
                tests.append(parser.get_doctest(doc, {}, f"tapegrad.Tensor.{row['name']}",
                                                None, 0))
            # the torch.nn.functional-only rows (exposed N): functions of _core._nn
            elif (row["expose"] == "N" and row["bind"] != "INTERNAL"
                  and row["dunder"] is None):
                doc = getattr(tg._core._nn, row["name"]).__doc__ or ""
                tests.append(parser.get_doctest(doc, {}, f"tapegrad._core._nn.{row['name']}",
                                                None, 0))
    failed: list[str] = []
    for t in tests:
        t.globs.update(globs)
        runner.run(t, out=failed.append)
    assert runner.failures == 0, "".join(failed)


def test_public_names_have_docstring_examples():
    missing = []
    for name in ["tapegrad", "tapegrad.autograd", "tapegrad.nn", "tapegrad.nn.functional",
                 "tapegrad.nn.init", "tapegrad.optim", "tapegrad.data",
                 "tapegrad.serialization", "tapegrad.cli", "tapegrad.viz",
                 "tapegrad.func"]:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            if ">>>" not in (inspect.getdoc(obj) or ""):
                missing.append(f"{name}.{attr}")
    assert not missing, "public names without a docstring example: " + ", ".join(missing)


def test_every_op_has_an_example():
    """Each op the table exposes has a docstring with an example (cpp/src/bindings/op_docs.h)."""
    missing = []
    for row in tg._OP_TABLE:
        if row["expose"] == "N":
            if row["bind"] == "INTERNAL" or row["dunder"] is not None:
                continue
            fn = getattr(tg._core._nn, row["name"])  # torch.nn.functional-only ops
        else:
            fn = getattr(tg, row["name"], None) or getattr(tg.Tensor, row["name"])
        if ">>>" not in (fn.__doc__ or ""):
            missing.append(row["name"])
    assert not missing

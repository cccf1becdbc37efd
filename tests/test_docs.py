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
                 "tapegrad.func",
                 "tapegrad.distributions"]:  # distributions
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


def _rst_problems(doc: str) -> list[str]:
    """reStructuredText warnings docutils reports for a docstring (Sphinx builds the API pages
    with warnings as errors). Sphinx's own roles are unknown to plain docutils and skipped; a
    pybind11 signature line is dropped first, as autodoc drops it."""
    import io

    from docutils.core import publish_doctree
    lines = doc.splitlines()
    if lines and "(" in lines[0] and lines[0].split("(")[0].isidentifier() and \
            ("->" in lines[0] or lines[0].rstrip().endswith(")")):
        lines = lines[1:]
    stream = io.StringIO()
    publish_doctree("\n".join(lines), settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": stream})
    return [p for p in stream.getvalue().split("<string>:") if p.strip()
            and "Unknown interpreted text role" not in p
            and 'No role entry for' not in p and 'Trying "' not in p]


def test_docstrings_are_valid_restructuredtext():
    """Every public docstring the API pages render parses without a reST warning (a stray
    ``*`` or ``|`` outside double backquotes breaks the Sphinx build)."""
    pytest.importorskip("docutils")
    objs = {}
    for name in ["tapegrad", "tapegrad.autograd", "tapegrad.nn", "tapegrad.nn.functional",
                 "tapegrad.nn.init", "tapegrad.optim", "tapegrad.optim.lr_scheduler",
                 "tapegrad.nn.utils", "tapegrad.data", "tapegrad.distributed", "tapegrad.func",
                 "tapegrad.distributions", "tapegrad.distributions.constraints"]:
        module = importlib.import_module(name)
        objs[name] = module
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr, None)
            if obj is not None and not inspect.ismodule(obj):
                objs[f"{name}.{attr}"] = obj
    for attr in dir(tg.Tensor):
        if not attr.startswith("_"):
            objs[f"tapegrad.Tensor.{attr}"] = getattr(tg.Tensor, attr)
    bad = {}
    for key, obj in objs.items():
        doc = obj.__doc__ if isinstance(obj, type) or callable(obj) or inspect.ismodule(obj) \
            else None
        if isinstance(doc, str) and doc.strip():
            problems = _rst_problems(inspect.cleandoc(doc))
            if problems:
                bad[key] = problems[0].strip()[:200]
    assert not bad, "\n".join(f"{k}: {v}" for k, v in sorted(bad.items()))

"""The op table (cpp/include/tapegrad/ops.def, seen from Python as ``tapegrad._core._op_table()``)
against what Python users reach and what the tests cover: every exposed row is a function,
method or operator exactly as its columns say, and every differentiable row has gradcheck and
PyTorch-parity cases in optable.py. Adding a row without its test case fails here."""

from __future__ import annotations

import pytest

import tapegrad as tg
from optable import CASES

ROWS = tg._core._op_table()
BY_NAME = {r["name"]: r for r in ROWS}

# optable.py names a few cases after the form they exercise rather than the row.
CASE_ROW = {
    "pow_tt": "pow", "pow_ts": "pow", "pow_st": "pow", "T": "t",
    "bce_with_logits": "binary_cross_entropy_with_logits",
}
COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}


def _ids(rows):
    return [r["name"] for r in rows]


EXPOSED = [r for r in ROWS if r["bind"] != "INTERNAL"]
DIFFERENTIABLE = [r for r in EXPOSED if r["grad"]]


def test_rows_are_well_formed():
    assert len(BY_NAME) == len(ROWS), "duplicate op names in ops.def"
    for r in ROWS:
        assert r["bind"] in {"UNARY", "BINARY", "MANUAL", "INTERNAL"}, r
        assert r["expose"] in {"N", "M", "F", "MF"}, r
        if r["bind"] == "INTERNAL":
            assert r["primitive"] and r["expose"] == "N" and r["dunder"] is None, r
        if r["bind"] == "UNARY" and r["primitive"]:
            assert r["arity"] == 1, r
        if r["bind"] == "BINARY" and r["primitive"]:
            assert r["arity"] == 2, r


@pytest.mark.parametrize("row", DIFFERENTIABLE, ids=_ids(DIFFERENTIABLE))
def test_differentiable_row_has_cases(row):
    covered = {CASE_ROW.get(c.op, c.op) for c in CASES}
    assert row["name"] in covered, (
        f"ops.def row {row['name']!r} is differentiable but tests/optable.py has no case for it: "
        "add gradcheck/parity cases there"
    )
    assert any(CASE_ROW.get(c.op, c.op) == row["name"] and c.torch for c in CASES), (
        f"{row['name']!r} has no case checked against PyTorch"
    )


@pytest.mark.parametrize("row", EXPOSED, ids=_ids(EXPOSED))
def test_exposed_row_is_reachable(row):
    name, expose = row["name"], row["expose"]
    if "F" in expose:
        assert getattr(tg, name) is getattr(tg._core, name), f"tapegrad.{name} is not the table's"
        assert name in tg.__all__
    else:
        assert name not in tg.__all__
    if "M" in expose:
        assert callable(getattr(tg.Tensor, name, None)), f"Tensor.{name} is missing"
    if row["dunder"] is not None:
        stem = row["dunder"]
        assert callable(getattr(tg.Tensor, f"__{stem}__", None))
        if row["bind"] == "BINARY" and stem not in COMPARISONS:
            assert callable(getattr(tg.Tensor, f"__r{stem}__", None))


NN_ONLY = [r for r in EXPOSED if r["expose"] == "N" and r["dunder"] is None]


@pytest.mark.parametrize("row", NN_ONLY, ids=_ids(NN_ONLY))
def test_nn_functional_rows_are_functions_of_core_nn(row):
    # PyTorch has these only in torch.nn.functional: neither tapegrad.<name> nor a method.
    name = row["name"]
    assert callable(getattr(tg._core._nn, name, None)), f"_core._nn.{name} is missing"
    assert not hasattr(tg, name) and not hasattr(tg.Tensor, name)
    f_name = {"log_sigmoid": "logsigmoid"}.get(name, name)
    assert f_name in tg.nn.functional.__all__, f"tapegrad.nn.functional.{f_name} is missing"


def test_internal_rows_are_not_exposed():
    for r in ROWS:
        if r["bind"] == "INTERNAL":
            assert not hasattr(tg, r["name"]) and not hasattr(tg.Tensor, r["name"]), r


def test_uniform_ops_take_python_numbers_on_either_side():
    x = tg.tensor([1.0, 2.0])
    for r in ROWS:
        if r["bind"] == "BINARY" and "F" in r["expose"] and r["grad"]:
            f = getattr(tg, r["name"])
            if r["name"] == "matmul":
                continue
            assert f(x, 2).shape == (2,) and f(2, x).shape == (2,), r["name"]
    with pytest.raises(TypeError, match="add"):
        tg.add(x, "a")


def test_operators_come_from_the_table():
    a, b = tg.tensor([True, False]), tg.tensor([True, True])
    assert (a ^ b).tolist() == [False, True]
    assert (True ^ a).tolist() == [False, True]  # reflected form of a BINARY row's dunder
    assert (~a).tolist() == [False, True]
    with pytest.raises(TypeError, match="~"):
        ~tg.tensor([1.0])
    x = tg.tensor([1.0, 2.0])
    y = x * 1
    y += 1  # in-place form where the engine has one
    assert y.tolist() == [2.0, 3.0]
    z = x * 1
    z **= 2  # none for pow: Python falls back to z = z ** 2
    assert z.tolist() == [1.0, 4.0]


def test_composites_are_engine_functions():
    x = tg.tensor([[1.0, 5.0], [3.0, 2.0]])
    r = tg.max(x, 1)
    assert type(r).__name__ == "max" and r.indices.tolist() == [1, 0]
    assert tg.all(x).item() and tg.any(x > 4, 1).tolist() == [True, False]
    assert x.sum(dtype=tg.float64).dtype == tg.float64
    assert x.mean(0, dtype=tg.float64).tolist() == [2.0, 3.5]
    with pytest.raises(ValueError, match="t\\(\\) expects"):
        tg.t(tg.ones(1, 2, 3))


def test_normal_forms():
    m = tg.zeros(3, dtype=tg.float64, requires_grad=True)
    assert tg.normal(m, 1.0).shape == (3,) and not tg.normal(m, 1.0).requires_grad
    assert tg.normal(m, tg.ones(3, dtype=tg.float64)).dtype == tg.float64
    assert tg.normal(2.0, tg.ones(2, 2)).shape == (2, 2)
    assert tg.normal(0.0, 1.0, size=(2,), requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="size"):
        tg.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="std"):
        tg.normal(0.0, -1.0, size=(2,))


def test_output_gradients_are_checked_by_the_engine():
    x = tg.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad: grad can be implicitly created.*\[3\]"):
        tg.grad(y, x)
    with pytest.raises(ValueError, match="grad: got 2 grad_outputs for 1 outputs"):
        tg.grad(y, x, grad_outputs=[tg.ones(3), tg.ones(3)])
    with pytest.raises(ValueError, match="grad_outputs has shape"):
        tg.grad(y, x, grad_outputs=[tg.ones(2)])
    (g,) = tg.grad(y, x, grad_outputs=[[1.0, 2.0, 3.0]])  # data converted to the output's dtype
    assert g.tolist() == [2.0, 4.0, 6.0]

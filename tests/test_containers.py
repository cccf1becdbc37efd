"""Containers (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict) and Module
traversal, against torch.nn built the same way: the same names, orders, reprs and
registration."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

torch = pytest.importorskip("torch")
TN = torch.nn


def _names(m):
    return [n for n, _ in m.named_parameters()]


def _build(lib, kind):
    """The same container built with tapegrad.nn or torch.nn."""
    lin = lambda i, o: lib.Linear(i, o)  # noqa: E731
    if kind == "list":
        return lib.ModuleList([lin(2, 3), lib.ReLU(), lib.ReLU(), lin(3, 1)])
    if kind == "dict":
        return lib.ModuleDict({"b": lin(2, 2), "a": lib.Tanh(), "c": lin(2, 1)})
    return lib.Sequential(OrderedDict([("fc", lin(2, 3)), ("act", lib.ReLU()),
                                       ("out", lin(3, 1))]))


@pytest.mark.parametrize("kind", ["list", "dict", "seq"])
def test_construction_names_and_repr_match_torch(kind):
    ours, theirs = _build(nn, kind), _build(TN, kind)
    assert _names(ours) == _names(theirs)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(ours) == len(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# A script of list operations run on ModuleList, torch's ModuleList and a Python list.
LIST_OPS = [
    ("append", lambda lib, c: c.append(lib.Tanh())),
    ("extend", lambda lib, c: c.extend([lib.Sigmoid(), lib.Identity()])),
    ("insert0", lambda lib, c: c.insert(0, lib.Identity())),
    ("set1", lambda lib, c: c.__setitem__(1, lib.Sigmoid())),
    ("del1", lambda lib, c: c.__delitem__(1)),
    ("del-slice", lambda lib, c: c.__delitem__(slice(1, 5, 2))),
    ("set-neg", lambda lib, c: c.__setitem__(-1, lib.ReLU())),
    ("pop", lambda lib, c: c.pop(0)),
    ("iadd", lambda lib, c: c.__iadd__([lib.Tanh()])),
]


def test_module_list_operations_match_torch_step_by_step():
    ours, theirs = _build(nn, "list"), _build(TN, "list")
    for name, op in LIST_OPS:
        op(nn, ours)
        op(TN, theirs)
        assert repr(ours) == repr(theirs), name
        assert list(ours._modules) == list(theirs._modules), name
        assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs], name
    assert repr(ours[1:3]) == repr(theirs[1:3]) and repr(ours[::-1]) == repr(theirs[::-1])
    assert type(ours[-1]).__name__ == type(theirs[-1]).__name__
    both = ours + nn.ModuleList([nn.ReLU()])
    assert len(both) == len(ours) + 1 and list(both._modules)[-1] == str(len(ours))
    with pytest.raises(IndexError, match="out of range"):
        ours[len(ours)]
    with pytest.raises(TypeError, match="extend should be called with an iterable"):
        ours.extend(5)
    with pytest.raises(NotImplementedError):
        ours(tg.ones(1))
    # insert with a negative index as list.insert does (torch's raises KeyError there).
    kinds = [type(m).__name__ for m in ours]
    ours.insert(-2, nn.Sigmoid())
    kinds.insert(-2, "Sigmoid")
    assert [type(m).__name__ for m in ours] == kinds
    assert list(ours._modules) == [str(i) for i in range(len(kinds))]


def test_module_list_registers_parameters_for_optimizers():
    blocks = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
    assert len(list(blocks.parameters())) == 6
    opt = tg.optim.SGD(blocks.parameters(), lr=0.1)
    x = tg.ones(2, 4)
    for b in blocks:
        x = b(x)
    x.sum().backward()
    before = blocks[2].bias.detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(blocks[2].bias.detach().numpy(), before - 0.1 * 2)
    del blocks[0]
    assert _names(blocks) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_module_dict_operations_match_torch():
    ours, theirs = _build(nn, "dict"), _build(TN, "dict")
    for lib, c in ((nn, ours), (TN, theirs)):
        c["z"] = lib.ReLU()
        c.update([("b", lib.Sigmoid()), ("y", lib.Linear(1, 1))])
        c.update({"q": lib.Identity()})
        del c["a"]
        c.pop("c")
    assert list(ours) == list(theirs) and list(ours.keys()) == list(theirs.keys())
    assert [type(m).__name__ for m in ours.values()] == [type(m).__name__ for m in
                                                         theirs.values()]
    assert repr(ours) == repr(theirs) and _names(ours) == _names(theirs)
    assert "z" in ours and "a" not in ours
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        ours.update([("a", nn.ReLU(), 1)])
    with pytest.raises(TypeError, match="iterable of key/value pairs"):
        ours.update(3)
    ours.clear()
    assert len(ours) == 0 and _names(ours) == []


def test_parameter_list_and_dict_register_and_convert():
    pl = nn.ParameterList([nn.Parameter(tg.zeros(2, 3)), tg.ones(2)])
    tpl = TN.ParameterList([TN.Parameter(torch.zeros(2, 3)), torch.ones(2)])
    pl.append(tg.zeros(4))
    tpl.append(torch.zeros(4))
    pl += [tg.ones(1)]
    tpl += [torch.ones(1)]
    assert _names(pl) == _names(tpl) and len(pl) == len(tpl) == 4
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    assert repr(pl) == repr(tpl).replace("torch.", "tapegrad.")
    assert [tuple(p.shape) for p in pl[1:3]] == [(2,), (4,)]
    pl[0] = tg.full([1], 2.0)
    assert pl[0].item() == 2.0 and isinstance(pl[0], nn.Parameter)
    with pytest.raises(RuntimeError, match="should not be called"):
        pl(tg.ones(1))

    pd = nn.ParameterDict({"w": tg.ones(2)})
    tpd = TN.ParameterDict({"w": torch.ones(2)})
    for lib, d in ((nn, pd), (TN, tpd)):
        d["b"] = (tg if lib is nn else torch).zeros(1)
        d.update([("c", (tg if lib is nn else torch).ones(3))])
        d.setdefault("e", (tg if lib is nn else torch).ones(1))
    assert list(pd) == list(tpd) and _names(pd) == _names(tpd)
    assert pd.get("nope") is None and "c" in pd and len(pd) == 4
    assert pd.pop("b").shape == (1,) and list(pd.keys()) == ["w", "c", "e"]
    assert pd.popitem()[0] == "e" and list(reversed(pd)) == ["c", "w"]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([tg.ones(2), tg.ones(2)])
            self.extra = nn.ParameterDict({"bias": tg.zeros(2)})

    assert list(Model().state_dict()) == ["scales.0", "scales.1", "extra.bias"]


def test_sequential_ordered_dict_slicing_and_editing():
    ours, theirs = _build(nn, "seq"), _build(TN, "seq")
    assert ours.fc is ours[0] and ours.out is ours[-1]
    assert repr(ours[1:]) == repr(theirs[1:])
    ours[1], theirs[1] = nn.Tanh(), TN.Tanh()  # replacing keeps the name and position
    assert repr(ours) == repr(theirs)
    make = lambda lib: lib.Sequential(lib.Linear(2, 3), lib.ReLU(), lib.Linear(3, 1))  # noqa: E731
    ours, theirs = make(nn), make(TN)
    for lib, s in ((nn, ours), (TN, theirs)):
        s.insert(1, lib.Tanh())
        s.append(lib.Sigmoid())
        s.extend([lib.Identity()])
        del s[0]
        s.pop(1)
    assert repr(ours) == repr(theirs) and _names(ours) == _names(theirs)
    both = ours + nn.Sequential(nn.ReLU())
    assert len(both) == len(ours) + 1
    with pytest.raises(IndexError, match="Index out of range"):
        ours.insert(10, nn.ReLU())
    x = tg.ones(2, 3)
    np.testing.assert_allclose(ours(x).detach().numpy(),
                               ours[2](ours[1](ours[0](x))).detach().numpy())


def test_traversal_apply_and_buffers_match_torch():
    def make(lib):
        net = lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.ReLU(), lib.Linear(3, 2)))
        net[1].register_buffer("running", (tg if lib is nn else torch).zeros(2))
        return net

    ours, theirs = make(nn), make(TN)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(prefix="m")] == \
        [n for n, _ in theirs.named_modules(prefix="m")]
    assert [type(m).__name__ for m in ours.children()] == \
        [type(m).__name__ for m in theirs.children()]
    assert [type(m).__name__ for m in ours.modules()] == \
        [type(m).__name__ for m in theirs.modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    seen, tseen = [], []
    assert ours.apply(lambda m: seen.append(type(m).__name__)) is ours
    theirs.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen

    def zero_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    ours.apply(zero_linear)
    assert all(float(m.weight.abs().sum()) == 0 for m in ours.modules()
               if isinstance(m, nn.Linear))
    shared = nn.Linear(2, 2)
    tied = nn.Sequential(shared, shared)
    assert len(list(tied.modules())) == 2 and len(list(tied.parameters())) == 2
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer"):
        ours.register_buffer("bad", [1.0])

"""tapegrad.Generator (torch.Generator): its own state, generator= on the random functions."""

from __future__ import annotations

import pytest

import tapegrad as tg
from tapegrad.data.dataset import random_split

DRAWS = {
    "rand": lambda g: tg.rand(5, generator=g),
    "randn": lambda g: tg.randn(2, 3, generator=g),
    "randint": lambda g: tg.randint(0, 100, (6,), generator=g),
    "randperm": lambda g: tg.randperm(9, generator=g),
    "normal": lambda g: tg.normal(1.0, 2.0, size=(4,), generator=g),
    "normal_tensor": lambda g: tg.normal(tg.zeros(3), tg.ones(3), generator=g),
    "uniform_": lambda g: tg.zeros(4).uniform_(-1, 1, generator=g),
    "normal_": lambda g: tg.zeros(4).normal_(0, 1, generator=g),
    "bernoulli": lambda g: tg.bernoulli(tg.full((40,), 0.5), generator=g),
    "bernoulli_p": lambda g: tg.zeros(40, dtype=tg.float64).bernoulli(0.3, generator=g),
    "bernoulli_": lambda g: tg.zeros(40, dtype=tg.int64).bernoulli_(0.5, generator=g),
    "bernoulli_tensor_p": lambda g: tg.zeros(4, 10).bernoulli_(tg.linspace(0, 1, 10), generator=g),
    "multinomial": lambda g: tg.multinomial(tg.ones(12), 6, generator=g),
    "multinomial_replacement": lambda g: tg.multinomial(tg.ones(3, 5), 9, True, generator=g),
}


def same(a, b):
    return a.dtype == b.dtype and a.numpy().tobytes() == b.numpy().tobytes()


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_a_generator_is_reproducible_and_independent_of_the_default(name):
    draw = DRAWS[name]
    g = tg.Generator().manual_seed(11)
    first = draw(g)
    tg.manual_seed(0)
    tg.rand(10)  # the default generator moves; g does not
    g.manual_seed(11)
    assert same(draw(g), first)
    other = tg.Generator().manual_seed(12)
    assert not same(draw(other), first) or name == "randperm"  # 9! orders: a tie is possible


def test_default_generator_is_what_manual_seed_seeds():
    assert tg.manual_seed(5) is tg.default_generator
    assert tg.default_generator.initial_seed() == 5 == tg.initial_seed()
    a = tg.rand(3)
    tg.default_generator.manual_seed(5)
    assert same(tg.rand(3), a)
    tg.manual_seed(5)
    assert same(tg.rand(3, generator=None), a)  # None: the default generator


def test_state_round_trip_and_seed():
    g = tg.Generator()
    assert g.initial_seed() == 67280421310721
    state = g.get_state()
    a = tg.randn(7, generator=g)  # also exercises the spare normal in the state
    g.set_state(state)
    assert same(tg.randn(7, generator=g), a)
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(ValueError, match="49-byte"):
        g.set_state(tg.zeros(3, dtype=tg.int64))
    assert g.device == "cpu" and "seed=" in repr(g)


def test_pytorch_default_seed_and_api():
    torch = pytest.importorskip("torch")
    assert tg.Generator().initial_seed() == torch.Generator().initial_seed()
    for name in ("manual_seed", "initial_seed", "seed", "get_state", "set_state"):
        assert hasattr(tg.Generator(), name) and hasattr(torch.Generator(), name)
    assert isinstance(tg.Generator().manual_seed(3), tg.Generator)


def test_bad_generator_arguments():
    for call in (lambda: tg.rand(2, generator=3), lambda: tg.randperm(3, generator="g"),
                 lambda: tg.randint(0, 3, (2,), generator=1.0),
                 lambda: tg.zeros(2).uniform_(generator=object()),
                 lambda: tg.bernoulli(tg.zeros(2), generator=2),
                 lambda: tg.zeros(2).bernoulli_(generator="g"),
                 lambda: tg.multinomial(tg.ones(2), 1, generator=0)):
        with pytest.raises(TypeError, match="argument 'generator' must be tapegrad.Generator"):
            call()
    with pytest.raises(RuntimeError, match="CPU only"):
        tg.Generator(device="cuda")


def test_random_split_and_dataloader_take_a_generator():
    def split():
        return [list(s) for s in random_split(range(10), [4, 6],
                                              generator=tg.Generator().manual_seed(2))]
    assert split() == split()
    import tapegrad.utils.data as ud

    def order():
        dl = ud.DataLoader(ud.TensorDataset(tg.arange(8)), batch_size=8, shuffle=True,
                           generator=tg.Generator().manual_seed(4))
        return next(iter(dl))[0].tolist()
    tg.manual_seed(0)
    a = order()
    tg.manual_seed(1)
    assert order() == a
    with pytest.raises(TypeError, match="generator"):
        ud.DataLoader(ud.TensorDataset(tg.arange(8)), generator=3)


def test_compiled_steps_draw_from_their_generator_on_every_replay():
    def build():
        g = tg.Generator().manual_seed(9)

        def f(x):
            return x + tg.randn(3, generator=g)
        return f
    eager, comp = build(), tg.compile(build(), fullgraph=True)
    x = tg.zeros(3)
    for _ in range(4):
        assert same(eager(x), comp(x))
    assert comp._stats["replays"] == 3


# ----- bernoulli, bernoulli_, multinomial: statistics and PyTorch's errors ----------------------
def within(freq, p, n, sigmas=5.0):
    """Observed frequencies `freq` of n draws agree with probabilities p (binomial error)."""
    import numpy as np

    freq, p = np.asarray(freq, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return np.all(np.abs(freq - p) <= sigmas * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_bernoulli_frequencies_follow_the_probabilities():
    p = tg.linspace(0, 1, 11, dtype=tg.float64)
    n = 4000
    g = tg.Generator().manual_seed(1)
    draws = tg.bernoulli(p.expand(n, 11).clone(), generator=g)
    assert draws.dtype == tg.float64 and set(draws.unique().tolist()) <= {0.0, 1.0}
    assert within(draws.mean(0).numpy(), p.numpy(), n)
    assert draws[:, 0].sum().item() == 0 and draws[:, -1].sum().item() == n  # p = 0 and p = 1
    filled = tg.zeros(n, 11, dtype=tg.int64).bernoulli_(p, generator=g)  # p broadcast
    assert filled.dtype == tg.int64 and within(filled.double().mean(0).numpy(), p.numpy(), n)
    assert within([tg.zeros(n).bernoulli_(0.25, generator=g).mean().item()], [0.25], n)
    assert within([tg.ones(n).bernoulli(0.75, generator=g).mean().item()], [0.75], n)


def test_bernoulli_in_place_is_an_in_place_write():
    x = tg.zeros(5)
    v = x._version
    assert x.bernoulli_(1.0) is x and x.tolist() == [1.0] * 5 and x._version > v
    assert tg.zeros(3, dtype=tg.bool).bernoulli_(1.0).tolist() == [True] * 3
    with pytest.raises(RuntimeError, match="leaf"):
        tg.zeros(3, requires_grad=True).bernoulli_(0.5)
    with pytest.raises(RuntimeError, match=r"bernoulli_: .*expanded size"):
        tg.zeros(3).bernoulli_(tg.tensor([0.5, 0.5]))  # p must broadcast to the tensor
    p = tg.full((3,), 0.5, requires_grad=True)
    assert not tg.bernoulli(p).requires_grad  # a draw carries no history


def test_multinomial_with_replacement_frequencies():
    probs = [0.1, 0.0, 0.2, 0.7]
    n = 20000
    g = tg.Generator().manual_seed(2)
    d = tg.multinomial(tg.tensor(probs) * 3, n, replacement=True, generator=g)  # unnormalised
    assert d.dtype == tg.int64 and tuple(d.shape) == (n,)
    counts = [(d == k).sum().item() / n for k in range(4)]
    assert counts[1] == 0 and within(counts, probs, n)
    rows = tg.multinomial(tg.tensor([[1.0, 0.0], [0.0, 1.0]]), 5, True, generator=g)
    assert rows.tolist() == [[0] * 5, [1] * 5]


def test_multinomial_without_replacement_draws_each_next_in_proportion():
    import numpy as np

    w = np.array([1.0, 2.0, 3.0, 4.0])
    p = w / w.sum()
    n = 8000
    d = tg.multinomial(tg.tensor(w).expand(n, 4).clone(), 2, generator=tg.Generator().manual_seed(3))
    a = d.numpy()
    assert a.shape == (n, 2) and (a[:, 0] != a[:, 1]).all()
    # first draw ~ p; second ~ sum_i p_i p_j / (1 - p_i) over i != j
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j)
                       for j in range(4)])
    assert within(np.bincount(a[:, 0], minlength=4) / n, p, n)
    assert within(np.bincount(a[:, 1], minlength=4) / n, second, n)
    full = tg.multinomial(tg.tensor([0.0, 5.0, 0.0, 1.0]), 4)  # weight-0 categories come last
    assert sorted(full.tolist()[:2]) == [1, 3] and sorted(full.tolist()) == [0, 1, 2, 3]


BAD_DRAWS = {
    "bernoulli p>1": lambda m: m.bernoulli(m.tensor([1.5])),
    "bernoulli p<0": lambda m: m.bernoulli(m.tensor([-0.5])),
    "bernoulli nan": lambda m: m.bernoulli(m.tensor([float("nan")])),
    "bernoulli int": lambda m: m.bernoulli(m.tensor([1, 0])),
    "bernoulli_ p>1": lambda m: m.zeros(3).bernoulli_(1.5),
    "bernoulli_ tensor p>1": lambda m: m.zeros(2).bernoulli_(m.tensor([1.5, 0.0])),
    "multinomial 3-d": lambda m: m.multinomial(m.ones(2, 2, 2), 1),
    "multinomial 0-d": lambda m: m.multinomial(m.tensor(1.0), 1),
    "multinomial int": lambda m: m.multinomial(m.tensor([1, 2]), 1),
    "multinomial negative": lambda m: m.multinomial(m.tensor([-1.0, 2.0]), 1),
    "multinomial inf": lambda m: m.multinomial(m.tensor([float("inf"), 2.0]), 1),
    "multinomial nan": lambda m: m.multinomial(m.tensor([float("nan"), 2.0]), 1),
    "multinomial zero row": lambda m: m.multinomial(m.tensor([[0.0, 0.0], [1.0, 1.0]]), 1),
    "multinomial n=0": lambda m: m.multinomial(m.ones(3), 0),
    "multinomial too many": lambda m: m.multinomial(m.ones(3), 4),
    "multinomial float n": lambda m: m.multinomial(m.ones(3), 2.0),
}


@pytest.mark.parametrize("case", sorted(BAD_DRAWS))
def test_bad_draws_raise_pytorchs_errors(case):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as expect:
        BAD_DRAWS[case](torch)
    with pytest.raises(expect.type) as got:
        BAD_DRAWS[case](tg)
    if expect.type is RuntimeError:  # PyTorch's wording, up to its "(Could this error ...)"
        assert str(got.value) == str(expect.value).split("  (Could")[0]


def test_dropout_has_no_generator_in_either_library():
    """PyTorch's F.dropout family draws from the default generator only; so does tapegrad's."""
    import inspect

    torch = pytest.importorskip("torch")
    for name in ("dropout", "dropout1d", "dropout2d"):
        ours = inspect.signature(getattr(tg.nn.functional, name)).parameters
        theirs = inspect.signature(getattr(torch.nn.functional, name)).parameters
        assert "generator" not in ours and "generator" not in theirs

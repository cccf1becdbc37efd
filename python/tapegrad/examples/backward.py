"""Write the backward yourself: d2l §3.2's linear regression with the gradients derived by
hand, as a :class:`tapegrad.autograd.Function` and as plain formulas, checked with
:func:`tapegrad.gradcheck` and trained beside autodiff — the three parameter trajectories are
printed side by side and agree. Then two non-linear Functions (softplus and the Legendre
polynomial P₃, whose backward is differentiable again), and, with ``broken=True``, a
learner's mistake that gradcheck catches.

The model and loss, per example: ŷ = x·w + b, l = ½(ŷ − y)². By the chain rule, for the
summed loss L = Σ l over a minibatch (X: n×d, r = ŷ − y: n×1):

    ∂L/∂ŷ = r      ∂L/∂w = Xᵀ·r      ∂L/∂b = Σ r      ∂L/∂X = r·wᵀ

>>> r = run(epochs=1, log=lambda s: None)
>>> r.max_difference < 1e-12 and r.gradchecks_passed
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import tapegrad as tg
from tapegrad.autograd import Function
from tapegrad.data import DataLoader, TensorDataset, synthetic_data

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2


# ----- 1. the backward as a Function -------------------------------------------------------------
class Linreg(Function):
    """ŷ = X·w + b, with its backward written by hand."""

    @staticmethod
    def forward(ctx, X, w, b):
        ctx.save_for_backward(X, w)
        return X @ w + b

    @staticmethod
    def backward(ctx, g):
        # g = ∂L/∂ŷ (n×1). ŷ = X·w + b  ⇒  dX = g·wᵀ, dw = Xᵀ·g, db = Σ g (b broadcast over rows)
        X, w = ctx.saved_tensors
        dX = g @ w.T if ctx.needs_input_grad[0] else None
        return dX, X.T @ g, g.sum(0)


class SquaredLoss(Function):
    """l = ½(ŷ − y)² per example, with its backward written by hand."""

    @staticmethod
    def forward(ctx, y_hat, y):
        r = y_hat - y
        ctx.save_for_backward(r)
        return r * r / 2

    @staticmethod
    def backward(ctx, g):
        # l = ½r², r = ŷ − y  ⇒  dŷ = g·r, dy = −g·r
        (r,) = ctx.saved_tensors
        return g * r, -(g * r)


class BrokenSquaredLoss(SquaredLoss):
    """A learner's slip: the derivative of ½r² taken as 2r (the ½ forgotten, the square's 2
    kept). gradcheck says which input's gradient is wrong and by how much."""

    @staticmethod
    def backward(ctx, g):
        (r,) = ctx.saved_tensors
        return 2 * g * r, -(g * r)


# ----- 2. the backward as plain formulas (no tape at all) --------------------------------------
def manual_grads(X: tg.Tensor, y: tg.Tensor, w: tg.Tensor, b: tg.Tensor) -> tuple[tg.Tensor, tg.Tensor]:
    """∂L/∂w = Xᵀ·r and ∂L/∂b = Σ r for L = Σ ½(X·w + b − y)², r = X·w + b − y."""
    with tg.no_grad():
        r = X @ w + b - y
        return X.T @ r, r.sum(0)


# ----- 3. non-linear Functions -------------------------------------------------------------------
class Softplus(Function):
    """softplus(x) = log(1 + eˣ), computed stably as max(x, 0) + log1p(e^(−|x|))."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return tg.relu(x) + tg.log1p(tg.exp(-tg.abs(x)))

    @staticmethod
    def backward(ctx, g):
        # d/dx log(1 + eˣ) = eˣ / (1 + eˣ) = σ(x)
        (x,) = ctx.saved_tensors
        return g * tg.sigmoid(x)


class LegendreP3(Function):
    """P₃(x) = ½(5x³ − 3x) (PyTorch's tutorial example). Its backward is written with tapegrad
    ops, so it is differentiable again: P₃''(x) = 15x comes out of a second backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x**3 - 3 * x)

    @staticmethod
    def backward(ctx, g):
        # P₃'(x) = ½(15x² − 3)
        (x,) = ctx.saved_tensors
        return g * 1.5 * (5 * x**2 - 1)


@dataclass
class BackwardResult:
    """The three trajectories (w₁, w₂, b after each epoch) and what was checked."""

    autodiff: list[tuple[float, float, float]] = field(default_factory=list)
    function: list[tuple[float, float, float]] = field(default_factory=list)
    formulas: list[tuple[float, float, float]] = field(default_factory=list)
    max_difference: float = 0.0
    gradchecks_passed: bool = False
    broken_message: str | None = None


def _params(init_w: tg.Tensor) -> tuple[tg.Tensor, tg.Tensor]:
    return init_w.clone().requires_grad_(), tg.zeros(1, dtype=tg.float64, requires_grad=True)


def fmt(state: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:+.6f}" for v in state) + ")"


def _state(w: tg.Tensor, b: tg.Tensor) -> tuple[float, float, float]:
    v = w.detach().reshape((2,)).tolist()
    return (v[0], v[1], b.item())


def check_gradients(log: Callable[[str], None] = print, broken: bool = False) -> str | None:
    """gradcheck every Function of the lesson; with ``broken``, also the learner's mistake
    (returns its gradcheck message)."""
    tg.manual_seed(1)
    X = tg.randn(5, 2, dtype=tg.float64, requires_grad=True)
    w = tg.randn(2, 1, dtype=tg.float64, requires_grad=True)
    b = tg.randn(1, dtype=tg.float64, requires_grad=True)
    y_hat = tg.randn(5, 1, dtype=tg.float64, requires_grad=True)
    y = tg.randn(5, 1, dtype=tg.float64, requires_grad=True)
    x = tg.linspace(-3, 3, 7, dtype=tg.float64).requires_grad_()
    for name, fn, inputs in [("Linreg", Linreg.apply, [X, w, b]),
                             ("SquaredLoss", SquaredLoss.apply, [y_hat, y]),
                             ("Softplus", Softplus.apply, [x]),
                             ("LegendreP3", LegendreP3.apply, [x])]:
        log(f"gradcheck({name}): {tg.gradcheck(fn, inputs)}")
    # Second derivative through LegendreP3's hand-written backward: P₃''(x) = 15x.
    (d1,) = tg.grad(LegendreP3.apply(x).sum(), x, create_graph=True)
    (d2,) = tg.grad(d1.sum(), x)
    err = (d2 - 15 * x.detach()).abs().max().item()
    log(f"LegendreP3: second derivative from the hand-written backward vs 15x: max error {err:.1e}")
    if err > 1e-9:
        raise AssertionError(f"LegendreP3's second derivative is off by {err}")
    if not broken:
        return None
    try:
        tg.gradcheck(BrokenSquaredLoss.apply, [y_hat, y])
    except tg.GradcheckError as e:
        msg = str(e).splitlines()[0]
        log(f"gradcheck(BrokenSquaredLoss) caught the mistake:\n  {msg}")
        return msg
    raise AssertionError("gradcheck missed the broken backward")


def run(epochs: int = 3, lr: float = 0.03, batch_size: int = 10, num_examples: int = 1000,
        seed: int = 0, broken: bool = False,
        log: Callable[[str], None] = print) -> BackwardResult:
    """Check the hand-written gradients, then train three copies of the model on the same
    minibatches: by autodiff, by the Functions, by the plain formulas; print their (w, b)
    after every epoch and the largest difference between them."""
    result = BackwardResult()
    result.broken_message = check_gradients(log, broken)
    result.gradchecks_passed = True

    features, labels = synthetic_data(tg.tensor(list(TRUE_W)), TRUE_B, num_examples, seed=seed)
    features, labels = features.double(), labels.double()
    tg.manual_seed(seed)
    init_w = tg.normal(0.0, 0.01, size=(2, 1)).double()
    w_a, b_a = _params(init_w)
    w_f, b_f = _params(init_w)
    w_m, b_m = init_w.clone(), tg.zeros(1, dtype=tg.float64)
    loader = DataLoader(TensorDataset(features, labels), batch_size=batch_size, shuffle=True,
                        seed=seed)

    def sgd(p: tg.Tensor, grad: tg.Tensor) -> None:
        with tg.no_grad():
            p -= lr * grad / batch_size

    log(f"{'epoch':>5}  {'autodiff (w1, w2, b)':>30}  {'Function (w1, w2, b)':>30}  "
        f"{'formulas (w1, w2, b)':>30}")
    for epoch in range(epochs):
        for X, y in loader:
            # autodiff: the tape derives the gradients
            ((X @ w_a + b_a - y) ** 2 / 2).sum().backward()
            # the Functions: one tape entry each, their backward written above
            SquaredLoss.apply(Linreg.apply(X, w_f, b_f), y).sum().backward()
            # the formulas: no tape
            dw, db = manual_grads(X, y, w_m, b_m)
            for p, g in ((w_a, w_a.grad), (b_a, b_a.grad), (w_f, w_f.grad), (b_f, b_f.grad),
                         (w_m, dw), (b_m, db)):
                sgd(p, g)
            for p in (w_a, b_a, w_f, b_f):
                p.grad = None
        result.autodiff.append(_state(w_a, b_a))
        result.function.append(_state(w_f, b_f))
        result.formulas.append(_state(w_m, b_m))
        log(f"{epoch + 1:>5}  {fmt(result.autodiff[-1]):>30}  {fmt(result.function[-1]):>30}  "
            f"{fmt(result.formulas[-1]):>30}")
    result.max_difference = max(
        (abs(a - o) for ta, tf, tm in zip(result.autodiff, result.function, result.formulas)
         for a, f, m in zip(ta, tf, tm) for o in (f, m)), default=0.0)
    log(f"largest difference between the trajectories: {result.max_difference:.1e}")
    return result

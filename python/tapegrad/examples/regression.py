"""The seed lesson: fit y = m·x + b to eight points by gradient descent (Krohn, *ML
Foundations*, "regression in PyTorch"), with autodiff gradients checked against the calculus.

C(m, b) = (1/n) Σ (m·xᵢ + b − yᵢ)²  ⇒  ∂C/∂m = (2/n) Σ (ŷᵢ − yᵢ)·xᵢ ,  ∂C/∂b = (2/n) Σ (ŷᵢ − yᵢ)

>>> r = run(epochs=1000, out=None, log=lambda s: None)
>>> round(r.C0, 4), round(r.dC_dm0, 4), round(r.dC_db0, 4)
(19.6755, 36.305, 6.265)
>>> round(r.m, 4), round(r.b, 4), round(r.cost, 4)
(-0.4681, 1.7543, 0.0195)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import tapegrad as tg
from tapegrad import optim

#: The seed's data: x = 0..7 and eight noisy y values on a falling line.
X = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
Y = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]
M0, B0 = 0.9, 0.1


def regression(x: tg.Tensor, m: tg.Tensor, b: tg.Tensor) -> tg.Tensor:
    """ŷ = m·x + b."""
    return m * x + b


def mse(yhat: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
    """C = (1/n) Σ (ŷ − y)², written out as in the seed notebook."""
    return tg.sum((yhat - y) ** 2) / len(y)


def manual_gradients(x: tg.Tensor, y: tg.Tensor, m: float, b: float) -> tuple[float, float]:
    """The calculus: ∂C/∂m = (2/n) Σ (ŷ − y)·x and ∂C/∂b = (2/n) Σ (ŷ − y), without autodiff."""
    with tg.no_grad():
        err = (m * x + b) - y
        n = len(y)
        return (2.0 / n * tg.sum(err * x)).item(), (2.0 / n * tg.sum(err)).item()


@dataclass
class RegressionResult:
    """What :func:`run` found: the first cost and gradients, the first step, the final fit, the
    cost after every update and the (m, b) path."""

    C0: float
    dC_dm0: float
    dC_db0: float
    manual_dm0: float
    manual_db0: float
    m1: float
    b1: float
    C1: float
    m: float
    b: float
    cost: float
    costs: list[float] = field(default_factory=list)
    path: list[tuple[float, float]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def run(epochs: int = 1000, lr: float = 0.01, out: str | os.PathLike | None = "tapegrad-out",
        log: Callable[[str], None] = print, print_every: int = 100,
        compile: bool = False, save_step: str | os.PathLike | None = None) -> RegressionResult:
    """One gradient step, then ``epochs`` more (``epochs + 1`` updates, SGD ``lr``), printing
    the seed's numbers; with ``out`` writes regression_before.png, regression_after.png,
    cost_curve.png and cost_surface.png there. ``compile=True`` wraps the training step in
    :func:`tapegrad.compile` (captured on the first epoch, replayed in C++ after): the same
    numbers to the bit, so the same output. ``save_step`` (implies ``compile``) writes the
    compiled step with m, b and the optimizer's state after training, for
    :func:`tapegrad.load_program` or a C++ program (docs/saved-programs.md) to go on from.

    >>> r = run(epochs=0, out=None, log=lambda s: None)
    >>> round(r.m1, 4), round(r.b1, 4), round(r.C1, 4)
    (0.5369, 0.0374, 8.5722)
    """
    if epochs < 0:
        raise ValueError(f"regression: epochs must be >= 0, got {epochs}")
    if save_step is not None and epochs == 0:
        raise ValueError("regression: save_step needs at least one epoch (the step is "
                         "captured on the first)")
    x, y = tg.tensor(X), tg.tensor(Y)
    m = tg.tensor([M0]).requires_grad_()
    b = tg.tensor([B0], requires_grad=True)
    opt = optim.SGD([m, b], lr=lr)
    files: list[str] = []

    def save(fig, name: str) -> None:
        if out is not None:
            p = os.path.join(os.fspath(out), name)
            fig.savefig(p, dpi=100)
            files.append(p)

    if out is not None:
        os.makedirs(out, exist_ok=True)
        from tapegrad import viz
    # Step 1, as in the notebook: forward, cost, backward, look at the gradients, update.
    C = mse(regression(x, m, b), y)
    C.backward()
    C0, gm, gb = C.item(), m.grad.item(), b.grad.item()
    mm, mb = manual_gradients(x, y, M0, B0)
    log(f"initial: m = {M0}, b = {B0}, cost C0 = {C0:.4f}")
    log(f"  autodiff: dC/dm = {gm:.4f}   dC/db = {gb:.4f}")
    log(f"  manual:   dC/dm = {mm:.4f}   dC/db = {mb:.4f}   (2/n)·Σ(ŷ−y)·x, (2/n)·Σ(ŷ−y)")
    if out is not None:
        save(viz.labeled_regression_plot(x, y, m, b, C), "regression_before.png")
    path = [(m.item(), b.item())]
    costs = [C0]
    opt.step()
    path.append((m.item(), b.item()))
    with tg.no_grad():
        C1 = mse(regression(x, m, b), y).item()
    m1, b1 = m.item(), b.item()
    log(f"after one step (lr {lr}): m = {m1:.4f}, b = {b1:.4f}, cost = {C1:.4f}")

    def step() -> tg.Tensor:
        """One update: forward, cost, backward, SGD. Returns the cost before the update (read
        with .item() outside: reading a value into Python inside would stop a replay)."""
        opt.zero_grad()
        C = mse(regression(x, m, b), y)
        C.backward()
        opt.step()
        return C

    if compile or save_step is not None:
        step = tg.compile(step)
    for epoch in range(epochs):
        C = step()
        costs.append(C.item())
        if epoch % print_every == 0 or epoch == epochs - 1:
            # The gradients the update used (SGD's step leaves .grad as backward wrote it).
            log(f"Epoch {epoch}, cost {C.item():.3g}, m grad {m.grad.item():.3g}, "
                f"b grad {b.grad.item():.3g}")
        path.append((m.item(), b.item()))

    if save_step is not None:
        step.save(os.fspath(save_step), {"m": m, "b": b})  # type: ignore[attr-defined]
        log(f"saved the training step with m, b after {epochs + 1} updates to {save_step}")
    with tg.no_grad():
        C_final = mse(regression(x, m, b), y)
    cost = C_final.item()
    if out is not None:
        C = mse(regression(x, m, b), y)
        opt.zero_grad()
        C.backward()
        save(viz.labeled_regression_plot(x, y, m, b, C), "regression_after.png")
        costs_plot = costs + [cost]
        save(viz.plot_history({"cost": costs_plot}, xlabel="update", logy=True,
                              title="cost C over gradient-descent updates"), "cost_curve.png")
        save(viz.cost_surface(x, y, path), "cost_surface.png")
    log(f"final after {epochs + 1} updates: m = {m.item():.7f}, b = {b.item():.7f}, "
        f"cost = {cost:.4f}")
    return RegressionResult(C0=C0, dC_dm0=gm, dC_db0=gb, manual_dm0=mm, manual_db0=mb,
                            m1=m1, b1=b1, C1=C1, m=m.item(), b=b.item(), cost=cost, costs=costs,
                            path=path, files=files)

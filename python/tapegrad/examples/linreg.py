"""d2l §3.2, linear regression from scratch: synthetic data y = X·w + b + ε with w = [2, −3.4],
b = 4.2; minibatch SGD on the squared loss ½(ŷ − y)², batch 10, lr 0.03, 3 epochs.

>>> r = run(log=lambda s: None)
>>> max(abs(e) for e in r.w_error) < 1e-2 and abs(r.b_error) < 1e-2
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tapegrad as tg
from tapegrad.data import DataLoader, TensorDataset, synthetic_data

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2


def linreg(X: tg.Tensor, w: tg.Tensor, b: tg.Tensor) -> tg.Tensor:
    """The model ŷ = X·w + b."""
    return X @ w + b


def squared_loss(y_hat: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
    """½(ŷ − y)² per example."""
    return (y_hat - y.reshape(tuple(y_hat.shape))) ** 2 / 2


def sgd(params: Sequence[tg.Tensor], lr: float, batch_size: int) -> None:
    """Minibatch SGD, d2l's version: p ← p − lr·∇p / batch_size, then clear the gradient."""
    with tg.no_grad():
        for p in params:
            p -= lr * p.grad / batch_size
            p.grad = None


@dataclass
class LinregResult:
    """Learned parameters, their errors against the truth and the loss after each epoch."""

    w: list[float]
    b: float
    w_error: list[float]
    b_error: float
    losses: list[float] = field(default_factory=list)


def run(epochs: int = 3, lr: float = 0.03, batch_size: int = 10, num_examples: int = 1000,
        seed: int = 0, log: Callable[[str], None] = print,
        compile: bool = False) -> LinregResult:
    """Generate the data, train, print ``epoch k, loss …`` and the errors in w and b.
    ``compile=True`` wraps the minibatch step in :func:`tapegrad.compile` (captured on the
    first minibatch of each shape, replayed in C++ after): the same numbers to the bit."""
    tg.manual_seed(seed)
    true_w = tg.tensor(list(TRUE_W))
    features, labels = synthetic_data(true_w, TRUE_B, num_examples, seed=seed)
    w = tg.normal(0.0, 0.01, size=(2, 1)).requires_grad_()
    b = tg.zeros(1, requires_grad=True)
    loader = DataLoader(TensorDataset(features, labels), batch_size=batch_size, shuffle=True,
                        seed=seed)
    losses = []

    def step(X: tg.Tensor, y: tg.Tensor) -> None:
        """One minibatch: forward, summed loss, backward, d2l's SGD update."""
        loss = squared_loss(linreg(X, w, b), y)
        loss.sum().backward()
        sgd([w, b], lr, batch_size)

    if compile:
        step = tg.compile(step)
    for epoch in range(epochs):
        for X, y in loader:
            step(X, y)
        with tg.no_grad():
            train_l = squared_loss(linreg(features, w, b), labels)
            losses.append(train_l.mean().item())
        log(f"epoch {epoch + 1}, loss {losses[-1]:f}")
    w_err = (true_w - w.detach().reshape((2,))).tolist()
    b_err = TRUE_B - b.item()
    log(f"error in estimating w: [{', '.join(f'{e:+.2e}' for e in w_err)}]")
    log(f"error in estimating b: {b_err:+.2e}")
    return LinregResult(w=w.detach().reshape((2,)).tolist(), b=b.item(), w_error=w_err,
                        b_error=b_err, losses=losses)

"""Softmax regression (d2l §3.6–3.7) and, one chapter later, an MLP with one hidden ReLU layer,
on the embedded UCI digits (8×8, default) or Fashion-MNIST (28×28).

The model is ``Flatten → Linear(d, 10)`` (``→ ReLU → Linear`` for the MLP) with d2l's
initialisation W ~ N(0, 0.01²), b = 0; loss: softmax cross-entropy (fused); optimizer: SGD.

>>> data = load("digits")
>>> r = train(data, epochs=3, lr=0.5, batch_size=64, seed=0, log=lambda s: None)
>>> r.history["test acc"][-1] > 0.85
True

With ``distributed=True`` (``mpiexec -n 2 python -m tapegrad softmax --distributed``) every
process started by ``mpiexec`` trains the same model on its share of each batch: the model is
wrapped in ``DistributedDataParallel``, a ``DistributedSampler`` deals the rows of every batch
of ``batch_size`` (the *global* batch) round-robin to the ranks, the loss and accuracies are
summed over the ranks with ``all_reduce``, and only rank 0 logs, draws and saves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.data import (
    FASHION_MNIST_CLASSES,
    DataLoader,
    TensorDataset,
    default_fashion_mnist_dir,
    load_digits,
    load_fashion_mnist,
    train_test_split,
)

DATASETS = ("digits", "fashion-mnist")

#: Per-dataset defaults (epochs, lr, batch size): digits reach ≥ 0.95 test accuracy;
#: Fashion-MNIST uses d2l's settings (≈ 0.83 test accuracy after 10 epochs).
DEFAULTS = {
    ("softmax", "digits"): dict(epochs=30, lr=0.5, batch_size=64),
    ("softmax", "fashion-mnist"): dict(epochs=10, lr=0.1, batch_size=256),
    ("mlp", "digits"): dict(epochs=30, lr=0.2, batch_size=64),
    ("mlp", "fashion-mnist"): dict(epochs=10, lr=0.1, batch_size=256),
}
HIDDEN = {"digits": 64, "fashion-mnist": 256}


@dataclass
class Data:
    """Train and test split of an image classification dataset."""

    name: str
    X_train: tg.Tensor
    y_train: tg.Tensor
    X_test: tg.Tensor
    y_test: tg.Tensor
    class_names: tuple[str, ...]


def load(dataset: str = "digits", data_dir: str | os.PathLike | None = None,
         download: bool = False, seed: int = 0) -> Data:
    """Load ``dataset``: "digits" (embedded; a fixed 80/20 split drawn with ``seed``) or
    "fashion-mnist" (its own 60000/10000 split, from ``data_dir``)."""
    if dataset == "digits":
        X, y = load_digits()
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=seed)
        return Data("digits", X_tr, y_tr, X_te, y_te, tuple(str(i) for i in range(10)))
    if dataset == "fashion-mnist":
        root = data_dir if data_dir is not None else default_fashion_mnist_dir()
        X_tr, y_tr = load_fashion_mnist(root, train=True, download=download)
        X_te, y_te = load_fashion_mnist(root, train=False, download=download)
        return Data("fashion-mnist", X_tr, y_tr, X_te, y_te, FASHION_MNIST_CLASSES)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")


def make_model(in_features: int, hidden: int | None = None, num_classes: int = 10) -> nn.Module:
    """``Flatten → Linear`` (softmax regression) or ``Flatten → Linear → ReLU → Linear`` with
    weights ~ N(0, 0.01²) and zero biases, as in d2l."""
    if hidden is None:
        layers = [nn.Flatten(), nn.Linear(in_features, num_classes)]
    else:
        layers = [nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                  nn.Linear(hidden, num_classes)]
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return net


def accuracy(net: nn.Module, X: tg.Tensor, y: tg.Tensor, distributed: bool = False) -> float:
    """Fraction of rows of ``X`` whose arg-max logit equals the label; with ``distributed``,
    each rank counts its slice of the rows and the counts are summed over the ranks."""
    if not distributed:
        with tg.no_grad():
            return (net(X).argmax(1) == y).float().mean().item()
    import tapegrad.distributed as dist

    n, rank, world = X.shape[0], dist.get_rank(), dist.get_world_size()
    lo, hi = n * rank // world, n * (rank + 1) // world
    with tg.no_grad():
        correct = (net(X[lo:hi]).argmax(1) == y[lo:hi]).double().sum().item() if hi > lo else 0.0
    counts = tg.tensor([correct, float(hi - lo)], dtype=tg.float64)
    dist.all_reduce(counts)
    return counts[0].item() / max(counts[1].item(), 1.0)


@dataclass
class TrainResult:
    """The trained model and per-epoch history (``loss``, ``train acc``, ``test acc``)."""

    model: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)


def train(data: Data, *, hidden: int | None = None, epochs: int = 30, lr: float = 0.5,
          batch_size: int = 64, seed: int = 0, model: nn.Module | None = None,
          progress: bool = False, log: Callable[[str], None] = print,
          distributed: bool = False, compile: bool = False) -> TrainResult:
    """Minibatch SGD on the mean cross-entropy, reshuffling each epoch with a generator seeded
    by ``seed``; logs ``epoch k: loss …, train acc …, test acc …``.

    ``compile=True`` wraps the per-batch step in :func:`tapegrad.compile` (captured on the
    first batch of each shape — a last partial batch is a second one — and replayed in C++
    after): the same numbers to the bit. Not with ``distributed``.

    ``distributed=True`` trains data-parallel over the initialised process group (see the
    module docstring); ``batch_size`` is then the global batch and must divide by the number
    of processes. The returned model is the plain (unwrapped) one."""
    if compile and distributed:
        raise ValueError("--compile does not apply with --distributed (the gradients' "
                         "all-reduce runs in Python hooks a replay would skip)")
    tg.manual_seed(seed)
    in_features = 1
    for s in data.X_train.shape[1:]:
        in_features *= s
    net = model if model is not None else make_model(in_features, hidden)
    loss_fn = nn.CrossEntropyLoss()
    dataset = TensorDataset(data.X_train, data.y_train)
    sampler: Any = None
    rank, world = 0, 1
    if distributed:
        import tapegrad.distributed as dist
        from tapegrad.nn.parallel import DistributedDataParallel
        from tapegrad.utils.data import DistributedSampler

        rank, world = dist.get_rank(), dist.get_world_size()
        if batch_size % world:
            raise ValueError(f"the batch size {batch_size} does not divide by the {world} "
                             f"processes (each takes batch size / {world} rows of every batch)")
        plain, net = net, DistributedDataParallel(net)
        sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
        loader = DataLoader(dataset, batch_size=batch_size // world, sampler=sampler)
        if rank != 0:
            log, progress = (lambda s: None), False
    else:
        plain = net
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=seed)
    opt = optim.SGD(net.parameters(), lr=lr)

    def step(X: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
        """One minibatch update; returns the batch's mean loss (read with .item() outside:
        reading a value into Python inside would stop a replay)."""
        loss = loss_fn(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    if compile:
        step = tg.compile(step)
    history: dict[str, list[float]] = {"loss": [], "train acc": [], "test acc": []}
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * len(loader), unit="batch", leave=False, disable=None,
                   desc=f"{'mlp' if hidden else 'softmax'} {data.name}")
    try:
        for epoch in range(epochs):
            net.train()
            if sampler is not None:
                sampler.set_epoch(epoch)
            total, count = 0.0, 0
            for X, y in loader:
                loss = step(X, y)
                n = y.shape[0]
                total += loss.item() * n
                count += n
                if bar is not None:
                    bar.update(1)
            net.eval()
            if distributed:
                sums = tg.tensor([total, float(count)], dtype=tg.float64)
                dist.all_reduce(sums)
                total, count = sums[0].item(), int(sums[1].item())
            history["loss"].append(total / max(count, 1))
            history["train acc"].append(accuracy(plain, data.X_train, data.y_train, distributed))
            history["test acc"].append(accuracy(plain, data.X_test, data.y_test, distributed))
            msg = (f"epoch {epoch + 1:>3}: loss {history['loss'][-1]:.4f}, train acc "
                   f"{history['train acc'][-1]:.4f}, test acc {history['test acc'][-1]:.4f}")
            if bar is not None:
                bar.write(msg)
            else:
                log(msg)
    finally:
        if bar is not None:
            bar.close()
    return TrainResult(plain, history)


def run(kind: str = "softmax", dataset: str = "digits", *, data_dir: str | None = None,
        download: bool = False, epochs: int | None = None, lr: float | None = None,
        batch_size: int | None = None, seed: int = 0, out: str | os.PathLike | None = None,
        progress: bool = False, log: Callable[[str], None] = print, distributed: bool = False,
        checkpoint: str | os.PathLike | None = None, compile: bool = False) -> TrainResult:
    """Load the data, train ``kind`` ("softmax" or "mlp") with the dataset's defaults unless
    overridden, and write ``{kind}_{dataset}_history.png`` and ``…_predictions.png`` to ``out``
    and the trained model's state dict to ``checkpoint`` (``tg.save``) when given.

    ``distributed=True``: data-parallel over the initialised process group; only rank 0 logs
    and writes files. ``compile=True``: the training step runs through :func:`tapegrad.compile`
    (same results to the bit; see :func:`train`)."""
    if kind not in ("softmax", "mlp"):
        raise ValueError(f"unknown model {kind!r}; choose 'softmax' or 'mlp'")
    rank, world = 0, 1
    if distributed:
        import tapegrad.distributed as dist

        rank, world = dist.get_rank(), dist.get_world_size()
        if rank != 0:
            log, out, checkpoint = (lambda s: None), None, None
        if download:  # one download, by rank 0; the others read its files
            if rank == 0:
                load(dataset, data_dir, True, seed)
            dist.barrier()
            download = False
    data = load(dataset, data_dir, download, seed)
    d = DEFAULTS[(kind, dataset)]
    epochs = d["epochs"] if epochs is None else epochs
    lr = d["lr"] if lr is None else lr
    batch_size = d["batch_size"] if batch_size is None else batch_size
    hidden = HIDDEN[dataset] if kind == "mlp" else None
    log(f"{kind} on {dataset}: {data.X_train.shape[0]} train / {data.X_test.shape[0]} test "
        f"images of {'×'.join(map(str, data.X_train.shape[1:]))}; epochs {epochs}, lr {lr}, "
        f"batch {batch_size}" + (f", hidden {hidden}" if hidden else ""))
    if distributed:
        log(f"data-parallel over {world} processes: {batch_size // max(world, 1)} rows of every "
            f"batch of {batch_size} per process")
    result = train(data, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                   progress=progress, log=log, distributed=distributed, compile=compile)
    if checkpoint is not None:
        folder = os.path.dirname(os.fspath(checkpoint))
        if folder:
            os.makedirs(folder, exist_ok=True)
        tg.save(result.model.state_dict(), checkpoint)
    if out is not None:
        from tapegrad import viz

        os.makedirs(out, exist_ok=True)
        stem = os.path.join(os.fspath(out), f"{kind}_{dataset.replace('-', '_')}")
        title = f"{kind} regression on {dataset}" if kind == "softmax" else f"MLP on {dataset}"
        viz.plot_history(result.history, title=title, path=stem + "_history.png")
        n = 24
        with tg.no_grad():
            preds = result.model(data.X_test[:n]).argmax(1)
        viz.show_images(data.X_test[:n], data.y_test[:n], preds,
                        class_names=data.class_names if dataset != "digits" else None,
                        ncols=8, max_images=n, title="test images: label → prediction",
                        path=stem + "_predictions.png")
        result.files = [stem + "_history.png", stem + "_predictions.png"]  # type: ignore[attr-defined]
    return result

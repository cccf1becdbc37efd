"""The multilayer perceptron with dropout of *Dive into Deep Learning* §5.6, on the embedded
UCI digits (default) or Fashion-MNIST:

    Flatten → Linear(d, 256) → ReLU → Dropout(p₁) → Linear(256, 256) → ReLU → Dropout(p₂)
            → Linear(256, 10)

with d = 784 for Fashion-MNIST (28×28) and 64 for the digits (8×8), d2l's initialisation
W ~ N(0, 0.01²), b = 0, and its dropout probabilities p₁ = 0.2, p₂ = 0.5 (one ``--dropout P``
sets both; 0 removes the layers). Dropout zeroes each hidden unit with probability p during
training and scales the survivors by 1/(1 − p), so evaluation (``model.eval()``) uses the whole
network unchanged. Training is :func:`tapegrad.examples.softmax.train` (minibatch SGD; also
data-parallel with ``--distributed``).

>>> [type(m).__name__ for m in make_model(64, dropout=(0.0, 0.0))]
['Flatten', 'Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import tapegrad as tg
from tapegrad import nn

from . import softmax
from .softmax import TrainResult

HIDDEN = (256, 256)
DROPOUT = (0.2, 0.5)

#: Per-dataset defaults (epochs, lr, batch size): d2l's for Fashion-MNIST; smaller batches and
#: more epochs for the 1437 training digits.
DEFAULTS = {
    "digits": dict(epochs=30, lr=0.5, batch_size=64),
    "fashion-mnist": dict(epochs=10, lr=0.5, batch_size=256),
}


def make_model(in_features: int, hidden: Sequence[int] = HIDDEN,
               dropout: Sequence[float] = DROPOUT, num_classes: int = 10) -> nn.Module:
    """d2l's MLP: a ReLU layer per entry of ``hidden``, each followed by ``Dropout(p)`` (none
    where p is 0); weights ~ N(0, 0.01²), zero biases."""
    if len(dropout) != len(hidden):
        raise ValueError(f"mlp: {len(hidden)} hidden layers need {len(hidden)} dropout "
                         f"probabilities, got {list(dropout)}")
    for p in dropout:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"mlp: dropout probability must be in [0, 1), got {p}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h, p in zip(hidden, dropout):
        layers += [nn.Linear(width, h), nn.ReLU()]
        if p > 0:
            layers.append(nn.Dropout(p))
        width = h
    layers.append(nn.Linear(width, num_classes))
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return net


def run(dataset: str = "digits", *, data_dir: str | None = None, download: bool = False,
        epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
        dropout: Sequence[float] | None = None, seed: int = 0,
        out: str | os.PathLike[str] | None = None, progress: bool = False,
        log: Callable[[str], None] = print, distributed: bool = False,
        checkpoint: str | os.PathLike[str] | None = None, compile: bool = False) -> TrainResult:
    """Load ``dataset``, train the MLP with the dataset's defaults unless overridden, write
    ``mlp_{dataset}_history.png`` and ``…_predictions.png`` to ``out`` and the state dict to
    ``checkpoint``. ``dropout``: one probability for both layers or one per layer.
    ``compile=True``: the training step runs through :func:`tapegrad.compile` (each
    Linear → ReLU pair as one GEMM with relu in its epilogue; the same numbers to the bit)."""
    probs = tuple(DROPOUT if dropout is None else dropout)
    if len(probs) == 1:
        probs = probs * len(HIDDEN)
    if distributed:
        import tapegrad.distributed as dist

        if dist.get_rank() != 0:
            log, out, checkpoint = (lambda s: None), None, None
        if download:  # one download, by rank 0; the others read its files
            if dist.get_rank() == 0:
                softmax.load(dataset, data_dir, True, seed)
            dist.barrier()
            download = False
    data = softmax.load(dataset, data_dir, download, seed)
    d = DEFAULTS[dataset]
    epochs = int(d["epochs"]) if epochs is None else epochs
    lr = float(d["lr"]) if lr is None else lr
    batch_size = int(d["batch_size"]) if batch_size is None else batch_size
    in_features = 1
    for s in data.X_train.shape[1:]:
        in_features *= s
    tg.manual_seed(seed)
    net = make_model(in_features, HIDDEN, probs)
    log(f"mlp on {dataset}: {data.X_train.shape[0]} train / {data.X_test.shape[0]} test images "
        f"of {'×'.join(map(str, data.X_train.shape[1:]))}; {in_features}→"
        f"{'→'.join(map(str, HIDDEN))}→10, dropout {', '.join(map(str, probs))}; epochs "
        f"{epochs}, lr {lr}, batch {batch_size}")
    result = softmax.train(data, hidden=HIDDEN[0], model=net, epochs=epochs, lr=lr,
                           batch_size=batch_size, seed=seed, progress=progress, log=log,
                           distributed=distributed, compile=compile)
    if checkpoint is not None:
        folder = os.path.dirname(os.fspath(checkpoint))
        if folder:
            os.makedirs(folder, exist_ok=True)
        tg.save(result.model.state_dict(), checkpoint)
    if out is not None:
        from tapegrad import viz

        os.makedirs(out, exist_ok=True)
        stem = os.path.join(os.fspath(out), f"mlp_{dataset.replace('-', '_')}")
        viz.plot_history(result.history, title=f"MLP with dropout on {dataset}",
                         path=stem + "_history.png")
        n = 24
        with tg.no_grad():
            preds = result.model(data.X_test[:n]).argmax(1)
        viz.show_images(data.X_test[:n], data.y_test[:n], preds,
                        class_names=data.class_names if dataset != "digits" else None,
                        ncols=8, max_images=n, title="test images: label → prediction",
                        path=stem + "_predictions.png")
        result.files = [stem + "_history.png", stem + "_predictions.png"]  # type: ignore[attr-defined]
    return result

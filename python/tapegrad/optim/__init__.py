"""Optimizers shaped like ``torch.optim``: parameter groups, per-parameter state, state dicts,
and a ``step()`` that updates each group's parameters in one C++ call; learning-rate schedulers
in :mod:`tapegrad.optim.lr_scheduler`.

>>> import tapegrad as tg
>>> import tapegrad.optim
>>> w = tg.tensor([1.0], requires_grad=True)
>>> opt = tg.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.8
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]

"""The layers of :mod:`tapegrad.nn`, one file per kind, as ``torch.nn.modules``."""

from .activation import ReLU, Sigmoid, Tanh
from .container import Sequential
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module

__all__ = ["Module", "Linear", "Identity", "Sequential", "Flatten", "ReLU", "Sigmoid", "Tanh",
           "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"]

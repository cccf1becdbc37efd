"""The layers of :mod:`tapegrad.nn`, one file per kind, as ``torch.nn.modules``."""

from .activation import (
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)
from .container import Sequential
from .conv import Conv1d, Conv2d  # convolution
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .loss import BCELoss, HuberLoss, KLDivLoss, L1Loss, NLLLoss, SmoothL1Loss  # losses
from .module import Module

__all__ = ["Module", "Linear", "Identity", "Sequential", "Flatten", "ReLU", "Sigmoid", "Tanh",
           "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid", "Hardtanh",
           "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"]
__all__ += ["Conv1d", "Conv2d"]  # convolution
__all__ += ["L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "BCELoss", "KLDivLoss"]  # losses

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
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .loss import BCELoss, HuberLoss, KLDivLoss, L1Loss, NLLLoss, SmoothL1Loss  # losses
from .module import Module
# pooling
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)

# normalization, dropout, embeddings
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d  # noqa: E402
from .dropout import Dropout, Dropout1d, Dropout2d  # noqa: E402
from .normalization import LayerNorm  # noqa: E402
from .sparse import Embedding  # noqa: E402

__all__ = ["Module", "Linear", "Identity", "Sequential", "Flatten", "ReLU", "Sigmoid", "Tanh",
           "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid", "Hardtanh",
           "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"]
# normalization, dropout, embeddings
__all__ += ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "Dropout", "Dropout1d",
            "Dropout2d", "Embedding"]
__all__ += ["Conv1d", "Conv2d"]  # convolution
__all__ += ["L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "BCELoss", "KLDivLoss"]  # losses
# pooling
__all__ += ["Unflatten", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
            "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]

# -- containers (ModuleList, ModuleDict, ParameterList, ParameterDict) --
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList  # noqa: E402

__all__ += ["ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]

# -- softmax modules and lazy layers --
from .activation import LogSoftmax, Softmax, Softmin  # noqa: E402
from .linear import LazyLinear  # noqa: E402
from .conv import LazyConv1d, LazyConv2d  # noqa: E402
from .batchnorm import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d  # noqa: E402

__all__ += ["Softmax", "LogSoftmax", "Softmin", "LazyLinear"]
__all__ += ["LazyConv1d", "LazyConv2d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]

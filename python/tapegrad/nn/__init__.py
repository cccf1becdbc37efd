"""Neural-network building blocks shaped like ``torch.nn``.

>>> import tapegrad as tg
>>> tg.manual_seed(0)  # doctest: +ELLIPSIS
<tapegrad.Generator seed=0>
>>> net = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 3))
>>> net(tg.randn(2, 4)).shape
tapegrad.Size([2, 3])
>>> net[0].weight.shape
tapegrad.Size([8, 4])
"""

from __future__ import annotations

from .. import _core
from . import functional, init
from .modules import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    Flatten,
    Identity,
    Linear,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)
# pooling
from .modules import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    Unflatten,
)
from .modules import Conv1d, Conv2d  # convolution
from .modules import BCELoss, HuberLoss, KLDivLoss, L1Loss, NLLLoss, SmoothL1Loss  # losses
from .parameter import Parameter

# normalization, dropout, embeddings
from .modules import (  # noqa: E402
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Embedding,
    LayerNorm,
)
from . import parallel  # noqa: E402 - needs Module; never imports mpi4py

Tensor = _core.Tensor

__all__ = ["Module", "Parameter", "Linear", "Sequential", "Flatten", "Identity", "ReLU",
           "Sigmoid", "Tanh", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid",
           "Hardtanh",
           "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "functional",
           "init", "parallel"]
# pooling
__all__ += ["Unflatten", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
            "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]
# normalization, dropout, embeddings
__all__ += ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "Dropout", "Dropout1d",
            "Dropout2d", "Embedding"]
__all__ += ["Conv1d", "Conv2d"]  # convolution
__all__ += ["L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "BCELoss", "KLDivLoss"]  # losses

# -- training utilities: containers and nn.utils (clip_grad_norm_, parameters_to_vector, ...) --
from . import utils  # noqa: E402
from .modules import ModuleDict, ModuleList, ParameterDict, ParameterList  # noqa: E402

__all__ += ["ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "utils"]

# -- softmax modules and lazy layers --
from .modules import LazyLinear, LogSoftmax, Softmax, Softmin  # noqa: E402
from .parameter import UninitializedParameter  # noqa: E402

__all__ += ["Softmax", "LogSoftmax", "Softmin", "LazyLinear", "UninitializedParameter"]
from .modules import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d,  # noqa: E402
                      LazyConv1d, LazyConv2d)
from .parameter import UninitializedBuffer  # noqa: E402

__all__ += ["LazyConv1d", "LazyConv2d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
            "UninitializedBuffer"]

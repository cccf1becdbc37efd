"""Batch normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d`` (as
``torch.nn.modules.batchnorm``)."""

from __future__ import annotations

from typing import Any

from ... import _core
from ...autograd import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

Tensor = _core.Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


def _check_device(device: Any) -> None:
    if device is not None and str(device) != "cpu":
        raise ValueError(f"tapegrad runs on the CPU only, got device={device!r}")


class _NormBase(Module):
    """Parameters (weight, bias), buffers (running_mean, running_var, num_batches_tracked)
    and their initialisation, shared by the batch-norm layers."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        _check_device(device)
        dtype = dtype or _core.dtype.float32
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(_core.empty((num_features,), dtype=dtype))
            if bias:
                self.bias = Parameter(_core.empty((num_features,), dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _core.zeros((num_features,), dtype=dtype))
            self.register_buffer("running_var", _core.ones((num_features,), dtype=dtype))
            self.register_buffer("num_batches_tracked", _core.tensor(0, dtype=_core.dtype.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight 1 and bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        # momentum None: a cumulative moving average, factor 1/(batches seen) (PyTorch's).
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, and in eval when there are no running statistics.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        # The buffers are updated only when they are tracked and batch statistics are used.
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) input, per channel C.

    >>> import tapegrad as tg
    >>> bn = tg.nn.BatchNorm1d(3)
    >>> bn
    BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> bn(tg.randn(8, 3)).shape
    tapegrad.Size([8, 3])
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) input, per channel C.

    >>> import tapegrad as tg
    >>> tg.nn.BatchNorm2d(4)(tg.randn(2, 4, 3, 3)).shape
    tapegrad.Size([2, 4, 3, 3])
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch normalization over (N, C, D, H, W) input, per channel C.

    >>> import tapegrad as tg
    >>> tg.nn.BatchNorm3d(2)(tg.randn(2, 2, 1, 3, 3)).shape
    tapegrad.Size([2, 2, 1, 3, 3])
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim != 5:
            raise ValueError(f"expected 5D input (got {input.ndim}D input)")


# ----- lazy batch norm -----
from ..parameter import UninitializedBuffer, UninitializedParameter, _materialize  # noqa: E402
from .lazy import LazyModuleMixin  # noqa: E402


class _LazyNormBase(LazyModuleMixin, _NormBase):
    """``num_features`` from the first input's dim 1; weight, bias (``UninitializedParameter``)
    and the running statistics (``UninitializedBuffer``) take that size then."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        _NormBase.__init__(self, 0, eps, momentum, affine, track_running_stats, device, dtype)
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            _NormBase.reset_parameters(self)

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        """Materialise the parameters and running statistics at ``input.shape[1]`` features,
        then initialise them as the layer does (weight 1, bias 0, mean 0, variance 1)."""
        if self.has_uninitialized_params():
            if not isinstance(input, Tensor) or input.dim() < 2:
                raise ValueError(f"{type(self).__name__}: the first input must be a tensor of "
                                 f"at least 2 dims (N, C, ...)")
            self.num_features = input.shape[1]
            for t in (self.weight, self.bias, self.running_mean, self.running_var):
                if t is not None:
                    _materialize(t, (self.num_features,))
            self.reset_parameters()
        elif self.num_features == 0:  # loaded from a state dict
            ref = self.weight if self.weight is not None else self.running_mean
            if ref is not None:
                self.num_features = ref.shape[0]


class LazyBatchNorm1d(_LazyNormBase, _BatchNorm):
    """A :class:`BatchNorm1d` whose ``num_features`` comes from the first input
    (``torch.nn.LazyBatchNorm1d``); it becomes a ``BatchNorm1d`` at the first call.

    >>> import tapegrad as tg
    >>> bn = tg.nn.LazyBatchNorm1d()
    >>> bn(tg.randn(8, 3)).shape, bn.running_mean.shape
    (tapegrad.Size([8, 3]), tapegrad.Size([3]))
    """

    cls_to_become = BatchNorm1d

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        BatchNorm1d._check_input_dim(self, input)  # type: ignore[arg-type]


class LazyBatchNorm2d(_LazyNormBase, _BatchNorm):
    """A :class:`BatchNorm2d` whose ``num_features`` comes from the first input
    (``torch.nn.LazyBatchNorm2d``); it becomes a ``BatchNorm2d`` at the first call.

    >>> import tapegrad as tg
    >>> bn = tg.nn.LazyBatchNorm2d()
    >>> bn(tg.randn(2, 4, 3, 3)).shape, bn
    (tapegrad.Size([2, 4, 3, 3]), BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True))
    """

    cls_to_become = BatchNorm2d

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        BatchNorm2d._check_input_dim(self, input)  # type: ignore[arg-type]


class LazyBatchNorm3d(_LazyNormBase, _BatchNorm):
    """A :class:`BatchNorm3d` whose ``num_features`` comes from the first input
    (``torch.nn.LazyBatchNorm3d``); it becomes a ``BatchNorm3d`` at the first call.

    >>> import tapegrad as tg
    >>> tg.nn.LazyBatchNorm3d()(tg.randn(2, 2, 1, 3, 3)).shape
    tapegrad.Size([2, 2, 1, 3, 3])
    """

    cls_to_become = BatchNorm3d

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        BatchNorm3d._check_input_dim(self, input)  # type: ignore[arg-type]


__all__ += ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]

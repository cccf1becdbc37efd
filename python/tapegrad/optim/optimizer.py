"""``Optimizer``: parameter groups, per-parameter state and state dicts, as ``torch.optim``.

A subclass's ``step()`` hands each group's parameters and the ``state`` dict to one C++ call
(``_core._sgd_group`` …), which looks each parameter's entry up, creates missing state and
checks the given state's shapes and dtypes before a kernel writes through it
(Notes [optimizer state lookups] in the bindings, [optimizer state checks] in
``cpp/src/optim.cpp``).
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from .. import _capture, _core
from .._validation import check_hyperparameters
from ..autograd import enable_grad

Tensor = _core.Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter without a default (``torch.optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: Any) -> str:
    return "tapegrad.Tensor" if isinstance(obj, Tensor) else type(obj).__name__


class Optimizer:
    """Base class of the optimizers (``torch.optim.Optimizer``).

    ``params`` is an iterable of tensors or of dicts (parameter groups): each dict holds
    ``'params'`` and any hyper-parameter that differs from ``defaults``. ``param_groups`` is the
    list of those dicts with every hyper-parameter filled in; ``step()`` reads them on every call,
    so a learning-rate scheduler (or the training loop) can write ``group['lr']``. ``state`` maps
    each parameter to its dict of buffers (PyTorch's keys, e.g. ``'momentum_buffer'``).

    >>> import tapegrad as tg
    >>> w, b = tg.ones(2, requires_grad=True), tg.zeros(1, requires_grad=True)
    >>> opt = tg.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    >>> (w.sum() + 2 * b.sum()).backward(); opt.step()
    >>> sorted(opt.state[w])
    ['momentum_buffer']
    >>> opt.state_dict()["param_groups"][1]["params"]
    [1]
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every step() — tapegrad's and a user's subclass's — guards its hyperparameters while
        # a step is captured (Note [capture and replay]): a scheduler's new lr captures again.
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is None or getattr(step, "_guards_capture", False):
            return

        @functools.wraps(step)
        def guarded_step(self: Optimizer, *args: Any, **kw: Any) -> Any:
            if _capture.ACTIVE:
                _capture.guard_optimizer(self)
            return step(self, *args, **kw)
        guarded_step._guards_capture = True  # type: ignore[attr-defined]
        cls.step = guarded_step  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]],
                 defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_typename(params)}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with ``'params'``; missing hyper-parameters take the defaults),
        e.g. to train layers unfrozen during fine-tuning.

        >>> import tapegrad as tg
        >>> opt = tg.optim.SGD([tg.ones(1, requires_grad=True)], lr=0.1)
        >>> opt.add_param_group({"params": tg.ones(2, requires_grad=True), "lr": 0.01})
        >>> [(len(g["params"]), g["lr"]) for g in opt.param_groups]
        [(1, 0.1), (1, 0.01)]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        name = type(self).__name__
        for i, p in enumerate(param_group["params"]):
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{_typename(p)} (parameter {i})")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter {i}, shape "
                                 f"{list(p.shape)}, computed by {p.grad_fn}); pass the leaf "
                                 "tensors, e.g. model.parameters()")
            if not p.is_floating_point():
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only floating "
                                "point tensors can be optimized")
        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            param_group.setdefault(key, default)
        plist = param_group["params"]
        if len({id(p) for p in plist}) != len(plist):
            # PyTorch warns and would update such a parameter twice per step; we keep one.
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "only the first occurrence is kept", stacklevel=3)
            unique: dict[int, Tensor] = {}
            for p in plist:
                unique.setdefault(id(p), p)
            param_group["params"] = list(unique.values())
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default, like PyTorch) or to zeros (one C++ call)."""
        _core._zero_grad([p for g in self.param_groups for p in g["params"]], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- state dicts (PyTorch's layout: parameters as integer ids in group order) --
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {id: {...}}, 'param_groups': [{..., 'params': [ids]}]}``: parameters are
        numbered in group order; the state tensors are shared, not copied (as PyTorch).

        >>> import tapegrad as tg
        >>> opt = tg.optim.Adam([tg.ones(2, requires_grad=True)], lr=0.01)
        >>> sd = opt.state_dict()
        >>> sd["state"], sd["param_groups"][0]["params"], sd["param_groups"][0]["lr"]
        ({}, [0], 0.01)
        """
        ids: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                ids.setdefault(id(p), len(ids))
            packed["params"] = [ids[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(ids[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned (from this or an equally built optimizer).

        Group and parameter counts must match; every state tensor is copied and converted to its
        parameter's dtype, and one whose shape differs from its parameter's raises ``ValueError``
        (the step kernels never see it).

        >>> import tapegrad as tg
        >>> w = tg.ones(2, requires_grad=True)
        >>> a = tg.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward(); a.step()
        >>> b = tg.optim.SGD([w], lr=0.5, momentum=0.9)
        >>> b.load_state_dict(a.state_dict())
        >>> b.param_groups[0]["lr"], b.state[w]["momentum_buffer"].tolist()
        (0.1, [1.0, 1.0])
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict \
                or "state" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with 'state' and "
                             "'param_groups' (as returned by Optimizer.state_dict())")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = {key: self._cast_state(param, k, key, val)
                                for key, val in v.items()}
            else:
                state[k] = copy.deepcopy(v)
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
        self.state = state
        self.param_groups = saved_groups

    @staticmethod
    def _cast_state(param: Tensor, pid: Any, key: str, value: Any) -> Any:
        if key == "step":
            # PyTorch keeps steps as float32 scalars whatever the parameter's dtype.
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise ValueError(f"loaded state 'step' of parameter {pid} has shape "
                                     f"{list(value.shape)}; expected one element")
                return value.detach().to(_core.dtype.float32).clone()
            return _core.tensor(float(value), dtype=_core.dtype.float32)
        if isinstance(value, Tensor):
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"loaded state {key!r} of parameter {pid} has shape "
                                 f"{list(value.shape)}, but the parameter has shape "
                                 f"{list(param.shape)}")
            v = value.detach()
            return (v.to(param.dtype) if v.dtype != param.dtype else v).clone()
        return copy.deepcopy(value)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"


def _check_lr(lr: Any) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check_hyperparameters("optimizer", lr=lr)  # NaN and non-numbers too


def _no_differentiable(name: str, differentiable: bool) -> None:
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True is not supported (the update "
                                  "runs in C++ outside the tape)")


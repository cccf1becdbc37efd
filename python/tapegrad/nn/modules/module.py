"""``Module``: the base class of layers and models (registration, traversal, state dicts)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ... import _capture, _core
from ...autograd import no_grad
from ..parameter import _is_parameter, _materialize, is_lazy
from ._hooks import _ModuleHooks
from ...utils.hooks import RemovableHandle

Tensor = _core.Tensor

__all__ = ["Module"]

# Every change of which parameter, buffer or submodule an attribute names bumps a counter that
# a compiled step guards (Note [capture and replay]): its program holds the tensors it found.
_structure_changed = _capture.structure_changed


class Module:
    """Base class of layers and models (``torch.nn.Module``).

    Assigning a :class:`Parameter` or a ``Module`` to an attribute registers it; ``parameters()``
    walks the tree; ``model(x)`` calls ``forward(x)``.

    >>> import tapegrad as tg
    >>> class Line(tg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.m = tg.nn.Parameter(tg.tensor([0.9]))
    ...         self.b = tg.nn.Parameter(tg.tensor([0.1]))
    ...     def forward(self, x):
    ...         return self.m * x + self.b
    >>> [name for name, _ in Line().named_parameters()]
    ['m', 'b']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    # -- registration --
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if name in params or name in buffers or name in modules or _is_parameter(value) or \
                isinstance(value, Module):
            _structure_changed()
        if _is_parameter(value):
            self._remove_attr(name)
            params[name] = value
        elif isinstance(value, Module):
            self._remove_attr(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as parameter {name!r} "
                                "(tapegrad.nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as child module "
                                f"{name!r} (tapegrad.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__!r} as buffer {name!r} "
                                "(tapegrad.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_attr(self, name: str) -> None:
        _structure_changed()
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        _structure_changed()
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(key, {}):
                del self.__dict__[key][name]
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """Register ``param`` (a Parameter, or None) under ``name``."""
        if param is not None and not _is_parameter(param):
            raise TypeError(f"cannot assign {type(param).__name__!r} object to parameter "
                            f"{name!r} (tapegrad.nn.Parameter or None required)")
        self._remove_attr(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Register a non-trainable tensor saved in ``state_dict`` (e.g. running statistics)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__!r} object to buffer {name!r} "
                            "(tapegrad.Tensor or None required)")
        self._remove_attr(name)
        self._buffers[name] = tensor

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._remove_attr(name)
        self._modules[name] = module

    # -- calling --
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # Hooks: None until one is registered (a class attribute, so the plain call below pays
    # one attribute lookup for them); then a _ModuleHooks of this module.
    _hooks: _ModuleHooks | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        # Typed Tensor, not Any, so `model(x)` checks in user code: every tapegrad layer
        # returns a tensor. A forward that returns something else still works at run time.
        if _capture.ACTIVE:
            _capture.guard_module(self)
        if self._hooks is None:
            out: Tensor = self.forward(*args, **kwargs)
            return out
        return self._hooks.call(self, args, kwargs)

    def _hook_dicts(self) -> _ModuleHooks:
        if self._hooks is None:
            object.__setattr__(self, "_hooks", _ModuleHooks())
        assert self._hooks is not None
        return self._hooks

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Run ``hook(module, args)`` before ``forward``; a non-None result replaces ``args``
        (a non-tuple is wrapped in one). With ``with_kwargs=True``: ``hook(module, args,
        kwargs)`` returning ``(args, kwargs)`` or None. Returns a handle with ``remove()``.

        >>> import tapegrad as tg
        >>> lin = tg.nn.Linear(2, 1)
        >>> h = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
        >>> lin(tg.ones(1, 2)).item() == lin.bias.item()
        True
        >>> h.remove()
        """
        return self._hook_dicts().add("forward_pre", (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Run ``hook(module, args, output)`` after ``forward``; a non-None result replaces the
        output. With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.

        >>> import tapegrad as tg
        >>> lin = tg.nn.Linear(2, 3)
        >>> shapes = []
        >>> h = lin.register_forward_hook(lambda m, args, out: shapes.append(tuple(out.shape)))
        >>> _ = lin(tg.ones(4, 2)); shapes
        [(4, 3)]
        """
        return self._hook_dicts().add("forward", (hook, with_kwargs), prepend)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False
                                        ) -> RemovableHandle:
        """Run ``hook(module, grad_output)`` when the gradients of the module's outputs are
        known; a non-None result (a tuple) replaces ``grad_output``."""
        return self._hook_dicts().add("backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False
                                    ) -> RemovableHandle:
        """Run ``hook(module, grad_input, grad_output)`` when the gradients of the module's
        positional tensor inputs are computed (``grad_input`` holds None for inputs that need
        none); a non-None result (a tuple) replaces ``grad_input``.

        >>> import tapegrad as tg
        >>> lin = tg.nn.Linear(2, 3)
        >>> seen = []
        >>> h = lin.register_full_backward_hook(
        ...     lambda m, gin, gout: seen.append((tuple(gin[0].shape), tuple(gout[0].shape))))
        >>> lin(tg.ones(4, 2, requires_grad=True)).sum().backward(); seen
        [((4, 2), (4, 3))]
        """
        return self._hook_dicts().add("backward", hook, prepend)

    # -- traversal --
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module and every descendant (each once)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for the direct children."""
        for k, m in self._modules.items():
            if m is not None:
                yield k, m

    def children(self) -> Iterator[Module]:
        """Yield the direct children."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for k, t in getattr(mod, attr).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_name}.{k}" if mod_name else k), t

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, parameter)``, each parameter once.

        >>> import tapegrad as tg
        >>> [n for n, _ in tg.nn.Sequential(tg.nn.Linear(2, 1)).named_parameters()]
        ['0.weight', '0.bias']
        """
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield the parameters (what an optimizer takes).

        >>> import tapegrad as tg
        >>> sum(p.numel() for p in tg.nn.Linear(3, 2).parameters())
        8
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, buffer)``."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield the buffers."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every descendant, then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- devices and dtypes --
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Module:
        """Apply ``fn`` to every parameter, gradient and buffer of this module and its
        descendants. A parameter keeps its identity (optimizers built before still hold it): it
        takes ``fn``'s result as its data, as PyTorch's ``param.data = fn(param)``. Buffers are
        replaced in the module's dict, as in PyTorch."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                with no_grad():
                    new = fn(p)
                if new is p:
                    continue
                g = p.grad
                p.grad = None
                p._set_data(new.detach())
                if g is not None:
                    with no_grad():
                        p.grad = fn(g).detach()
            for k, b in m._buffers.items():
                if b is not None:
                    with no_grad():
                        m._buffers[k] = fn(b)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device=None, dtype=None, non_blocking=False)``, ``to(dtype)``, ``to(tensor)``:
        move to the device (only the CPU exists) and cast floating parameters and buffers to the
        floating ``dtype`` in place; integer buffers are left alone. Returns self.

        >>> import tapegrad as tg
        >>> m = tg.nn.Linear(2, 1); w = m.weight
        >>> m.to("cpu", tg.float64).weight is w, w.dtype
        (True, tapegrad.float64)
        """
        from ..._device import _check_device, _DEVICE_TYPES, device as _device

        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        if len(args) > 3:
            raise TypeError(f"to() takes at most 3 positional arguments ({len(args)} given)")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, _device) or (isinstance(a, str)
                                            and a.partition(":")[0] in _DEVICE_TYPES):
                dev = a
            elif isinstance(a, bool) or a is None:
                pass  # non_blocking given positionally
            else:
                dtype = a
        _check_device(dev, "to")
        if dtype is not None:
            from ..._legacy import check_dtype

            check_dtype("to", dtype)
            if not _is_floating_dtype(dtype):
                raise TypeError("nn.Module.to only accepts floating point or complex dtypes, "
                                f"but got desired dtype={dtype}")
            return self._apply(lambda t: t.to(dtype) if _is_floating_dtype(t.dtype) else t)
        return self

    def cpu(self) -> Module:
        """Move to the CPU: a no-op (the only device); returns self."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises as PyTorch's CPU build does."""
        from ..._device import _NO_CUDA

        raise AssertionError(_NO_CUDA)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32 in place; returns self."""
        return self.to(_core.dtype.float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 in place; returns self."""
        return self.to(_core.dtype.float64)

    def type(self, dst_type: Any) -> Module:
        """Cast every parameter and buffer (integer ones too, as PyTorch) to ``dst_type``;
        returns self."""
        from ..._legacy import check_dtype

        check_dtype("type", dst_type)
        return self._apply(lambda t: t.to(dst_type))

    # -- modes and grads --
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its descendants; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to None (default, like PyTorch) or to zeros (one
        C++ call over all of them)."""
        _core._zero_grad(list(self.parameters()), set_to_none)

    # -- state --
    def state_dict(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Name → tensor (detached, sharing storage) for every parameter and buffer.

        >>> import tapegrad as tg
        >>> list(tg.nn.Linear(2, 1).state_dict())
        ['weight', 'bias']
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for mod_name, mod in self.named_modules(prefix.rstrip(".")):
            for attr in ("_parameters", "_buffers"):
                for k, t in getattr(mod, attr).items():
                    if t is not None:
                        out[f"{mod_name}.{k}" if mod_name else k] = t.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy tensors (or arrays) from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (default) missing or unexpected keys raise ``RuntimeError``; a shape
        mismatch always raises. Returns ``(missing_keys, unexpected_keys)``.

        >>> import tapegrad as tg
        >>> a, b = tg.nn.Linear(2, 1), tg.nn.Linear(2, 1)
        >>> b.load_state_dict(a.state_dict())
        ([], [])
        >>> a.weight.tolist() == b.weight.tolist()
        True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError("Expected state_dict to be dict-like, got "
                            f"{type(state_dict).__name__}.")
        own = self.state_dict()
        targets: dict[str, Tensor] = {}
        for mod_name, mod in self.named_modules():
            for attr in ("_parameters", "_buffers"):
                for k, t in getattr(mod, attr).items():
                    if t is not None:
                        targets[f"{mod_name}.{k}" if mod_name else k] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        sources: dict[str, Tensor] = {}
        for k, dst in targets.items():
            if k not in state_dict:
                continue
            src = state_dict[k]
            if not isinstance(src, Tensor):
                try:
                    src = _core.tensor(np.asarray(src))
                except Exception as exc:  # noqa: BLE001 - re-raised with the key's name
                    errors.append(f"could not convert {k!r} ({type(src).__name__}) to a tensor: "
                                  f"{exc}")
                    continue
            if is_lazy(dst):  # a lazy module's parameter takes the checkpoint's shape
                _materialize(dst, tuple(src.shape))
            if tuple(src.shape) != tuple(dst.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape "
                              f"{list(src.shape)} from checkpoint, the shape in current model "
                              f"is {list(dst.shape)}.")
                continue
            sources[k] = src
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for k, src in sources.items():
                dst = targets[k]
                dst.copy_(src if src.dtype == dst.dtype else src.to(dst.dtype))
        return missing, unexpected

    # -- printing --
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for k, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({k}): {child}")
        if not self._modules:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _is_floating_dtype(dtype: Any) -> bool:
    return dtype in (_core.dtype.float32, _core.dtype.float64)

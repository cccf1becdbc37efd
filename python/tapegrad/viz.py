"""Plots for the lessons, with matplotlib's object API (no pyplot state, no GUI: safe on
headless machines and in tests). Every function returns the ``Figure`` and, given ``path``,
also saves it there (PNG by the extension).

>>> import tapegrad as tg
>>> from tapegrad import viz
>>> x = tg.arange(8).float(); y = -0.5 * x + 1.8
>>> fig = viz.regression_plot(x, y, m=-0.5, b=1.8)
>>> type(fig).__name__
'Figure'
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from . import _core

Tensor = _core.Tensor

__all__ = ["regression_plot", "labeled_regression_plot", "plot_history", "show_images",
           "cost_surface", "graph", "Graph", "GraphNode"]


def _np(v: Any) -> np.ndarray:
    if isinstance(v, Tensor):
        return np.asarray(v.detach().numpy(), dtype=np.float64)
    return np.asarray(v, dtype=np.float64)


def _scalar(v: Any) -> float:
    if isinstance(v, Tensor):
        return float(v.detach().item())
    return float(v)


def _finish(fig: Figure, path: str | os.PathLike[str] | None, dpi: int = 100) -> Figure:
    if not getattr(fig, "_tg_no_tight", False):
        fig.tight_layout()
    if path is not None:
        os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def _fmt(v: float) -> str:
    return f"{v:.3g}"


# ----- regression plots ---------------------------------------------------------------------
def regression_plot(x: Any, y: Any, m: Any, b: Any, *, title: str | None = None,
                    xlabel: str = "x", ylabel: str = "y",
                    path: str | os.PathLike[str] | None = None) -> Figure:
    """Scatter of the points (x, y) and the line ŷ = m·x + b across the plot.

    >>> import tapegrad as tg
    >>> fig = regression_plot([0, 1, 2], [1, 0.5, -0.2], m=-0.6, b=1.0)
    >>> len(fig.axes)
    1
    """
    xs, ys = _np(x).ravel(), _np(y).ravel()
    mv, bv = _scalar(m), _scalar(b)
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    ax.scatter(xs, ys, zorder=3, label="data")
    x_min, x_max = ax.get_xlim()
    ax.plot([x_min, x_max], [mv * x_min + bv, mv * x_max + bv], c="C1",
            label=f"ŷ = {_fmt(mv)}·x + {_fmt(bv)}")
    ax.set_xlim(x_min, x_max)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return _finish(fig, path)


def labeled_regression_plot(x: Any, y: Any, m: Tensor, b: Tensor, C: Any,
                            include_grad: bool = True,
                            path: str | os.PathLike[str] | None = None) -> Figure:
    """The seed notebook's plot: points and line, the cost in the title, m (and ∂C/∂m) on the
    x label, b (and ∂C/∂b) on the y label.

    >>> import tapegrad as tg
    >>> x = tg.arange(8).float(); y = 2 - 0.5 * x
    >>> m = tg.tensor([0.9], requires_grad=True); b = tg.tensor([0.1], requires_grad=True)
    >>> C = tg.sum((m * x + b - y) ** 2) / len(y); C.backward()
    >>> fig = labeled_regression_plot(x, y, m, b, C)
    >>> fig.axes[0].get_title()
    'Cost = 19.3'
    """
    title = f"Cost = {_fmt(_scalar(C))}"
    if include_grad:
        if m.grad is None or b.grad is None:
            raise ValueError("labeled_regression_plot: m.grad and b.grad are None; call "
                             "C.backward() first or pass include_grad=False")
        xlabel = f"m = {_fmt(_scalar(m))}, m grad = {_fmt(_scalar(m.grad))}"
        ylabel = f"b = {_fmt(_scalar(b))}, b grad = {_fmt(_scalar(b.grad))}"
    else:
        xlabel = f"m = {_fmt(_scalar(m))}"
        ylabel = f"b = {_fmt(_scalar(b))}"
    fig = regression_plot(x, y, m, b, title=title, xlabel=xlabel, ylabel=ylabel)
    return _finish(fig, path)


# ----- training curves ----------------------------------------------------------------------
def plot_history(history: Mapping[str, Sequence[float]] | Sequence[float], *,
                 title: str | None = None, xlabel: str = "epoch", logy: bool = False,
                 path: str | os.PathLike[str] | None = None) -> Figure:
    """Training curves. ``history`` maps names to per-epoch values (e.g. ``{"loss": [...],
    "train acc": [...], "test acc": [...]}``) or is one sequence (a cost curve). Losses go on
    the left axis, accuracies (names containing "acc") on a right axis in [0, 1].

    >>> fig = plot_history({"loss": [1.0, 0.5, 0.3], "test acc": [0.6, 0.8, 0.9]})
    >>> len(fig.axes)
    2
    """
    if not isinstance(history, Mapping):
        history = {"cost": list(history)}
    if not history:
        raise ValueError("plot_history: history is empty")
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    acc_ax = None
    lines = []
    for i, (name, values) in enumerate(history.items()):
        vals = [float(v) for v in values]
        epochs = range(1, len(vals) + 1)
        if "acc" in name.lower():
            if acc_ax is None:
                acc_ax = ax.twinx()
                acc_ax.set_ylabel("accuracy")
                acc_ax.set_ylim(0, 1.02)
            lines += acc_ax.plot(epochs, vals, color=f"C{i}", linestyle="--", marker=".",
                                 label=name)
        else:
            lines += ax.plot(epochs, vals, color=f"C{i}", marker="." if len(vals) < 60 else None,
                             label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss" if acc_ax is not None or len(history) > 1 else next(iter(history)))
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def show_images(images: Any, labels: Any = None, preds: Any = None, *,
                class_names: Sequence[str] | None = None, ncols: int = 8, max_images: int = 32,
                title: str | None = None,
                path: str | os.PathLike[str] | None = None) -> Figure:
    """A grid of grey images with their true labels and, if given, predictions (wrong ones in
    red). ``images`` is (N, H, W) or (N, H·W) with a square H·W.

    >>> import tapegrad as tg
    >>> fig = show_images(tg.zeros(4, 8, 8), labels=tg.tensor([0, 1, 2, 3]), ncols=2)
    >>> len(fig.axes)
    4
    """
    imgs = _np(images)
    if imgs.ndim == 2:
        side = int(round(math.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise ValueError(f"show_images: rows of length {imgs.shape[1]} are not square images")
        imgs = imgs.reshape(-1, side, side)
    if imgs.ndim != 3:
        raise ValueError(f"show_images: expected (N, H, W) or (N, H*W) images, got shape "
                         f"{list(imgs.shape)}")
    n = min(len(imgs), max_images)
    if n == 0:
        raise ValueError("show_images: no images")
    lab = None if labels is None else _np(labels).astype(int).ravel()
    prd = None if preds is None else _np(preds).astype(int).ravel()

    def name(k: int) -> str:
        return class_names[k] if class_names is not None else str(k)

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    long_names = class_names is not None and max(map(len, class_names)) > 4 and prd is not None
    row_h = 1.6 if long_names else 1.45
    fig = Figure(figsize=(1.3 * ncols, row_h * nrows + (0.3 if title else 0)))
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(imgs[i], cmap="gray_r" if imgs.max() <= 1.0 else "gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        parts, color = [], "black"
        if lab is not None:
            parts.append(name(lab[i]))
        if prd is not None:
            parts.append(f"→ {name(prd[i])}")
            if lab is not None and prd[i] != lab[i]:
                color = "red"
        if parts:
            sep = "\n" if long_names else " "
            ax.set_title(sep.join(parts), fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ----- cost surface -------------------------------------------------------------------------
def cost_surface(x: Any, y: Any, path_mb: Sequence[tuple[float, float]] | None = None, *,
                 cost: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 m_range: tuple[float, float] | None = None,
                 b_range: tuple[float, float] | None = None, kind: str = "both",
                 resolution: int = 120,
                 path: str | os.PathLike[str] | None = None) -> Figure:
    """The mean-squared-error cost C(m, b) of the line fit over a grid of (m, b), as a contour
    map and/or a 3-D surface (``kind`` = "contour" | "surface" | "both"), with the gradient
    descent path ``path_mb`` (a sequence of (m, b)) drawn on it.

    >>> fig = cost_surface([0, 1, 2], [1, 0, -1], [(0.9, 0.1), (0.2, 0.5), (-1.0, 1.0)])
    >>> len(fig.axes) >= 2
    True
    """
    if kind not in ("contour", "surface", "both"):
        raise ValueError(f"cost_surface: kind must be 'contour', 'surface' or 'both', got {kind!r}")
    xs, ys = _np(x).ravel(), _np(y).ravel()
    pts = np.asarray(path_mb, dtype=np.float64).reshape(-1, 2) if path_mb is not None else None

    def mse(M: np.ndarray, B: np.ndarray) -> np.ndarray:
        pred = M[..., None] * xs + B[..., None]
        return ((pred - ys) ** 2).mean(axis=-1)

    cost = cost or mse
    if m_range is None or b_range is None:
        # Centre on the least-squares optimum and include the whole path.
        A = np.stack([xs, np.ones_like(xs)], axis=1)
        (m_opt, b_opt), *_ = np.linalg.lstsq(A, ys, rcond=None)
        lo = np.array([m_opt - 1.0, b_opt - 2.0])
        hi = np.array([m_opt + 1.0, b_opt + 2.0])
        if pts is not None and len(pts):
            lo = np.minimum(lo, pts.min(axis=0))
            hi = np.maximum(hi, pts.max(axis=0))
        pad = 0.1 * (hi - lo)
        m_range = m_range or (lo[0] - pad[0], hi[0] + pad[0])
        b_range = b_range or (lo[1] - pad[1], hi[1] + pad[1])
    M, B = np.meshgrid(np.linspace(*m_range, resolution), np.linspace(*b_range, resolution))
    Z = cost(M, B)
    panels = ["contour", "surface"] if kind == "both" else [kind]
    fig = Figure(figsize=(6.2 * len(panels), 5))
    for j, panel in enumerate(panels):
        if panel == "contour":
            ax = fig.add_subplot(1, len(panels), j + 1)
            levels = np.geomspace(max(Z.min(), 1e-4), Z.max(), 25)
            cs = ax.contourf(M, B, Z, levels=levels, cmap="viridis",
                             norm=_log_norm(levels[0], levels[-1]))
            fig.colorbar(cs, ax=ax, label="cost C(m, b)", format="%.3g")
            if pts is not None and len(pts):
                ax.plot(pts[:, 0], pts[:, 1], "-", color="white", lw=1.5, label="descent path")
                (m0, b0), (m1, b1) = pts[0], pts[-1]
                ax.plot(m0, b0, "o", color="orange", ms=7, label=f"start ({_fmt(m0)}, {_fmt(b0)})")
                ax.plot(m1, b1, "*", color="red", ms=12, label=f"end ({_fmt(m1)}, {_fmt(b1)})")
                ax.legend(loc="upper right", fontsize=8)
            ax.set_xlabel("m")
            ax.set_ylabel("b")
            ax.set_title("cost contours and gradient descent path")
        else:
            # computed_zorder=False: draw the path over the surface, not hidden under it.
            ax = fig.add_subplot(1, len(panels), j + 1, projection="3d", computed_zorder=False)
            step = max(1, resolution // 30)  # a coarser mesh draws as well and saves small
            ax.plot_surface(M[::step, ::step], B[::step, ::step], Z[::step, ::step],
                            cmap="viridis", linewidth=0, antialiased=False, zorder=1)
            if pts is not None and len(pts):
                ax.plot(pts[:, 0], pts[:, 1], cost(pts[:, 0], pts[:, 1]), color="red", lw=2,
                        zorder=10, label="descent path")
                ax.scatter(*pts[-1], cost(pts[-1:, 0], pts[-1:, 1]), color="red", s=30)
            ax.set_xlabel("m")
            ax.set_ylabel("b")
            ax.set_zlabel("C")
            ax.set_title("cost surface")
            ax.view_init(elev=35, azim=-130)
    fig._tg_no_tight = True  # tight_layout does not handle 3-D axes well
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.1, top=0.92, wspace=0.15)
    return _finish(fig, path)


def _log_norm(lo: float, hi: float) -> Any:
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=lo, vmax=hi)


# ----- the tape's DAG -----------------------------------------------------------------------
@dataclass
class GraphNode:
    """One node of a :class:`Graph`: a tensor (kind "input", "parameter", "constant",
    "output") or an op (kind "op").

    >>> import tapegrad as tg
    >>> from tapegrad import viz
    >>> m = tg.tensor([2.0], requires_grad=True)
    >>> sorted({n.kind for n in viz.graph(m * 3).nodes})
    ['constant', 'op', 'output', 'parameter']
    """

    key: str
    kind: str
    label: str
    shape: tuple[int, ...] | None = None


@dataclass
class Graph:
    """The DAG that produced a result: leaves (inputs, parameters, constants), ops in recording
    order, and the output; ``edges`` run from producer to consumer.

    >>> import tapegrad as tg
    >>> m = tg.tensor([0.9], requires_grad=True); x = tg.arange(3).float()
    >>> y = m * x
    >>> print(graph(y, names={"m": m, "x": x, "y": y}).to_dot().splitlines()[0])
    digraph tape {
    """

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (src, dst, label)

    _STYLE = {
        "input": ("ellipse", "#dbeafe"),
        "parameter": ("ellipse", "#fde68a"),
        "constant": ("ellipse", "#e5e7eb"),
        "op": ("box", "#e9d5ff"),
        "output": ("doubleoctagon", "#bbf7d0"),
    }

    def to_dot(self) -> str:
        """Graphviz source of the graph (render with ``dot -Tpng``; not needed for ``draw``)."""
        out = ["digraph tape {", "  rankdir=LR;", '  node [fontname="Helvetica", style=filled];']
        for n in self.nodes:
            shape, color = self._STYLE[n.kind]
            label = n.label + (f"\\n{list(n.shape)}" if n.shape is not None else "")
            out.append(f'  {n.key} [label="{_dot_escape(label)}", shape={shape}, '
                       f'fillcolor="{color}"];')
        for s, d, lab in self.edges:
            out.append(f'  {s} -> {d}' + (f' [label="{_dot_escape(lab)}"]' if lab else "") + ";")
        out.append("}")
        return "\n".join(out) + "\n"

    def _layers(self) -> dict[str, int]:
        preds: dict[str, list[str]] = {n.key: [] for n in self.nodes}
        for s, d, _ in self.edges:
            preds[d].append(s)
        depth: dict[str, int] = {}
        for n in self.nodes:  # nodes are listed in a topological order
            depth[n.key] = 1 + max((depth[p] for p in preds[n.key]), default=-1)
        # Pull leaves right next to their first consumer (so b sits beside the add, not x).
        succ: dict[str, list[str]] = {n.key: [] for n in self.nodes}
        for s, d, _ in self.edges:
            succ[s].append(d)
        for n in self.nodes:
            if not preds[n.key] and succ[n.key]:
                depth[n.key] = min(depth[c] for c in succ[n.key]) - 1
        return depth

    def draw(self, path: str | os.PathLike[str] | None = None,
             title: str | None = None) -> Figure:
        """Draw the DAG with matplotlib only (layered left to right, no Graphviz)."""
        depth = self._layers()
        by_layer: dict[int, list[GraphNode]] = {}
        for n in self.nodes:
            by_layer.setdefault(depth[n.key], []).append(n)
        ncol = max(by_layer) + 1 if by_layer else 1
        nrow = max((len(v) for v in by_layer.values()), default=1)
        fig = Figure(figsize=(max(4.0, 2.2 * ncol), max(2.5, 1.25 * nrow + 0.8)))
        ax = fig.add_subplot()
        ax.set_axis_off()
        pos: dict[str, tuple[float, float]] = {}
        for layer, nodes in by_layer.items():
            for i, n in enumerate(nodes):
                pos[n.key] = (float(layer), (len(nodes) - 1) / 2.0 - i)
        texts = {}
        for n in self.nodes:
            shape, color = self._STYLE[n.kind]
            xx, yy = pos[n.key]
            label = n.label + (f"\n{list(n.shape)}" if n.shape is not None else "")
            box = "round,pad=0.35" if shape != "box" else "square,pad=0.35"
            texts[n.key] = ax.text(xx, yy, label, ha="center", va="center", fontsize=9, zorder=3,
                                   bbox=dict(boxstyle=box, fc=color, ec="#333",
                                             lw=1.2 if n.kind != "output" else 2))
        for s, d, lab in self.edges:
            (x0, y0), (x1, y1) = pos[s], pos[d]
            ta, tb = texts[s], texts[d]
            ax.annotate("", xy=(0.5, 0.5), xycoords=tb, xytext=(0.5, 0.5), textcoords=ta,
                        arrowprops=dict(arrowstyle="-|>", color="#555", lw=1.2, shrinkA=3,
                                        shrinkB=3, patchA=ta.get_bbox_patch(),
                                        patchB=tb.get_bbox_patch()), zorder=2)
            if lab:
                ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, lab, fontsize=7, ha="center",
                        color="#555")
        ax.set_xlim(-0.6, ncol - 0.4)
        ax.set_ylim(-nrow / 2.0 - 0.2, nrow / 2.0 + 0.2)
        kinds = {n.kind for n in self.nodes}
        names = (("input", "input"), ("parameter", "parameter (requires grad)"),
                 ("constant", "constant"), ("op", "op"), ("output", "output"))
        legend = [(k, t) for k, t in names if k in kinds]
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(fc=self._STYLE[k][1], ec="#333", label=t) for k, t in legend],
                  loc="lower center", ncol=len(legend), fontsize=8, frameon=False,
                  bbox_to_anchor=(0.5, -0.12))
        if title:
            ax.set_title(title)
        return _finish(fig, path)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def graph(result: Tensor, names: Mapping[str, Tensor] | None = None) -> Graph:
    """The DAG of tape entries that produced ``result`` ("the line equation as a tensor graph"):
    leaves (inputs; parameters, i.e. leaves that require grad; scalar constants), ops in
    recording order, and the output. ``names`` labels tensors, e.g. ``{"m": m, "x": x}``.

    >>> import tapegrad as tg
    >>> m = tg.tensor([0.9], requires_grad=True); b = tg.tensor([0.1], requires_grad=True)
    >>> x = tg.arange(8).float()
    >>> y = m * x + b
    >>> g = graph(y, names={"m": m, "b": b, "x": x, "y": y})
    >>> [n.label for n in g.nodes]
    ['m', 'x', 'mul', 'b', 'add', 'y']
    """
    if not isinstance(result, Tensor):
        raise TypeError(f"graph: expected a tapegrad.Tensor, got {type(result).__name__}")
    walk = getattr(_core, "_graph", None)
    if walk is None:
        raise NotImplementedError("graph: this tapegrad build has no graph-walk API "
                                  "(tapegrad._core._graph)")
    dag = walk(result)
    ops = dag["ops"]
    if not ops:
        raise ValueError("graph: no recorded ops produced this tensor (it is a leaf, or was "
                         "computed under no_grad() or from inputs that do not require grad)")
    names_by_id = {int(t._id): k for k, t in (names or {}).items() if isinstance(t, Tensor)}
    rid = int(dag["root"])

    g = Graph()
    producer: dict[int, str] = {}  # tensor id -> op node key
    leaf_key: dict[int, str] = {}
    for i, op in enumerate(ops):
        key = f"op{i}"
        for inp in op["inputs"]:
            tid, shape = int(inp["id"]), tuple(inp["shape"])
            if tid in producer:
                g.edges.append((producer[tid], key, str(list(shape))))
                continue
            if tid not in leaf_key:
                leaf_key[tid] = f"t{tid}"
                name = names_by_id.get(tid)
                if not inp["leaf"]:  # produced by an entry that is no longer live
                    kind, label = "op", name or "(released)"
                elif inp["requires_grad"]:
                    kind, label = "parameter", name or "param"
                elif shape == () and name is None:
                    kind, label = "constant", "scalar"
                else:
                    kind, label = "input", name or "tensor"
                g.nodes.append(GraphNode(leaf_key[tid], kind, label,
                                         None if kind == "constant" else shape))
            g.edges.append((leaf_key[tid], key, ""))
        g.nodes.append(GraphNode(key, "op", str(op["op"])))
        for out in op["outputs"]:
            producer[int(out["id"])] = key
    out_shape = next(tuple(o["shape"]) for op in ops for o in op["outputs"] if int(o["id"]) == rid)
    g.nodes.append(GraphNode("out", "output", names_by_id.get(rid, "output"), out_shape))
    g.edges.append((producer[rid], "out", ""))
    return g

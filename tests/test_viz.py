"""tapegrad.viz: every plot returns a Figure, saves a PNG, and carries the right labels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import tapegrad as tg
from tapegrad import nn, viz

PNG = b"\x89PNG\r\n\x1a\n"

X = tg.tensor([0, 1, 2, 3, 4, 5, 6, 7.0])
Y = tg.tensor([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def test_regression_plot(tmp_path):
    fig = viz.regression_plot(X, Y, m=tg.tensor([0.9]), b=0.1, path=tmp_path / "r.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "r.png")
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.lines) == 1
    (x0, x1), (y0, y1) = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(0.9)


def test_labeled_regression_plot_shows_cost_params_and_grads(tmp_path):
    m = tg.tensor([0.9], requires_grad=True)
    b = tg.tensor([0.1], requires_grad=True)
    C = tg.sum((m * X + b - Y) ** 2) / len(Y)
    C.backward()
    fig = viz.labeled_regression_plot(X, Y, m, b, C, path=tmp_path / "l.png")
    ax = fig.axes[0]
    assert ax.get_title() == "Cost = 19.7"
    assert ax.get_xlabel() == "m = 0.9, m grad = 36.3"
    assert ax.get_ylabel() == "b = 0.1, b grad = 6.26"
    assert _is_png(tmp_path / "l.png")
    fig = viz.labeled_regression_plot(X, Y, m, b, C, include_grad=False)
    assert fig.axes[0].get_xlabel() == "m = 0.9"
    with pytest.raises(ValueError, match="backward"):
        viz.labeled_regression_plot(X, Y, tg.tensor([1.0]), tg.tensor([1.0]), 0.0)


def test_plot_history(tmp_path):
    fig = viz.plot_history({"loss": [1.0, 0.5], "train acc": [0.5, 0.8], "test acc": [0.4, 0.7]},
                           title="t", path=tmp_path / "h.png")
    assert len(fig.axes) == 2 and _is_png(tmp_path / "h.png")
    labels = [ln.get_label() for ax in fig.axes for ln in ax.lines]
    assert labels == ["loss", "train acc", "test acc"]
    fig = viz.plot_history([3.0, 2.0, 1.0], logy=True)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="empty"):
        viz.plot_history({})


def test_show_images(tmp_path):
    imgs = tg.rand(10, 8, 8)
    fig = viz.show_images(imgs, tg.arange(10), tg.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 0]),
                          ncols=5, path=tmp_path / "s.png")
    assert len(fig.axes) == 10 and _is_png(tmp_path / "s.png")
    assert fig.axes[1].get_title() == "1 → 1"
    assert fig.axes[9].get_title() == "9 → 0" and fig.axes[9].title.get_color() == "red"
    fig = viz.show_images(tg.rand(3, 16), class_names=["a", "b"], labels=[0, 1, 0])
    assert fig.axes[1].get_title() == "b"
    with pytest.raises(ValueError, match="square"):
        viz.show_images(tg.rand(2, 15))


@pytest.mark.parametrize("kind,n_axes", [("contour", 2), ("surface", 1), ("both", 3)])
def test_cost_surface(tmp_path, kind, n_axes):
    path = [(0.9, 0.1), (0.54, 0.04), (-0.47, 1.75)]
    fig = viz.cost_surface(X, Y, path, kind=kind, path=tmp_path / "c.png")
    assert len(fig.axes) == n_axes and _is_png(tmp_path / "c.png")  # contour has a colorbar
    with pytest.raises(ValueError, match="kind"):
        viz.cost_surface(X, Y, kind="pie")


def test_graph_of_the_line_equation(tmp_path):
    m = tg.tensor([0.9], requires_grad=True)
    b = tg.tensor([0.1], requires_grad=True)
    y = m * X + b
    g = viz.graph(y, names={"m": m, "b": b, "x": X, "y": y})
    assert [(n.kind, n.label) for n in g.nodes] == [
        ("parameter", "m"), ("input", "x"), ("op", "mul"), ("parameter", "b"), ("op", "add"),
        ("output", "y")]
    dot = g.to_dot()
    assert dot.startswith("digraph tape {") and dot.rstrip().endswith("}")
    assert dot.count("->") == 5 and 'label="mul"' in dot
    fig = g.draw(path=tmp_path / "g.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "g.png")


def test_graph_of_a_network_loss_and_errors():
    lin = nn.Linear(4, 3)
    loss = nn.functional.cross_entropy(lin(tg.randn(2, 4)).relu(), tg.tensor([0, 2]))
    g = viz.graph(loss)
    ops = [n.label for n in g.nodes if n.kind == "op"]
    assert "relu" in ops and "cross_entropy" in ops
    assert sum(n.kind == "parameter" for n in g.nodes) == 2
    assert g.nodes[-1].kind == "output"
    with pytest.raises(ValueError, match="no recorded ops"):
        viz.graph(tg.ones(2))
    with pytest.raises(TypeError, match="Tensor"):
        viz.graph(np.ones(2))

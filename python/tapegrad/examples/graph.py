"""The tape behind y = m·x + b ("the line equation as a tensor graph"): inputs x, parameters
m and b, the ops mul and add, the output y.

>>> g = line_graph()
>>> [n.label for n in g.nodes]
['m', 'x', 'mul', 'b', 'add', 'y']
"""

from __future__ import annotations

import os
from collections.abc import Callable

import tapegrad as tg
from tapegrad import viz
from tapegrad.examples.regression import B0, M0, X


def line_graph() -> viz.Graph:
    """Record ŷ = m·x + b on the seed's data and return its DAG."""
    x = tg.tensor(X)
    m = tg.tensor([M0], requires_grad=True)
    b = tg.tensor([B0], requires_grad=True)
    y = m * x + b
    return viz.graph(y, names={"m": m, "x": x, "b": b, "y": y})


def run(out: str | os.PathLike | None = "tapegrad-out",
        log: Callable[[str], None] = print) -> viz.Graph:
    """Print the Graphviz text of the DAG; with ``out`` write graph.dot and graph.png there."""
    g = line_graph()
    log(g.to_dot().rstrip())
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "graph.dot"), "w", encoding="utf-8") as f:
            f.write(g.to_dot())
        g.draw(path=os.path.join(out, "graph.png"), title="y = m·x + b on the tape")
    return g

"""The lessons tapegrad exists to teach, as importable functions (the CLI and the tests run
them):

- :mod:`~tapegrad.examples.regression` — the seed's 8-point line fit by gradient descent;
- :mod:`~tapegrad.examples.linreg` — d2l §3.2, linear regression from scratch;
- :mod:`~tapegrad.examples.softmax` — softmax regression and a one-hidden-layer MLP on the
  embedded digits or Fashion-MNIST;
- :mod:`~tapegrad.examples.mlp` — d2l §5.6, the MLP with dropout;
- :mod:`~tapegrad.examples.cnn` — d2l §7.6, LeNet-5 on the digits or Fashion-MNIST;
- :mod:`~tapegrad.examples.graph` — the tape's DAG of y = m·x + b;
- :mod:`~tapegrad.examples.bench` — µs per training step of the small models.

>>> from tapegrad.examples import regression
>>> round(regression.run(epochs=0, out=None, log=lambda s: None).C0, 4)
19.6755
"""

__all__ = ["regression", "linreg", "softmax", "graph", "bench", "mlp", "cnn"]

"""A small user script type-checked with ``mypy --strict`` by tests/test_typing.py.

Every ``assert_type`` below is what a user's editor should see: ``Tensor`` from every op,
operator, method, module call and DataLoader batch (never ``Any``). The script also runs.
"""

from __future__ import annotations

from typing_extensions import assert_type

import tapegrad as tg
from tapegrad import Tensor, nn
from tapegrad.data import DataLoader, TensorDataset

tg.manual_seed(0)
x = tg.randn(8, 4)
w = tg.zeros(4, 3, requires_grad=True)
b = tg.tensor([0.0, 0.0, 0.0], requires_grad=True)

# functions built from the op table
assert_type(tg.sum(x), Tensor)
assert_type(tg.mean(x, dim=0), Tensor)
assert_type(tg.softmax(x, dim=1), Tensor)
assert_type(tg.log_softmax(x, dim=1), Tensor)
assert_type(tg.exp(x), Tensor)
assert_type(tg.relu(x), Tensor)
assert_type(tg.matmul(x, w), Tensor)
assert_type(tg.where(x > 0, x, 0.0), Tensor)
assert_type(tg.cat([x, x]), Tensor)
assert_type(tg.stack([x, x], dim=0), Tensor)
assert_type(tg.reshape(x, 2, 16), Tensor)
assert_type(tg.clip(x, -1.0, 1.0), Tensor)  # alias
assert_type(tg.multiply(x, 2.0), Tensor)  # alias
assert_type(tg.cross_entropy(x, tg.zeros(8, dtype=tg.int64)), Tensor)

# creation
assert_type(tg.zeros_like(x), Tensor)
assert_type(tg.ones_like(x, dtype=tg.float64), Tensor)
assert_type(tg.full_like(x, 2.0), Tensor)
assert_type(tg.rand_like(x), Tensor)
assert_type(tg.randn_like(x), Tensor)
assert_type(tg.arange(5), Tensor)
assert_type(tg.linspace(0.0, 1.0, 5), Tensor)

# operators and methods
logits = x @ w + b
assert_type(logits, Tensor)
assert_type(-x * 2 / 3 - 1, Tensor)
assert_type(x ** 2, Tensor)
assert_type(x.sum(), Tensor)
assert_type(x.mean(0, keepdim=True), Tensor)
assert_type(x.softmax(dim=-1), Tensor)
assert_type(x.reshape(-1), Tensor)
assert_type(x.T, Tensor)
assert_type(x.float(), Tensor)
assert_type(x[0], Tensor)
assert_type(x.item if False else x.sum().item(), float | int | bool)
assert_type(x.shape, tuple[int, ...])

# autograd
loss = tg.sum(logits ** 2)
loss.backward()
assert_type(w.grad, Tensor | None)
with tg.no_grad():
    assert_type(w * 2, Tensor)
(gw,) = tg.autograd.grad(tg.sum(w * w), [w])
assert_type(gw, Tensor)

# modules
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
assert_type(model(x), Tensor)
assert_type(nn.Linear(4, 3)(x), Tensor)
loss_fn = nn.CrossEntropyLoss()
opt = tg.optim.SGD(model.parameters(), lr=0.1)

# data
ds = TensorDataset(x, tg.zeros(8, dtype=tg.int64))
loader = DataLoader(ds, batch_size=4, shuffle=True)
for xb, yb in loader:
    assert_type(xb, Tensor)
    assert_type(yb, Tensor)
    out = loss_fn(model(xb), yb)
    assert_type(out, Tensor)
    opt.zero_grad()
    out.backward()
    opt.step()

X, y = tg.data.load_digits(flatten=True)
assert_type(X, Tensor)

# max/min: a tensor without dim, (values, indices) with one
assert_type(tg.max(x), Tensor)
assert_type(x.min(), Tensor)
values, indices = tg.max(x, dim=1)
assert_type(values, Tensor)
assert_type(x.min(0).indices, Tensor)
assert_type(tg.max(x, x), Tensor)

# functional API and Adam
F = tg.nn.functional
assert_type(F.relu(x), Tensor)
assert_type(F.mse_loss(x, x), Tensor)
adam = tg.optim.Adam(model.parameters(), lr=1e-3)
adam.step()
assert_type(x.size(0), int)
assert_type(len(x.size()), int)

# out= returns out itself; the (values, indices) functions take a pair
buf = tg.empty(0)
assert_type(tg.add(x, 1, out=buf), Tensor)
assert_type(tg.matmul(x, x.T, out=buf), Tensor)
assert_type(tg.sort(x, out=(tg.empty(0), tg.empty(0, dtype=tg.int64))).values, Tensor)
assert_type(tg.bernoulli(tg.rand(3), generator=tg.Generator()), Tensor)
assert_type(tg.rand(3).bernoulli_(0.5), Tensor)
assert_type(tg.multinomial(tg.ones(3), 2), Tensor)

// Custom ops and hooks from C++ (tapegrad/custom.h): an op the table does not have, recorded
// as one tape entry with a hand-written backward; its errors; tensor hooks.
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "check.h"
#include "tapegrad/autograd.h"
#include "tapegrad/custom.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"

using namespace tapegrad;

namespace {
Tensor vec(std::initializer_list<double> v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::f64);
  int i = 0;
  for (double d : v) t->data<double>()[i++] = d;
  return t;
}
Tensor two() { return scalar_tensor(2.0, DType::f64); }

// y = x², written as a custom op: dy/dx = 2x, with ops so it is differentiable again.
const CustomOp kSquare{
    "Square",
    [](const std::vector<Tensor>& in, std::vector<Tensor>& save) {
      save = {in[0]};
      return std::vector<Tensor>{in[0] * in[0]};
    },
    [](CustomGradCtx& c) { return std::vector<Tensor>{c.grads[0] * c.saved[0] * two()}; }};

bool throws_with(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
  } catch (const std::exception& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return true;
    std::printf("  unexpected message: %s\n", e.what());
  }
  return false;
}
}  // namespace

int main() {
  // one entry, its name, first and second derivatives
  {
    Tensor x = vec({1.0, -2.0, 3.0});
    x->set_requires_grad(true);
    const int64_t before = Tape::current()->stats().live_entries;
    Tensor y = apply_custom(kSquare, {x})[0];
    CHECK(Tape::current()->stats().live_entries == before + 1);
    CHECK(std::string(y->grad_fn_name()) == "SquareBackward");
    CHECK(y->data<double>()[1] == 4.0);
    Tensor g = run_backward({sum(y, {}, false)}, {scalar_tensor(1.0, DType::f64)}, true, true,
                            {x}, false)[0];
    CHECK(g->data<double>()[2] == 6.0 && g->requires_grad());
    backward(sum(g, {}, false));  // d/dx Σ 2x = 2
    for (int i = 0; i < 3; ++i) CHECK(x->grad()->data<double>()[i] == 2.0);
  }
  // wrong number and shape of gradients name the op
  {
    Tensor x = vec({1.0, 2.0});
    x->set_requires_grad(true);
    CustomOp bad = kSquare;
    bad.name = "Bad";
    bad.backward = [](CustomGradCtx& c) { return std::vector<Tensor>{c.grads[0], c.grads[0]}; };
    Tensor y = apply_custom(bad, {x})[0];
    CHECK(throws_with([&] { backward(sum(y, {}, false)); }, "BadBackward returned an incorrect number of gradients (expected 1, got 2)"));
    bad.backward = [](CustomGradCtx&) { return std::vector<Tensor>{vec({1, 2, 3})}; };
    y = apply_custom(bad, {x})[0];
    CHECK(throws_with([&] { backward(sum(y, {}, false)); }, "expected shape compatible with [2]"));
  }
  // a saved tensor modified in place
  {
    Tensor x = vec({1.0, 2.0});
    x->set_requires_grad(true);
    Tensor a = x * two();
    Tensor y = apply_custom(kSquare, {a})[0];
    {
      GradModeGuard off(false);
      mul_(a, two());
    }
    CHECK(throws_with([&] { backward(sum(y, {}, false)); }, "modified by an inplace operation"));
  }
  // hooks: a replacement gradient, then removed
  {
    Tensor x = vec({1.0, 2.0});
    x->set_requires_grad(true);
    const int64_t id = register_hook(x, [](const Tensor& g) { return g * scalar_tensor(10.0, DType::f64); });
    backward(sum(apply_custom(kSquare, {x})[0], {}, false));
    CHECK(x->grad()->data<double>()[1] == 40.0);
    remove_hook(x, id);
    x->set_grad(nullptr);
    backward(sum(apply_custom(kSquare, {x})[0], {}, false));
    CHECK(x->grad()->data<double>()[1] == 4.0);
  }
  // bounded memory: applications that are dropped leave nothing on the tape
  {
    Tensor x = vec({1.0, 2.0, 3.0});
    x->set_requires_grad(true);
    for (int i = 0; i < 10000; ++i) apply_custom(kSquare, {x});
    TapeStats s = Tape::current()->stats();
    CHECK(s.live_entries == 0 && s.saved_bytes == 0);
  }
  if (failures == 0) std::printf("test_custom: ok\n");
  return failures == 0 ? 0 : 1;
}

// The engine from C++ alone: no Python. Builds the seed's line y = m·x + b on eight points,
// the mean squared error, backpropagates, and takes 1001 gradient steps (docs/lessons.md).
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"

using namespace tapegrad;

static int failures = 0;
#define CHECK_NEAR(got, want, tol)                                                      \
  do {                                                                                  \
    const double g_ = (got), w_ = (want);                                               \
    if (!(std::fabs(g_ - w_) <= (tol))) {                                               \
      std::printf("FAIL %s:%d: %s = %.7f, expected %.7f\n", __FILE__, __LINE__, #got, g_, w_); \
      ++failures;                                                                       \
    }                                                                                   \
  } while (0)

static Tensor from(std::initializer_list<float> v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::f32);
  int i = 0;
  for (float f : v) t->data<float>()[i++] = f;
  return t;
}

int main() {
  Tensor x = from({0, 1, 2, 3, 4, 5, 6, 7});
  Tensor y = from({1.86f, 1.31f, 0.62f, 0.33f, 0.09f, -0.67f, -1.23f, -1.37f});
  Tensor m = from({0.9f});
  Tensor b = from({0.1f});
  m->set_requires_grad(true);
  b->set_requires_grad(true);
  const Tensor lr = scalar_tensor(0.01, DType::f32);

  auto cost = [&] {
    Tensor r = m * x + b - y;
    return mean(r * r, {}, false);
  };
  Tensor c = cost();
  CHECK_NEAR(c->item_as_double(), 19.6755, 1e-4);
  backward(c);
  CHECK_NEAR(m->grad()->item_as_double(), 36.3050, 1e-4);
  CHECK_NEAR(b->grad()->item_as_double(), 6.2650, 1e-4);

  for (int step = 0; step < 1001; ++step) {
    if (step > 0) {
      m->set_grad(nullptr);
      b->set_grad(nullptr);
      c = cost();
      backward(c);
    }
    GradModeGuard no_grad(false);
    sub_(m, lr * m->grad());
    sub_(b, lr * b->grad());
  }
  CHECK_NEAR(m->item_as_double(), -0.4681258, 2e-6);
  CHECK_NEAR(b->item_as_double(), 1.7542962, 2e-6);
  CHECK_NEAR(cost()->item_as_double(), 0.0195, 1e-4);

  // Second derivative through create_graph: z = x³ at 2 → z'' = 12.
  Tensor z = scalar_tensor(2.0, DType::f64);
  z->set_requires_grad(true);
  Tensor cube = z * z * z;
  auto d1 = run_backward({cube}, {scalar_tensor(1.0, DType::f64)}, true, true, {z}, false);
  auto d2 = run_backward({d1[0]}, {scalar_tensor(1.0, DType::f64)}, false, false, {z}, false);
  CHECK_NEAR(d1[0]->item_as_double(), 12.0, 1e-12);
  CHECK_NEAR(d2[0]->item_as_double(), 12.0, 1e-12);

  // Bounded memory: dropping results releases their entries.
  for (int i = 0; i < 10000; ++i) {
    Tensor t = exp(m * x);
    (void)t;
  }
  const TapeStats st = Tape::current()->stats();
  if (st.entries > 2000) {
    std::printf("FAIL: tape kept %lld entries after a loop that drops its results\n",
                static_cast<long long>(st.entries));
    ++failures;
  }

  // gather along a dim: y[i][j] = x[i][idx[i][j]], so dx is a scatter-add of dy (repeated
  // indices accumulate); an out-of-range index throws before anything is read.
  {
    Tensor w = from({1, 2, 3, 4, 5, 6});
    w->set_requires_grad(true);
    Tensor idx = empty({2, 2}, DType::i64);
    const int64_t iv[] = {2, 2, 0, 1};
    for (int i = 0; i < 4; ++i) idx->data<int64_t>()[i] = iv[i];
    Tensor g = gather(reshape(w, {2, 3}), 1, idx);
    const float want[] = {3, 3, 4, 5}, dwant[] = {0, 0, 2, 1, 1, 0};
    for (int i = 0; i < 4; ++i) CHECK_NEAR(g->data<float>()[i], want[i], 0);
    backward(sum(g, {}, false));
    for (int i = 0; i < 6; ++i) CHECK_NEAR(w->grad()->data<float>()[i], dwant[i], 0);
    idx->data<int64_t>()[3] = 3;
    bool threw = false;
    try {
      gather(reshape(w, {2, 3}), 1, idx);
    } catch (const std::runtime_error&) {
      threw = true;
    }
    if (!threw) {
      std::printf("FAIL: gather with an out-of-range index did not throw\n");
      ++failures;
    }
  }

  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}

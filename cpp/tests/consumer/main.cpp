// A C++ program using the installed engine: records y = A·x, L = Σ y², runs backward and
// checks dL/dx = 2·Aᵀ·A·x against the same product computed by hand.
#include <cmath>
#include <cstdio>
#include <string>

#include "tapegrad/autograd.h"
#include "tapegrad/custom.h"
#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"
#include "tapegrad/tensor.h"

using namespace tapegrad;

int main() {
  const float a_values[2][3] = {{1.0f, 2.0f, -1.0f}, {0.5f, -3.0f, 4.0f}};
  const float x_values[3] = {0.25f, -1.5f, 2.0f};

  Tensor a = empty({2, 3}, DType::f32);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) a->data<float>()[i * 3 + j] = a_values[i][j];
  Tensor x = empty({3}, DType::f32);
  for (int j = 0; j < 3; ++j) x->data<float>()[j] = x_values[j];
  x->set_requires_grad(true);

  Tensor y = matmul(a, x);
  Tensor loss = sum(y * y, {}, false);
  backward(loss);

  // y = A·x, dL/dy = 2y, dL/dx = Aᵀ·2y.
  float y_ref[2] = {0, 0};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) y_ref[i] += a_values[i][j] * x_values[j];
  int failures = 0;
  const double loss_ref = double(y_ref[0]) * y_ref[0] + double(y_ref[1]) * y_ref[1];
  if (std::fabs(loss->item_as_double() - loss_ref) > 1e-4) {
    std::printf("FAIL: loss = %f, expected %f\n", loss->item_as_double(), loss_ref);
    ++failures;
  }
  const Tensor grad = x->grad();
  if (!grad || grad->numel() != 3) {
    std::printf("FAIL: x has no gradient of 3 elements after backward\n");
    return 1;
  }
  for (int j = 0; j < 3; ++j) {
    const float want = 2 * (a_values[0][j] * y_ref[0] + a_values[1][j] * y_ref[1]);
    const float got = grad->data<float>()[j];
    if (std::fabs(got - want) > 1e-4f) {
      std::printf("FAIL: dL/dx[%d] = %f, expected %f\n", j, got, want);
      ++failures;
    }
  }
  // A custom op from the installed headers (tapegrad/custom.h): y = 3·x with its own backward.
  {
    const Tensor three = full({}, 3.0, DType::f32);
    const CustomOp triple{"Triple",
                          [&](const std::vector<Tensor>& in, std::vector<Tensor>&) {
                            return std::vector<Tensor>{mul(in[0], three)};
                          },
                          [&](CustomGradCtx& c) {
                            return std::vector<Tensor>{mul(c.grads[0], three)};
                          }};
    Tensor z = apply_custom(triple, {x})[0];
    Tensor before = clone_data(x->grad());
    backward(sum(z, {}, false));
    for (int j = 0; j < 3; ++j) {
      const float got = x->grad()->data<float>()[j] - before->data<float>()[j];
      if (std::fabs(got - 3.0f) > 1e-6f || std::string(z->grad_fn_name()) != "TripleBackward") {
        std::printf("FAIL: custom op gradient %f, expected 3\n", got);
        ++failures;
      }
    }
  }
  if (failures == 0)
    std::printf("tapegrad consumer: dL/dx checked (kernels: %s)\n",
                kernels::arch_name(kernels::selected_arch()));
  return failures == 0 ? 0 : 1;
}

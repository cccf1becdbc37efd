// Note [autograd meta] from C++: plain data tensors carry no autograd state; a tensor gets
// it when it joins a graph; the state follows the tensor through record, backward and an
// in-place rebase; and a user file compiling tape.h sees no GCC -Winit-list-lifetime warning
// (TensorRefs copies brace lists): the pragma makes that warning an error in this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic error "-Winit-list-lifetime"
#endif
#include <cstdio>
#include <string>

#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"

#include "check.h"

using namespace tapegrad;

int main() {
  // Data tensors and results computed without grad: no meta.
  Tensor a = full({3}, 2.0, DType::f32);
  Tensor b = full({3}, 3.0, DType::f32);
  CHECK(a->autograd_meta() == nullptr);
  CHECK(!a->requires_grad() && a->is_leaf() && !a->has_grad() && a->node() < 0);
  CHECK((a * b)->autograd_meta() == nullptr);
  CHECK(detach(a)->autograd_meta() == nullptr);
  a->set_requires_grad(false);  // turning off what was never on creates nothing
  CHECK(a->autograd_meta() == nullptr);

  // A leaf that requires grad, a recorded output, a constant input named by its entry.
  Tensor w = full({3}, 1.5, DType::f32);
  w->set_requires_grad(true);
  CHECK(w->autograd_meta() != nullptr && w->requires_grad() && w->is_leaf());
  Tensor y = w * b;
  CHECK(!y->is_leaf() && y->requires_grad() && y->tape() == Tape::current());
  CHECK(b->autograd_meta() != nullptr && !b->requires_grad());  // its identity in the entry
  CHECK(y->id() != w->id() && y->id() != b->id());
  CHECK(std::string(y->grad_fn_name()) == "MulBackward0");

  // backward: the leaf's gradient is a plain tensor (no meta of its own).
  Tensor loss = sum(y, {}, false);
  backward(loss);
  CHECK(w->has_grad() && w->grad()->autograd_meta() == nullptr);
  CHECK(w->grad()->data<float>()[0] == 3.0f);

  // In-place rebase: the written tensor takes the entry's identity.
  Tensor v = w * b;
  const uint64_t before = v->id();
  {
    GradModeGuard on(true);
    add_(v, b);
  }
  CHECK(!v->is_leaf() && v->id() != before && std::string(v->grad_fn_name()) == "AddBackward0");

  // A brace list outlives nothing it points to: TensorRefs holds copies of the pointers.
  const TensorRefs refs{&a, &b, &w};
  CHECK(refs.size() == 3 && refs[2] == &w);

  if (failures) return 1;
  std::printf("ok\n");
  return 0;
}

// Leaf gradients held factored, and the .grad accessor that forms them.
//
// Note [factored weight gradients]
// At batch 1 the weight gradient of a Linear layer is an outer product, dW = gᵀ·x (g: 1×out,
// x: 1×in). Materialising it writes all of dW in the backward and reads all of it again in the
// optimizer step: for an MLP with a 256×784 first layer those were two of the three passes
// over 0.8 MB that made up most of a batch-1 training step (the third is the forward's
// matrix-vector product). So when backward() stores such a gradient into a leaf that has no
// gradient yet, it keeps the two rows instead (private copies, TensorImpl::outer_grad()).
// TensorImpl::grad() forms the matrix on first access with the very GEMM call the backward
// rule would have made, so every reader — Python's .grad, a second backward accumulating
// into it, Adam, momentum SGD, zero_grad(set_to_none=False) — gets bit for bit the tensor of
// the eager path. Plain SGD (no momentum, no weight decay) applies the factored form directly
// with kernels::axpy_outer: W ← W − lr·(gᵀ·x) with the same two roundings as materialising
// and then axpy, in one pass over W, and rows whose g_i is zero (units a ReLU switched off)
// are not touched at all. tg.grad, create_graph and anomaly mode always get ordinary
// tensors (BwCtx::into_leaves is false).
#include "accumulate.h"
#include "tapegrad/ops.h"
#include "tapegrad/rules.h"
#include "tapegrad/tape.h"

namespace tapegrad {

namespace {
const Tensor kNoGrad;
}  // namespace

const Tensor& TensorImpl::grad() const {
  AutogradMeta* m = autograd_meta();
  if (!m) return kNoGrad;
  if (m->outer_grad) {
    GradModeGuard off(false);
    Tensor g = mm(m->outer_grad->u, m->outer_grad->v, /*ta=*/true, /*tb=*/false);
    m->grad = std::move(g);
    m->outer_grad.reset();
  }
  return m->grad;
}

bool BwCtx::defer_outer(size_t i, const Tensor& u, const Tensor& v) {
  if (!into_leaves) return false;
  const InputRef& in = e.inputs[i];
  TensorImpl* leaf = in.leaf.get();
  if (!in.requires_grad || in.node >= 0 || !leaf || leaf->has_grad()) return false;
  if (has_hooks(leaf)) return false;  // its hooks see the gradient whole
  if (u->dim() != 2 || v->dim() != 2 || u->shape()[0] != 1 || v->shape()[0] != 1 ||
      !is_float(leaf->dtype()) || u->dtype() != leaf->dtype() || v->dtype() != leaf->dtype() ||
      leaf->shape() != Shape{u->shape()[1], v->shape()[1]})
    return false;
  AutogradMeta& m = leaf->ensure_autograd_meta();
  m.grad.reset();
  m.outer_grad = std::make_unique<OuterGrad>(OuterGrad{clone_data(u), clone_data(v)});
  return true;
}

}  // namespace tapegrad

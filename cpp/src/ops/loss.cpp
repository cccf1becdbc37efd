// Losses: fused, stable cross-entropy on logits with int64 class targets; binary
// cross-entropy with logits; mean squared error (a composite of sub, mul and mean/sum).
#include <cmath>

#include "ops/common.h"

namespace tapegrad {

Reduction parse_reduction(const std::string& name, const char* op) {
  if (name == "mean") return Reduction::mean;
  if (name == "sum") return Reduction::sum;
  if (name == "none") return Reduction::none;
  throw ValueError(std::string(op) + ": reduction must be 'mean', 'sum' or 'none', got '" + name + "'");
}

namespace {
Tensor reduce_loss(const Tensor& l, Reduction r) {
  switch (r) {
    case Reduction::none: return l;
    case Reduction::sum: return sum(l, {}, false);
    case Reduction::mean: return mean(l, {}, false);
  }
  return l;
}
}  // namespace

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target_in, Reduction reduction) {
  check_defined(logits_in, "cross_entropy");
  check_defined(target_in, "cross_entropy");
  require_float(logits_in, "cross_entropy (logits)");
  if (target_in->dtype() != DType::i64)
    throw TypeError("cross_entropy: expected target of dtype int64 (class indices), got " +
                    std::string(dtype_name(target_in->dtype())) + " of shape " +
                    shape_str(target_in->shape()) + "; convert class labels with .long()");
  Tensor logits = logits_in, target = target_in;
  const bool single = logits->dim() == 1;
  if (single) {
    if (target->dim() != 0)
      throw ValueError("cross_entropy: 1-D logits of shape " + shape_str(logits->shape()) +
                       " need a 0-d target, got shape " + shape_str(target->shape()));
    logits = reshape(logits, {1, logits->shape()[0]});
    target = reshape(target, {1});
  }
  if (logits->dim() != 2)
    throw ValueError("cross_entropy: expected logits of shape (N, C) or (C,), got " +
                     shape_str(logits->shape()));
  if (target->dim() != 1 || target->shape()[0] != logits->shape()[0])
    throw ValueError("cross_entropy: logits of shape " + shape_str(logits_in->shape()) +
                     " and target of shape " + shape_str(target_in->shape()) +
                     " disagree on the batch size (expected target of shape [" +
                     std::to_string(logits->shape()[0]) + "])");
  const int64_t n = logits->shape()[0], c = logits->shape()[1];
  const int64_t* lab = target->data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (lab[i] < 0 || lab[i] >= c)
      throw IndexError("cross_entropy: target " + std::to_string(lab[i]) + " at position " +
                       std::to_string(i) + " is out of bounds for " + std::to_string(c) +
                       " classes (logits shape " + shape_str(logits_in->shape()) + ")");
  Tensor loss = empty({n}, logits->dtype());
  Tensor lse = empty({n}, logits->dtype());
  if (logits->dtype() == DType::f32)
    k::cross_entropy_f32(n, c, logits->data<float>(), lab, loss->data<float>(), lse->data<float>());
  else
    k::cross_entropy_f64(n, c, logits->data<double>(), lab, loss->data<double>(), lse->data<double>());
  if (should_record({&logits})) record(OpCode::CrossEntropy, {&logits}, {&loss}, {logits, target, lse});
  if (single) loss = reshape(loss, {});
  return reduce_loss(loss, reduction);
}
// lᵢ = lse(xᵢ) − xᵢ[yᵢ]  ⇒  dxᵢ += dlᵢ·(softmax(xᵢ) − onehot(yᵢ))
std::vector<Tensor> backward_CrossEntropy(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const Tensor& y = ctx.saved(1);
  const Tensor& g = ctx.g();
  const int64_t n = x->shape()[0], c = x->shape()[1];
  if (ctx.create_graph || g->requires_grad()) {
    Tensor onehot = zeros(x->shape(), x->dtype());
    dispatch_all(x->dtype(), [&](auto z) {
      using T = decltype(z);
      for (int64_t i = 0; i < n; ++i) onehot->data<T>()[i * c + y->data<int64_t>()[i]] = T(1);
    });
    return {mul(sub(softmax(x, 1), onehot), unsqueeze(g, 1))};
  }
  const Tensor& lse = ctx.saved(2);
  Tensor dx = empty(x->shape(), x->dtype());
  if (x->dtype() == DType::f32)
    k::cross_entropy_backward_f32(n, c, x->data<float>(), y->data<int64_t>(), lse->data<float>(),
                                  g->data<float>(), 1, dx->data<float>());
  else
    k::cross_entropy_backward_f64(n, c, x->data<double>(), y->data<int64_t>(), lse->data<double>(),
                                  g->data<double>(), 1, dx->data<double>());
  return {dx};
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_defined(input, "mse_loss");
  check_defined(target, "mse_loss");
  // PyTorch only warns here; a silent (n, 1) vs (n,) broadcast is the classic wrong answer.
  if (input->shape() != target->shape())
    throw ValueError("mse_loss: input of shape " + shape_str(input->shape()) +
                     " and target of shape " + shape_str(target->shape()) +
                     " differ; reshape one of them (e.g. target.reshape(input.shape)) so they match");
  Tensor d = sub(input, target);
  return reduce_loss(mul(d, d), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& y, Reduction reduction) {
  check_defined(x, "binary_cross_entropy_with_logits");
  check_defined(y, "binary_cross_entropy_with_logits");
  require_float(x, "binary_cross_entropy_with_logits (logits)");
  if (x->shape() != y->shape())
    throw ValueError("binary_cross_entropy_with_logits: target size " + shape_str(y->shape()) +
                     " must be the same as input size " + shape_str(x->shape()));
  Tensor yt = is_float(y->dtype()) ? cast(y, x->dtype()) : convert(y, x->dtype());
  Tensor l = empty(x->shape(), x->dtype());
  dispatch_all(x->dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x->data<T>();
      const T* py = yt->data<T>();
      T* pl = l->data<T>();
      // ℓ = max(x, 0) − x·y + log(1 + e^−|x|): never overflows.
      for (int64_t i = 0; i < x->numel(); ++i)
        pl[i] = std::max(px[i], T(0)) - px[i] * py[i] + std::log1p(std::exp(-std::fabs(px[i])));
    }
  });
  if (should_record({&x, &yt})) record(OpCode::BceWithLogits, {&x, &yt}, {&l}, {x, yt});
  return reduce_loss(l, reduction);
}
// ℓ = max(x,0) − x·y + log(1+e^−|x|)  ⇒  dx += dℓ·(σ(x) − y) ; dy −= dℓ·x
std::vector<Tensor> backward_BceWithLogits(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const Tensor& y = ctx.saved(1);
  Tensor dx, dy;
  if (ctx.needs(0)) dx = mul(ctx.g(), sub(sigmoid(x), y));
  if (ctx.needs(1)) dy = neg(mul(ctx.g(), x));
  return {dx, dy};
}

}  // namespace tapegrad

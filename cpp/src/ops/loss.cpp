// Losses: fused, stable cross-entropy on logits with int64 class targets; binary
// cross-entropy with logits; mean squared error (fused for mean/sum; reduction='none' is the
// composite (x − y)²).
#include "ops/common.h"

namespace tapegrad {

Reduction parse_reduction(const std::string& name, const char* op) {
  if (name == "mean") return Reduction::mean;
  if (name == "sum") return Reduction::sum;
  if (name == "none") return Reduction::none;
  throw ValueError(std::string(op) + ": reduction must be 'mean', 'sum' or 'none', got '" + name + "'");
}

namespace {
// The fused losses (and their fused derivatives) remember how the rows were reduced.
struct LossAttrs {
  Reduction reduction;
};

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
  if (const int64_t i = k::find_out_of_range(n, lab, 0, c); i >= 0)
    throw IndexError("cross_entropy: target " + std::to_string(lab[i]) + " at position " +
                     std::to_string(i) + " is out of bounds for " + std::to_string(c) +
                     " classes (logits shape " + shape_str(logits_in->shape()) + ")");
  Tensor loss = empty({n}, logits->dtype());
  Tensor lse = empty({n}, logits->dtype());
  if (logits->dtype() == DType::f32)
    k::cross_entropy_f32(n, c, logits->data<float>(), lab, loss->data<float>(), lse->data<float>());
  else
    k::cross_entropy_f64(n, c, logits->data<double>(), lab, loss->data<double>(), lse->data<double>());
  if (reduction != Reduction::none) {
    // mean/sum fused into the same entry (LossAttrs): one entry per loss call.
    double acc = loss->dtype() == DType::f32 ? k::accumulate_f32(n, loss->data<float>())
                                             : k::accumulate_f64(n, loss->data<double>());
    if (reduction == Reduction::mean) acc /= static_cast<double>(n);  // n = 0 gives NaN, as PyTorch
    Tensor r = scalar_tensor(acc, logits->dtype());
    if (should_record({&logits}))
      record(OpCode::CrossEntropy, {&logits}, {&r}, save_for_backward(logits, target, lse),
             LossAttrs{reduction});
    return r;
  }
  if (should_record({&logits}))
    record(OpCode::CrossEntropy, {&logits}, {&loss}, save_for_backward(logits, target, lse),
           LossAttrs{reduction});
  if (single) loss = reshape(loss, {});
  return loss;
}
// lᵢ = lse(xᵢ) − xᵢ[yᵢ]  ⇒  dxᵢ += dlᵢ·(softmax(xᵢ) − onehot(yᵢ))
// (reduced: L = Σᵢ lᵢ (· 1/n for mean)  ⇒  dlᵢ = dL (· 1/n), a broadcast scalar)
std::vector<Tensor> backward_CrossEntropy(BwCtx& ctx) {
  return {cross_entropy_backward(ctx.g(), ctx.saved(0), ctx.saved(1), ctx.saved(2),
                                 ctx.attrs<LossAttrs>().reduction)};
}

namespace {
// 1/n for a mean over n rows (or elements), 1 otherwise.
double loss_scale(Reduction r, int64_t n) {
  return r == Reduction::mean ? 1.0 / static_cast<double>(n) : 1.0;
}

Tensor onehot_rows(const Tensor& target, int64_t c, DType dt) {
  Tensor oh = zeros({target->numel(), c}, dt);
  k::one_hot(elem(dt), target->numel(), c, target->data<int64_t>(), oh->raw());
  return oh;
}
}  // namespace

// cross_entropy's derivative in one fused pass over the logits (the row log-sum-exps come from
// the forward): dx = (softmax(x) − onehot(y))·dl, dl per row (none) or one scalar (mean, sum).
Tensor cross_entropy_backward(const Tensor& g, const Tensor& x, const Tensor& target,
                              const Tensor& lse, Reduction reduction) {
  const int64_t n = x->shape()[0], c = x->shape()[1];
  const double scale = loss_scale(reduction, n);
  const bool rows = reduction == Reduction::none;
  Tensor dx = empty(x->shape(), x->dtype());
  if (x->dtype() == DType::f32) {
    const float gs = rows ? 0.0f : static_cast<float>(*g->data<float>() * scale);
    k::cross_entropy_backward_f32(n, c, x->data<float>(), target->data<int64_t>(),
                                  lse->data<float>(), rows ? g->data<float>() : &gs, rows ? 1 : 0,
                                  dx->data<float>());
  } else {
    const double gs = rows ? 0.0 : *g->data<double>() * scale;
    k::cross_entropy_backward_f64(n, c, x->data<double>(), target->data<int64_t>(),
                                  lse->data<double>(), rows ? g->data<double>() : &gs,
                                  rows ? 1 : 0, dx->data<double>());
  }
  if (should_record({&g, &x}))
    record(OpCode::CrossEntropyBackward, {&g, &x}, {&dx}, save_for_backward(g, x, target),
           LossAttrs{reduction});
  return dx;
}
// z = (p − onehot(y))·dl, p = softmax(x)  ⇒  d(dl) += Σ_row dz·(p − onehot(y)) (· 1/n for
// mean, summed to a scalar when reduced) ; dx += p·(u − Σ_row u·p) with u = dz·dl
std::vector<Tensor> backward_CrossEntropyBackward(BwCtx& ctx) {
  const Tensor& g = ctx.saved(0);
  const Tensor& x = ctx.saved(1);
  const Tensor& dz = ctx.g();
  const Reduction red = ctx.attrs<LossAttrs>().reduction;
  const Tensor scale = scalar_tensor(loss_scale(red, x->shape()[0]), x->dtype());
  const bool rows = red == Reduction::none;
  const Tensor p = softmax(x, 1);
  Tensor dg, dx;
  if (ctx.needs(0)) {
    Tensor t = mul(dz, sub(p, onehot_rows(ctx.saved(2), x->shape()[1], x->dtype())));
    dg = rows ? sum(t, {1}, false) : mul(sum(t, {}, false), scale);
  }
  if (ctx.needs(1)) {
    Tensor u = mul(dz, rows ? unsqueeze(g, 1) : mul(g, scale));
    dx = mul(p, sub(u, sum(mul(u, p), {1}, true)));
  }
  return {dg, dx};
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_defined(input, "mse_loss");
  check_defined(target, "mse_loss");
  // PyTorch only warns here; a silent (n, 1) vs (n,) broadcast is the classic wrong answer.
  if (input->shape() != target->shape())
    throw ValueError("mse_loss: input of shape " + shape_str(input->shape()) +
                     " and target of shape " + shape_str(target->shape()) +
                     " differ; reshape one of them (e.g. target.reshape(input.shape)) so they match");
  if (reduction == Reduction::none || input->dtype() != target->dtype() ||
      !is_float(input->dtype())) {
    Tensor d = sub(input, target);
    return reduce_loss(mul(d, d), reduction);
  }
  // mean/sum: one fused entry (LossAttrs), accumulated in double.
  const int64_t n = input->numel();
  double acc = input->dtype() == DType::f32
                   ? k::mse_sum_f32(n, input->data<float>(), target->data<float>())
                   : k::mse_sum_f64(n, input->data<double>(), target->data<double>());
  if (reduction == Reduction::mean) acc /= static_cast<double>(n);  // n = 0 gives NaN, as PyTorch
  Tensor r = scalar_tensor(acc, input->dtype());
  if (should_record({&input, &target}))
    record(OpCode::MseLoss, {&input, &target}, {&r}, save_for_backward(input, target),
           LossAttrs{reduction});
  return r;
}
// L = s·Σ(x − y)²  (s = 1/n for mean, 1 for sum)  ⇒  dx += dL·2s·(x − y) ; dy −= dL·2s·(x − y)
std::vector<Tensor> backward_MseLoss(BwCtx& ctx) {
  Tensor dx = mse_loss_backward(ctx.g(), ctx.saved(0), ctx.saved(1),
                                ctx.attrs<LossAttrs>().reduction);
  return {ctx.needs(0) ? dx : nullptr, ctx.needs(1) ? neg(dx) : nullptr};
}

// mse_loss's derivative for the fused mean/sum entry, one pass: c·(x − y) with c = dL·2s.
Tensor mse_loss_backward(const Tensor& g, const Tensor& x, const Tensor& y, Reduction reduction) {
  const double s2 = 2.0 * loss_scale(reduction, x->numel());
  Tensor dx = empty(x->shape(), x->dtype());
  if (x->dtype() == DType::f32)
    k::scaled_diff_f32(x->numel(), static_cast<float>(static_cast<double>(*g->data<float>()) * s2),
                       x->data<float>(), y->data<float>(), dx->data<float>());
  else
    k::scaled_diff_f64(x->numel(), *g->data<double>() * s2, x->data<double>(), y->data<double>(),
                       dx->data<double>());
  if (should_record({&g, &x, &y}))
    record(OpCode::MseLossBackward, {&g, &x, &y}, {&dx}, save_for_backward(g, x, y),
           LossAttrs{reduction});
  return dx;
}
// z = c·(x − y), c = dL·2s  ⇒  d(dL) += 2s·Σ dz·(x − y) ; dx += dz·c ; dy −= dz·c
std::vector<Tensor> backward_MseLossBackward(BwCtx& ctx) {
  const Tensor& g = ctx.saved(0);
  const Tensor& x = ctx.saved(1);
  const Tensor& y = ctx.saved(2);
  const Tensor& dz = ctx.g();
  const Tensor s2 =
      scalar_tensor(2.0 * loss_scale(ctx.attrs<LossAttrs>().reduction, x->numel()), x->dtype());
  Tensor dg, dx;
  if (ctx.needs(0)) dg = mul(sum(mul(dz, sub(x, y)), {}, false), s2);
  if (ctx.needs(1) || ctx.needs(2)) dx = mul(dz, mul(g, s2));
  return {dg, ctx.needs(1) ? dx : nullptr, ctx.needs(2) ? neg(dx) : nullptr};
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
  // ℓ = max(x, 0) − x·y + log(1 + e^−|x|): never overflows.
  if (x->dtype() == DType::f32)
    k::bce_with_logits_f32(x->numel(), x->data<float>(), yt->data<float>(), l->data<float>());
  else
    k::bce_with_logits_f64(x->numel(), x->data<double>(), yt->data<double>(), l->data<double>());
  if (should_record({&x, &yt}))
    record(OpCode::BceWithLogits, {&x, &yt}, {&l}, save_for_backward(x, yt));
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

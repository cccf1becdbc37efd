// Losses: fused, stable cross-entropy on logits with int64 class targets; binary
// cross-entropy with logits; mean squared error (fused for mean/sum; reduction='none' is the
// composite (x − y)²). Below them, PyTorch's other losses and options (Note [loss options]).
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
Grads backward_CrossEntropy(BwCtx& ctx) {
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
Grads backward_CrossEntropyBackward(BwCtx& ctx) {
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
  return {std::move(dg), std::move(dx)};
}

// Note [loss dtypes]
// The losses take PyTorch's dtypes, including its asymmetries (each a consequence of how
// PyTorch computes the loss, which tests/test_reliability_leftovers.py checks case by case):
// - mse, l1, smooth_l1, kl_div, cross_entropy with probabilities: the promoted dtype of input
//   and target; mse and smooth_l1 with no floating operand have no kernel
//   (NotImplementedError); l1_loss of integers is an integer (its mean refuses, as mean does).
// - huber_loss writes into the input's dtype: a float target with an int input cannot be cast
//   back (RuntimeError); an int input with an int target has no kernel.
// - binary_cross_entropy: input and target of one dtype; the weight is multiplied into the
//   input's dtype (any weight dtype).
// - binary_cross_entropy_with_logits computes in place in 1 − target, so the result has the
//   target's dtype (float32 logits with a float64 target give float64, and the reverse float32);
//   an int target cannot hold it, a bool one cannot be subtracted; weight and pos_weight may be
//   of any dtype but bool for pos_weight (pos_weight − 1).
// - PyTorch refuses `x − y` with a bool operand, so l1_loss (and smooth_l1 with β = 0, and the
//   weighted mse and l1 losses, which subtract) refuse a bool input or target.
// - kl_div refuses integer operands ("Integral inputs not supported").
// - class weights: the input's dtype for class indices (nll_loss, cross_entropy); any dtype for
//   class probabilities.
// The loss is computed in the promoted dtype and cast once at the end, so gradients come back
// in each operand's own dtype through cast's rule.
namespace {
// PyTorch's can_cast: a float does not go into an integer, nor a non-bool into a bool.
bool can_cast(DType from, DType to) {
  if (is_float(from)) return is_float(to);
  if (from == DType::i64) return to != DType::b8;
  return true;
}
[[noreturn]] void no_kernel(const char* op, DType d) {
  throw NotImplementedError(std::string(op) + ": not implemented for " + dtype_name(d) +
                            " (the loss needs a floating-point input or target)");
}
[[noreturn]] void cannot_cast(const char* op, DType result, DType out) {
  throw std::runtime_error(std::string(op) + ": result type " + dtype_name(result) +
                           " can't be cast to the desired output type " + dtype_name(out));
}
// PyTorch's messages for `a − b` with a bool operand.
void refuse_bool_sub(const Tensor& a, const Tensor& b, const char* op) {
  const bool ba = a->dtype() == DType::b8, bb = b->dtype() == DType::b8;
  if (ba && bb)
    throw std::runtime_error(std::string(op) + ": Subtraction, the `-` operator, with two bool "
                             "tensors is not supported. Use the `^` or `logical_xor()` operator "
                             "instead.");
  if (ba || bb)
    throw std::runtime_error(std::string(op) + ": Subtraction, the `-` operator, with a bool "
                             "tensor is not supported. If you are trying to invert a mask, use "
                             "the `~` or `logical_not()` operator instead.");
}
}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_defined(input, "mse_loss");
  check_defined(target, "mse_loss");
  if (const DType r = promote(input->dtype(), target->dtype()); !is_float(r))
    no_kernel("mse_loss", r);
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
Grads backward_MseLoss(BwCtx& ctx) {
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
Grads backward_MseLossBackward(BwCtx& ctx) {
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

namespace {
// The target of binary_cross_entropy_with_logits holds the loss (Note [loss dtypes]).
void check_bce_logits_target(const Tensor& x, const Tensor& y) {
  const char* op = "binary_cross_entropy_with_logits";
  if (y->dtype() == DType::b8)
    throw std::runtime_error(std::string(op) + ": Subtraction, the `-` operator, with two bool "
                             "tensors is not supported. Use the `^` or `logical_xor()` operator "
                             "instead. (the loss is computed in 1 − target; convert a bool "
                             "target with .float())");
  if (!is_float(y->dtype())) cannot_cast(op, x->dtype(), y->dtype());
}
}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& y, Reduction reduction) {
  check_defined(x, "binary_cross_entropy_with_logits");
  check_defined(y, "binary_cross_entropy_with_logits");
  require_float(x, "binary_cross_entropy_with_logits (logits)");
  if (x->shape() != y->shape())
    throw ValueError("binary_cross_entropy_with_logits: target size " + shape_str(y->shape()) +
                     " must be the same as input size " + shape_str(x->shape()));
  check_bce_logits_target(x, y);
  // In the promoted dtype, returned in the target's (Note [loss dtypes]).
  const DType work = promote(x->dtype(), y->dtype());
  Tensor xw = cast(x, work), yw = cast(y, work);
  Tensor l = empty(x->shape(), work);
  // ℓ = (1 − y)·x − log σ(x): never overflows (the kernel's comment).
  if (work == DType::f32)
    k::bce_with_logits_f32(x->numel(), xw->data<float>(), yw->data<float>(), l->data<float>());
  else
    k::bce_with_logits_f64(x->numel(), xw->data<double>(), yw->data<double>(), l->data<double>());
  if (should_record({&xw, &yw}))
    record(OpCode::BceWithLogits, {&xw, &yw}, {&l}, save_for_backward(xw, yw));
  return cast(reduce_loss(l, reduction), y->dtype());
}
// ℓ = (1 − y)·x − log σ(x)  ⇒  dx += dℓ·(σ(x) − y) ; dy −= dℓ·x
Grads backward_BceWithLogits(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const Tensor& y = ctx.saved(1);
  Tensor dx, dy;
  if (ctx.needs(0)) dx = mul(ctx.g(), sub(sigmoid(x), y));
  if (ctx.needs(1)) dy = neg(mul(ctx.g(), x));
  return {std::move(dx), std::move(dy)};
}

// ===== PyTorch's other losses and the options of cross_entropy =====
// Note [loss options]
// The plain cross-entropy (class indices, no weight, no ignored target, no smoothing) keeps its
// fused entry above, for (N, C) and, through a permute, for (N, C, d1, ...) inputs. Every option
// is composed of differentiable ops on the (M, C) rows of the input (class dim moved last, the
// batch and extra dims flattened: M = N·d1⋯dk):
//   nllᵢ = −w[tᵢ]·x[i, tᵢ]  (a gather of the target column; w = 1 without weight)
//   ignored rows (tᵢ = ignore_index) are selected away with where, never multiplied by 0, so a
//   −inf log-probability elsewhere in the row gives no NaN;
//   mean = Σᵢ nllᵢ / Σ_kept w[tᵢ]  (PyTorch's rule; every row ignored gives 0/0 = NaN as PyTorch);
//   label smoothing ε:  (1 − ε)·nll + (ε/C)·smooth,  smoothᵢ = −Σ_c w_c·log pᵢc, reduced with
//   the same denominator; probability targets: −Σ_c w_c·tᵢc·log pᵢc with t ← (1 − ε)·t + ε/C,
//   mean over the M rows.
// Being compositions, their backward and every higher derivative come from the ops' own rules
// (create_graph works) and the gradient with respect to `weight` is the true one (PyTorch has
// none for class targets). A 256×10 cross-entropy with an option records a handful of small
// entries (log_softmax, gather, mul, where, sum, div) instead of one: forward + backward took
// 1.4× the fused call with weight, 1.5× with ignored targets, 2× with label smoothing (one
// thread, AMD EPYC Zen 5, loaded machine), still under half of PyTorch's time for the same call.
// binary_cross_entropy is an entry of its own: PyTorch's derivative (x − y)/max(x(1 − x), 1e-12)
// is not the derivative of its clamped logs at 0 and 1.

namespace {
// PyTorch raises RuntimeError for these (std::runtime_error becomes RuntimeError in Python).
[[noreturn]] void runtime_error(const std::string& msg) { throw std::runtime_error(msg); }

Tensor scalar_of(double v, const Tensor& like) { return scalar_tensor(v, like->dtype()); }

// The class count of an (N, C, d1, ...) or (C,) input.
int64_t class_count(const Tensor& x) { return x->dim() == 1 ? x->shape()[0] : x->shape()[1]; }

// The shape of the per-element loss: the input's without the class dim.
Shape loss_shape(const Tensor& x) {
  Shape s = x->shape();
  s.erase(s.begin() + (x->dim() == 1 ? 0 : 1));
  return s;
}

void check_class_input(const Tensor& x, const char* op) {
  require_float(x, (std::string(op) + " (input)").c_str());
  if (x->dim() == 0)
    throw ValueError(std::string(op) + ": expected input of shape (N, C), (C,) or (N, C, d1, ...)"
                     ", got a 0-d tensor");
}

// (N, C, d1, ..., dk) → (N·d1⋯dk, C); (N, C) unchanged; (C,) → (1, C).
Tensor class_rows(const Tensor& x) {
  const int64_t c = class_count(x);
  if (x->dim() == 2) return x;
  if (x->dim() == 1) return reshape(x, {1, c});
  std::vector<int64_t> perm{0};
  for (int64_t d = 2; d < x->dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  int64_t m = 1;
  for (int64_t d = 0; d < x->dim(); ++d)
    if (d != 1) m *= x->shape()[d];
  return reshape(permute(x, perm), {m, c});
}

struct ClassTarget {
  Tensor rows;  // (M,) int64, each in [0, C); ignored entries replaced by 0
  Shape shape;  // the target's shape (the shape of reduction='none')
  Tensor keep;  // (M,) bool, false where the target is ignore_index; null when none is
};

// Checks an int64 class-index target against the input and finds the ignored entries.
ClassTarget class_target(const Tensor& x, const Tensor& target, int64_t ignore_index,
                         const char* op) {
  const std::string o(op);
  if (target->dtype() != DType::i64)
    throw TypeError(o + ": expected target of dtype int64 (class indices) of shape " +
                    shape_str(loss_shape(x)) + ", or a floating-point target of the input's shape " +
                    shape_str(x->shape()) + " (class probabilities); got " +
                    dtype_name(target->dtype()) + " of shape " + shape_str(target->shape()) +
                    "; convert class labels with .long()");
  const Shape want = loss_shape(x);
  if (target->shape() != want) {
    if (x->dim() == 1)
      throw ValueError(o + ": 1-D input of shape " + shape_str(x->shape()) +
                       " needs a 0-d target, got shape " + shape_str(target->shape()));
    if (target->dim() == 0 || target->shape()[0] != x->shape()[0])
      throw ValueError(o + ": input of shape " + shape_str(x->shape()) + " and target of shape " +
                       shape_str(target->shape()) + " disagree on the batch size (expected target of shape " +
                       shape_str(want) + ")");
    runtime_error(o + ": expected target of shape " + shape_str(want) + " for input of shape " +
                  shape_str(x->shape()) + ", got " + shape_str(target->shape()));
  }
  const int64_t m = target->numel(), c = class_count(x);
  ClassTarget ct{reshape(target, {m}), target->shape(), nullptr};
  const int64_t* lab = ct.rows->data<int64_t>();
  const bool ignorable = ignore_index >= 0 && ignore_index < c;
  if (k::find_out_of_range(m, lab, 0, c) < 0 && !ignorable) return ct;  // nothing to ignore
  Tensor ignored = empty({}, DType::i64);  // exact for any int64 (a double is not past 2⁵³)
  *ignored->data<int64_t>() = ignore_index;
  Tensor keep = compare(CmpOp::ne, ct.rows, ignored);
  Tensor safe = where(keep, ct.rows, zeros({}, DType::i64));
  if (const int64_t i = k::find_out_of_range(m, safe->data<int64_t>(), 0, c); i >= 0)
    throw IndexError(o + ": target " + std::to_string(lab[i]) + " at position " +
                     std::to_string(i) + " is out of bounds for " + std::to_string(c) +
                     " classes (input shape " + shape_str(x->shape()) + ")");
  ct.rows = safe;
  if (!*all(keep, {}, false)->data<uint8_t>()) ct.keep = keep;
  return ct;
}

// A class weight: (C,), floating point; class-index losses want the input's dtype (PyTorch).
void check_class_weight(const Tensor& w, const Tensor& x, const char* op, bool same_dtype) {
  if (!w) return;
  const int64_t c = class_count(x);
  if (w->dim() != 1 || w->shape()[0] != c)
    runtime_error(std::string(op) + ": weight tensor should be defined either for all " +
                  std::to_string(c) + " classes or no classes but got weight tensor of shape: " +
                  shape_str(w->shape()));
  if (same_dtype && w->dtype() != x->dtype())
    runtime_error(std::string(op) + ": expected weight of dtype " + dtype_name(x->dtype()) +
                  " (the input's), got " + dtype_name(w->dtype()));
}

// Per-row losses `l` (M,) reduced as the class-index losses are: mean divides by `denom`.
Tensor reduce_rows(const Tensor& l, const ClassTarget& ct, const Tensor& denom, Reduction r) {
  switch (r) {
    case Reduction::none: return reshape(l, ct.shape);
    case Reduction::sum: return sum(l, {}, false);
    case Reduction::mean: return div(sum(l, {}, false), denom);
  }
  return l;
}

// Σ_kept w[tᵢ] (the count of kept rows without weight): the denominator of mean.
Tensor kept_weight(const Tensor& w_rows, const ClassTarget& ct, const Tensor& lp) {
  if (w_rows) return sum(w_rows, {}, false);
  if (ct.keep) return sum(convert(ct.keep, lp->dtype()), {}, false);
  return scalar_of(static_cast<double>(ct.rows->numel()), lp);
}

// The negative log-likelihood of log-probability rows lp (M, C); see Note [loss options].
// `w_rows` gets w[tᵢ] (0 on ignored rows) when there is a weight.
Tensor nll_rows(const Tensor& lp, const ClassTarget& ct, const Tensor& weight, Tensor& w_rows) {
  const int64_t m = lp->shape()[0], c = lp->shape()[1];
  Tensor offsets = add(mul(arange(0, static_cast<double>(m), 1, DType::i64),
                           scalar_tensor(static_cast<double>(c), DType::i64)),
                       ct.rows);
  Tensor picked = gather_flat(lp, offsets, {m});
  Tensor zero = scalar_of(0.0, lp);
  if (weight) {
    w_rows = gather_flat(weight, ct.rows, {m});
    if (ct.keep) w_rows = where(ct.keep, w_rows, zero);
  }
  Tensor l = neg(weight ? mul(picked, w_rows) : picked);
  return ct.keep ? where(ct.keep, l, zero) : l;
}
}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, Reduction reduction) {
  check_defined(input, "nll_loss");
  check_defined(target, "nll_loss");
  check_class_input(input, "nll_loss");
  ClassTarget ct = class_target(input, target, ignore_index, "nll_loss");
  check_class_weight(weight, input, "nll_loss", true);
  Tensor lp = class_rows(input), w_rows;
  Tensor l = nll_rows(lp, ct, weight, w_rows);
  return reduce_rows(l, ct, reduction == Reduction::mean ? kept_weight(w_rows, ct, lp) : nullptr,
                     reduction);
}

namespace {
// cross_entropy with targets of the input's shape (class probabilities); Note [loss options].
Tensor cross_entropy_probs(const Tensor& input, const Tensor& target, const Tensor& weight,
                           int64_t ignore_index, Reduction reduction, double eps) {
  if (!is_float(target->dtype()))
    runtime_error("cross_entropy: a target of the input's shape " + shape_str(input->shape()) +
                  " holds class probabilities and must be floating point, got " +
                  dtype_name(target->dtype()));
  if (ignore_index >= 0)
    runtime_error("cross_entropy: ignore_index is not supported for floating point target");
  check_class_weight(weight, input, "cross_entropy", false);
  const int64_t c = class_count(input);
  Tensor lp = log_softmax(class_rows(input), 1);
  Tensor t = class_rows(target);
  if (eps > 0) t = add(mul(t, scalar_of(1.0 - eps, t)), scalar_of(eps / static_cast<double>(c), t));
  Tensor prod = mul(lp, t);
  if (weight) prod = mul(prod, weight);
  switch (reduction) {
    case Reduction::none: return reshape(neg(sum(prod, {1}, false)), loss_shape(input));
    case Reduction::sum: return neg(sum(prod, {}, false));
    case Reduction::mean:  // over the M rows; M = 0 gives NaN, as PyTorch
      return div(neg(sum(prod, {}, false)), scalar_of(static_cast<double>(lp->shape()[0]), prod));
  }
  return prod;
}
}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction, double label_smoothing) {
  check_defined(input, "cross_entropy");
  check_defined(target, "cross_entropy");
  check_class_input(input, "cross_entropy");
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    runtime_error("cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: " +
                  std::to_string(label_smoothing));
  if (target->shape() == input->shape())  // PyTorch's rule: same shape = class probabilities
    return cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing);
  ClassTarget ct = class_target(input, target, ignore_index, "cross_entropy");
  check_class_weight(weight, input, "cross_entropy", true);
  if (!weight && label_smoothing == 0.0 && !ct.keep) {  // the fused entry
    if (input->dim() <= 2) return cross_entropy(input, target, reduction);
    Tensor l = cross_entropy(class_rows(input), ct.rows, reduction);
    return reduction == Reduction::none ? reshape(l, ct.shape) : l;
  }
  Tensor lp = log_softmax(class_rows(input), 1), w_rows;
  Tensor l = nll_rows(lp, ct, weight, w_rows);
  Tensor denom = reduction == Reduction::mean ? kept_weight(w_rows, ct, lp) : nullptr;
  Tensor nll = reduce_rows(l, ct, denom, reduction);
  if (label_smoothing == 0.0) return nll;
  Tensor s = neg(sum(weight ? mul(lp, weight) : lp, {1}, false));
  if (ct.keep) s = where(ct.keep, s, scalar_of(0.0, s));
  Tensor smooth = reduce_rows(s, ct, denom, reduction);
  const double c = static_cast<double>(lp->shape()[1]);
  return add(mul(nll, scalar_of(1.0 - label_smoothing, nll)),
             mul(smooth, scalar_of(label_smoothing / c, smooth)));
}

namespace {
// PyTorch only warns when input and target shapes differ and then broadcasts; as mse_loss,
// tapegrad refuses (a silent (n, 1) vs (n,) broadcast is the classic wrong answer).
void check_same_shape(const Tensor& x, const Tensor& y, const char* op) {
  check_defined(x, op);
  check_defined(y, op);
  if (x->shape() != y->shape())
    throw ValueError(std::string(op) + ": input of shape " + shape_str(x->shape()) +
                     " and target of shape " + shape_str(y->shape()) +
                     " differ; reshape one of them (e.g. target.reshape(input.shape)) so they match");
}
}  // namespace

// ℓ = |x − y|  (abs's rule: dx += dℓ·sign(x − y), 0 at x = y as PyTorch)
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "l1_loss");
  refuse_bool_sub(input, target, "l1_loss");
  return reduce_loss(abs(sub(input, target)), reduction);
}

// ℓ = 0.5·d²/β where |d| < β, |d| − 0.5·β elsewhere (d = x − y; β = 0 is l1_loss)
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction,
                      double beta) {
  check_same_shape(input, target, "smooth_l1_loss");
  if (!(beta >= 0.0))
    runtime_error("smooth_l1_loss: beta must be non-negative (PyTorch does not support negative "
                  "values for beta), got " + std::to_string(beta));
  if (beta == 0.0) {  // l1_loss, as PyTorch rewrites it
    refuse_bool_sub(input, target, "smooth_l1_loss");
    return l1_loss(input, target, reduction);
  }
  if (const DType r = promote(input->dtype(), target->dtype()); !is_float(r))
    no_kernel("smooth_l1_loss", r);
  Tensor d = sub(input, target);
  Tensor a = abs(d);
  // The quadratic branch takes NaN (its gradient d/β is NaN, as PyTorch's) and sees 0 where
  // it is not selected, so an infinite d gets the linear branch's ±1, not 0·inf = NaN.
  Tensor quad = logical_not(compare(CmpOp::ge, a, scalar_of(beta, a)));
  Tensor dq = where(quad, d, scalar_of(0.0, d));
  Tensor l = where(quad, mul(mul(dq, dq), scalar_of(0.5 / beta, d)),
                   sub(a, scalar_of(0.5 * beta, a)));
  return reduce_loss(l, reduction);
}

// ℓ = 0.5·d² where |d| < δ, δ·(|d| − 0.5·δ) elsewhere (d = x − y); the input's dtype, as PyTorch
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  check_same_shape(input, target, "huber_loss");
  if (!(delta > 0.0))
    runtime_error("huber_loss: delta must be positive (PyTorch does not support non-positive "
                  "values for delta), got " + std::to_string(delta));
  if (!is_float(input->dtype())) {  // written into the input's dtype (Note [loss dtypes])
    const DType r = promote(input->dtype(), target->dtype());
    if (!can_cast(r, input->dtype())) cannot_cast("huber_loss", r, input->dtype());
    no_kernel("huber_loss", input->dtype());
  }
  Tensor d = sub(input, cast(target, input->dtype()));
  Tensor a = abs(d);
  // NaN in the quadratic branch, 0 where it is not selected: as smooth_l1_loss above.
  Tensor quad = logical_not(compare(CmpOp::ge, a, scalar_of(delta, a)));
  Tensor dq = where(quad, d, scalar_of(0.0, d));
  Tensor l = where(quad, mul(mul(dq, dq), scalar_of(0.5, d)),
                   mul(sub(a, scalar_of(0.5 * delta, a)), scalar_of(delta, a)));
  return reduce_loss(l, reduction);
}

namespace {
// `w` must broadcast to `shape` without growing it (PyTorch expands it to the target's shape).
void check_elementwise_weight(const Tensor& w, const Shape& shape, const char* op,
                              const char* what) {
  if (!w) return;
  const std::string named = std::string(op) + " (" + what + ")";
  if (broadcast_shapes(w->shape(), shape, named.c_str()) != shape)
    throw ValueError(std::string(op) + ": " + what + " of shape " + shape_str(w->shape()) +
                     " does not broadcast to the target's shape " + shape_str(shape));
}

// −[y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)], PyTorch's form (the logs clamped so
// that x = 0 or 1 gives a finite loss).
Tensor bce_value(const Tensor& x, const Tensor& y, Tensor* log_x, Tensor* log_1mx) {
  Tensor lx = clamp(log(x), -100.0, std::nullopt);
  Tensor l1x = clamp(log1p(neg(x)), -100.0, std::nullopt);
  if (log_x) *log_x = lx;
  if (log_1mx) *log_1mx = l1x;
  return sub(mul(sub(y, scalar_of(1.0, y)), l1x), mul(y, lx));
}
}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            Reduction reduction) {
  check_defined(input, "binary_cross_entropy");
  check_defined(target, "binary_cross_entropy");
  require_float(input, "binary_cross_entropy (input)");
  if (input->shape() != target->shape())
    throw ValueError("binary_cross_entropy: target of shape " + shape_str(target->shape()) +
                     " must have the input's shape " + shape_str(input->shape()) +
                     " (PyTorch refuses to broadcast here too)");
  if (target->dtype() != input->dtype())
    runtime_error("binary_cross_entropy: expected target of dtype " +
                  std::string(dtype_name(input->dtype())) + " (the input's), got " +
                  dtype_name(target->dtype()) + " of shape " + shape_str(target->shape()));
  check_elementwise_weight(weight, input->shape(), "binary_cross_entropy", "weight");
  Tensor l;
  {
    GradModeGuard no_grad(false);
    // NaN fails both comparisons, so it is refused too (as PyTorch).
    Tensor in_range = logical_and(ge(input, scalar_of(0.0, input)), le(input, scalar_of(1.0, input)));
    if (!*all(in_range, {}, false)->data<uint8_t>())
      runtime_error("binary_cross_entropy: all elements of input should be between 0 and 1 "
                    "(input of shape " + shape_str(input->shape()) + "); for logits use "
                    "binary_cross_entropy_with_logits");
    Tensor t_in_range = logical_and(ge(target, scalar_of(0.0, target)),
                                    le(target, scalar_of(1.0, target)));
    if (!*all(t_in_range, {}, false)->data<uint8_t>())
      runtime_error("binary_cross_entropy: all elements of target should be between 0 and 1 "
                    "(target of shape " + shape_str(target->shape()) + ")");
    l = bce_value(input, target, nullptr, nullptr);
  }
  if (should_record({&input, &target}))
    record(OpCode::BinaryCrossEntropy, {&input, &target}, {&l}, save_for_backward(input, target));
  if (weight) l = cast(mul(l, weight), input->dtype());  // any weight dtype, the input's result
  return reduce_loss(l, reduction);
}
// ℓ = −[y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)]  ⇒
//   dx += dℓ·(x − y)/max(x·(1 − x), 1e-12)  (PyTorch's derivative) ;
//   dy −= dℓ·logit(x) = dℓ·−log(x/(1 − x))  (PyTorch's derivative: unclamped, ±inf at x = 1 or 0)
Grads backward_BinaryCrossEntropy(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const Tensor& y = ctx.saved(1);
  Tensor dx, dy;
  if (ctx.needs(0)) {
    Tensor den = maximum(mul(x, sub(scalar_of(1.0, x), x)), scalar_of(1e-12, x));
    dx = div(mul(ctx.g(), sub(x, y)), den);
  }
  if (ctx.needs(1)) dy = mul(neg(log(div(x, sub(scalar_of(1.0, x), x)))), ctx.g());
  return {std::move(dx), std::move(dy)};
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& y, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  if (!weight && !pos_weight) return binary_cross_entropy_with_logits(x, y, reduction);
  check_defined(x, op);
  check_defined(y, op);
  require_float(x, "binary_cross_entropy_with_logits (logits)");
  if (x->shape() != y->shape())
    throw ValueError("binary_cross_entropy_with_logits: target size " + shape_str(y->shape()) +
                     " must be the same as input size " + shape_str(x->shape()));
  check_elementwise_weight(weight, x->shape(), op, "weight");
  check_elementwise_weight(pos_weight, y->shape(), op, "pos_weight");
  if (pos_weight) refuse_bool_sub(pos_weight, x, op);  // pos_weight − 1, before 1 − target
  check_bce_logits_target(x, y);
  // In the promoted dtype, returned in the target's (Note [loss dtypes]).
  const DType work = promote(x->dtype(), y->dtype());
  Tensor l;
  if (pos_weight) {
    // ℓ = (1 − y)·x + (1 + (p − 1)·y)·softplus(−x), softplus(−x) = −log σ(x) (stable)
    Tensor xw = cast(x, work), yw = cast(y, work);
    Tensor one = scalar_tensor(1.0, work);
    Tensor lw = cast(add(mul(sub(pos_weight, one), yw), one), work);
    l = sub(mul(sub(one, yw), xw), mul(lw, log_sigmoid(xw)));
  } else {
    l = binary_cross_entropy_with_logits(x, y, Reduction::none);
  }
  if (weight) l = mul(l, weight);
  return reduce_loss(cast(l, y->dtype()), reduction);
}

// ℓ = t·(log t − x) (0 where t = 0), or eᵗ·(t − x) for log_target; 'batchmean' = sum / N
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction,
              bool log_target) {
  check_defined(input, "kl_div");
  check_defined(target, "kl_div");
  require_float(input, "kl_div (input)");
  if (!is_float(target->dtype()))
    runtime_error("kl_div: Integral inputs not supported. (target of dtype " +
                  std::string(dtype_name(target->dtype())) + " and shape " +
                  shape_str(target->shape()) + ")");
  const bool batchmean = reduction == "batchmean";
  if (!batchmean && reduction != "mean" && reduction != "sum" && reduction != "none")
    throw ValueError("kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got '" +
                     reduction + "'");
  Tensor l;
  if (log_target) {
    l = mul(exp(target), sub(target, input));
  } else {
    // xlogy(t, t) = t·log t, 0 at t = 0: log reads 1 there, so neither value nor gradient is NaN.
    Tensor safe = where(compare(CmpOp::eq, target, scalar_of(0.0, target)), scalar_of(1.0, target), target);
    l = sub(mul(target, log(safe)), mul(target, input));
  }
  if (batchmean) {
    Tensor s = sum(l, {}, false);
    return input->dim() == 0 ? s : div(s, scalar_of(static_cast<double>(input->shape()[0]), s));
  }
  return reduce_loss(l, parse_reduction(reduction, "kl_div"));
}

}  // namespace tapegrad

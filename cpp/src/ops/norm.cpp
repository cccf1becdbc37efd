// Normalization, dropout and embeddings (torch.nn.functional's batch_norm, layer_norm, dropout,
// embedding): each forward is one fused kernel pass and one entry; each backward is a fused
// derivative that is itself a recorded, differentiable op (batch_norm_backward,
// layer_norm_backward, embedding_backward), so gradients of gradients work through them.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "ops/common.h"

namespace tapegrad {

namespace {

Shape shape_of(std::initializer_list<int64_t> l) { return Shape(l); }

void require_same_dtype(const Tensor& t, const Tensor& x, const char* op, const char* what) {
  if (t && t->dtype() != x->dtype())
    throw TypeError(std::string(op) + ": expected " + what + " of dtype " + dtype_name(x->dtype()) +
                    " (the input's), got " + dtype_name(t->dtype()) + " of shape " +
                    shape_str(t->shape()));
}

void require_shape(const Tensor& t, const Shape& want, const char* op, const char* what,
                   const Tensor& x) {
  if (t && t->shape() != want)
    throw ValueError(std::string(op) + ": expected " + what + " of shape " + shape_str(want) +
                     " for input of shape " + shape_str(x->shape()) + ", got " +
                     shape_str(t->shape()));
}

// A double as Python prints a float in most cases (0.5, 1.5, -0.1): shortest of 17 digits.
std::string fmt_double(double v) {
  std::ostringstream os;
  os << std::setprecision(17) << v;
  std::string s = os.str();
  for (int prec = 1; prec < 17; ++prec) {
    std::ostringstream t;
    t << std::setprecision(prec) << v;
    if (std::stod(t.str()) == v) return t.str().find_first_of(".en") == std::string::npos ? t.str() + ".0" : t.str();
  }
  return s;
}

// Σ over `dims` (none: t itself; sum() would read an empty list as "every dim").
Tensor sum_over(const Tensor& t, const std::vector<int64_t>& dims) {
  return dims.empty() ? t : sum(t, dims, false);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}
template <class T>
T* out_or_null(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

// Note [normalization double backward]
// Batch norm and layer norm share one second derivative. With x̂ = (x − μ)·r over a
// normalisation set of M elements (a channel for batch norm, a row for layer norm), r =
// 1/√(var + eps), h = g·γ and the projection P(v) = v − mean(v) − x̂·mean(v·x̂) (means over the
// set), the first derivative is dx = r·P(h), dγ = Σ g·x̂. Given the cotangents u of dx and a of
// dγ, differentiating L = Σ u·dx + Σ a·dγ gives
//   dg = γ·r·P(u) + a·x̂
//   dγ = Σ g·r·P(u)
//   dx = r·P(a·g) − r²·x̂·(mean(u·h) − mean(u)·mean(h) − mean(u·x̂)·mean(h·x̂))
//        − r²·(mean(h·x̂)·P(u) + mean(u·x̂)·P(h))
// using ∂x̂ᵢ/∂xⱼ = r·(δᵢⱼ − 1/M − x̂ᵢx̂ⱼ/M) (a symmetric map, r·P) and ∂r/∂xⱼ = −r²·x̂ⱼ/M.
// The statistics are recomputed from x with differentiable ops, so third derivatives follow.
// In eval mode (running statistics: μ, r constants) it reduces to dg = γ·r·u + a·x̂,
// dγ = Σ g·r·u, dx = r·a·g.
struct NormGrads {
  Tensor dg, dx, dw;
};
// `dims`: the normalisation set (keepdim sums); `wdims`: the dims γ's gradient sums over;
// w and a are already broadcastable to x (or null); dw comes back summed over `wdims`.
NormGrads norm_double_backward(const Tensor& u, const Tensor& a, const Tensor& g,
                               const Tensor& x, const Tensor& w, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& wdims, double eps) {
  const DType dt = x->dtype();
  auto avg = [&](const Tensor& v) { return mean(v, dims, true); };
  const Tensor xc = sub(x, avg(x));
  const Tensor r = div(scalar_tensor(1.0, dt), sqrt(add(avg(mul(xc, xc)), scalar_tensor(eps, dt))));
  const Tensor xh = mul(xc, r);
  auto proj = [&](const Tensor& v) { return sub(sub(v, avg(v)), mul(xh, avg(mul(v, xh)))); };
  const Tensor h = w ? mul(g, w) : g;
  const Tensor pu = proj(u);
  NormGrads out;
  out.dg = mul(r, pu);
  if (w) out.dg = mul(out.dg, w);
  if (a) out.dg = add(out.dg, mul(a, xh));
  if (w) out.dw = sum_over(mul(mul(g, r), pu), wdims);
  const Tensor r2 = mul(r, r);
  const Tensor mux = avg(mul(u, xh)), mhx = avg(mul(h, xh));
  const Tensor c = sub(sub(avg(mul(u, h)), mul(avg(u), avg(h))), mul(mux, mhx));
  Tensor dx = mul(r2, add(mul(xh, c), add(mul(mhx, pu), mul(mux, proj(h)))));
  dx = neg(dx);
  if (a) dx = add(dx, mul(r, proj(mul(a, g))));
  out.dx = dx;
  return out;
}

}  // namespace

// ===== batch norm ==========================================================================
namespace {
struct BatchNormAttrs {
  bool training;
  double eps;
};

// x (n, c, *) seen as (n, c, l).
struct Nchw {
  int64_t n, c, l;
};
Nchw nchw(const Tensor& x) {
  const Shape& s = x->shape();
  int64_t l = 1;
  for (size_t d = 2; d < s.size(); ++d) l *= s[d];
  return {s[0], s[1], l};
}
// The dims a per-channel statistic reduces over: 0, 2, 3, …
std::vector<int64_t> channel_reduce_dims(int64_t ndim) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < ndim; ++i) d.push_back(i);
  return d;
}
// A (C,) tensor as (1, C, 1, …) to broadcast against x.
Tensor per_channel(const Tensor& t, int64_t ndim) {
  if (!t) return t;
  Shape s(static_cast<size_t>(ndim), 1);
  s[1] = t->shape()[0];
  return reshape(t, s);
}

template <class T>
k::BatchNormArgs<T> bn_args(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                            const Tensor& w) {
  const Nchw d = nchw(x);
  return {d.n, d.c, d.l, x->data<T>(), mean->data<T>(), rstd->data<T>(), ptr_or_null<T>(w)};
}

// running ← (1 − m)·running + m·batch, in place (no history; bumps the version).
void update_running(const Tensor& running, const Tensor& batch, double m) {
  const int64_t c = running->numel();
  if (running->dtype() == DType::f32) {
    k::affine_f32(c, running->data<float>(), static_cast<float>(1 - m), 0.0f, running->data<float>());
    k::axpy_f32(c, static_cast<float>(m), batch->data<float>(), running->data<float>());
  } else {
    k::affine_f64(c, running->data<double>(), 1 - m, 0.0, running->data<double>());
    k::axpy_f64(c, m, batch->data<double>(), running->data<double>());
  }
  running->bump_version();
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& w, const Tensor& b, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_defined(x, op);
  require_float(x, op);
  if (x->dim() < 2)
    throw ValueError("batch_norm: expected input of shape (N, C, *) with at least 2 dims, got " +
                     shape_str(x->shape()));
  const Nchw d = nchw(x);
  const Shape cs = shape_of({d.c});
  for (const auto& [t, what] : {std::pair{&running_mean, "running_mean"},
                                std::pair{&running_var, "running_var"}, std::pair{&w, "weight"},
                                std::pair{&b, "bias"}}) {
    require_same_dtype(*t, x, op, what);
    require_shape(*t, cs, op, what, x);
  }
  if (!training && (!running_mean || !running_var))
    throw std::runtime_error(
        "batch_norm: running_mean and running_var must be defined in evaluation mode "
        "(training=False), input of shape " + shape_str(x->shape()));
  if (training && d.n * d.l == 1)
    throw ValueError("batch_norm: Expected more than 1 value per channel when training, got "
                     "input size " + shape_str(x->shape()));
  if (!training && should_record({&running_mean, &running_var}))
    throw std::runtime_error(
        "batch_norm: the derivative for 'running_mean'/'running_var' is not implemented "
        "(detach the running statistics)");

  Tensor mean, rstd;
  const int64_t m = d.n * d.l;
  if (training) {
    mean = empty(cs, x->dtype());
    Tensor var = empty(cs, x->dtype());
    rstd = empty(cs, x->dtype());
    if (x->dtype() == DType::f32)
      k::batch_norm_stats_f32(d.n, d.c, d.l, x->data<float>(), eps, mean->data<float>(),
                              var->data<float>(), rstd->data<float>());
    else
      k::batch_norm_stats_f64(d.n, d.c, d.l, x->data<double>(), eps, mean->data<double>(),
                              var->data<double>(), rstd->data<double>());
    if (running_mean && m > 0) update_running(running_mean, mean, momentum);
    if (running_var && m > 0) {
      // The running variance is the unbiased one: var·m/(m − 1) (PyTorch's).
      Tensor unbiased = empty(cs, x->dtype());
      const double f = static_cast<double>(m) / static_cast<double>(m - 1);
      if (x->dtype() == DType::f32)
        k::affine_f32(d.c, var->data<float>(), static_cast<float>(f), 0.0f, unbiased->data<float>());
      else
        k::affine_f64(d.c, var->data<double>(), f, 0.0, unbiased->data<double>());
      update_running(running_var, unbiased, momentum);
    }
  } else {
    mean = running_mean;
    // r = 1/√(running_var + eps)
    rstd = empty(cs, x->dtype());
    if (x->dtype() == DType::f32) {
      float* r = rstd->data<float>();
      k::affine_f32(d.c, running_var->data<float>(), 1.0f, static_cast<float>(eps), r);
      k::unary_f32(k::Unary::sqrt, d.c, r, r);
      k::unary_f32(k::Unary::reciprocal, d.c, r, r);
    } else {
      double* r = rstd->data<double>();
      k::affine_f64(d.c, running_var->data<double>(), 1.0, eps, r);
      k::unary_f64(k::Unary::sqrt, d.c, r, r);
      k::unary_f64(k::Unary::reciprocal, d.c, r, r);
    }
    // The running statistics may change in place before the backward: keep a copy.
    if (should_record({&x, &w, &b})) mean = clone(detach(running_mean));
  }
  Tensor y = empty(x->shape(), x->dtype());
  if (x->dtype() == DType::f32)
    k::batch_norm_apply_f32(bn_args<float>(x, mean, rstd, w), ptr_or_null<float>(b), y->data<float>());
  else
    k::batch_norm_apply_f64(bn_args<double>(x, mean, rstd, w), ptr_or_null<double>(b),
                            y->data<double>());
  if (should_record({&x, &w, &b}))
    record(OpCode::BatchNorm, {&x, &w, &b}, {&y}, save_for_backward(x, w, mean, rstd),
           BatchNormAttrs{training, eps});
  return y;
}
// y = γ·x̂ + β, x̂ = (x − μ)·r per channel  ⇒  dx += batch_norm_backward (r·γ·P(dy) in training,
// r·γ·dy in eval; Note [normalization double backward]) ; dγ += Σ dy·x̂ ; dβ += Σ dy
Grads backward_BatchNorm(BwCtx& ctx) {
  const Tensor& g = ctx.g();
  const auto& at = ctx.attrs<BatchNormAttrs>();
  Tensor dx, dw, db;
  if (ctx.needs(0) || ctx.needs(1)) {
    std::vector<Tensor> r = batch_norm_backward(g, ctx.saved(0), ctx.saved(1), ctx.saved(2),
                                                ctx.saved(3), at.training, at.eps);
    if (ctx.needs(0)) dx = r[0];
    if (ctx.needs(1)) dw = r[1];
  }
  if (ctx.needs(2)) db = sum(g, channel_reduce_dims(g->dim()), false);
  return {std::move(dx), std::move(dw), std::move(db)};
}

std::vector<Tensor> batch_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w,
                                        const Tensor& mean, const Tensor& rstd, bool training,
                                        double eps) {
  Tensor dx = empty(x->shape(), x->dtype());
  Tensor dw = w ? empty(w->shape(), w->dtype()) : Tensor();
  if (x->dtype() == DType::f32)
    k::batch_norm_backward_f32(bn_args<float>(x, mean, rstd, w), training, g->data<float>(),
                               dx->data<float>(), out_or_null<float>(dw));
  else
    k::batch_norm_backward_f64(bn_args<double>(x, mean, rstd, w), training, g->data<double>(),
                               dx->data<double>(), out_or_null<double>(dw));
  if (should_record({&g, &x, &w})) {
    SavedList saved = save_for_backward(g, x, w, mean, rstd);
    if (w)
      record(OpCode::BatchNormBackward, {&g, &x, &w}, {&dx, &dw}, std::move(saved),
             BatchNormAttrs{training, eps});
    else
      record(OpCode::BatchNormBackward, {&g, &x, &w}, {&dx}, std::move(saved),
             BatchNormAttrs{training, eps});
  }
  if (w) return {dx, dw};
  return {dx};
}
// (dx, dγ) = batch_norm_backward(g, x, γ)  ⇒  Note [normalization double backward]
Grads backward_BatchNormBackward(BwCtx& ctx) {
  const Tensor& g = ctx.saved(0);
  const Tensor& x = ctx.saved(1);
  const Tensor& w = ctx.saved(2);
  const auto& at = ctx.attrs<BatchNormAttrs>();
  const int64_t nd = x->dim();
  const Tensor wb = per_channel(w, nd);
  const Tensor& u = ctx.g(0);
  const Tensor a = w ? per_channel(ctx.g(1), nd) : Tensor();
  const std::vector<int64_t> dims = channel_reduce_dims(nd);
  if (at.training) {
    NormGrads r = norm_double_backward(u, a, g, x, wb, dims, dims, at.eps);
    return {r.dg, r.dx, r.dw};
  }
  // Running statistics: μ and r are constants.
  const Tensor r = per_channel(ctx.saved(4), nd);
  const Tensor xh = mul(sub(x, per_channel(ctx.saved(3), nd)), r);
  Tensor dg = mul(u, r), dx, dw;
  if (w) dg = mul(dg, wb);
  if (a) {
    dg = add(dg, mul(a, xh));
    dx = mul(mul(a, g), r);
  }
  if (w) dw = sum(mul(mul(g, r), u), dims, false);
  return {std::move(dg), std::move(dx), std::move(dw)};
}

// ===== layer norm ==========================================================================
namespace {
struct LayerNormAttrs {
  int64_t norm_dims;  // how many trailing dims are normalised
  double eps;
};
std::vector<int64_t> trailing_dims(int64_t ndim, int64_t k) {
  std::vector<int64_t> d;
  for (int64_t i = ndim - k; i < ndim; ++i) d.push_back(i);
  return d;
}
std::vector<int64_t> leading_dims(int64_t ndim, int64_t k) {
  std::vector<int64_t> d;
  for (int64_t i = 0; i < ndim - k; ++i) d.push_back(i);
  return d;
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& ns, const Tensor& w, const Tensor& b,
                  double eps) {
  const char* op = "layer_norm";
  check_defined(x, op);
  require_float(x, op);
  const int64_t k = static_cast<int64_t>(ns.size());
  const Shape& s = x->shape();
  if (k == 0)
    throw ValueError("layer_norm: normalized_shape must have at least one dim, input of shape " +
                     shape_str(s));
  bool ok = k <= x->dim();
  for (int64_t i = 0; ok && i < k; ++i) ok = s[static_cast<size_t>(x->dim() - k + i)] == ns[static_cast<size_t>(i)];
  if (!ok)
    throw ValueError("layer_norm: Given normalized_shape=" + shape_str(ns) +
                     ", expected input with shape [*, " + shape_str(ns).substr(1) +
                     ", but got input of size " + shape_str(s));
  for (const auto& [t, what] : {std::pair{&w, "weight"}, std::pair{&b, "bias"}}) {
    require_same_dtype(*t, x, op, what);
    require_shape(*t, ns, op, what, x);
  }
  const int64_t n = shape_numel(ns);
  const int64_t m = n ? x->numel() / n : shape_numel(Shape(s.begin(), s.end() - k));
  Tensor y = empty(s, x->dtype());
  Tensor mean = empty({m}, x->dtype()), rstd = empty({m}, x->dtype());
  if (x->dtype() == DType::f32)
    k::layer_norm_f32(m, n, x->data<float>(), ptr_or_null<float>(w), ptr_or_null<float>(b), eps,
                      y->data<float>(), mean->data<float>(), rstd->data<float>());
  else
    k::layer_norm_f64(m, n, x->data<double>(), ptr_or_null<double>(w), ptr_or_null<double>(b),
                      eps, y->data<double>(), mean->data<double>(), rstd->data<double>());
  if (should_record({&x, &w, &b}))
    record(OpCode::LayerNorm, {&x, &w, &b}, {&y}, save_for_backward(x, w, mean, rstd),
           LayerNormAttrs{k, eps});
  return y;
}
// y = γ·x̂ + β, x̂ = (x − μ)·r per row  ⇒  dx += r·P(dy·γ) ; dγ += Σ_rows dy·x̂ ; dβ += Σ_rows dy
Grads backward_LayerNorm(BwCtx& ctx) {
  const Tensor& g = ctx.g();
  const auto& at = ctx.attrs<LayerNormAttrs>();
  Tensor dx, dw, db;
  if (ctx.needs(0) || ctx.needs(1)) {
    std::vector<Tensor> r = layer_norm_backward(g, ctx.saved(0), ctx.saved(1), ctx.saved(2),
                                                ctx.saved(3), at.norm_dims, at.eps);
    if (ctx.needs(0)) dx = r[0];
    if (ctx.needs(1)) dw = r[1];
  }
  if (ctx.needs(2)) db = sum_over(g, leading_dims(g->dim(), at.norm_dims));
  return {std::move(dx), std::move(dw), std::move(db)};
}

std::vector<Tensor> layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w,
                                        const Tensor& mean, const Tensor& rstd, int64_t norm_dims,
                                        double eps) {
  const int64_t m = mean->numel();
  const int64_t n = m ? x->numel() / m : (w ? w->numel() : 0);
  Tensor dx = empty(x->shape(), x->dtype());
  Tensor dw = w ? empty(w->shape(), w->dtype()) : Tensor();
  if (x->dtype() == DType::f32)
    k::layer_norm_backward_f32(m, n, g->data<float>(), x->data<float>(), mean->data<float>(),
                               rstd->data<float>(), ptr_or_null<float>(w), dx->data<float>(),
                               out_or_null<float>(dw));
  else
    k::layer_norm_backward_f64(m, n, g->data<double>(), x->data<double>(), mean->data<double>(),
                               rstd->data<double>(), ptr_or_null<double>(w), dx->data<double>(),
                               out_or_null<double>(dw));
  if (should_record({&g, &x, &w})) {
    SavedList saved = save_for_backward(g, x, w);
    if (w)
      record(OpCode::LayerNormBackward, {&g, &x, &w}, {&dx, &dw}, std::move(saved),
             LayerNormAttrs{norm_dims, eps});
    else
      record(OpCode::LayerNormBackward, {&g, &x, &w}, {&dx}, std::move(saved),
             LayerNormAttrs{norm_dims, eps});
  }
  if (w) return {dx, dw};
  return {dx};
}
// (dx, dγ) = layer_norm_backward(g, x, γ)  ⇒  Note [normalization double backward]
Grads backward_LayerNormBackward(BwCtx& ctx) {
  const Tensor& g = ctx.saved(0);
  const Tensor& x = ctx.saved(1);
  const Tensor& w = ctx.saved(2);
  const auto& at = ctx.attrs<LayerNormAttrs>();
  const Tensor a = w ? ctx.g(1) : Tensor();
  NormGrads r = norm_double_backward(ctx.g(0), a, g, x, w, trailing_dims(x->dim(), at.norm_dims),
                                     leading_dims(x->dim(), at.norm_dims), at.eps);
  return {r.dg, r.dx, r.dw};
}

// ===== dropout =============================================================================
Tensor dropout(const Tensor& x, double p, bool training, bool inplace, int64_t channel_dims) {
  const char* op = channel_dims ? "feature_dropout" : "dropout";
  check_defined(x, op);
  if (!(p >= 0.0 && p <= 1.0))
    throw ValueError("dropout probability has to be between 0 and 1, but got " + fmt_double(p));
  if (!training) return x;
  require_float(x, op);
  if (channel_dims < 0 || channel_dims > x->dim())
    throw ValueError(std::string(op) + ": channel_dims=" + std::to_string(channel_dims) +
                     " is out of range for input of shape " + shape_str(x->shape()));
  if (inplace) check_inplace(x, "dropout_");
  // The mask is 1/(1 − p) where kept, 0 where dropped (p = 1: all dropped, no 1/0). Channel
  // (feature) dropout draws one value per index of the leading `channel_dims` dims and
  // broadcasts it over the rest.
  Shape ms = x->shape();
  if (channel_dims)
    for (size_t d = static_cast<size_t>(channel_dims); d < ms.size(); ++d) ms[d] = 1;
  Tensor mask = p == 1.0 ? zeros(ms, x->dtype()) : bernoulli(ms, 1.0 - p, x->dtype());
  if (p != 1.0 && p != 0.0) {
    const double scale = 1.0 / (1.0 - p);
    if (x->dtype() == DType::f32)
      k::affine_f32(mask->numel(), mask->data<float>(), static_cast<float>(scale), 0.0f,
                    mask->data<float>());
    else
      k::affine_f64(mask->numel(), mask->data<double>(), scale, 0.0, mask->data<double>());
  }
  Tensor y;
  {
    GradModeGuard no_grad(false);
    y = mul(x->is_contiguous() ? x : clone_data(x), mask);  // a view: its values (Note [views])
  }
  if (should_record({&x})) record(OpCode::Dropout, {&x}, {&y}, save_for_backward(mask));
  if (!inplace) return y;
  rebase_inplace(x, y);
  return x;
}
// y = x·mask  ⇒  dx += dy·mask   (the forward's mask, saved)
Grads backward_Dropout(BwCtx& ctx) { return {mul(ctx.g(), ctx.saved(0))}; }

// ===== embedding ===========================================================================
namespace {
struct EmbeddingAttrs {
  int64_t num_weights;
  int64_t padding_idx;  // −1: none
  bool zero_padding;    // rows at padding_idx read as zeros (the derivative of the backward)
};

Tensor embedding_rows(const Tensor& idx, const Tensor& w, int64_t pad, bool zero_padding) {
  const int64_t d = w->shape()[1];
  Shape out = idx->shape();
  out.push_back(d);
  Tensor y = empty(out, w->dtype());
  k::embedding_gather(elem(w->dtype()), idx->numel(), d, w->raw(), idx->data<int64_t>(),
                      zero_padding ? pad : -1, y->raw());
  if (should_record({&w}))
    record(OpCode::Embedding, {&w}, {&y}, save_for_backward(idx),
           EmbeddingAttrs{w->shape()[0], pad, zero_padding});
  return y;
}
}  // namespace

Tensor embedding(const Tensor& idx, const Tensor& w, std::optional<int64_t> padding_idx) {
  const char* op = "embedding";
  check_defined(idx, op);
  check_defined(w, op);
  if (idx->dtype() != DType::i64)
    throw TypeError("embedding: expected indices of dtype int64, got " +
                    std::string(dtype_name(idx->dtype())) + " of shape " + shape_str(idx->shape()) +
                    " (convert with .long())");
  require_float(w, "embedding (weight)");
  if (w->dim() != 2)
    throw ValueError("embedding: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape " +
                     shape_str(w->shape()));
  const int64_t v = w->shape()[0];
  int64_t pad = -1;
  if (padding_idx) {
    pad = *padding_idx;
    if (pad >= v || pad < -v)
      throw ValueError("embedding: Padding_idx must be within num_embeddings (padding_idx=" +
                       std::to_string(pad) + ", weight of shape " + shape_str(w->shape()) + ")");
    if (pad < 0) pad += v;
  }
  const int64_t* ix = idx->data<int64_t>();
  if (const int64_t i = k::find_out_of_range(idx->numel(), ix, 0, v); i >= 0)
    throw IndexError("embedding: index " + std::to_string(ix[i]) + " is out of range for weight of shape " +
                     shape_str(w->shape()) + " (indices of shape " + shape_str(idx->shape()) + ")");
  // The indices are saved: a later in-place change to them must not change the backward.
  return embedding_rows(idx, w, pad, false);
}
// y[…] = W[idx[…]]  ⇒  dW[idx[…]] += dy[…] (repeated indices add; the padding row gets none)
Grads backward_Embedding(BwCtx& ctx) {
  const auto& at = ctx.attrs<EmbeddingAttrs>();
  return {embedding_backward(ctx.g(), ctx.saved(0), at.num_weights, at.padding_idx)};
}

Tensor embedding_backward(const Tensor& g, const Tensor& idx, int64_t num_weights,
                          int64_t padding_idx) {
  const int64_t d = g->dim() ? g->shape().back() : 0;
  Tensor dw = zeros({num_weights, d}, g->dtype());
  k::embedding_scatter_add(elem(g->dtype()), idx->numel(), d, g->raw(), idx->data<int64_t>(),
                           padding_idx, dw->raw());
  if (should_record({&g}))
    record(OpCode::EmbeddingBackward, {&g}, {&dw}, save_for_backward(idx),
           EmbeddingAttrs{num_weights, padding_idx, true});
  return dw;
}
// dW = Σ scatter(dy)  ⇒  d(dy) += rows of d(dW) at idx (zero at padding_idx: it got none)
Grads backward_EmbeddingBackward(BwCtx& ctx) {
  const auto& at = ctx.attrs<EmbeddingAttrs>();
  return {embedding_rows(ctx.saved(0), ctx.g(), at.padding_idx, true)};
}

}  // namespace tapegrad

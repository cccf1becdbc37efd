// Optimizer updates over every parameter of a group in one call (tg.optim), PyTorch's formulas
// (Note [optimizer arithmetic] in kernels/reference_rows.cpp).
//
// Note [optimizer state checks]
// The state tensors (momentum buffers, moments, steps) live in Python dicts that users can read,
// replace or load from a checkpoint. Before a kernel writes through one, its shape and dtype are
// checked against the parameter's: a wrong-shaped buffer raises instead of overrunning memory.
// Missing state is created here (zeros, or the first update's value as PyTorch's SGD does).
#include <cstring>
#include <initializer_list>

#include "ops/common.h"

namespace tapegrad {

namespace {

void check_param(const Tensor& p, const char* op, size_t i) {
  if (!p) throw TypeError(std::string(op) + ": parameter " + std::to_string(i) + " is None");
  if (!is_float(p->dtype()))
    throw TypeError(std::string(op) + ": parameters must be floating point, got " +
                    dtype_name(p->dtype()) + " for parameter " + std::to_string(i));
}

// Note [optimizer state checks]: `t` (state `key` or the gradient) must match the parameter.
void check_like(const Tensor& p, const Tensor& t, const char* op, const char* key, size_t i) {
  if (t->shape() == p->shape() && t->dtype() == p->dtype()) return;
  throw ValueError(std::string(op) + ": " + key + " of parameter " + std::to_string(i) +
                   " has shape " + shape_str(t->shape()) + " and dtype " + dtype_name(t->dtype()) +
                   ", but the parameter has shape " + shape_str(p->shape()) + " and dtype " +
                   dtype_name(p->dtype()));
}

// A state tensor: created as zeros when missing, else checked against the parameter.
Tensor& state_like(const Tensor& p, Tensor& t, const char* op, const char* key, size_t i) {
  if (!t) t = zeros(p->shape(), p->dtype());
  else check_like(p, t, op, key, i);
  return t;
}

// PyTorch keeps each parameter's step count as a float32 scalar tensor; it is incremented in
// place and returned as an integer for the bias corrections.
int64_t next_step(Tensor& step, const char* op, size_t i) {
  if (!step) step = scalar_tensor(0.0, DType::f32);
  if (step->numel() != 1 || !is_float(step->dtype()))
    throw ValueError(std::string(op) + ": state 'step' of parameter " + std::to_string(i) +
                     " must be a one-element floating point tensor, got shape " +
                     shape_str(step->shape()) + " and dtype " + dtype_name(step->dtype()));
  double s;
  if (step->dtype() == DType::f32) s = static_cast<double>(++*step->data<float>());
  else s = ++*step->data<double>();
  step->bump_version();
  return static_cast<int64_t>(s);
}

template <class T>
T* ptr(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

// The parameter's gradient, checked; null when it has none (the parameter is skipped).
const Tensor* grad_of(const Tensor& p, const char* op, size_t i) {
  check_param(p, op, i);
  if (!p->has_grad()) return nullptr;
  const Tensor& g = p->grad();
  check_like(p, g, op, "the gradient", i);
  return &g;
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& bufs,
              const SgdOptions& o) {
  const char* op = "SGD.step";
  if (o.momentum != 0) bufs.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    check_param(p, op, i);
    if (!p->has_grad()) continue;
    if (const OuterGrad* og = p->outer_grad(); og && o.momentum == 0 && o.weight_decay == 0) {
      // p ← p ∓ lr·(uᵀ·v) without forming uᵀ·v: Note [factored weight gradients].
      const int64_t m = og->u->numel(), n = og->v->numel();
      const double a = o.maximize ? o.lr : -o.lr;
      if (p->dtype() == DType::f32)
        k::axpy_outer_f32(m, n, static_cast<float>(a), og->u->data<float>(),
                          og->v->data<float>(), p->data<float>());
      else
        k::axpy_outer_f64(m, n, a, og->u->data<double>(), og->v->data<double>(),
                          p->data<double>());
      p->bump_version();
      continue;
    }
    const Tensor* g = grad_of(p, op, i);
    k::SgdParams h{o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, false, o.maximize};
    Tensor buf;
    if (o.momentum != 0) {
      if (!bufs[i]) {
        bufs[i] = zeros(p->shape(), p->dtype());
        h.first = true;  // PyTorch: the buffer starts as the first step's direction
      } else {
        check_like(p, bufs[i], op, "state 'momentum_buffer'", i);
      }
      buf = bufs[i];
    }
    if (p->dtype() == DType::f32)
      k::sgd_f32(p->numel(), p->data<float>(), (*g)->data<float>(), ptr<float>(buf), h);
    else
      k::sgd_f64(p->numel(), p->data<double>(), (*g)->data<double>(), ptr<double>(buf), h);
    if (buf) buf->bump_version();
    p->bump_version();
  }
}

void zero_grad(const std::vector<Tensor>& params, bool set_to_none) {
  for (const Tensor& p : params) {
    if (!p || !p->has_grad()) continue;
    if (set_to_none) {
      p->set_grad(nullptr);
    } else if (p->outer_grad()) {
      p->set_grad(zeros(p->shape(), p->dtype()));  // nobody has seen the factored gradient
    } else {
      // As PyTorch: the gradient is cut from any history and zeroed in place (no_grad).
      const Tensor& g = p->grad();
      if (g->requires_grad()) p->set_grad(detach(g));
      if (p->grad()->nbytes()) std::memset(p->grad()->raw(), 0, p->grad()->nbytes());
      p->grad()->bump_version();
    }
  }
}

void adam_step(const std::vector<Tensor>& params, AdamState& s, const AdamOptions& o) {
  const char* op = o.decoupled ? "AdamW.step" : "Adam.step";
  const size_t n = params.size();
  s.exp_avg.resize(n);
  s.exp_avg_sq.resize(n);
  s.steps.resize(n);
  if (o.amsgrad) s.max_exp_avg_sq.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    const Tensor* g = grad_of(p, op, i);
    if (!g) continue;
    const Tensor& m = state_like(p, s.exp_avg[i], op, "state 'exp_avg'", i);
    const Tensor& v = state_like(p, s.exp_avg_sq[i], op, "state 'exp_avg_sq'", i);
    Tensor vmax;
    if (o.amsgrad) vmax = state_like(p, s.max_exp_avg_sq[i], op, "state 'max_exp_avg_sq'", i);
    const k::AdamParams h{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay,
                          next_step(s.steps[i], op, i), o.maximize, o.decoupled};
    if (p->dtype() == DType::f32)
      k::adam_f32(p->numel(), p->data<float>(), (*g)->data<float>(), m->data<float>(),
                  v->data<float>(), ptr<float>(vmax), h);
    else
      k::adam_f64(p->numel(), p->data<double>(), (*g)->data<double>(), m->data<double>(),
                  v->data<double>(), ptr<double>(vmax), h);
    for (const Tensor* t : std::initializer_list<const Tensor*>{&m, &v, &vmax})
      if (*t) (*t)->bump_version();
    p->bump_version();
  }
}

void rmsprop_step(const std::vector<Tensor>& params, RmspropState& s, const RmspropOptions& o) {
  const char* op = "RMSprop.step";
  const size_t n = params.size();
  s.square_avg.resize(n);
  s.steps.resize(n);
  if (o.centered) s.grad_avg.resize(n);
  if (o.momentum > 0) s.momentum_buffer.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    const Tensor* g = grad_of(p, op, i);
    if (!g) continue;
    next_step(s.steps[i], op, i);
    const Tensor& sq = state_like(p, s.square_avg[i], op, "state 'square_avg'", i);
    Tensor ga, buf;
    if (o.centered) ga = state_like(p, s.grad_avg[i], op, "state 'grad_avg'", i);
    if (o.momentum > 0) buf = state_like(p, s.momentum_buffer[i], op, "state 'momentum_buffer'", i);
    const k::RmspropParams h{o.lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.maximize};
    if (p->dtype() == DType::f32)
      k::rmsprop_f32(p->numel(), p->data<float>(), (*g)->data<float>(), sq->data<float>(),
                     ptr<float>(ga), ptr<float>(buf), h);
    else
      k::rmsprop_f64(p->numel(), p->data<double>(), (*g)->data<double>(), sq->data<double>(),
                     ptr<double>(ga), ptr<double>(buf), h);
    for (const Tensor* t : std::initializer_list<const Tensor*>{&sq, &ga, &buf})
      if (*t) (*t)->bump_version();
    p->bump_version();
  }
}

void adagrad_step(const std::vector<Tensor>& params, std::vector<Tensor>& sums,
                  std::vector<Tensor>& steps, const AdagradOptions& o) {
  const char* op = "Adagrad.step";
  sums.resize(params.size());
  steps.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor* g = grad_of(p, op, i);
    if (!g) continue;
    const Tensor& sum = state_like(p, sums[i], op, "state 'sum'", i);
    const k::AdagradParams h{o.lr, o.lr_decay, o.weight_decay, o.eps, next_step(steps[i], op, i),
                             o.maximize};
    if (p->dtype() == DType::f32)
      k::adagrad_f32(p->numel(), p->data<float>(), (*g)->data<float>(), sum->data<float>(), h);
    else
      k::adagrad_f64(p->numel(), p->data<double>(), (*g)->data<double>(), sum->data<double>(), h);
    sum->bump_version();
    p->bump_version();
  }
}

}  // namespace tapegrad

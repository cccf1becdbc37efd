// Optimizer updates over every parameter in one call (tg.optim), PyTorch's formulas.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "ops/common.h"

namespace tapegrad {

namespace {
template <class T>
void sgd_one(const Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
             double dampening, double wd, bool nesterov) {
  const int64_t n = p->numel();
  T* w = p->data<T>();
  const T* gr = g->data<T>();
  if (momentum == 0 && wd == 0) {
    // Plain SGD, p ← p + (−lr)·g with one rounding (the fused axpy), as PyTorch's add_.
    if constexpr (std::is_same_v<T, float>) k::axpy_f32(n, -static_cast<float>(lr), gr, w);
    else k::axpy_f64(n, -lr, gr, w);
    return;
  }
  T* b = nullptr;
  bool first = false;
  if (momentum != 0) {
    if (!buf) {
      buf = zeros(p->shape(), p->dtype());
      first = true;
    }
    b = buf->data<T>();
  }
  for (int64_t i = 0; i < n; ++i) {
    T d = gr[i];
    if (wd != 0) d += static_cast<T>(wd) * w[i];
    if (b) {
      b[i] = first ? d : static_cast<T>(momentum) * b[i] + static_cast<T>(1 - dampening) * d;
      d = nesterov ? d + static_cast<T>(momentum) * b[i] : b[i];
    }
    // p ← p − lr·d as one fused multiply-add, as PyTorch's add_(d, alpha=−lr) rounds it.
    w[i] = std::fma(-static_cast<T>(lr), d, w[i]);
  }
}

template <class T>
void adam_one(const Tensor& p, const Tensor& g, Tensor& m, Tensor& v, int64_t step, double lr,
              double b1, double b2, double eps, double wd) {
  if (!m) m = zeros(p->shape(), p->dtype());
  if (!v) v = zeros(p->shape(), p->dtype());
  const int64_t n = p->numel();
  T* w = p->data<T>();
  const T* gr = g->data<T>();
  T* pm = m->data<T>();
  T* pv = v->data<T>();
  const double bc1 = 1 - std::pow(b1, static_cast<double>(step));
  const double bc2 = 1 - std::pow(b2, static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  for (int64_t i = 0; i < n; ++i) {
    T d = gr[i];
    if (wd != 0) d += static_cast<T>(wd) * w[i];
    pm[i] = static_cast<T>(b1) * pm[i] + static_cast<T>(1 - b1) * d;
    pv[i] = static_cast<T>(b2) * pv[i] + static_cast<T>(1 - b2) * d * d;
    const T denom = std::sqrt(pv[i]) / bc2_sqrt + static_cast<T>(eps);
    w[i] -= step_size * pm[i] / denom;
  }
}

void check_param(const Tensor& p, const char* op) {
  if (!p) throw TypeError(std::string(op) + ": parameter is None");
  if (!is_float(p->dtype()))
    throw TypeError(std::string(op) + ": parameters must be floating point, got " + dtype_name(p->dtype()));
}
}  // namespace

void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& bufs, double lr,
              double momentum, double dampening, double wd, bool nesterov) {
  bufs.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    check_param(p, "SGD.step");
    if (!p->has_grad()) continue;
    if (const OuterGrad* og = p->outer_grad(); og && momentum == 0 && wd == 0) {
      // p ← p − lr·(uᵀ·v) without forming uᵀ·v: Note [factored weight gradients].
      const int64_t m = og->u->numel(), n = og->v->numel();
      if (p->dtype() == DType::f32)
        k::axpy_outer_f32(m, n, -static_cast<float>(lr), og->u->data<float>(),
                          og->v->data<float>(), p->data<float>());
      else
        k::axpy_outer_f64(m, n, -lr, og->u->data<double>(), og->v->data<double>(),
                          p->data<double>());
      p->bump_version();
      continue;
    }
    const Tensor& g = p->grad();
    if (p->dtype() == DType::f32) sgd_one<float>(p, g, bufs[i], lr, momentum, dampening, wd, nesterov);
    else sgd_one<double>(p, g, bufs[i], lr, momentum, dampening, wd, nesterov);
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

void adam_step(const std::vector<Tensor>& params, std::vector<Tensor>& m, std::vector<Tensor>& v,
               std::vector<int64_t>& steps, double lr, double b1, double b2, double eps,
               double wd) {
  m.resize(params.size());
  v.resize(params.size());
  steps.resize(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    check_param(p, "Adam.step");
    if (!p->has_grad()) continue;
    const Tensor& g = p->grad();
    const int64_t step = ++steps[i];
    if (p->dtype() == DType::f32) adam_one<float>(p, g, m[i], v[i], step, lr, b1, b2, eps, wd);
    else adam_one<double>(p, g, m[i], v[i], step, lr, b1, b2, eps, wd);
    p->bump_version();
  }
}

}  // namespace tapegrad

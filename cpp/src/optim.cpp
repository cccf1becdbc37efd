// Optimizer updates over every parameter in one call (tg.optim), PyTorch's formulas.
#include <cstring>

#include "ops/common.h"

namespace tapegrad {

namespace {
// The updates themselves are kernels (kernels::sgd_*, kernels::adam_*): PyTorch's formulas and
// roundings, written once in the reference and matched bit for bit by the SIMD versions.
void sgd_one(const Tensor& p, const Tensor& g, Tensor& buf, const k::SgdParams& hp) {
  k::SgdParams h = hp;
  h.first = false;
  if (h.momentum != 0 && !buf) {
    buf = zeros(p->shape(), p->dtype());
    h.first = true;
  }
  if (p->dtype() == DType::f32)
    k::sgd_f32(p->numel(), p->data<float>(), g->data<float>(), buf ? buf->data<float>() : nullptr, h);
  else
    k::sgd_f64(p->numel(), p->data<double>(), g->data<double>(), buf ? buf->data<double>() : nullptr,
               h);
}

void adam_one(const Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const k::AdamParams& h) {
  if (!m) m = zeros(p->shape(), p->dtype());
  if (!v) v = zeros(p->shape(), p->dtype());
  if (p->dtype() == DType::f32)
    k::adam_f32(p->numel(), p->data<float>(), g->data<float>(), m->data<float>(), v->data<float>(), h);
  else
    k::adam_f64(p->numel(), p->data<double>(), g->data<double>(), m->data<double>(),
                v->data<double>(), h);
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
    sgd_one(p, p->grad(), bufs[i], {lr, momentum, dampening, wd, nesterov, false});
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
    const int64_t step = ++steps[i];
    adam_one(p, p->grad(), m[i], v[i], {lr, b1, b2, eps, wd, step});
    p->bump_version();
  }
}

}  // namespace tapegrad

// Pooling: max_pool2d (with indices), avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d and
// their 1-D forms, over NCHW inputs or unbatched CHW ones (as PyTorch).
//
// Note [pooling windows]
// Every form is reduced to one description, a PoolPlan: for each output row the first input
// row, how many rows and the step between them (dilation), already clipped to the input, and
// the same for columns; average pooling adds its divisor as a product of a per-row and a
// per-column count (the window's size with or without padding, or the adaptive window's), or
// one fixed divisor_override. So one max kernel and one average kernel (and its adjoint) serve
// stride, padding, dilation, ceil_mode and the adaptive forms, and the plan recorded with an
// average-pooling entry is enough to run its backward and, for create_graph, the backward's
// backward. Both backwards are linear in the incoming gradient:
//   max:  y[o] = x[off[o]]        ⇒  dx = scatter_add(dy, off), whose own backward is the
//         gather dy'[o] = dz[off[o]] (the indexing ops' ScatterAdd/Gather pair);
//   avg:  y = P·x (P averages)    ⇒  dx = Pᵀ·dy (AvgPool2DBackward), whose backward is P again.
// The 1-D forms run the 2-D ones on a (…, 1, L) view.
#include <array>
#include <memory>

#include "ops/common.h"

namespace tapegrad {

namespace {

using Pair = std::array<int64_t, 2>;

struct PoolPlan {
  Shape in_shape, out_shape;
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  std::vector<int64_t> start_h, count_h, start_w, count_w;
  int64_t step_h = 1, step_w = 1;
  std::vector<int64_t> div_h, div_w;  // average pooling only
  int64_t divisor = 0;                // divisor_override; 0: div_h·div_w

  k::PoolWindows windows() const {
    return {in_h,           in_w,           out_h,  out_w,          start_h.data(),
            count_h.data(), step_h,         start_w.data(), count_w.data(), step_w};
  }
};
using PlanPtr = std::shared_ptr<const PoolPlan>;

// The plan an average-pooling entry carries (Note [pooling windows]).
struct PoolAttrs {
  PlanPtr plan;
};

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

// "3" for a 1-D op's parameter, "(3, 2)" for a 2-D one's.
std::string pair_str(const Pair& v, int spatial) {
  if (spatial == 1) return std::to_string(v[1]);
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")";
}

// The input of a pooling op: (N, C, *spatial) or unbatched (C, *spatial) with non-zero C and
// spatial sizes (the batch may be empty), floating point. Returns it with two spatial dims.
Tensor pool_input(const Tensor& x, int spatial, const char* op) {
  check_defined(x, op);
  const int64_t nd = x->dim();
  bool ok = nd == spatial + 1 || nd == spatial + 2;
  for (int64_t d = nd == spatial + 2 ? 1 : 0; ok && d < nd; ++d) ok = x->shape()[d] != 0;
  if (!ok)
    fail(std::string(op) + ": expected a " + std::to_string(spatial + 1) + "-D (C, " +
         (spatial == 1 ? "L" : "H, W") + ") or " + std::to_string(spatial + 2) + "-D (N, C, " +
         (spatial == 1 ? "L" : "H, W") +
         ") input with non-zero sizes except the batch, got shape " + shape_str(x->shape()));
  require_float(x, op);
  return spatial == 1 ? unsqueeze(x, -2) : x;
}

// The plan's frame: planes, input sizes and the output shape for output sizes oh × ow.
PoolPlan frame(const Tensor& x4, int64_t oh, int64_t ow) {
  PoolPlan p;
  p.in_shape = x4->shape();
  const size_t nd = p.in_shape.size();
  p.in_h = p.in_shape[nd - 2];
  p.in_w = p.in_shape[nd - 1];
  p.planes = p.in_h * p.in_w == 0 ? 0 : x4->numel() / (p.in_h * p.in_w);
  p.out_h = oh;
  p.out_w = ow;
  p.out_shape = p.in_shape;
  p.out_shape[nd - 2] = oh;
  p.out_shape[nd - 1] = ow;
  return p;
}

struct WindowArgs {
  Pair kernel, stride, padding, dilation;
  bool ceil_mode;
};

void check_window_args(const WindowArgs& a, int spatial, const char* op) {
  for (int d = 0; d < 2; ++d) {
    if (a.kernel[d] <= 0)
      fail(std::string(op) + ": kernel_size must be greater than zero, got " +
           pair_str(a.kernel, spatial));
    if (a.stride[d] <= 0)
      fail(std::string(op) + ": stride must be greater than zero, got " +
           pair_str(a.stride, spatial));
    if (a.dilation[d] <= 0)
      fail(std::string(op) + ": dilation must be greater than zero, got " +
           pair_str(a.dilation, spatial));
    if (a.padding[d] < 0)
      fail(std::string(op) + ": padding must be non-negative, got " +
           pair_str(a.padding, spatial));
    if (a.padding[d] > a.kernel[d] / 2)
      fail(std::string(op) + ": padding must be at most half of kernel_size, got padding " +
           pair_str(a.padding, spatial) + " for kernel_size " + pair_str(a.kernel, spatial));
  }
}

// PyTorch's output size: ⌊(in + 2p − d·(k−1) − 1 [+ s − 1 with ceil_mode]) / s⌋ + 1, and with
// ceil_mode the last window must start inside the input or the left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  const int64_t q = num >= 0 ? num / s : -((-num + s - 1) / s);  // floor division
  int64_t out = q + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

PoolPlan window_frame(const Tensor& x4, const WindowArgs& a, int spatial, const Shape& shown,
                      const char* op) {
  const int64_t nd = x4->dim();
  const int64_t in_h = x4->shape()[nd - 2], in_w = x4->shape()[nd - 1];
  const int64_t oh = pooled_size(in_h, a.kernel[0], a.stride[0], a.padding[0], a.dilation[0],
                                 a.ceil_mode);
  const int64_t ow = pooled_size(in_w, a.kernel[1], a.stride[1], a.padding[1], a.dilation[1],
                                 a.ceil_mode);
  if (oh < 1 || ow < 1)
    fail(std::string(op) + ": the input of shape " + shape_str(shown) +
         " is smaller than the kernel: kernel_size " + pair_str(a.kernel, spatial) +
         ", dilation " + pair_str(a.dilation, spatial) + ", padding " +
         pair_str(a.padding, spatial) + " give output size " +
         (spatial == 1 ? std::to_string(ow)
                       : std::to_string(oh) + "x" + std::to_string(ow)));
  return frame(x4, oh, ow);
}

// Max-pool windows along one axis: output o reads o·s − p + j·d for j < k, inside [0, in).
void max_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d,
              std::vector<int64_t>& start, std::vector<int64_t>& count, const char* op) {
  start.resize(out);
  count.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t lo = o * s - p;
    const int64_t hi = std::min(lo + d * (k - 1) + 1, in);
    if (lo < 0) lo += ((-lo + d - 1) / d) * d;  // first tap inside the input
    start[o] = lo;
    count[o] = hi > lo ? (hi - lo + d - 1) / d : 0;
    // Only a dilated kernel with padding can have every tap of a window in the padding;
    // PyTorch then returns −inf with an index outside the window. Refuse it instead.
    if (count[o] == 0)
      fail(std::string(op) + ": a pooling window lies entirely in the padding (kernel_size " +
           std::to_string(k) + ", dilation " + std::to_string(d) + ", padding " +
           std::to_string(p) + " on a dim of size " + std::to_string(in) + ")");
  }
}

// Average-pool windows along one axis: output o covers [o·s − p, min(o·s − p + k, in + p)),
// clipped to the input; the divisor counts the padding when count_include_pad.
void avg_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool include_pad,
              std::vector<int64_t>& start, std::vector<int64_t>& count,
              std::vector<int64_t>& div) {
  start.resize(out);
  count.resize(out);
  div.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t lo = o * s - p, hi = std::min(lo + k, in + p);
    const int64_t clo = std::max<int64_t>(lo, 0), chi = std::min(hi, in);
    start[o] = clo;
    count[o] = std::max<int64_t>(chi - clo, 0);
    div[o] = include_pad ? hi - lo : count[o];
  }
}

// Adaptive windows along one axis: output o covers [⌊o·in/out⌋, ⌈(o+1)·in/out⌉).
void adaptive_axis(int64_t in, int64_t out, std::vector<int64_t>& start,
                   std::vector<int64_t>& count) {
  start.resize(out);
  count.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    start[o] = (o * in) / out;
    count[o] = ((o + 1) * in + out - 1) / out - start[o];
  }
}

// ----- max pooling ----------------------------------------------------------------------------
struct MaxResult {
  Tensor values, indices;
};

MaxResult run_max(OpCode code, const Tensor& x4, PoolPlan&& p) {
  Tensor y = empty(p.out_shape, x4->dtype());
  Tensor idx = empty(p.out_shape, DType::i64);
  const bool rec = should_record({&x4});
  Tensor off = rec ? empty(p.out_shape, DType::i64) : Tensor();
  k::max_pool2d(elem(x4->dtype()), p.planes, p.windows(), x4->raw(), y->raw(),
                idx->data<int64_t>(), rec ? off->data<int64_t>() : nullptr);
  if (rec) record(code, {&x4}, {&y}, save_for_backward(off));
  return {y, idx};
}

MaxResult max_pool_impl(const Tensor& x, int spatial, const WindowArgs& a, const char* op) {
  const Tensor x4 = pool_input(x, spatial, op);
  check_window_args(a, spatial, op);
  PoolPlan p = window_frame(x4, a, spatial, x->shape(), op);
  max_axis(p.in_h, p.out_h, a.kernel[0], a.stride[0], a.padding[0], a.dilation[0], p.start_h,
           p.count_h, op);
  max_axis(p.in_w, p.out_w, a.kernel[1], a.stride[1], a.padding[1], a.dilation[1], p.start_w,
           p.count_w, op);
  p.step_h = a.dilation[0];
  p.step_w = a.dilation[1];
  return run_max(OpCode::MaxPool2DWithIndices, x4, std::move(p));
}

// ----- average pooling ------------------------------------------------------------------------
Tensor run_avg(OpCode code, const Tensor& x, const PlanPtr& p) {
  Tensor y = empty(p->out_shape, x->dtype());
  k::avg_pool2d(elem(x->dtype()), p->planes, p->windows(), p->div_h.data(), p->div_w.data(),
                p->divisor, x->raw(), y->raw());
  if (should_record({&x})) record(code, {&x}, {&y}, {}, PoolAttrs{p});
  return y;
}

// avg pooling's adjoint dx = Pᵀ·g, itself recorded (its backward is P again).
Tensor avg_pool2d_backward(const Tensor& g, const PlanPtr& p) {
  // The kernel writes all of dx (Note [tiled pooling]); it is not called for an empty output.
  Tensor dx = p->out_h * p->out_w == 0 ? zeros(p->in_shape, g->dtype())
                                       : empty(p->in_shape, g->dtype());
  k::avg_pool2d_backward(elem(g->dtype()), p->planes, p->windows(), p->div_h.data(),
                         p->div_w.data(), p->divisor, g->raw(), dx->raw());
  if (should_record({&g})) record(OpCode::AvgPool2DBackward, {&g}, {&dx}, {}, PoolAttrs{p});
  return dx;
}

Tensor avg_pool_impl(const Tensor& x, int spatial, const WindowArgs& a, bool count_include_pad,
                     std::optional<int64_t> divisor_override, const char* op) {
  const Tensor x4 = pool_input(x, spatial, op);
  check_window_args(a, spatial, op);
  if (divisor_override && *divisor_override == 0)
    fail(std::string(op) + ": divisor_override must not be zero");
  auto p = std::make_shared<PoolPlan>(window_frame(x4, a, spatial, x->shape(), op));
  avg_axis(p->in_h, p->out_h, a.kernel[0], a.stride[0], a.padding[0], count_include_pad,
           p->start_h, p->count_h, p->div_h);
  avg_axis(p->in_w, p->out_w, a.kernel[1], a.stride[1], a.padding[1], count_include_pad,
           p->start_w, p->count_w, p->div_w);
  p->divisor = divisor_override.value_or(0);
  return run_avg(OpCode::AvgPool2D, x4, p);
}

// ----- adaptive pooling -----------------------------------------------------------------------
// Output sizes: None keeps the input's size; negative sizes are refused.
PoolPlan adaptive_plan(const Tensor& x4, const std::array<std::optional<int64_t>, 2>& size,
                       int spatial, const char* op) {
  const int64_t nd = x4->dim();
  const int64_t oh = size[0].value_or(x4->shape()[nd - 2]);
  const int64_t ow = size[1].value_or(x4->shape()[nd - 1]);
  if (oh < 0 || ow < 0)
    fail(std::string(op) + ": output_size must be non-negative, got " +
         pair_str({oh, ow}, spatial));
  PoolPlan p = frame(x4, oh, ow);
  adaptive_axis(p.in_h, p.out_h, p.start_h, p.count_h);
  adaptive_axis(p.in_w, p.out_w, p.start_w, p.count_w);
  return p;
}

Tensor adaptive_avg_impl(const Tensor& x, int spatial,
                         const std::array<std::optional<int64_t>, 2>& size, const char* op) {
  const Tensor x4 = pool_input(x, spatial, op);
  auto p = std::make_shared<PoolPlan>(adaptive_plan(x4, size, spatial, op));
  p->div_h = p->count_h;
  p->div_w = p->count_w;
  return run_avg(OpCode::AdaptiveAvgPool2D, x4, p);
}

MaxResult adaptive_max_impl(const Tensor& x, int spatial,
                            const std::array<std::optional<int64_t>, 2>& size, const char* op) {
  const Tensor x4 = pool_input(x, spatial, op);
  return run_max(OpCode::AdaptiveMaxPool2D, x4, adaptive_plan(x4, size, spatial, op));
}

std::pair<Tensor, Tensor> squeezed(const MaxResult& r) {
  return {squeeze(r.values, -2), squeeze(r.indices, -2)};
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Pair kernel_size, Pair stride,
                                                  Pair padding, Pair dilation, bool ceil_mode) {
  MaxResult r = max_pool_impl(x, 2, {kernel_size, stride, padding, dilation, ceil_mode},
                              "max_pool2d");
  return {r.values, r.indices};
}
// y[o] = x[off[o]] (off: the window's maximum)  ⇒  dx[off[o]] += dy[o]
Grads backward_MaxPool2DWithIndices(BwCtx& ctx) {
  return {scatter_add_flat(ctx.g(), ctx.saved(0), ctx.in_shape(0))};
}

std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size,
                                                  int64_t stride, int64_t padding,
                                                  int64_t dilation, bool ceil_mode) {
  return squeezed(max_pool_impl(
      x, 1, {{1, kernel_size}, {1, stride}, {0, padding}, {1, dilation}, ceil_mode},
      "max_pool1d"));
}

Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  return avg_pool_impl(x, 2, {kernel_size, stride, padding, {1, 1}, ceil_mode},
                       count_include_pad, divisor_override, "avg_pool2d");
}
// y = P·x  ⇒  dx += Pᵀ·dy
Grads backward_AvgPool2D(BwCtx& ctx) {
  return {avg_pool2d_backward(ctx.g(), ctx.attrs<PoolAttrs>().plan)};
}
// z = Pᵀ·g  ⇒  dg += P·dz
Grads backward_AvgPool2DBackward(BwCtx& ctx) {
  return {run_avg(OpCode::AvgPool2D, ctx.g(), ctx.attrs<PoolAttrs>().plan)};
}

Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding,
                  bool ceil_mode, bool count_include_pad) {
  return squeeze(avg_pool_impl(x, 1, {{1, kernel_size}, {1, stride}, {0, padding}, {1, 1},
                                      ceil_mode},
                               count_include_pad, std::nullopt, "avg_pool1d"),
                 -2);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::optional<int64_t>, 2> output_size) {
  return adaptive_avg_impl(x, 2, output_size, "adaptive_avg_pool2d");
}
// y = P·x (P: the adaptive windows' means)  ⇒  dx += Pᵀ·dy
Grads backward_AdaptiveAvgPool2D(BwCtx& ctx) {
  return {avg_pool2d_backward(ctx.g(), ctx.attrs<PoolAttrs>().plan)};
}

Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size) {
  return squeeze(adaptive_avg_impl(x, 1, {1, output_size}, "adaptive_avg_pool1d"), -2);
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(
    const Tensor& x, std::array<std::optional<int64_t>, 2> output_size) {
  MaxResult r = adaptive_max_impl(x, 2, output_size, "adaptive_max_pool2d");
  return {r.values, r.indices};
}
// y[o] = x[off[o]] (off: the adaptive window's maximum)  ⇒  dx[off[o]] += dy[o]
Grads backward_AdaptiveMaxPool2D(BwCtx& ctx) {
  return {scatter_add_flat(ctx.g(), ctx.saved(0), ctx.in_shape(0))};
}

std::pair<Tensor, Tensor> adaptive_max_pool1d_with_indices(const Tensor& x,
                                                           int64_t output_size) {
  return squeezed(adaptive_max_impl(x, 1, {1, output_size}, "adaptive_max_pool1d"));
}

}  // namespace tapegrad

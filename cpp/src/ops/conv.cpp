// Convolution and padding. conv2d is one recorded primitive (Convolution) on 4-D tensors;
// conv1d, unbatched inputs and padding='same'/'valid' reshape or translate onto it. Its two
// gradients are ops themselves (convolution_backward_input/_weight), each linear in both of its
// inputs, whose own gradients are again convolutions: so create_graph through conv works and
// every derivative has one implementation (as relu_backward, mse_loss_backward).
// Kernels: Note [convolution as GEMM] in cpp/src/kernels/conv.cpp.
#include <algorithm>

#include "ops/common.h"

namespace tapegrad {

namespace {

// The geometry of the convolution an entry belongs to (the batch size n is re-read from the
// tensors at each call, so a rule may run on any batch).
struct ConvAttrs {
  k::ConvShape s;
};

std::string list_str(const std::vector<int64_t>& v) { return shape_str(v); }

[[noreturn]] void conv_error(const char* op, const std::string& msg) {
  throw std::runtime_error(std::string(op) + ": " + msg);
}

// A stride/padding/dilation argument: one value for every spatial dim, or one per dim.
std::vector<int64_t> per_dim(const std::vector<int64_t>& v, size_t nsp, const char* op,
                             const char* what) {
  if (v.size() == nsp) return v;
  if (v.size() == 1) return std::vector<int64_t>(nsp, v[0]);
  conv_error(op, std::string("expected ") + what + " to be a single integer value or a list of " +
                     std::to_string(nsp) + " values to match the convolution dimensions, but got " +
                     what + "=" + list_str(v));
}

void check_conv_dtypes(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  for (const Tensor* t : {&x, &w, &b}) {
    if (*t && !is_float((*t)->dtype()))
      throw TypeError(std::string(op) + ": expected floating-point input, weight and bias, got " +
                      dtype_name((*t)->dtype()) + " (shape " + shape_str((*t)->shape()) +
                      "); convert with .float() or .double()");
  }
  for (const Tensor* t : {&w, &b}) {
    if (*t && (*t)->dtype() != x->dtype())
      throw TypeError(std::string(op) + ": expected input and weight/bias of the same dtype, got " +
                      dtype_name(x->dtype()) + " input (shape " + shape_str(x->shape()) +
                      ") and " + dtype_name((*t)->dtype()) + " (shape " +
                      shape_str((*t)->shape()) + "); convert one with .to(dtype)");
  }
}

template <class F32, class F64>
void by_dtype(DType dt, F32&& f32, F64&& f64) {
  if (dt == DType::f32) f32();
  else f64();
}

int64_t conv_work(const k::ConvShape& s) {
  return s.n * s.c_out * s.oh * s.ow * (s.c_in / s.groups) * s.kh * s.kw;
}

Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, k::ConvShape s);
Tensor convolution_backward_input(const Tensor& gy, const Tensor& w, k::ConvShape s);
Tensor convolution_backward_weight(const Tensor& gy, const Tensor& x, k::ConvShape s);

// y = conv(x, w) + b on 4-D x (n, c_in, h, w), w (c_out, c_in/groups, kh, kw): one entry.
Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, k::ConvShape s) {
  s.n = x->shape()[0];
  Tensor y = empty({s.n, s.c_out, s.oh, s.ow}, x->dtype());
  {
    AllowThreads nogil(conv_work(s));  // Note [GIL]
    by_dtype(x->dtype(),
             [&] { k::conv2d_forward_f32(s, x->data<float>(), w->data<float>(),
                                         b ? b->data<float>() : nullptr, y->data<float>()); },
             [&] { k::conv2d_forward_f64(s, x->data<double>(), w->data<double>(),
                                         b ? b->data<double>() : nullptr, y->data<double>()); });
  }
  // x is read only by dW's rule and w only by dx's: each is saved when the other needs it.
  if (should_record({&x, &w, &b}))
    record(OpCode::Convolution, {&x, &w, &b}, {&y},
           save_for_backward(w->requires_grad() ? x : nullptr, x->requires_grad() ? w : nullptr),
           ConvAttrs{s});
  return y;
}

// dx = convᵀ(gy, w): the gradient of the input as an op of its own (linear in gy and in w).
Tensor convolution_backward_input(const Tensor& gy, const Tensor& w, k::ConvShape s) {
  s.n = gy->shape()[0];
  Tensor gx = empty({s.n, s.c_in, s.h, s.w}, gy->dtype());
  {
    AllowThreads nogil(conv_work(s));
    by_dtype(gy->dtype(),
             [&] { k::conv2d_backward_input_f32(s, gy->data<float>(), w->data<float>(),
                                                gx->data<float>()); },
             [&] { k::conv2d_backward_input_f64(s, gy->data<double>(), w->data<double>(),
                                                gx->data<double>()); });
  }
  if (should_record({&gy, &w}))
    record(OpCode::ConvolutionBackwardInput, {&gy, &w}, {&gx},
           save_for_backward(w->requires_grad() ? gy : nullptr,
                             gy->requires_grad() ? w : nullptr),
           ConvAttrs{s});
  return gx;
}

// dw = Σ_images gy ⋆ x: the gradient of the weight as an op (linear in gy and in x).
Tensor convolution_backward_weight(const Tensor& gy, const Tensor& x, k::ConvShape s) {
  s.n = x->shape()[0];
  Tensor gw = empty({s.c_out, s.c_in / s.groups, s.kh, s.kw}, x->dtype());
  {
    AllowThreads nogil(conv_work(s));
    by_dtype(x->dtype(),
             [&] { k::conv2d_backward_weight_f32(s, gy->data<float>(), x->data<float>(),
                                                 gw->data<float>()); },
             [&] { k::conv2d_backward_weight_f64(s, gy->data<double>(), x->data<double>(),
                                                 gw->data<double>()); });
  }
  if (should_record({&gy, &x}))
    record(OpCode::ConvolutionBackwardWeight, {&gy, &x}, {&gw},
           save_for_backward(x->requires_grad() ? gy : nullptr,
                             gy->requires_grad() ? x : nullptr),
           ConvAttrs{s});
  return gw;
}

// The gradient reaching a conv rule in the entry's dtype (the sweep hands it over so; a cast
// here only guards mixed-dtype create_graph chains).
Tensor grad_as(const Tensor& g, DType dt) { return g->dtype() == dt ? g : cast(g, dt); }

}  // namespace

// y = conv(x, w) + b  ⇒  dx += convᵀ(dy, w) ; dw += Σ_n dy ⋆ x ; db += Σ_{n,oy,ox} dy
Grads backward_Convolution(BwCtx& ctx) {
  const k::ConvShape& s = ctx.attrs<ConvAttrs>().s;
  const Tensor g = grad_as(ctx.g(), ctx.in_dtype(0));
  Tensor dx, dw, db;
  if (ctx.needs(0)) dx = convolution_backward_input(g, ctx.saved(1), s);
  if (ctx.needs(1)) dw = convolution_backward_weight(g, ctx.saved(0), s);
  if (ctx.needs(2)) db = sum(g, {0, 2, 3}, false);
  return {std::move(dx), std::move(dw), std::move(db)};
}

// dx = convᵀ(gy, w), bilinear: ⟨G, convᵀ(gy, w)⟩ = ⟨conv(G, w), gy⟩
//   ⇒  dgy += conv(G, w) ; dw += Σ_n gy ⋆ G   (G = the gradient of dx)
Grads backward_ConvolutionBackwardInput(BwCtx& ctx) {
  const k::ConvShape& s = ctx.attrs<ConvAttrs>().s;
  const Tensor G = grad_as(ctx.g(), ctx.in_dtype(0));
  Tensor dgy, dw;
  if (ctx.needs(0)) dgy = convolution(G, ctx.saved(1), Tensor(), s);
  if (ctx.needs(1)) dw = convolution_backward_weight(ctx.saved(0), G, s);
  return {std::move(dgy), std::move(dw)};
}

// dw = Σ_n gy ⋆ x, bilinear: ⟨H, Σ_n gy ⋆ x⟩ = ⟨conv(x, H), gy⟩
//   ⇒  dgy += conv(x, H) ; dx += convᵀ(gy, H)   (H = the gradient of dw)
Grads backward_ConvolutionBackwardWeight(BwCtx& ctx) {
  const k::ConvShape& s = ctx.attrs<ConvAttrs>().s;
  const Tensor H = grad_as(ctx.g(), ctx.in_dtype(1));
  Tensor dgy, dx;
  if (ctx.needs(0)) dgy = convolution(ctx.saved(1), H, Tensor(), s);
  if (ctx.needs(1)) dx = convolution_backward_input(ctx.saved(0), H, s);
  return {std::move(dgy), std::move(dx)};
}

// ---------------------------------------------------------------------------------------------
// conv1d / conv2d: PyTorch's argument rules and errors, then the 4-D primitive.
namespace {

Tensor conv_nd(const char* op, size_t nsp, const Tensor& x, const Tensor& w, const Tensor& b,
               const std::vector<int64_t>& stride_in, const ConvPadding& padding,
               const std::vector<int64_t>& dilation_in, int64_t groups) {
  check_defined(x, op);
  check_defined(w, op);
  const int64_t xd = x->dim();
  if (xd != int64_t(nsp) + 1 && xd != int64_t(nsp) + 2)
    conv_error(op, "expected " + std::to_string(nsp + 1) + "D (unbatched) or " +
                       std::to_string(nsp + 2) + "D (batched) input, but got input of size: " +
                       shape_str(x->shape()));
  if (w->dim() != int64_t(nsp) + 2)
    conv_error(op, "expected a " + std::to_string(nsp + 2) +
                       "-D weight (out_channels, in_channels/groups, kernel...), but got weight "
                       "of size " + shape_str(w->shape()));
  check_conv_dtypes(op, x, w, b);
  const std::vector<int64_t> stride = per_dim(stride_in, nsp, op, "stride");
  const std::vector<int64_t> dilation = per_dim(dilation_in, nsp, op, "dilation");
  for (int64_t v : stride)
    if (v <= 0) conv_error(op, "non-positive stride is not supported (stride=" + list_str(stride) + ")");
  for (int64_t v : dilation)
    if (v <= 0)
      conv_error(op, "non-positive dilation is not supported (dilation=" + list_str(dilation) + ")");
  if (groups <= 0)
    conv_error(op, "non-positive groups is not supported (groups=" + std::to_string(groups) + ")");
  const bool batched = xd == int64_t(nsp) + 2;
  const Shape& xs = x->shape();
  const Shape& ws = w->shape();
  const int64_t n = batched ? xs[0] : 1, c_in = xs[batched ? 1 : 0], c_out = ws[0];
  // Spatial sizes, innermost last: (h, w) for 2-D; (1, L) for 1-D.
  std::vector<int64_t> in(nsp), ker(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    in[d] = xs[size_t(xd) - nsp + d];
    ker[d] = ws[2 + d];
  }
  // padding: explicit per-dim sizes (before = after), or 'valid' (none) or 'same'
  // (PyTorch's split: total = dilation·(k − 1), the smaller half before, the rest after).
  std::vector<int64_t> before(nsp, 0), total(nsp, 0);
  if (!padding.name.empty()) {
    if (padding.name == "same") {
      for (int64_t v : stride)
        if (v != 1)
          throw ValueError(std::string(op) +
                           ": padding='same' is not supported for strided convolutions (stride=" +
                           list_str(stride) + ")");
      for (size_t d = 0; d < nsp; ++d) {
        total[d] = dilation[d] * (ker[d] - 1);
        before[d] = total[d] / 2;
      }
    } else if (padding.name != "valid") {
      throw ValueError(std::string(op) + ": invalid padding string '" + padding.name +
                       "', should be one of {'valid', 'same'}");
    }
  } else {
    const std::vector<int64_t> p = per_dim(padding.sizes, nsp, op, "padding");
    for (int64_t v : p)
      if (v < 0) conv_error(op, "negative padding is not supported (padding=" + list_str(p) + ")");
    for (size_t d = 0; d < nsp; ++d) {
      before[d] = p[d];
      total[d] = 2 * p[d];
    }
  }
  if (c_out % groups != 0)
    conv_error(op, "given groups=" + std::to_string(groups) + ", expected weight to be divisible by " +
                       std::to_string(groups) + " at dimension 0, but got weight of size " +
                       shape_str(ws) + " instead");
  if (c_in != ws[1] * groups)
    conv_error(op, "given groups=" + std::to_string(groups) + ", weight of size " + shape_str(ws) +
                       ", expected input" + shape_str(xs) + " to have " +
                       std::to_string(ws[1] * groups) + " channels, but got " +
                       std::to_string(c_in) + " channels instead");
  if (b && (b->dim() != 1 || b->shape()[0] != c_out))
    conv_error(op, "given weight of size " + shape_str(ws) +
                       ", expected bias to be 1-dimensional with " + std::to_string(c_out) +
                       " elements, but got bias of size " + shape_str(b->shape()) + " instead");
  std::vector<int64_t> out(nsp), padded(nsp), eff(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    padded[d] = in[d] + total[d];
    eff[d] = dilation[d] * (ker[d] - 1) + 1;
  }
  for (size_t d = 0; d < nsp; ++d) {
    if (padded[d] < eff[d]) {
      auto sizes = [](const std::vector<int64_t>& v) {
        std::string r = "(";
        for (size_t i = 0; i < v.size(); ++i) r += (i ? " x " : "") + std::to_string(v[i]);
        return r + ")";
      };
      conv_error(op, "calculated padded input size per channel: " + sizes(padded) +
                         ". Kernel size: " + sizes(eff) +
                         ". Kernel size can't be greater than actual input size (input " +
                         shape_str(xs) + ", weight " + shape_str(ws) + ")");
    }
    out[d] = (padded[d] - eff[d]) / stride[d] + 1;
  }
  // Height/width of the 4-D problem: 1-D runs as (1, L).
  auto sp = [&](const std::vector<int64_t>& v, int64_t one, size_t d) {
    return nsp == 2 ? v[d] : (d == 0 ? one : v[0]);
  };
  k::ConvShape s{};
  s.n = n;
  s.c_in = c_in;
  s.h = sp(in, 1, 0);
  s.w = sp(in, 1, 1);
  s.c_out = c_out;
  s.kh = sp(ker, 1, 0);
  s.kw = sp(ker, 1, 1);
  s.oh = sp(out, 1, 0);
  s.ow = sp(out, 1, 1);
  s.stride_h = sp(stride, 1, 0);
  s.stride_w = sp(stride, 1, 1);
  s.pad_h = sp(before, 0, 0);
  s.pad_w = sp(before, 0, 1);
  s.dil_h = sp(dilation, 1, 0);
  s.dil_w = sp(dilation, 1, 1);
  s.groups = groups;
  const bool as4d = batched && nsp == 2;
  const Tensor x4 = as4d ? x : reshape(x, {n, c_in, s.h, s.w});
  const Tensor w4 = nsp == 2 ? w : reshape(w, {c_out, ws[1], s.kh, s.kw});
  Tensor y = convolution(x4, w4, b, s);
  if (as4d) return y;
  Shape ys;
  if (batched) ys.push_back(n);
  ys.push_back(c_out);
  if (nsp == 2) ys.push_back(s.oh);
  ys.push_back(s.ow);
  return reshape(y, ys);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
              const ConvPadding& padding, const std::vector<int64_t>& dilation, int64_t groups) {
  return conv_nd("conv2d", 2, x, w, b, stride, padding, dilation, groups);
}
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
              const ConvPadding& padding, const std::vector<int64_t>& dilation, int64_t groups) {
  return conv_nd("conv1d", 1, x, w, b, stride, padding, dilation, groups);
}

// ---------------------------------------------------------------------------------------------
// F.pad. pads = (last_before, last_after, second_last_before, ...), as PyTorch; negative sizes
// crop.
namespace {

struct PadAttrs {
  std::vector<int64_t> pads;
};

// The padded shape, or a RuntimeError naming the shapes when a dim would become negative.
Shape padded_shape(const Tensor& x, const std::vector<int64_t>& pads, const char* op) {
  Shape out = x->shape();
  const size_t nd = out.size();
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    int64_t& d = out[nd - 1 - i];
    d += pads[2 * i] + pads[2 * i + 1];
    if (d < 0)
      conv_error(op, "the padding " + list_str(pads) + " gives dimension " +
                         std::to_string(nd - 1 - i) + " of input " + shape_str(x->shape()) +
                         " a negative size " + std::to_string(d));
  }
  return out;
}

}  // namespace

Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_defined(x, "pad");
  if (pads.size() % 2 != 0)
    conv_error("pad", "padding length must be divisible by 2, got " + list_str(pads));
  if (int64_t(pads.size() / 2) > x->dim())
    conv_error("pad", "padding length should be less than or equal to two times the input "
                      "dimension but got padding length " + std::to_string(pads.size()) +
                      " and input of dimension " + std::to_string(x->dim()) + " (shape " +
                      shape_str(x->shape()) + ")");
  const Shape out = padded_shape(x, pads, "pad");
  Tensor y = full(out, value, x->dtype());
  // The kept part of x lands at offset max(before, 0) in y, read from offset max(−before, 0).
  const size_t nd = out.size();
  Shape region = x->shape();
  int64_t xoff = 0, yoff = 0;
  const std::vector<int64_t> xst = contiguous_strides(x->shape()), yst = contiguous_strides(out);
  bool empty_region = false;
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const size_t d = nd - 1 - i;
    const int64_t lo = pads[2 * i], hi = pads[2 * i + 1];
    region[d] = x->shape()[d] + std::min<int64_t>(lo, 0) + std::min<int64_t>(hi, 0);
    if (region[d] <= 0) empty_region = true;
    xoff += std::max<int64_t>(-lo, 0) * xst[d];
    yoff += std::max<int64_t>(lo, 0) * yst[d];
  }
  if (!empty_region && shape_numel(region) > 0) {
    const size_t es = itemsize(x->dtype());
    k::copy_strided(es, int(nd), region.data(), static_cast<const char*>(x->raw()) + xoff * es,
                    xst.data(), static_cast<char*>(y->raw()) + yoff * es, yst.data());
  }
  if (should_record({&x})) record(OpCode::ConstantPadNd, {&x}, {&y}, {}, PadAttrs{pads});
  return y;
}
// y = pad(x, p, value)  ⇒  dx += pad(dy, −p, 0)   (the kept window of dy; cropped parts get 0)
Grads backward_ConstantPadNd(BwCtx& ctx) {
  std::vector<int64_t> neg = ctx.attrs<PadAttrs>().pads;
  for (int64_t& v : neg) v = -v;
  return {constant_pad(ctx.g(), neg, 0.0)};
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode,
           std::optional<double> value) {
  check_defined(x, "pad");
  if (mode == "constant") return constant_pad(x, pads, value.value_or(0.0));
  if (mode != "reflect" && mode != "replicate" && mode != "circular")
    throw NotImplementedError("pad: unrecognised padding mode '" + mode +
                     "' (expected 'constant', 'reflect', 'replicate' or 'circular')");
  if (value)
    conv_error("pad", "padding mode \"" + mode + "\" doesn't take in value argument");
  const int64_t npad = int64_t(pads.size() / 2), nd = x->dim();
  if (pads.size() % 2 != 0)
    conv_error("pad", "padding length must be divisible by 2, got " + list_str(pads));
  if (npad < 1 || npad > 2 || (nd != npad + 1 && nd != npad + 2))
    throw NotImplementedError("pad: mode '" + mode + "' pads the last 1 or 2 dims of a 2-D/3-D or 3-D/4-D "
                     "input (padding length 2 or 4), got padding " + list_str(pads) +
                     " for input of shape " + shape_str(x->shape()));
  // One gather per padded dim: output position i reads input position src(i − before).
  Tensor y = x;
  for (int64_t i = 0; i < npad; ++i) {
    const int64_t d = nd - 1 - i, lo = pads[size_t(2 * i)], hi = pads[size_t(2 * i + 1)];
    const int64_t len = y->shape()[size_t(d)];
    // circular wraps around the kept (cropped) part; reflect and replicate index the input.
    const int64_t keep_lo = std::max<int64_t>(-lo, 0),
                  kept = len + std::min<int64_t>(lo, 0) + std::min<int64_t>(hi, 0);
    const bool ok = mode == "circular" ? (kept > 0 && lo <= kept && hi <= kept)
                    : mode == "reflect" ? (lo < len && hi < len)
                                        : len > 0;
    if (!ok)
      conv_error("pad", "padding (" + std::to_string(lo) + ", " + std::to_string(hi) +
                            ") at dimension " + std::to_string(d) + " of input " +
                            shape_str(x->shape()) + " is too large for mode '" + mode +
                            "' (reflect needs padding < size, circular padding <= the kept size)");
    Shape out = y->shape();
    out[size_t(d)] = len + lo + hi;
    if (out[size_t(d)] < 0)
      conv_error("pad", "the padding " + list_str(pads) + " gives input " +
                            shape_str(x->shape()) + " a negative size");
    const std::vector<int64_t> st = contiguous_strides(y->shape());
    Tensor lookup = empty({out[size_t(d)]}, DType::i64);
    int64_t* lk = lookup->data<int64_t>();
    for (int64_t o = 0; o < out[size_t(d)]; ++o) {  // index bookkeeping, not numerics
      int64_t j = o - lo;
      if (mode == "reflect") j = j < 0 ? -j : (j >= len ? 2 * (len - 1) - j : j);
      else if (mode == "replicate") j = std::clamp<int64_t>(j, 0, len - 1);
      else j = keep_lo + ((o - std::max<int64_t>(lo, 0)) % kept + kept) % kept;
      lk[o] = j * st[size_t(d)];
    }
    Tensor off = empty(out, DType::i64);
    k::index_offsets(int(out.size()), out.data(), st.data(), int(d), lk, 0,
                     off->data<int64_t>());
    y = gather_flat(y, off, out);
  }
  return y;
}

}  // namespace tapegrad

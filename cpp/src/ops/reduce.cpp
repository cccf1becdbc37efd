// Reductions (sum, mean, amax/amin, max/min with indices, argmax/argmin), logsumexp and the
// fused softmax family, plus sum_to — the one place that undoes broadcasting.
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/common.h"

namespace tapegrad {

namespace {

// sum, amax, amin, logsumexp: the normalised, sorted dims reduced, and whether they were kept.
// nan_ties: max()/min() of the whole tensor, whose gradient treats NaNs as equal (below).
struct ReduceAttrs {
  std::vector<int64_t> dims;
  bool keepdim;
  bool nan_ties = false;
};

// softmax, log_softmax: the normalised dim (0 for a 0-d input).
struct SoftmaxAttrs {
  int64_t dim;
};

Shape kept_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}

Shape dropped_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    bool reduced = false;
    for (int64_t d : dims) reduced = reduced || d == i;
    if (!reduced) out.push_back(s[i]);
  }
  return out;
}

// (outer, r, inner) split of a contiguous shape around dims [d0, d1].
void split3(const Shape& s, int64_t d0, int64_t d1, int64_t& outer, int64_t& r, int64_t& inner) {
  outer = r = inner = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i < d0) outer *= s[i];
    else if (i <= d1) r *= s[i];
    else inner *= s[i];
  }
}

// Reduce values over sorted dims; result has the keepdim shape. Consecutive dims are merged
// into one kernel call; separate runs are reduced one after the other (last first).
Tensor reduce_keep(k::Reduce op, const Tensor& x, const std::vector<int64_t>& dims, DType dt) {
  Tensor cur = x->dtype() == dt ? x : convert(x, dt);
  if (dims.empty()) return cur == x ? clone_data(x) : cur;
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int64_t d : dims) {
    if (!runs.empty() && runs.back().second == d - 1) runs.back().second = d;
    else runs.push_back({d, d});
  }
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    int64_t outer, r, inner;
    split3(cur->shape(), it->first, it->second, outer, r, inner);
    Shape ns = cur->shape();
    for (int64_t d = it->first; d <= it->second; ++d) ns[d] = 1;
    Tensor out = empty(ns, dt);
    {
      AllowThreads nogil(cur->numel());  // Note [GIL]
      switch (dt) {
        case DType::f32: k::reduce_f32(op, outer, r, inner, cur->data<float>(), out->data<float>()); break;
        case DType::f64: k::reduce_f64(op, outer, r, inner, cur->data<double>(), out->data<double>()); break;
        case DType::i64: k::reduce_i64(op, outer, r, inner, cur->data<int64_t>(), out->data<int64_t>()); break;
        default: throw std::runtime_error("internal: reduce on bool");
      }
    }
    cur = out;
  }
  return cur;
}

// The sum of every element of a contiguous float x, shaped as sum(x, all dims, keepdim):
// reduce_keep's one kernel call for a single run over all dims (outer = inner = 1), without
// the run list, the kept shape and the view finish_shape would make of it.
// The sum of every element of a contiguous float x into a one-element tensor of `shape`.
Tensor sum_all_as(const Tensor& x, const Shape& shape) {
  Tensor y = empty(shape, x->dtype());
  AllowThreads nogil(x->numel());  // Note [GIL]
  if (x->dtype() == DType::f32)
    k::reduce_f32(k::Reduce::sum, 1, x->numel(), 1, x->data<float>(), y->data<float>());
  else
    k::reduce_f64(k::Reduce::sum, 1, x->numel(), 1, x->data<double>(), y->data<double>());
  return y;
}
Tensor full_sum(const Tensor& x, bool keepdim) {
  return sum_all_as(x, keepdim ? Shape(x->shape().size(), 1) : Shape{});
}
bool is_full_float_sum(const Tensor& x, const std::vector<int64_t>& dims) {
  return x->dim() > 0 && static_cast<int64_t>(dims.size()) == x->dim() &&
         is_float(x->dtype()) && x->is_contiguous();
}

Tensor finish_shape(const Tensor& kept, const Shape& in, const std::vector<int64_t>& dims,
                    bool keepdim) {
  if (keepdim) return kept;
  return make_view(kept, dropped_shape(in, dims), false);
}

void check_nonempty(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  for (int64_t d : dims)
    if (x->shape()[d] == 0)
      throw ValueError(std::string(op) + ": cannot reduce over the zero-size dimension " +
                       std::to_string(d) + " of a tensor of shape " + shape_str(x->shape()) +
                       " (the operation has no identity)");
  if (x->numel() == 0 && dims.empty() && x->dim() == 0)
    throw ValueError(std::string(op) + ": empty tensor");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "sum");
  if (is_small(x->dtype())) [[unlikely]] {
    // Integers sum to int64 (as PyTorch); float16 sums in float32 and rounds once
    // (Note [storage dtypes] in cpp/src/tensor.cpp).
    if (should_record({&x})) throw_storage_dtype("sum (autograd)", x->dtype());
    return as_dtype(sum(convert(x, wide(x->dtype())), dims_in, keepdim),
                    x->dtype() == DType::f16 ? DType::f16 : DType::i64);
  }
  const std::vector<int64_t> dims = norm_dims(dims_in, x->shape(), "sum");
  const DType dt = is_float(x->dtype()) ? x->dtype() : DType::i64;
  Tensor y = is_full_float_sum(x, dims)
                 ? full_sum(x, keepdim)
                 : finish_shape(reduce_keep(k::Reduce::sum, x, dims, dt), x->shape(), dims, keepdim);
  if (should_record({&x})) record(OpCode::Sum, {&x}, {&y}, {}, ReduceAttrs{dims, keepdim});
  return y;
}
// y = Σ_dims x  ⇒  dx += expand(dy)
Grads backward_Sum(BwCtx& ctx) {
  const ReduceAttrs& at = ctx.attrs<ReduceAttrs>();
  const Shape& in = ctx.in_shape(0);
  Tensor g = ctx.g();
  if (!at.keepdim) g = reshape(g, kept_shape(in, at.dims));
  return {expand(g, in)};
}

namespace {
// The quotient q = v / n of every element v of x by the division kernel `div(x,
// scalar_tensor(n))` runs — the divisor converted to x's dtype as scalar_tensor stores it, x
// read with stride 1 and the divisor with stride 0 — written to y (x itself, in place, or
// another buffer of x's size). The same quotients to the bit, without the 0-d operand and
// the result tensor. Float x, contiguous.
void divide_by_count(const Tensor& x, int64_t count, void* y) {
  const int64_t n = x->numel();
  if (n == 0) return;
  alignas(8) unsigned char c[8];
  store_scalar(x->dtype(), static_cast<double>(count), c, "mean", /*float_range=*/false);
  AllowThreads nogil(n);  // Note [GIL]
  if (x->dtype() == DType::f32) {
    float cv;
    std::memcpy(&cv, c, sizeof cv);
    k::binary_f32(k::Binary::div, n, x->data<float>(), 1, &cv, 0, static_cast<float*>(y));
  } else {
    double cv;
    std::memcpy(&cv, c, sizeof cv);
    k::binary_f64(k::Binary::div, n, x->data<double>(), 1, &cv, 0, static_cast<double*>(y));
  }
}
}  // namespace

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "mean");
  if (x->dtype() == DType::f16) [[unlikely]] {
    if (should_record({&x})) throw_storage_dtype("mean (autograd)", x->dtype());
    return convert(mean(convert(x, DType::f32), dims_in, keepdim), DType::f16);
  }
  if (!is_float(x->dtype()))
    throw TypeError(std::string("mean: could not infer output dtype; the input must be a "
                                "floating-point tensor, got ") + dtype_name(x->dtype()) +
                    " of shape " + shape_str(x->shape()) + " (use .float() first)");
  const std::vector<int64_t> dims = norm_dims(dims_in, x->shape(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x->shape()[d];
  Tensor y;
  {
    GradModeGuard values_only(false);  // the sum, then the division: one recorded entry
    y = is_full_float_sum(x, dims) ? full_sum(x, keepdim) : sum(x, dims, keepdim);
    // The sum is a fresh tensor nobody else holds: divided in place, by div's kernel.
    if (y != x && y->storage() != x->storage() && y->is_contiguous())
      divide_by_count(y, count, y->raw());
    else
      y = div(y, scalar_tensor(static_cast<double>(count), x->dtype()));
  }
  if (should_record({&x})) record(OpCode::Mean, {&x}, {&y}, {}, ReduceAttrs{dims, keepdim});
  return y;
}
// y = Σ_dims x / n  ⇒  dx += expand(dy / n)  (the division first, as the sum-then-divide
// composite's two nodes ran it: the same values to the bit)
Grads backward_Mean(BwCtx& ctx) {
  const ReduceAttrs& at = ctx.attrs<ReduceAttrs>();
  const Shape& in = ctx.in_shape(0);
  int64_t count = 1;
  for (int64_t d : at.dims) count *= in[static_cast<size_t>(d)];
  const Tensor& dy = ctx.g();
  if (!ctx.create_graph && dy->numel() == 1 && dy->is_contiguous() && is_float(dy->dtype())) {
    // A full reduction's gradient: every element is dy / n. The quotient by div's kernel,
    // copied over the input's shape as expand's copy would: the same bits, one tensor.
    alignas(8) unsigned char q[8];
    divide_by_count(dy, count, q);
    Tensor g = empty(in, dy->dtype());
    k::fill_value(itemsize(dy->dtype()), g->numel(), q, g->raw());
    return {g};
  }
  Tensor g = div(dy, scalar_tensor(static_cast<double>(count), dy->dtype()));
  if (!at.keepdim) g = reshape(g, kept_shape(in, at.dims));
  return {expand(g, in)};
}

// ---------------------------------------------------------------------------------------------
namespace {
Tensor amax_amin(OpCode op, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim,
                 bool nan_ties = false) {
  const char* name = op_name(op);
  check_defined(x, name);
  if (is_small(x->dtype())) [[unlikely]] {  // exact on the compute dtype, cast back
    if (should_record({&x})) throw_storage_dtype(name, x->dtype());
    return convert(amax_amin(op, convert(x, wide(x->dtype())), dims_in, keepdim, nan_ties),
                   x->dtype());
  }
  if (x->dtype() == DType::b8) throw TypeError(std::string(name) + ": not supported for bool tensors");
  const std::vector<int64_t> dims = norm_dims(dims_in, x->shape(), name);
  check_nonempty(x, dims, name);
  if (x->numel() == 0 && dims.empty())
    throw ValueError(std::string(name) + ": cannot reduce an empty tensor");
  const k::Reduce rop = op == OpCode::Amax ? k::Reduce::max : k::Reduce::min;
  Tensor y = finish_shape(reduce_keep(rop, x, dims, x->dtype()), x->shape(), dims, keepdim);
  // Both the input and the result: the gradient goes to the elements equal to the result.
  if (should_record({&x}))
    record(op, {&x}, {&y}, save_for_backward(x, detach(y)), ReduceAttrs{dims, keepdim, nan_ties});
  return y;
}

// y = max_dims x  ⇒  dx += dy·[x = y] / #{x = y}   (ties share the gradient evenly)
// A NaN maximum equals nothing, so amax/amin give NaN to the whole slice (0/0), as PyTorch's
// amax; PyTorch's max()/min() of the whole tensor instead count the NaNs as the ties
// ([x = y] or both NaN), and so does nan_ties.
Grads amax_amin_backward(BwCtx& ctx) {
  const ReduceAttrs& at = ctx.attrs<ReduceAttrs>();
  const Tensor& x = ctx.saved(0);
  Tensor y = ctx.saved(1);
  Tensor g = ctx.g();
  const Shape keep = kept_shape(x->shape(), at.dims);
  if (!at.keepdim) {
    y = reshape(y, keep);
    g = reshape(g, keep);
  }
  Tensor eq = compare(CmpOp::eq, x, y);
  if (at.nan_ties) eq = logical_or(eq, logical_and(isnan(x), isnan(y)));
  Tensor mask = cast(eq, g->dtype());
  Tensor count = sum(mask, at.dims, true);
  return {div(mul(g, mask), count)};
}
}  // namespace

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return amax_amin(OpCode::Amax, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return amax_amin(OpCode::Amin, x, dims, keepdim);
}
// y = max_dims x  ⇒  the rule above
Grads backward_Amax(BwCtx& ctx) { return amax_amin_backward(ctx); }
// y = min_dims x  ⇒  the same rule: [x = y] marks the minima
Grads backward_Amin(BwCtx& ctx) { return amax_amin_backward(ctx); }

// ---------------------------------------------------------------------------------------------
namespace {
Tensor arg_reduce(k::Reduce op, const Tensor& x, std::optional<int64_t> dim, bool keepdim,
                  const char* name) {
  check_defined(x, name);
  if (is_small(x->dtype())) [[unlikely]]  // the same order on the compute dtype
    return arg_reduce(op, convert(x, wide(x->dtype())), dim, keepdim, name);
  if (x->dtype() == DType::b8) throw TypeError(std::string(name) + ": not supported for bool tensors");
  Tensor src = x;
  int64_t outer = 1, r = x->numel(), inner = 1;
  Shape out;
  if (dim) {
    const int64_t d = norm_dim(*dim, x->dim(), name, x->shape());
    if (x->dim() > 0) {
      split3(x->shape(), d, d, outer, r, inner);
      out = kept_shape(x->shape(), {d});
      if (!keepdim) out = dropped_shape(x->shape(), {d});
    }
  } else if (keepdim) {
    out = Shape(x->shape().size(), 1);
  }
  if (r == 0)
    throw ValueError(std::string(name) + ": cannot take the " + name +
                     " of an empty dimension (tensor shape " + shape_str(x->shape()) + ")");
  Tensor idx = empty(out, DType::i64);
  switch (x->dtype()) {
    case DType::f32: k::argreduce_f32(op, outer, r, inner, x->data<float>(), idx->data<int64_t>()); break;
    case DType::f64: k::argreduce_f64(op, outer, r, inner, x->data<double>(), idx->data<int64_t>()); break;
    case DType::i64: k::argreduce_i64(op, outer, r, inner, x->data<int64_t>(), idx->data<int64_t>()); break;
    default: throw_storage_dtype(name, x->dtype());
  }
  return idx;
}

std::pair<Tensor, Tensor> value_index(k::Reduce op, const Tensor& x, int64_t dim, bool keepdim,
                                      const char* name) {
  check_defined(x, name);
  const int64_t d = norm_dim(dim, x->dim(), name, x->shape());
  Tensor idx = arg_reduce(op, x, dim, keepdim, name);
  // values = x at the chosen indices: a differentiable flat gather.
  int64_t outer = 1, r = 1, inner = 1;
  if (x->dim() > 0) split3(x->shape(), d, d, outer, r, inner);
  Tensor offsets = empty(idx->shape(), DType::i64);
  k::arg_offsets(outer, r, inner, idx->data<int64_t>(), offsets->data<int64_t>());
  return {gather_flat(x, offsets, idx->shape()), idx};
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(k::Reduce::max, x, dim, keepdim, "argmax");
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(k::Reduce::min, x, dim, keepdim, "argmin");
}
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return value_index(k::Reduce::max, x, dim, keepdim, "max");
}
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return value_index(k::Reduce::min, x, dim, keepdim, "min");
}

// ---------------------------------------------------------------------------------------------
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "logsumexp");
  require_float(x, "logsumexp");
  const std::vector<int64_t> dims = norm_dims(dims_in, x->shape(), "logsumexp");
  const bool consecutive = dims.empty() || dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (!consecutive) {
    // Separate runs of dims: the stable composite (max shift treated as a constant).
    Tensor m;
    {
      GradModeGuard off(false);
      m = amax(detach(x), dims, true);
      m = where(isinf(m), scalar_tensor(0.0, x->dtype()), m);
    }
    Tensor r = add(log(sum(exp(sub(x, m)), dims, true)), m);
    return keepdim ? r : reshape(r, dropped_shape(x->shape(), dims));
  }
  Tensor y;
  if (dims.empty()) {
    y = clone_data(x);
  } else {
    int64_t outer, r, inner;
    split3(x->shape(), dims.front(), dims.back(), outer, r, inner);
    Tensor kept = empty(kept_shape(x->shape(), dims), x->dtype());
    if (x->dtype() == DType::f32) k::logsumexp_f32(outer, r, inner, x->data<float>(), kept->data<float>());
    else k::logsumexp_f64(outer, r, inner, x->data<double>(), kept->data<double>());
    if (r == 0) fill_raw(kept, -std::numeric_limits<double>::infinity());
    y = finish_shape(kept, x->shape(), dims, keepdim);
  }
  if (should_record({&x}))
    record(OpCode::Logsumexp, {&x}, {&y}, save_for_backward(x, detach(y)),
           ReduceAttrs{dims, keepdim});
  return y;
}
// y = log Σ exp x  ⇒  dx += dy·exp(x − y)   (= dy·softmax x)
Grads backward_Logsumexp(BwCtx& ctx) {
  const ReduceAttrs& at = ctx.attrs<ReduceAttrs>();
  const Tensor& x = ctx.saved(0);
  Tensor y = result_for_backward(ctx, 1, 0);
  Tensor g = ctx.g();
  if (!at.keepdim) {
    const Shape keep = kept_shape(x->shape(), at.dims);
    y = reshape(y, keep);
    g = reshape(g, keep);
  }
  return {mul(g, exp(sub(x, y)))};
}

namespace {
Tensor softmax_family(OpCode op, const Tensor& x, int64_t dim) {
  const char* name = op_name(op);
  check_defined(x, name);
  require_float(x, name);
  const int64_t d = norm_dim(dim, x->dim(), name, x->shape());
  int64_t outer = 1, r = 1, inner = 1;
  if (x->dim() > 0) split3(x->shape(), d, d, outer, r, inner);
  Tensor y = empty(x->shape(), x->dtype());
  if (op == OpCode::Softmax) {
    if (x->dtype() == DType::f32) k::softmax_f32(outer, r, inner, x->data<float>(), y->data<float>());
    else k::softmax_f64(outer, r, inner, x->data<double>(), y->data<double>());
  } else {
    if (x->dtype() == DType::f32) k::log_softmax_f32(outer, r, inner, x->data<float>(), y->data<float>());
    else k::log_softmax_f64(outer, r, inner, x->data<double>(), y->data<double>());
  }
  // Only the result: both gradients are written in terms of y.
  if (should_record({&x}))
    record(op, {&x}, {&y}, save_for_backward(detach(y)), SoftmaxAttrs{x->dim() > 0 ? d : 0});
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_family(OpCode::Softmax, x, dim); }
// y = softmax x  ⇒  dx += y·(dy − Σ_dim dy·y)
Grads backward_Softmax(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  Tensor gy = mul(ctx.g(), y);
  if (y->dim() == 0) return {sub(gy, mul(gy, y))};
  return {sub(gy, mul(y, sum(gy, {ctx.attrs<SoftmaxAttrs>().dim}, true)))};
}

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_family(OpCode::LogSoftmax, x, dim); }
// y = log_softmax x  ⇒  dx += dy − exp(y)·Σ_dim dy
Grads backward_LogSoftmax(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  if (y->dim() == 0) return {sub(ctx.g(), mul(exp(y), ctx.g()))};
  return {sub(ctx.g(), mul(exp(y), sum(ctx.g(), {ctx.attrs<SoftmaxAttrs>().dim}, true)))};
}

// ---------------------------------------------------------------------------------------------
Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (same_shape(g->shape(), shape)) return g;
  // A broadcast scalar parameter (a bias of shape [1], a 0-d scale) takes the sum of the whole
  // gradient: one reduction over every element into a tensor of its shape, the same kernel
  // call reduce_keep makes (all dims form one run), without building the dims, the kept
  // shape and the reshape. Not when the sum is recorded (create_graph).
  if (shape_numel(shape) == 1 && g->numel() > 0 && is_float(g->dtype()) &&
      static_cast<int64_t>(shape.size()) <= g->dim() && !should_record({&g}))
    return sum_all_as(g, shape);
  const int64_t lead = g->dim() - static_cast<int64_t>(shape.size());
  if (lead < 0)
    throw std::runtime_error("internal: sum_to from " + shape_str(g->shape()) + " to " + shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && g->shape()[lead + i] != 1) dims.push_back(lead + static_cast<int64_t>(i));
  Tensor r = dims.empty() ? g : sum(g, dims, true);
  return same_shape(r->shape(), shape) ? r : reshape(r, shape);
}

// ----- the Python surface's reductions with dtype=, max()/min() and all/any -----
// dtype= converts the input first, as PyTorch's (sum(dtype=int64) of 0.6 + 0.7 is 0, and a
// float32 input with dtype=float64 is summed in float64).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
           std::optional<DType> dtype) {
  if (!dtype) return sum(x, dims, keepdim);
  Tensor r = sum(cast(x, *dtype), dims, keepdim);  // bool and int sums accumulate in int64
  return r->dtype() == *dtype ? r : cast(r, *dtype);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
            std::optional<DType> dtype) {
  return mean(dtype ? cast(x, *dtype) : x, dims, keepdim);
}

Tensor max(const Tensor& x) { return amax_amin(OpCode::Amax, x, {}, false, /*nan_ties=*/true); }
Tensor min(const Tensor& x) { return amax_amin(OpCode::Amin, x, {}, false, /*nan_ties=*/true); }

// all: no zero along dims ⇔ Σ [x == 0] == 0; any: Σ [x ≠ 0] > 0 (counted in int64).
// A uint8 input gives a uint8 result, as PyTorch keeps for all/any of uint8 (its old mask type).
Tensor all(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const Tensor zeros = sum(cast(logical_not(cast(x, DType::b8)), DType::i64), dims, keepdim);
  const Tensor r = compare(CmpOp::eq, zeros, scalar_tensor(0, DType::i64));
  return x->dtype() == DType::u8 ? convert(r, DType::u8) : r;
}

Tensor any(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const Tensor nonzeros = sum(cast(cast(x, DType::b8), DType::i64), dims, keepdim);
  const Tensor r = compare(CmpOp::gt, nonzeros, scalar_tensor(0, DType::i64));
  return x->dtype() == DType::u8 ? convert(r, DType::u8) : r;
}

}  // namespace tapegrad

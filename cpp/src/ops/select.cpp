// Selection, casts and logic: where, clamp, cast, clone, comparisons, logical ops, isnan/isinf,
// ~x, and normal samples from tensor parameters. Forward and backward side by side.
#include "ops/common.h"

namespace tapegrad {

// ---------------------------------------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where");
  check_defined(a, "where");
  check_defined(b, "where");
  if (cond->dtype() != DType::b8)
    throw TypeError("where: the condition must be a bool tensor, got dtype " +
                    std::string(dtype_name(cond->dtype())) + " (shape " +
                    shape_str(cond->shape()) + "); compare first, e.g. x > 0");
  const Shape out = broadcast_shapes(broadcast_shapes(cond->shape(), a->shape(), "where"),
                                     b->shape(), "where");
  if (is_small(a->dtype()) || is_small(b->dtype())) [[unlikely]] {
    // Selection on the compute dtype, cast back (Note [storage dtypes] in cpp/src/tensor.cpp).
    const DType r = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
    if (should_record({&a, &b})) throw_storage_dtype("where", r);
    return as_dtype(where(cond, as_dtype(as_dtype(a, r), wide(r)), as_dtype(as_dtype(b, r), wide(r))), r);
  }
  const DType dt = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
  Tensor A = as_dtype(a, dt), B = as_dtype(b, dt);
  Tensor y = empty(out, dt);
  const auto sc = bcast_strides(cond->shape(), out), sa = bcast_strides(A->shape(), out),
             sb = bcast_strides(B->shape(), out);
  k::where(elem(dt), static_cast<int>(out.size()), out.data(), cond->data<uint8_t>(), sc.data(),
           A->raw(), sa.data(), B->raw(), sb.data(), y->raw());
  if (should_record({&a, &b}))
    record(OpCode::Where, {&cond, &a, &b}, {&y}, save_for_backward(cond));
  return y;
}
// y = cond ? a : b  ⇒  da += cond ? dy : 0 ; db += cond ? 0 : dy
Grads backward_Where(BwCtx& ctx) {
  const Tensor& cond = ctx.saved(0);
  Tensor zero = scalar_tensor(0.0, ctx.g()->dtype());
  Tensor da, db;
  if (ctx.needs(1)) da = where(cond, ctx.g(), zero);
  if (ctx.needs(2)) db = where(cond, zero, ctx.g());
  return {nullptr, std::move(da), std::move(db)};
}

namespace {
// clamp's bounds; an absent bound does not clip.
struct ClampAttrs {
  std::optional<double> lo, hi;
};
}  // namespace

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  check_defined(x, "clamp");
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  if (x->dtype() == DType::b8) throw TypeError("clamp: not supported for bool tensors");
  Tensor y = empty(x->shape(), x->dtype());
  // NaN stays NaN; hi wins when lo > hi (as PyTorch).
  k::clamp(elem(x->dtype()), y->numel(), x->raw(), lo.has_value(), lo.value_or(0),
           hi.has_value(), hi.value_or(0), y->raw());
  if (should_record({&x}))
    record(OpCode::Clamp, {&x}, {&y}, save_for_backward(x), ClampAttrs{lo, hi});
  return y;
}
Tensor clamp_scalars(const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  check_defined(x, "clamp");
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  DType dt = x->dtype();
  for (const auto* b : {&lo, &hi})
    if (*b) dt = scalar_result_dtype(dt, !(*b)->is_integral());
  if (is_small(dt)) [[unlikely]] {
    // On the compute dtype, cast back (Note [storage dtypes]); integer bounds wrap into the
    // tensor's dtype first, as PyTorch's (clamp(uint8, -5, 9) clamps to [251, 9]).
    auto wrap = [&](const std::optional<Scalar>& b) -> std::optional<Scalar> {
      if (!b || dt == DType::f16) return b;
      return Scalar(static_cast<int64_t>(scalar_tensor(*b, dt)->item_as_double()));
    };
    return as_dtype(clamp_scalars(convert(x, wide(dt)), wrap(lo), wrap(hi)), dt);
  }
  if (is_float(dt)) {
    auto as_double = [](const std::optional<Scalar>& b) {
      return b ? std::optional<double>(b->to_double()) : std::nullopt;
    };
    return clamp(as_dtype(x, dt), as_double(lo), as_double(hi));
  }
  // int64 (an int64 x, or a bool x promoted by int bounds): min(max(x, lo), hi) on exact
  // int64 scalars (hi wins when lo > hi, as above); integers carry no gradient.
  Tensor y = as_dtype(x, DType::i64);
  if (lo) y = maximum(y, scalar_tensor(*lo, DType::i64));
  if (hi) y = minimum(y, scalar_tensor(*hi, DType::i64));
  return y;
}

// Note [clamp with tensor bounds]
// The value is PyTorch's min(max(x, lo), hi) (NaN in x or a bound gives NaN; hi wins when
// lo > hi), made without a record; where() then hands each element's value and gradient to
// the input it came from, as PyTorch's ClampBackward does: x where lo ≤ x ≤ hi, lo where
// x < lo < hi, hi where x > hi or hi < lo. Elsewhere (a NaN, or x < lo = hi) the value is the
// unrecorded one: no gradient, as PyTorch's. The selected values equal the computed ones,
// so the result is min(max(x, lo), hi) to the bit; its dtype is PyTorch's promotion (a 0-d
// bound promotes only from a higher category).
Tensor clamp_tensors(const Tensor& x, const Tensor& lo, const Tensor& hi) {
  check_defined(x, "clamp");
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  if (x->dtype() == DType::b8) throw TypeError("clamp: not supported for bool tensors");
  Tensor v, keep_x, take_lo, take_hi;
  {
    GradModeGuard off(false);
    v = x;
    if (lo) v = maximum(v, lo);
    if (hi) v = minimum(v, hi);
    if (lo && hi) {
      keep_x = logical_and(compare(CmpOp::ge, x, lo), compare(CmpOp::le, x, hi));
      take_lo = logical_and(compare(CmpOp::lt, x, lo), compare(CmpOp::lt, lo, hi));
      take_hi = logical_or(compare(CmpOp::gt, x, hi), compare(CmpOp::lt, hi, lo));
    } else if (lo) {
      keep_x = compare(CmpOp::ge, x, lo);
      take_lo = compare(CmpOp::lt, x, lo);
    } else {
      keep_x = compare(CmpOp::le, x, hi);
      take_hi = compare(CmpOp::gt, x, hi);
    }
  }
  if (!should_record({&x, &lo, &hi})) return v;
  Tensor y = v;
  if (take_hi) y = where(take_hi, cast(hi, v->dtype()), y);
  if (take_lo) y = where(take_lo, cast(lo, v->dtype()), y);
  return where(keep_x, cast(x, v->dtype()), y);
}

// y = clamp(x, lo, hi)  ⇒  dx += dy·[lo ≤ x ≤ hi]
Grads backward_Clamp(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const ClampAttrs& at = ctx.attrs<ClampAttrs>();
  Tensor mask = full(x->shape(), 1.0, DType::b8);
  if (at.lo) mask = logical_and(mask, compare(CmpOp::ge, x, scalar_tensor(*at.lo, x->dtype())));
  if (at.hi) mask = logical_and(mask, compare(CmpOp::le, x, scalar_tensor(*at.hi, x->dtype())));
  return {mul(ctx.g(), cast(mask, ctx.g()->dtype()))};
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined(x, "to");
  if (x->dtype() == dtype) return x;
  Tensor y = convert(x, dtype);
  if (dtype == DType::f16 && should_record({&x})) throw_storage_dtype("to (autograd)", dtype);
  if (is_float(dtype) && should_record({&x})) record(OpCode::Cast, {&x}, {&y});
  return y;
}
// y = x.to(T)  ⇒  dx += dy.to(x's dtype)
Grads backward_Cast(BwCtx& ctx) { return {cast(ctx.g(), ctx.in_dtype(0))}; }

Tensor clone(const Tensor& x) {
  check_defined(x, "clone");
  Tensor y = clone_data(x);
  if (should_record({&x})) record(OpCode::Clone, {&x}, {&y});
  return y;
}
// y = x (copied)  ⇒  dx += dy
Grads backward_Clone(BwCtx& ctx) { return {ctx.g()}; }

// ---------------------------------------------------------------------------------------------
// Comparisons and logic: bool results, never recorded.
Tensor compare(CmpOp op, const Tensor& a, const Tensor& b) {
  static const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  const char* name = names[static_cast<int>(op)];
  check_defined(a, name);
  check_defined(b, name);
  const Shape out = broadcast_shapes(a->shape(), b->shape(), name);
  if (is_small(a->dtype()) || is_small(b->dtype())) [[unlikely]] {
    // Operands cast to PyTorch's common dtype (an integer operand wraps into it: int8 < 200
    // compares with −56; a float16 comparison rounds its scalar to float16, as PyTorch),
    // compared on its compute dtype (Note [storage dtypes]).
    const DType r = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
    auto operand = [&](const Tensor& t) {
      return as_dtype(as_dtype(t, r), wide(r));
    };
    return compare(op, operand(a), operand(b));
  }
  const DType dt = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
  Tensor A = as_dtype(a, dt), B = as_dtype(b, dt);
  Tensor y = empty(out, DType::b8);
  const auto sa = bcast_strides(A->shape(), out), sb = bcast_strides(B->shape(), out);
  static_assert(int(CmpOp::eq) == int(k::Cmp::eq) && int(CmpOp::ge) == int(k::Cmp::ge),
                "CmpOp and kernels::Cmp list the comparisons in the same order");
  k::compare(elem(dt), static_cast<k::Cmp>(op), static_cast<int>(out.size()), out.data(),
             A->raw(), sa.data(), B->raw(), sb.data(), y->data<uint8_t>());
  return y;
}

namespace {
Tensor logical2(const Tensor& a, const Tensor& b, const char* name, k::Logic op) {
  check_defined(a, name);
  check_defined(b, name);
  const Shape out = broadcast_shapes(a->shape(), b->shape(), name);
  Tensor A = as_dtype(a, DType::b8), B = as_dtype(b, DType::b8);
  Tensor y = empty(out, DType::b8);
  const auto sa = bcast_strides(A->shape(), out), sb = bcast_strides(B->shape(), out);
  k::logical(op, static_cast<int>(out.size()), out.data(), A->data<uint8_t>(), sa.data(),
             B->data<uint8_t>(), sb.data(), y->data<uint8_t>());
  return y;
}
}  // namespace

Tensor logical_and(const Tensor& a, const Tensor& b) { return logical2(a, b, "logical_and", k::Logic::and_); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return logical2(a, b, "logical_or", k::Logic::or_); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return logical2(a, b, "logical_xor", k::Logic::xor_); }

Tensor logical_not(const Tensor& x) {
  check_defined(x, "logical_not");
  Tensor X = as_dtype(x, DType::b8);
  Tensor y = empty(x->shape(), DType::b8);
  k::logical_not(y->numel(), X->data<uint8_t>(), y->data<uint8_t>());
  return y;
}

Tensor isnan(const Tensor& x) {
  check_defined(x, "isnan");
  if (is_small(x->dtype())) return isnan(convert(x, wide(x->dtype())));  // exact
  Tensor y = empty(x->shape(), DType::b8);
  k::isnan(elem(x->dtype()), y->numel(), x->raw(), y->data<uint8_t>());
  return y;
}

Tensor isinf(const Tensor& x) {
  check_defined(x, "isinf");
  if (is_small(x->dtype())) return isinf(convert(x, wide(x->dtype())));  // exact
  Tensor y = empty(x->shape(), DType::b8);
  k::isinf(elem(x->dtype()), y->numel(), x->raw(), y->data<uint8_t>());
  return y;
}

// ----- comparisons by name, ~x and normal samples (the Python surface's TG_FN rows) -----
Tensor eq(const Tensor& a, const Tensor& b) { return compare(CmpOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CmpOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CmpOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CmpOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CmpOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CmpOp::ge, a, b); }

// z ~ N(0, 1) of mean's shape; mean + std·z without history (sampling is not differentiable).
Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen) {
  if (mean->dtype() == DType::f16)  // drawn in float32, rounded once (Note [storage dtypes])
    return convert(normal(convert(mean, DType::f32),
                          as_dtype(std, std->dtype() == DType::f16 ? DType::f32 : std->dtype()), gen),
                   DType::f16);
  Tensor z = randn(mean->shape(), mean->dtype(), gen);
  GradModeGuard off(false);
  return add(mean, mul(z, std));
}

Tensor normal(const Tensor& mean, double std, Generator* gen) {
  if (mean->dtype() == DType::f16)  // as above
    return convert(normal(convert(mean, DType::f32), std, gen), DType::f16);
  Tensor z = randn(mean->shape(), is_float(mean->dtype()) ? mean->dtype() : DType::f32, gen);
  GradModeGuard off(false);
  return add(mean, mul(z, scalar_tensor(std, z->dtype())));
}

Tensor normal(double mean, const Tensor& std, Generator* gen) {
  Tensor z = randn(std->shape(), std->dtype(), gen);
  GradModeGuard off(false);
  Tensor scaled = mul(z, std);
  return add(scalar_like(scaled, mean, true), scaled);
}

Tensor normal(double mean, double std, const Shape& size, DType dtype, Generator* gen) {
  if (std < 0) throw ValueError("normal: std must be non-negative, got " + std::to_string(std));
  Tensor t = randn(size, dtype, gen);
  normal_(t, mean, std, gen);
  return t;
}

}  // namespace tapegrad

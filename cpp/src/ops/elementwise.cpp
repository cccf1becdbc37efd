// Elementwise ops: binary arithmetic with NumPy broadcasting, unary math, where, clamp, casts,
// comparisons. Forward and backward side by side (in-place updates: inplace.cpp).
#include "ops/common.h"

namespace tapegrad {

// ---------------------------------------------------------------------------------------------
// Helpers.
namespace {

Tensor as_dtype(const Tensor& t, DType d) { return t->dtype() == d ? t : convert(t, d); }

k::Binary to_kernel(OpCode op) {
  switch (op) {
    case OpCode::Add: return k::Binary::add;
    case OpCode::Sub: return k::Binary::sub;
    case OpCode::Mul: return k::Binary::mul;
    case OpCode::Div: return k::Binary::div;
    case OpCode::Pow: return k::Binary::pow;
    case OpCode::Maximum: return k::Binary::maximum;
    case OpCode::Minimum: return k::Binary::minimum;
    default: return k::Binary::add;
  }
}

// Forward of a binary op on already-promoted inputs; picks the contiguous fast paths.
Tensor binary_values(k::Binary kop, const Tensor& a, const Tensor& b, DType dt, const Shape& out) {
  Tensor c = empty(out, dt);
  if (c->numel() == 0) return c;
  const bool a_full = a->shape() == out, b_full = b->shape() == out;
  const int64_t n = c->numel();
  auto run = [&](auto z, auto run1, auto runb) {
    using T = decltype(z);
    const T* pa = a->data<T>();
    const T* pb = b->data<T>();
    T* pc = c->data<T>();
    if (a_full && b_full) run1(kop, n, pa, 1, pb, 1, pc);
    else if (a_full && b->numel() == 1) run1(kop, n, pa, 1, pb, 0, pc);
    else if (b_full && a->numel() == 1) run1(kop, n, pa, 0, pb, 1, pc);
    else {
      const auto sa = bcast_strides(a->shape(), out), sb = bcast_strides(b->shape(), out);
      runb(kop, static_cast<int>(out.size()), out.data(), pa, sa.data(), pb, sb.data(), pc);
    }
  };
  AllowThreads nogil(n);  // Note [GIL]
  switch (dt) {
    case DType::f32: run(float{}, k::binary_f32, k::binary_bcast_f32); break;
    case DType::f64: run(double{}, k::binary_f64, k::binary_bcast_f64); break;
    case DType::i64: run(int64_t{}, k::binary_i64, k::binary_bcast_i64); break;
    default: throw std::runtime_error("internal: binary_values on bool");
  }
  return c;
}

Tensor binary(OpCode op, const Tensor& a, const Tensor& b) {
  check_defined(a, op_name(op));
  check_defined(b, op_name(op));
  const char* name = op_name(op);
  // The common cases (same shape, a 0-d operand) borrow an input's shape: no Shape is built.
  Shape bcast;
  const Shape* outp = &a->shape();
  if (a->shape() != b->shape()) {
    if (a->dim() == 0) outp = &b->shape();
    else if (b->dim() != 0) outp = &(bcast = broadcast_shapes(a->shape(), b->shape(), name));
  }
  const Shape& out = *outp;
  DType dt = promote(a->dtype(), b->dtype());
  if ((op == OpCode::Div) && !is_float(dt)) dt = DType::f32;  // true division
  Tensor c;
  if (dt == DType::b8) {
    // bool arithmetic: computed on int64, the result converted back (True + True = True).
    if (op == OpCode::Sub)
      throw TypeError("sub: subtraction of two bool tensors is not supported; use "
                      "logical_xor or ~ instead (shapes " + shape_str(a->shape()) + " and " +
                      shape_str(b->shape()) + ")");
    c = convert(binary_values(to_kernel(op), as_dtype(a, DType::i64), as_dtype(b, DType::i64),
                              DType::i64, out), DType::b8);
  } else {
    c = binary_values(to_kernel(op), as_dtype(a, dt), as_dtype(b, dt), dt, out);
  }
  if (should_record({&a, &b})) {
    SavedList saved;
    // Save only what the backward reads (as PyTorch): x *= 2 must not pin x's old value.
    switch (op) {
      // (push_back, not a braced list: each saved tensor is copied once, not twice)
      case OpCode::Mul:
        saved.push_back(b->requires_grad() ? a : nullptr);
        saved.push_back(a->requires_grad() ? b : nullptr);
        break;
      case OpCode::Div:
        saved.push_back(b->requires_grad() ? a : nullptr);
        saved.push_back(b);
        break;
      case OpCode::Maximum: case OpCode::Minimum:
        saved.push_back(a);
        saved.push_back(b);
        break;
      case OpCode::Pow:
        saved.push_back(a);
        saved.push_back(b);
        saved.push_back(detach(c));
        break;
      default: break;
    }
    record(op, {&a, &b}, {&c}, std::move(saved));
  }
  return c;
}

Tensor zero_like_scalar(const Tensor& like) { return scalar_tensor(0.0, like->dtype()); }

}  // namespace

DType scalar_result_dtype(DType t, bool scalar_is_float, bool scalar_is_bool) {
  if (scalar_is_float) return is_float(t) ? t : DType::f32;
  if (scalar_is_bool) return t;
  return t == DType::b8 ? DType::i64 : t;
}

Tensor scalar_like(const Tensor& t, double v, bool is_float_, bool is_bool) {
  return scalar_tensor(v, scalar_result_dtype(t->dtype(), is_float_, is_bool));
}

// ---------------------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) { return binary(OpCode::Add, a, b); }
// c = a + b  ⇒  da += sum_to(dc) ; db += sum_to(dc)
std::vector<Tensor> backward_Add(BwCtx& ctx) {
  return {ctx.needs(0) ? reduce_grad(ctx.g(), ctx.in_shape(0), ctx.in_dtype(0)) : nullptr,
          ctx.needs(1) ? reduce_grad(ctx.g(), ctx.in_shape(1), ctx.in_dtype(1)) : nullptr};
}

Tensor sub(const Tensor& a, const Tensor& b) { return binary(OpCode::Sub, a, b); }
// c = a − b  ⇒  da += dc ; db −= dc
std::vector<Tensor> backward_Sub(BwCtx& ctx) {
  return {ctx.needs(0) ? reduce_grad(ctx.g(), ctx.in_shape(0), ctx.in_dtype(0)) : nullptr,
          ctx.needs(1) ? reduce_grad(neg(ctx.g()), ctx.in_shape(1), ctx.in_dtype(1)) : nullptr};
}

Tensor mul(const Tensor& a, const Tensor& b) { return binary(OpCode::Mul, a, b); }
// c = a·b  ⇒  da += dc·b ; db += dc·a
std::vector<Tensor> backward_Mul(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  return {ctx.needs(0) ? reduce_grad(mul(ctx.g(), b), ctx.in_shape(0), ctx.in_dtype(0)) : nullptr,
          ctx.needs(1) ? reduce_grad(mul(ctx.g(), a), ctx.in_shape(1), ctx.in_dtype(1)) : nullptr};
}

Tensor div(const Tensor& a, const Tensor& b) { return binary(OpCode::Div, a, b); }
// c = a / b  ⇒  da += dc / b ; db −= dc·a / b²
std::vector<Tensor> backward_Div(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  if (ctx.needs(0)) da = reduce_grad(div(ctx.g(), b), ctx.in_shape(0), ctx.in_dtype(0));
  if (ctx.needs(1))
    db = reduce_grad(neg(div(mul(ctx.g(), a), mul(b, b))), ctx.in_shape(1), ctx.in_dtype(1));
  return {da, db};
}

Tensor pow(const Tensor& a, const Tensor& b) { return binary(OpCode::Pow, a, b); }
// c = aᵇ  ⇒  da += dc·b·aᵇ⁻¹ (0 where b = 0) ; db += dc·aᵇ·log a (0 where a = 0 and b ≥ 0)
std::vector<Tensor> backward_Pow(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  if (ctx.needs(0)) {
    Tensor one = scalar_tensor(1.0, b->dtype());
    Tensor d = mul(ctx.g(), mul(b, pow(a, sub(b, one))));
    Tensor b_zero = compare(CmpOp::eq, b, zero_like_scalar(b));
    da = reduce_grad(where(b_zero, zero_like_scalar(d), d), ctx.in_shape(0), ctx.in_dtype(0));
  }
  if (ctx.needs(1)) {
    Tensor c = ctx.create_graph ? pow(a, b) : ctx.saved(2);
    Tensor d = mul(ctx.g(), mul(c, log(a)));
    Tensor mask = logical_and(compare(CmpOp::eq, a, zero_like_scalar(a)),
                              compare(CmpOp::ge, b, zero_like_scalar(b)));
    db = reduce_grad(where(mask, zero_like_scalar(d), d), ctx.in_shape(1), ctx.in_dtype(1));
  }
  return {da, db};
}

Tensor maximum(const Tensor& a, const Tensor& b) { return binary(OpCode::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(OpCode::Minimum, a, b); }
// c = max(a, b)  ⇒  da += dc·(1 − [a < b] − ½[a = b]) ; db += dc·(1 − [a > b] − ½[a = b])
// (ties split evenly; a NaN on either side passes the gradient to both — PyTorch's rule;
// min mirrors it)
static std::vector<Tensor> minmax_backward(BwCtx& ctx, CmpOp wins) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  const DType dt = ctx.g()->dtype();
  const CmpOp loses = wins == CmpOp::gt ? CmpOp::lt : CmpOp::gt;
  const Tensor half_tie = mul(cast(compare(CmpOp::eq, a, b), dt), scalar_tensor(0.5, dt));
  auto weight = [&](CmpOp beaten) {
    return sub(cast(logical_not(compare(beaten, a, b)), dt), half_tie);
  };
  Tensor da, db;
  if (ctx.needs(0)) da = reduce_grad(mul(ctx.g(), weight(loses)), ctx.in_shape(0), ctx.in_dtype(0));
  if (ctx.needs(1)) db = reduce_grad(mul(ctx.g(), weight(wins)), ctx.in_shape(1), ctx.in_dtype(1));
  return {da, db};
}
std::vector<Tensor> backward_Maximum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::gt); }
std::vector<Tensor> backward_Minimum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::lt); }

// ---------------------------------------------------------------------------------------------
// Unary ops. `float_only` ops turn int/bool inputs into float32 (as PyTorch); the others keep
// the dtype and refuse bool where PyTorch does.
namespace {
enum class Save { none, input, output };

Tensor unary(OpCode op, k::Unary kop, const Tensor& x, bool float_only, Save save) {
  check_defined(x, op_name(op));
  DType dt = x->dtype();
  if (float_only && !is_float(dt)) dt = DType::f32;
  if (dt == DType::b8)
    throw TypeError(std::string(op_name(op)) + ": not supported for bool tensors (shape " +
                    shape_str(x->shape()) + "); convert with .float() or .long() first");
  Tensor xin = as_dtype(x, dt);
  Tensor y = empty(x->shape(), dt);
  const int64_t n = y->numel();
  switch (dt) {
    case DType::f32: {
      AllowThreads nogil(n);  // Note [GIL]
      k::unary_f32(kop, n, xin->data<float>(), y->data<float>());
      break;
    }
    case DType::f64: {
      AllowThreads nogil(n);
      k::unary_f64(kop, n, xin->data<double>(), y->data<double>());
      break;
    }
    case DType::i64: k::unary_i64(kop, n, xin->data<int64_t>(), y->data<int64_t>()); break;
    default: break;
  }
  if (should_record({&x})) {
    SavedList saved;
    if (save == Save::input) saved = {x};
    if (save == Save::output) saved = {detach(y)};
    record(op, {&x}, {&y}, std::move(saved));
  }
  return y;
}
}  // namespace

Tensor neg(const Tensor& x) { return unary(OpCode::Neg, k::Unary::neg, x, false, Save::none); }
// y = −x  ⇒  dx −= dy
std::vector<Tensor> backward_Neg(BwCtx& ctx) { return {neg(ctx.g())}; }

Tensor exp(const Tensor& x) { return unary(OpCode::Exp, k::Unary::exp, x, true, Save::output); }
// y = eˣ  ⇒  dx += dy·y
std::vector<Tensor> backward_Exp(BwCtx& ctx) { return {mul(ctx.g(), result_for_backward(ctx, 0, 0))}; }

Tensor log(const Tensor& x) { return unary(OpCode::Log, k::Unary::log, x, true, Save::input); }
// y = log x  ⇒  dx += dy / x
std::vector<Tensor> backward_Log(BwCtx& ctx) { return {div(ctx.g(), ctx.saved(0))}; }

Tensor sqrt(const Tensor& x) { return unary(OpCode::Sqrt, k::Unary::sqrt, x, true, Save::output); }
// y = √x  ⇒  dx += dy / (2y)
std::vector<Tensor> backward_Sqrt(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {div(ctx.g(), mul(y, scalar_tensor(2.0, y->dtype())))};
}

Tensor abs(const Tensor& x) { return unary(OpCode::Abs, k::Unary::abs, x, false, Save::input); }
// y = |x|  ⇒  dx += dy·sign(x)   (sign(0) = 0)
std::vector<Tensor> backward_Abs(BwCtx& ctx) { return {mul(ctx.g(), sign(ctx.saved(0)))}; }

Tensor relu(const Tensor& x) { return unary(OpCode::Relu, k::Unary::relu, x, false, Save::output); }
// y = max(x, 0)  ⇒  dx += dy·[y > 0]
std::vector<Tensor> backward_Relu(BwCtx& ctx) {
  // [y > 0] written as not [y ≤ 0], so a NaN passes its gradient through (as PyTorch).
  const Tensor& y = ctx.saved(0);
  const Tensor& g = ctx.g();
  if (!ctx.create_graph && !g->requires_grad() && is_float(y->dtype()) &&
      g->dtype() == y->dtype() && g->shape() == y->shape()) {
    // One pass, dy·[not y ≤ 0], instead of four temporaries (compare, not, cast, mul) — the
    // mask passes were a sixth of an MLP step at batch 256. Multiplying by the 0/1 mask (not a
    // branch: the mask is random, so branches mispredict) keeps the values of the
    // composite form exactly.
    Tensor dx = empty(y->shape(), y->dtype());
    if (y->dtype() == DType::f32)
      k::relu_backward_f32(dx->numel(), y->data<float>(), g->data<float>(), dx->data<float>());
    else
      k::relu_backward_f64(dx->numel(), y->data<double>(), g->data<double>(), dx->data<double>());
    return {dx};
  }
  return {mul(ctx.g(), cast(logical_not(compare(CmpOp::le, y, scalar_tensor(0.0, y->dtype()))),
                            ctx.g()->dtype()))};
}

Tensor sigmoid(const Tensor& x) {
  return unary(OpCode::Sigmoid, k::Unary::sigmoid, x, true, Save::output);
}
// y = σ(x)  ⇒  dx += dy·y·(1 − y)
std::vector<Tensor> backward_Sigmoid(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(ctx.g(), mul(y, sub(scalar_tensor(1.0, y->dtype()), y)))};
}

Tensor tanh(const Tensor& x) { return unary(OpCode::Tanh, k::Unary::tanh, x, true, Save::output); }
// y = tanh x  ⇒  dx += dy·(1 − y²)
std::vector<Tensor> backward_Tanh(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(ctx.g(), sub(scalar_tensor(1.0, y->dtype()), mul(y, y)))};
}

Tensor sin(const Tensor& x) { return unary(OpCode::Sin, k::Unary::sin, x, true, Save::input); }
// y = sin x  ⇒  dx += dy·cos x
std::vector<Tensor> backward_Sin(BwCtx& ctx) { return {mul(ctx.g(), cos(ctx.saved(0)))}; }

Tensor cos(const Tensor& x) { return unary(OpCode::Cos, k::Unary::cos, x, true, Save::input); }
// y = cos x  ⇒  dx −= dy·sin x
std::vector<Tensor> backward_Cos(BwCtx& ctx) { return {neg(mul(ctx.g(), sin(ctx.saved(0))))}; }

Tensor sign(const Tensor& x) {
  check_defined(x, "sign");
  if (x->dtype() == DType::b8) return clone_data(x);
  GradModeGuard off(false);  // derivative is zero almost everywhere: never recorded
  return unary(OpCode::Neg, k::Unary::sign, x, false, Save::none);
}

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
  const DType dt = promote(a->dtype(), b->dtype());
  Tensor A = as_dtype(a, dt), B = as_dtype(b, dt);
  Tensor y = empty(out, dt);
  const auto sc = bcast_strides(cond->shape(), out), sa = bcast_strides(A->shape(), out),
             sb = bcast_strides(B->shape(), out);
  k::where(elem(dt), static_cast<int>(out.size()), out.data(), cond->data<uint8_t>(), sc.data(),
           A->raw(), sa.data(), B->raw(), sb.data(), y->raw());
  if (should_record({&a, &b})) record(OpCode::Where, {&cond, &a, &b}, {&y}, {cond});
  return y;
}
// y = cond ? a : b  ⇒  da += sum_to(cond ? dy : 0) ; db += sum_to(cond ? 0 : dy)
std::vector<Tensor> backward_Where(BwCtx& ctx) {
  const Tensor& cond = ctx.saved(0);
  Tensor zero = scalar_tensor(0.0, ctx.g()->dtype());
  Tensor da, db;
  if (ctx.needs(1)) da = reduce_grad(where(cond, ctx.g(), zero), ctx.in_shape(1), ctx.in_dtype(1));
  if (ctx.needs(2)) db = reduce_grad(where(cond, zero, ctx.g()), ctx.in_shape(2), ctx.in_dtype(2));
  return {nullptr, da, db};
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  check_defined(x, "clamp");
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  if (x->dtype() == DType::b8) throw TypeError("clamp: not supported for bool tensors");
  Tensor y = empty(x->shape(), x->dtype());
  // NaN stays NaN; hi wins when lo > hi (as PyTorch).
  k::clamp(elem(x->dtype()), y->numel(), x->raw(), lo.has_value(), lo.value_or(0),
           hi.has_value(), hi.value_or(0), y->raw());
  if (should_record({&x})) {
    Attrs at;
    at.b0 = lo.has_value();
    at.b1 = hi.has_value();
    at.d0 = lo.value_or(0);
    at.d1 = hi.value_or(0);
    record(OpCode::Clamp, {&x}, {&y}, {x}, at);
  }
  return y;
}
// y = clamp(x, lo, hi)  ⇒  dx += dy·[lo ≤ x ≤ hi]
std::vector<Tensor> backward_Clamp(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const Attrs& at = ctx.attrs();
  Tensor mask = full(x->shape(), 1.0, DType::b8);
  if (at.b0) mask = logical_and(mask, compare(CmpOp::ge, x, scalar_tensor(at.d0, x->dtype())));
  if (at.b1) mask = logical_and(mask, compare(CmpOp::le, x, scalar_tensor(at.d1, x->dtype())));
  return {mul(ctx.g(), cast(mask, ctx.g()->dtype()))};
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined(x, "to");
  if (x->dtype() == dtype) return x;
  Tensor y = convert(x, dtype);
  if (is_float(dtype) && should_record({&x})) record(OpCode::Cast, {&x}, {&y});
  return y;
}
// y = x.to(T)  ⇒  dx += dy.to(x's dtype)
std::vector<Tensor> backward_Cast(BwCtx& ctx) { return {cast(ctx.g(), ctx.in_dtype(0))}; }

Tensor clone(const Tensor& x) {
  check_defined(x, "clone");
  Tensor y = clone_data(x);
  if (should_record({&x})) record(OpCode::Clone, {&x}, {&y});
  return y;
}
// y = x (copied)  ⇒  dx += dy
std::vector<Tensor> backward_Clone(BwCtx& ctx) { return {ctx.g()}; }

// ---------------------------------------------------------------------------------------------
// Comparisons and logic: bool results, never recorded.
Tensor compare(CmpOp op, const Tensor& a, const Tensor& b) {
  static const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  const char* name = names[static_cast<int>(op)];
  check_defined(a, name);
  check_defined(b, name);
  const Shape out = broadcast_shapes(a->shape(), b->shape(), name);
  const DType dt = promote(a->dtype(), b->dtype());
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
  Tensor y = empty(x->shape(), DType::b8);
  k::isnan(elem(x->dtype()), y->numel(), x->raw(), y->data<uint8_t>());
  return y;
}

Tensor isinf(const Tensor& x) {
  check_defined(x, "isinf");
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

Tensor bitwise_not(const Tensor& x) {
  check_defined(x, "~");
  if (x->dtype() != DType::b8)
    throw TypeError(std::string("~ (bitwise not) is only supported for bool tensors here, got ") +
                    dtype_name(x->dtype()));
  return logical_not(x);
}

// z ~ N(0, 1) of mean's shape; mean + std·z without history (sampling is not differentiable).
Tensor normal(const Tensor& mean, const Tensor& std) {
  Tensor z = randn(mean->shape(), mean->dtype());
  GradModeGuard off(false);
  return add(mean, mul(z, std));
}

Tensor normal(const Tensor& mean, double std) {
  Tensor z = randn(mean->shape(), is_float(mean->dtype()) ? mean->dtype() : DType::f32);
  GradModeGuard off(false);
  return add(mean, mul(z, scalar_tensor(std, z->dtype())));
}

Tensor normal(double mean, const Tensor& std) {
  Tensor z = randn(std->shape(), std->dtype());
  GradModeGuard off(false);
  Tensor scaled = mul(z, std);
  return add(scalar_like(scaled, mean, true), scaled);
}

Tensor normal(double mean, double std, const Shape& size, DType dtype) {
  if (std < 0) throw ValueError("normal: std must be non-negative, got " + std::to_string(std));
  Tensor t = randn(size, dtype);
  normal_(t, mean, std);
  return t;
}

}  // namespace tapegrad

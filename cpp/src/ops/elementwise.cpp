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

// The value of a binary op (broadcasting, promotion, bool and integer-pow rules); each op
// records its own entry and saved list beside its forward below.
Tensor binary_forward(OpCode op, const Tensor& a, const Tensor& b) {
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
// Broadcast dims of the input gradients are summed centrally (Note [shape-free rules] in
// cpp/src/autograd/sweep.cpp): these rules are written as if every operand had the output's
// shape.
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Add, a, b);
  if (should_record({&a, &b})) record(OpCode::Add, {&a, &b}, {&c});
  return c;
}
// c = a + b  ⇒  da += dc ; db += dc
std::vector<Tensor> backward_Add(BwCtx& ctx) {
  return {ctx.needs(0) ? ctx.g() : nullptr, ctx.needs(1) ? ctx.g() : nullptr};
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Sub, a, b);
  if (should_record({&a, &b})) record(OpCode::Sub, {&a, &b}, {&c});
  return c;
}
// c = a − b  ⇒  da += dc ; db −= dc
std::vector<Tensor> backward_Sub(BwCtx& ctx) {
  return {ctx.needs(0) ? ctx.g() : nullptr, ctx.needs(1) ? neg(ctx.g()) : nullptr};
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Mul, a, b);
  // Each factor is saved only for the other's gradient (as PyTorch): x *= 2 must not pin
  // x's old value.
  if (should_record({&a, &b}))
    record(OpCode::Mul, {&a, &b}, {&c},
           save_for_backward(b->requires_grad() ? a : nullptr, a->requires_grad() ? b : nullptr));
  return c;
}
// c = a·b  ⇒  da += dc·b ; db += dc·a
std::vector<Tensor> backward_Mul(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  return {ctx.needs(0) ? mul(ctx.g(), b) : nullptr, ctx.needs(1) ? mul(ctx.g(), a) : nullptr};
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Div, a, b);
  // b is needed by both gradients; a only by b's.
  if (should_record({&a, &b}))
    record(OpCode::Div, {&a, &b}, {&c}, save_for_backward(b->requires_grad() ? a : nullptr, b));
  return c;
}
// c = a / b  ⇒  da += dc / b ; db −= dc·a / b²
std::vector<Tensor> backward_Div(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  if (ctx.needs(0)) da = div(ctx.g(), b);
  if (ctx.needs(1)) db = neg(div(mul(ctx.g(), a), mul(b, b)));
  return {da, db};
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Pow, a, b);
  if (should_record({&a, &b}))
    record(OpCode::Pow, {&a, &b}, {&c}, save_for_backward(a, b, detach(c)));
  return c;
}
// c = aᵇ  ⇒  da += dc·b·aᵇ⁻¹ (0 where b = 0) ; db += dc·aᵇ·log a (0 where a = 0 and b ≥ 0)
std::vector<Tensor> backward_Pow(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  if (ctx.needs(0)) {
    Tensor one = scalar_tensor(1.0, b->dtype());
    Tensor d = mul(ctx.g(), mul(b, pow(a, sub(b, one))));
    Tensor b_zero = compare(CmpOp::eq, b, zero_like_scalar(b));
    da = where(b_zero, zero_like_scalar(d), d);
  }
  if (ctx.needs(1)) {
    Tensor d = mul(ctx.g(), mul(result_for_backward(ctx, 2, 0), log(a)));
    Tensor mask = logical_and(compare(CmpOp::eq, a, zero_like_scalar(a)),
                              compare(CmpOp::ge, b, zero_like_scalar(b)));
    db = where(mask, zero_like_scalar(d), d);
  }
  return {da, db};
}

// Both save both operands: each gradient compares them.
Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Maximum, a, b);
  if (should_record({&a, &b})) record(OpCode::Maximum, {&a, &b}, {&c}, save_for_backward(a, b));
  return c;
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Minimum, a, b);
  if (should_record({&a, &b})) record(OpCode::Minimum, {&a, &b}, {&c}, save_for_backward(a, b));
  return c;
}
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
  if (ctx.needs(0)) da = mul(ctx.g(), weight(loses));
  if (ctx.needs(1)) db = mul(ctx.g(), weight(wins));
  return {da, db};
}
// c = max(a, b)  ⇒  the rule above, a winning where a > b
std::vector<Tensor> backward_Maximum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::gt); }
// c = min(a, b)  ⇒  the rule above mirrored, a winning where a < b
std::vector<Tensor> backward_Minimum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::lt); }

// ---------------------------------------------------------------------------------------------
// Unary ops. `float_only` ops turn int/bool inputs into float32 (as PyTorch); the others keep
// the dtype and refuse bool where PyTorch does.
namespace {
// The value of a unary op; each op records its entry and saved list beside its forward below.
Tensor unary_forward(OpCode op, k::Unary kop, const Tensor& x, bool float_only) {
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
  return y;
}
}  // namespace

// Each unary op saves what its rule reads: nothing, its input, or its output (a detached
// alias: an entry never keeps itself alive, Note [tape lifetime] in tape.cpp).
Tensor neg(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Neg, k::Unary::neg, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Neg, {&x}, {&y});
  return y;
}
// y = −x  ⇒  dx −= dy
std::vector<Tensor> backward_Neg(BwCtx& ctx) { return {neg(ctx.g())}; }

Tensor exp(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Exp, k::Unary::exp, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Exp, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = eˣ  ⇒  dx += dy·y
std::vector<Tensor> backward_Exp(BwCtx& ctx) { return {mul(ctx.g(), result_for_backward(ctx, 0, 0))}; }

Tensor log(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Log, k::Unary::log, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Log, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = log x  ⇒  dx += dy / x
std::vector<Tensor> backward_Log(BwCtx& ctx) { return {div(ctx.g(), ctx.saved(0))}; }

Tensor log1p(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Log1p, k::Unary::log1p, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Log1p, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = log(1 + x)  ⇒  dx += dy / (1 + x)
std::vector<Tensor> backward_Log1p(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  return {div(ctx.g(), add(x, scalar_tensor(1.0, x->dtype())))};
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sqrt, k::Unary::sqrt, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sqrt, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = √x  ⇒  dx += dy / (2y)
std::vector<Tensor> backward_Sqrt(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {div(ctx.g(), mul(y, scalar_tensor(2.0, y->dtype())))};
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Abs, k::Unary::abs, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Abs, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = |x|  ⇒  dx += dy·sign(x)   (sign(0) = 0)
std::vector<Tensor> backward_Abs(BwCtx& ctx) { return {mul(ctx.g(), sign(ctx.saved(0)))}; }

Tensor relu(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Relu, k::Unary::relu, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Relu, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = max(x, 0)  ⇒  dx += dy·[y > 0]
std::vector<Tensor> backward_Relu(BwCtx& ctx) { return {relu_backward(ctx.g(), ctx.saved(0))}; }

// relu's derivative as a primitive of its own, so the one fused pass serves backward() and
// create_graph alike. [y > 0] is written as not [y ≤ 0], so a NaN passes its gradient through
// (as PyTorch).
Tensor relu_backward(const Tensor& g, const Tensor& y) {
  Tensor dx;
  if (is_float(y->dtype()) && g->dtype() == y->dtype() && g->shape() == y->shape()) {
    // One pass, dy·[not y ≤ 0], instead of four temporaries (compare, not, cast, mul) — the
    // mask passes were a sixth of an MLP step at batch 256. Multiplying by the 0/1 mask (not a
    // branch: the mask is random, so branches mispredict) keeps the values of the
    // composite form exactly.
    dx = empty(y->shape(), y->dtype());
    if (y->dtype() == DType::f32)
      k::relu_backward_f32(dx->numel(), y->data<float>(), g->data<float>(), dx->data<float>());
    else
      k::relu_backward_f64(dx->numel(), y->data<double>(), g->data<double>(), dx->data<double>());
  } else {
    GradModeGuard off(false);  // mixed dtypes or shapes: the same product, composed
    dx = mul(g, cast(logical_not(compare(CmpOp::le, y, scalar_tensor(0.0, y->dtype()))),
                     g->dtype()));
  }
  if (should_record({&g, &y})) record(OpCode::ReluBackward, {&g, &y}, {&dx}, save_for_backward(y));
  return dx;
}
// z = dy·[y > 0]  ⇒  d(dy) += dz·[y > 0] ; dy's mask y is piecewise constant: no gradient
std::vector<Tensor> backward_ReluBackward(BwCtx& ctx) {
  return {relu_backward(ctx.g(), ctx.saved(0)), nullptr};
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sigmoid, k::Unary::sigmoid, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sigmoid, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = σ(x)  ⇒  dx += dy·y·(1 − y)
std::vector<Tensor> backward_Sigmoid(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(ctx.g(), mul(y, sub(scalar_tensor(1.0, y->dtype()), y)))};
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Tanh, k::Unary::tanh, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Tanh, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = tanh x  ⇒  dx += dy·(1 − y²)
std::vector<Tensor> backward_Tanh(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(ctx.g(), sub(scalar_tensor(1.0, y->dtype()), mul(y, y)))};
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sin, k::Unary::sin, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sin, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = sin x  ⇒  dx += dy·cos x
std::vector<Tensor> backward_Sin(BwCtx& ctx) { return {mul(ctx.g(), cos(ctx.saved(0)))}; }

Tensor cos(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Cos, k::Unary::cos, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Cos, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = cos x  ⇒  dx −= dy·sin x
std::vector<Tensor> backward_Cos(BwCtx& ctx) { return {neg(mul(ctx.g(), sin(ctx.saved(0))))}; }

Tensor sign(const Tensor& x) {
  check_defined(x, "sign");
  if (x->dtype() == DType::b8) return clone_data(x);
  GradModeGuard off(false);  // derivative is zero almost everywhere: never recorded
  return unary_forward(OpCode::Neg, k::Unary::sign, x, false);
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
  if (should_record({&a, &b}))
    record(OpCode::Where, {&cond, &a, &b}, {&y}, save_for_backward(cond));
  return y;
}
// y = cond ? a : b  ⇒  da += cond ? dy : 0 ; db += cond ? 0 : dy
std::vector<Tensor> backward_Where(BwCtx& ctx) {
  const Tensor& cond = ctx.saved(0);
  Tensor zero = scalar_tensor(0.0, ctx.g()->dtype());
  Tensor da, db;
  if (ctx.needs(1)) da = where(cond, ctx.g(), zero);
  if (ctx.needs(2)) db = where(cond, zero, ctx.g());
  return {nullptr, da, db};
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
// y = clamp(x, lo, hi)  ⇒  dx += dy·[lo ≤ x ≤ hi]
std::vector<Tensor> backward_Clamp(BwCtx& ctx) {
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

// Elementwise binary arithmetic with NumPy broadcasting and PyTorch's dtype promotion: add,
// sub, mul, div, pow, maximum, minimum, and the Python-scalar rules. Forward and backward side
// by side (in-place forms: inplace.cpp; unary math: unary.cpp; selection and logic: select.cpp).
#include <cmath>

#include "ops/common.h"

namespace tapegrad {

// ---------------------------------------------------------------------------------------------
// Helpers.
namespace {

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
void binary_values_into(k::Binary kop, const Tensor& a, const Tensor& b, DType dt,
                        const Shape& out, const Tensor& c) {
  if (c->numel() == 0) return;
  // (out is often one operand's own shape: no element compare then)
  const bool a_full = &a->shape() == &out || same_shape(a->shape(), out);
  const bool b_full = &b->shape() == &out || same_shape(b->shape(), out);
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
}

Tensor binary_values(k::Binary kop, const Tensor& a, const Tensor& b, DType dt, const Shape& out) {
  Tensor c = empty(out, dt);
  binary_values_into(kop, a, b, dt, out, c);
  return c;
}

Tensor binary_forward(OpCode op, const Tensor& a, const Tensor& b);

// A binary op with a storage-dtype operand (Note [storage dtypes] in cpp/src/tensor.cpp):
// PyTorch's result dtype (a 0-d operand, such as a Python number, decides it only from a
// higher category), operands cast to it (an integer operand wraps into the narrow type, as
// PyTorch's operand cast; the scalar of a float16 mul or div stays float32, below), computed on
// wide(result) and cast back once. True division of integers computes and returns float32
// from the operands as given, as PyTorch's.
Tensor small_binary_forward(OpCode op, const Tensor& a, const Tensor& b) {
  const DType r = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
  if (!is_small(r) || (op == OpCode::Div && !is_floating_point(r))) {
    const DType w = op == OpCode::Div && !is_floating_point(r) ? DType::f32 : r;
    return binary_forward(op, as_dtype(a, w), as_dtype(b, w));
  }
  const DType w = wide(r);
  // PyTorch's float16 mul and div take a 0-d second operand in float32 (its "opmath" scalar;
  // number · x is x · number there); every other operand is first cast to float16.
  auto operand = [&](const Tensor& t, bool second) {
    const bool opmath = r == DType::f16 && t->dim() == 0 && second &&
                        (op == OpCode::Mul || op == OpCode::Div);
    return opmath ? as_dtype(t, w) : as_dtype(as_dtype(t, r), w);
  };
  return convert(binary_forward(op, operand(a, false), operand(b, true)), r);
}

// The common cases of a binary op's result shape (same shape, a 0-d operand, one operand
// broadcast into the other's shape: a bias, a [1] parameter) borrow an input's shape; null
// when the shape has to be built (broadcast_shapes).
const Shape* borrowed_out_shape(const Tensor& a, const Tensor& b) {
  if (same_shape(a->shape(), b->shape())) return &a->shape();
  if (a->dim() == 0 || broadcasts_into(a->shape(), b->shape())) return &b->shape();
  if (b->dim() == 0 || broadcasts_into(b->shape(), a->shape())) return &a->shape();
  return nullptr;
}

// The value of a binary op (broadcasting, promotion, bool and integer-pow rules); each op
// records its own entry and saved list beside its forward below.
Tensor binary_forward(OpCode op, const Tensor& a, const Tensor& b) {
  check_defined(a, op_name(op));
  check_defined(b, op_name(op));
  const char* name = op_name(op);
  Shape bcast;
  const Shape* outp = borrowed_out_shape(a, b);
  if (!outp) outp = &(bcast = broadcast_shapes(a->shape(), b->shape(), name));
  const Shape& out = *outp;
  if (is_small(a->dtype()) || is_small(b->dtype())) [[unlikely]]
    return small_binary_forward(op, a, b);
  DType dt = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
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
    Tensor ta, tb;
    c = binary_values(to_kernel(op), as_dtype(a, dt, ta), as_dtype(b, dt, tb), dt, out);
  }
  return c;
}

Tensor zero_like_scalar(const Tensor& like) { return scalar_tensor(0.0, like->dtype()); }

}  // namespace

// self ← op(self, other) written straight into self's storage, when nothing is recorded and
// the result has self's dtype and shape: the kernel binary_forward would run, on the same
// values, without a result tensor and its copy (Note [in-place ops]). False: not applicable
// (other shares self's storage under broadcasting, a dtype change, bool arithmetic).
bool binary_inplace_direct(OpCode op, const Tensor& self, const Tensor& other) {
  DType dt = promote_operands(self->dtype(), self->dim() == 0, other->dtype(), other->dim() == 0);
  if (op == OpCode::Div && !is_float(dt)) dt = DType::f32;
  if (dt != self->dtype() || dt == DType::b8 || is_small(dt)) return false;
  if (other->storage() == self->storage() &&
      (other->shape() != self->shape() || other->offset() != self->offset()))
    return false;
  Tensor tmp;
  binary_values_into(to_kernel(op), self, as_dtype(other, dt, tmp), dt, self->shape(), self);
  return true;
}

DType scalar_result_dtype(DType t, bool scalar_is_float, bool scalar_is_bool) {
  if (scalar_is_float) return is_floating_point(t) ? t : DType::f32;
  if (scalar_is_bool) return t;
  return t == DType::b8 ? DType::i64 : t;
}

Tensor scalar_like(const Tensor& t, const Scalar& v, bool is_float_, bool is_bool) {
  const DType d = scalar_result_dtype(t->dtype(), is_float_, is_bool);
  if (is_small(d) && !is_bool) {
    // A number the storage dtype cannot hold exactly stays a 0-d tensor of its compute dtype:
    // the 0-d rule of small_binary_forward still gives the storage dtype as the result, and the
    // operand keeps its value where PyTorch's does (300 / int8 is 300 / x; 0.1 · half is
    // computed with 0.1f). Note [storage dtypes] in cpp/src/tensor.cpp.
    const double back = scalar_tensor(v, d)->item_as_double();
    const bool exact = v.is_integral() ? back == static_cast<double>(v.as_int())
                                       : back == v.as_double() || std::isnan(v.as_double());
    if (!exact) return scalar_tensor(v, wide(d));
  }
  return scalar_tensor(v, d);
}

// ---------------------------------------------------------------------------------------------
// The bitwise ops: integer results, never recorded (no gradient). On int64 they are the
// kernels' bitwise slots; two bool operands give the logical ops (select.cpp), which is the
// same function on {0, 1}; a bool operand next to an int64 one counts as 0 or 1.
namespace {
Tensor bitwise2(const Tensor& a, const Tensor& b, k::Binary kop, const char* name,
                Tensor (*on_bools)(const Tensor&, const Tensor&)) {
  check_defined(a, name);
  check_defined(b, name);
  if (is_small(a->dtype()) || is_small(b->dtype())) [[unlikely]] {
    // On int64 and cast back (Note [storage dtypes] in cpp/src/tensor.cpp).
    const DType r = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
    if (is_small(r) && r != DType::f16) {
      auto wide_op = [&](const Tensor& t) { return as_dtype(as_dtype(t, r), DType::i64); };
      return convert(bitwise2(wide_op(a), wide_op(b), kop, name, on_bools), r);
    }
    if (!is_floating_point(r)) return bitwise2(as_dtype(a, r), as_dtype(b, r), kop, name, on_bools);
  }
  const DType dt = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
  if (is_floating_point(dt))
    throw NotImplementedError(std::string(name) + ": not implemented for " + dtype_name(dt) +
                              " tensors, only for int64 and bool (shapes " + shape_str(a->shape()) +
                              " and " + shape_str(b->shape()) + ")");
  if (dt == DType::b8) return on_bools(a, b);
  const Shape out = broadcast_shapes(a->shape(), b->shape(), name);
  return binary_values(kop, as_dtype(a, dt), as_dtype(b, dt), dt, out);
}
}  // namespace

Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return bitwise2(a, b, k::Binary::bitwise_and, "bitwise_and", &logical_and);
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  return bitwise2(a, b, k::Binary::bitwise_or, "bitwise_or", &logical_or);
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  return bitwise2(a, b, k::Binary::bitwise_xor, "bitwise_xor", &logical_xor);
}
// ~x = x ^ −1 on int64 (all bits flipped: −x − 1).
Tensor bitwise_not(const Tensor& x) {
  check_defined(x, "bitwise_not");
  if (x->dtype() == DType::b8) return logical_not(x);
  if (is_small(x->dtype()) && x->dtype() != DType::f16)  // Note [storage dtypes]
    return convert(bitwise_not(convert(x, DType::i64)), x->dtype());
  if (x->dtype() != DType::i64)
    throw TypeError(std::string("~ (bitwise_not) is only implemented on integer and bool tensors, got ") +
                    dtype_name(x->dtype()) + " (shape " + shape_str(x->shape()) + ")");
  return binary_values(k::Binary::bitwise_xor, x, scalar_tensor(-1, DType::i64), DType::i64, x->shape());
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
Grads backward_Add(BwCtx& ctx) {
  return {ctx.needs(0) ? ctx.g() : nullptr, ctx.needs(1) ? ctx.g() : nullptr};
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor c = binary_forward(OpCode::Sub, a, b);
  if (should_record({&a, &b})) record(OpCode::Sub, {&a, &b}, {&c});
  return c;
}
// c = a − b  ⇒  da += dc ; db −= dc
Grads backward_Sub(BwCtx& ctx) {
  return {ctx.needs(0) ? ctx.g() : nullptr, ctx.needs(1) ? neg(ctx.g()) : nullptr};
}

// torch.add/sub's alpha: other·alpha first (one Mul entry, so d other = alpha·dc), then the
// add or sub; alpha = 1 is the plain op. alpha is a number of the result's kind (the binding
// refuses a float alpha with integer tensors, as PyTorch); with bool tensors any non-zero
// alpha is True.
namespace {
Tensor times_alpha(const Tensor& a, const Tensor& b, double alpha) {
  check_defined(a, "add");
  check_defined(b, "add");
  const DType rd = promote_operands(a->dtype(), a->dim() == 0, b->dtype(), b->dim() == 0);
  if (rd == DType::b8) return alpha != 0.0 ? b : zeros(b->shape(), DType::b8);
  return mul(b, scalar_tensor(alpha, rd));
}
}  // namespace

Tensor add_alpha(const Tensor& a, const Tensor& b, double alpha) {
  return alpha == 1.0 ? add(a, b) : add(a, times_alpha(a, b, alpha));
}
Tensor sub_alpha(const Tensor& a, const Tensor& b, double alpha) {
  return alpha == 1.0 ? sub(a, b) : sub(a, times_alpha(a, b, alpha));
}
void add_alpha_(const Tensor& self, const Tensor& other, double alpha) {
  add_(self, alpha == 1.0 ? other : times_alpha(self, other, alpha));
}
void sub_alpha_(const Tensor& self, const Tensor& other, double alpha) {
  sub_(self, alpha == 1.0 ? other : times_alpha(self, other, alpha));
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
Grads backward_Mul(BwCtx& ctx) {
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
// Note [reused temporaries]
// A compiled step's C++ form (capture::cpp_form, unless compile's options say
// memory_planning=False) runs an add, sub, mul or div that records nothing — under no_grad,
// or on tensors that need no gradient: the learner's `m -= lr * m.grad` — through this
// function, with a frame slot of its own (`keep`) that holds the tensor the same call made
// on the previous replay. When nothing else holds that tensor or its storage (the step let
// it go: no caller, saved tensor, .grad, view or NumPy array has it) and it is still as the
// op made it (no autograd state, version 0, not a view or a parameter, the result's shape
// and dtype), the op's kernel writes into it: the same kernel on the same operands as
// binary_forward's, so the same bits, without making and freeing a tensor per call. Only
// the common case takes that path (float32 or float64 operands of one dtype, contiguous, a
// shape binary_forward gives without building one, a result of at most 64 KiB); every other
// call, and any call whose tensor is still held, runs the op as usual and keeps its result
// (a small one) for the next replay, so a step that keeps the tensor (returns it, stores it)
// gets a new one each time, as eagerly.
Tensor binary_reusing(Tensor (*fn)(const Tensor&, const Tensor&), const Tensor& a,
                      const Tensor& b, Tensor& keep) {
  OpCode op;
  if (fn == &add) op = OpCode::Add;
  else if (fn == &sub) op = OpCode::Sub;
  else if (fn == &mul) op = OpCode::Mul;
  else if (fn == &div) op = OpCode::Div;
  else throw std::runtime_error("internal: binary_reusing of a function other than add, sub, mul, div");
  // Kept only up to the size below which a tensor's own making is a cost next to its kernel
  // (Note [block recycling]'s small buffers): a replay holds at most that per call between
  // runs, and larger results take and give back the buffer cache's memory as before.
  constexpr size_t kKeepBytes = size_t(1) << 16;
  auto as_usual = [&] {
    Tensor r = fn(a, b);
    keep = r->autograd_meta() || r->nbytes() > kKeepBytes ? nullptr : r;
    return r;
  };
  if (!a || !b) return fn(a, b);  // (raises)
  const DType dt = a->dtype();
  if (b->dtype() != dt || (dt != DType::f32 && dt != DType::f64) || !a->is_contiguous() ||
      !b->is_contiguous() || should_record({&a, &b}))
    return as_usual();
  const Shape* outp = borrowed_out_shape(a, b);  // binary_forward's result shape
  if (!outp) return as_usual();
  if (static_cast<size_t>(shape_numel(*outp)) * itemsize(dt) > kKeepBytes) return as_usual();
  const bool free = keep && keep.use_count() == 1 && keep->storage().use_count() == 1 &&
                    !keep->autograd_meta() && !keep->is_view() && !keep->is_parameter() &&
                    keep->is_contiguous() && keep->offset() == 0 && keep->version() == 0 &&
                    keep->dtype() == dt && same_shape(keep->shape(), *outp);
  if (!free) keep = empty(*outp, dt);
  binary_values_into(to_kernel(op), a, b, dt, *outp, keep);
  return keep;
}

// c = a / b  ⇒  da += dc / b ; db −= dc·a / b²
// (db as −dc·((a / b) / b), PyTorch's order: a / b² overflows for |b| > 1e154 (float64)
// where the quotient taken twice does not, and the infinities and NaNs come out the same)
Grads backward_Div(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  if (ctx.needs(0)) da = div(ctx.g(), b);
  if (ctx.needs(1)) db = mul(neg(ctx.g()), div(div(a, b), b));
  return {std::move(da), std::move(db)};
}

// Note [pow by a scalar exponent]
// PyTorch computes a float tensor to a scalar power of ½, −½, 2, 3, −1 or −2 as sqrt, 1/sqrt,
// x·x, x·x·x, 1/x and 1/(x·x) rather than with pow(), and the C pow differs from those at the
// special values: pow(−inf, ½) = +inf but sqrt(−inf) = NaN, pow(−0, ½) = +0 but sqrt(−0) = −0,
// pow(−0, −½) = +inf but 1/sqrt(−0) = −inf. Its gradient b·a^(b−1) then takes the same forms
// (x ** 1.5 at −inf: 1.5·sqrt(−inf) = NaN). tapegrad does the same for a 0-d exponent of the
// base's float dtype (a Python number becomes one); other exponents go through pow().
namespace {
Tensor pow_by_scalar(const Tensor& a, const Tensor& b) {
  if (!a || !b || !is_float(a->dtype()) || b->dim() != 0 || b->dtype() != a->dtype())
    return nullptr;
  const double e = b->item_as_double();
  if (e != 0.5 && e != -0.5 && e != 2.0 && e != 3.0 && e != -1.0 && e != -2.0) return nullptr;
  GradModeGuard off(false);
  if (e == 0.5) return sqrt(a);
  if (e == 2.0) return mul(a, a);
  if (e == 3.0) return mul(mul(a, a), a);
  const Tensor one = scalar_tensor(1.0, a->dtype());
  if (e == -0.5) return div(one, sqrt(a));
  return div(one, e == -1.0 ? a : mul(a, a));
}
}  // namespace

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor c = pow_by_scalar(a, b);  // Note [pow by a scalar exponent]
  if (!c) c = binary_forward(OpCode::Pow, a, b);
  if (should_record({&a, &b}))
    record(OpCode::Pow, {&a, &b}, {&c},
           save_for_backward(a, b, b->requires_grad() ? detach(c) : nullptr));  // c: for db only
  return c;
}
// c = aᵇ  ⇒  da += dc·b·aᵇ⁻¹ (0 where b = 0) ; db += dc·aᵇ·log a (0 where a = 0 and b ≥ 0)
Grads backward_Pow(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  Tensor da, db;
  // A constant scalar exponent other than 0 (x ** 2, the squared error written by hand): the
  // mask is all false and b − 1 is a constant, so da = dc·(b·aᵇ⁻¹) without them (a¹ = a
  // exactly for b = 2). Same ops in the same order as below, two to five fewer.
  if (ctx.needs(0) && !ctx.needs(1) && b->dim() == 0 && is_float(b->dtype()) &&
      !b->requires_grad()) {
    const double bv = b->item_as_double();
    if (bv != 0) {
      const double bm1 = b->dtype() == DType::f32
                             ? static_cast<double>(static_cast<float>(bv) - 1.0f)
                             : bv - 1.0;
      Tensor e = bm1 == 1.0 ? a : pow(a, scalar_tensor(bm1, b->dtype()));
      Tensor d = mul(b, e);
      // Outside create_graph the product dc·d is taken in d's own fresh buffer (d·dc: the
      // same products, one tensor fewer per step of a hand-written squared error).
      if (!grad_enabled() && d->shape() == ctx.g()->shape() &&
          binary_inplace_direct(OpCode::Mul, d, ctx.g()))
        return {std::move(d), nullptr};
      return {mul(ctx.g(), d), nullptr};
    }
  }
  if (ctx.needs(0)) {
    // A bool exponent (x ** True) counts as 0 or 1 in the base's dtype: b − 1 has no bool form.
    const Tensor e = b->dtype() == DType::b8 ? cast(b, a->dtype()) : b;
    Tensor one = scalar_tensor(1.0, e->dtype());
    Tensor d = mul(ctx.g(), mul(e, pow(a, sub(e, one))));
    Tensor b_zero = compare(CmpOp::eq, e, zero_like_scalar(e));
    da = where(b_zero, zero_like_scalar(d), d);
  }
  if (ctx.needs(1)) {
    Tensor d = mul(ctx.g(), mul(result_for_backward(ctx, 2, 0), log(a)));
    Tensor mask = logical_and(compare(CmpOp::eq, a, zero_like_scalar(a)),
                              compare(CmpOp::ge, b, zero_like_scalar(b)));
    db = where(mask, zero_like_scalar(d), d);
  }
  return {std::move(da), std::move(db)};
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
static Grads minmax_backward(BwCtx& ctx, CmpOp wins) {
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
  return {std::move(da), std::move(db)};
}
// c = max(a, b)  ⇒  the rule above, a winning where a > b
Grads backward_Maximum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::gt); }
// c = min(a, b)  ⇒  the rule above mirrored, a winning where a < b
Grads backward_Minimum(BwCtx& ctx) { return minmax_backward(ctx, CmpOp::lt); }

}  // namespace tapegrad

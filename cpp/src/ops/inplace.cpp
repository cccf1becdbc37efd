// In-place updates (add_, sub_, mul_, div_, copy_, fill_, zero_) and the rebasing that makes
// the written tensor the output of the entry that computed its new value.
//
// Note [in-place ops]
// An in-place op computes its result out of place (recording as usual), copies the values
// into self's storage, and — when an entry was recorded — makes self the output of that entry
// (rebase_inplace). The old identity of self stays referenced as the entry's input, so the
// history before the in-place op is intact. Every in-place write bumps the storage's version
// (Note [version counters] in cpp/src/autograd/checks.cpp).
#include <cstring>

#include "ops/common.h"

namespace tapegrad {

void check_inplace(const Tensor& self, const char* op) {
  check_defined(self, op);
  if (self->is_view() || !self->is_contiguous()) check_view_write(self, op);
  if (grad_enabled() && self->requires_grad() && self->is_leaf())
    throw std::runtime_error(
        std::string(op) + ": a leaf Variable that requires grad (shape " +
        shape_str(self->shape()) +
        ") is being used in an in-place operation. Update parameters inside `with "
        "tapegrad.no_grad():`");
}

bool binary_inplace_direct(OpCode op, const Tensor& self, const Tensor& other);  // binary.cpp

namespace {
void check_inplace_shape(const Tensor& self, const Tensor& other, const char* op) {
  if (other->shape() == self->shape()) return;
  const Shape b = broadcast_shapes(self->shape(), other->shape(), op);
  if (b != self->shape())
    throw ValueError(std::string(op) + ": output with shape " + shape_str(self->shape()) +
                     " doesn't match the broadcast shape " + shape_str(b) + " (other has shape " +
                     shape_str(other->shape()) + ")");
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

void inplace_binary(const Tensor& self, const Tensor& other, OpCode op, BinaryFn fn,
                    const char* name) {
  check_inplace(self, name);
  check_defined(other, name);
  check_inplace_shape(self, other, name);
  const DType dt = promote_operands(self->dtype(), self->dim() == 0, other->dtype(), other->dim() == 0);
  // PyTorch's can_cast: the result may not be of a higher kind (bool < int < float) than self.
  if ((is_floating_point(dt) && !is_floating_point(self->dtype())) ||
      (dt != DType::b8 && self->dtype() == DType::b8) ||
      (op == OpCode::Div && !is_floating_point(self->dtype())))
    throw TypeError(std::string(name) + ": result type " +
                    dtype_name(op == OpCode::Div && !is_floating_point(dt) ? DType::f32 : dt) +
                    " can't be cast to the desired output type " + dtype_name(self->dtype()) +
                    " (shape " + shape_str(self->shape()) + ")");
  // mul_/div_ save self's old value for the other operand's gradient, and the result is
  // about to overwrite it: they work on a recorded copy (PyTorch's "original self"), which
  // also keeps that path differentiable under create_graph.
  if (!should_record({&self, &other}) && !self->is_view() && self->is_contiguous() &&
      binary_inplace_direct(op, self, other)) {
    self->bump_version();
    return;
  }
  Tensor a = contiguous(self), b = other;
  if ((op == OpCode::Mul || op == OpCode::Div) && grad_enabled() && other->requires_grad() &&
      a.get() == self.get())
    a = clone(self);
  if (other.get() == self.get()) b = a;
  rebase_inplace(self, fn(a, b));
}
}  // namespace

void add_(const Tensor& self, const Tensor& other) {
  inplace_binary(self, other, OpCode::Add, &add, "add_");
}
void sub_(const Tensor& self, const Tensor& other) {
  inplace_binary(self, other, OpCode::Sub, &sub, "sub_");
}
void mul_(const Tensor& self, const Tensor& other) {
  inplace_binary(self, other, OpCode::Mul, &mul, "mul_");
}
void div_(const Tensor& self, const Tensor& other) {
  inplace_binary(self, other, OpCode::Div, &div, "div_");
}

// x &= y and friends: integers and bools only, so nothing to record; the result must keep
// self's dtype (PyTorch refuses bool &= int64).
namespace {
void inplace_bitwise(const Tensor& self, const Tensor& other, BinaryFn fn, const char* name) {
  check_inplace(self, name);
  check_defined(other, name);
  check_inplace_shape(self, other, name);
  Tensor r = fn(contiguous(self), other);
  if (r->dtype() != self->dtype())
    throw TypeError(std::string(name) + ": result type " + dtype_name(r->dtype()) +
                    " can't be cast to the desired output type " + dtype_name(self->dtype()) +
                    " (shape " + shape_str(self->shape()) + ")");
  assign_broadcast(self, r);
  self->bump_version();
}
}  // namespace

void bitwise_and_(const Tensor& self, const Tensor& other) {
  inplace_bitwise(self, other, &bitwise_and, "bitwise_and_");
}
void bitwise_or_(const Tensor& self, const Tensor& other) {
  inplace_bitwise(self, other, &bitwise_or, "bitwise_or_");
}
void bitwise_xor_(const Tensor& self, const Tensor& other) {
  inplace_bitwise(self, other, &bitwise_xor, "bitwise_xor_");
}

void copy_(const Tensor& self, const Tensor& src) {
  check_inplace(self, "copy_");
  check_defined(src, "copy_");
  check_inplace_shape(self, src, "copy_");
  if (should_record({&self, &src})) {
    // A differentiable copy: where(true, src, self) routes dy to src and zero to self.
    Tensor all = full(self->shape(), 1.0, DType::b8);
    rebase_inplace(self, where(all, cast(src, self->dtype()), contiguous(self)));
    return;
  }
  assign_broadcast(self, src);
  self->bump_version();
}

// Note [in-place forms]
// x.relu_(), x.clamp_(0, 1), x.masked_fill_(m, v), F.relu(x, inplace=True) and the other
// in-place forms of out-of-place ops are made in Python (tapegrad/_inplace.py) from the op
// itself: the op computes its result as usual (recorded, with its own backward), and this call
// writes it into self and hands self the result's place on the tape (rebase_inplace), as the
// arithmetic ones do. An op whose backward reads its input runs on a recorded clone of self when
// a gradient may be needed (PyTorch's "original self"), so the overwrite does not trip the
// version check of its own entry; one that reads only its output or nothing (relu, exp, ...)
// runs on self. A result of a higher kind than self (float into an integer tensor, an integer
// into bool) raises, as PyTorch's can_cast.
void assign_inplace(const Tensor& self, const Tensor& result, const std::string& op) {
  check_inplace(self, op.c_str());
  check_defined(result, op.c_str());
  if (result->shape() != self->shape())
    throw ValueError(op + ": output with shape " + shape_str(self->shape()) +
                     " doesn't match the broadcast shape " + shape_str(result->shape()));
  const DType r = result->dtype(), s = self->dtype();
  if ((is_floating_point(r) && !is_floating_point(s)) || (r != DType::b8 && s == DType::b8))
    throw TypeError(op + ": result type " + dtype_name(r) +
                    " can't be cast to the desired output type " + dtype_name(s) + " (shape " +
                    shape_str(self->shape()) + ")");
  // A result without history (sign, whose output PyTorch differentiates as zero but tapegrad
  // does not record) written into a tensor with history: copy_'s differentiable copy, so the
  // old value gets a zero gradient rather than self keeping a history its values left.
  if (result->node() < 0 && should_record({&self})) {
    copy_(self, result);
    return;
  }
  // (an op may return a strided result, cumsum along dim 0 for one)
  rebase_inplace(self, result->is_contiguous() ? result : contiguous(result));
}

namespace {
// Writes one element of self's dtype (its bytes) into every element of self, as an in-place op
// without autograd.
void fill_element(const Tensor& self, const unsigned char* elem) {
  if (self->is_contiguous()) {
    k::fill_value(itemsize(self->dtype()), self->numel(), elem, self->raw());
  } else {
    Tensor v = empty({}, self->dtype());
    std::memcpy(v->raw(), elem, itemsize(self->dtype()));
    assign_broadcast(self, v);
  }
  self->bump_version();
}
}  // namespace

void fill_(const Tensor& self, const Scalar& value) {
  check_inplace(self, "fill_");
  alignas(8) unsigned char elem[8];
  store_scalar(self->dtype(), value, elem, "fill_");  // Note [exact scalars]
  if (!should_record({&self})) return fill_element(self, elem);  // no temporary
  Tensor v = empty({}, self->dtype());
  std::memcpy(v->raw(), elem, itemsize(self->dtype()));
  copy_(self, v);
}

void fill_tensor_(const Tensor& self, const Tensor& value) {
  check_inplace(self, "fill_");
  check_defined(value, "fill_");
  if (value->dim() != 0)
    throw ValueError("fill_ only supports 0-dimension value tensor but got tensor with " +
                     std::to_string(value->dim()) + " dimensions");
  if (should_record({&self, &value})) {  // where(true, value, self): dy summed to the value
    copy_(self, cast(value, self->dtype()));
    return;
  }
  // The element read before anything is written: the value may be an element of self.
  alignas(8) unsigned char elem[8];
  std::memcpy(elem, contiguous(cast(value, self->dtype()))->raw(), itemsize(self->dtype()));
  fill_element(self, elem);
}

void zero_(const Tensor& self) { fill_(self, 0); }

// ---------------------------------------------------------------------------------------------
void rebase_inplace(const Tensor& self, const Tensor& result_in) {
  Tensor result = result_in;
  if (result->shape() != self->shape())
    throw ValueError("in-place operation: the result has shape " + shape_str(result->shape()) +
                     " but the tensor written to has shape " + shape_str(self->shape()) +
                     " (in-place ops cannot change a tensor's shape)");
  if (result->dtype() != self->dtype()) {
    if (is_floating_point(result->dtype()) && !is_floating_point(self->dtype()))
      throw TypeError(std::string("in-place operation: result type ") +
                      dtype_name(result->dtype()) + " can't be cast to the desired output type " +
                      dtype_name(self->dtype()));
    result = cast(result, self->dtype());
  }
  if (self->is_view()) {  // through the view into its base (Note [views] in view.cpp)
    write_view(self, result);
    return;
  }
  if (!self->is_contiguous()) assign_broadcast(self, result);  // a detached view
  else if (self->nbytes() && self->raw() != result->raw())
    std::memmove(self->raw(), result->raw(), self->nbytes());
  self->bump_version();
  if (result->node() < 0) return;
  adopt_identity(self, result);
}

void adopt_identity(const Tensor& self, const Tensor& result) {
  // Transfer the autograd identity of `result` to `self`.
  AutogradMeta& sm = self->ensure_autograd_meta();
  AutogradMeta& rm = *result->autograd_meta();
  if (sm.node >= 0) {
    Entry& old = sm.tape->entry(sm.node);
    if (sm.slot < static_cast<int32_t>(old.outputs.size()) &&
        old.outputs[sm.slot].ptr == self.get())
      old.outputs[sm.slot].ptr = nullptr;
    sm.tape->decref(sm.node);
  }
  Entry& e = rm.tape->entry(rm.node);
  e.outputs[rm.slot].ptr = self.get();
  sm.node = rm.node;
  sm.slot = rm.slot;
  sm.id = rm.id;
  sm.tape = rm.tape;
  sm.requires_grad = true;  // retains_grad stays: .grad is then w.r.t. the new value
  if (sm.retains_grad) rm.tape->mark_retained(rm.node);
  // The saved alias of the result (if the op saved its output) now lives in self's storage
  // only through the copy above; keep the entry's saved alias valid by pointing it at self.
  for (SavedTensor& st : e.saved)
    if (st.tensor && st.tensor->storage() == result->storage()) {
      st.tensor = detach(self);
      st.version = self->version();
    }
  rm.node = -1;
  rm.tape.reset();
}

}  // namespace tapegrad

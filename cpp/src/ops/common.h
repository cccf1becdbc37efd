// Internal helpers shared by the op families: broadcasting, dims, dtype dispatch, recording.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"
#include "tapegrad/rules.h"
#include "tapegrad/tape.h"

namespace tapegrad {

namespace k = kernels;

void fill_raw(const Tensor& t, double value);  // tensor.cpp

// Broadcast two shapes (NumPy rules) or throw ValueError naming the op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Whether `a` broadcasts into `b` unchanged (broadcast_shapes(a, b) == b): no more dims, and
// each of a's trailing dims 1 or b's.
inline bool broadcasts_into(const Shape& a, const Shape& b) {
  if (a.size() > b.size()) return false;
  const size_t off = b.size() - a.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != 1 && a[i] != b[off + i]) return false;
  return true;
}
// Element strides for reading a contiguous tensor of shape `in` broadcast to `out`
// (0 on broadcast dims), right-aligned.
std::vector<int64_t> bcast_strides(const Shape& in, const Shape& out);
// Normalise a possibly negative dim, or throw IndexError naming the op and the shape.
int64_t norm_dim(int64_t dim, int64_t ndim, const char* op, const Shape& shape);
// Sorted, unique, normalised dims; empty input means all dims.
std::vector<int64_t> norm_dims(const std::vector<int64_t>& dims, const Shape& shape,
                               const char* op);
// Copy x (any dtype) into a new tensor of `dtype` (no history).
Tensor convert(const Tensor& x, DType dtype);
// x itself when it already has `dtype`, else a converted copy (no history).
inline Tensor as_dtype(const Tensor& t, DType d) { return t->dtype() == d ? t : convert(t, d); }
// The same without a reference-count round trip when t already has dtype d: t itself, or the
// conversion kept in `tmp`.
inline const Tensor& as_dtype(const Tensor& t, DType d, Tensor& tmp) {
  if (t->dtype() == d) return t;
  tmp = convert(t, d);
  return tmp;
}
// The value of the unary kernel `kop` on x (no recording; ops/unary.cpp). `float_only` ops turn
// int/bool inputs into float32 (as PyTorch); the others keep the dtype and refuse bool.
Tensor unary_forward(OpCode op, k::Unary kop, const Tensor& x, bool float_only);
// Copy src into dst, broadcasting src to dst's shape and casting to dst's dtype (no history).
void assign_broadcast(const Tensor& dst, const Tensor& src);

inline void check_defined(const Tensor& t, const char* op) {
  if (!t) throw TypeError(std::string(op) + ": expected a Tensor, got None");
}

// A view whose base was written in place since its history was set gets that history
// regenerated from the base (Note [views] in ops/view.cpp).
void refresh_view(const Tensor& v);

// Record when grad mode is on and an input requires grad.
inline bool should_record(std::initializer_list<const Tensor*> ins) {
  if (!grad_enabled()) return false;
  bool any = false;
  for (const Tensor* t : ins) {
    if (!*t) continue;
    if ((*t)->is_view()) [[unlikely]] refresh_view(*t);
    any = any || (*t)->requires_grad();
  }
  return any;
}
// Record one entry: `saved` is what the op's backward reads, `attrs` the op's own attribute
// struct (any type; Note [typed attributes] in tapegrad/attrs.h).
inline Entry& record(OpCode op, TensorRefs inputs, TensorRefs outputs, SavedList saved = {},
                     AttrBox attrs = {}) {
  return Tape::current()->record(op, inputs, outputs, std::move(saved), std::move(attrs));
}

// The saved list of an op, each tensor copied once (a braced list copies each twice; the
// reference-count traffic shows on tiny ops). Null entries keep their slot.
template <class... Ts>
SavedList save_for_backward(Ts&&... ts) {
  SavedList s;
  (s.push_back(std::forward<Ts>(ts)), ...);
  return s;
}

// Mark `self` as the output of the entry that produced `result` (in-place ops), copying the
// data of `result` into `self`'s storage. Note [in-place ops] in inplace.cpp.
void rebase_inplace(const Tensor& self, const Tensor& result);

// A view of contiguous `base` with a new shape sharing storage; `track` makes it a view of
// base for autograd (Note [views]), else an untracked alias.
Tensor make_view(const Tensor& base, Shape shape, bool track);

// ----- views (ops/view.cpp, Note [views]) -----
// The tensor whose storage x shares as a view (x itself when x is not a view).
const Tensor& view_root(const Tensor& x);
// Makes v a view of x's root for autograd (Note [views]).
void mark_view_of(const Tensor& v, const Tensor& x);
// A view of x over x's storage with this geometry (strides and offset in elements).
Tensor make_strided_view(const Tensor& x, Shape shape, std::vector<int64_t> strides,
                         int64_t offset);
// Before an in-place op writes into self: PyTorch's refusals for overlapping memory and for
// views of leaves that require grad.
void check_view_write(const Tensor& self, const char* op);
// Writes `result` (self's shape and dtype) through the view self and, when result carries
// history, makes the base the output of an IndexPut entry and self a Gather of it.
void write_view(const Tensor& self, const Tensor& result);
// Makes `self` the output the entry that produced `out` recorded (out gives its identity up).
void adopt_identity(const Tensor& self, const Tensor& out);

// x[...] = v and the writes through views: the shape of the indexed region (v is broadcast
// to it).
struct IndexPutAttrs {
  Shape indexed_shape;
};

// The kernel layer's name for a compute dtype. Ops hand pointers to kernels (tapegrad/kernels.h)
// and never loop over elements themselves. A storage dtype is refused here (Note [storage
// dtypes] in cpp/src/tensor.cpp): the arithmetic kernels have no slot for it; casts and fills
// take storage_elem (tapegrad/tensor.h).
inline k::Elem elem(DType t) {
  switch (t) {
    case DType::f32: return k::Elem::f32;
    case DType::f64: return k::Elem::f64;
    case DType::i64: return k::Elem::i64;
    case DType::b8: return k::Elem::u8;
    default: break;
  }
  throw_storage_dtype("", t);
}

[[noreturn]] void throw_dtype(const char* op, const Tensor& t, const char* expected);
inline void require_float(const Tensor& t, const char* op) {
  if (!is_float(t->dtype())) throw_dtype(op, t, "a floating-point tensor");
}

}  // namespace tapegrad

// Views: tensors that share their base's storage with a shape, strides and offset of their own
// (basic indexing, transpose, permute, expand, squeeze/unsqueeze, view/reshape), and the
// autograd of writing through them.
//
// Note [views]
// A view op returns a TensorImpl over the input's storage; the view remembers its base — the
// root of the chain (a view of a view points at the first tensor) — so every write through
// any of them lands in the same memory and bumps the same version counter. Kernels read
// contiguous memory only (TensorImpl::raw refuses anything else): the bindings hand every op a
// contiguous copy of a strided argument (`contiguous`, a recorded copy) unless the binding
// reads strides itself (view ops, in-place writes, metadata, numpy()).
//
// Autograd, as PyTorch's:
// * A view op records its usual entry (Transpose, Permute, Expand, Reshape; basic indexing a
//   Gather by element offsets) with the view as output: the backward does not care that the
//   output shares memory.
// * An in-place op on a view computes its result out of place and writes it through the view.
//   When that result carries history, the base becomes the output of an IndexPut entry (the
//   base before, with the view's elements replaced by the result: PyTorch's CopySlices), and
//   the view the output of a Gather from the new base — so the gradient of everything read
//   from the base afterwards goes through the write, and the base's old history stays intact.
//   Writing into a view of a leaf that requires grad raises, as in PyTorch.
// * Other views of that base, made before the write, still name the base's old history. Each
//   view keeps the autograd id its base had when the view's history was last set; before a
//   view is recorded as an input (should_record), a newer id on the base regenerates the view's
//   history as a Gather from the base (PyTorch regenerates grad_fn from the version counter).
//
// Offsets for those entries are counted in the base's row-major numbering, so the base must
// be contiguous; a root base that is itself strided (a detached view) can be read through
// views, but writing through its views while recording raises.
#include <algorithm>
#include "blocks.h"

#include "ops/common.h"

namespace tapegrad {

namespace {

uint64_t current_id(const Tensor& t) {
  const AutogradMeta* m = t->autograd_meta();
  return m ? m->id : 0;
}

// Element offsets (int64, shaped like the view) of view `v` in its base's row-major numbering.
Tensor offsets_in_base(const Tensor& v, const Tensor& base, const char* op) {
  if (!base->is_contiguous())
    throw std::runtime_error(std::string(op) + ": the tensor of shape " + shape_str(v->shape()) +
                             " is a view of a non-contiguous tensor of shape " +
                             shape_str(base->shape()) + " (a detached view); recording "
                             "gradients through it is not supported: clone() that tensor first");
  const std::vector<int64_t> st = v->strides();
  Tensor off = empty(v->shape(), DType::i64);
  k::index_offsets(static_cast<int>(v->dim()), v->shape().data(), st.data(), -1, nullptr,
                   v->offset() - base->offset(), off->data<int64_t>());
  return off;
}

// A tensor over the same memory as t, without autograd state: the output an entry records
// before its identity moves onto t (adopt_identity).
Tensor alias(const Tensor& t) {
  return blocks::make_tensor(t->storage(), t->offset(), blocks::copy_shape(t->shape()),
                             t->strides(), t->dtype());
}

}  // namespace

const Tensor& view_root(const Tensor& x) { return x->is_view() ? x->view_base() : x; }

void mark_view_of(const Tensor& v, const Tensor& x) {
  const Tensor& root = view_root(x);
  v->set_view_base(root, current_id(root));
}

Tensor make_strided_view(const Tensor& x, Shape shape, std::vector<int64_t> strides,
                         int64_t offset) {
  Tensor v = blocks::make_tensor(x->storage(), offset, std::move(shape),
                                 std::move(strides), x->dtype());
  mark_view_of(v, x);
  return v;
}

void refresh_view(const Tensor& v) {
  const Tensor& base = v->view_base();
  const uint64_t id = current_id(base);
  if (id == v->view_base_id()) return;
  if (!base->requires_grad()) {
    v->set_view_base(base, id);  // nothing to route gradients to
    return;
  }
  Tensor off = offsets_in_base(v, base, "view");
  Tensor out = alias(v);
  record(OpCode::Gather, {&base}, {&out}, save_for_backward(std::move(off)));
  adopt_identity(v, out);
  v->set_view_base(base, id);
}

void sync_view(const Tensor& v) {
  if (v && v->is_view() && grad_enabled()) refresh_view(v);
}

void check_view_write(const Tensor& self, const char* op) {
  const std::vector<int64_t> st = self->is_contiguous() ? std::vector<int64_t>{} : self->strides();
  for (size_t d = 0; d < st.size(); ++d)
    if (st[d] == 0 && self->shape()[d] > 1)
      throw std::runtime_error(
          std::string(op) + ": unsupported operation: more than one element of the written-to "
          "tensor (shape " + shape_str(self->shape()) + ") refers to a single memory location. "
          "Please clone() the tensor before performing the operation.");
  if (!self->is_view() || !grad_enabled()) return;
  const Tensor& base = self->view_base();
  if (base->requires_grad() && base->is_leaf())
    throw std::runtime_error(std::string(op) + ": a view of a leaf Variable that requires grad "
                             "is being used in an in-place operation (base shape " +
                             shape_str(base->shape()) + ", view shape " +
                             shape_str(self->shape()) + ").");
}

void write_view(const Tensor& self, const Tensor& result) {
  assign_broadcast(self, result);
  self->bump_version();
  if (result->node() < 0) return;  // nothing recorded: the base's history stays as it is
  const Tensor base = self->view_base();
  Tensor off = offsets_in_base(self, base, "in-place operation");
  Tensor nb = alias(base);
  record(OpCode::IndexPut, {&base, &result}, {&nb}, save_for_backward(off),
         IndexPutAttrs{self->shape()});
  adopt_identity(base, nb);
  Tensor nv = alias(self);
  record(OpCode::Gather, {&base}, {&nv}, save_for_backward(std::move(off)));
  adopt_identity(self, nv);
  self->set_view_base(base, current_id(base));
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous");
  if (x->is_contiguous()) return x;
  Tensor y = clone_data(x);
  if (should_record({&x})) record(OpCode::Clone, {&x}, {&y});
  return y;
}

}  // namespace tapegrad

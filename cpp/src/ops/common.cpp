// Shared helpers of the op families (broadcasting, dims, conversion, views).
#include "ops/common.h"
#include "blocks.h"

#include <algorithm>

namespace tapegrad {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ValueError(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                       " cannot be broadcast together (dimension " + std::to_string(i) +
                       ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> bcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  const std::vector<int64_t> cs = contiguous_strides(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

int64_t norm_dim(int64_t dim, int64_t ndim, const char* op, const Shape& shape) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    throw IndexError(std::string(op) + ": dimension " + std::to_string(dim) +
                     " is out of range for a tensor of shape " + shape_str(shape) +
                     " (expected a dim in [" + std::to_string(-n) + ", " +
                     std::to_string(n - 1) + "])");
  return dim < 0 ? dim + n : dim;
}

std::vector<int64_t> norm_dims(const std::vector<int64_t>& dims, const Shape& shape,
                               const char* op) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < nd; ++i) out.push_back(i);
    return out;
  }
  for (int64_t d : dims) {
    const int64_t nd_ = norm_dim(d, nd, op, shape);
    if (nd == 0) continue;  // a 0-d tensor accepts dim 0 / -1 and has nothing to reduce
    if (std::find(out.begin(), out.end(), nd_) != out.end())
      throw ValueError(std::string(op) + ": dim " + std::to_string(d) +
                       " appears multiple times in the list of dims");
    out.push_back(nd_);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Tensor convert(const Tensor& x, DType dtype) {
  Tensor out = empty(x->shape(), dtype);
  k::cast(storage_elem(x->dtype()), storage_elem(dtype), x->numel(), x->raw(), out->raw());
  return out;
}

void assign_broadcast(const Tensor& dst, const Tensor& src_in) {
  Tensor src = src_in->dtype() == dst->dtype() ? src_in : convert(src_in, dst->dtype());
  // src may be a contiguous view of the memory written (x[1:].copy_(x[:-1]), x.T.copy_(x)):
  // read it whole before writing, unless it is exactly the destination.
  if (src->storage() == dst->storage() && !(src->shape() == dst->shape() && dst->is_contiguous()))
    src = clone_data(src);
  if (!dst->is_contiguous()) {  // a strided view: element by element through its strides
    const Shape& out = dst->shape();
    if (src->dim() > dst->dim() || broadcast_shapes(src->shape(), out, "copy_") != out)
      throw ValueError("copy_: a value of shape " + shape_str(src->shape()) +
                       " cannot be broadcast to the destination shape " + shape_str(out));
    const std::vector<int64_t> st = bcast_strides(src->shape(), out), dst_st = dst->strides();
    k::copy_strided(itemsize(dst->dtype()), static_cast<int>(out.size()), out.data(), src->raw(),
                    st.data(), dst->data_ptr(), dst_st.data());
    return;
  }
  if (src->shape() == dst->shape()) {
    if (dst->nbytes() && dst->raw() != src->raw()) std::memmove(dst->raw(), src->raw(), dst->nbytes());
    return;
  }
  const Shape& out = dst->shape();
  broadcast_shapes(src->shape(), out, "copy_");
  if (src->dim() > dst->dim() ||
      broadcast_shapes(src->shape(), out, "copy_") != out)
    throw ValueError("copy_: a value of shape " + shape_str(src->shape()) +
                     " cannot be broadcast to the destination shape " + shape_str(out));
  const std::vector<int64_t> st = bcast_strides(src->shape(), out);
  const std::vector<int64_t> dst_st = contiguous_strides(out);
  k::copy_strided(itemsize(dst->dtype()), static_cast<int>(out.size()), out.data(), src->raw(),
                  st.data(), dst->raw(), dst_st.data());
}

Tensor make_view(const Tensor& base, Shape shape, bool track) {
  Tensor v = blocks::make_tensor(base->storage(), base->offset(), std::move(shape),
                                 base->dtype());
  if (track) mark_view_of(v, base);
  return v;
}

void throw_dtype(const char* op, const Tensor& t, const char* expected) {
  throw TypeError(std::string(op) + ": expected " + expected + ", got a tensor of dtype " +
                  dtype_name(t->dtype()) + " and shape " + shape_str(t->shape()));
}

}  // namespace tapegrad

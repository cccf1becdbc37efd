// Gather and scatter along a dim (torch.gather, scatter, scatter_add and the in-place
// scatter_, scatter_add_). Each turns its index into element offsets of the flat tensor and
// calls one of indexing's flat primitives (ops/index.cpp), so no backward is written here:
//
//   gather       y = x[off]                           dx += scatter_add(dy, off)
//   scatter      y = x; y[off] = s  (last write wins)  dx += dy with zeros at off ; ds += dy[off]
//   scatter_add  y = x; y[off] += s (in order)        dx += dy ; ds += dy[off]
//
// which are PyTorch's formulas (gather's backward is scatter_add; scatter's gradient with
// respect to src is a gather, with respect to input the output's with the written positions
// masked). `s` is the leading block of src the size of index (PyTorch reads no more of it).
#include <string>

#include "ops/common.h"

namespace tapegrad {

namespace {

// PyTorch treats a 0-d input, index or src of these ops as 1-d of one element.
Shape as_1d(const Shape& s) { return s.empty() ? Shape{1} : s; }

std::string op_prefix(const char* op) { return std::string(op) + "(): "; }

// Element offsets into a contiguous tensor of shape `xs_in`, one per element of `index`
// (row-major): off = Σ_{d≠dim} i_d·stride_d + index[i]·stride_dim. Checks what PyTorch checks,
// with its messages: index dtype and rank, index sizes (no larger than x's outside `dim`, no
// larger than src's anywhere), and every index value in [0, size of dim) — so the flat
// primitives never read or write outside the tensor.
Tensor dim_offsets(const Shape& xs_in, int64_t dim, const Tensor& index_in, const Shape* src_in,
                   const char* op) {
  check_defined(index_in, op);
  if (index_in->dtype() != DType::i64 && index_in->dtype() != DType::i32)
    throw std::runtime_error(op_prefix(op) + "Expected dtype int32/int64 for index, got " +
                             dtype_name(index_in->dtype()));
  const Tensor index = as_dtype(index_in, DType::i64);  // int32 as PyTorch takes it
  const Shape xs = as_1d(xs_in), is = as_1d(index->shape());
  const int64_t nd = static_cast<int64_t>(xs.size());
  const int64_t d = norm_dim(dim, nd, op, xs_in);
  if (static_cast<int64_t>(is.size()) != nd)
    throw std::runtime_error(op_prefix(op) + "Index tensor must have the same number of " +
                             "dimensions as input tensor (index " + shape_str(index->shape()) +
                             ", input " + shape_str(xs_in) + ")");
  if (src_in) {
    const Shape ss = as_1d(*src_in);
    if (ss.size() != is.size())
      throw std::runtime_error(op_prefix(op) + "Index tensor must have the same number of " +
                               "dimensions as src tensor (index " + shape_str(index->shape()) +
                               ", src " + shape_str(*src_in) + ")");
    for (int64_t k = 0; k < nd; ++k)
      if (is[k] > ss[k] || (k != d && is[k] > xs[k]))
        throw std::runtime_error(op_prefix(op) + "Expected index " + shape_str(index->shape()) +
                                 " to be no larger than self " + shape_str(xs_in) +
                                 " apart from dimension " + std::to_string(d) +
                                 " and to be no larger size than src " + shape_str(*src_in));
  } else {
    for (int64_t k = 0; k < nd; ++k)
      if (k != d && is[k] > xs[k])
        throw std::runtime_error(op_prefix(op) + "Size does not match at dimension " +
                                 std::to_string(k) + " expected index " +
                                 shape_str(index->shape()) + " to be no larger than self " +
                                 shape_str(xs_in) + " apart from dimension " + std::to_string(d));
  }
  Tensor off = empty(index->shape(), DType::i64);
  const int64_t n = index->numel();
  if (n == 0) return off;
  const int64_t* iv = index->data<int64_t>();
  const int64_t bad = k::find_out_of_range(n, iv, 0, xs[d]);
  if (bad >= 0)
    throw std::runtime_error(op_prefix(op) + "index " + std::to_string(iv[bad]) +
                             " is out of bounds for dimension " + std::to_string(d) +
                             " with size " + std::to_string(xs[d]));
  const std::vector<int64_t> stride = contiguous_strides(xs);
  std::vector<int64_t> outer = stride;
  outer[d] = 0;  // dim `d` is looked up in index below
  k::index_offsets(static_cast<int>(nd), is.data(), outer.data(), -1, nullptr, 0,
                   off->data<int64_t>());
  k::add_index_offsets(n, iv, xs[d], stride[d], off->data<int64_t>());
  return off;
}

// The leading block of src the size of index, in index's shape (a differentiable slice).
Tensor src_block(const Tensor& src, const Tensor& idx) {
  if (src->shape() == idx->shape()) return src;
  const Shape is = as_1d(idx->shape());
  std::vector<IndexItem> items(is.size());
  for (size_t k = 0; k < is.size(); ++k) {
    items[k].kind = IndexItem::Slice;
    items[k].stop = is[k];
    items[k].has_stop = true;
  }
  Tensor s = src->dim() == 0 ? reshape(src, {1}) : src;
  return reshape(index(s, items), idx->shape());
}

void check_same_dtype(const Tensor& x, const Tensor& src, const char* op) {
  check_defined(src, op);
  if (src->dtype() != x->dtype())
    throw std::runtime_error(op_prefix(op) + "Expected self.dtype to be equal to src.dtype (" +
                             dtype_name(x->dtype()) + " and " + dtype_name(src->dtype()) + ")");
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined(x, "gather");
  Tensor off = dim_offsets(x->shape(), dim, index, nullptr, "gather");
  return gather_flat(x, off, index->shape());
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined(x, "scatter");
  check_same_dtype(x, src, "scatter");
  Tensor off = dim_offsets(x->shape(), dim, index, &src->shape(), "scatter");
  return scatter_flat(x, off, src_block(src, index));
}

Tensor scatter_value(const Tensor& x, int64_t dim, const Tensor& index, double value) {
  check_defined(x, "scatter");
  Tensor off = dim_offsets(x->shape(), dim, index, nullptr, "scatter");
  return scatter_flat(x, off, full(index->shape(), value, x->dtype()));
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined(x, "scatter_add");
  check_same_dtype(x, src, "scatter_add");
  if (x->dtype() == DType::b8)
    throw TypeError("scatter_add: bool tensors are not supported (shape " +
                    shape_str(x->shape()) + ")");
  Tensor off = dim_offsets(x->shape(), dim, index, &src->shape(), "scatter_add");
  // One ScatterAdd of [x, s] into zeros: x lands on its own offsets first, then s in order, so
  // a repeated position sums as PyTorch's loop does (x + s₁ + s₂ …), and the entry recorded
  // last is ScatterAdd (grad_fn ScatterAddBackward0, as PyTorch's).
  const int64_t n = x->numel();
  Tensor offs = cat({arange(0.0, static_cast<double>(n), 1.0, DType::i64), reshape(off, {-1})}, 0);
  Tensor vals = cat({reshape(x, {-1}), reshape(src_block(src, index), {-1})}, 0);
  return scatter_add_flat(vals, offs, x->shape());
}

void scatter_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_inplace(x, "scatter_");
  rebase_inplace(x, scatter(contiguous(x), dim, index, src));
}

void scatter_value_(const Tensor& x, int64_t dim, const Tensor& index, double value) {
  check_inplace(x, "scatter_");
  rebase_inplace(x, scatter_value(contiguous(x), dim, index, value));
}

void scatter_add_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_inplace(x, "scatter_add_");
  rebase_inplace(x, scatter_add(contiguous(x), dim, index, src));
}

}  // namespace tapegrad

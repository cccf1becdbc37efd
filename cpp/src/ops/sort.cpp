// Sorting and selection by value: sort, argsort, topk, kthvalue, msort, and nonzero. The
// order comes from the kernel layer (kernels::sort_indices: NaN largest, ties in position
// order, as a stable sort); the values are a flat gather of the input at the chosen positions,
// so they record the indexing ops' Gather entry and the gradient flows back to exactly those
// positions (dx[idx] += dvalues, a scatter by the same offsets). None has a backward of its
// own. The indices never carry a gradient (int64).
#include <stdexcept>

#include "ops/common.h"

namespace tapegrad {

namespace {

struct Along {
  int64_t dim;  // normalised (0 for a 0-d input)
  int64_t outer, r, inner;
};

Along along(const Tensor& x, int64_t dim, const char* op) {
  check_defined(x, op);
  Along a{norm_dim(dim, x->dim(), op, x->shape()), 1, 1, 1};
  const Shape& s = x->shape();
  for (int64_t i = 0; i < x->dim(); ++i) {
    if (i < a.dim) a.outer *= s[i];
    else if (i == a.dim) a.r = s[i];
    else a.inner *= s[i];
  }
  return a;
}

// The first k positions along `dim` in sorted order, and the values there (differentiable).
std::pair<Tensor, Tensor> first_k(const Tensor& x, const Along& a, int64_t k, bool descending) {
  Shape out = x->shape();
  if (x->dim() > 0) out[a.dim] = k;
  else k = 1;  // a 0-d input gives itself (PyTorch's topk(x, 0) of a 0-d x too)
  Tensor idx = empty(out, DType::i64);
  // A storage dtype orders as its exact compute-dtype copy (Note [storage dtypes]).
  const Tensor keys = is_small(x->dtype()) ? convert(x, wide(x->dtype())) : x;
  k::sort_indices(elem(keys->dtype()), a.outer, a.r, a.inner, keys->raw(), descending, k,
                  idx->data<int64_t>());
  Tensor off = empty(out, DType::i64);
  k::take_offsets(a.outer, a.r, k, a.inner, idx->data<int64_t>(), off->data<int64_t>());
  return {gather_flat(x, off, out), idx};
}

void check_k(const Tensor& x, const Along& a, int64_t k, int64_t lo, const char* op,
             const char* what) {
  if (k < lo || k > a.r)
    throw std::runtime_error(std::string(op) + ": " + what + " k = " + std::to_string(k) +
                             " is out of range for dimension " + std::to_string(a.dim) +
                             " of size " + std::to_string(a.r) + " (tensor shape " +
                             shape_str(x->shape()) + ")");
}

}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  // Always stable: PyTorch leaves the order of equal entries open unless stable=True.
  const Along a = along(x, dim, "sort");
  return first_k(x, a, a.r, descending);
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  GradModeGuard off(false);  // only the indices are returned
  return tapegrad::sort(x, dim, descending, stable).second;
}

Tensor msort(const Tensor& x) { return tapegrad::sort(x, 0, false, false).first; }

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest,
                               bool /*sorted*/) {
  // The k entries always come sorted (PyTorch allows any order when sorted=False).
  const Along a = along(x, dim, "topk");
  check_k(x, a, k, 0, "topk", "selected index");
  return first_k(x, a, k, largest);
}

std::pair<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim, bool keepdim) {
  const Along a = along(x, dim, "kthvalue");
  check_k(x, a, k, 1, "kthvalue", "selected number");
  // The k smallest, then the last of them: a slice (keepdim) or an integer index along dim.
  auto [values, idx] = first_k(x, a, k, false);
  if (x->dim() == 0) return {values, idx};
  IndexItem all;
  all.kind = IndexItem::Slice;
  IndexItem last;
  if (keepdim) {
    last.kind = IndexItem::Slice;
    last.start = k - 1;
    last.stop = k;
    last.has_start = last.has_stop = true;
  } else {
    last.i = k - 1;
  }
  std::vector<IndexItem> items(static_cast<size_t>(a.dim), all);
  items.push_back(last);
  Tensor i;
  {
    GradModeGuard off(false);
    i = index(idx, items);
  }
  return {index(values, items), i};
}

std::vector<Tensor> nonzero(const Tensor& x) {
  check_defined(x, "nonzero");
  Tensor mask;
  {
    GradModeGuard off(false);
    mask = x->dtype() == DType::b8 ? x : compare(CmpOp::ne, x, scalar_tensor(0.0, x->dtype()));
  }
  // A 0-d input counts as one element of a 1-d tensor for the coordinates (PyTorch's as_tuple
  // form), and has no coordinate columns otherwise; the caller shapes the result.
  const Shape shape = x->dim() == 0 ? Shape{1} : x->shape();
  const uint8_t* p = mask->data<uint8_t>();
  const int64_t nnz = k::count_nonzero(mask->numel(), p);
  std::vector<int64_t> st(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * shape[d + 1];
  std::vector<Tensor> cols;
  std::vector<int64_t*> ptrs;
  for (size_t d = 0; d < shape.size(); ++d) {
    cols.push_back(empty({nnz}, DType::i64));
    ptrs.push_back(cols.back()->data<int64_t>());
  }
  k::nonzero_coords(static_cast<int>(shape.size()), st.data(), mask->numel(), p, ptrs.data());
  return cols;
}

}  // namespace tapegrad

// Shape ops: reshape (a view), permute/transpose (copies), expand, cat, and the composites
// (flatten, squeeze, unsqueeze, stack) built on them.
#include <algorithm>
#include "blocks.h"
#include <numeric>

#include "ops/common.h"

namespace tapegrad {

namespace {
Shape infer_shape(const Shape& want, int64_t numel, const Shape& from, const char* op) {
  Shape s = want;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw ValueError(std::string(op) + ": only one dimension can be inferred (-1) in " + shape_str(want));
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      throw ValueError(std::string(op) + ": invalid shape dimension " + std::to_string(s[i]) + " in " + shape_str(want));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw ValueError(std::string(op) + ": shape " + shape_str(want) +
                       " is invalid for input of size " + std::to_string(numel) + " (shape " +
                       shape_str(from) + ")");
    s[infer] = numel / known;
  } else if (known != numel) {
    throw ValueError(std::string(op) + ": shape " + shape_str(want) +
                     " is invalid for input of size " + std::to_string(numel) + " (shape " +
                     shape_str(from) + ")");
  }
  return s;
}
}  // namespace

namespace {
// reshape recorded under the backward name PyTorch gives the view op that asked for it.
Tensor reshape_named(const Tensor& x, const Shape& shape, const char* name) {
  check_defined(x, "reshape");
  Shape s = infer_shape(shape, x->numel(), x->shape(), "reshape");
  if (s == x->shape() && !x->requires_grad()) return make_view(x, s, true);
  Tensor y = make_view(x, std::move(s), true);
  if (should_record({&x})) record(OpCode::Reshape, {&x}, {&y}).display = name;
  return y;
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  return reshape_named(x, shape, "ViewBackward0");
}
// y = reshape(x)  ⇒  dx += reshape(dy, x.shape)
Grads backward_Reshape(BwCtx& ctx) { return {reshape(ctx.g(), ctx.in_shape(0))}; }

Tensor view(const Tensor& x, const Shape& shape) {
  check_defined(x, "view");
  infer_shape(shape, x->numel(), x->shape(), "view");  // errors name the op called
  return reshape(x, shape);
}

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  check_defined(x, "flatten");
  if (x->dim() == 0) return reshape(x, {1});
  const int64_t s = norm_dim(start, x->dim(), "flatten", x->shape());
  const int64_t e = norm_dim(end, x->dim(), "flatten", x->shape());
  if (s > e) throw ValueError("flatten: start_dim cannot come after end_dim");
  Shape out;
  for (int64_t i = 0; i < s; ++i) out.push_back(x->shape()[i]);
  int64_t p = 1;
  for (int64_t i = s; i <= e; ++i) p *= x->shape()[i];
  out.push_back(p);
  for (int64_t i = e + 1; i < x->dim(); ++i) out.push_back(x->shape()[i]);
  return reshape(x, out);
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  check_defined(x, "squeeze");
  Shape out;
  if (dim) {
    const int64_t d = norm_dim(*dim, x->dim(), "squeeze", x->shape());
    for (int64_t i = 0; i < x->dim(); ++i)
      if (i != d || x->shape()[i] != 1) out.push_back(x->shape()[i]);
  } else {
    for (int64_t s : x->shape())
      if (s != 1) out.push_back(s);
  }
  return reshape_named(x, out, dim ? "SqueezeBackward1" : "SqueezeBackward0");
}

Tensor squeeze(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined(x, "squeeze");
  std::vector<bool> named(static_cast<size_t>(std::max<int64_t>(x->dim(), 1)), false);
  for (int64_t d : dims) {
    const int64_t n = norm_dim(d, x->dim(), "squeeze", x->shape());
    if (named[static_cast<size_t>(n)])  // PyTorch's RuntimeError and words
      throw std::runtime_error("squeeze: dim " + std::to_string(n) +
                               " appears multiple times in the list of dims (tensor of shape " +
                               shape_str(x->shape()) + ")");
    named[static_cast<size_t>(n)] = true;
  }
  Shape out;
  for (int64_t i = 0; i < x->dim(); ++i)
    if (!named[static_cast<size_t>(i)] || x->shape()[i] != 1) out.push_back(x->shape()[i]);
  return reshape_named(x, out, "SqueezeBackward2");
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined(x, "unsqueeze");
  const int64_t d = norm_dim(dim, x->dim() + 1, "unsqueeze", x->shape());
  Shape out = x->shape();
  out.insert(out.begin() + d, 1);
  return reshape_named(x, out, "UnsqueezeBackward0");
}

// ---------------------------------------------------------------------------------------------
namespace {
// permute: the normalised permutation (output dim i reads input dim dims[i]).
struct PermuteAttrs {
  std::vector<int64_t> dims;
};
}  // namespace

namespace {
// permute's checks: the normalised order (output dim i reads input dim dims[i]).
std::vector<int64_t> permute_order(const Tensor& x, const std::vector<int64_t>& dims_in) {
  const int64_t nd = x->dim();
  if (static_cast<int64_t>(dims_in.size()) != nd)
    throw ValueError("permute: number of dims " + std::to_string(dims_in.size()) +
                     " doesn't match the tensor's " + std::to_string(nd) + " dims (shape " +
                     shape_str(x->shape()) + ")");
  std::vector<int64_t> dims(nd);
  std::vector<bool> seen(nd, false);
  for (int64_t i = 0; i < nd; ++i) {
    dims[i] = norm_dim(dims_in[i], nd, "permute", x->shape());
    if (seen[dims[i]])
      throw ValueError("permute: repeated dim " + std::to_string(dims_in[i]) + " in dims " +
                       shape_str(dims_in) + " for a tensor of shape " + shape_str(x->shape()));
    seen[dims[i]] = true;
  }
  return dims;
}
}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims_in) {
  check_defined(x, "permute");
  const int64_t nd = x->dim();
  std::vector<int64_t> dims = permute_order(x, dims_in);
  Shape out(nd);
  const std::vector<int64_t> xs = contiguous_strides(x->shape());
  std::vector<int64_t> st(nd);
  for (int64_t i = 0; i < nd; ++i) {
    out[i] = x->shape()[dims[i]];
    st[i] = xs[dims[i]];
  }
  Tensor y = empty(out, x->dtype());
  const std::vector<int64_t> yst = contiguous_strides(out);
  k::copy_strided(itemsize(x->dtype()), static_cast<int>(nd), out.data(), x->raw(), st.data(),
                  y->raw(), yst.data());
  if (should_record({&x}))
    record(OpCode::Permute, {&x}, {&y}, {}, PermuteAttrs{std::move(dims)});
  return y;
}
// y = permute(x, p)  ⇒  dx += permute(dy, p⁻¹)
Grads backward_Permute(BwCtx& ctx) {
  const std::vector<int64_t>& p = ctx.attrs<PermuteAttrs>().dims;
  std::vector<int64_t> inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
  return {permute(ctx.g(), inv)};
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined(x, "transpose");
  if (x->dim() == 0) {
    norm_dim(d0, 0, "transpose", x->shape());
    norm_dim(d1, 0, "transpose", x->shape());
    return x;
  }
  const int64_t a = norm_dim(d0, x->dim(), "transpose", x->shape());
  const int64_t b = norm_dim(d1, x->dim(), "transpose", x->shape());
  std::vector<int64_t> p(x->dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[a], p[b]);
  return permute(x, p);
}

Tensor t(const Tensor& x) {
  check_defined(x, "T");
  if (x->dim() < 2) return x;
  std::vector<int64_t> p(x->dim());
  for (int64_t i = 0; i < x->dim(); ++i) p[i] = x->dim() - 1 - i;
  return permute(x, p);
}

// ---------------------------------------------------------------------------------------------
namespace {
// expand's checks: the result's shape.
Shape expanded_shape(const Tensor& x, const Shape& shape_in) {
  const int64_t nd = static_cast<int64_t>(shape_in.size());
  if (nd < x->dim())
    throw ValueError("expand: the number of sizes provided (" + std::to_string(nd) +
                     ") must be greater or equal to the number of dimensions in the tensor (" +
                     std::to_string(x->dim()) + ", shape " + shape_str(x->shape()) + ")");
  Shape out(nd);
  const int64_t lead = nd - x->dim();
  for (int64_t i = 0; i < nd; ++i) {
    const int64_t want = shape_in[i];
    if (i < lead) {
      if (want < 0) throw ValueError("expand: -1 is not allowed in a leading, non-existing dimension (shape " + shape_str(shape_in) + ")");
      out[i] = want;
      continue;
    }
    const int64_t have = x->shape()[i - lead];
    if (want == -1 || want == have) out[i] = have;
    else if (have == 1 && want >= 0) out[i] = want;
    else
      throw ValueError("expand: the expanded size of the tensor (" + std::to_string(want) +
                       ") must match the existing size (" + std::to_string(have) +
                       ") at non-singleton dimension " + std::to_string(i) + ". Target sizes: " +
                       shape_str(shape_in) + ". Tensor sizes: " + shape_str(x->shape()));
  }
  return out;
}
}  // namespace

Tensor expand(const Tensor& x, const Shape& shape_in) {
  check_defined(x, "expand");
  const Shape out = expanded_shape(x, shape_in);
  if (out == x->shape()) return x;
  Tensor y = empty(out, x->dtype());
  assign_broadcast(y, x);
  if (should_record({&x})) record(OpCode::Expand, {&x}, {&y});
  return y;
}
// y = expand(x)  ⇒  dx += sum_to(dy, x.shape)
Grads backward_Expand(BwCtx& ctx) { return {sum_to(ctx.g(), ctx.in_shape(0))}; }

// ---------------------------------------------------------------------------------------------
namespace {
// cat: each input's extent along the concatenated dim, and that dim.
struct CatAttrs {
  std::vector<int64_t> sizes;
  int64_t dim;
};
}  // namespace

Tensor cat(const std::vector<Tensor>& xs_in, int64_t dim) {
  if (xs_in.empty()) throw ValueError("cat: expected a non-empty list of tensors");
  for (const Tensor& x : xs_in) check_defined(x, "cat");
  // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
  std::vector<Tensor> xs;
  for (const Tensor& x : xs_in)
    if (!(x->dim() == 1 && x->numel() == 0)) xs.push_back(x);
  if (xs.empty()) return zeros({0}, xs_in[0]->dtype());
  const Tensor& first = xs[0];
  if (first->dim() == 0) throw ValueError("cat: zero-dimensional tensor (at position 0) cannot be concatenated; use stack");
  const int64_t d = norm_dim(dim, first->dim(), "cat", first->shape());
  DType dt = first->dtype();
  Shape out = first->shape();
  out[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    dt = promote(dt, x->dtype());
    bool ok = x->dim() == first->dim();
    for (int64_t j = 0; ok && j < first->dim(); ++j)
      if (j != d && x->shape()[j] != first->shape()[j]) ok = false;
    if (!ok)
      throw ValueError("cat: sizes of tensors must match except in dimension " + std::to_string(d) +
                       "; tensor 0 has shape " + shape_str(first->shape()) + " and tensor " +
                       std::to_string(i) + " has shape " + shape_str(x->shape()));
    out[d] += x->shape()[d];
  }
  Tensor y = empty(out, dt);
  int64_t outer = 1, inner = 1;
  for (int64_t j = 0; j < d; ++j) outer *= out[j];
  for (int64_t j = d + 1; j < static_cast<int64_t>(out.size()); ++j) inner *= out[j];
  const size_t isz = itemsize(dt);
  const int64_t row = out[d] * inner;
  int64_t col = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& x0 : xs) {
    Tensor x = x0->dtype() == dt ? x0 : convert(x0, dt);
    // x as an (outer, w) block into columns [col, col + w) of y's (outer, row) rows.
    const int64_t w = x->shape()[d] * inner;
    const int64_t block[2] = {outer, w}, xst[2] = {w, 1}, yst[2] = {row, 1};
    k::copy_strided(isz, 2, block, x->raw(), xst, static_cast<char*>(y->raw()) + col * isz, yst);
    col += w;
    sizes.push_back(x0->shape()[d]);
  }
  bool rec = false;
  for (const Tensor& x : xs) rec = rec || x->requires_grad();
  if (rec && grad_enabled()) {
    std::vector<const Tensor*> ins;
    for (const Tensor& x : xs) ins.push_back(&x);
    record(OpCode::Cat, ins, {&y}, {}, CatAttrs{std::move(sizes), d});
  }
  return y;
}
// y = cat(xᵢ, d)  ⇒  dxᵢ += dy[..., offᵢ : offᵢ + nᵢ, ...]
Grads backward_Cat(BwCtx& ctx) {
  const CatAttrs& at = ctx.attrs<CatAttrs>();
  const int64_t d = at.dim;
  std::vector<Tensor> out;
  int64_t start = 0;
  for (size_t i = 0; i < at.sizes.size(); ++i) {
    const int64_t n = at.sizes[i];
    if (ctx.needs(i)) {
      std::vector<IndexItem> items(d);
      for (auto& it : items) it.kind = IndexItem::Slice;
      IndexItem s;
      s.kind = IndexItem::Slice;
      s.start = start;
      s.stop = start + n;
      s.has_start = s.has_stop = true;
      items.push_back(s);
      out.push_back(index(ctx.g(), items));  // cast to xᵢ's dtype centrally
    } else {
      out.push_back(nullptr);
    }
    start += n;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw ValueError("stack: expected a non-empty list of tensors");
  for (const Tensor& x : xs) check_defined(x, "stack");
  const int64_t d = norm_dim(dim, xs[0]->dim() + 1, "stack", xs[0]->shape());
  std::vector<Tensor> us;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i]->shape() != xs[0]->shape())
      throw ValueError("stack: expects each tensor to be equal size, but got " +
                       shape_str(xs[0]->shape()) + " at entry 0 and " + shape_str(xs[i]->shape()) +
                       " at entry " + std::to_string(i));
    us.push_back(unsqueeze(xs[i], d));
  }
  return cat(us, d);
}

// x.t(): PyTorch's matrix transpose, defined for ≤ 2-D only (x.T reverses any number of dims).
Tensor t_matrix(const Tensor& x) {
  check_defined(x, "t");
  if (x->dim() > 2)
    throw ValueError("t() expects a tensor with <= 2 dimensions, but self is " +
                     std::to_string(x->dim()) + "D");
  return t(x);
}

// ---------------------------------------------------------------------------------------------
// The view ops Python sees. Each computes the view's geometry from the input's own strides
// and records the op's usual entry.

Tensor permute_view_named(const Tensor& x, const std::vector<int64_t>& dims, const char* name);

Tensor transpose_view(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined(x, "transpose");
  if (x->dim() == 0) {
    norm_dim(d0, 0, "transpose", x->shape());
    norm_dim(d1, 0, "transpose", x->shape());
    return reshape(x, {});
  }
  const int64_t a = norm_dim(d0, x->dim(), "transpose", x->shape());
  const int64_t b = norm_dim(d1, x->dim(), "transpose", x->shape());
  std::vector<int64_t> perm(static_cast<size_t>(x->dim()));
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
  return permute_view_named(x, perm, "TransposeBackward0");
}

Tensor t_view(const Tensor& x) {
  check_defined(x, "t");
  if (x->dim() > 2)
    throw ValueError("t() expects a tensor with <= 2 dimensions, but self is " +
                     std::to_string(x->dim()) + "D (shape " + shape_str(x->shape()) + ")");
  if (x->dim() < 2) return reshape_named(x, x->shape(), "TBackward0");
  return permute_view_named(x, {1, 0}, "TBackward0");
}

Tensor T_view(const Tensor& x) {
  check_defined(x, "T");
  std::vector<int64_t> perm(static_cast<size_t>(x->dim()));
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = x->dim() - 1 - static_cast<int64_t>(i);
  if (perm.size() < 2) return reshape_named(x, x->shape(), "PermuteBackward0");
  return permute_view(x, perm);
}

Tensor permute_view(const Tensor& x, const std::vector<int64_t>& dims) {
  return permute_view_named(x, dims, nullptr);
}

Tensor permute_view_named(const Tensor& x, const std::vector<int64_t>& dims, const char* name) {
  check_defined(x, "permute");
  const bool rec = should_record({&x});
  const Shape& xs = x->shape();
  std::vector<int64_t> order = permute_order(x, dims);
  const std::vector<int64_t> st = x->strides();
  Shape shape;
  std::vector<int64_t> strides;
  for (int64_t d : order) {
    shape.push_back(xs[static_cast<size_t>(d)]);
    strides.push_back(st[static_cast<size_t>(d)]);
  }
  Tensor y = make_strided_view(x, std::move(shape), std::move(strides), x->offset());
  if (rec) record(OpCode::Permute, {&x}, {&y}, {}, PermuteAttrs{std::move(order)}).display = name;
  return y;
}

Tensor expand_view(const Tensor& x, const Shape& shape_in) {
  check_defined(x, "expand");
  const bool rec = should_record({&x});
  const Shape out = expanded_shape(x, shape_in);  // expand's checks and messages
  const std::vector<int64_t> st = x->strides();
  const size_t lead = out.size() - static_cast<size_t>(x->dim());
  std::vector<int64_t> strides(out.size(), 0);
  for (size_t i = 0; i < static_cast<size_t>(x->dim()); ++i)
    strides[lead + i] = x->shape()[i] == out[lead + i] ? st[i] : 0;
  Tensor y = make_strided_view(x, out, std::move(strides), x->offset());
  if (rec && out != x->shape()) record(OpCode::Expand, {&x}, {&y});
  else if (rec) record(OpCode::Reshape, {&x}, {&y});
  return y;
}

// PyTorch's rule for viewing strided memory with another shape (its computeStride): the
// strides of the new shape, or nothing when the memory cannot be viewed that way.
std::optional<std::vector<int64_t>> view_strides(const Tensor& x, const Shape& shape) {
  const Shape& old = x->shape();
  const std::vector<int64_t> st = x->strides();
  std::vector<int64_t> out(shape.size());
  if (x->numel() == 0 || old.empty()) {
    int64_t acc = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      out[i] = acc;
      acc *= std::max<int64_t>(shape[i], 1);
    }
    return out;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = st.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[static_cast<size_t>(d)];
    if (d == 0 || (old[static_cast<size_t>(d - 1)] != 1 &&
                   st[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = st[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

namespace {
Tensor reshape_view_named(const Tensor& x, const Shape& shape, bool must_view, const char* name);
}  // namespace

Tensor reshape_view(const Tensor& x, const Shape& shape, bool must_view) {
  return reshape_view_named(x, shape, must_view, "ViewBackward0");
}

namespace {
Tensor reshape_view_named(const Tensor& x, const Shape& shape, bool must_view, const char* name) {
  check_defined(x, must_view ? "view" : "reshape");
  if (x->is_contiguous()) return must_view ? view(x, shape) : reshape(x, shape);
  const Shape s = infer_shape(shape, x->numel(), x->shape(), must_view ? "view" : "reshape");
  std::optional<std::vector<int64_t>> st = view_strides(x, s);
  if (!st) {
    if (must_view)
      throw std::runtime_error(
          "view size is not compatible with input tensor's size and stride (at least one "
          "dimension spans across two contiguous subspaces): input shape " +
          shape_str(x->shape()) + ", requested " + shape_str(s) + ". Use .reshape(...) instead.");
    return reshape_named(contiguous(x), s, "UnsafeViewBackward0");
  }
  const bool rec = should_record({&x});
  Tensor y = make_strided_view(x, s, std::move(*st), x->offset());
  if (rec) record(OpCode::Reshape, {&x}, {&y}).display = name;
  return y;
}
}  // namespace

namespace {
// A contiguous, untracked stand-in of x's shape over x's memory, for squeeze/flatten to compute
// (and check) the result's shape: reshape never reads it, so nothing the size of x is allocated.
Tensor shape_probe(const Tensor& x) {
  return blocks::make_tensor(x->storage(), x->offset(), blocks::copy_shape(x->shape()),
                             x->dtype());
}
}  // namespace

Tensor unsqueeze_view(const Tensor& x, int64_t dim) {
  check_defined(x, "unsqueeze");
  if (x->is_contiguous()) return unsqueeze(x, dim);
  const int64_t d = norm_dim(dim, x->dim() + 1, "unsqueeze", x->shape());
  Shape s = x->shape();
  s.insert(s.begin() + d, 1);
  return reshape_view_named(x, s, true, "UnsqueezeBackward0");
}

Tensor squeeze_view(const Tensor& x, const std::vector<int64_t>& dims, bool all) {
  check_defined(x, "squeeze");
  if (x->is_contiguous()) {
    if (all) return squeeze(x, std::nullopt);
    if (dims.size() == 1) return squeeze(x, std::optional<int64_t>(dims[0]));
    return squeeze(x, dims);
  }
  const Tensor probe = shape_probe(x);
  const Tensor squeezed = all ? squeeze(probe, std::nullopt) : squeeze(probe, dims);
  return reshape_view_named(x, squeezed->shape(), true,
                            all ? "SqueezeBackward0" : dims.size() == 1 ? "SqueezeBackward1" : "SqueezeBackward2");
}

Tensor flatten_view(const Tensor& x, int64_t start, int64_t end) {
  check_defined(x, "flatten");
  if (x->is_contiguous()) return flatten(x, start, end);
  const Tensor flat = flatten(shape_probe(x), start, end);
  return reshape_view(x, flat->shape(), false);
}

}  // namespace tapegrad

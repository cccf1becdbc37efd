// Indexing. Every read (x[...]) becomes a flat gather by element offsets and every write
// (x[...] = v) a flat scatter, so one pair of primitives — each the other's backward — covers
// ints, slices, None, Ellipsis, integer tensors (x[arange(n), y]) and boolean masks.
//
// Index semantics follow PyTorch: integers select first (they are not "advanced" indices as
// in NumPy); the remaining tensor indices broadcast together, and their result dims replace
// the indexed dims in place when those are adjacent, or go first otherwise.
#include <algorithm>

#include "ops/common.h"

namespace tapegrad {

namespace {

struct Plan {
  Shape out;                    // result shape
  Tensor offsets;               // int64, numel(out): element offsets into x
};

int64_t wrap_index(int64_t i, int64_t size, int64_t dim, const Shape& shape) {
  if (i < -size || i >= size)
    throw IndexError("index " + std::to_string(i) + " is out of bounds for dimension " +
                     std::to_string(dim) + " with size " + std::to_string(size) +
                     " (tensor shape " + shape_str(shape) + ")");
  return i < 0 ? i + size : i;
}

// Python slice semantics (CPython's PySlice_Unpack + PySlice_AdjustIndices).
void adjust_slice(const IndexItem& it, int64_t size, int64_t& start, int64_t& len, int64_t& step) {
  step = it.step;
  if (step == 0) throw ValueError("slice step cannot be zero");
  constexpr int64_t kMax = INT64_MAX, kMin = INT64_MIN;
  start = it.has_start ? it.start : (step < 0 ? kMax : 0);
  int64_t stop = it.has_stop ? it.stop : (step < 0 ? kMin : kMax);
  auto adjust = [&](int64_t& v) {
    if (v < 0) {
      v = v <= kMin + size ? (step < 0 ? -1 : 0) : v + size;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= size) {
      v = step < 0 ? size - 1 : size;
    }
  };
  adjust(start);
  adjust(stop);
  if (step < 0) len = stop < start ? (start - stop - 1) / (-step) + 1 : 0;
  else len = start < stop ? (stop - start - 1) / step + 1 : 0;
}

Tensor nonzero_dims(const Tensor& mask, std::vector<Tensor>& out_cols) {
  const int64_t nd = mask->dim();
  const uint8_t* p = mask->data<uint8_t>();
  const int64_t nnz = k::count_nonzero(mask->numel(), p);
  const std::vector<int64_t> st = contiguous_strides(mask->shape());
  std::vector<int64_t*> cols;
  for (int64_t d = 0; d < nd; ++d) {
    out_cols.push_back(empty({nnz}, DType::i64));
    cols.push_back(out_cols.back()->data<int64_t>());
  }
  k::nonzero_coords(static_cast<int>(nd), st.data(), mask->numel(), p, cols.data());
  return nullptr;
}

Plan make_plan(const Tensor& x, const std::vector<IndexItem>& items, const char* op) {
  const Shape& xs = x->shape();
  const int64_t nd = x->dim();
  const std::vector<int64_t> xst = contiguous_strides(xs);
  // How many dims do the items consume?
  int64_t consumed = 0, ellipses = 0;
  for (const IndexItem& it : items) {
    switch (it.kind) {
      case IndexItem::Int: case IndexItem::Slice: ++consumed; break;
      case IndexItem::None: break;
      case IndexItem::Ellipsis: ++ellipses; break;
      case IndexItem::Tensor:
        consumed += it.t->dtype() == DType::b8 ? it.t->dim() : 1;
        break;
    }
  }
  if (ellipses > 1) throw IndexError(std::string(op) + ": an index can only have a single ellipsis ('...')");
  if (consumed > nd)
    throw IndexError(std::string(op) + ": too many indices for a tensor of dimension " +
                     std::to_string(nd) + " (shape " + shape_str(xs) + ")");

  struct D { int64_t size, stride; int adv; };
  std::vector<D> dims;
  struct Adv { Tensor t; int64_t size, stride, dim; };
  std::vector<Adv> adv;
  int64_t base = 0, p = 0;
  for (const IndexItem& it : items) {
    switch (it.kind) {
      case IndexItem::Int: {
        const int64_t i = wrap_index(it.i, xs[p], p, xs);
        base += i * xst[p];
        ++p;
        break;
      }
      case IndexItem::Slice: {
        int64_t start, len, step;
        adjust_slice(it, xs[p], start, len, step);
        if (len > 0) base += start * xst[p];
        dims.push_back({len, xst[p] * step, -1});
        ++p;
        break;
      }
      case IndexItem::None: dims.push_back({1, 0, -1}); break;
      case IndexItem::Ellipsis:
        for (int64_t k = 0; k < nd - consumed; ++k, ++p) dims.push_back({xs[p], xst[p], -1});
        break;
      case IndexItem::Tensor: {
        const Tensor& t = it.t;
        if (t->dtype() == DType::b8) {
          if (t->dim() == 0) {
            // x[True] adds a dim of size 1, x[False] one of size 0.
            const bool on = t->data<uint8_t>()[0] != 0;
            Tensor idx = zeros({on ? 1 : 0}, DType::i64);
            dims.push_back({1, 0, static_cast<int>(adv.size())});
            adv.push_back({idx, 1, 0, -1});
            break;
          }
          for (int64_t k = 0; k < t->dim(); ++k)
            if (p + k >= nd || t->shape()[k] != xs[p + k])
              throw IndexError(std::string(op) + ": the shape of the mask " + shape_str(t->shape()) +
                               " at index " + std::to_string(k) +
                               " does not match the shape of the indexed tensor " + shape_str(xs) +
                               " at index " + std::to_string(p + k));
          std::vector<Tensor> cols;
          nonzero_dims(t, cols);
          for (int64_t k = 0; k < t->dim(); ++k, ++p) {
            dims.push_back({xs[p], xst[p], static_cast<int>(adv.size())});
            adv.push_back({cols[k], xs[p], xst[p], p});
          }
        } else if (t->dtype() == DType::i64 || t->dtype() == DType::i32) {
          // int32 indices as PyTorch takes them (Note [storage dtypes] in cpp/src/tensor.cpp).
          dims.push_back({xs[p], xst[p], static_cast<int>(adv.size())});
          adv.push_back({as_dtype(t, DType::i64), xs[p], xst[p], p});
          ++p;
        } else {
          throw IndexError(std::string(op) + ": tensors used as indices must be int64, int32 or bool "
                           "tensors, got dtype " + dtype_name(t->dtype()) + " (shape " +
                           shape_str(t->shape()) + ")");
        }
        break;
      }
    }
  }
  for (; p < nd; ++p) dims.push_back({xs[p], xst[p], -1});

  Plan plan;
  // Advanced indices: broadcast, then one combined offset per broadcast position.
  Shape bshape;
  Tensor advoff;
  if (!adv.empty()) {
    for (const Adv& a : adv) bshape = broadcast_shapes(bshape, a.t->shape(), op);
    const int64_t bn = shape_numel(bshape);
    advoff = zeros(bshape, DType::i64);
    int64_t* ao = advoff->data<int64_t>();
    for (const Adv& a : adv) {
      Tensor expanded = empty(bshape, DType::i64);
      assign_broadcast(expanded, a.t);
      const int64_t* v = expanded->data<int64_t>();
      if (a.dim >= 0) {
        const int64_t bad = k::find_out_of_range(bn, v, -a.size, a.size);
        if (bad >= 0) wrap_index(v[bad], a.size, a.dim, xs);  // throws, naming the index
      }
      // (a.dim < 0: the zeros of x[True] / x[False], never out of range)
      k::add_index_offsets(bn, v, a.size, a.stride, ao);
    }
  }
  // Result layout: the advanced block goes where the advanced dims were if they are adjacent.
  std::vector<int> adv_pos;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i].adv >= 0) adv_pos.push_back(static_cast<int>(i));
  bool adjacent = true;
  for (size_t i = 1; i < adv_pos.size(); ++i) adjacent = adjacent && adv_pos[i] == adv_pos[i - 1] + 1;
  // Iteration dims: (size, stride) for plain dims; the advanced block is one pseudo-dim of
  // size numel(bshape) whose stride is a lookup in advoff (marked stride = INT64_MIN).
  std::vector<std::pair<int64_t, int64_t>> it_dims;
  constexpr int64_t kAdv = INT64_MIN;
  const int64_t bn = adv.empty() ? 0 : shape_numel(bshape);
  auto push_block = [&] {
    for (int64_t s : bshape) plan.out.push_back(s);
    it_dims.push_back({bn, kAdv});
  };
  if (!adv.empty() && !adjacent) push_block();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i].adv >= 0) {
      if (adjacent && static_cast<int>(i) == adv_pos[0]) push_block();
      continue;
    }
    plan.out.push_back(dims[i].size);
    it_dims.push_back({dims[i].size, dims[i].stride});
  }
  plan.offsets = empty(plan.out, DType::i64);
  std::vector<int64_t> it_size, it_stride;
  int lookup_dim = -1;
  for (const auto& [size, stride] : it_dims) {
    if (stride == kAdv) lookup_dim = static_cast<int>(it_size.size());
    it_size.push_back(size);
    it_stride.push_back(stride == kAdv ? 0 : stride);
  }
  k::index_offsets(static_cast<int>(it_size.size()), it_size.data(), it_stride.data(), lookup_dim,
                   advoff ? advoff->data<int64_t>() : nullptr, base,
                   plan.offsets->data<int64_t>());
  return plan;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
Tensor gather_flat(const Tensor& x, const Tensor& offsets, const Shape& out_shape) {
  Tensor y = empty(out_shape, x->dtype());
  k::gather(itemsize(x->dtype()), y->numel(), x->raw(), offsets->data<int64_t>(), y->raw());
  if (should_record({&x})) record(OpCode::Gather, {&x}, {&y}, save_for_backward(offsets));
  return y;
}
// y[i] = x[off[i]]  ⇒  dx[off[i]] += dy[i]
Grads backward_Gather(BwCtx& ctx) {
  return {scatter_add_flat(ctx.g(), ctx.saved(0), ctx.in_shape(0))};
}

Tensor scatter_add_flat(const Tensor& g, const Tensor& offsets, const Shape& out_shape) {
  Tensor y = zeros(out_shape, g->dtype());
  k::scatter_add(elem(g->dtype()), g->numel(), g->raw(), offsets->data<int64_t>(), y->raw());
  if (should_record({&g})) record(OpCode::ScatterAdd, {&g}, {&y}, save_for_backward(offsets));
  return y;
}
// y[off[i]] += g[i]  ⇒  dg[i] += dy[off[i]]
Grads backward_ScatterAdd(BwCtx& ctx) {
  return {gather_flat(ctx.g(), ctx.saved(0), ctx.in_shape(0))};
}

namespace {
// Basic indexing (ints, slices, None, Ellipsis): the view's shape, strides (elements) and
// offset from x's own strides (Note [views] in view.cpp).
struct Geometry {
  Shape shape;
  std::vector<int64_t> strides;
  int64_t offset;
};
Geometry basic_geometry(const Tensor& x, const std::vector<IndexItem>& items) {
  const Shape& xs = x->shape();
  const int64_t nd = x->dim();
  const std::vector<int64_t> xst = x->strides();
  int64_t consumed = 0, ellipses = 0;
  for (const IndexItem& it : items) {
    if (it.kind == IndexItem::Int || it.kind == IndexItem::Slice) ++consumed;
    if (it.kind == IndexItem::Ellipsis) ++ellipses;
  }
  if (ellipses > 1) throw IndexError("index: an index can only have a single ellipsis ('...')");
  if (consumed > nd)
    throw IndexError("index: too many indices for a tensor of dimension " + std::to_string(nd) +
                     " (shape " + shape_str(xs) + ")");
  Geometry g{{}, {}, x->offset()};
  int64_t p = 0;
  for (const IndexItem& it : items) {
    switch (it.kind) {
      case IndexItem::Int:
        g.offset += wrap_index(it.i, xs[p], p, xs) * xst[p];
        ++p;
        break;
      case IndexItem::Slice: {
        int64_t start, len, step;
        adjust_slice(it, xs[p], start, len, step);
        if (len > 0) g.offset += start * xst[p];
        g.shape.push_back(len);
        g.strides.push_back(xst[p] * step);
        ++p;
        break;
      }
      case IndexItem::None:  // PyTorch's unsqueeze stride: the next dim's extent
        g.shape.push_back(1);
        g.strides.push_back(p < nd ? xs[p] * xst[p] : 1);
        break;
      case IndexItem::Ellipsis:
        for (int64_t k = 0; k < nd - consumed; ++k, ++p) {
          g.shape.push_back(xs[p]);
          g.strides.push_back(xst[p]);
        }
        break;
      case IndexItem::Tensor: break;  // not basic: never reached
    }
  }
  for (; p < nd; ++p) {
    g.shape.push_back(xs[p]);
    g.strides.push_back(xst[p]);
  }
  return g;
}
// The backward name PyTorch gives x[items]: that of the last view op its indexing applies
// (full slices inside a tuple are skipped; a lone x[:] is still a slice).
const char* basic_index_name(const Tensor& x, const std::vector<IndexItem>& items) {
  const char* name = "AliasBackward0";
  int64_t consumed = 0;
  for (const IndexItem& it : items)
    if (it.kind == IndexItem::Int || it.kind == IndexItem::Slice) ++consumed;
  int64_t p = 0;
  for (const IndexItem& it : items) {
    switch (it.kind) {
      case IndexItem::Int: name = "SelectBackward0"; ++p; break;
      case IndexItem::None: name = "UnsqueezeBackward0"; break;
      case IndexItem::Ellipsis: p += x->dim() - consumed; break;
      case IndexItem::Slice: {
        int64_t start, len, step;
        adjust_slice(it, x->shape()[p], start, len, step);
        if (items.size() == 1 || start != 0 || len != x->shape()[p] || step != 1)
          name = "SliceBackward0";
        ++p;
        break;
      }
      case IndexItem::Tensor: break;
    }
  }
  return name;
}
}  // namespace

Tensor index_view(const Tensor& x, const std::vector<IndexItem>& items) {
  check_defined(x, "index");
  const bool basic = std::none_of(items.begin(), items.end(), [](const IndexItem& it) {
    return it.kind == IndexItem::Tensor;
  });
  if (basic) {  // a view sharing x's memory, as PyTorch's basic indexing
    const bool rec = should_record({&x});
    Geometry g = basic_geometry(x, items);
    Tensor y = make_strided_view(x, std::move(g.shape), std::move(g.strides), g.offset);
    if (rec) {
      Plan plan = make_plan(x, items, "index");  // offsets in x's row-major numbering
      record(OpCode::Gather, {&x}, {&y}, save_for_backward(std::move(plan.offsets))).display =
          basic_index_name(x, items);
    }
    return y;
  }
  return index(contiguous(x), items);
}

Tensor index(const Tensor& x, const std::vector<IndexItem>& items) {
  check_defined(x, "index");
  if (items.size() == 1 && items[0].kind == IndexItem::Tensor && items[0].t &&
      items[0].t->dtype() == DType::i64 && items[0].t->dim() == 1 && x->dim() >= 1 &&
      !should_record({&x})) {
    // x[idx] with a 1-D int64 index and no history to record (a DataLoader gathering a
    // shuffled mini-batch): whole rows are copied, without a per-element offset table — that
    // table (8 bytes per gathered element) made a 256×784 batch cost ~0.5 ms.
    const Tensor& idx = items[0].t;
    const int64_t n0 = x->shape()[0], rows = idx->numel();
    Shape out = x->shape();
    out[0] = rows;
    Tensor y = empty(out, x->dtype());
    const size_t row_bytes = n0 ? x->nbytes() / static_cast<size_t>(n0) : 0;
    const int64_t* pi = idx->data<int64_t>();
    const int64_t bad = k::find_out_of_range(rows, pi, -n0, n0);
    if (bad >= 0) wrap_index(pi[bad], n0, 0, x->shape());  // throws, naming the index
    k::gather_rows(row_bytes, rows, n0, x->raw(), pi, y->raw());
    return y;
  }
  Plan plan = make_plan(x, items, "index");
  Tensor y = gather_flat(x, plan.offsets, plan.out);
  if (y->node() >= 0) y->tape()->entry(y->node()).display = "IndexBackward0";
  return y;
}

void index_put_(const Tensor& x, const std::vector<IndexItem>& items, const Tensor& value) {
  check_inplace(x, "__setitem__");
  check_defined(value, "__setitem__");
  Plan plan = make_plan(x, items, "__setitem__");
  if (is_floating_point(value->dtype()) && !is_floating_point(x->dtype()))
    throw TypeError(std::string("__setitem__: cannot assign a ") + dtype_name(value->dtype()) +
                    " value into a " + dtype_name(x->dtype()) + " tensor (shape " +
                    shape_str(x->shape()) + ")");
  Tensor v = empty(plan.out, x->dtype());
  if (value->dim() > static_cast<int64_t>(plan.out.size()) ||
      [&] { try { return broadcast_shapes(value->shape(), plan.out, "__setitem__") != plan.out; }
            catch (const ValueError&) { return true; } }())
    throw ValueError("__setitem__: shape mismatch: value tensor of shape " +
                     shape_str(value->shape()) + " cannot be broadcast to the indexing result of shape " +
                     shape_str(plan.out) + " (tensor shape " + shape_str(x->shape()) + ")");
  assign_broadcast(v, value);
  auto write = [&](const Tensor& dst) {
    k::scatter(itemsize(x->dtype()), v->numel(), v->raw(), plan.offsets->data<int64_t>(),
               dst->raw());
  };
  if (should_record({&x, &value})) {
    Tensor r = clone_data(x);
    write(r);
    record(OpCode::IndexPut, {&x, &value}, {&r}, save_for_backward(plan.offsets),
           IndexPutAttrs{plan.out});
    rebase_inplace(x, r);
    return;
  }
  if (!x->is_contiguous()) {  // a strided view: the offsets count its own elements
    Tensor r = clone_data(x);
    write(r);
    rebase_inplace(x, r);
    return;
  }
  write(x);
  x->bump_version();
}
Tensor scatter_flat(const Tensor& x, const Tensor& offsets, const Tensor& v) {
  Tensor r = clone_data(x);
  k::scatter(itemsize(x->dtype()), v->numel(), v->raw(), offsets->data<int64_t>(), r->raw());
  if (should_record({&x, &v}))
    record(OpCode::IndexPut, {&x, &v}, {&r}, save_for_backward(offsets), IndexPutAttrs{v->shape()});
  return r;
}
// y = x with y[off] = v  ⇒  dx += dy with zeros at off ; dv += dy[off]
Grads backward_IndexPut(BwCtx& ctx) {
  const Tensor& off = ctx.saved(0);
  const Tensor& g = ctx.g();
  Tensor dx, dv;
  if (ctx.needs(0)) {
    Tensor keep = full(g->shape(), 1.0, g->dtype());
    Tensor zero = scalar_tensor(0.0, g->dtype());
    k::scatter_fill(itemsize(g->dtype()), off->numel(), zero->raw(), off->data<int64_t>(),
                    keep->raw());
    dx = mul(g, keep);
  }
  if (ctx.needs(1))
    dv = gather_flat(g, off, ctx.attrs<IndexPutAttrs>().indexed_shape);
  return {std::move(dx), std::move(dv)};
}

}  // namespace tapegrad

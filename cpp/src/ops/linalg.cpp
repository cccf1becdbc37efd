// Matrix products. mm/bmm are the recorded primitives and carry transpose flags, so the
// backward multiplies by transposes through GEMM flags instead of materialising them.
#include "ops/common.h"

namespace tapegrad {

namespace {

// mm, bmm: whether each operand is read transposed (op(x) = xᵀ).
struct MmAttrs {
  bool trans_a, trans_b;
};

void check_mm_dtypes(const Tensor& a, const Tensor& b, const char* op) {
  if (a->dtype() != b->dtype())
    throw TypeError(std::string(op) + ": expected both operands to have the same dtype, got " +
                    dtype_name(a->dtype()) + " (shape " + shape_str(a->shape()) + ") and " +
                    dtype_name(b->dtype()) + " (shape " + shape_str(b->shape()) +
                    "); convert one with .to(dtype)");
  if (a->dtype() == DType::b8)
    throw TypeError(std::string(op) + ": not supported for bool tensors");
}

// C[m×n] = op(A)·op(B) + beta·C for one matrix pair (row-major, leading dims = stored widths;
// beta is 0 or 1 and only used for float dtypes). `relu` (float dtypes): relu(C) in the GEMM's
// epilogue (Note [GEMM epilogue] in kernels/simd/gemm-inl.h).
void gemm_any(DType dt, bool ta, bool tb, int64_t m, int64_t n, int64_t kk, const void* a,
              int64_t lda, const void* b, int64_t ldb, void* c, double beta = 0,
              bool relu = false) {
  if (m == 1 && n > 1 && !ta && tb && is_float(dt)) {
    // One row times Bᵀ (x·Wᵀ at batch 1) is a matrix-vector product: computed as
    // Cᵀ[n×1] = B[n×k]·aᵀ[k×1], the orientation the GEMM serves with dot products, instead of
    // packing all of B for a single row. Same memory: a 1×n row is an n×1 column.
    return gemm_any(dt, false, false, n, 1, kk, b, ldb, a, 1, c, beta, relu);
  }
  AllowThreads nogil(m * n * kk);  // Note [GIL]
  switch (dt) {
    case DType::f32:
      (relu ? k::gemm_relu_f32 : k::gemm_f32)(ta, tb, m, n, kk, 1.0f, static_cast<const float*>(a), lda,
                  static_cast<const float*>(b), ldb, static_cast<float>(beta),
                  static_cast<float*>(c), n);
      break;
    case DType::f64:
      (relu ? k::gemm_relu_f64 : k::gemm_f64)(ta, tb, m, n, kk, 1.0, static_cast<const double*>(a), lda,
                  static_cast<const double*>(b), ldb, beta, static_cast<double*>(c), n);
      break;
    case DType::i64:
      k::gemm_i64(ta, tb, m, n, kk, static_cast<const int64_t*>(a), lda,
                  static_cast<const int64_t*>(b), ldb, static_cast<int64_t*>(c), n);
      break;
    default: throw_storage_dtype("matmul", dt);
  }
}

// A product of storage-dtype operands (Note [storage dtypes] in cpp/src/tensor.cpp): on int64
// (exact modulo 2^k, as PyTorch's integer matmul wraps) or float32 (PyTorch's CPU float16
// GEMM accumulates in float32 too; the rounding to float16 happens once per element), cast
// back. No autograd: float16 tensors cannot require grad.
template <class F>
Tensor small_mm(const Tensor& a, const Tensor& b, F product) {
  const DType w = wide(a->dtype());
  return convert(product(convert(a, w), convert(b, w)), a->dtype());
}

void mm_dims(const Shape& as, const Shape& bs, bool ta, bool tb, int64_t& m, int64_t& kk,
             int64_t& n, const char* op) {
  const size_t r = as.size();
  m = ta ? as[r - 1] : as[r - 2];
  kk = ta ? as[r - 2] : as[r - 1];
  const int64_t kb = tb ? bs[r - 1] : bs[r - 2];
  n = tb ? bs[r - 2] : bs[r - 1];
  if (kk != kb)
    throw ValueError(std::string(op) + ": shapes " + shape_str(as) + " and " + shape_str(bs) +
                     " cannot be multiplied (" + std::to_string(m) + "x" + std::to_string(kk) +
                     " and " + std::to_string(kb) + "x" + std::to_string(n) + ")");
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_defined(a, "mm");
  check_defined(b, "mm");
  if (a->dim() != 2 || b->dim() != 2)
    throw ValueError("mm: expected 2-D tensors, got shapes " + shape_str(a->shape()) + " and " +
                     shape_str(b->shape()));
  check_mm_dtypes(a, b, "matmul");
  if (is_small(a->dtype())) [[unlikely]]  // Note [storage dtypes]: on the compute dtype
    return small_mm(a, b, [&](const Tensor& x, const Tensor& y) { return mm(x, y, ta, tb); });
  int64_t m, kk, n;
  mm_dims(a->shape(), b->shape(), ta, tb, m, kk, n, "matmul");
  Tensor c = empty({m, n}, a->dtype());
  gemm_any(a->dtype(), ta, tb, m, n, kk, a->raw(), a->shape()[1], b->raw(), b->shape()[1], c->raw());
  if (should_record({&a, &b}))
    record(OpCode::Mm, {&a, &b}, {&c}, save_for_backward(a, b), MmAttrs{ta, tb});
  return c;
}
// C = op(A)·op(B)  ⇒  dA += dC·op(B)ᵀ (or its transpose when A was used transposed) ;
//                      dB += op(A)ᵀ·dC (or its transpose) — all through GEMM flags.
Grads backward_Mm(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  const bool ta = ctx.attrs<MmAttrs>().trans_a, tb = ctx.attrs<MmAttrs>().trans_b;
  const Tensor& g = ctx.g();
  Tensor da, db;
  if (ctx.needs(0)) da = ta ? mm(b, g, tb, true) : mm(g, b, false, !tb);
  if (ctx.needs(1)) db = tb ? mm(g, a, true, ta) : mm(a, g, !ta, false);
  return {std::move(da), std::move(db)};
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_defined(a, "bmm");
  check_defined(b, "bmm");
  if (a->dim() != 3 || b->dim() != 3 || a->shape()[0] != b->shape()[0])
    throw ValueError("bmm: expected 3-D tensors with equal batch sizes, got shapes " +
                     shape_str(a->shape()) + " and " + shape_str(b->shape()));
  check_mm_dtypes(a, b, "matmul");
  if (is_small(a->dtype())) [[unlikely]]
    return small_mm(a, b, [&](const Tensor& x, const Tensor& y) { return bmm(x, y, ta, tb); });
  int64_t m, kk, n;
  mm_dims(a->shape(), b->shape(), ta, tb, m, kk, n, "matmul");
  const int64_t batch = a->shape()[0];
  Tensor c = empty({batch, m, n}, a->dtype());
  const size_t isz = itemsize(a->dtype());
  const int64_t sa = a->shape()[1] * a->shape()[2], sb = b->shape()[1] * b->shape()[2];
  for (int64_t i = 0; i < batch; ++i)
    gemm_any(a->dtype(), ta, tb, m, n, kk, static_cast<const char*>(a->raw()) + i * sa * isz,
             a->shape()[2], static_cast<const char*>(b->raw()) + i * sb * isz, b->shape()[2],
             static_cast<char*>(c->raw()) + i * m * n * isz);
  if (should_record({&a, &b}))
    record(OpCode::Bmm, {&a, &b}, {&c}, save_for_backward(a, b), MmAttrs{ta, tb});
  return c;
}
// Cᵢ = op(Aᵢ)·op(Bᵢ) for each batch i  ⇒  mm's rule per batch, as bmm calls with GEMM flags
Grads backward_Bmm(BwCtx& ctx) {
  const Tensor& a = ctx.saved(0);
  const Tensor& b = ctx.saved(1);
  const bool ta = ctx.attrs<MmAttrs>().trans_a, tb = ctx.attrs<MmAttrs>().trans_b;
  const Tensor& g = ctx.g();
  Tensor da, db;
  if (ctx.needs(0)) da = ta ? bmm(b, g, tb, true) : bmm(g, b, false, !tb);
  if (ctx.needs(1)) db = tb ? bmm(g, a, true, ta) : bmm(a, g, !ta, false);
  return {std::move(da), std::move(db)};
}

// y = x·Wᵀ + b as one entry: the bias is broadcast into the output rows first and the GEMM
// accumulates onto it (beta = 1), with W read through the transpose flag (no Wᵀ copy).
// x may be 1-D (in,) or N-D (..., in); it is folded to rows. Anything outside the fast
// shape/dtype contract (mixed dtypes, a bias that is not (out,)) takes the composite path
// matmul + add, which also gives the usual error messages.
namespace {
bool linear_fast(const Tensor& x, const Tensor& w, const Tensor& b) {
  return x->dim() >= 1 && w->dim() == 2 && is_float(x->dtype()) && x->dtype() == w->dtype() &&
         x->shape().back() == w->shape()[1] &&
         (!b || (b->dtype() == x->dtype() && b->dim() == 1 && b->shape()[0] == w->shape()[0]));
}
// The fast path's rows: y[n×out] = x2·Wᵀ (+ b), then relu when asked (in the GEMM's epilogue).
Tensor linear_rows(const Tensor& x2, const Tensor& w, const Tensor& b, bool relu) {
  const int64_t n = x2->shape()[0], in = w->shape()[1], out_f = w->shape()[0];
  Tensor y = empty({n, out_f}, x2->dtype());
  if (b) {  // every row of y starts as the bias (the GEMM then accumulates with beta = 1)
    const int64_t rows[2] = {n, out_f}, bst[2] = {0, 1}, yst[2] = {out_f, 1};
    k::copy_strided(itemsize(x2->dtype()), 2, rows, b->raw(), bst, y->raw(), yst);
  }
  if (n && out_f) {
    if (in == 0) {
      if (!b) std::memset(y->raw(), 0, y->nbytes());
      if (relu) y = tapegrad::relu(y);  // (no product to fuse into)
    } else {
      gemm_any(x2->dtype(), false, true, n, out_f, in, x2->raw(), in, w->raw(), in, y->raw(),
               b ? 1.0 : 0.0, relu);
    }
  }
  return y;
}
void record_linear(const Tensor& x2, const Tensor& w, const Tensor& b, const Tensor& y) {
  // X is read only by dW's rule and W only by dX's: each is saved when the other needs it.
  if (should_record({&x2, &w, &b}))
    record(OpCode::Linear, {&x2, &w, &b}, {&y},
           save_for_backward(w->requires_grad() ? x2 : nullptr,
                             x2->requires_grad() ? w : nullptr));
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined(x, "linear");
  check_defined(w, "linear");
  if (!linear_fast(x, w, b)) {
    Tensor y = matmul(x, t(w));
    return b ? add(y, b) : y;
  }
  const int64_t in = w->shape()[1], out_f = w->shape()[0];
  Shape out_shape(x->shape().begin(), x->shape().end() - 1);
  const int64_t n = shape_numel(out_shape);  // rows (spelled out: a zero-size `in` is ambiguous)
  out_shape.push_back(out_f);
  const Tensor x2 = x->dim() == 2 ? x : reshape(x, {n, in});
  Tensor y = linear_rows(x2, w, b, /*relu=*/false);
  record_linear(x2, w, b, y);
  return x->dim() == 2 ? y : reshape(y, out_shape);
}

// Note [fused linear-relu]
// relu(linear(x, W, b)) as a compiled step runs it when nothing else reads the Linear's
// output (capture::cpp_form finds the pair, options={'fusion': False} turning it off; a loaded
// SavedProgram fuses the same pairs, cpp/src/capture/saved.cpp): one GEMM
// whose epilogue applies relu to each C tile while it is in cache (Note [GEMM epilogue]),
// instead of a second pass over the output. What it records is what the pair records — a
// Linear entry whose output is the pre-activation h, then a Relu entry h → y saving y — so
// backward, the planned tape and the bits are the unfused pair's. h's data is never used
// (Linear's rule reads x and W, Relu's reads y), so h is y's memory under another tensor
// (detach: no view, no history of its own) rather than a buffer of its own. (Anomaly mode's
// NaN check does read h, and sees relu(h): the same verdict, since relu keeps a NaN a NaN and
// makes none.) Anything outside linear's fast path on 2-D x runs as the pair.
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined(x, "linear");
  check_defined(w, "linear");
  if (x->dim() != 2 || !linear_fast(x, w, b)) return relu(linear(x, w, b));
  Tensor y = linear_rows(x, w, b, /*relu=*/true);
  const Tensor h = detach(y);
  record_linear(x, w, b, h);
  if (should_record({&h})) record(OpCode::Relu, {&h}, {&y}, save_for_backward(detach(y)));
  return y;
}
// Y = X·Wᵀ + b  ⇒  dX += dY·W ; dW += dYᵀ·X ; db += Σ_rows dY   (GEMM flags, no transposes)
Grads backward_Linear(BwCtx& ctx) {
  const Tensor& g = ctx.g();
  Tensor dx, dw, db;
  if (ctx.needs(0)) dx = mm(g, ctx.saved(1));
  // At batch 1, dW = gᵀ·x may go to W's .grad factored: Note [factored weight gradients].
  if (ctx.needs(1) && !(g->shape()[0] == 1 && ctx.defer_outer(1, g, ctx.saved(0))))
    dw = mm(g, ctx.saved(0), true, false);
  if (ctx.needs(2)) db = sum(g, {0}, false);
  return {std::move(dx), std::move(dw), std::move(db)};
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul");
  check_defined(b, "matmul");
  const int64_t da = a->dim(), db = b->dim();
  if (da == 0 || db == 0)
    throw ValueError("matmul: both arguments need at least 1 dimension, got shapes " +
                     shape_str(a->shape()) + " and " + shape_str(b->shape()));
  check_mm_dtypes(a, b, "matmul");
  if (is_small(a->dtype())) [[unlikely]]
    return small_mm(a, b, [](const Tensor& x, const Tensor& y) { return matmul(x, y); });
  const int64_t ka = a->shape()[da - 1];
  const int64_t kb = db == 1 ? b->shape()[0] : b->shape()[db - 2];
  if (ka != kb)
    throw ValueError("matmul: shapes " + shape_str(a->shape()) + " and " + shape_str(b->shape()) +
                     " cannot be multiplied (the last dim of the first, " + std::to_string(ka) +
                     ", must equal the " + (db == 1 ? "size of the vector" : "second-to-last dim of the second") +
                     ", " + std::to_string(kb) + ")");
  if (da == 1 && db == 1) return reshape(mm(reshape(a, {1, ka}), reshape(b, {ka, 1})), {});
  if (da == 2 && db == 2) return mm(a, b);
  if (da == 1 && db == 2) return reshape(mm(reshape(a, {1, ka}), b), {b->shape()[1]});
  // Row counts are spelled out rather than inferred (-1): a zero-size k makes them ambiguous.
  if (db == 1) {
    // (..., m, k) @ (k,) → (..., m)
    Shape out(a->shape().begin(), a->shape().end() - 1);
    return reshape(mm(reshape(a, {shape_numel(out), ka}), reshape(b, {kb, 1})), out);
  }
  if (db == 2) {
    // (..., m, k) @ (k, n): fold the batch into rows.
    Shape out(a->shape().begin(), a->shape().end() - 1);
    const int64_t rows = shape_numel(out);
    out.push_back(b->shape()[1]);
    return reshape(mm(reshape(a, {rows, ka}), b), out);
  }
  // Batched: broadcast batch dims, then one bmm.
  Tensor A = da == 1 ? reshape(a, {1, ka}) : a;
  const Shape as = A->shape(), bs = b->shape();
  Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(ba, bb, "matmul");
  } catch (const ValueError&) {
    throw ValueError("matmul: the batch dims of shapes " + shape_str(a->shape()) + " and " +
                     shape_str(b->shape()) + " cannot be broadcast together (" +
                     shape_str(ba) + " vs " + shape_str(bb) + ")");
  }
  const int64_t m = as[as.size() - 2], n = bs[bs.size() - 1];
  Shape ea = batch, eb = batch;
  ea.push_back(m);
  ea.push_back(ka);
  eb.push_back(kb);
  eb.push_back(n);
  const int64_t nb = shape_numel(batch);
  Tensor A3 = reshape(expand(A, ea), {nb, m, ka});
  Tensor B3 = reshape(expand(b, eb), {nb, kb, n});
  Shape out = batch;
  if (da != 1) out.push_back(m);
  out.push_back(n);
  return reshape(bmm(A3, B3), out);
}

}  // namespace tapegrad

// Internal: the one odometer behind every strided or broadcast kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tapegrad::kernels {

// Note [strided walk]
// A broadcast or strided op visits every index i of a row-major shape while each of K operands
// moves by its own element strides (0 on a broadcast dim). walk_strided first drops size-1 dims
// and merges adjacent dims d, d+1 whenever every operand has stride[d] = stride[d+1]·size[d+1]
// (the pair is then one dim), so a contiguous copy becomes a single run and a row broadcast
// two. It then walks the outer dims with an odometer (add the stride; on wrap-around subtract
// size·stride and carry) and hands each innermost run to
//   run(len, off, inner)   off[k]: operand k's element offset at the run's start,
//                          inner[k]: operand k's element stride along the run.
// Callers pick their fast paths on `inner` (1: contiguous, 0: a broadcast scalar).
template <int K>
class StridedWalk {
 public:
  StridedWalk(int ndim, const int64_t* shape, const int64_t* const* strides) {
    // dims, K stride rows and the odometer: in place up to kInline dims (no allocation).
    const size_t cap = size_t(ndim > 0 ? ndim : 1);
    if (cap > size_t(kInline)) {
      heap_.resize(cap * (K + 2));
      buf_ = heap_.data();
    }
    cap_ = cap;
    for (int i = 0; i < ndim; ++i) total_ *= shape[i];
    for (int i = 0; i < ndim; ++i) {
      if (shape[i] == 1) continue;  // size-1 dims contribute nothing
      bool merge = nd_ > 0;
      for (int k = 0; k < K && merge; ++k) merge = st(k)[nd_ - 1] == strides[k][i] * shape[i];
      if (merge) {
        dims()[nd_ - 1] *= shape[i];
        for (int k = 0; k < K; ++k) st(k)[nd_ - 1] = strides[k][i];
      } else {
        dims()[nd_] = shape[i];
        for (int k = 0; k < K; ++k) st(k)[nd_] = strides[k][i];
        ++nd_;
      }
    }
  }
  StridedWalk(const StridedWalk&) = delete;
  StridedWalk& operator=(const StridedWalk&) = delete;

  int64_t total() const { return total_; }
  int ndim() const { return nd_; }  // after merging
  int64_t dim(int d) const { return buf_[d]; }
  int64_t stride(int k, int d) const { return buf_[cap_ * size_t(k + 1) + size_t(d)]; }

  template <class Run>
  void run(Run fn) {
    if (total_ == 0) return;
    int64_t off[K] = {}, inner[K] = {};
    if (nd_ == 0) {
      fn(int64_t(1), off, inner);
      return;
    }
    const int64_t len = dims()[nd_ - 1];
    for (int k = 0; k < K; ++k) inner[k] = st(k)[nd_ - 1];
    const int64_t outer = total_ / len;
    int64_t* idx = buf_ + cap_ * (K + 1);
    for (int d = 0; d < nd_; ++d) idx[d] = 0;
    const int64_t* dm = dims();
    for (int64_t o = 0; o < outer; ++o) {
      fn(len, static_cast<const int64_t*>(off), static_cast<const int64_t*>(inner));
      for (int d = nd_ - 2; d >= 0; --d) {
        for (int k = 0; k < K; ++k) off[k] += st(k)[d];
        if (++idx[d] < dm[d]) break;
        for (int k = 0; k < K; ++k) off[k] -= st(k)[d] * dm[d];
        idx[d] = 0;
      }
    }
  }

 private:
  static constexpr int kInline = 8;
  int64_t* dims() { return buf_; }
  int64_t* st(int k) { return buf_ + cap_ * size_t(k + 1); }

  int64_t inline_[kInline * (K + 2)];
  std::vector<int64_t> heap_;
  int64_t* buf_ = inline_;
  size_t cap_ = 0;
  int nd_ = 0;
  int64_t total_ = 1;
};

// Row-major contiguous element strides of `shape` into `st`.
inline void contiguous_strides(int ndim, const int64_t* shape, int64_t* st) {
  int64_t acc = 1;
  for (int i = ndim; i-- > 0;) {
    st[i] = acc;
    acc *= shape[i];
  }
}

}  // namespace tapegrad::kernels

// Portable reference kernels for sorting along the middle axis of an (outer, r, inner) block
// (tapegrad/kernels.h, "sorting"): the index permutations behind sort, argsort, topk and
// kthvalue, and the element offsets that gather the values (and scatter their gradients).
// Rows are independent, so large calls split them across the thread pool; each row is sorted
// by itself, so results do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// Strict "a ranks before b" on (value, position): NaN ranks above every number, and ties go
// to the lower position — a total order, so std::sort and std::partial_sort give what a
// stable sort would.
template <class T>
void sort_rows(int64_t outer, int64_t r, int64_t inner, const T* x, bool descending, int64_t k,
               int64_t* idx) {
  const int64_t rows = outer * inner;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(r, 1));
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> v(static_cast<size_t>(r));
    std::vector<int64_t> p(static_cast<size_t>(r));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / inner, i = row % inner;
      const T* src = x + o * r * inner + i;
      for (int64_t j = 0; j < r; ++j) v[j] = src[j * inner];
      std::iota(p.begin(), p.end(), int64_t{0});
      auto before = [&](int64_t a, int64_t b) {
        const T va = v[a], vb = v[b];
        const bool na = is_nan(va), nb = is_nan(vb);
        if (na || nb) {
          if (na && nb) return a < b;
          return descending ? na : nb;  // NaN is the largest
        }
        if (va != vb) return descending ? vb < va : va < vb;
        return a < b;
      };
      if (k < r) std::partial_sort(p.begin(), p.begin() + k, p.end(), before);
      else std::sort(p.begin(), p.end(), before);
      int64_t* dst = idx + o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) dst[j * inner] = p[j];
    }
  });
}

void sort_indices(Elem t, int64_t outer, int64_t r, int64_t inner, const void* x,
                  bool descending, int64_t k, int64_t* idx) {
  switch (t) {
    case Elem::f32: return sort_rows(outer, r, inner, static_cast<const float*>(x), descending, k, idx);
    case Elem::f64: return sort_rows(outer, r, inner, static_cast<const double*>(x), descending, k, idx);
    case Elem::i64: return sort_rows(outer, r, inner, static_cast<const int64_t*>(x), descending, k, idx);
    case Elem::u8: return sort_rows(outer, r, inner, static_cast<const uint8_t*>(x), descending, k, idx);
    default: break;  // storage dtypes are sorted as their compute-dtype copy (ops/sort.cpp)
  }
}

void take_offsets(int64_t outer, int64_t r, int64_t k, int64_t inner, const int64_t* idx,
                  int64_t* off) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (o * k + j) * inner + i;
        off[at] = (o * r + idx[at]) * inner + i;
      }
}

}  // namespace

void fill_sort(KernelTable& t) {
  t.sort_indices = sort_indices;
  t.take_offsets = take_offsets;
}

}  // namespace tapegrad::kernels::ref

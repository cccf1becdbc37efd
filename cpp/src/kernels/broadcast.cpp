// The broadcasting driver of the binary kernels: walk the output with the odometer of
// Note [strided walk] and hand every innermost run to the active table's run kernel (strides
// 0/1 there give the vector-scalar / scalar-vector fast paths).
#include <vector>

#include "kernels/strided.h"
#include "kernels/table.h"

namespace tapegrad::kernels {

namespace {
template <class T, class Fn>
void bcast(Binary op, int ndim, const int64_t* shape, const T* a, const int64_t* sa, const T* b,
           const int64_t* sb, T* c, Fn fn) {
  int64_t cs_inline[8];
  std::vector<int64_t> cs_heap;
  int64_t* cs = cs_inline;
  if (ndim > 8) {
    cs_heap.resize(size_t(ndim));
    cs = cs_heap.data();
  }
  contiguous_strides(ndim, shape, cs);
  const int64_t* st[3] = {cs, sa, sb};
  StridedWalk<3> w(ndim, shape, st);
  w.run([&](int64_t n, const int64_t* off, const int64_t* in) {
    if ((in[1] == 0 || in[1] == 1) && (in[2] == 0 || in[2] == 1)) {
      fn(op, n, a + off[1], in[1], b + off[2], in[2], c + off[0]);
    } else {
      // Inner strides other than 0/1 cannot come from contiguous broadcasting; handle
      // generally, one element at a time.
      for (int64_t i = 0; i < n; ++i)
        fn(op, 1, a + off[1] + i * in[1], 0, b + off[2] + i * in[2], 0, c + off[0] + i);
    }
  });
}
}  // namespace

void binary_bcast_f32(Binary op, int ndim, const int64_t* shape, const float* a,
                      const int64_t* sa, const float* b, const int64_t* sb, float* c) {
  bcast(op, ndim, shape, a, sa, b, sb, c, table().binary_f32);
}
void binary_bcast_f64(Binary op, int ndim, const int64_t* shape, const double* a,
                      const int64_t* sa, const double* b, const int64_t* sb, double* c) {
  bcast(op, ndim, shape, a, sa, b, sb, c, table().binary_f64);
}
void binary_bcast_i64(Binary op, int ndim, const int64_t* shape, const int64_t* a,
                      const int64_t* sa, const int64_t* b, const int64_t* sb, int64_t* c) {
  bcast(op, ndim, shape, a, sa, b, sb, c, table().binary_i64);
}

}  // namespace tapegrad::kernels

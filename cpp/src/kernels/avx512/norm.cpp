// avx512 batch-norm and layer-norm rows (shared source: simd/norm-inl.h).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/avx512/vec.h"
#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {

#include "kernels/simd/norm-inl.h"

}  // namespace tapegrad::kernels::avx512

// avx2 elementwise, reduction, fused row and update kernels (shared sources: simd/*-inl.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "kernels/avx2/vec.h"
#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx2 {

#include "kernels/simd/math-inl.h"
#include "kernels/simd/elementwise-inl.h"
#include "kernels/simd/reduce-inl.h"
#include "kernels/simd/rows-inl.h"
#include "kernels/simd/update-inl.h"

#include "kernels/simd/fill-inl.h"

}  // namespace tapegrad::kernels::avx2

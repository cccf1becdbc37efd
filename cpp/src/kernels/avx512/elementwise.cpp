// avx512 elementwise, reduction, fused row and update kernels (shared sources: simd/*-inl.h).
// GCC 12 warns inside its own AVX-512 intrinsic headers (_mm512_undefined_* operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "kernels/avx512/vec.h"
#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {

#include "kernels/simd/math-inl.h"
#include "kernels/simd/elementwise-inl.h"
#include "kernels/simd/reduce-inl.h"
#include "kernels/simd/rows-inl.h"
#include "kernels/simd/update-inl.h"

#include "kernels/simd/fill-inl.h"

}  // namespace tapegrad::kernels::avx512

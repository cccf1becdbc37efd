// avx512 im2col / col2im (shared source: simd/conv-inl.h).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/avx512/vec.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {

#include "kernels/simd/conv-inl.h"

}  // namespace tapegrad::kernels::avx512

// Internal: split a loop over [0, n) across the kernel thread pool (Note [thread pool]).
#pragma once

#include <cstdint>
#include <functional>

namespace tapegrad::kernels {

// Calls fn(begin, end) on disjoint chunks covering [0, n). Runs inline when n < grain, when
// one thread is configured, or when called from inside a pool worker.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tapegrad::kernels

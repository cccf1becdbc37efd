// Large-buffer cache (Note [buffer cache]).
//
// Note [buffer cache]
// A fresh multi-MiB allocation comes from mmap, and every page of it faults on first touch:
// for a 64 MiB buffer that is ~16k faults, slower than the arithmetic done on it. Training
// loops free and re-allocate the same large buffers every step, so buffers of at least
// kMinCached bytes are kept in a small process-wide cache instead of being returned to the OS.
// - Sizes are rounded up to a bucket (four per octave: 2^k · {1, 1.25, 1.5, 1.75}), so nearby
//   sizes share blocks; at most 25% is wasted, and only for the cached sizes.
// - Bounded: at most kMaxCachedBytes and kMaxCachedBlocks held; a freed buffer that does not
//   fit is returned to the OS at once.
// - Thread-safe (one mutex: large buffers are rare next to the work done on them) and
//   fork-safe (the mutex is held across fork, so the child never inherits it locked).
// - ASan: cached blocks are poisoned, so a use after free_buffer is still reported.
#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "tapegrad/kernels.h"

#if defined(__SANITIZE_ADDRESS__)
#define TG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifdef TG_ASAN
#include <sanitizer/asan_interface.h>
#define TG_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TG_POISON(p, n) ((void)(p), (void)(n))
#define TG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace tapegrad::kernels {

namespace {

constexpr size_t kMinCached = size_t(1) << 16;  // 64 KiB: an MLP's activations and gradients
constexpr size_t kMaxCachedBytes = size_t(256) << 20;
constexpr size_t kMaxCachedBlocks = 64;

// Bytes actually allocated for a request of n bytes.
size_t bucket_size(size_t n) {
  n = (n + 63) / 64 * 64;
  if (n < kMinCached) return n;
  int k = 63 - __builtin_clzll(n);  // 2^k <= n < 2^(k+1)
  const size_t step = size_t(1) << (k - 2);
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::vector<std::pair<size_t, void*>> blocks;  // (bucket size, block)
  size_t bytes = 0;
};

Cache& cache() {
  // Never destroyed: buffers may be freed by static destructors at exit.
  static Cache* c = [] {
    auto* p = new Cache();
    pthread_atfork([] { cache().mu.lock(); }, [] { cache().mu.unlock(); },
                   [] { cache().mu.unlock(); });
    return p;
  }();
  return *c;
}

}  // namespace

void* alloc_buffer(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = bucket_size(nbytes);
  if (size < nbytes) throw std::bad_alloc();  // overflow
  if (size >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    for (size_t i = c.blocks.size(); i-- > 0;) {  // most recently freed first: still warm
      if (c.blocks[i].first != size) continue;
      void* p = c.blocks[i].second;
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(i));
      c.bytes -= size;
      TG_UNPOISON(p, size);
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  return p;
}

void free_buffer(void* p, size_t nbytes) {
  if (!p) return;
  const size_t size = bucket_size(nbytes);
  if (size >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + size <= kMaxCachedBytes && c.blocks.size() < kMaxCachedBlocks) {
      TG_POISON(p, size);
      c.blocks.emplace_back(size, p);
      c.bytes += size;
      return;
    }
  }
  std::free(p);
}

size_t cached_buffer_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void release_buffer_cache() {
  std::vector<std::pair<size_t, void*>> blocks;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    blocks.swap(c.blocks);
    c.bytes = 0;
  }
  for (auto& [size, p] : blocks) {
    TG_UNPOISON(p, size);
    std::free(p);
  }
}

}  // namespace tapegrad::kernels

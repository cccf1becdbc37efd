// Recycled blocks for the engine's small, short-lived objects (Note [block recycling] in
// cpp/src/blocks.cpp): the allocator that std::allocate_shared takes for TensorImpl and
// Storage, and recycled shape vectors, so that a tensor or tape entry made after another one
// died reuses its memory without a trip through malloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "tapegrad/tensor.h"

namespace tapegrad::blocks {

constexpr size_t kGrain = 64;     // size classes: 64, 128, 192, 256 bytes
constexpr size_t kMaxBytes = 256;

// A block of at least `bytes` (≤ kMaxBytes), 16-byte aligned, from the calling thread's cache
// or from operator new.
void* take(size_t bytes);
// Returns a block of `bytes` that take() gave (on any thread): kept in the calling thread's
// cache while it has room, else deleted.
void give(void* p, size_t bytes) noexcept;
// A 64-byte aligned data buffer of at least `nbytes` (a Storage's heap block), from the calling
// thread's lists when it keeps one of that size (below kernels' buffer cache's 64 KiB), else
// from kernels::alloc_buffer; give_buffer takes it back (on any thread).
void* take_buffer(size_t nbytes);
void give_buffer(void* p, size_t nbytes) noexcept;

// A copy of `s` in a vector recycled from a dead tensor's or tape entry's shape (no allocation
// while the calling thread keeps one), or a fresh copy.
Shape copy_shape(const Shape& s);
// Keeps v's buffer for copy_shape in the calling thread (or leaves v to free it).
void recycle_shape(Shape& v) noexcept;

// The calling thread's counts (tests): blocks held in its cache, and blocks (and buffers
// below 64 KiB) take() and take_buffer() gave fresh and from the lists since the thread
// started.
struct Stats {
  bool enabled = false;  // false in ASan builds, which skip the lists
  size_t cached = 0;
  uint64_t fresh = 0, reused = 0;
};
Stats stats();

template <class T>
struct Recycling {
  using value_type = T;
  Recycling() = default;
  template <class U>
  Recycling(const Recycling<U>&) noexcept {}  // NOLINT: rebinding, as allocate_shared does
  T* allocate(size_t n) {
    if (n == 1 && sizeof(T) <= kMaxBytes && alignof(T) <= 16)
      return static_cast<T*>(take(sizeof(T)));
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n == 1 && sizeof(T) <= kMaxBytes && alignof(T) <= 16)
      give(p, sizeof(T));
    else
      ::operator delete(p);
  }
  template <class U>
  bool operator==(const Recycling<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const Recycling<U>&) const noexcept { return false; }
};

// std::make_shared<TensorImpl>(args...) with the object and its control block in a recycled
// block.
template <class... A>
Tensor make_tensor(A&&... args) {
  return std::allocate_shared<TensorImpl>(Recycling<TensorImpl>{}, std::forward<A>(args)...);
}

}  // namespace tapegrad::blocks

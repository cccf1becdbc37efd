// Recycled blocks for tensors and storages, shape vectors and small data buffers.
//
// Note [block recycling]
// Every op result is a TensorImpl and a Storage, each with its control block in one
// allocate_shared block (~150 and ~190 bytes; small data sits inside the Storage, Note
// [storage allocation] in tensor.cpp). A small step frees and makes dozens of them per call —
// the 8-point regression step, replayed by tapegrad.compile, 18 of each — and profiling the
// replay showed malloc and free as its largest cost: glibc's per-thread cache holds 7 chunks
// of a size, so a step's worth of frees spills to the slower bins and the next step's
// allocations come back out of them. So these two objects come from allocate_shared with
// Recycling, which keeps freed blocks in a per-thread list per 64-byte size class and hands
// them out again last-in first-out: in a loop of the same step, each allocation of step n+1
// takes the block of step n's tensor that died last, without malloc. This is the replay's
// memory plan as much as eager's — every intermediate of a replay gets a block the previous
// replay used — and it is safe by construction: a block is reused only after the object in
// it was destroyed (its last shared_ptr dropped), so nothing the user, the tape, a .grad or
// an optimizer holds is ever handed out again.
// Shapes are the other allocation of every tensor and tape entry (a tensor's shape, and the
// shape an entry keeps of each input and output): a dead tensor or entry leaves its shape
// vector here (recycle_shape), and copy_shape copies the next shape into it — within its
// capacity, without malloc.
// Data buffers too large for a Storage's inline bytes and below the kernels' buffer cache
// (64 B – 64 KiB: a batch-1 MLP's activations and gradients) come from aligned_alloc, which
// glibc serves through its memalign path; a dead storage's buffer waits in a per-thread list
// of its size (take_buffer, give_buffer) for the next buffer of that size instead.
// - Bounded: at most kMaxCached blocks per class and thread (~64 KiB per class),
//   kMaxShapes shape vectors, and kMaxBufBytes of buffers (kMaxPerSize of a size, kBufSizes
//   sizes); beyond that a freed block goes back to operator delete (a buffer to
//   kernels::free_buffer).
// - Any thread may free a block another allocated: it joins the freeing thread's list (all
//   blocks come from operator new, so any list may hold any block). A thread's list is freed
//   when the thread exits; a block freed after that (by another thread-local's destructor)
//   goes straight to operator delete.
// - ASan builds skip the lists, so a use after free is still reported.
#include "blocks.h"

#include "tapegrad/kernels.h"

#if defined(__SANITIZE_ADDRESS__)
#define TG_BLOCKS_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_BLOCKS_OFF 1
#endif
#endif

namespace tapegrad::blocks {
#ifndef TG_BLOCKS_OFF
namespace {

constexpr size_t kClasses = kMaxBytes / kGrain;
constexpr uint32_t kMaxCached = 256;
constexpr uint32_t kMaxShapes = 64;
// Data buffers: up to kBufSizes distinct sizes (multiples of 64 bytes below kMaxBuffer), at
// most kMaxPerSize buffers of a size and kMaxBufBytes in all per thread.
constexpr size_t kMaxBuffer = size_t(1) << 16;  // from there on, the kernels' buffer cache
constexpr size_t kBufSizes = 16;
constexpr uint32_t kMaxPerSize = 8;
constexpr size_t kMaxBufBytes = size_t(1) << 20;

struct Free {
  Free* next;
};

// Plain data, allocated zeroed on the thread's first use; the Reaper below frees the lists
// at thread exit and points the thread at kClosed. On the heap, not thread_local itself, so
// that the module's thread-local block stays a few hundred bytes (Note [thread-local access]).
struct Lists {
  Free* head[kClasses];
  uint32_t count[kClasses];
  uint64_t fresh, reused;
  bool closed;
  uint32_t nshapes;
  alignas(Shape) unsigned char shapes[kMaxShapes * sizeof(Shape)];  // Shape objects
  Shape* shape(uint32_t i) { return reinterpret_cast<Shape*>(shapes) + i; }
  struct Buffers {
    size_t size;  // 0: unclaimed
    Free* head;
    uint32_t count;
    uint64_t used;  // `clock` when a buffer of this size last came or went
  } bufs[kBufSizes];
  size_t buf_bytes;
  uint64_t clock;
};
thread_local Lists* t_lists = nullptr;
// The lists of a thread whose own were freed at its exit: closed, so every path that would
// change them goes to operator new / delete instead (shared by such threads, never written).
Lists* const kClosed = [] {
  auto* l = new Lists();
  l->closed = true;
  return l;
}();

struct Reaper {
  ~Reaper() {
    Lists* lp = t_lists;
    if (!lp || lp == kClosed) return;
    Lists& l = *lp;
    l.closed = true;
    for (size_t c = 0; c < kClasses; ++c) {
      while (Free* f = l.head[c]) {
        l.head[c] = f->next;
        ::operator delete(static_cast<void*>(f));
      }
      l.count[c] = 0;
    }
    while (l.nshapes > 0) l.shape(--l.nshapes)->~Shape();
    for (auto& b : l.bufs) {
      while (Free* f = b.head) {
        b.head = f->next;
        kernels::free_buffer(f, b.size);
      }
      b.count = 0;
    }
    l.buf_bytes = 0;
    t_lists = kClosed;
    delete lp;
  }
};

// The thread's lists, made on first use (out of line: the common path reads one pointer).
[[gnu::noinline]] Lists& first_lists() {
  auto* l = new Lists();
  t_lists = l;
  static thread_local Reaper reaper;  // constructed once per thread, destroyed at its exit
  (void)reaper;
  return *l;
}
inline Lists& lists() {
  Lists* l = t_lists;
  return l ? *l : first_lists();
}

inline size_t class_of(size_t bytes) { return (bytes + kGrain - 1) / kGrain - 1; }
inline size_t buffer_size(size_t nbytes) { return (nbytes + 63) & ~size_t(63); }

// Frees every buffer kept of one size (the least recently used, to make room).
void evict(Lists& l, Lists::Buffers& b) {
  while (Free* f = b.head) {
    b.head = f->next;
    kernels::free_buffer(f, b.size);
    l.buf_bytes -= b.size;
  }
  b.count = 0;
}

// The least recently used size that keeps buffers, other than `keep`; null if none.
Lists::Buffers* least_recent(Lists& l, const Lists::Buffers* keep) {
  Lists::Buffers* lru = nullptr;
  for (auto& b : l.bufs)
    if (&b != keep && b.head && (!lru || b.used < lru->used)) lru = &b;
  return lru;
}

}  // namespace

void* take(size_t bytes) {
  const size_t c = class_of(bytes);
  Lists& l = lists();
  if (Free* f = l.head[c]) {
    l.head[c] = f->next;
    --l.count[c];
    ++l.reused;
    return f;
  }
  if (!l.closed) ++l.fresh;
  return ::operator new((c + 1) * kGrain);
}

void give(void* p, size_t bytes) noexcept {
  const size_t c = class_of(bytes);
  Lists& l = lists();
  if (!l.closed && l.count[c] < kMaxCached) {
    auto* f = static_cast<Free*>(p);
    f->next = l.head[c];
    l.head[c] = f;
    ++l.count[c];
    return;
  }
  ::operator delete(p);
}

Shape copy_shape(const Shape& s) {
  Lists& l = lists();
  if (!s.empty() && l.nshapes > 0) {
    Shape* kept = l.shape(--l.nshapes);
    Shape v = std::move(*kept);
    kept->~Shape();
    v.assign(s.begin(), s.end());  // within its capacity: no allocation
    return v;
  }
  return s;
}

void recycle_shape(Shape& v) noexcept {
  if (v.capacity() == 0) return;
  Lists& l = lists();
  if (l.closed || l.nshapes >= kMaxShapes) return;
  new (l.shape(l.nshapes++)) Shape(std::move(v));
}

void* take_buffer(size_t nbytes) {
  const size_t size = buffer_size(nbytes);
  if (size < kMaxBuffer) {
    Lists& l = lists();
    for (auto& b : l.bufs) {
      if (b.size != size || !b.head) continue;
      Free* f = b.head;
      b.head = f->next;
      --b.count;
      l.buf_bytes -= size;
      b.used = ++l.clock;
      ++l.reused;
      return f;
    }
    if (!l.closed) ++l.fresh;
  }
  return kernels::alloc_buffer(nbytes);  // 64-byte aligned, of buffer_size(nbytes) below 64 KiB
}

// A size the lists have no room for takes the place of the least recently used one (whose
// buffers are freed), so sizes a program no longer makes never crowd out those it does.
void give_buffer(void* p, size_t nbytes) noexcept {
  const size_t size = buffer_size(nbytes);
  Lists& l = lists();
  if (!p || size >= kMaxBuffer || l.closed) return kernels::free_buffer(p, nbytes);
  Lists::Buffers* slot = nullptr;
  for (auto& b : l.bufs) {
    if (b.size == size) {
      slot = &b;
      break;
    }
    if (!slot && !b.head) slot = &b;  // unclaimed, or its size has none kept
  }
  if (!slot) {
    slot = least_recent(l, nullptr);
    evict(l, *slot);
  }
  if (slot->size == size && slot->count >= kMaxPerSize) return kernels::free_buffer(p, nbytes);
  while (l.buf_bytes + size > kMaxBufBytes) {
    Lists::Buffers* old = least_recent(l, slot);
    if (!old) return kernels::free_buffer(p, nbytes);
    evict(l, *old);
  }
  slot->size = size;
  slot->used = ++l.clock;
  auto* f = static_cast<Free*>(p);
  f->next = slot->head;
  slot->head = f;
  ++slot->count;
  l.buf_bytes += size;
}

Stats stats() {
  Stats s;
  s.enabled = true;
  const Lists& l = lists();
  for (size_t c = 0; c < kClasses; ++c) s.cached += l.count[c];
  s.fresh = l.fresh;
  s.reused = l.reused;
  return s;
}

#else  // ASan: every block from operator new, of its exact size, and back to operator delete

void* take(size_t bytes) { return ::operator new(bytes); }
void give(void* p, size_t) noexcept { ::operator delete(p); }
Shape copy_shape(const Shape& s) { return s; }
void recycle_shape(Shape&) noexcept {}
void* take_buffer(size_t nbytes) { return kernels::alloc_buffer(nbytes); }
void give_buffer(void* p, size_t nbytes) noexcept { kernels::free_buffer(p, nbytes); }
Stats stats() { return {}; }

#endif

}  // namespace tapegrad::blocks

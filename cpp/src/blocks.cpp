// Recycled blocks for tensors and storages, and recycled shape vectors.
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
// - Bounded: at most kMaxCached blocks per class and thread (~64 KiB per class) and
//   kMaxShapes shape vectors; beyond that a freed block goes back to operator delete.
// - Any thread may free a block another allocated: it joins the freeing thread's list (all
//   blocks come from operator new, so any list may hold any block). A thread's list is freed
//   when the thread exits; a block freed after that (by another thread-local's destructor)
//   goes straight to operator delete.
// - ASan builds skip the lists, so a use after free is still reported.
#include "blocks.h"

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

struct Free {
  Free* next;
};

// Plain data, so reading it needs no initialisation guard; the Reaper below frees the lists
// at thread exit and sets `closed`.
struct Lists {
  Free* head[kClasses];
  uint32_t count[kClasses];
  uint64_t fresh, reused;
  bool reaper_set;
  bool closed;
  uint32_t nshapes;
  alignas(Shape) unsigned char shapes[kMaxShapes * sizeof(Shape)];  // Shape objects
  Shape* shape(uint32_t i) { return reinterpret_cast<Shape*>(shapes) + i; }
};
thread_local Lists t_lists;

struct Reaper {
  ~Reaper() {
    Lists& l = t_lists;
    l.closed = true;
    for (size_t c = 0; c < kClasses; ++c) {
      while (Free* f = l.head[c]) {
        l.head[c] = f->next;
        ::operator delete(static_cast<void*>(f));
      }
      l.count[c] = 0;
    }
    while (l.nshapes > 0) l.shape(--l.nshapes)->~Shape();
  }
};

// Out of line, so that the common path of give() reads one thread-local only.
[[gnu::noinline]] void set_reaper() {
  t_lists.reaper_set = true;
  static thread_local Reaper reaper;  // constructed once per thread, destroyed at its exit
  (void)reaper;
}

inline size_t class_of(size_t bytes) { return (bytes + kGrain - 1) / kGrain - 1; }

}  // namespace

void* take(size_t bytes) {
  const size_t c = class_of(bytes);
  Lists& l = t_lists;
  if (Free* f = l.head[c]) {
    l.head[c] = f->next;
    --l.count[c];
    ++l.reused;
    return f;
  }
  ++l.fresh;
  return ::operator new((c + 1) * kGrain);
}

void give(void* p, size_t bytes) noexcept {
  const size_t c = class_of(bytes);
  Lists& l = t_lists;
  if (!l.closed && l.count[c] < kMaxCached) {
    if (!l.reaper_set) [[unlikely]] set_reaper();
    auto* f = static_cast<Free*>(p);
    f->next = l.head[c];
    l.head[c] = f;
    ++l.count[c];
    return;
  }
  ::operator delete(p);
}

Shape copy_shape(const Shape& s) {
  Lists& l = t_lists;
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
  Lists& l = t_lists;
  if (l.closed || l.nshapes >= kMaxShapes) return;
  if (!l.reaper_set) [[unlikely]] set_reaper();
  new (l.shape(l.nshapes++)) Shape(std::move(v));
}

Stats stats() {
  Stats s;
  s.enabled = true;
  const Lists& l = t_lists;
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
Stats stats() { return {}; }

#endif

}  // namespace tapegrad::blocks

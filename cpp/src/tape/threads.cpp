// Which thread may touch a tape: ownership, releases queued from other threads, adoption of
// the tape of a thread that has exited.
//
// Note [tape threads]
// A tape belongs to the thread that records into it (owner_), and only that thread touches
// its arrays. But a tensor with history can die in another thread (handed to a worker, or
// collected there): its ~TensorImpl then must not decref the entry directly. It queues
// (handle, slot, pointer) under remote_mu_ instead, and the owner drains the queue at its
// next record(), backward or stats() — the hot path pays one relaxed atomic load per record
// and one owner check per tensor destruction. remote_mu_ is never held while tensors are
// destroyed (a NumPy-backed storage takes the GIL when freed). When the owning thread exits,
// owner_ becomes the empty id (orphaned); another thread may then adopt the tape for the
// length of a release or a backward by compare-and-swap, and drains the queue when it gives
// the tape back (a backward waits up to half a second for a finishing owner to let go; a
// running owner's graph is refused with an error). In the backward, outputs that retain .grad
// are reached through retained_output(), which takes a strong reference (from the weak one
// retain_grad left in the tensor's meta) under remote_mu_, so an output being destroyed in
// another thread at that moment is either skipped or kept alive. Only entries flagged by
// retain_grad are looked up (Entry::retains: a sweep takes no lock otherwise); retain_grad
// from a thread that does not own the tape flags the tape instead, for good (Tape::retain).
#include <chrono>
#include <stdexcept>

#include "tapegrad/tape.h"

namespace tapegrad {

// The thread's tape; at thread exit the tape is orphaned (Note [tape threads]), since tensors
// handed to other threads may still hold it.
struct TapeOwner {
  std::shared_ptr<Tape> tape = std::make_shared<Tape>();
  ~TapeOwner() {
    tape->owner_.store(std::thread::id());
    if (tape->try_adopt()) tape->release_adopted();
  }
};

namespace {
// A planned tape the thread records into instead of its own (Note [planned tapes]).
thread_local const std::shared_ptr<Tape>* t_plan = nullptr;
}  // namespace

const std::shared_ptr<Tape>& Tape::current() {
  if (t_plan) return *t_plan;
  thread_local TapeOwner owner;
  return owner.tape;
}

Tape::PlanScope::PlanScope(const std::shared_ptr<Tape>& plan) : prev_(t_plan) { t_plan = &plan; }
Tape::PlanScope::~PlanScope() { t_plan = prev_; }
bool Tape::PlanScope::active() { return t_plan != nullptr; }

void Tape::release_output(int32_t handle, int32_t slot, TensorImpl* ptr) {
  if (owned_by_this_thread()) {
    Entry& e = entry(handle);
    if (slot < static_cast<int32_t>(e.outputs.size()) && e.outputs[slot].ptr == ptr)
      e.outputs[slot].ptr = nullptr;
    decref(handle);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(remote_mu_);
    remote_.push_back(RemoteRelease{handle, slot, ptr});
    has_remote_.store(true);
  }
  // An orphaned tape has no owner to drain it: adopt it for this release.
  if (owner_.load() == std::thread::id() && try_adopt()) release_adopted();
}

void Tape::drain_remote_slow() {
  std::vector<RemoteRelease> todo;
  {
    std::lock_guard<std::mutex> lk(remote_mu_);
    todo.swap(remote_);
    has_remote_.store(false);
  }
  for (const RemoteRelease& r : todo) {
    Entry& e = entry(r.handle);
    if (r.slot < static_cast<int32_t>(e.outputs.size()) && e.outputs[r.slot].ptr == r.ptr)
      e.outputs[r.slot].ptr = nullptr;
  }
  for (const RemoteRelease& r : todo) decref(r.handle);
}

bool Tape::try_adopt() {
  std::thread::id none;
  return owner_.compare_exchange_strong(none, std::this_thread::get_id());
}

void Tape::release_adopted() {
  // Drain, give the tape back, and drain again if a release was queued in between (the
  // queuing thread saw us as the owner, so nobody else will).
  for (;;) {
    drain_remote();
    owner_.store(std::thread::id());
    if (!has_remote_.load() || !try_adopt()) return;
  }
}

void Tape::retain(AutogradMeta& m, const Tensor& t) {
  if (owned_by_this_thread()) {
    m.retains_grad = true;
    m.self = t;
    entry(m.node).retains = true;
    return;
  }
  std::lock_guard<std::mutex> lk(remote_mu_);
  m.retains_grad = true;
  m.self = t;
  foreign_retains_.store(true, std::memory_order_relaxed);
}

Tensor Tape::retained_output(const Entry& e, size_t slot) {
  TensorImpl* p = e.outputs[slot].ptr;
  if (!p) return nullptr;
  std::lock_guard<std::mutex> lk(remote_mu_);
  for (const RemoteRelease& r : remote_)
    if (r.ptr == p) return nullptr;  // destroyed in another thread, not drained yet
  // Held under the lock, p's memory and meta outlive this read: a destructor in another
  // thread queues its release here first.
  const AutogradMeta* m = p->autograd_meta();
  return m && m->retains_grad ? m->self.lock() : nullptr;  // empty while its destructor runs
}

Tape::SweepScope::SweepScope(const std::shared_ptr<Tape>& tape) : tape_(tape.get()) {
  if (!tape_) return;
  if (!tape_->owned_by_this_thread()) {
    // A thread that has just finished (Python's join() returns before the thread's C++
    // thread-locals are destroyed) gives its tape up moments later: wait for that briefly,
    // with the GIL released (Note [GIL]) since the exiting thread may need it.
    bool adopted = tape_->try_adopt();
    for (int i = 0; !adopted && i < 500; ++i) {
      AllowThreads nogil(AllowThreads::kMinWork);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      adopted = tape_->try_adopt();
    }
    if (!adopted)
      throw std::runtime_error(
          "backward: the graph was recorded in another thread that is still running; each "
          "thread has its own tape, so call backward() in the thread that computed the output "
          "(or detach() what you pass between threads)");
    adopted_ = true;
  }
  tape_->drain_remote();
  ++tape_->in_backward_;
}

Tape::SweepScope::~SweepScope() {
  if (!tape_) return;
  --tape_->in_backward_;
  if (adopted_) tape_->release_adopted();
}

}  // namespace tapegrad

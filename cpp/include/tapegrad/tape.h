// The tape layer: each tensor's autograd state (AutogradMeta), and the thread-local Wengert
// list of tensor ops — entries, record, reference counts, compaction, thread ownership — with
// the op table's lookups. It sits between the tensors and the ops; the reverse sweep over it
// is the autograd layer's (tapegrad/autograd.h). Layers: docs/architecture.md.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tapegrad/attrs.h"
#include "tapegrad/grad_mode.h"
#include "tapegrad/small_vec.h"
#include "tapegrad/tensor.h"

namespace tapegrad {

// Every primitive op that can be recorded. The list lives in tapegrad/ops.def.
enum class OpCode : uint16_t {
#define TG_OP(code, name, arity, bind, expose, dunder) code,
#include "tapegrad/ops.def"
#undef TG_OP
  count_
};
const char* op_name(OpCode op);           // "mul"
const char* op_backward_name(OpCode op);  // "MulBackward0"
struct Entry;
// The backward-node name of an entry: its row's, or a custom op's own ("SoftplusBackward").
const char* entry_backward_name(const Entry& e);

// A leaf's gradient held as the outer product uᵀ·v of two rows, u (1×m) and v (1×n), for an
// m×n parameter: Note [factored weight gradients] in cpp/src/autograd/factored.cpp. u and v
// are private copies.
struct OuterGrad {
  Tensor u, v;
};

// Gradient hooks of one tensor (tapegrad/custom.h: register_hook), in registration order.
struct TensorHooks {
  struct Pre {
    int64_t id;
    std::function<Tensor(const Tensor&)> fn;
  };
  struct Post {
    int64_t id;
    std::function<void(const Tensor&)> fn;
  };
  std::vector<Pre> pre;    // on the gradient, before it is used or accumulated
  std::vector<Post> post;  // on a leaf, after its .grad accumulated
};

// Everything autograd knows of one tensor (Note [autograd meta] in cpp/src/tape/meta.cpp).
// Created when a tensor first takes part in a graph: requires_grad_(True), recorded as an op's
// output or input, given a .grad; plain data tensors have none.
struct AutogradMeta {
  uint64_t id = 0;     // identity in entries; kept across in-place rebasing
  int32_t node = -1;   // producing entry's handle; -1 for a leaf (Note [tape lifetime])
  int32_t slot = 0;    // which output of that entry
  bool requires_grad = false;
  bool retains_grad = false;
  std::weak_ptr<TensorImpl> self;  // set with retains_grad: the sweep's way back to the tensor
  std::shared_ptr<Tape> tape;  // the tape holding `node`
  Tensor grad;
  std::unique_ptr<OuterGrad> outer_grad;  // the factored form of `grad`, when held so
  std::shared_ptr<TensorHooks> hooks;  // null unless a hook was registered
};

// The tensors a recorded op saves for its backward (brace lists or vectors).
using SavedList = SmallVec<Tensor, 3>;

// What an entry keeps of each input: enough to route its gradient, never the input itself
// (a strong reference is kept only for leaves that accumulate .grad).
struct InputRef {
  uint64_t id = 0;
  int32_t node = -1;  // producing entry's handle, -1 for leaves
  int32_t slot = 0;   // which output of that entry
  DType dtype = DType::f32;
  bool requires_grad = false;
  Shape shape;
  Tensor leaf;  // set iff the input is a leaf that requires grad
};

struct OutputRef {
  uint64_t id = 0;
  TensorImpl* ptr = nullptr;  // nulled by ~TensorImpl
  DType dtype = DType::f32;
  Shape shape;
};

struct SavedTensor {
  Tensor tensor;
  uint64_t version = 0;
};

struct Entry {
  OpCode op = OpCode::count_;
  int32_t handle = -1;
  int32_t refcount = 0;  // live outputs + live downstream entries (Note [tape lifetime])
  bool alive = true;
  bool released = false;   // saved tensors freed by a backward without retain_graph
  bool had_saved = false;
  bool retains = false;  // an output retains its grad: the sweep looks it up (retained_output)
  SmallVec<InputRef, 3> inputs;  // Note [entry storage]
  SmallVec<OutputRef, 1> outputs;
  SmallVec<SavedTensor, 3> saved;
  AttrBox attrs;  // the op's own attribute struct (Note [typed attributes])
  // The backward-node name PyTorch shows for this use of the op, when it differs from the
  // row's (a view recorded as Gather is "SelectBackward0" for x[0]); null: the row's name.
  const char* display = nullptr;
  // Gradient hooks of the outputs, by slot; null unless one was registered (they live with
  // the entry, so a hook outlives its tensor as in PyTorch: Note [custom functions]).
  std::unique_ptr<std::vector<std::shared_ptr<TensorHooks>>> hooks;
};

// The tensors an op passes to record(): brace lists ({&a, &b}) are copied into an inline
// array (never a pointer into the list's temporary array, which GCC rightly flags with
// -Winit-list-lifetime in user code); vectors are borrowed. No allocation either way.
class TensorRefs {
 public:
  static constexpr size_t kInline = 4;  // the longest brace list an op passes
  TensorRefs(std::initializer_list<const Tensor*> l) : n_(l.size()) {
    if (n_ > kInline) throw std::length_error("TensorRefs: pass more than 4 tensors as a vector");
    size_t i = 0;
    for (const Tensor* t : l) inline_[i++] = t;
  }
  TensorRefs(const std::vector<const Tensor*>& v) : ext_(v.data()), n_(v.size()) {}
  const Tensor* const* begin() const { return ext_ ? ext_ : inline_; }
  const Tensor* const* end() const { return begin() + n_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Tensor* operator[](size_t i) const { return begin()[i]; }

 private:
  const Tensor* inline_[kInline] = {};
  const Tensor* const* ext_ = nullptr;
  size_t n_;
};

struct TapeStats {
  int64_t entries = 0;       // entries in the arrays (live + dead awaiting compaction)
  int64_t live_entries = 0;
  int64_t saved_bytes = 0;   // bytes held by saved tensors of live entries
};

class Tape {
 public:
  // The calling thread's tape (created on first use).
  static const std::shared_ptr<Tape>& current();

  // Record one op. Outputs become non-leaves that require grad; `saved` tensors are kept
  // (with their version) for the backward. Returns the new entry.
  Entry& record(OpCode op, TensorRefs inputs, TensorRefs outputs, SavedList saved,
                AttrBox attrs);

  Entry& entry(int32_t handle) { return entries_[pos_[handle]]; }
  int64_t position(int32_t handle) const { return pos_[handle]; }
  // The entry at a position (stable while a SweepScope is held: no compaction then).
  Entry& at(int64_t pos) { return entries_[static_cast<size_t>(pos)]; }
  void decref(int32_t handle);
  // ~TensorImpl of an output of entry `handle`: decref now when called from the thread that
  // owns the tape, otherwise defer it to that thread (Note [tape threads] in cpp/src/tape/threads.cpp).
  void release_output(int32_t handle, int32_t slot, TensorImpl* ptr);
  bool owned_by_this_thread() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }
  Tape() = default;
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  TapeStats stats();
  void clear_dead();  // compaction (also automatic)
  // Recycled autograd metas for recorded outputs (Note [autograd meta]); the owning thread
  // only. take_meta() gives a fresh identity (fresh_id), or null when the pool is empty.
  AutogradMeta* take_meta();
  // A new identity from a block of them the tape reserved (one atomic add per kIdBlock ids,
  // not per recorded output); unique across tapes and threads, not in creation order.
  uint64_t fresh_id();
  void recycle_meta(AutogradMeta* m);
  // A strong reference to output `slot` of a live entry if that tensor retains its grad;
  // null when it does not, is gone or is being destroyed in another thread (Note [tape
  // threads]).
  Tensor retained_output(const Entry& e, size_t slot);
  // retain_grad on an output of this tape (m: its meta, t: the tensor): flags its entry in the
  // owning thread; from another thread, which may not touch the entries, flags the whole tape
  // instead (every sweep over it then looks every output up), writing the meta under
  // remote_mu_, where retained_output reads it.
  void retain(AutogradMeta& m, const Tensor& t);
  // The entry of a retained tensor that in-place rebasing moved to (owning thread).
  void mark_retained(int32_t node) { entry(node).retains = true; }
  bool retained_anywhere() const { return foreign_retains_.load(std::memory_order_relaxed); }

  // ----- planned tapes (Note [planned tapes] in cpp/src/tape/tape.cpp) -----
  // A tape a captured program keeps for its replays: entries are parked, not destroyed, when
  // they die, and a replay that records the same ops in the same order records them into the
  // parked entries again instead of appending.
  static std::shared_ptr<Tape> make_planned();
  // Before a replay on this tape (its calling thread becomes the owner): false when an entry
  // is still alive (a tensor of an earlier run still holds history here), so it cannot be
  // recorded over.
  bool plan_begin();
  // After the replay: true when the run recorded exactly the planned entries, in order (the
  // first run sets the plan).
  bool plan_end();
  // Gives the tape back to ordinary use (dead entries freed, compaction again): what a program
  // does with a plan it drops.
  void retire_plan();
  bool planned() const { return planned_; }
  // Makes `plan` the calling thread's current tape for the scope.
  class PlanScope {
   public:
    explicit PlanScope(const std::shared_ptr<Tape>& plan);
    ~PlanScope();
    PlanScope(const PlanScope&) = delete;
    PlanScope& operator=(const PlanScope&) = delete;
    // Whether a planned tape is the calling thread's current tape.
    static bool active();

   private:
    const std::shared_ptr<Tape>* prev_;
  };

  // Held by a reverse sweep for its whole length: makes the calling thread the tape's user
  // (adopting the tape of a thread that has exited, Note [tape threads]), drains queued
  // releases, and holds off compaction so that entry positions stay stable. A null tape
  // (every root a leaf) holds nothing.
  class SweepScope {
   public:
    explicit SweepScope(const std::shared_ptr<Tape>& tape);
    ~SweepScope();
    SweepScope(const SweepScope&) = delete;
    SweepScope& operator=(const SweepScope&) = delete;

   private:
    Tape* tape_;
    bool adopted_ = false;
  };

 private:
  int32_t new_handle();
  void maybe_compact();
  Entry* rerecord(OpCode op, TensorRefs inputs, TensorRefs outputs, SavedList& saved,
                  AttrBox& attrs);
  void park(Entry& e);
  // Cross-thread releases (Note [tape threads]).
  struct RemoteRelease {
    int32_t handle;
    int32_t slot;
    TensorImpl* ptr;
  };
  void drain_remote() {
    if (has_remote_.load(std::memory_order_acquire)) drain_remote_slow();
  }
  void drain_remote_slow();
  bool try_adopt();        // claim an orphaned tape for this thread
  void release_adopted();  // give it back (and drain what arrived meanwhile)
  friend struct TapeOwner;
  std::atomic<std::thread::id> owner_{std::this_thread::get_id()};
  std::mutex remote_mu_;
  std::vector<RemoteRelease> remote_;
  std::atomic<bool> has_remote_{false};
  std::atomic<bool> foreign_retains_{false};  // retain() from a thread not the owner
  std::deque<Entry> entries_;
  std::vector<int64_t> pos_;        // handle -> position in entries_
  std::vector<int32_t> free_handles_;
  std::vector<int32_t> pending_;    // decref worklist (no recursion)
  bool draining_ = false;
  int in_backward_ = 0;
  int64_t live_ = 0;
  int64_t dead_ = 0;
  // planned tapes
  bool planned_ = false;
  bool built_ = false;   // the plan is set (after its first run)
  bool broken_ = false;  // this run left the plan (it appends from there on)
  size_t cursor_ = 0;    // the next parked entry to record into
  static constexpr size_t kMetaPool = 256;
  std::vector<AutogradMeta*> meta_pool_;
  uint64_t id_next_ = 0, id_end_ = 0;  // fresh_id's reserved block
};

// The entries that `root`'s value depends on, in recording order (for drawing the DAG).
std::vector<const Entry*> reachable_entries(const Tensor& root);

}  // namespace tapegrad

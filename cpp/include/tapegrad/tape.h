// The tape: a thread-local Wengert list of tensor ops, and the reverse sweep over it.
#pragma once

#include <atomic>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "tapegrad/attrs.h"
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

// Note [entry storage]
// Profiling a tiny recorded op (a * c on 4 floats) showed malloc/free as the largest cost
// after the Python dispatch: an entry held three std::vectors (inputs, outputs, saved), each a
// heap allocation per recorded op. SmallVec keeps the first N elements inline (N covers every
// primitive but cat), spilling to the heap only beyond that. Unused inline slots are kept in
// their default (empty) state, so clearing releases every tensor they referenced.
template <class T, size_t N>
class SmallVec {
 public:
  SmallVec() = default;
  SmallVec(std::initializer_list<T> l) {
    for (const T& v : l) push_back(v);
  }
  SmallVec(std::vector<T>&& v) {  // NOLINT(google-explicit-constructor): callers pass vectors
    for (T& x : v) push_back(std::move(x));
  }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T* data() { return spilled_ ? heap_.data() : inline_; }
  const T* data() const { return spilled_ ? heap_.data() : inline_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + n_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + n_; }
  void reserve(size_t) {}
  void push_back(T v) {
    if (!spilled_ && n_ < N) {
      inline_[n_++] = std::move(v);
      return;
    }
    spill();
    heap_.push_back(std::move(v));
    ++n_;
  }
  void resize(size_t k) {
    if (!spilled_ && k <= N) {
      for (size_t i = k; i < n_; ++i) inline_[i] = T{};
      n_ = k;
      return;
    }
    spill();
    heap_.resize(k);
    n_ = k;
  }
  void clear() {
    for (size_t i = 0; i < N && i < n_; ++i) inline_[i] = T{};
    if (spilled_) std::vector<T>().swap(heap_);
    spilled_ = false;
    n_ = 0;
  }

 private:
  void spill() {
    if (spilled_) return;
    heap_.reserve(n_ + 1);
    for (size_t i = 0; i < n_; ++i) {
      heap_.push_back(std::move(inline_[i]));
      inline_[i] = T{};
    }
    spilled_ = true;
  }
  void take(SmallVec& o) {
    if (o.spilled_) {
      heap_ = std::move(o.heap_);
      spilled_ = true;
    } else {
      for (size_t i = 0; i < o.n_; ++i) {
        inline_[i] = std::move(o.inline_[i]);
        o.inline_[i] = T{};
      }
    }
    n_ = o.n_;
    o.n_ = 0;
    o.spilled_ = false;
    o.heap_.clear();
  }
  T inline_[N] = {};
  std::vector<T> heap_;
  size_t n_ = 0;
  bool spilled_ = false;
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
  SmallVec<InputRef, 3> inputs;  // Note [entry storage]
  SmallVec<OutputRef, 1> outputs;
  SmallVec<SavedTensor, 3> saved;
  AttrBox attrs;  // the op's own attribute struct (Note [typed attributes])
};

// A borrowed list of tensor pointers: record() takes brace lists ({&a, &b}) and vectors
// without building a std::vector per recorded op.
class TensorRefs {
 public:
  TensorRefs(std::initializer_list<const Tensor*> l) : p_(l.begin()), n_(l.size()) {}
  TensorRefs(const std::vector<const Tensor*>& v) : p_(v.data()), n_(v.size()) {}
  const Tensor* const* begin() const { return p_; }
  const Tensor* const* end() const { return p_ + n_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Tensor* operator[](size_t i) const { return p_[i]; }

 private:
  const Tensor* const* p_;
  size_t n_;
};

struct TapeStats {
  int64_t entries = 0;       // entries in the arrays (live + dead awaiting compaction)
  int64_t live_entries = 0;
  int64_t saved_bytes = 0;   // bytes held by saved tensors of live entries
};

class Tape;
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 bool create_graph, const std::vector<Tensor>& capture,
                                 bool allow_unused);

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
  void decref(int32_t handle);
  // ~TensorImpl of an output of entry `handle`: decref now when called from the thread that
  // owns the tape, otherwise defer it to that thread (Note [tape threads] in tape.cpp).
  void release_output(int32_t handle, int32_t slot, TensorImpl* ptr);
  bool owned_by_this_thread() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }
  TapeStats stats();
  void clear_dead();  // compaction (also automatic)

 private:
  friend std::vector<const Entry*> reachable_entries(const Tensor& root);
  friend std::vector<Tensor> run_backward(const std::vector<Tensor>&, const std::vector<Tensor>&,
                                          bool, bool, const std::vector<Tensor>&, bool);
  int32_t new_handle();
  void maybe_compact();
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
  Tensor output_tensor(const Entry& e, size_t slot);  // strong ref to a live output, or null
  friend struct TapeOwner;
  std::atomic<std::thread::id> owner_{std::this_thread::get_id()};
  std::mutex remote_mu_;
  std::vector<RemoteRelease> remote_;
  std::atomic<bool> has_remote_{false};
  std::deque<Entry> entries_;
  std::vector<int64_t> pos_;        // handle -> position in entries_
  std::vector<int32_t> free_handles_;
  std::vector<int32_t> pending_;    // decref worklist (no recursion)
  bool draining_ = false;
  int in_backward_ = 0;
  int64_t live_ = 0;
  int64_t dead_ = 0;
};

// Reverse-mode sweep. `roots` with `root_grads` (undefined entries mean ones for scalars).
// When `capture` is non-empty, gradients of those tensors are returned instead of being
// accumulated into .grad (tg.grad); otherwise leaves accumulate into .grad (backward()).
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 bool create_graph, const std::vector<Tensor>& capture,
                                 bool allow_unused);

// The entries that `root`'s value depends on, in recording order (for drawing the DAG).
std::vector<const Entry*> reachable_entries(const Tensor& root);

// tensor.backward(gradient, retain_graph, create_graph)
void backward(const Tensor& root, const Tensor& gradient = nullptr, bool retain_graph = false,
              bool create_graph = false);

// The gradients a backward of `outputs` starts from: `grads` (empty, or one per output with
// null meaning "implied") checked against the outputs' shapes and cast to their dtypes; an
// implied gradient is ones and needs a one-element output; every output must require grad. `op` and `arg` name the caller in
// errors ("grad", "grad_outputs").
std::vector<Tensor> output_grads(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grads,
                                 const char* op, const char* arg);

// Mark `self` as the output of the entry that produced `result` (in-place ops), copying the
// data of `result` into `self`'s storage. Note [in-place ops] in tape.cpp.
void rebase_inplace(const Tensor& self, const Tensor& result);

}  // namespace tapegrad

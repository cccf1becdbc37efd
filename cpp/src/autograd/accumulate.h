// Where the gradients of one reverse sweep go (accumulate.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/tape.h"

namespace tapegrad {

// Every gradient the sweep produces — the seeds, each rule's input gradients — enters through
// add(), the one route: a gradient of a non-leaf is summed into its adjoint (Note [adjoint
// table]); a gradient of a leaf, or the complete adjoint of a non-leaf once take() hands it to
// its entry's rule, goes to the same sink: the captured result under tg.grad, else the
// tensor's .grad if it is a leaf that requires grad or retains its grad.
class Adjoints {
 public:
  // The tensor a gradient belongs to, as an entry names it.
  struct Target {
    uint64_t id;
    int32_t node;      // producing entry's handle; < 0 for a leaf
    int32_t slot;
    const Tensor* leaf;  // a leaf that accumulates .grad (null: none), as its holder has it
  };
  // (Targets are used at once: `in` or `t` outlives the add() call they are made for.)
  static Target of(const InputRef& in) {
    return {in.id, in.node, in.slot, in.leaf ? &in.leaf : nullptr};
  }
  static Target of(const Tensor& t) {
    return {t->id(), t->node(), t->slot(), t->requires_grad() ? &t : nullptr};
  }

  // `max_pos`: the highest tape position a root occupies (-1: every root is a leaf).
  Adjoints(Tape* tape, int64_t max_pos, const std::vector<Tensor>& capture, bool create_graph);
  Adjoints(const Adjoints&) = delete;
  Adjoints& operator=(const Adjoints&) = delete;

  void add(const Target& t, Tensor g);  // (pass a rule's gradient moved: no copy)
  // The adjoints of entry e at `pos`, moved into gout (one per output, null where none);
  // false when e received none (the sweep skips it). Each is first handed to the sink
  // (retain_grad or tg.grad's capture).
  bool take(int64_t pos, Entry& e, std::vector<Tensor>& gout);
  // tg.grad's results, in the order of `capture`.
  std::vector<Tensor> finish(bool allow_unused);
  // The sweep's gradients of one entry's outputs, filled by take() (reused across entries).
  std::vector<Tensor>& gout() { return lease_.bufs->gout; }

  // The two arrays a sweep fills, kept by the thread between sweeps (Note [adjoint table]).
  struct Buffers {
    std::vector<Tensor> first, gout;
  };

 private:
  void sink(uint64_t id, const Tensor* holder, const Tensor& g);
  void deliver(uint64_t id, TensorImpl* holder, const Tensor& g);
  static void sum_into(Tensor& slot, const Tensor& g);
  Tensor& at(int64_t pos, int32_t slot);

  Tape* tape_;
  bool create_graph_;
  // The thread's spare buffers while this sweep holds them (emptied and given back by the
  // destructor, also when the Adjoints constructor throws), or buffers of its own when a
  // sweep runs inside another.
  struct Lease {
    Lease();
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Buffers own;
    Buffers* bufs;
  } lease_;
  std::vector<Tensor>& first_;                                // slot 0, by position
  std::map<std::pair<int64_t, int32_t>, Tensor> more_;       // other slots
  const std::vector<Tensor>& capture_;
  std::unordered_map<uint64_t, size_t> capture_idx_;
  std::vector<Tensor> captured_;
  // Leaves with hooks: their gradients summed over the sweep, delivered at its end
  // (Note [custom functions] in custom.cpp).
  struct Deferred {
    Tensor leaf;
    uint64_t id;
    Tensor g;
  };
  std::vector<Deferred> deferred_;
  bool hooks_ = false;  // some tensor has hooks (checked once per sweep)
};

// Tensor hooks (custom.cpp).
bool any_hooks_registered();
bool has_hooks(const TensorImpl* t);
Tensor run_grad_hooks(const TensorHooks* hooks, Tensor g);
void run_post_accumulate_hooks(const Tensor& t);

// Accumulate `g` into t's .grad as PyTorch does (accumulate.cpp).
void accumulate_grad(TensorImpl* t, const Tensor& g, bool create_graph);

}  // namespace tapegrad

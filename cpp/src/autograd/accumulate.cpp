// The one route by which the reverse sweep accumulates a gradient: adjoints of non-leaves,
// .grad of leaves and of tensors that retain their grad, tg.grad's captured results.
//
// Note [adjoint table]
// Adjoints are indexed by the producing entry's tape position (stable during a backward: no
// compaction) — slot 0 in a flat array sized once, the rare other outputs of multi-output
// entries in a side map — instead of a hash map keyed by tensor id that allocated a node per
// gradient. Adjoints are created lazily and always accumulate (+=); an entry whose outputs
// received none is skipped without running its rule. The flat array and the vector the
// outputs' gradients are handed over in are the thread's, kept empty between sweeps with
// their capacity (up to kKeepPositions positions: a longer sweep's array is freed at its end;
// a sweep started inside another, from a hook, gets arrays of its own): a replayed training
// step's sweep allocates neither.
#include "accumulate.h"

#include <stdexcept>
#include <string>

#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"

namespace tapegrad {

namespace {
struct SpareBuffers {
  Adjoints::Buffers b;
  bool busy = false;
};
thread_local SpareBuffers t_spare;
// A sweep over more tape positions than this gives the array's memory back when it ends
// rather than keeping it for the thread's next sweep.
constexpr size_t kKeepPositions = size_t(1) << 16;
}  // namespace

Adjoints::Lease::Lease() {
  SpareBuffers& s = t_spare;
  if (s.busy) {
    bufs = &own;
    return;
  }
  s.busy = true;
  bufs = &s.b;
}

Adjoints::Lease::~Lease() {
  if (bufs == &own) return;
  // Emptied while still marked busy: a tensor dying here may drop the last reference to
  // Python code (a hook) that starts a backward, which then sweeps with buffers of its own.
  if (bufs->first.capacity() > kKeepPositions) std::vector<Tensor>().swap(bufs->first);
  else bufs->first.clear();
  bufs->gout.clear();
  t_spare.busy = false;
}

Adjoints::Adjoints(Tape* tape, int64_t max_pos, const std::vector<Tensor>& capture,
                   bool create_graph)
    : tape_(tape), create_graph_(create_graph), first_(lease_.bufs->first), capture_(capture),
      captured_(capture.size()), hooks_(any_hooks_registered()) {
  first_.resize(static_cast<size_t>(max_pos + 1));  // (empty: nulls within its capacity)
  for (size_t i = 0; i < capture.size(); ++i) capture_idx_.emplace(capture[i]->id(), i);
}

void Adjoints::sum_into(Tensor& slot, const Tensor& g) { slot = slot ? tapegrad::add(slot, g) : g; }

Tensor& Adjoints::at(int64_t pos, int32_t slot) {
  return slot == 0 ? first_[static_cast<size_t>(pos)] : more_[{pos, slot}];
}

void Adjoints::add(const Target& t, Tensor g) {
  if (t.node >= 0) {
    Tensor& slot = at(tape_->position(t.node), t.slot);
    if (slot)
      sum_into(slot, g);
    else
      slot = std::move(g);  // a moved-in rule gradient costs no reference-count atomics
  } else {
    sink(t.id, t.leaf, g);
  }
}

void Adjoints::sink(uint64_t id, const Tensor* holder, const Tensor& g) {
  TensorImpl* leaf = holder ? holder->get() : nullptr;
  if (hooks_ && leaf && leaf->is_leaf() && has_hooks(leaf)) {
    for (Deferred& d : deferred_)
      if (d.leaf.get() == leaf) {
        sum_into(d.g, g);
        return;
      }
    deferred_.push_back({*holder, id, g});
    return;
  }
  deliver(id, leaf, g);
}

void Adjoints::deliver(uint64_t id, TensorImpl* holder, const Tensor& g) {
  if (!capture_.empty()) {
    auto it = capture_idx_.find(id);
    if (it != capture_idx_.end()) sum_into(captured_[it->second], g);
  } else if (holder) {
    accumulate_grad(holder, g, create_graph_);
  }
}

bool Adjoints::take(int64_t pos, Entry& e, std::vector<Tensor>& gout) {
  bool any = static_cast<bool>(first_[static_cast<size_t>(pos)]);
  if (!any && !more_.empty())
    for (size_t k = 1; k < e.outputs.size() && !any; ++k)
      any = more_.count({pos, static_cast<int32_t>(k)}) > 0;
  if (!any) return false;
  gout.clear();
  gout.resize(e.outputs.size());
  gout[0] = std::move(first_[static_cast<size_t>(pos)]);
  first_[static_cast<size_t>(pos)] = nullptr;
  for (size_t k = 1; k < e.outputs.size(); ++k) {
    auto it = more_.find({pos, static_cast<int32_t>(k)});
    if (it == more_.end()) continue;
    gout[k] = std::move(it->second);
    more_.erase(it);
  }
  for (size_t k = 0; k < e.outputs.size(); ++k) {
    if (!gout[k]) continue;
    if (e.hooks && (*e.hooks)[k]) gout[k] = run_grad_hooks((*e.hooks)[k].get(), std::move(gout[k]));
    if (!capture_.empty()) {
      deliver(e.outputs[k].id, nullptr, gout[k]);
    } else if (!e.retains && !tape_->retained_anywhere()) {
      continue;  // no output retains its grad: no lookup, no lock
    } else if (Tensor o = tape_->retained_output(e, k)) {
      deliver(e.outputs[k].id, o.get(), gout[k]);
    }
  }
  return true;
}

std::vector<Tensor> Adjoints::finish(bool allow_unused) {
  // Leaves with hooks, in the order their first gradient arrived. (A hook may start another
  // backward; these are this sweep's own.)
  std::vector<Deferred> deferred = std::move(deferred_);
  for (Deferred& d : deferred) {
    const AutogradMeta* m = d.leaf->autograd_meta();
    Tensor g = run_grad_hooks(m ? m->hooks.get() : nullptr, std::move(d.g));
    deliver(d.id, d.leaf.get(), g);
    if (capture_.empty()) run_post_accumulate_hooks(d.leaf);
  }
  for (size_t i = 0; i < captured_.size(); ++i) {
    if (!captured_[i] && !allow_unused)
      throw std::runtime_error(
          "grad: one of the differentiated tensors (input " + std::to_string(i) + ", shape " +
          shape_str(capture_[i]->shape()) +
          ") appears to not have been used in the graph. Set allow_unused=True if this is "
          "the desired behavior.");
    if (captured_[i] && !create_graph_ && captured_[i]->requires_grad())
      captured_[i] = detach(captured_[i]);
  }
  return std::move(captured_);
}

namespace {
// dst += src in place (same shape and float dtype), a new version of dst.
void add_into(const Tensor& dst, const Tensor& src) {
  switch (dst->dtype()) {
    case DType::f32:
      kernels::axpy_f32(dst->numel(), 1.0f, src->data<float>(), dst->data<float>());
      break;
    case DType::f64:
      kernels::axpy_f64(dst->numel(), 1.0, src->data<double>(), dst->data<double>());
      break;
    default: throw std::runtime_error("internal: gradient of a non-float tensor");
  }
  dst->bump_version();
}
}  // namespace

// The first gradient is taken (stolen when nothing else holds it, copied otherwise); later
// ones are added, in place unless create_graph asks for a differentiable sum.
void accumulate_grad(TensorImpl* t, const Tensor& g, bool create_graph) {
  if (!t->has_grad()) {
    if (create_graph) {
      t->set_grad(g);
    } else if (g.use_count() == 1 && g->storage().use_count() == 1 && g->is_leaf()) {
      t->set_grad(detach(g));
    } else {
      t->set_grad(clone_data(g));
    }
  } else if (create_graph || t->grad()->requires_grad()) {
    t->set_grad(add(t->grad(), g));
  } else {
    add_into(t->grad(), g);
  }
}

}  // namespace tapegrad

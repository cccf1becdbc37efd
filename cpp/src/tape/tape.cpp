// The tape: recording entries, reference counts, the cascade of releases, compaction.
//
// Note [tape lifetime]
// Each thread records into its own Tape: a deque of entries in recording order (a topological
// order), so backward is one reverse loop — no DFS, no sort, no recursion. An entry is kept
// alive by a reference count = live output tensors + live downstream entries that read one of
// its outputs. When the count reaches zero the entry dies: its saved tensors are dropped and
// the counts of its producers are decremented, iteratively through a worklist (a chain of 100k
// entries dies without recursion). Dead entries are compacted out of the arrays when they
// outnumber the live ones (never during a backward, so positions stay stable there). Tensors
// name their entry by a handle that survives compaction (pos_ maps handle → position). Saved
// *outputs* are stored as detached aliases so an entry never keeps itself alive.
//
// Note [planned tapes]
// A replay of a captured program (Note [capture and replay] in cpp/src/capture/capture.cpp)
// records the same ops in the same order every time, so its entries need not be built and
// torn down per step. A program whose results, inputs and constants never carry history out of
// the step records into a tape of its own, made by make_planned(): there an entry whose count
// reaches zero is parked — its saved tensors, leaf references and attributes dropped as when
// it dies, but its handle, position, op, input and output shapes kept — and nothing is
// compacted. The next replay (plan_begin: the tape has no live entry, so nothing outside can
// reach one) records each op into the parked entry at the cursor when the op, the arity and
// every input and output shape and dtype match, refreshing only what changes per step (the
// tensors' identities and metas, the saved tensors, the attributes, the counts). So the sweep,
// the rules and the counts are eager's and so are the bits; what goes is the entry's
// construction, its shape copies, its handle, and the compaction. An op that does not match
// leaves the plan for the rest of the run (broken_): it and the later ones append as an
// ordinary record would, which keeps positions topological, and plan_end() reports that the
// plan did not hold, so the program drops it (retire_plan: the tape becomes an ordinary one
// for whatever tensors still hold it).
#include "tapegrad/tape.h"
#include "blocks.h"
#include "tapegrad/kernels.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

namespace tapegrad {

int32_t Tape::new_handle() {
  if (!free_handles_.empty()) {
    const int32_t h = free_handles_.back();
    free_handles_.pop_back();
    return h;
  }
  pos_.push_back(-1);
  return static_cast<int32_t>(pos_.size() - 1);
}

// Under detect_anomaly, the first recorded op whose output holds a NaN is named at once
// (the backward check then names the first backward formula that makes one): Note [anomaly
// mode] in cpp/src/autograd/checks.cpp.
static void check_forward_anomaly(OpCode op, TensorRefs inputs, TensorRefs outputs) {
  auto has_nan = [](const Tensor& t) {
    if (!t || !is_float(t->dtype())) return false;
    const auto e = t->dtype() == DType::f32 ? kernels::Elem::f32 : kernels::Elem::f64;
    return kernels::any_nonfinite(e, t->numel(), t->raw(), /*nan_only=*/true);
  };
  for (const Tensor* in : inputs)
    if (in && has_nan(*in)) return;  // not produced here
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!has_nan(*outputs[k])) continue;
    std::string shapes;
    for (const Tensor* in : inputs)
      if (in && *in) shapes += (shapes.empty() ? "" : ", ") + shape_str((*in)->shape());
    throw std::runtime_error(std::string("detect_anomaly: '") + op_name(op) +
                             "' produced NaN in its output " + std::to_string(k) + " (shape " +
                             shape_str((*outputs[k])->shape()) + ") from inputs of shape " +
                             shapes + " that held no NaN");
  }
}

Entry& Tape::record(OpCode op, TensorRefs inputs, TensorRefs outputs, SavedList saved,
                    AttrBox attrs) {
  if (built_ && !broken_) {  // Note [planned tapes]
    if (Entry* e = rerecord(op, inputs, outputs, saved, attrs)) return *e;
    broken_ = true;
  }
  const std::shared_ptr<Tape>& self = current();
  drain_remote();
  if (anomaly_enabled()) check_forward_anomaly(op, inputs, outputs);
  for (const Tensor* tp : inputs) {
    const Tensor& t = *tp;
    if (t && t->node() >= 0 && t->tape().get() != this)
      throw std::runtime_error(std::string(op_name(op)) +
                               ": an input of shape " + shape_str(t->shape()) +
                               " carries gradient history recorded in another thread; each "
                               "thread has its own tape — detach() it or compute it in this "
                               "thread");
  }
  if (!planned_) maybe_compact();
  const int32_t h = new_handle();
  entries_.emplace_back();
  pos_[h] = static_cast<int64_t>(entries_.size() - 1);
  Entry& e = entries_.back();
  e.op = op;
  e.handle = h;
  e.inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = *inputs[i];
    InputRef& r = e.inputs[i];
    if (!t) continue;  // optional input absent
    // A constant input gets its identity here, so the entry can name it (Note [autograd meta]).
    const AutogradMeta& m = t->ensure_autograd_meta();
    r.id = m.id;
    r.node = m.node;
    r.dtype = t->dtype();
    r.requires_grad = m.requires_grad;
    r.slot = m.slot;
    r.shape = blocks::copy_shape(t->shape());  // Note [block recycling]
    if (m.node >= 0) {
      ++entry(m.node).refcount;
    } else if (m.requires_grad) {
      r.leaf = t;
    }
  }
  e.outputs.resize(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = *outputs[k];
    AutogradMeta& m = o->ensure_autograd_meta(*this, o.use_count() == 1);
    m.node = h;
    m.slot = static_cast<int32_t>(k);
    m.tape = self;
    m.requires_grad = true;
    e.outputs[k] = OutputRef{m.id, o.get(), o->dtype(), blocks::copy_shape(o->shape())};
    ++e.refcount;
  }
  e.had_saved = !saved.empty();
  e.saved.reserve(saved.size());
  for (Tensor& s : saved) {
    const uint64_t v = s ? s->version() : 0;
    e.saved.push_back(SavedTensor{std::move(s), v});
  }
  e.attrs = std::move(attrs);
  ++live_;
  return e;
}

void Tape::decref(int32_t handle) {
  pending_.push_back(handle);
  if (draining_) return;
  draining_ = true;
  while (!pending_.empty()) {
    const int32_t h = pending_.back();
    pending_.pop_back();
    Entry& e = entry(h);
    if (--e.refcount > 0) continue;
    if (planned_) {
      park(e);
      continue;
    }
    e.alive = false;
    --live_;
    ++dead_;
    for (InputRef& r : e.inputs) {
      if (r.node >= 0) pending_.push_back(r.node);
      blocks::recycle_shape(r.shape);
    }
    for (OutputRef& o : e.outputs) blocks::recycle_shape(o.shape);
    pos_[h] = -1;
    e.handle = -1;
    free_handles_.push_back(h);
    // Cleared in place, the entry already unnamed: destroying a saved tensor, a leaf or a
    // hook may re-enter decref (queued, since draining_) or record (an entry appended to the
    // deque: `e` stays where it is, and compaction waits for draining_).
    e.outputs.clear();
    e.attrs.reset();
    e.saved.clear();
    e.inputs.clear();
    e.hooks.reset();
  }
  draining_ = false;
}

// ----- planned tapes (Note [planned tapes]) -----
std::shared_ptr<Tape> Tape::make_planned() {
  auto t = std::make_shared<Tape>();
  t->planned_ = true;
  return t;
}

// An entry of a planned tape dies: what it holds goes as in decref, its shape stays.
void Tape::park(Entry& e) {
  e.alive = false;
  --live_;
  for (InputRef& r : e.inputs) {
    if (r.node >= 0) pending_.push_back(r.node);
    r.leaf.reset();
  }
  for (OutputRef& o : e.outputs) o.ptr = nullptr;
  e.attrs.reset();
  e.saved.clear();
  e.hooks.reset();
}

bool Tape::plan_begin() {
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  drain_remote();
  if (live_ != 0 || draining_ || in_backward_ > 0) return false;
  cursor_ = 0;
  broken_ = false;
  return true;
}

bool Tape::plan_end() {
  const bool held = !broken_ && (!built_ || cursor_ == entries_.size());
  built_ = true;
  return held;
}

void Tape::retire_plan() {
  if (!planned_) return;
  planned_ = false;
  built_ = false;
  for (Entry& e : entries_) {
    if (e.alive) continue;
    if (e.handle >= 0) {  // parked: freed as decref frees a dead entry
      for (InputRef& r : e.inputs) blocks::recycle_shape(r.shape);
      for (OutputRef& o : e.outputs) blocks::recycle_shape(o.shape);
      pos_[e.handle] = -1;
      free_handles_.push_back(e.handle);
      e.handle = -1;
      e.inputs.clear();
      e.outputs.clear();
      ++dead_;
    }
  }
}

// The op at the cursor again: records into the parked entry there when everything the entry
// fixed matches, else returns null and changes nothing.
Entry* Tape::rerecord(OpCode op, TensorRefs inputs, TensorRefs outputs, SavedList& saved,
                      AttrBox& attrs) {
  drain_remote();
  if (cursor_ >= entries_.size()) return nullptr;
  Entry& e = entries_[cursor_];
  if (e.alive || e.op != op || e.inputs.size() != inputs.size() ||
      e.outputs.size() != outputs.size())
    return nullptr;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = *inputs[i];
    const InputRef& r = e.inputs[i];
    if (!t) {
      if (r.id != 0) return nullptr;
      continue;
    }
    if (r.id == 0 || t->dtype() != r.dtype || !same_shape(t->shape(), r.shape)) return nullptr;
    if (t->node() >= 0 && t->tape().get() != this) return nullptr;  // (record() says why)
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = *outputs[k];
    if (o->dtype() != e.outputs[k].dtype || !same_shape(o->shape(), e.outputs[k].shape)) return nullptr;
  }
  if (anomaly_enabled()) check_forward_anomaly(op, inputs, outputs);
  const std::shared_ptr<Tape>& self = current();
  ++cursor_;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = *inputs[i];
    if (!t) continue;
    InputRef& r = e.inputs[i];
    const AutogradMeta& m = t->ensure_autograd_meta();
    r.id = m.id;
    r.node = m.node;
    r.slot = m.slot;
    r.requires_grad = m.requires_grad;
    if (m.node >= 0) {
      ++entry(m.node).refcount;
    } else if (m.requires_grad) {
      r.leaf = t;
    }
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = *outputs[k];
    AutogradMeta& m = o->ensure_autograd_meta(*this, o.use_count() == 1);
    m.node = e.handle;
    m.slot = static_cast<int32_t>(k);
    m.tape = self;
    m.requires_grad = true;
    e.outputs[k].id = m.id;
    e.outputs[k].ptr = o.get();
    ++e.refcount;
  }
  e.alive = true;
  e.released = false;
  e.retains = false;
  e.display = nullptr;
  e.had_saved = !saved.empty();
  for (Tensor& s : saved) {
    const uint64_t v = s ? s->version() : 0;
    e.saved.push_back(SavedTensor{std::move(s), v});
  }
  e.attrs = std::move(attrs);
  ++live_;
  return &e;
}

void Tape::maybe_compact() {
  if (in_backward_ > 0 || draining_) return;
  if (live_ == 0 && !entries_.empty()) {
    entries_.clear();
    dead_ = 0;
    return;
  }
  if (dead_ > 256 && dead_ > live_) clear_dead();
}

void Tape::clear_dead() {
  if (in_backward_ > 0 || draining_ || planned_) return;
  std::deque<Entry> kept;
  for (Entry& e : entries_) {
    if (!e.alive) continue;
    pos_[e.handle] = static_cast<int64_t>(kept.size());
    kept.push_back(std::move(e));
  }
  entries_.swap(kept);
  dead_ = 0;
}

TapeStats Tape::stats() {
  if (owned_by_this_thread()) drain_remote();
  TapeStats s;
  s.entries = static_cast<int64_t>(entries_.size());
  s.live_entries = live_;
  for (const Entry& e : entries_) {
    if (!e.alive) continue;
    for (const SavedTensor& st : e.saved)
      if (st.tensor) s.saved_bytes += static_cast<int64_t>(st.tensor->nbytes());
  }
  return s;
}

std::vector<const Entry*> reachable_entries(const Tensor& root) {
  std::vector<const Entry*> out;
  if (root->node() < 0) return out;
  Tape& tape = *root->tape();
  std::vector<int32_t> stack{root->node()};
  std::vector<int64_t> positions;
  std::unordered_set<int32_t> seen;
  while (!stack.empty()) {
    const int32_t h = stack.back();
    stack.pop_back();
    if (!seen.insert(h).second) continue;
    positions.push_back(tape.position(h));
    for (const InputRef& in : tape.entry(h).inputs)
      if (in.node >= 0) stack.push_back(in.node);
  }
  std::sort(positions.begin(), positions.end());
  for (int64_t p : positions) out.push_back(&tape.at(p));
  return out;
}

}  // namespace tapegrad

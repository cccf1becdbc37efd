// The tape and the reverse sweep.
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
// Note [version counters]
// Every in-place write bumps its storage's version. An entry remembers the version of each
// tensor it saved; the backward refuses to use a saved tensor whose version moved.
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
// running owner's graph is refused with an error). In the backward, outputs that retain .grad are reached through
// output_tensor(), which takes a strong reference under remote_mu_, so an output being
// destroyed in another thread at that moment is either skipped or kept alive.
//
// Note [in-place ops]
// An in-place op computes its result out of place (recording as usual), copies the values
// into self's storage, and — when an entry was recorded — makes self the output of that entry
// (rebase_inplace). The old identity of self stays referenced as the entry's input, so the
// history before the in-place op is intact.
//
// Note [factored weight gradients]
// At batch 1 the weight gradient of a Linear layer is an outer product, dW = gᵀ·x (g: 1×out,
// x: 1×in). Materialising it writes all of dW in the backward and reads all of it again in the
// optimizer step: for an MLP with a 256×784 first layer those were two of the three passes
// over 0.8 MB that made up most of a batch-1 training step (the third is the forward's
// matrix-vector product). So when backward() stores such a gradient into a leaf that has no
// gradient yet, it keeps the two rows instead (private copies, TensorImpl::outer_grad()).
// TensorImpl::grad() forms the matrix on first access with the very GEMM call the backward
// rule would have made, so every reader — Python's .grad, a second backward accumulating
// into it, Adam, momentum SGD, zero_grad(set_to_none=False) — gets bit for bit the tensor of
// the eager path. Plain SGD (no momentum, no weight decay) applies the factored form directly
// with kernels::axpy_outer: W ← W − lr·(gᵀ·x) with the same two roundings as materialising
// and then axpy, in one pass over W, and rows whose g_i is zero (units a ReLU switched off)
// are not touched at all. tg.grad, create_graph and anomaly mode always get ordinary
// tensors (BwCtx::into_leaves is false).
#include "tapegrad/tape.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>

#include "autograd.h"
#include "ops/common.h"

namespace tapegrad {

namespace {
struct OpInfo {
  const char* name;
  const char* backward_name;
  BackwardFn backward;
};
const OpInfo kOps[] = {
#define TG_OP(code, name, arity, bind, expose, dunder) {#name, #code "Backward0", &backward_##code},
#include "tapegrad/ops.def"
#undef TG_OP
};
}  // namespace

const char* op_name(OpCode op) { return kOps[static_cast<int>(op)].name; }
const char* op_backward_name(OpCode op) { return kOps[static_cast<int>(op)].backward_name; }

// The thread's tape; at thread exit the tape is orphaned (Note [tape threads]), since tensors
// handed to other threads may still hold it.
struct TapeOwner {
  std::shared_ptr<Tape> tape = std::make_shared<Tape>();
  ~TapeOwner() {
    tape->owner_.store(std::thread::id());
    if (tape->try_adopt()) tape->release_adopted();
  }
};

const std::shared_ptr<Tape>& Tape::current() {
  thread_local TapeOwner owner;
  return owner.tape;
}

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

Tensor Tape::output_tensor(const Entry& e, size_t slot) {
  TensorImpl* p = e.outputs[slot].ptr;
  if (!p) return nullptr;
  std::lock_guard<std::mutex> lk(remote_mu_);
  for (const RemoteRelease& r : remote_)
    if (r.ptr == p) return nullptr;  // destroyed in another thread, not drained yet
  return p->weak_from_this().lock();  // empty while its destructor runs
}

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
// (the backward check then names the first backward formula that makes one).
static void check_forward_anomaly(OpCode op, TensorRefs inputs, TensorRefs outputs) {
  auto has_nan = [](const Tensor& t) {
    if (!t || !is_float(t->dtype())) return false;
    for (int64_t i = 0; i < t->numel(); ++i)
      if (t->dtype() == DType::f32 ? std::isnan(t->data<float>()[i])
                                   : std::isnan(t->data<double>()[i]))
        return true;
    return false;
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
  const std::shared_ptr<Tape>& self = current();
  drain_remote();
  if (anomaly_enabled()) check_forward_anomaly(op, inputs, outputs);
  for (const Tensor* tp : inputs) {
    const Tensor& t = *tp;
    if (t && t->node_ >= 0 && t->tape_.get() != this)
      throw std::runtime_error(std::string(op_name(op)) +
                               ": an input of shape " + shape_str(t->shape()) +
                               " carries gradient history recorded in another thread; each "
                               "thread has its own tape — detach() it or compute it in this "
                               "thread");
  }
  maybe_compact();
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
    r.id = t->id_;
    r.node = t->node_;
    r.dtype = t->dtype_;
    r.requires_grad = t->requires_grad_;
    r.slot = t->slot_;
    r.shape = t->shape_;
    if (t->node_ >= 0) {
      ++entry(t->node_).refcount;
    } else if (t->requires_grad_) {
      r.leaf = t;
    }
  }
  e.outputs.resize(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = *outputs[k];
    o->node_ = h;
    o->slot_ = static_cast<int32_t>(k);
    o->tape_ = self;
    o->requires_grad_ = true;
    e.outputs[k] = OutputRef{o->id_, o.get(), o->dtype_, o->shape_};
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
    e.alive = false;
    --live_;
    ++dead_;
    // Moving these out first: destroying them may re-enter decref (queued, since draining_).
    auto saved = std::move(e.saved);
    auto inputs = std::move(e.inputs);
    e.saved.clear();
    e.inputs.clear();
    e.outputs.clear();
    e.attrs.reset();
    for (const InputRef& r : inputs)
      if (r.node >= 0) pending_.push_back(r.node);
    pos_[h] = -1;
    e.handle = -1;
    free_handles_.push_back(h);
    saved.clear();
    inputs.clear();
  }
  draining_ = false;
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
  if (in_backward_ > 0 || draining_) return;
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

// ---------------------------------------------------------------------------------------------
namespace {

struct BackwardScope {
  Tape* tape;
  int* counter;
  explicit BackwardScope(int* c) : tape(nullptr), counter(c) { ++*counter; }
  ~BackwardScope() { --*counter; }
};

void add_into(const Tensor& dst, const Tensor& src) {
  switch (dst->dtype()) {
    case DType::f32: k::axpy_f32(dst->numel(), 1.0f, src->data<float>(), dst->data<float>()); break;
    case DType::f64: k::axpy_f64(dst->numel(), 1.0, src->data<double>(), dst->data<double>()); break;
    default: throw std::runtime_error("internal: gradient of a non-float tensor");
  }
  dst->bump_version();
}

bool has_nonfinite(const Tensor& t) {
  if (!t || !is_float(t->dtype())) return false;
  if (t->dtype() == DType::f32) {
    const float* p = t->data<float>();
    for (int64_t i = 0; i < t->numel(); ++i)
      if (!std::isfinite(p[i])) return true;
  } else {
    const double* p = t->data<double>();
    for (int64_t i = 0; i < t->numel(); ++i)
      if (!std::isfinite(p[i])) return true;
  }
  return false;
}

}  // namespace

void TensorImpl::set_outer_grad(Tensor u, Tensor v) {
  grad_.reset();
  outer_grad_ = std::make_unique<OuterGrad>(OuterGrad{std::move(u), std::move(v)});
}

void TensorImpl::materialize_grad() const {
  GradModeGuard off(false);
  Tensor g = mm(outer_grad_->u, outer_grad_->v, /*ta=*/true, /*tb=*/false);
  grad_ = std::move(g);
  outer_grad_.reset();
}

bool BwCtx::defer_outer(size_t i, const Tensor& u, const Tensor& v) {
  if (!into_leaves) return false;
  const InputRef& in = e.inputs[i];
  TensorImpl* leaf = in.leaf.get();
  if (!in.requires_grad || in.node >= 0 || !leaf || leaf->has_grad()) return false;
  if (u->dim() != 2 || v->dim() != 2 || u->shape()[0] != 1 || v->shape()[0] != 1 ||
      !is_float(leaf->dtype()) || u->dtype() != leaf->dtype() || v->dtype() != leaf->dtype() ||
      leaf->shape() != Shape{u->shape()[1], v->shape()[1]})
    return false;
  leaf->set_outer_grad(clone_data(u), clone_data(v));
  return true;
}

// Accumulate `g` into a tensor's .grad the way PyTorch does: the first gradient is taken
// (stolen when nothing else holds it, copied otherwise); later ones are added, in place
// unless create_graph asks for a differentiable sum.
static void accumulate_grad(TensorImpl* t, const Tensor& g, bool create_graph) {
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

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 bool create_graph, const std::vector<Tensor>& capture,
                                 bool allow_unused) {
  std::shared_ptr<Tape> tape;
  for (const Tensor& r : roots) {
    if (r->node() >= 0) {
      if (tape && tape != r->tape())
        throw std::runtime_error("backward: the outputs were recorded in different threads");
      tape = r->tape();
    }
  }
  // Note [tape threads]: only the owning thread sweeps a tape; a tape whose thread has exited
  // is adopted for the length of this backward.
  struct Adoption {
    Tape* tape = nullptr;
    ~Adoption() {
      if (tape) tape->release_adopted();
    }
  } adoption;
  if (tape && !tape->owned_by_this_thread()) {
    // A thread that has just finished (Python's join() returns before the thread's C++
    // thread-locals are destroyed) gives its tape up moments later: wait for that briefly,
    // with the GIL released (Note [GIL]) since the exiting thread may need it.
    bool adopted = tape->try_adopt();
    for (int i = 0; !adopted && i < 500; ++i) {
      AllowThreads nogil(AllowThreads::kMinWork);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      adopted = tape->try_adopt();
    }
    if (!adopted)
      throw std::runtime_error(
          "backward: the graph was recorded in another thread that is still running; each "
          "thread has its own tape, so call backward() in the thread that computed the output "
          "(or detach() what you pass between threads)");
    adoption.tape = tape.get();
  }
  if (tape) tape->drain_remote();
  GradModeGuard mode(create_graph);
  // Note [adjoint table]: adjoints are indexed by the producing entry's tape position (stable
  // during a backward: no compaction) — slot 0 in a flat array sized once, the rare other
  // outputs of multi-output entries in a side map — instead of a hash map keyed by tensor id
  // that allocated a node per gradient.
  std::vector<Tensor> adj;
  std::map<std::pair<int64_t, int32_t>, Tensor> adj_more;
  auto adj_at = [&](int64_t pos, int32_t slot) -> Tensor& {
    return slot == 0 ? adj[static_cast<size_t>(pos)] : adj_more[{pos, slot}];
  };
  std::unordered_map<uint64_t, size_t> capture_idx;
  for (size_t i = 0; i < capture.size(); ++i) capture_idx.emplace(capture[i]->id(), i);
  std::vector<Tensor> captured(capture.size());
  const bool capturing = !capture.empty();

  auto add_to = [&](Tensor& slot, const Tensor& g) {
    slot = slot ? add(slot, g) : g;
  };
  auto route_leaf = [&](uint64_t id, TensorImpl* leaf, const Tensor& g) {
    if (capturing) {
      auto it = capture_idx.find(id);
      if (it != capture_idx.end()) add_to(captured[it->second], g);
    } else if (leaf) {
      accumulate_grad(leaf, g, create_graph);
    }
  };

  int64_t max_pos = -1;
  for (const Tensor& r : roots)
    if (!r->is_leaf()) max_pos = std::max<int64_t>(max_pos, tape->position(r->node()));
  adj.resize(static_cast<size_t>(max_pos + 1));
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    const Tensor& g = root_grads[i];
    if (r->is_leaf()) {
      route_leaf(r->id(), r->requires_grad() ? r.get() : nullptr, g);
    } else {
      add_to(adj_at(tape->position(r->node()), r->slot()), g);
    }
  }

  if (tape) {
    BackwardScope scope(&tape->in_backward_);
    std::vector<Tensor> gout;  // reused across entries
    for (int64_t pos = max_pos; pos >= 0; --pos) {
      Entry& e = tape->entries_[static_cast<size_t>(pos)];
      if (!e.alive) continue;
      bool any = static_cast<bool>(adj[static_cast<size_t>(pos)]);
      if (!any && !adj_more.empty())
        for (size_t kk = 1; kk < e.outputs.size() && !any; ++kk)
          any = adj_more.count({pos, static_cast<int32_t>(kk)}) > 0;
      if (!any) continue;
      gout.clear();
      gout.resize(e.outputs.size());
      for (size_t kk = 0; kk < e.outputs.size(); ++kk) {
        if (kk == 0) {
          gout[0] = std::move(adj[static_cast<size_t>(pos)]);
          adj[static_cast<size_t>(pos)] = nullptr;
          continue;
        }
        auto it = adj_more.find({pos, static_cast<int32_t>(kk)});
        if (it == adj_more.end()) continue;
        gout[kk] = std::move(it->second);
        adj_more.erase(it);
      }
      for (size_t kk = 0; kk < e.outputs.size(); ++kk) {
        if (!gout[kk]) continue;
        if (capturing) {
          auto it = capture_idx.find(e.outputs[kk].id);
          if (it != capture_idx.end()) add_to(captured[it->second], gout[kk]);
        } else if (Tensor o = tape->output_tensor(e, kk); o && o->retains_grad()) {
          accumulate_grad(o.get(), gout[kk], create_graph);
        }
      }
      if (e.released && e.had_saved)
        throw std::runtime_error(
            std::string("Trying to backward through the graph a second time (through ") +
            op_backward_name(e.op) +
            "): its saved tensors were freed by the first backward(). Specify "
            "retain_graph=True on the first call if you need to backward through the graph "
            "again.");
      for (size_t s = 0; s < e.saved.size(); ++s) {
        const SavedTensor& st = e.saved[s];
        if (st.tensor && st.tensor->version() != st.version)
          throw std::runtime_error(
              "one of the variables needed for gradient computation has been modified by an "
              "inplace operation: the " + std::string(dtype_name(st.tensor->dtype())) +
              " tensor of shape " + shape_str(st.tensor->shape()) + " saved by " +
              op_backward_name(e.op) + " is at version " +
              std::to_string(st.tensor->version()) + "; expected version " +
              std::to_string(st.version) +
              " instead. Hint: do the in-place operation out of place (x = x + y instead of "
              "x += y), or clone() the tensor first.");
      }
      bool need = false;
      for (const InputRef& in : e.inputs) need = need || in.requires_grad;
      if (need) {
        // Missing gradients of multi-output ops are zeros.
        for (size_t kk = 0; kk < e.outputs.size(); ++kk)
          if (!gout[kk]) gout[kk] = zeros(e.outputs[kk].shape, e.outputs[kk].dtype);
        BwCtx ctx{e, gout, create_graph, tape, !capturing && !create_graph && !anomaly_enabled()};
        std::vector<Tensor> gin = kOps[static_cast<int>(e.op)].backward(ctx);
        if (anomaly_enabled()) {
          for (size_t i = 0; i < gin.size(); ++i)
            if (has_nonfinite(gin[i]))
              throw std::runtime_error(std::string("Function '") + op_backward_name(e.op) +
                                       "' returned nan or inf values in its " +
                                       std::to_string(i) + "th output (input shape " +
                                       shape_str(e.inputs[i].shape) + ")");
        }
        for (size_t i = 0; i < gin.size() && i < e.inputs.size(); ++i) {
          if (!gin[i]) continue;
          const InputRef& in = e.inputs[i];
          if (!in.requires_grad) continue;
          grad_to_input(gin[i], in);  // sum_to + cast: Note [shape-free rules]
          if (in.node < 0) {
            route_leaf(in.id, in.leaf.get(), gin[i]);
          } else {
            add_to(adj_at(tape->position(in.node), in.slot), gin[i]);
          }
        }
      }
      if (!retain_graph) {
        auto drop = std::move(e.saved);
        e.saved.clear();
        e.released = true;
      }
    }
  }

  if (capturing) {
    for (size_t i = 0; i < capture.size(); ++i) {
      if (!captured[i] && !allow_unused)
        throw std::runtime_error(
            "grad: one of the differentiated tensors (input " + std::to_string(i) + ", shape " +
            shape_str(capture[i]->shape()) +
            ") appears to not have been used in the graph. Set allow_unused=True if this is "
            "the desired behavior.");
      if (captured[i] && !create_graph && captured[i]->requires_grad())
        captured[i] = detach(captured[i]);
    }
  }
  return captured;
}

std::vector<const Entry*> reachable_entries(const Tensor& root) {
  std::vector<const Entry*> out;
  if (root->node() < 0) return out;
  Tape& tape = *root->tape();
  std::vector<int32_t> stack{root->node()};
  std::vector<int64_t> positions;
  std::unordered_map<int32_t, bool> seen;
  while (!stack.empty()) {
    const int32_t h = stack.back();
    stack.pop_back();
    if (seen.count(h)) continue;
    seen[h] = true;
    positions.push_back(tape.position(h));
    for (const InputRef& in : tape.entry(h).inputs)
      if (in.node >= 0) stack.push_back(in.node);
  }
  std::sort(positions.begin(), positions.end());
  for (int64_t p : positions) out.push_back(&tape.entries_[static_cast<size_t>(p)]);
  return out;
}

void backward(const Tensor& root, const Tensor& gradient, bool retain_graph, bool create_graph) {
  const Tensor g = output_grads({root}, {gradient}, "backward", "gradient=")[0];
  run_backward({root}, {g}, retain_graph, create_graph, {}, false);
}

Tensor resurrect_output(Entry& e, size_t slot, const std::shared_ptr<Tape>& tape,
                       const Tensor& alias) {
  Tensor t = std::make_shared<TensorImpl>(alias->storage_, alias->offset_, alias->shape_,
                                          alias->dtype_);
  t->node_ = e.handle;
  t->slot_ = static_cast<int32_t>(slot);
  t->id_ = e.outputs[slot].id;
  t->tape_ = tape;
  t->requires_grad_ = true;
  ++e.refcount;
  return t;
}

Tensor result_for_backward(BwCtx& ctx, size_t saved_index, size_t out_slot) {
  const Tensor& alias = ctx.saved(saved_index);
  if (!ctx.create_graph) return alias;
  return resurrect_output(ctx.e, out_slot, ctx.tape, alias);
}

// ---------------------------------------------------------------------------------------------
void rebase_inplace(const Tensor& self, const Tensor& result_in) {
  Tensor result = result_in;
  if (result->shape() != self->shape())
    throw ValueError("in-place operation: the result has shape " + shape_str(result->shape()) +
                     " but the tensor written to has shape " + shape_str(self->shape()) +
                     " (in-place ops cannot change a tensor's shape)");
  if (result->dtype() != self->dtype()) {
    if (is_float(result->dtype()) && !is_float(self->dtype()))
      throw TypeError(std::string("in-place operation: result type ") +
                      dtype_name(result->dtype()) + " can't be cast to the desired output type " +
                      dtype_name(self->dtype()));
    result = cast(result, self->dtype());
  }
  if (result->node_ >= 0 && (self->is_view_ || self->storage_->graph_views > 0))
    throw std::runtime_error(
        "in-place operation on a tensor of shape " + shape_str(self->shape()) +
        " that shares memory with a view while gradients are recorded is not supported; use "
        "the out-of-place form (x = x + y)");
  if (self->nbytes() && self->raw() != result->raw())
    std::memmove(self->raw(), result->raw(), self->nbytes());
  self->bump_version();
  if (result->node_ < 0) return;
  // Transfer the autograd identity of `result` to `self`.
  if (self->node_ >= 0) {
    Entry& old = self->tape_->entry(self->node_);
    if (self->slot_ < static_cast<int32_t>(old.outputs.size()) &&
        old.outputs[self->slot_].ptr == self.get())
      old.outputs[self->slot_].ptr = nullptr;
    self->tape_->decref(self->node_);
  }
  Entry& e = result->tape_->entry(result->node_);
  e.outputs[result->slot_].ptr = self.get();
  self->node_ = result->node_;
  self->slot_ = result->slot_;
  self->id_ = result->id_;
  self->tape_ = result->tape_;
  self->requires_grad_ = true;  // retains_grad_ stays: .grad is then w.r.t. the new value
  // The saved alias of the result (if the op saved its output) now lives in self's storage
  // only through the copy above; keep the entry's saved alias valid by pointing it at self.
  for (SavedTensor& st : e.saved)
    if (st.tensor && st.tensor->storage() == result->storage()) {
      st.tensor = detach(self);
      st.version = self->version();
    }
  result->node_ = -1;
  result->tape_.reset();
}

// The gradients a backward starts from: the given one, cast to the output's dtype, or ones for
// a one-element output (the only kind whose gradient can be implied: d out/d out = 1). Every
// output must have history to go back through.
std::vector<Tensor> output_grads(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grads,
                                 const char* op, const char* arg) {
  if (!grads.empty() && grads.size() != outputs.size())
    throw ValueError(std::string(op) + ": got " + std::to_string(grads.size()) + " " + arg +
                     " for " + std::to_string(outputs.size()) + " outputs");
  std::vector<Tensor> out;
  out.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    const std::string which = outputs.size() == 1 ? "this output" : "output " + std::to_string(i);
    if (!o->requires_grad())
      throw std::runtime_error(
          std::string(op) + ": element " + std::to_string(i) + " of tensors does not require grad "
          "and does not have a grad_fn (shape " + shape_str(o->shape()) + "). Did you create the "
          "parameters with requires_grad=True, or compute the result inside no_grad()?");
    Tensor g = grads.empty() ? nullptr : grads[i];
    if (!g) {
      if (o->numel() != 1)
        throw std::runtime_error(std::string(op) + ": grad can be implicitly created only for scalar outputs; " +
                                 which + " has shape " + shape_str(o->shape()) + ". Pass " + arg +
                                 " (a tensor of that shape), or reduce it first (e.g. .sum())");
      g = full(o->shape(), 1.0, o->dtype());
    } else {
      if (g->shape() != o->shape())
        throw ValueError(std::string(op) + ": " + arg + " has shape " + shape_str(g->shape()) +
                         " but " + which + " has shape " + shape_str(o->shape()));
      if (g->dtype() != o->dtype()) g = cast(g, o->dtype());
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace tapegrad

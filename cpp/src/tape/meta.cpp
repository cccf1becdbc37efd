// A tensor's autograd state (AutogradMeta), the TensorImpl accessors that read it, and the
// grad/anomaly mode flags.
//
// Note [autograd meta]
// TensorImpl holds storage, shape and dtype; everything autograd knows of a tensor — its
// identity in entries (id), the entry that produced it (node, slot, tape), requires_grad,
// retain_grad, .grad — lives in one AutogradMeta behind a pointer that stays null for a
// tensor that never joins a graph. So tensor.h needs no tape, the gradients and temporaries a
// backward computes under no_grad carry no autograd state, and the tape layer owns the
// meaning of every field. The meta is created on first need: requires_grad_(True), .grad
// assignment, record() (for every output, and for an input that has none yet: its id must
// name it in the entry, e.g. for tg.viz.graph). Creation publishes the pointer by
// compare-and-swap, since two threads recording at once may name the same constant input —
// except for an output that only the recording call holds (use count 1: no other thread can
// reach it), which gets a plain store.
// A recorded op's output gets a meta each time, so record() takes metas from a small pool
// kept by the tape, and an output that dies in the tape's thread gives its meta back there:
// no malloc/free and no thread-local lookup per recorded op (a thread_local in the Python
// module costs a __tls_get_addr call per access). A tensor that dies with a meta releases its entry
// (Note [tape threads] in cpp/src/tape/threads.cpp) before the meta is recycled.
#include <atomic>
#include <string>

#include "tapegrad/tape.h"

namespace tapegrad {

namespace {
std::atomic<uint64_t> g_next_id{1};

AutogradMeta* new_meta() {
  auto* m = new AutogradMeta();
  m->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  return m;
}

const std::shared_ptr<Tape> kNoTape;

// Publishes `fresh` as t's meta unless another thread got there first (then returns that one
// and `fresh` is left to the caller).
AutogradMeta* install(std::atomic<AutogradMeta*>& slot, AutogradMeta* fresh) {
  AutogradMeta* seen = nullptr;
  if (slot.compare_exchange_strong(seen, fresh, std::memory_order_acq_rel)) return fresh;
  return seen;
}
}  // namespace

AutogradMeta& TensorImpl::ensure_autograd_meta() const {
  if (AutogradMeta* m = meta_.load(std::memory_order_acquire)) return *m;
  AutogradMeta* fresh = new_meta();
  AutogradMeta* m = install(meta_, fresh);
  if (m != fresh) delete fresh;
  return *m;
}

AutogradMeta& TensorImpl::ensure_autograd_meta(Tape& pool, bool sole) const {
  if (AutogradMeta* m = meta_.load(std::memory_order_acquire)) return *m;
  AutogradMeta* fresh = pool.take_meta();
  if (!fresh) {
    fresh = new AutogradMeta();
    fresh->id = pool.fresh_id();
  }
  if (sole) {
    meta_.store(fresh, std::memory_order_release);
    return *fresh;
  }
  AutogradMeta* m = install(meta_, fresh);
  if (m != fresh) pool.recycle_meta(fresh);
  return *m;
}

void TensorImpl::free_autograd_meta(TensorImpl* self, AutogradMeta* m) {
  if (m->node >= 0 && m->tape) {
    // Held here until the meta is recycled: the tape (and its pool) may die with the release.
    const std::shared_ptr<Tape> tape = std::move(m->tape);
    tape->release_output(m->node, m->slot, self);
    if (tape->owned_by_this_thread()) {
      tape->recycle_meta(m);
      return;
    }
  }
  delete m;
}

// ---------------------------------------------------------------------------------------------
// The pool of one tape: only its owning thread touches it, like the entries.
AutogradMeta* Tape::take_meta() {
  if (meta_pool_.empty()) return nullptr;
  AutogradMeta* m = meta_pool_.back();
  meta_pool_.pop_back();
  m->id = fresh_id();
  return m;
}

uint64_t Tape::fresh_id() {
  constexpr uint64_t kIdBlock = 1024;
  if (id_next_ == id_end_) {
    id_next_ = g_next_id.fetch_add(kIdBlock, std::memory_order_relaxed);
    id_end_ = id_next_ + kIdBlock;
  }
  return id_next_++;
}

void Tape::recycle_meta(AutogradMeta* m) {
  // Drop what it references first: that may free other tensors, and re-enter here.
  m->grad.reset();
  m->outer_grad.reset();
  m->hooks.reset();
  m->self.reset();
  m->tape.reset();
  if (meta_pool_.size() >= kMetaPool) {
    delete m;
    return;
  }
  m->node = -1;
  m->slot = 0;
  m->requires_grad = false;
  m->retains_grad = false;
  meta_pool_.push_back(m);
}

Tape::~Tape() {
  for (AutogradMeta* m : meta_pool_) delete m;
}

bool TensorImpl::requires_grad() const {
  const AutogradMeta* m = autograd_meta();
  return m && m->requires_grad;
}

bool TensorImpl::is_leaf() const {
  const AutogradMeta* m = autograd_meta();
  return !m || m->node < 0;
}

uint64_t TensorImpl::id() const { return ensure_autograd_meta().id; }

int32_t TensorImpl::node() const {
  const AutogradMeta* m = autograd_meta();
  return m ? m->node : -1;
}

int32_t TensorImpl::slot() const {
  const AutogradMeta* m = autograd_meta();
  return m ? m->slot : 0;
}

const std::shared_ptr<Tape>& TensorImpl::tape() const {
  const AutogradMeta* m = autograd_meta();
  return m ? m->tape : kNoTape;
}

void TensorImpl::set_requires_grad(bool value) {
  // float16 stores and computes without autograd (Note [storage dtypes] in cpp/src/tensor.cpp).
  if (value && dtype_ == DType::f16) throw_storage_dtype("requires_grad_ (autograd)", dtype_);
  if (value && !is_float(dtype_))
    throw TypeError(std::string("requires_grad_: only floating-point tensors can require "
                                "gradients, got dtype ") + dtype_name(dtype_) +
                    " (convert with .float() first)");
  if (!value && !is_leaf())
    throw std::runtime_error(
        "requires_grad_(False): you can only change requires_grad flags of leaf tensors; use "
        ".detach() to get a tensor without history");
  if (!value && !autograd_meta()) return;
  ensure_autograd_meta().requires_grad = value;
}

bool TensorImpl::has_grad() const {
  const AutogradMeta* m = autograd_meta();
  return m && (m->grad || m->outer_grad);
}

const OuterGrad* TensorImpl::outer_grad() const {
  const AutogradMeta* m = autograd_meta();
  return m ? m->outer_grad.get() : nullptr;
}

void TensorImpl::set_grad(Tensor g) {
  if (g) {
    if (g->shape() != shape_)
      throw ValueError("assigned grad has shape " + shape_str(g->shape()) +
                       " but the tensor has shape " + shape_str(shape_));
    if (g->dtype() != dtype_)
      throw TypeError(std::string("assigned grad has dtype ") + dtype_name(g->dtype()) +
                      " but the tensor has dtype " + dtype_name(dtype_));
  } else if (!autograd_meta()) {
    return;
  }
  AutogradMeta& m = ensure_autograd_meta();
  m.grad = std::move(g);
  m.outer_grad.reset();
}

bool TensorImpl::retains_grad() const {
  const AutogradMeta* m = autograd_meta();
  return m && m->retains_grad;
}

void retain_grad(const Tensor& t) {
  if (!t->requires_grad())
    throw std::runtime_error(
        "retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (t->is_leaf()) return;
  AutogradMeta& m = t->ensure_autograd_meta();
  if (m.tape && m.node >= 0) {
    m.tape->retain(m, t);
  } else {
    m.retains_grad = true;
    m.self = t;
  }
}

const char* TensorImpl::grad_fn_name() const {
  const AutogradMeta* m = autograd_meta();
  if (!m || m->node < 0 || !m->tape) return nullptr;
  return entry_backward_name(m->tape->entry(m->node));
}

// ---------------------------------------------------------------------------------------------
namespace {
thread_local bool t_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }
bool anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_enabled(bool on) { g_anomaly.store(on); }

}  // namespace tapegrad

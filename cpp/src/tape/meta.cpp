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
// compare-and-swap, since two threads recording at once may name the same constant input.
// A recorded op's output gets a meta each time, so metas are recycled through a small
// thread-local pool instead of going through malloc and free: a tiny op then costs no more
// than when the fields lived in the tensor. A tensor that dies with a meta releases its entry
// (Note [tape threads] in threads.cpp) before the meta is recycled.
#include <atomic>
#include <string>

#include "tapegrad/tape.h"

namespace tapegrad {

namespace {
std::atomic<uint64_t> g_next_id{1};

// The pool: a fixed array per thread (trivially destructible, so it stays usable while other
// thread-locals — a tape full of tensors — are destroyed at thread exit); a closer object
// frees the pooled metas at thread exit and turns the pool off.
constexpr int kPoolSize = 256;
thread_local AutogradMeta* t_pool[kPoolSize];
thread_local int t_pool_n = 0;
thread_local bool t_pool_closed = false;
struct PoolCloser {
  ~PoolCloser() {
    t_pool_closed = true;
    while (t_pool_n > 0) delete t_pool[--t_pool_n];
  }
};

AutogradMeta* new_meta() {
  AutogradMeta* m = t_pool_n > 0 ? t_pool[--t_pool_n] : new AutogradMeta();
  m->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  return m;
}

void recycle(AutogradMeta* m) {
  // Drop what it references first: that may free other tensors, and re-enter here.
  m->grad.reset();
  m->outer_grad.reset();
  m->tape.reset();
  if (t_pool_n < kPoolSize && !t_pool_closed) {
    if (t_pool_n == 0) {
      thread_local PoolCloser closer;  // constructed by the first recycle in each thread
      (void)closer;
    }
    m->node = -1;
    m->slot = 0;
    m->requires_grad = false;
    m->retains_grad = false;
    t_pool[t_pool_n++] = m;
  } else {
    delete m;
  }
}

const std::shared_ptr<Tape> kNoTape;
}  // namespace

AutogradMeta& TensorImpl::ensure_autograd_meta() const {
  AutogradMeta* m = meta_.load(std::memory_order_acquire);
  if (m) return *m;
  AutogradMeta* fresh = new_meta();
  if (meta_.compare_exchange_strong(m, fresh, std::memory_order_acq_rel)) return *fresh;
  recycle(fresh);  // another thread installed one first
  return *m;
}

void TensorImpl::free_autograd_meta(TensorImpl* self, AutogradMeta* m) {
  if (m->node >= 0 && m->tape) m->tape->release_output(m->node, m->slot, self);
  recycle(m);
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

void TensorImpl::retain_grad() {
  if (!requires_grad())
    throw std::runtime_error("retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (!is_leaf()) ensure_autograd_meta().retains_grad = true;
}

const char* TensorImpl::grad_fn_name() const {
  const AutogradMeta* m = autograd_meta();
  if (!m || m->node < 0 || !m->tape) return nullptr;
  return op_backward_name(m->tape->entry(m->node).op);
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

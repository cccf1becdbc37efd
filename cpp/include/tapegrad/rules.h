// The contract between the reverse sweep (the autograd layer, above the ops) and each op's
// backward rule (the ops): what a rule sees, what it returns, and the rule table that one row
// of tapegrad/ops.def fills. Part of the tape layer, so the ops can implement it without
// seeing the sweep. Layers: docs/architecture.md.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/tape.h"

namespace tapegrad {

// What a backward rule sees: the entry (inputs' shapes/dtypes, saved tensors, attributes)
// and the gradients of its outputs. It returns one gradient per input (nullptr = none) in the
// shape its formula gives; the sweep sums broadcast dims and casts (Note [shape-free
// rules] in cpp/src/autograd/sweep.cpp). Rules
// are written with the differentiable ops, so under create_graph=True the backward
// computation itself is recorded (gradients of gradients).
struct BwCtx {
  Entry& e;
  std::vector<Tensor>& gout;
  bool create_graph;
  const std::shared_ptr<Tape>& tape;
  // backward() into .grad with nothing watching the gradients' values (not tg.grad, not
  // create_graph, not anomaly mode): leaf gradients may then be handed over factored.
  bool into_leaves;

  const Tensor& g(size_t k = 0) const { return gout[k]; }
  const Tensor& saved(size_t i) const { return e.saved[i].tensor; }
  bool needs(size_t i) const { return e.inputs[i].requires_grad; }
  const Shape& in_shape(size_t i) const { return e.inputs[i].shape; }
  DType in_dtype(size_t i) const { return e.inputs[i].dtype; }
  // The attribute struct the op recorded (Note [typed attributes]): ctx.attrs<MmAttrs>().
  template <class T>
  const T& attrs() const {
    return e.attrs.get<T>();
  }
  // Hand the gradient of input i over as uᵀ·v (u: 1×m, v: 1×n rows) instead of returning it:
  // true when input i is a leaf without a gradient that takes it factored (Note [factored
  // weight gradients] in cpp/src/autograd/factored.cpp); false means the rule must return
  // the gradient as usual.
  bool defer_outer(size_t i, const Tensor& u, const Tensor& v);
};

// Output `out_slot` of the entry for formulas that use the result: the saved alias normally,
// and under create_graph a tensor carrying the entry's identity, so that second derivatives
// flow through this entry again (PyTorch unpacks saved outputs the same way). Note [saved
// outputs] in cpp/src/autograd/checks.cpp.
Tensor result_for_backward(BwCtx& ctx, size_t saved_index, size_t out_slot);

// A rule's input gradients, one per input (null: none), kept inline up to three: a rule's
// result was a heap-allocated std::vector per entry of every reverse sweep (five allocations
// per replay of the 8-point regression step). The braced return goes through the forwarding
// constructor, not an initializer list (which copied each tensor twice): a temporary or
// `std::move(da)` is moved in, a named tensor copied once (a copy is two atomic updates of
// its reference count).
class Grads : public SmallVec<Tensor, 3> {
 public:
  Grads() = default;
  template <class... A, class = std::enable_if_t<(std::is_convertible_v<A&&, Tensor> && ...)>>
  Grads(A&&... g) {  // NOLINT(google-explicit-constructor): rules return braced lists
    (push_back(Tensor(std::forward<A>(g))), ...);
  }
  Grads(std::vector<Tensor>&& v)  // NOLINT(google-explicit-constructor)
      : SmallVec<Tensor, 3>(std::move(v)) {}
};
using BackwardFn = Grads (*)(BwCtx&);

// One rule per row of the op table, defined next to the op's forward in cpp/src/ops/.
#define TG_OP(code, name, arity, bind, expose, dunder) Grads backward_##code(BwCtx& ctx);
#include "tapegrad/ops.def"
#undef TG_OP

// The rule of `op` (cpp/src/tape/optable.cpp).
BackwardFn backward_rule(OpCode op);

}  // namespace tapegrad

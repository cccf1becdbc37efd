// Extending the tape from outside the op table: custom ops (a forward and a backward supplied
// as callables, recorded as one entry of the table's `Custom` row) and gradient hooks on
// tensors. The Python tapegrad.autograd.Function and Tensor.register_hook are built on these.
// Note [custom functions] in cpp/src/autograd/custom.cpp; layers: docs/architecture.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/tensor.h"

namespace tapegrad {

// What a custom backward is given.
struct CustomGradCtx {
  // One gradient per recorded output: zeros where none arrived, or null when the op asked
  // for unmaterialized gradients (materialize_grads = false).
  std::vector<Tensor> grads;
  // The tensors the forward saved, in order. Under create_graph a saved output carries the
  // entry's identity, so a backward written with tapegrad ops is itself differentiable.
  std::vector<Tensor> saved;
  std::vector<bool> needs_input_grad;  // one per input
  bool create_graph = false;
};

// The backward half of one application of a custom op; owned by its tape entry and freed
// with it. name() is what grad_fn shows ("SoftplusBackward").
class CustomBackward {
 public:
  explicit CustomBackward(std::string name) : name_(std::move(name)) {}
  virtual ~CustomBackward() = default;
  CustomBackward(const CustomBackward&) = delete;
  CustomBackward& operator=(const CustomBackward&) = delete;

  const std::string& name() const { return name_; }
  // One gradient per input, null for none. A gradient must be floating point and of the
  // input's shape or one that sums to it (it is then summed and cast to the input's dtype);
  // anything else raises an error naming this backward.
  virtual std::vector<Tensor> backward(CustomGradCtx& ctx) = 0;

  bool materialize_grads = true;
  // Set by record_custom: per saved tensor, which output it is, or -1.
  std::vector<int32_t> saved_output_slot;

 private:
  std::string name_;
};

// Records `outputs` — computed by the caller without recording — as the outputs of one tape
// entry with `inputs` and the backward `node`. Does nothing and returns false unless grad
// mode is on and an input requires grad. `saved` tensors are version-checked like a
// built-in op's; one that is an output is kept as an alias (an entry never keeps itself
// alive). Outputs must be floating point and without history.
bool record_custom(std::shared_ptr<CustomBackward> node, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved = {});

// A custom op as two callables, the convenient form for C++ users:
//
//   CustomOp square{"Square",
//       [](const std::vector<Tensor>& in, std::vector<Tensor>& save) {
//         save = {in[0]};
//         return std::vector<Tensor>{mul(in[0], in[0])};
//       },
//       [](CustomGradCtx& c) {
//         return std::vector<Tensor>{mul(c.grads[0], mul(c.saved[0], scalar_tensor(2, ...)))};
//       }};
//   Tensor y = apply_custom(square, {x})[0];   // y->grad_fn_name() == "SquareBackward"
struct CustomOp {
  std::string name;
  // Runs with recording off; may put tensors in `save` for the backward.
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, std::vector<Tensor>& save)>
      forward;
  std::function<std::vector<Tensor>(CustomGradCtx& ctx)> backward;
  bool materialize_grads = true;
};
std::vector<Tensor> apply_custom(const CustomOp& op, const std::vector<Tensor>& inputs);

// What a tape entry of the `Custom` row carries (Note [typed attributes]).
struct CustomAttrs {
  std::shared_ptr<CustomBackward> node;
};

// ----- hooks -----
// A gradient hook runs when the gradient of `t` has been computed (its total, once per
// backward), before it is used: it may return a replacement of the same shape, or null to
// keep it. Several run in registration order. On a leaf they run before .grad accumulates;
// a post-accumulate hook runs after, with the leaf itself. Returns an id for remove_hook.
using GradHook = std::function<Tensor(const Tensor& grad)>;
using PostAccumulateGradHook = std::function<void(const Tensor& leaf)>;
int64_t register_hook(const Tensor& t, GradHook fn);
int64_t register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateGradHook fn);
void remove_hook(const Tensor& t, int64_t id);
// Where t's gradient hooks live (created on first use): a leaf's in its autograd state, a
// non-leaf's in its producing entry — so they run even after the tensor itself is gone.
struct TensorHooks;
std::shared_ptr<TensorHooks> tensor_hooks(const Tensor& t);

}  // namespace tapegrad

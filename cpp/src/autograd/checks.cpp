// What the reverse sweep checks before and after running a rule, and how a rule gets at an
// entry's output under create_graph.
//
// Note [version counters]
// Every in-place write bumps its storage's version. An entry remembers the version of each
// tensor it saved; the backward refuses to use a saved tensor whose version moved (PyTorch's
// "modified by an inplace operation"). A second backward through an entry whose saved tensors
// the first one freed (no retain_graph) is refused the same way.
//
// Note [anomaly mode]
// Under detect_anomaly(), record() names the first op whose output holds a NaN its inputs did
// not (cpp/src/tape/tape.cpp), and the sweep names the first rule that returns NaN or inf.
// tg.grad, create_graph and anomaly mode always see ordinary gradient tensors.
//
// Note [saved outputs]
// An entry saves its own outputs as detached aliases (Note [tape lifetime]), so a formula that
// uses the result reads plain values. Under create_graph the second derivative must flow
// through that result as the entry's output: result_for_backward gives the rule a tensor with
// the entry's identity (handle, slot, id) over the same storage, as PyTorch unpacks saved
// outputs.
#include "checks.h"
#include "blocks.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "tapegrad/kernels.h"
#include "tapegrad/rules.h"

namespace tapegrad {

void check_saved(const Entry& e) {
  if (e.released && e.had_saved)
    throw std::runtime_error(
        std::string("Trying to backward through the graph a second time (through ") +
        entry_backward_name(e) +
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
          entry_backward_name(e) + " is at version " + std::to_string(st.tensor->version()) +
          "; expected version " + std::to_string(st.version) +
          " instead. Hint: do the in-place operation out of place (x = x + y instead of "
          "x += y), or clone() the tensor first.");
  }
}

void release_saved(Entry& e) {
  auto drop = std::move(e.saved);
  e.saved.clear();
  e.released = true;
}

namespace {
bool has_nonfinite(const Tensor& t) {
  if (!t || !is_float(t->dtype())) return false;
  const auto e = t->dtype() == DType::f32 ? kernels::Elem::f32 : kernels::Elem::f64;
  return kernels::any_nonfinite(e, t->numel(), t->raw(), /*nan_only=*/false);
}
}  // namespace

void check_rule_output(const Entry& e, const Grads& gin) {
  for (size_t i = 0; i < gin.size(); ++i)
    if (has_nonfinite(gin[i]))
      throw std::runtime_error(std::string("Function '") + entry_backward_name(e) +
                               "' returned nan or inf values in its " + std::to_string(i) +
                               "th output (input shape " + shape_str(e.inputs[i].shape) + ")");
}

Tensor result_for_backward(BwCtx& ctx, size_t saved_index, size_t out_slot) {
  const Tensor& alias = ctx.saved(saved_index);
  if (!ctx.create_graph) return alias;
  Entry& e = ctx.e;
  Tensor t = blocks::make_tensor(alias->storage(), alias->offset(),
                                 blocks::copy_shape(alias->shape()), alias->dtype());
  AutogradMeta& m = t->ensure_autograd_meta();
  m.node = e.handle;
  m.slot = static_cast<int32_t>(out_slot);
  m.id = e.outputs[out_slot].id;
  m.tape = ctx.tape;
  m.requires_grad = true;
  ++e.refcount;
  return t;
}

}  // namespace tapegrad

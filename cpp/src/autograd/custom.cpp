// Custom ops and tensor hooks: the two doors by which code outside the op table takes part
// in a backward.
//
// Note [custom functions]
// A custom op (a C++ CustomOp, or a Python tapegrad.autograd.Function) is one tape entry of
// the op table's `Custom` row; the entry's attributes hold the op's CustomBackward (a
// shared_ptr, so the node outlives an entry that dies while its own backward runs). The rule
// backward_Custom unpacks the saved tensors, hands the output gradients to the node and checks
// what comes back: one gradient per input, floating point, of the input's shape or one that
// sums to it — anything else raises naming the node ("SoftplusBackward returned ..."). The
// sweep then sums and casts as for any rule (Note [shape-free rules]). Saved tensors live in
// the entry like a built-in op's, so they are version-checked (Note [version counters]) and
// freed by a backward without retain_graph; a saved output is an alias unpacked with the
// entry's identity under create_graph (Note [saved outputs]), so a backward written with
// tapegrad ops is differentiable and an entry never keeps itself alive. The node, and with
// it a Python ctx, is freed when the entry dies (Note [tape lifetime]): a loop of
// applications that drops its results holds nothing.
//
// A leaf's hooks live in its AutogradMeta, a non-leaf's in its producing entry (by output
// slot), so they outlive the tensor as PyTorch's live on its grad_fn. A non-leaf's hooks run
// in Adjoints::take, on the complete adjoint before the entry's rule reads it; a leaf's
// gradients are summed first and its hooks run once on the total at the end of the sweep,
// before .grad accumulates (PyTorch runs a leaf's hooks once per backward too), then its
// post-accumulate hooks.
#include "tapegrad/custom.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <utility>

#include "accumulate.h"
#include "ops/common.h"
#include "tapegrad/rules.h"

namespace tapegrad {

namespace {
class FunctionBackward final : public CustomBackward {
 public:
  FunctionBackward(std::string name, std::function<std::vector<Tensor>(CustomGradCtx&)> fn)
      : CustomBackward(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> backward(CustomGradCtx& ctx) override { return fn_(ctx); }

 private:
  std::function<std::vector<Tensor>(CustomGradCtx&)> fn_;
};

// Whether `shape` broadcasts to `target` (a gradient of that shape sums back to `shape`).
bool expandable_to(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  const size_t off = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != target[off + i]) return false;
  return true;
}

std::atomic<int64_t> g_hook_ids{0};
std::atomic<int64_t> g_hooks_registered{0};
}  // namespace

bool record_custom(std::shared_ptr<CustomBackward> node, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& outputs_in, const std::vector<Tensor>& saved) {
  if (!node) throw std::invalid_argument("record_custom: null backward");
  if (!grad_enabled()) return false;
  bool any = false;
  for (const Tensor& t : inputs) {
    if (t && t->is_view()) refresh_view(t);  // a view made before its base was written
    any = any || (t && t->requires_grad());
  }
  if (!any) return false;
  const std::string& name = node->name();
  // An output that is one of the inputs was modified in place (PyTorch's mark_dirty): it is
  // recorded through an alias and then becomes that alias's output, as an in-place op does
  // (Note [in-place ops]).
  std::vector<Tensor> outputs = outputs_in;
  std::vector<size_t> dirty;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = outputs[k];
    if (!o) throw TypeError(name + ": output " + std::to_string(k) + " is None");
    if (!is_float(o->dtype()))
      throw TypeError(name + ": output " + std::to_string(k) + " has dtype " +
                      dtype_name(o->dtype()) + " (shape " + shape_str(o->shape()) +
                      "); only floating-point outputs are differentiable — mark it "
                      "non-differentiable");
    bool is_input = false;
    for (const Tensor& in : inputs) is_input = is_input || in.get() == o.get();
    if (is_input) {
      check_inplace(o, name.c_str());
      dirty.push_back(k);
      // The entry's output: an alias, or for a strided view the contiguous values that
      // rebase_inplace writes back through the view (Note [views] in cpp/src/ops/view.cpp).
      outputs[k] = o->is_contiguous() ? detach(o) : clone_data(o);
    } else if (!o->is_leaf() || o->requires_grad()) {
      throw std::runtime_error(name + ": output " + std::to_string(k) + " (shape " +
                               shape_str(o->shape()) +
                               ") already has gradient history; the forward must compute its "
                               "outputs without recording");
    }
  }
  SavedList keep;
  node->saved_output_slot.assign(saved.size(), -1);
  for (size_t i = 0; i < saved.size(); ++i) {
    const Tensor& s = saved[i];
    for (size_t k = 0; k < outputs.size() && s; ++k)
      if (s.get() == outputs_in[k].get()) node->saved_output_slot[i] = static_cast<int32_t>(k);
    keep.push_back(node->saved_output_slot[i] >= 0 ? detach(s) : s);
  }
  std::vector<const Tensor*> ins, outs;
  for (const Tensor& t : inputs) ins.push_back(&t);
  for (const Tensor& t : outputs) outs.push_back(&t);
  Tape::current()->record(OpCode::Custom, ins, outs, std::move(keep), CustomAttrs{std::move(node)});
  for (size_t k : dirty) rebase_inplace(outputs_in[k], outputs[k]);
  return true;
}

std::vector<Tensor> apply_custom(const CustomOp& op, const std::vector<Tensor>& inputs) {
  if (!op.forward || !op.backward)
    throw std::invalid_argument("apply_custom: " + op.name + " needs a forward and a backward");
  std::vector<Tensor> save, outs;
  {
    GradModeGuard off(false);
    outs = op.forward(inputs, save);
  }
  // An output that is an input (an identity) becomes a new tensor over the same storage.
  for (Tensor& o : outs)
    for (const Tensor& in : inputs)
      if (o && o.get() == in.get()) o = detach(o);
  auto node = std::make_shared<FunctionBackward>(op.name + "Backward", op.backward);
  node->materialize_grads = op.materialize_grads;
  record_custom(std::move(node), inputs, outs, save);
  return outs;
}

// The rule of every custom entry (Note [custom functions]).
Grads backward_Custom(BwCtx& ctx) {
  // A copy: the entry (and its attributes) may die while the node runs.
  const std::shared_ptr<CustomBackward> node = ctx.attrs<CustomAttrs>().node;
  const Entry& e = ctx.e;
  CustomGradCtx c;
  c.create_graph = ctx.create_graph;
  c.grads = ctx.gout;
  if (node->materialize_grads)
    for (size_t k = 0; k < e.outputs.size(); ++k)
      if (!c.grads[k]) c.grads[k] = zeros(e.outputs[k].shape, e.outputs[k].dtype);
  c.saved.reserve(e.saved.size());
  for (size_t i = 0; i < e.saved.size(); ++i) {
    const int32_t slot = i < node->saved_output_slot.size() ? node->saved_output_slot[i] : -1;
    c.saved.push_back(slot >= 0 && e.saved[i].tensor
                          ? result_for_backward(ctx, i, static_cast<size_t>(slot))
                          : e.saved[i].tensor);
  }
  // What the checks below need of the inputs, copied: the user's code may run anything.
  const size_t n_in = e.inputs.size();
  std::vector<std::pair<Shape, DType>> in_meta;
  in_meta.reserve(n_in);
  c.needs_input_grad.resize(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    c.needs_input_grad[i] = ctx.needs(i);
    in_meta.emplace_back(e.inputs[i].shape, e.inputs[i].dtype);
  }

  std::vector<Tensor> gin = node->backward(c);
  const std::string& name = node->name();
  if (gin.size() != n_in)
    throw std::runtime_error("function " + name +
                             " returned an incorrect number of gradients (expected " +
                             std::to_string(n_in) + ", got " + std::to_string(gin.size()) + ")");
  for (size_t i = 0; i < gin.size(); ++i) {
    Tensor& g = gin[i];
    if (!g) continue;
    const auto& [in_shape, in_dtype] = in_meta[i];
    if (!c.needs_input_grad[i]) {
      g = nullptr;  // nothing to route it to (PyTorch drops it too)
      continue;
    }
    if (!is_float(g->dtype()))
      throw TypeError("function " + name + " returned an invalid gradient at index " +
                      std::to_string(i) + " - expected a floating-point dtype (the input is " +
                      dtype_name(in_dtype) + "), got " + dtype_name(g->dtype()));
    if (g->shape() != in_shape && !expandable_to(in_shape, g->shape()))
      throw std::runtime_error("function " + name + " returned an invalid gradient at index " +
                               std::to_string(i) + " - got " + shape_str(g->shape()) +
                               " but expected shape compatible with " + shape_str(in_shape));
  }
  return gin;
}

// ----- hooks -----
std::shared_ptr<TensorHooks> tensor_hooks(const Tensor& t) {
  AutogradMeta& m = t->ensure_autograd_meta();
  if (m.node < 0) {
    if (!m.hooks) m.hooks = std::make_shared<TensorHooks>();
    return m.hooks;
  }
  if (!m.tape->owned_by_this_thread())
    throw std::runtime_error("register_hook: the tensor's graph was recorded in another thread; "
                             "register its hooks in that thread");
  Entry& e = m.tape->entry(m.node);
  if (!e.hooks)
    e.hooks = std::make_unique<std::vector<std::shared_ptr<TensorHooks>>>(e.outputs.size());
  std::shared_ptr<TensorHooks>& h = (*e.hooks)[static_cast<size_t>(m.slot)];
  if (!h) h = std::make_shared<TensorHooks>();
  return h;
}

int64_t register_hook(const Tensor& t, GradHook fn) {
  // A view whose base was written since gets its history from the new base first, so the
  // hook sees the gradient of what later reads of the view use (PyTorch regenerates grad_fn
  // on access; Note [views] in cpp/src/ops/view.cpp).
  sync_view(t);
  if (!t->requires_grad())
    throw std::runtime_error("register_hook: cannot register a hook on a tensor that doesn't "
                             "require gradient (shape " + shape_str(t->shape()) + ")");
  const int64_t id = ++g_hook_ids;
  tensor_hooks(t)->pre.push_back({id, std::move(fn)});
  ++g_hooks_registered;
  return id;
}

int64_t register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateGradHook fn) {
  if (!t->requires_grad() || !t->is_leaf())
    throw std::runtime_error("register_post_accumulate_grad_hook: post accumulate grad hooks "
                             "cannot be registered on non-leaf tensors or tensors that don't "
                             "require grad (shape " + shape_str(t->shape()) + ")");
  const int64_t id = ++g_hook_ids;
  tensor_hooks(t)->post.push_back({id, std::move(fn)});
  ++g_hooks_registered;
  return id;
}

void remove_hook(const Tensor& t, int64_t id) {
  if (!t->autograd_meta()) return;
  TensorHooks& h = *tensor_hooks(t);
  for (auto it = h.pre.begin(); it != h.pre.end(); ++it)
    if (it->id == id) {
      h.pre.erase(it);
      return;
    }
  for (auto it = h.post.begin(); it != h.post.end(); ++it)
    if (it->id == id) {
      h.post.erase(it);
      return;
    }
}

bool any_hooks_registered() { return g_hooks_registered.load(std::memory_order_relaxed) > 0; }

bool has_hooks(const TensorImpl* t) {
  const AutogradMeta* m = t->autograd_meta();
  return m && m->hooks && (!m->hooks->pre.empty() || !m->hooks->post.empty());
}

Tensor run_grad_hooks(const TensorHooks* hooks, Tensor g) {
  if (!hooks || hooks->pre.empty()) return g;
  // A copy: a hook may register or remove hooks.
  const std::vector<TensorHooks::Pre> pre = hooks->pre;
  for (const TensorHooks::Pre& h : pre) {
    Tensor r = h.fn(g);
    if (!r) continue;
    if (r->shape() != g->shape())
      throw std::runtime_error("hook: a gradient hook returned a gradient of shape " +
                               shape_str(r->shape()) + " for a tensor of shape " +
                               shape_str(g->shape()) + "; it must keep the shape");
    if (r->dtype() != g->dtype()) r = cast(r, g->dtype());
    g = std::move(r);
  }
  return g;
}

void run_post_accumulate_hooks(const Tensor& t) {
  const AutogradMeta* m = t->autograd_meta();
  if (!m || !m->hooks || m->hooks->post.empty()) return;
  const std::vector<TensorHooks::Post> hooks = m->hooks->post;
  for (const TensorHooks::Post& h : hooks) h.fn(t);
}

}  // namespace tapegrad

// The reverse sweep: one backwards loop over the tape (Note [tape lifetime]), calling each
// entry's rule on the adjoints of its outputs. Where the gradients go is accumulate.cpp's,
// what is checked is checks.cpp's.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "accumulate.h"
#include "checks.h"
#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/rules.h"

namespace tapegrad {

namespace {
// The roots of one sweep and their seed gradients, as arrays (a single root needs no vector).
struct Roots {
  const Tensor* t;
  const Tensor* g;
  size_t n;
};

// The tape every non-leaf root was recorded on (null when all roots are leaves).
std::shared_ptr<Tape> tape_of(const Roots& roots) {
  std::shared_ptr<Tape> tape;
  for (size_t i = 0; i < roots.n; ++i) {
    const Tensor& r = roots.t[i];
    if (r->node() < 0) continue;
    if (tape && tape != r->tape())
      throw std::runtime_error("backward: the outputs were recorded in different threads");
    tape = r->tape();
  }
  return tape;
}

int64_t last_position(Tape* tape, const Roots& roots) {
  int64_t max_pos = -1;
  for (size_t i = 0; i < roots.n; ++i)
    if (!roots.t[i]->is_leaf())
      max_pos = std::max<int64_t>(max_pos, tape->position(roots.t[i]->node()));
  return max_pos;
}

bool needs_any(const Entry& e) {
  for (const InputRef& in : e.inputs)
    if (in.requires_grad) return true;
  return false;
}

// Note [shape-free rules]
// A backward rule returns each input's gradient in whatever shape its formula produces —
// for a broadcasting op, the output's shape — and in the dtype it computed in. The sweep then
// hands every returned gradient to to_input_grad below, which sums the broadcast dims
// away (sum_to) and casts to the input's dtype, from the shape and dtype the entry recorded for
// that input. So no rule carries the broadcasting bookkeeping, and a new broadcasting op gets
// it for free. Under create_graph sum_to and cast are themselves recorded, as they were inside
// the rules.
void to_input_grad(Tensor& g, const InputRef& in) {
  if (!same_shape(g->shape(), in.shape)) g = sum_to(g, in.shape);
  if (g->dtype() != in.dtype) g = cast(g, in.dtype);
}

// Outputs that received no gradient (of a multi-output op) have zero gradient.
void zero_missing(const Entry& e, std::vector<Tensor>& gout) {
  for (size_t k = 0; k < e.outputs.size(); ++k)
    if (!gout[k]) gout[k] = zeros(e.outputs[k].shape, e.outputs[k].dtype);
}

// The gradient a backward starts from at output i of n: the given one, cast to the output's
// dtype, or ones for a one-element output (the only kind whose gradient can be implied:
// d out/d out = 1). Every output must have history to go back through.
Tensor output_grad(const Tensor& o, const Tensor& given, size_t i, size_t n, const char* op,
                   const char* arg) {
  auto which = [&] { return n == 1 ? std::string("this output") : "output " + std::to_string(i); };
  if (!o->requires_grad())
    throw std::runtime_error(
        std::string(op) + ": element " + std::to_string(i) + " of tensors does not require "
        "grad and does not have a grad_fn (shape " + shape_str(o->shape()) + "). Did you "
        "create the parameters with requires_grad=True, or compute the result inside "
        "no_grad()?");
  if (!given) {
    if (o->numel() != 1)
      throw std::runtime_error(std::string(op) +
                               ": grad can be implicitly created only for scalar outputs; " +
                               which() + " has shape " + shape_str(o->shape()) + ". Pass " +
                               arg + " (a tensor of that shape), or reduce it first (e.g. "
                               ".sum())");
    return full(o->shape(), 1.0, o->dtype());
  }
  if (given->shape() != o->shape())
    throw ValueError(std::string(op) + ": " + arg + " has shape " + shape_str(given->shape()) +
                     " but " + which() + " has shape " + shape_str(o->shape()));
  return given->dtype() != o->dtype() ? cast(given, o->dtype()) : given;
}

std::vector<Tensor> sweep(const Roots& roots, bool retain_graph, bool create_graph,
                          const std::vector<Tensor>& capture, bool allow_unused) {
  const std::shared_ptr<Tape> tape = tape_of(roots);
  Tape::SweepScope scope(tape);  // Note [tape threads]
  GradModeGuard mode(create_graph);
  const int64_t max_pos = last_position(tape.get(), roots);
  Adjoints adj(tape.get(), max_pos, capture, create_graph);
  for (size_t i = 0; i < roots.n; ++i) adj.add(Adjoints::of(roots.t[i]), roots.g[i]);

  // Leaf gradients may be handed over factored only when nobody looks at their values.
  const bool into_leaves = capture.empty() && !create_graph && !anomaly_enabled();
  std::vector<Tensor>& gout = adj.gout();  // reused across entries
  for (int64_t pos = max_pos; pos >= 0; --pos) {
    Entry& e = tape->at(pos);
    if (!e.alive || !adj.take(pos, e, gout)) continue;
    check_saved(e);
    if (needs_any(e)) {
      if (e.op != OpCode::Custom) zero_missing(e, gout);  // a custom op materializes its own
      BwCtx ctx{e, gout, create_graph, tape, into_leaves};
      Grads gin = backward_rule(e.op)(ctx);
      if (anomaly_enabled()) check_rule_output(e, gin);
      for (size_t i = 0; i < gin.size() && i < e.inputs.size(); ++i) {
        if (!gin[i] || !e.inputs[i].requires_grad) continue;
        to_input_grad(gin[i], e.inputs[i]);  // Note [shape-free rules]
        adj.add(Adjoints::of(e.inputs[i]), std::move(gin[i]));
      }
    }
    if (!retain_graph) release_saved(e);
  }
  return adj.finish(allow_unused);
}
}  // namespace

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 bool create_graph, const std::vector<Tensor>& capture,
                                 bool allow_unused) {
  if (root_grads.size() != roots.size())
    throw std::logic_error("run_backward: one gradient per root");
  return sweep({roots.data(), root_grads.data(), roots.size()}, retain_graph, create_graph,
               capture, allow_unused);
}

void backward(const Tensor& root, const Tensor& gradient, bool retain_graph, bool create_graph) {
  const Tensor seed = output_grad(root, gradient, 0, 1, "backward", "gradient=");
  sweep({&root, &seed, 1}, retain_graph, create_graph, {}, false);
}


std::vector<Tensor> output_grads(const std::vector<Tensor>& outputs,
                                 const std::vector<Tensor>& grads, const char* op,
                                 const char* arg) {
  if (!grads.empty() && grads.size() != outputs.size())
    throw ValueError(std::string(op) + ": got " + std::to_string(grads.size()) + " " + arg +
                     " for " + std::to_string(outputs.size()) + " outputs");
  std::vector<Tensor> out;
  out.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i)
    out.push_back(output_grad(outputs[i], grads.empty() ? nullptr : grads[i], i, outputs.size(),
                              op, arg));
  return out;
}

}  // namespace tapegrad

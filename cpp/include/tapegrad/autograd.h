// The autograd layer: the reverse sweep over the tape, above the ops (its rules and the
// gradients it accumulates are computed with the differentiable ops). Layers and the Notes
// index: docs/architecture.md.
#pragma once

#include <vector>

#include "tapegrad/grad_mode.h"
#include "tapegrad/tensor.h"

namespace tapegrad {

// Reverse-mode sweep. `roots` with `root_grads` (one per root, of its shape and dtype).
// When `capture` is non-empty, gradients of those tensors are returned instead of being
// accumulated into .grad (tg.grad); otherwise leaves accumulate into .grad (backward()).
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 bool create_graph, const std::vector<Tensor>& capture,
                                 bool allow_unused);

// tensor.backward(gradient, retain_graph, create_graph): `gradient` may be null for a
// one-element root (ones), and is cast to the root's dtype. The caller's reference keeps the
// root (and so its graph) alive through the sweep: the sweep takes none of its own.
void backward(const Tensor& root, const Tensor& gradient = nullptr, bool retain_graph = false,
              bool create_graph = false);

// The gradients a backward of `outputs` starts from: `grads` (empty, or one per output with
// null meaning "implied") checked against the outputs' shapes and cast to their dtypes; an
// implied gradient is ones and needs a one-element output; every output must require grad.
// `op` and `arg` name the caller in errors ("grad", "grad_outputs").
std::vector<Tensor> output_grads(const std::vector<Tensor>& outputs,
                                 const std::vector<Tensor>& grads, const char* op,
                                 const char* arg);

}  // namespace tapegrad

// tapegrad ops: differentiable functions on tensors. Each records one tape entry per
// primitive when grad mode is on and an input requires grad (see tapegrad/ops.def).
#pragma once

#include <array>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "tapegrad/tensor.h"

namespace tapegrad {

// Every UNARY and BINARY row of the op table declares its function here, from the row itself:
// `Tensor name(const Tensor&)` / `Tensor name(const Tensor&, const Tensor&)`. (Many are also
// declared below with a comment; a new uniform op needs no line in this file.)
#define TG_DECL_UNARY(name) Tensor name(const Tensor& x);
#define TG_DECL_BINARY(name) Tensor name(const Tensor& a, const Tensor& b);
#define TG_DECL_MANUAL(name)
#define TG_DECL_INTERNAL(name)
#define TG_OP(code, name, arity, bind, expose, dunder) TG_DECL_##bind(name)
#define TG_FN(name, bind, expose, dunder, grad) TG_DECL_##bind(name)
#include "tapegrad/ops.def"
#undef TG_FN
#undef TG_OP
#undef TG_DECL_INTERNAL
#undef TG_DECL_MANUAL
#undef TG_DECL_BINARY
#undef TG_DECL_UNARY

// ----- elementwise (NumPy broadcasting; PyTorch dtype promotion) -----
// add sub mul div pow maximum minimum, neg exp log log1p sqrt abs relu sigmoid tanh sin cos
// clone: declared from their rows above.
// relu's derivative dy·[y > 0] given its output y, as a differentiable op (relu's backward).
Tensor relu_backward(const Tensor& grad, const Tensor& y);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
// clamp with bounds as the caller gave them (PyTorch's clamp(Tensor, Scalar?, Scalar?)): the
// result dtype is PyTorch's promotion of x with the bounds (an int64 or bool x with a float
// bound gives float32, a bool x with int bounds int64); int64 results are exact.
Tensor clamp_scalars(const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
// clamp with tensor bounds (either may be null; PyTorch's clamp(Tensor, Tensor?, Tensor?)):
// broadcast, differentiable in x and in each bound (Note [clamp with tensor bounds]).
Tensor clamp_tensors(const Tensor& x, const Tensor& lo, const Tensor& hi);
Tensor cast(const Tensor& x, DType dtype);  // x.to(dtype); returns x itself when equal

// ----- activations (torch.nn.functional's; silu, log_sigmoid and erf come from their rows) -----
Tensor gelu(const Tensor& x, bool tanh_approximation = false);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);

// Python scalars: wrapped as 0-d tensors of the dtype PyTorch would give the result
// (a float scalar with an int tensor gives float32; scalars never widen float32 to float64).
DType scalar_result_dtype(DType tensor_dtype, bool scalar_is_float, bool scalar_is_bool = false);
Tensor scalar_like(const Tensor& t, const Scalar& v, bool is_float, bool is_bool = false);

// ----- comparisons and logic (bool results, no grad) -----
enum class CmpOp { eq, ne, lt, le, gt, ge };
Tensor compare(CmpOp op, const Tensor& a, const Tensor& b);
// eq ne lt le gt ge, logical_not/and/or/xor, isnan, isinf: declared from their rows above.
Tensor sign(const Tensor& x);  // no grad needed: derivative 0 almost everywhere

// ----- reductions; dims empty = all dims -----
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim);
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Reduce a broadcast gradient back to `shape` (the one central place that undoes
// broadcasting: the backward sweep calls it on every rule's input gradients).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ----- linear algebra -----
// op(a)·op(b) for 2-D a, b (trans flags: op(x) = xᵀ); the recorded primitive.
Tensor mm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// Batched 3-D version with equal batch sizes.
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// matmul (declared from its row): NumPy/PyTorch matmul, 1-D, 2-D, batched with broadcast
// batch dims.
// y = x·Wᵀ + b (torch.nn.functional.linear): one fused entry; `b` may be null.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// relu(linear(x, w, b)) with relu in the GEMM's epilogue; records the same two entries
// (Note [fused linear-relu] in cpp/src/ops/linalg.cpp).
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b);

// ----- shape -----
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one -1 allowed
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim);
// The dims of `dims` that have size 1 removed (PyTorch's squeeze(tuple)); a dim twice is an error.
Tensor squeeze(const Tensor& x, const std::vector<int64_t>& dims);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor t(const Tensor& x);  // .T: reverses dims (1-D unchanged)
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a dim
// The same as views sharing x's memory (Note [views] in cpp/src/ops/view.cpp): what Python's
// x.transpose(), x.T, x[1:, 0] ... return. Engine code keeps using the copying forms above
// (kernels read contiguous memory); the bindings call these.
Tensor transpose_view(const Tensor& x, int64_t d0, int64_t d1);
// A view's history brought up to date with its base's, as recording it as an input would
// (a no-op unless the base was written since; records only in grad mode): what reading a
// view's autograd state (requires_grad, is_leaf, grad_fn, hooks) sees, as PyTorch's grad_fn.
void sync_view(const Tensor& v);
Tensor t_view(const Tensor& x);  // x.t(): ≤ 2-D
Tensor T_view(const Tensor& x);  // x.T: all dims reversed
Tensor permute_view(const Tensor& x, const std::vector<int64_t>& dims);
Tensor expand_view(const Tensor& x, const Shape& shape);
// view (must_view: PyTorch's error when the strides do not allow it) and reshape (a copy then)
Tensor reshape_view(const Tensor& x, const Shape& shape, bool must_view);
Tensor unsqueeze_view(const Tensor& x, int64_t dim);
Tensor squeeze_view(const Tensor& x, const std::vector<int64_t>& dims, bool all);
Tensor flatten_view(const Tensor& x, int64_t start_dim, int64_t end_dim);
// x itself when contiguous, else a contiguous copy (recorded as a Clone).
Tensor contiguous(const Tensor& x);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);

// ----- indexing -----
struct IndexItem {
  enum Kind { Int, Slice, None, Ellipsis, Tensor } kind = Int;
  int64_t i = 0;
  // Slice bounds; has_* false means "omitted" (Python's None).
  int64_t start = 0, stop = 0, step = 1;
  bool has_start = false, has_stop = false;
  tapegrad::Tensor t;  // int64 or bool index tensor
};
Tensor index(const Tensor& x, const std::vector<IndexItem>& items);  // a copy (engine code)
// x[items] as Python sees it: a view of x for basic indexing (ints, slices, None, Ellipsis),
// else a copy (Note [views] in cpp/src/ops/view.cpp).
Tensor index_view(const Tensor& x, const std::vector<IndexItem>& items);
void index_put_(const Tensor& x, const std::vector<IndexItem>& items, const Tensor& value);
// Flat gather/scatter by element offsets into a contiguous tensor (indexing's primitives).
Tensor gather_flat(const Tensor& x, const Tensor& offsets, const Shape& out_shape);
Tensor scatter_add_flat(const Tensor& g, const Tensor& offsets, const Shape& out_shape);
// y = x with y[off[i]] = v[i] in order (the last write wins): indexing's write primitive
// out of place (v has x's dtype).
Tensor scatter_flat(const Tensor& x, const Tensor& offsets, const Tensor& v);

// ----- gather and scatter along a dim (torch.gather/scatter/scatter_add; ops/gather.cpp) -----
// `index` is int64 with x's number of dims (a 0-d tensor counts as 1-d); its values are
// checked to lie in [0, x.shape[dim]) and its sizes outside `dim` not to exceed x's (and, for
// the scatters, none to exceed src's).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_value(const Tensor& x, int64_t dim, const Tensor& index, double value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
void scatter_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
void scatter_value_(const Tensor& x, int64_t dim, const Tensor& index, double value);
void scatter_add_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// ----- sorting and selection by value (ops/sort.cpp) -----
// (values, indices) along dim; values gather the input (differentiable), indices are int64.
// Equal entries keep their order (every sort is stable); NaN sorts as the largest value.
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false,
                               bool stable = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
Tensor msort(const Tensor& x);  // sort(x, 0).values
// The k largest (smallest) along dim, always in sorted order.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                               bool sorted = true);
// The k-th smallest (k from 1) along dim.
std::pair<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim = -1,
                                   bool keepdim = false);
// Coordinates of the nonzero entries: one int64 column per dim (a 0-d input counts as 1-d).
// The result's size depends on the data, so a captured program cannot replay it.
std::vector<Tensor> nonzero(const Tensor& x);

// ----- losses -----
enum class Reduction { none, mean, sum };
Reduction parse_reduction(const std::string& name, const char* op);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction);
// The fused derivatives of the losses (recorded by their backward rules and differentiable
// themselves; `grad` is the loss's gradient, `lse` the row log-sum-exps of the forward).
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& logits, const Tensor& target,
                              const Tensor& lse, Reduction reduction);
Tensor mse_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                         Reduction reduction);
// PyTorch's other losses and options (torch.nn.functional's names, arguments and defaults;
// a null tensor is PyTorch's None; Note [loss options] in cpp/src/ops/loss.cpp).
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = nullptr,
                int64_t ignore_index = -100, Reduction reduction = Reduction::mean);
// Class-index targets (int64, the input's shape without the class dim) or class
// probabilities (floating point, the input's shape); inputs (N, C), (C,) or (N, C, d1, ...).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction, double label_smoothing = 0.0);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::mean, double beta = 1.0);
Tensor huber_loss(const Tensor& input, const Tensor& target,
                  Reduction reduction = Reduction::mean, double delta = 1.0);
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const Tensor& weight = nullptr, Reduction reduction = Reduction::mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction = Reduction::mean);
// reduction: 'mean', 'batchmean', 'sum' or 'none'
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
              bool log_target = false);

// ----- normalization, dropout, embeddings (ops/norm.cpp; torch.nn.functional's) -----
// Null running statistics, weight or bias mean "none". With `training` the batch statistics
// normalise and the running statistics (when given) are updated in place.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps);
// channel_dims > 0: one draw per index of the leading channel_dims dims, broadcast over the
// rest (channel-wise dropout1d/2d: 2 for (N, C, *), 1 for an unbatched (C, *)).
Tensor dropout(const Tensor& x, double p, bool training, bool inplace, int64_t channel_dims = 0);
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);
// The fused derivatives (recorded by the backward rules, differentiable themselves): dx and,
// when `weight` is given, dweight. mean and rstd are the forward's per-channel (per-row) ones.
std::vector<Tensor> batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& rstd, bool training,
                                        double eps);
std::vector<Tensor> layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& rstd, int64_t norm_dims,
                                        double eps);
Tensor embedding_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights,
                          int64_t padding_idx);
// ----- convolution and padding (cpp/src/ops/conv.cpp; torch.nn.functional's) -----
// padding of a convolution: sizes (one for every spatial dim, or one per dim; the same before
// and after), or the name 'same' / 'valid' when `name` is not empty.
struct ConvPadding {
  std::vector<int64_t> sizes;
  std::string name;
};
// NCHW input (or unbatched CHW), weight (out, in/groups, kH, kW); stride and dilation: one
// value or one per spatial dim. conv1d: (N, C, L) input, (out, in/groups, K) weight.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
              const ConvPadding& padding, const std::vector<int64_t>& dilation, int64_t groups);
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<int64_t>& stride,
              const ConvPadding& padding, const std::vector<int64_t>& dilation, int64_t groups);
// F.pad: pads = (before, after) pairs from the last dim backwards; negative sizes crop.
// mode 'constant' (any number of dims, `value` or 0) or 'reflect'/'replicate'/'circular' (the
// last 1 or 2 dims).
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode,
           std::optional<double> value);
Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& pads, double value);

// ----- in-place (bump the version counter; recorded when grad is needed) -----
void add_(const Tensor& self, const Tensor& other);
void sub_(const Tensor& self, const Tensor& other);
// fn(a, b) for fn one of add, sub, mul, div, made in `keep` (the tensor the same call made
// last time) when it records nothing and nothing else holds that tensor: Note [reused
// temporaries] in ops/binary.cpp. Otherwise fn as usual, its result kept for next time.
Tensor binary_reusing(Tensor (*fn)(const Tensor&, const Tensor&), const Tensor& a,
                      const Tensor& b, Tensor& keep);
// torch.add/sub's alpha: input + alpha·other, input − alpha·other (alpha = 1: add/sub).
Tensor add_alpha(const Tensor& a, const Tensor& b, double alpha);
Tensor sub_alpha(const Tensor& a, const Tensor& b, double alpha);
void add_alpha_(const Tensor& self, const Tensor& other, double alpha);
void sub_alpha_(const Tensor& self, const Tensor& other, double alpha);
void mul_(const Tensor& self, const Tensor& other);
void div_(const Tensor& self, const Tensor& other);
void zero_(const Tensor& self);
void fill_(const Tensor& self, const Scalar& value);  // store_scalar's checks (tensor.h)
// fill_(Tensor): a 0-d value, converted as cast converts; differentiable in the value (its
// gradient is the sum of the filled tensor's), as PyTorch's FillBackward.
void fill_tensor_(const Tensor& self, const Tensor& value);
void copy_(const Tensor& self, const Tensor& src);
// The in-place form of an out-of-place op (x.relu_(), x.clamp_(0, 1), F.relu(x, inplace=True)):
// `result`, computed from self by the op named `op`, becomes self's value and self the output
// of result's entry (Note [in-place forms] in ops/inplace.cpp).
void assign_inplace(const Tensor& self, const Tensor& result, const std::string& op);
// Throws when an in-place op may not touch `self` (a leaf that requires grad in grad mode).
void check_inplace(const Tensor& self, const char* op);

// ----- optimizers: one call updates every parameter of a group (tg.optim) -----
// Each takes the group's parameters and its per-parameter state (index-aligned; a null entry is
// created on the parameter's first update) and skips parameters without a gradient. State of
// the wrong shape or dtype raises ValueError (Note [optimizer state checks] in optim.cpp).
struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& momentum_buffers,
              const SgdOptions& options);
// Clear the gradients of `params`: to None, or zeroed in place (one call for a whole model).
void zero_grad(const std::vector<Tensor>& params, bool set_to_none);
// Adam and AdamW (decoupled weight decay). `steps` holds each parameter's own step count as
// PyTorch does (a float32 scalar tensor), so a parameter that had no gradient for a while gets
// its own bias correction.
struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;
};
struct AdamState {
  std::vector<Tensor> exp_avg, exp_avg_sq, max_exp_avg_sq, steps;
};
void adam_step(const std::vector<Tensor>& params, AdamState& state, const AdamOptions& options);
struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
struct RmspropState {
  std::vector<Tensor> square_avg, grad_avg, momentum_buffer, steps;
};
void rmsprop_step(const std::vector<Tensor>& params, RmspropState& state,
                  const RmspropOptions& options);
struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};
void adagrad_step(const std::vector<Tensor>& params, std::vector<Tensor>& sums,
                  std::vector<Tensor>& steps, const AdagradOptions& options);

// ----- composites the Python surface exposes (ops.def's TG_FN rows) -----
// Comparisons by name (compare(CmpOp::…)); bool results, no grad.
// The bitwise ops (& | ^ ~): bitwise on int64, logical on bool; operands promoted as in
// arithmetic (bool with int64 gives int64). Floats raise (NotImplementedError; TypeError for
// ~). The in-place forms keep self's dtype (a bool self with an int64 operand raises).
Tensor bitwise_not(const Tensor& x);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
void bitwise_and_(const Tensor& self, const Tensor& other);
void bitwise_or_(const Tensor& self, const Tensor& other);
void bitwise_xor_(const Tensor& self, const Tensor& other);
// sum(dtype=): the result cast to dtype; mean(dtype=): the input cast first (PyTorch's rules).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
           std::optional<DType> dtype);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
            std::optional<DType> dtype);
Tensor max(const Tensor& x);  // x.max() without dim: amax over every element
Tensor min(const Tensor& x);
// True where every (some) element along dims is nonzero; bool results. dims empty = all.
Tensor all(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor any(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor t_matrix(const Tensor& x);  // x.t(): transposes a ≤ 2-D tensor; ValueError above
// Normal samples (no history): mean + std·N(0, 1) elementwise, with tensor or scalar mean and
// std; the all-scalar form needs a size and draws as randn followed by normal_.
Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen = nullptr);
Tensor normal(const Tensor& mean, double std, Generator* gen = nullptr);
Tensor normal(double mean, const Tensor& std, Generator* gen = nullptr);
Tensor normal(double mean, double std, const Shape& size, DType dtype, Generator* gen = nullptr);

// ----- C++ conveniences -----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }

// ----- pooling (torch.nn.functional's; ops/pool.cpp) -----
// Inputs (N, C, H, W) or unbatched (C, H, W); the 1-D forms (N, C, L) or (C, L). Pairs are
// (height, width); the Python binding fills PyTorch's defaults (stride = kernel_size).
// The *_with_indices forms return (values, flat int64 indices h·W + w within each plane).
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x,
                                                  std::array<int64_t, 2> kernel_size,
                                                  std::array<int64_t, 2> stride,
                                                  std::array<int64_t, 2> padding,
                                                  std::array<int64_t, 2> dilation,
                                                  bool ceil_mode);
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size,
                                                  int64_t stride, int64_t padding,
                                                  int64_t dilation, bool ceil_mode);
Tensor avg_pool2d(const Tensor& x, std::array<int64_t, 2> kernel_size,
                  std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override);
Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding,
                  bool ceil_mode, bool count_include_pad);
// output_size entries that are nullopt keep the input's size (PyTorch's None).
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::optional<int64_t>, 2> output_size);
Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(
    const Tensor& x, std::array<std::optional<int64_t>, 2> output_size);
std::pair<Tensor, Tensor> adaptive_max_pool1d_with_indices(const Tensor& x,
                                                           int64_t output_size);

}  // namespace tapegrad

// The export table: the engine calls a saved program may make, by name (Note [saved programs]
// in saved.cpp). A call whose function is listed here is kept in a program's C++ form with its
// arguments' bytes; loading reads those bytes back as the function declares its parameters.
// Names are the file format: an entry may be added, never renamed or given other parameters.
#include "tapegrad/capture.h"

#include <stdexcept>
#include <string>
#include <unordered_map>

#include "tapegrad/autograd.h"
#include "tapegrad/grad_mode.h"

namespace tapegrad::capture {

namespace ex {
Tensor same(const Tensor& t) { return t; }
Tensor grad_of(const Tensor& t, bool had) {
  Tensor g = t->grad();
  if (static_cast<bool>(g) != had)
    throw StaleProgram(std::string("tapegrad.compile: a tensor's .grad was ") + (had ? "set" : "None") +
                       " when the step was captured and is " + (had ? "None" : "set") +
                       " in this run, and the captured step may have decided on it; this call "
                       "stopped part way: reset gradients the same way before every call");
  return g;
}
void sgd(const std::vector<Tensor>& params, StateList momentum_buffers, const SgdOptions& o) {
  sgd_step(params, *momentum_buffers.v, o);
}
void adam(const std::vector<Tensor>& params, StateList exp_avg, StateList exp_avg_sq,
          StateList max_exp_avg_sq, StateList steps, const AdamOptions& o) {
  AdamState s{*exp_avg.v, *exp_avg_sq.v, *max_exp_avg_sq.v, *steps.v};
  adam_step(params, s, o);
  *exp_avg.v = std::move(s.exp_avg);
  *exp_avg_sq.v = std::move(s.exp_avg_sq);
  *max_exp_avg_sq.v = std::move(s.max_exp_avg_sq);
  *steps.v = std::move(s.steps);
}
Tensor mm_transposed_a(const Tensor& x, const Tensor& v, bool v_transposed) {
  return mm(transpose_view(x, 0, 1), v_transposed ? transpose_view(v, 0, 1) : v, true, v_transposed);
}
Tensor mm_transposed_b(const Tensor& x, const Tensor& v) {
  return mm(x, transpose_view(v, 0, 1), false, true);
}
Tensor linear_transposed(const Tensor& x, const Tensor& v) {
  return linear(x, transpose_view(v, 0, 1), nullptr);
}
Tensor set_requires_grad(const Tensor& t, bool value) {
  t->set_requires_grad(value);
  return t;
}
void rmsprop(const std::vector<Tensor>& params, StateList square_avg, StateList grad_avg,
             StateList momentum_buffer, StateList steps, const RmspropOptions& o) {
  RmspropState s{*square_avg.v, *grad_avg.v, *momentum_buffer.v, *steps.v};
  rmsprop_step(params, s, o);
  *square_avg.v = std::move(s.square_avg);
  *grad_avg.v = std::move(s.grad_avg);
  *momentum_buffer.v = std::move(s.momentum_buffer);
  *steps.v = std::move(s.steps);
}
void adagrad(const std::vector<Tensor>& params, StateList sums, StateList steps,
             const AdagradOptions& o) {
  adagrad_step(params, *sums.v, *steps.v, o);
}
Tensor rand_default(const Shape& shape, DType dtype) { return rand(shape, dtype, nullptr); }
Tensor randn_default(const Shape& shape, DType dtype) { return randn(shape, dtype, nullptr); }
void normal_default(const Tensor& t, double mean, double std) { normal_(t, mean, std, nullptr); }
void uniform_default(const Tensor& t, double low, double high) { uniform_(t, low, high, nullptr); }
Tensor randint_default(int64_t low, int64_t high, const Shape& shape) { return randint(low, high, shape, nullptr); }
Tensor normal_tt_default(const Tensor& mean, const Tensor& std) { return normal(mean, std, nullptr); }
Tensor normal_tn_default(const Tensor& mean, double std) { return normal(mean, std, nullptr); }
Tensor normal_nt_default(double mean, const Tensor& std) { return normal(mean, std, nullptr); }
Tensor normal_nn_default(double mean, double std, const Shape& size, DType dtype) {
  return normal(mean, std, size, dtype, nullptr);
}
Tensor randperm_default(int64_t n) { return randperm(n, nullptr); }
}  // namespace ex

namespace {

template <class R>
auto result_slots(const std::vector<Slot>& defs) {
  auto need = [&](size_t n) {
    if (defs.size() != n) throw std::runtime_error("tapegrad: the saved program is corrupt (result slots)");
  };
  if constexpr (std::is_same_v<R, Tensor>) {
    need(1);
    return defs[0];
  } else if constexpr (std::is_same_v<R, std::pair<Tensor, Tensor>>) {
    need(2);
    return std::pair<Slot, Slot>(defs[0], defs[1]);
  } else {
    static_assert(std::is_same_v<R, std::vector<Tensor>>);
    return defs;
  }
}

// An absent tensor (kNoSlot) only where the function takes one (its `nullable` positions:
// a bias, a backward's gradient); a damaged file could put one anywhere, and engine functions
// take their other tensors as given.
template <class T, class S>
void check_present(const S& s, bool nullable) {
  auto corrupt = [] {
    return std::runtime_error("tapegrad: the saved program is corrupt (an absent tensor where one is needed)");
  };
  if constexpr (std::is_same_v<T, Tensor>) {
    if (s == kNoSlot && !nullable) throw corrupt();
  } else if constexpr (std::is_same_v<T, std::vector<Tensor>>) {
    for (Slot e : s)
      if (e == kNoSlot) throw corrupt();
  }
}

template <class R, class... P, size_t... I>
void check_args(const std::tuple<typename Arg<std::decay_t<P>>::Stored...>& stored, uint32_t nullable,
                std::index_sequence<I...>) {
  (check_present<std::decay_t<P>>(std::get<I>(stored), (nullable >> I) & 1u), ...);
}

template <class R, class... P>
Instr make_instr(R (*fn)(P...), Reader& r, const ExportedCall& c, uint32_t nullable) {
  using Stored = std::tuple<typename Arg<std::decay_t<P>>::Stored...>;
  // (a braced list reads its elements in order)
  Stored stored{Codec<typename Arg<std::decay_t<P>>::Stored>::read(r)...};
  check_args<R, P...>(stored, nullable, std::index_sequence_for<P...>{});
  if constexpr (std::is_void_v<R>) {
    if (!c.defs.empty()) throw std::runtime_error("tapegrad: the saved program is corrupt (result slots)");
    return [fn, stored](Frame& f) {
      std::apply([&](const auto&... s) { fn(Arg<std::decay_t<P>>::load(f, s)...); }, stored);
    };
  } else {
    auto slots = result_slots<R>(c.defs);
    return [fn, stored, slots](Frame& f) {
      Out<R>::store(f, slots, std::apply([&](const auto&... s) {
        return fn(Arg<std::decay_t<P>>::load(f, s)...);
      }, stored));
    };
  }
}

struct Entry {
  std::string name;
  const void* id;
  Instr (*decode)(Reader&, const ExportedCall&);
};

template <auto F, uint32_t Nullable>
Instr decode(Reader& r, const ExportedCall& c) {
  return make_instr(F, r, c, Nullable);
}
// Nullable: a bit per parameter that may be an absent tensor.
template <auto F, uint32_t Nullable = 0>
Entry entry(const char* name) {
  return {name, reinterpret_cast<const void*>(F), &decode<F, Nullable>};
}
constexpr uint32_t bit(int i) { return 1u << i; }

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using InplaceFn = void (*)(const Tensor&, const Tensor&);
using Dims = std::vector<int64_t>;

struct Table {
  std::vector<Entry> entries;
  std::unordered_map<const void*, int32_t> by_fn;
  std::unordered_map<std::string, int32_t> by_name;
  Table() {
    auto& e = entries;
    e.push_back(entry<&ex::same>("same"));
    // every UNARY and BINARY row of the op table, by its name
#define TG_EXPORT_UNARY(name) e.push_back(entry<static_cast<UnaryFn>(&tapegrad::name)>(#name));
#define TG_EXPORT_BINARY(name) e.push_back(entry<static_cast<BinaryFn>(&tapegrad::name)>(#name));
#define TG_EXPORT_MANUAL(name)
#define TG_EXPORT_INTERNAL(name)
#define TG_OP(code, name, arity, bind, expose, dunder) TG_EXPORT_##bind(name)
#define TG_FN(name, bind, expose, dunder, grad) TG_EXPORT_##bind(name)
#include "tapegrad/ops.def"
#undef TG_FN
#undef TG_OP
#undef TG_EXPORT_INTERNAL
#undef TG_EXPORT_MANUAL
#undef TG_EXPORT_BINARY
#undef TG_EXPORT_UNARY
    // in-place and alpha forms
    e.push_back(entry<static_cast<InplaceFn>(&add_)>("add_"));
    e.push_back(entry<static_cast<InplaceFn>(&sub_)>("sub_"));
    e.push_back(entry<static_cast<InplaceFn>(&mul_)>("mul_"));
    e.push_back(entry<static_cast<InplaceFn>(&div_)>("div_"));
    e.push_back(entry<&add_alpha>("add_alpha"));
    e.push_back(entry<&sub_alpha>("sub_alpha"));
    e.push_back(entry<&add_alpha_>("add_alpha_"));
    e.push_back(entry<&sub_alpha_>("sub_alpha_"));
    e.push_back(entry<&zero_>("zero_"));
    e.push_back(entry<&copy_>("copy_"));
    e.push_back(entry<&assign_inplace>("assign_inplace"));
    // autograd, grad mode, optimizers
    e.push_back(entry<static_cast<void (*)(const Tensor&, const Tensor&, bool, bool)>(&backward), bit(1)>("backward"));
    e.push_back(entry<&set_grad_enabled>("set_grad_enabled"));
    e.push_back(entry<&ex::grad_of>("grad"));
    e.push_back(entry<&ex::set_requires_grad>("requires_grad_"));
    e.push_back(entry<&zero_grad>("zero_grad"));
    e.push_back(entry<&ex::sgd>("sgd_step"));
    e.push_back(entry<&ex::adam>("adam_step"));
    // reductions, matmul forms, views, losses
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Dims&, bool, std::optional<DType>)>(&tapegrad::sum)>("sum"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Dims&, bool, std::optional<DType>)>(&tapegrad::mean)>("mean"));
    e.push_back(entry<&softmax>("softmax"));
    e.push_back(entry<&log_softmax>("log_softmax"));
    e.push_back(entry<&linear, bit(2)>("linear"));
    e.push_back(entry<&linear_relu, bit(2)>("linear_relu"));  // made by cpp_form's fusion
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Tensor&, bool, bool)>(&mm)>("mm"));
    e.push_back(entry<&ex::mm_transposed_a>("mm_transposed_a"));
    e.push_back(entry<&ex::mm_transposed_b>("mm_transposed_b"));
    e.push_back(entry<&ex::linear_transposed>("linear_transposed"));
    e.push_back(entry<&contiguous>("contiguous"));
    e.push_back(entry<&reshape_view>("reshape_view"));
    e.push_back(entry<&flatten_view>("flatten_view"));
    e.push_back(entry<&transpose_view>("transpose_view"));
    e.push_back(entry<&T_view>("T_view"));
    e.push_back(entry<&cast>("cast"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Tensor&, const Tensor&, int64_t, Reduction, double)>(&cross_entropy), bit(2)>("cross_entropy"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Tensor&, Reduction)>(&mse_loss)>("mse_loss"));
    // convolution, pooling, normalization
    e.push_back(entry<&conv2d, bit(2)>("conv2d"));
    e.push_back(entry<&conv1d, bit(2)>("conv1d"));
    e.push_back(entry<&max_pool2d_with_indices>("max_pool2d_with_indices"));
    e.push_back(entry<&avg_pool2d>("avg_pool2d"));
    e.push_back(entry<&batch_norm, bit(1) | bit(2) | bit(3) | bit(4)>("batch_norm"));
    e.push_back(entry<&layer_norm, bit(2) | bit(3)>("layer_norm"));
    e.push_back(entry<&embedding>("embedding"));
    e.push_back(entry<&max_pool1d_with_indices>("max_pool1d_with_indices"));
    e.push_back(entry<&avg_pool1d>("avg_pool1d"));
    e.push_back(entry<&adaptive_avg_pool2d>("adaptive_avg_pool2d"));
    e.push_back(entry<&adaptive_avg_pool1d>("adaptive_avg_pool1d"));
    e.push_back(entry<&adaptive_max_pool2d_with_indices>("adaptive_max_pool2d_with_indices"));
    e.push_back(entry<&adaptive_max_pool1d_with_indices>("adaptive_max_pool1d_with_indices"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const std::vector<int64_t>&, const std::string&,
                                             std::optional<double>)>(&pad)>("pad"));
    // activations with parameters
    e.push_back(entry<&gelu>("gelu"));
    e.push_back(entry<&leaky_relu>("leaky_relu"));
    e.push_back(entry<&elu>("elu"));
    e.push_back(entry<&softplus>("softplus"));
    e.push_back(entry<&hardtanh>("hardtanh"));
    // reductions, selection, sorting
    e.push_back(entry<&amax>("amax"));
    e.push_back(entry<&amin>("amin"));
    e.push_back(entry<&logsumexp>("logsumexp"));
    e.push_back(entry<&argmax>("argmax"));
    e.push_back(entry<&argmin>("argmin"));
    e.push_back(entry<&tapegrad::sort>("sort"));
    e.push_back(entry<&tapegrad::argsort>("argsort"));
    e.push_back(entry<&msort>("msort"));
    e.push_back(entry<&topk>("topk"));
    e.push_back(entry<&kthvalue>("kthvalue"));
    // shapes and views
    e.push_back(entry<&bmm>("bmm"));
    e.push_back(entry<&expand_view>("expand_view"));
    e.push_back(entry<&permute_view>("permute_view"));
    e.push_back(entry<&squeeze_view>("squeeze_view"));
    e.push_back(entry<&unsqueeze_view>("unsqueeze_view"));
    e.push_back(entry<&cat>("cat"));
    e.push_back(entry<&stack>("stack"));
    e.push_back(entry<&detach>("detach"));
    // other losses
    e.push_back(entry<&nll_loss, bit(2)>("nll_loss"));
    e.push_back(entry<&l1_loss>("l1_loss"));
    e.push_back(entry<&smooth_l1_loss>("smooth_l1_loss"));
    e.push_back(entry<&huber_loss>("huber_loss"));
    e.push_back(entry<&binary_cross_entropy, bit(2)>("binary_cross_entropy"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                             Reduction)>(&binary_cross_entropy_with_logits),
                       bit(2) | bit(3)>("binary_cross_entropy_with_logits"));
    e.push_back(entry<&kl_div>("kl_div"));
    // indexing, clamp, where, max/min
    e.push_back(entry<&index_view>("index_view"));
    e.push_back(entry<&index_put_>("index_put_"));
    e.push_back(entry<&clamp_scalars>("clamp"));
    e.push_back(entry<&clamp_tensors, bit(1) | bit(2)>("clamp_tensors"));
    e.push_back(entry<&where>("where"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&)>(&tapegrad::max)>("max"));
    e.push_back(entry<static_cast<Tensor (*)(const Tensor&)>(&tapegrad::min)>("min"));
    e.push_back(entry<&max_dim>("max_dim"));
    e.push_back(entry<&min_dim>("min_dim"));
    // creation and randomness (the process's default generator, as in Python)
    e.push_back(entry<static_cast<Tensor (*)(int64_t, int64_t, int64_t)>(&arange)>("arange_int"));
    e.push_back(entry<static_cast<Tensor (*)(double, double, double, DType)>(&arange)>("arange"));
    e.push_back(entry<&manual_seed>("manual_seed"));
    e.push_back(entry<&dropout>("dropout"));
    e.push_back(entry<&zeros>("zeros"));
    e.push_back(entry<static_cast<Tensor (*)(const Shape&, const Scalar&, DType)>(&full)>("full"));
    e.push_back(entry<&ex::rand_default>("rand"));
    e.push_back(entry<&ex::randn_default>("randn"));
    e.push_back(entry<&ex::normal_default>("normal_"));
    e.push_back(entry<&ex::uniform_default>("uniform_"));
    e.push_back(entry<&fill_>("fill_"));
    e.push_back(entry<&ex::rmsprop>("rmsprop_step"));
    e.push_back(entry<&ex::randint_default>("randint"));
    e.push_back(entry<&ex::randperm_default>("randperm"));
    e.push_back(entry<&linspace>("linspace"));
    e.push_back(entry<&eye>("eye"));
    e.push_back(entry<&gather>("gather"));
    e.push_back(entry<&scatter>("scatter"));
    e.push_back(entry<&scatter_value>("scatter_value"));
    e.push_back(entry<&scatter_add>("scatter_add"));
    e.push_back(entry<&scatter_>("scatter_"));
    e.push_back(entry<&scatter_value_>("scatter_value_"));
    e.push_back(entry<&scatter_add_>("scatter_add_"));
    e.push_back(entry<&ex::adagrad>("adagrad_step"));
    e.push_back(entry<&fill_tensor_>("fill_tensor_"));
    e.push_back(entry<&ex::normal_tt_default>("normal_tt"));
    e.push_back(entry<&ex::normal_tn_default>("normal_tn"));
    e.push_back(entry<&ex::normal_nt_default>("normal_nt"));
    e.push_back(entry<&ex::normal_nn_default>("normal_nn"));
    for (size_t i = 0; i < e.size(); ++i) {
      const auto idx = static_cast<int32_t>(i);
      by_fn.emplace(e[i].id, idx);  // a function listed twice keeps its first name
      if (!by_name.emplace(e[i].name, idx).second)
        throw std::logic_error("tapegrad: the export table names " + e[i].name + " twice");
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

int32_t export_index(const void* fn) {
  const auto& m = table().by_fn;
  auto it = m.find(fn);
  return it == m.end() ? -1 : it->second;
}

int32_t export_index_by_name(const std::string& name) {
  const auto& m = table().by_name;
  auto it = m.find(name);
  return it == m.end() ? -1 : it->second;
}

int32_t same_tensor_index() { return 0; }

const std::string& export_name(int32_t index) { return table().entries.at(static_cast<size_t>(index)).name; }

Instr reusing_call(const std::string& name, const ExportedCall& c, Slot keep) {
  // Note [reused temporaries] in cpp/src/ops/binary.cpp
  Tensor (*op)(const Tensor&, const Tensor&);
  if (name == "add") op = &tapegrad::add;
  else if (name == "sub") op = &tapegrad::sub;
  else if (name == "mul") op = &tapegrad::mul;
  else if (name == "div") op = &tapegrad::div;
  else return nullptr;
  if (c.defs.size() != 1) return nullptr;
  Reader r{c.args.data(), c.args.data() + c.args.size()};
  const Slot sa = Codec<Slot>::read(r), sb = Codec<Slot>::read(r);
  if (r.p != r.end || sa == kNoSlot || sb == kNoSlot) return nullptr;  // (decode_call says why)
  const Slot out = c.defs[0];
  return [op, sa, sb, out, keep](Frame& f) {
    const Tensor& a = Arg<Tensor>::load(f, sa);
    const Tensor& b = Arg<Tensor>::load(f, sb);
    Tensor r = binary_reusing(op, a, b, f[static_cast<size_t>(keep)]);
    f[static_cast<size_t>(out)] = std::move(r);
  };
}

Instr decode_call(const std::string& name, const ExportedCall& c) {
  const auto& m = table().by_name;
  auto it = m.find(name);
  if (it == m.end())
    throw std::runtime_error("tapegrad: the saved program calls '" + name +
                             "', which this build of tapegrad does not know (saved by a newer version?)");
  Reader r{c.args.data(), c.args.data() + c.args.size()};
  Instr f = table().entries[static_cast<size_t>(it->second)].decode(r, c);
  if (r.p != r.end) throw std::runtime_error("tapegrad: the saved program is corrupt (arguments of " + name + ")");
  return f;
}

}  // namespace tapegrad::capture

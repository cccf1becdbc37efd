// Every op of tapegrad/ops.def, bound once. A UNARY or BINARY row is registered from the row
// itself (method and/or function as its `expose` says, operators from its `dunder` stem, with
// Python numbers accepted as operands); a MANUAL row is bound by hand below, once, and the same
// callable serves as method and function. Import fails if a MANUAL row is left unbound.
// A row exposed N without an operator (the activations, which PyTorch has only in
// torch.nn.functional) is bound as a function of the submodule _core._nn, which
// tapegrad.nn.functional wraps.
#include <string_view>

#include "bindings/bindings.h"
#include "bindings/op_docs.h"
#include "bindings/record.h"
#include "tapegrad/tape.h"

namespace tapegrad::bind {
namespace {

enum class Bind : uint8_t { UNARY, BINARY, MANUAL, INTERNAL };
enum class Expose : uint8_t { N = 0, M = 1, F = 2, MF = 3 };
enum class Grad : uint8_t { GRAD, NOGRAD };

struct Row {
  const char* name;
  int code;  // OpCode of a recorded primitive; -1 for a composite (TG_FN)
  int arity;
  Bind bind;
  Expose expose;
  const char* dunder;  // "_": none
  bool grad;
};

constexpr Row kRows[] = {
#define TG_OP(code, name, arity, bind, expose, dunder) \
  {#name, static_cast<int>(OpCode::code), arity, Bind::bind, Expose::expose, #dunder, true},
#define TG_FN(name, bind, expose, dunder, grad) \
  {#name, -1, -1, Bind::bind, Expose::expose, #dunder, Grad::grad == Grad::GRAD},
#include "tapegrad/ops.def"
#undef TG_FN
#undef TG_OP
};
constexpr size_t kNumRows = sizeof(kRows) / sizeof(kRows[0]);

bool has_method(const Row& r) { return r.expose == Expose::M || r.expose == Expose::MF; }
bool has_function(const Row& r) { return r.expose == Expose::F || r.expose == Expose::MF; }
bool has_dunder(const Row& r) { return std::string_view(r.dunder) != "_"; }
bool is_nn_function(const Row& r) {
  return r.expose == Expose::N && r.bind != Bind::INTERNAL && !has_dunder(r);
}

// Rich comparisons have no reflected form (Python swaps a < b to b > a itself).
bool is_comparison(std::string_view stem) {
  return stem == "eq" || stem == "ne" || stem == "lt" || stem == "le" || stem == "gt" ||
         stem == "ge";
}

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using InplaceFn = void (*)(const Tensor&, const Tensor&);

// The engine's in-place forms (x += y, x.add_(y)); a row without one gets none, and Python
// falls back to x = x + y for the augmented operator.
struct Inplace {
  InplaceFn fn;
  const char* method;
};
Inplace inplace_form(std::string_view name) {
  if (name == "add") return {&add_, "add_"};
  if (name == "sub") return {&sub_, "sub_"};
  if (name == "mul") return {&mul_, "mul_"};
  if (name == "div") return {&div_, "div_"};
  if (name == "bitwise_and") return {&bitwise_and_, "bitwise_and_"};
  if (name == "bitwise_or") return {&bitwise_or_, "bitwise_or_"};
  if (name == "bitwise_xor") return {&bitwise_xor_, "bitwise_xor_"};
  return {nullptr, nullptr};
}

std::string type_name(py::handle h) { return Py_TYPE(h.ptr())->tp_name; }

// PyTorch's rule for `tensor ** number` that `tensor ** tensor` does not have: an integer (or
// bool) tensor raised to a negative Python int raises, where a negative exponent tensor gives
// the truncated 1/aᵇ. The engine sees a 0-d tensor either way, so the binding decides.
void check_scalar_exponent(std::string_view name, const Tensor& base, py::handle exponent) {
  if (name != "pow" || is_float(base->dtype()) || !PyLong_Check(exponent.ptr())) return;
  int overflow = 0;
  const long long e = PyLong_AsLongLongAndOverflow(exponent.ptr(), &overflow);
  if (overflow < 0 || (overflow == 0 && e < 0))
    throw std::runtime_error("Integers to negative integer powers are not allowed.");
}

// torch.add/sub's alpha: a Python number (or a tensor holding one) of the result's kind, with
// PyTorch's errors for a float alpha with integer tensors and a bool alpha with non-bool ones.
bool has_alpha(std::string_view name) { return name == "add" || name == "sub"; }
double alpha_arg(py::handle alpha, DType result, const char* op) {
  py::object v = py::reinterpret_borrow<py::object>(alpha);
  if (tensor_ptr(alpha)) v = v.attr("item")();
  const std::string where = std::string(op) + ": ";
  if (PyBool_Check(v.ptr())) {
    if (result != DType::b8)
      throw std::runtime_error(where + "Boolean alpha only supported for Boolean results.");
    return v.ptr() == Py_True ? 1.0 : 0.0;
  }
  if (PyComplex_Check(v.ptr()))
    throw std::runtime_error(where + "For non-complex input tensors, argument alpha must not "
                             "be a complex number.");
  if (PyIndex_Check(v.ptr())) return static_cast<double>(to_i64(v));
  if (PyFloat_Check(v.ptr()) || py::hasattr(v, "__float__")) {
    if (!is_float(result))
      throw std::runtime_error(where + "For integral input tensors, argument alpha must not "
                               "be a floating point number.");
    return v.cast<double>();
  }
  throw py::type_error(std::string(op) + "(): argument 'alpha' must be Number, not " +
                       type_name(alpha));
}

// x @ W.T without copying W: a 2-D operand whose transpose is contiguous (a transposed
// weight, the view W.T) is handed to mm (x 2-D) or linear (batched x) as W itself, x·Wᵀ on the
// GEMM's transposed packing.
// Likewise A.T @ B (a hand-written weight gradient, Xᵀ·dY) with both operands 2-D: mm with the
// GEMM's transpose flags on the contiguous tensors under the views, as PyTorch's MmBackward0.
// Autograd goes through the views: the GEMM's operand is V.T for the view V, a view recorded as
// a Permute of it. Anything else takes the ordinary path (contiguous operands, matmul's rules).
namespace {
// A 2-D view whose transpose is contiguous (strides (1, rows)).
bool transposed_2d(const TensorImpl& t) {
  if (t.dim() != 2 || t.is_contiguous()) return false;
  const std::vector<int64_t> st = t.strides();
  return st[0] == 1 && st[1] == t.shape()[0];
}
}  // namespace

std::optional<Tensor> matmul_transposed(py::handle a, py::handle b) {
  const Tensor* ta = tensor_ptr(a);
  const Tensor* tb = tensor_ptr(b);
  if (!ta || !tb || !*ta || !*tb) return std::nullopt;
  const TensorImpl& B = **tb;
  const TensorImpl& A = **ta;
  if (A.dim() < 2 || B.dim() != 2 || !is_float(A.dtype()) || A.dtype() != B.dtype() ||
      A.shape().back() != B.shape()[0])
    return std::nullopt;
  const bool at = transposed_2d(A), bt = transposed_2d(B);
  if (at && (bt || B.is_contiguous()))
    return capture::call(&capture::ex::mm_transposed_a, *ta, *tb, bt);
  if (!bt) return std::nullopt;
  if (A.dim() == 2)  // MmBackward0, as PyTorch's 2-D product
    return capture::call(&capture::ex::mm_transposed_b, contiguous_arg(*ta), *tb);
  return capture::call(&capture::ex::linear_transposed, contiguous_arg(*ta), *tb);
}

class Registrar {
 public:
  Registrar(py::module_& m, TensorClass& T)
      : m_(m),
        nn_(m.def_submodule("_nn", "torch.nn.functional-only ops (see tapegrad.nn.functional)")),
        T_(T) {}

  void unary(const Row& r, UnaryFn fn) {
    auto f = [fn](const Tensor& x) { return capture::call(fn, x); };
    if (has_method(r)) T_.def(r.name, f, op_doc(r.name));
    if (has_function(r)) m_.def(r.name, f, py::arg("input"), op_doc(r.name));
    if (is_nn_function(r)) nn_.def(r.name, f, py::arg("input"), op_doc(r.name));
    if (has_dunder(r)) T_.def(dunder(r.dunder).c_str(), f);
  }

  void binary(const Row& r, BinaryFn fn) {
    const char* name = r.name;
    // Method and function: either operand may be a Python number (tg.pow(2, x)).
    const bool is_matmul = std::string_view(name) == "matmul";
    auto named = [fn, name, is_matmul](py::handle a, py::handle b) {
      if (is_matmul)
        if (std::optional<Tensor> r = matmul_transposed(a, b)) return *r;
      if (const Tensor* t = tensor_ptr(a)) check_scalar_exponent(name, *t, b);  // dtype only
      auto [x, y] = operands(a, b, name);
      return capture::call(fn, x, y);
    };
    if (has_alpha(name)) {
      // input ± alpha·other (alpha keyword-only, as PyTorch)
      using AlphaFn = Tensor (*)(const Tensor&, const Tensor&, double);
      const AlphaFn afn = std::string_view(name) == "add" ? &add_alpha : &sub_alpha;
      auto with_alpha = [fn, afn, name](py::handle a, py::handle b, py::handle alpha) {
        auto [x, y] = operands(a, b, name);
        const double al = alpha_arg(alpha, promote_operands(x->dtype(), x->dim() == 0, y->dtype(), y->dim() == 0), name);
        return al == 1.0 ? capture::call(fn, x, y) : capture::call(afn, x, y, al);
      };
      T_.def(name, with_alpha, py::arg("other"), py::kw_only(), py::arg("alpha") = 1, op_doc(name));
      m_.def(name, with_alpha, py::arg("input"), py::arg("other"), py::kw_only(),
             py::arg("alpha") = 1, op_doc(name));
    } else {
      if (has_method(r)) T_.def(name, named, py::arg("other"), op_doc(name));
      if (has_function(r)) m_.def(name, named, py::arg("input"), py::arg("other"), op_doc(name));
    }
    if (!has_dunder(r)) return;
    // Operators: an operand tapegrad cannot combine gives NotImplemented, so Python tries the
    // other side (and raises its usual TypeError).
    const std::string stem = r.dunder;
    T_.def(dunder(stem).c_str(), [fn, name, is_matmul](py::handle self, py::handle other) -> py::object {
          if (is_matmul)
            if (std::optional<Tensor> r = matmul_transposed(self, other)) return py::cast(*r);
          const Tensor* ap = tensor_ptr(self);
          if (!ap) return capture::pure(), not_implemented();
          const Tensor a = contiguous_arg(*ap);  // Note [strided arguments]
          check_scalar_exponent(name, a, other);
          Tensor o = operand(other, a);
          if (!o) return capture::pure(), not_implemented();
          return py::cast(capture::call(fn, a, o));
        }, py::is_operator());
    if (is_comparison(stem)) return;
    const bool is_div = name == std::string_view("div"), is_mul = name == std::string_view("mul");
    T_.def(dunder("r" + stem).c_str(), [fn, is_matmul, is_div, is_mul](py::handle self, py::handle other) -> py::object {
          if (is_matmul)
            if (std::optional<Tensor> r = matmul_transposed(other, self)) return py::cast(*r);
          const Tensor* ap = tensor_ptr(self);
          if (!ap) return capture::pure(), not_implemented();
          const Tensor a = contiguous_arg(*ap);
          Tensor o = operand(other, a);
          if (!o) return capture::pure(), not_implemented();
          // number / float16 tensor is PyTorch's reciprocal(x) · number, two roundings
          // (Note [storage dtypes] in cpp/src/tensor.cpp).
          // number · float16 tensor is x · number (the number is PyTorch's float32 operand).
          if (is_div && a->dtype() == DType::f16 && !tensor_ptr(other))
            return py::cast(capture::call(
                [](const Tensor& x, const Tensor& n) {
                  return mul(div(scalar_tensor(1, DType::f16), x), n);
                }, a, o));
          if (is_mul && a->dtype() == DType::f16) return py::cast(capture::call(fn, a, o));
          return py::cast(capture::call(fn, o, a));
        }, py::is_operator());
    if (const Inplace in = inplace_form(name); in.fn) {
      const InplaceFn ip = in.fn;
      const char* method = in.method;
      auto inplace = [ip, method](const Strided& self, py::handle other) {
        Tensor o = operand(other, self);
        if (!o)
          throw py::type_error(std::string(method) + ": unsupported operand type " + type_name(other));
        capture::call(ip, self.t, o);
        return self.t;
      };
      T_.def(dunder("i" + stem).c_str(), inplace, py::is_operator());
      if (has_alpha(name)) {
        using AlphaIp = void (*)(const Tensor&, const Tensor&, double);
        const AlphaIp aip = std::string_view(name) == "add" ? &add_alpha_ : &sub_alpha_;
        T_.def(method, [ip, aip, method](const Strided& self, py::handle other, py::handle alpha) {
              Tensor o = operand(other, self);
              if (!o)
                throw py::type_error(std::string(method) + ": unsupported operand type " +
                                     type_name(other));
              const double al = alpha_arg(alpha, promote_operands(self->dtype(), self->dim() == 0, o->dtype(), o->dim() == 0), method);
              if (al == 1.0) capture::call(ip, self.t, o);
              else capture::call(aip, self.t, o, al);
              return self.t;
            }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1);
      } else {
        T_.def(method, inplace);
      }
    }
  }

  // A MANUAL row whose callable takes the tensor first: method and/or function as the row says
  // (one callable; as a function its first argument is called `input`).
  template <class Fn, class... Extra>
  void manual(const char* name, Fn&& fn, const Extra&... extra) {
    const Row& r = claim(name);
    auto f = recorded(std::forward<Fn>(fn));
    if (has_method(r)) T_.def(name, f, extra..., op_doc(name));
    if (has_function(r)) {
      constexpr bool named = (std::is_base_of_v<py::arg, Extra> || ...);
      if constexpr (named) m_.def(name, f, py::arg("input"), extra..., op_doc(name));
      else m_.def(name, f, extra..., op_doc(name));
    }
    if (is_nn_function(r)) nn_.def(name, f, py::arg("input"), extra..., op_doc(name));
  }

  // A MANUAL row exposed as a function only, whose arguments need not start with a tensor
  // (cat's list, where's condition).
  template <class Fn, class... Extra>
  void manual_function(const char* name, Fn&& fn, const Extra&... extra) {
    const Row& r = claim(name);
    auto f = recorded(std::forward<Fn>(fn));
    if (r.expose != Expose::F)
      throw std::logic_error(std::string("ops.def: ") + name + " is bound as a function only but its row exposes a method");
    m_.def(name, f, extra..., op_doc(name));
  }

  void check_all_bound() const {
    for (size_t i = 0; i < kNumRows; ++i)
      if (kRows[i].bind == Bind::MANUAL && !bound_[i])
        throw std::logic_error(std::string("ops.def: the MANUAL row ") + kRows[i].name +
                               " has no binding in cpp/src/bindings/ops.cpp");
  }

 private:
  const Row& claim(const char* name) {
    const size_t i = find(name);
    if (kRows[i].bind != Bind::MANUAL)
      throw std::logic_error(std::string("ops.def: ") + name + " is bound by hand but its row is not MANUAL");
    if (bound_[i]) throw std::logic_error(std::string("ops.def: ") + name + " is bound twice");
    bound_[i] = true;
    return kRows[i];
  }
  static std::string dunder(const std::string& stem) { return "__" + stem + "__"; }
  static size_t find(const char* name) {
    for (size_t i = 0; i < kNumRows; ++i)
      if (std::string_view(kRows[i].name) == name) return i;
    throw std::logic_error(std::string("ops.def has no row ") + name);
  }
  py::module_& m_;
  py::module_ nn_;
  TensorClass& T_;
  bool bound_[kNumRows] = {};
};

// ----- argument translation shared by the MANUAL rows -----
std::vector<int64_t> reduce_dims(py::object dim, py::object axis, const char* op) {
  return dims_from(dim_or_axis(std::move(dim), std::move(axis), op), op);
}

int64_t required_dim(py::object dim, py::object axis, const char* op) {
  if (!axis.is_none()) dim = axis;
  if (dim.is_none()) throw py::type_error(std::string(op) + ": missing the required argument dim");
  return to_i64(dim);
}

std::optional<int64_t> optional_dim(py::object dim, py::object axis, const char* op) {
  dim = dim_or_axis(std::move(dim), std::move(axis), op);
  if (dim.is_none()) return std::nullopt;
  return to_i64(dim);
}

// x.max(), x.max(dim) → (values, indices), x.max(other) = maximum(x, other), as in PyTorch.
py::object max_min(const Tensor& x, py::object dim, bool keepdim, py::object axis,
                   py::handle keepdims, bool is_max) {
  if (const Tensor* o = tensor_ptr(dim)) {
    const Tensor other = contiguous_arg(*o);
    using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
    return py::cast(lower(is_max ? static_cast<BinaryFn>(&maximum) : static_cast<BinaryFn>(&minimum), x, other));
  }
  const char* op = is_max ? "max" : "min";
  const std::vector<int64_t> dims = reduce_dims(std::move(dim), std::move(axis), op);
  using AllFn = Tensor (*)(const Tensor&);
  if (dims.empty()) return py::cast(lower(is_max ? static_cast<AllFn>(&max) : static_cast<AllFn>(&min), x));
  if (dims.size() != 1)
    throw py::type_error(std::string(op) + ": dim must be a single int (use amax/amin for several dims)");
  auto r = lower(is_max ? &max_dim : &min_dim, x, dims[0], keepdim_or_keepdims(keepdim, keepdims));
  return (is_max ? g_max_type : g_min_type)(r.first, r.second);
}

// ----- pooling arguments (PyTorch's: an int or a tuple of one or two ints) -----
std::array<int64_t, 2> pool_pair(py::handle h, int spatial, const char* op, const char* arg) {
  auto bad = [&]() -> py::type_error {
    return py::type_error(std::string(op) + ": " + arg + " must be an int or a tuple of " +
                          (spatial == 1 ? "one int" : "one or two ints") + ", got " +
                          std::string(py::str(h)));
  };
  if (PyLong_Check(h.ptr()) || PyIndex_Check(h.ptr())) {
    if (PyBool_Check(h.ptr())) throw bad();
    const int64_t v = to_i64(h);
    return {spatial == 1 ? 1 : v, v};
  }
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h)) throw bad();
  const auto seq = py::reinterpret_borrow<py::sequence>(h);
  if (seq.size() == 1) {
    if (!PyIndex_Check(seq[0].ptr())) throw bad();
    const int64_t v = to_i64(seq[0]);
    return {spatial == 1 ? 1 : v, v};
  }
  if (seq.size() != 2 || spatial != 2) throw bad();
  for (auto e : seq)
    if (!PyIndex_Check(e.ptr())) throw bad();
  return {to_i64(seq[0]), to_i64(seq[1])};
}
// stride=None (or an empty tuple) means kernel_size, as PyTorch.
std::array<int64_t, 2> pool_stride(py::handle h, const std::array<int64_t, 2>& kernel,
                                   int spatial, const char* op) {
  if (h.is_none()) return kernel;
  if (py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h) && py::len(h) == 0)
    return kernel;
  const auto s = pool_pair(h, spatial, op, "stride");
  return spatial == 1 ? std::array<int64_t, 2>{1, s[1]} : s;
}
// Adaptive output sizes: an int, or a tuple whose None entries keep the input's size.
std::array<std::optional<int64_t>, 2> pool_output_size(py::handle h, int spatial,
                                                       const char* op) {
  auto one = [&](py::handle e) -> std::optional<int64_t> {
    if (e.is_none()) return std::nullopt;
    if (!PyIndex_Check(e.ptr()) || PyBool_Check(e.ptr()))
      throw py::type_error(std::string(op) + ": output_size must be an int or a tuple of " +
                           (spatial == 1 ? "one int" : "two ints or None") + ", got " +
                           std::string(py::str(h)));
    return to_i64(e);
  };
  if (py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h)) {
    const auto seq = py::reinterpret_borrow<py::sequence>(h);
    if (seq.size() == 1) return {std::optional<int64_t>(1), one(seq[0])};
    if (seq.size() != 2 || spatial != 2)
      throw py::type_error(std::string(op) + ": output_size must have " +
                           (spatial == 1 ? "one entry" : "two entries") + ", got " +
                           std::string(py::str(h)));
    return {one(seq[0]), one(seq[1])};
  }
  const auto v = one(h);
  return {spatial == 1 ? std::optional<int64_t>(1) : v, v};
}
// ----- sorting and selection by value -----
// PyTorch's torch.return_types.sort / topk / kthvalue: (values, indices) named tuples, made
// once when the module loads (released: they live as long as the interpreter).
py::handle g_sort_type, g_topk_type, g_kthvalue_type;
py::handle values_indices_type(const char* name) {
  return py::module_::import("collections")
      .attr("namedtuple")(name, py::make_tuple("values", "indices"))
      .release();
}
// An op whose result's size depends on the data cannot be replayed on other data: a capture
// that reaches it is refused (tapegrad.compile falls back to eager; fullgraph=True raises).
void refuse_capture(const char* op) {
  if (capture::Recorder* r = capture::active())
    r->refuse(std::string(op) + ": the size of its result depends on the data");
}
py::object nonzero_tuple(const Tensor& x, const char* op) {
  refuse_capture(op);
  py::tuple out = py::cast(nonzero(x));
  return std::move(out);
}
int64_t dim_or_last(py::handle dim) { return dim.is_none() ? -1 : to_i64(dim); }

// scatter's fourth argument: src (a tensor) or value (a number), positionally or by keyword;
// the tensor, or null for a value. reduce= (deprecated in PyTorch) is not supported.
const Tensor* scatter_source(py::handle src, py::handle value, py::handle reduce, const char* op) {
  if (!reduce.is_none())
    throw std::runtime_error(std::string(op) + ": reduce= is not supported; use scatter_add for "
                             "reduce='add'");
  if (!src.is_none() && !value.is_none())
    throw py::type_error(std::string(op) + "(): pass either src or value, not both");
  if (src.is_none() && value.is_none())
    throw py::type_error(std::string(op) + "(): missing the required argument src (a tensor) or "
                         "value (a number)");
  if (const Tensor* t = tensor_ptr(src)) return t;
  if (tensor_ptr(value))
    throw py::type_error(std::string(op) + "(): argument 'value' must be a number, not Tensor");
  return nullptr;
}
py::object values_or_pair(const std::pair<Tensor, Tensor>& r, bool return_indices) {
  if (return_indices) return py::make_tuple(r.first, r.second);
  return py::cast(r.first);
}

}  // namespace

// The engine functions some lowered bindings call, of the overload the export table lists.
constexpr auto kSumDtype =
    static_cast<Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool, std::optional<DType>)>(&sum);
constexpr auto kMeanDtype =
    static_cast<Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool, std::optional<DType>)>(&mean);
constexpr auto kCrossEntropy = static_cast<Tensor (*)(const Tensor&, const Tensor&, const Tensor&, int64_t,
                                                      Reduction, double)>(&cross_entropy);
constexpr auto kMseLoss = static_cast<Tensor (*)(const Tensor&, const Tensor&, Reduction)>(&mse_loss);
constexpr auto kMm = static_cast<Tensor (*)(const Tensor&, const Tensor&, bool, bool)>(&mm);
constexpr auto kBceLogits = static_cast<Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                                   Reduction)>(&binary_cross_entropy_with_logits);

void bind_ops(py::module_& m, TensorClass& T) {
  Registrar reg(m, T);

  // ----- UNARY and BINARY rows: registered from the table -----
// (the engine functions themselves: capture finds them in the export table, exports.cpp)
#define TG_BIND_UNARY(name) reg.unary(row, static_cast<UnaryFn>(&tapegrad::name));
#define TG_BIND_BINARY(name) reg.binary(row, static_cast<BinaryFn>(&tapegrad::name));
#define TG_BIND_MANUAL(name)
#define TG_BIND_INTERNAL(name)
  {
    size_t i = 0;
#define TG_ROW(name, bind)          \
  {                                 \
    const Row& row = kRows[i++];    \
    (void)row;                      \
    TG_BIND_##bind(name)            \
  }
#define TG_OP(code, name, arity, bind, expose, dunder) TG_ROW(name, bind)
#define TG_FN(name, bind, expose, dunder, grad) TG_ROW(name, bind)
#include "tapegrad/ops.def"
#undef TG_FN
#undef TG_OP
#undef TG_ROW
  }
#undef TG_BIND_INTERNAL
#undef TG_BIND_MANUAL
#undef TG_BIND_BINARY
#undef TG_BIND_UNARY

  // ----- MANUAL rows: one binding each -----
  const auto dim = py::arg("dim") = py::none();
  const auto keepdim = py::arg("keepdim") = false;
  const auto axis = py::arg("axis") = py::none();
  const auto keepdims = py::arg("keepdims") = py::none();

  reg.manual_function("where", [](py::handle cond, py::handle a, py::handle b) -> py::object {
        const Tensor* cp = tensor_ptr(cond);
        if (!cp) throw py::type_error("where: condition must be a tensor, got " + type_name(cond));
        const Tensor cc = contiguous_arg(*cp);
        const Tensor* c = &cc;
        if (a.is_none() && b.is_none()) return nonzero_tuple(*c, "where(condition)");
        if (a.is_none() || b.is_none())
          throw py::type_error("where: expected both input and other, or neither "
                               "(where(condition) is nonzero(condition, as_tuple=True))");
        auto [x, y] = operands(a, b, "where");
        return py::cast(lower(&where, *c, x, y));
      }, py::arg("condition"), py::arg("input") = py::none(), py::arg("other") = py::none());
  reg.manual("clamp", [](const Tensor& x, py::object lo, py::object hi) {
        if (tensor_ptr(lo) || tensor_ptr(hi)) {  // Note [clamp with tensor bounds]
          auto bound = [&](py::handle b, const char* which) {
            if (b.is_none()) return Tensor();
            Tensor t = operand(b, x);  // a number beside a tensor: PyTorch's scalar rules
            if (!t)
              throw py::type_error(std::string("clamp: ") + which + " must be a number or a "
                                   "tensor, not " + type_name(b));
            return t;
          };
          return lower(&clamp_tensors, x, bound(lo, "min"), bound(hi, "max"));
        }
        std::optional<Scalar> l, h;  // exact ints (Note [exact scalars])
        if (!lo.is_none()) l = scalar_value(lo, "clamp");
        if (!hi.is_none()) h = scalar_value(hi, "clamp");
        return lower(&clamp_scalars, x, l, h);
      }, py::arg("min") = py::none(), py::arg("max") = py::none());
  T.attr("clip") = T.attr("clamp");
  reg.manual("to", [](const Strided& x, py::object dtype) {
        auto dt = parse_dtype(dtype);
        return dt ? cast_strided(x, *dt) : x.t;
      }, py::arg("dtype"));

  // reductions (dim/keepdim with NumPy's axis/keepdims)
  reg.manual("sum", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds, py::object dtype) {
        return lower(kSumDtype, x, reduce_dims(d, ax, "sum"), keepdim_or_keepdims(kd, kds), parse_dtype(dtype));
      }, dim, keepdim, py::kw_only(), axis, keepdims, py::arg("dtype") = py::none());
  reg.manual("mean", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds, py::object dtype) {
        return lower(kMeanDtype, x, reduce_dims(d, ax, "mean"), keepdim_or_keepdims(kd, kds), parse_dtype(dtype));
      }, dim, keepdim, py::kw_only(), axis, keepdims, py::arg("dtype") = py::none());
  reg.manual("max", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return max_min(x, d, kd, ax, kds, true);
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("min", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return max_min(x, d, kd, ax, kds, false);
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("amax", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return lower(&amax, x, reduce_dims(d, ax, "amax"), keepdim_or_keepdims(kd, kds));
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("amin", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return lower(&amin, x, reduce_dims(d, ax, "amin"), keepdim_or_keepdims(kd, kds));
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("argmax", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return lower(&argmax, x, optional_dim(d, ax, "argmax"), keepdim_or_keepdims(kd, kds));
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("argmin", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return lower(&argmin, x, optional_dim(d, ax, "argmin"), keepdim_or_keepdims(kd, kds));
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("logsumexp", [](const Tensor& x, py::object d, bool kd, py::object ax, py::object kds) {
        return lower(&logsumexp, x, reduce_dims(d, ax, "logsumexp"), keepdim_or_keepdims(kd, kds));
      }, dim, keepdim, py::kw_only(), axis, keepdims);
  reg.manual("all", [](const Tensor& x, py::object d, bool kd) { return all(x, dims_from(d, "all"), kd); },
             dim, keepdim);
  reg.manual("any", [](const Tensor& x, py::object d, bool kd) { return any(x, dims_from(d, "any"), kd); },
             dim, keepdim);
  reg.manual("softmax", [](const Tensor& x, py::object d, py::object ax) {
        return lower(&softmax, x, required_dim(d, ax, "softmax"));
      }, dim, py::kw_only(), axis);
  reg.manual("log_softmax", [](const Tensor& x, py::object d, py::object ax) {
        return lower(&log_softmax, x, required_dim(d, ax, "log_softmax"));
      }, dim, py::kw_only(), axis);

  // activations (torch.nn.functional's; exposed N: functions of _core._nn)
  reg.manual("gelu", [](const Tensor& x, const std::string& approximate) {
        if (approximate != "none" && approximate != "tanh")
          throw py::value_error("gelu: approximate must be 'none' or 'tanh', got '" + approximate +
                                "'");
        return lower(&gelu, x, approximate == "tanh");
      }, py::arg("approximate") = "none");
  reg.manual("leaky_relu", [](const Tensor& x, py::object slope) {
        return lower(&leaky_relu, x, scalar_arg(slope, "leaky_relu"));
      }, py::arg("negative_slope") = 0.01);
  reg.manual("elu", [](const Tensor& x, py::object alpha) {
        return lower(&elu, x, scalar_arg(alpha, "elu"));
      }, py::arg("alpha") = 1.0);
  reg.manual("softplus", [](const Tensor& x, py::object beta, py::object threshold) {
        return lower(&softplus, x, scalar_arg(beta, "softplus"), scalar_arg(threshold, "softplus"));
      }, py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  reg.manual("hardtanh", [](const Tensor& x, py::object lo, py::object hi) {
        return lower(&hardtanh, x, scalar_arg(lo, "hardtanh"), scalar_arg(hi, "hardtanh"));
      }, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0);

  // normalization, dropout, embeddings (torch.nn.functional's; exposed N: functions of _core._nn)
  reg.manual("batch_norm", [](const Tensor& x, const MaybeTensor& rm, const MaybeTensor& rv, const MaybeTensor& w,
                              const MaybeTensor& b, bool training, double momentum, double eps) {
        return lower(&batch_norm, x, rm.t, rv.t, w.t, b.t, training, momentum, eps);
      }, py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = nullptr,
      py::arg("bias") = nullptr, py::arg("training") = false, py::arg("momentum") = 0.1,
      py::arg("eps") = 1e-5);
  reg.manual("layer_norm", [](const Tensor& x, py::handle shape, const MaybeTensor& w, const MaybeTensor& b,
                              double eps) {
        return lower(&layer_norm, x, shape_arg(shape, "layer_norm"), w.t, b.t, eps);
      }, py::arg("normalized_shape"), py::arg("weight") = nullptr, py::arg("bias") = nullptr,
      py::arg("eps") = 1e-5);
  reg.manual("dropout", [](const Strided& x, double p, bool train, bool inplace, int64_t channel_dims) {
        return lower(&dropout, x.t, p, train, inplace, channel_dims);
      }, py::arg("p") = 0.5, py::arg("train") = true, py::arg("inplace") = false, py::kw_only(),
      py::arg("channel_dims") = 0);
  reg.manual("embedding", [](const Tensor& idx, const Tensor& w, py::object pad) {
        return lower(&embedding, idx, w, pad.is_none() ? std::nullopt : std::optional<int64_t>(to_i64(pad)));
      }, py::arg("weight"), py::arg("padding_idx") = py::none());

  // linear algebra
  reg.manual("mm", [](const Tensor& a, const Tensor& b) { return lower(kMm, a, b, false, false); }, py::arg("other"));
  reg.manual("bmm", [](const Tensor& a, const Tensor& b) { return lower(&bmm, a, b, false, false); }, py::arg("other"));
  reg.manual_function("linear", [](const Tensor& x, const Tensor& w, const MaybeTensor& b) { return lower(&linear, x, w, b.t); },
             py::arg("input"), py::arg("weight"), py::arg("bias") = nullptr);

  // shapes
  reg.manual("reshape", [](const Strided& x, py::args shape) { return lower(&reshape_view, x.t, shape_from(shape, "reshape"), false); });
  reg.manual("view", [](const Strided& x, py::args shape) { return lower(&reshape_view, x.t, shape_from(shape, "view"), true); });
  reg.manual("view_as", [](const Strided& x, const Strided& o) { return lower(&reshape_view, x.t, o->shape(), true); }, py::arg("other"));
  reg.manual("reshape_as", [](const Strided& x, const Strided& o) { return lower(&reshape_view, x.t, o->shape(), false); }, py::arg("other"));
  reg.manual("expand", [](const Strided& x, py::args sizes) { return lower(&expand_view, x.t, shape_from(sizes, "expand")); });
  reg.manual("expand_as", [](const Strided& x, const Strided& o) { return lower(&expand_view, x.t, o->shape()); }, py::arg("other"));
  reg.manual("permute", [](const Strided& x, py::args dims) { return lower(&permute_view, x.t, shape_from(dims, "permute")); });
  reg.manual("flatten", [](const Strided& x, int64_t s, int64_t e) { return lower(&flatten_view, x.t, s, e); },
             py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  reg.manual("squeeze", [](const Strided& x, py::object d) {
        if (!PyTuple_Check(d.ptr()) && !PyList_Check(d.ptr())) {
          if (d.is_none()) return lower(&squeeze_view, x.t, std::vector<int64_t>{}, true);
          return lower(&squeeze_view, x.t, std::vector<int64_t>{to_i64(d)}, false);
        }
        std::vector<int64_t> dims;  // a tuple or list of ints (not bools), as PyTorch
        for (py::handle h : d) {
          if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()))
            throw py::type_error("squeeze(): argument 'dim' must be an int or a tuple of ints, "
                                 "got a " + std::string(Py_TYPE(d.ptr())->tp_name) +
                                 " holding " + std::string(Py_TYPE(h.ptr())->tp_name));
          dims.push_back(to_i64(h));
        }
        return lower(&squeeze_view, x.t, dims, false);
      }, dim);
  reg.manual("unsqueeze", [](const Strided& x, int64_t d) { return lower(&unsqueeze_view, x.t, d); }, py::arg("dim"));
  reg.manual("transpose", [](const Strided& x, int64_t a, int64_t b) { return lower(&transpose_view, x.t, a, b); },
             py::arg("dim0"), py::arg("dim1"));
  reg.manual("t", [](const Strided& x) { return t_view(x); });
  reg.manual_function("cat", [](const std::vector<Tensor>& xs, int64_t d) { return lower(&cat, xs, d); },
             py::arg("tensors"), py::arg("dim") = 0);
  reg.manual_function("stack", [](const std::vector<Tensor>& xs, int64_t d) { return lower(&stack, xs, d); },
             py::arg("tensors"), py::arg("dim") = 0);

  // losses (reduction names are checked by the engine)
  reg.manual_function("cross_entropy", [](const Tensor& x, const Tensor& y, const MaybeTensor& w,
                                          int64_t ignore_index, const std::string& red, double ls) {
        return lower(kCrossEntropy, x, y, w.t, ignore_index, parse_reduction(red, "cross_entropy"), ls);
      }, py::arg("input"), py::arg("target"), py::arg("weight") = nullptr,
      py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
      py::arg("label_smoothing") = 0.0);
  reg.manual_function("mse_loss", [](const Tensor& x, const Tensor& y, const std::string& red) {
        return lower(kMseLoss, x, y, parse_reduction(red, "mse_loss"));
      }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  reg.manual_function("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& y,
                         const MaybeTensor& w, const std::string& red, const MaybeTensor& pw) {
        return lower(kBceLogits, x, y, w.t, pw.t, parse_reduction(red, "binary_cross_entropy_with_logits"));
      }, py::arg("input"), py::arg("target"), py::arg("weight") = nullptr,
      py::arg("reduction") = "mean", py::arg("pos_weight") = nullptr);
  // torch.nn.functional's other losses (exposed N: functions of _core._nn)
  reg.manual("nll_loss", [](const Tensor& x, const Tensor& y, const MaybeTensor& w, int64_t ignore_index,
                            const std::string& red) {
        return lower(&nll_loss, x, y, w.t, ignore_index, parse_reduction(red, "nll_loss"));
      }, py::arg("target"), py::arg("weight") = nullptr, py::arg("ignore_index") = -100,
      py::arg("reduction") = "mean");
  reg.manual("l1_loss", [](const Tensor& x, const Tensor& y, const std::string& red) {
        return lower(&l1_loss, x, y, parse_reduction(red, "l1_loss"));
      }, py::arg("target"), py::arg("reduction") = "mean");
  reg.manual("smooth_l1_loss", [](const Tensor& x, const Tensor& y, const std::string& red, double beta) {
        return lower(&smooth_l1_loss, x, y, parse_reduction(red, "smooth_l1_loss"), beta);
      }, py::arg("target"), py::arg("reduction") = "mean", py::arg("beta") = 1.0);
  reg.manual("huber_loss", [](const Tensor& x, const Tensor& y, const std::string& red, double delta) {
        return lower(&huber_loss, x, y, parse_reduction(red, "huber_loss"), delta);
      }, py::arg("target"), py::arg("reduction") = "mean", py::arg("delta") = 1.0);
  reg.manual("binary_cross_entropy", [](const Tensor& x, const Tensor& y, const MaybeTensor& w,
                                        const std::string& red) {
        return lower(&binary_cross_entropy, x, y, w.t, parse_reduction(red, "binary_cross_entropy"));
      }, py::arg("target"), py::arg("weight") = nullptr, py::arg("reduction") = "mean");
  reg.manual("kl_div", [](const Tensor& x, const Tensor& y, const std::string& red, bool log_target) {
        return lower(&kl_div, x, y, red, log_target);
      }, py::arg("target"), py::arg("reduction") = "mean", py::arg("log_target") = false);

  // convolution and padding (torch.nn.functional's; exposed N: functions of _core._nn)
  auto int_list = [](py::handle h, const char* op, const char* what) {
    std::vector<int64_t> v;
    if (PySequence_Check(h.ptr()) && !py::isinstance<py::str>(h)) {
      for (py::object e : py::reinterpret_borrow<py::sequence>(h)) v.push_back(to_i64(e));
    } else if (PyIndex_Check(h.ptr())) {
      v.push_back(to_i64(h));
    } else {
      throw py::type_error(std::string(op) + ": " + what + " must be an int or a tuple of ints, got " +
                           type_name(h));
    }
    return v;
  };
  auto conv_padding = [int_list](py::handle h, const char* op) {
    ConvPadding p;
    if (py::isinstance<py::str>(h)) p.name = h.cast<std::string>();
    else p.sizes = int_list(h, op, "padding");
    return p;
  };
  const auto conv_args = std::make_tuple(py::arg("weight"), py::arg("bias") = nullptr,
                                         py::arg("stride") = 1, py::arg("padding") = 0,
                                         py::arg("dilation") = 1, py::arg("groups") = 1);
  reg.manual("conv2d", [int_list, conv_padding](const Tensor& x, const Tensor& w, const MaybeTensor& b,
                                                 py::object st, py::object pad, py::object dil, int64_t groups) {
        return lower(&conv2d, x, w, b.t, int_list(st, "conv2d", "stride"), conv_padding(pad, "conv2d"),
                     int_list(dil, "conv2d", "dilation"), groups);
      }, std::get<0>(conv_args), std::get<1>(conv_args), std::get<2>(conv_args),
      std::get<3>(conv_args), std::get<4>(conv_args), std::get<5>(conv_args));
  reg.manual("conv1d", [int_list, conv_padding](const Tensor& x, const Tensor& w, const MaybeTensor& b,
                                                 py::object st, py::object pad, py::object dil, int64_t groups) {
        return lower(&conv1d, x, w, b.t, int_list(st, "conv1d", "stride"), conv_padding(pad, "conv1d"),
                     int_list(dil, "conv1d", "dilation"), groups);
      }, std::get<0>(conv_args), std::get<1>(conv_args), std::get<2>(conv_args),
      std::get<3>(conv_args), std::get<4>(conv_args), std::get<5>(conv_args));
  reg.manual("pad", [int_list](const Tensor& x, py::object pads, const std::string& mode, py::object value) {
        return lower(&pad, x, int_list(pads, "pad", "pad"), mode,
                     value.is_none() ? std::nullopt : std::optional<double>(scalar_arg(value, "pad")));
      }, py::arg("pad"), py::arg("mode") = "constant", py::arg("value") = py::none());

  // A loss module checks its reduction when it is built, before any call.
  m.def("_check_reduction", [](py::handle reduction, const std::string& op) {
        if (!py::isinstance<py::str>(reduction))
          throw py::type_error(op + ": reduction must be 'none', 'mean' or 'sum', got " + type_name(reduction));
        parse_reduction(reduction.cast<std::string>(), op.c_str());
      }, py::arg("reduction"), py::arg("op"));

  // queries
  reg.manual("detach", [](const Strided& x) { return lower(&detach, x.t); });
  reg.manual("numel", [](const Strided& x) { return x->numel(); });
  reg.manual("is_floating_point", [](const Strided& x) { return is_floating_point(x->dtype()); });

  // pooling (torch.nn.functional's; exposed N: functions of _core._nn)
  reg.manual("max_pool2d", [](const Tensor& x, py::object k, py::object s, py::object p,
                              py::object d, bool ceil_mode, bool return_indices) {
        const char* op = "max_pool2d";
        const auto kernel = pool_pair(k, 2, op, "kernel_size");
        return values_or_pair(
            lower(&max_pool2d_with_indices, x, kernel, pool_stride(s, kernel, 2, op),
                  pool_pair(p, 2, op, "padding"), pool_pair(d, 2, op, "dilation"), ceil_mode),
            return_indices);
      }, py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  reg.manual("max_pool1d", [](const Tensor& x, py::object k, py::object s, py::object p,
                              py::object d, bool ceil_mode, bool return_indices) {
        const char* op = "max_pool1d";
        const auto kernel = pool_pair(k, 1, op, "kernel_size");
        return values_or_pair(
            lower(&max_pool1d_with_indices, x, kernel[1], pool_stride(s, kernel, 1, op)[1],
                  pool_pair(p, 1, op, "padding")[1], pool_pair(d, 1, op, "dilation")[1], ceil_mode),
            return_indices);
      }, py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  reg.manual("avg_pool2d", [](const Tensor& x, py::object k, py::object s, py::object p,
                              bool ceil_mode, bool count_include_pad, py::object divisor) {
        const char* op = "avg_pool2d";
        const auto kernel = pool_pair(k, 2, op, "kernel_size");
        std::optional<int64_t> div;
        if (!divisor.is_none()) div = to_i64(divisor);
        return lower(&avg_pool2d, x, kernel, pool_stride(s, kernel, 2, op), pool_pair(p, 2, op, "padding"),
                     ceil_mode, count_include_pad, div);
      }, py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = py::none());
  reg.manual("avg_pool1d", [](const Tensor& x, py::object k, py::object s, py::object p,
                              bool ceil_mode, bool count_include_pad) {
        const char* op = "avg_pool1d";
        const auto kernel = pool_pair(k, 1, op, "kernel_size");
        return lower(&avg_pool1d, x, kernel[1], pool_stride(s, kernel, 1, op)[1],
                     pool_pair(p, 1, op, "padding")[1], ceil_mode, count_include_pad);
      }, py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  reg.manual("adaptive_avg_pool2d", [](const Tensor& x, py::object size) {
        return lower(&adaptive_avg_pool2d, x, pool_output_size(size, 2, "adaptive_avg_pool2d"));
      }, py::arg("output_size"));
  reg.manual("adaptive_avg_pool1d", [](const Tensor& x, py::object size) {
        const auto s = pool_output_size(size, 1, "adaptive_avg_pool1d")[1];
        if (!s) throw py::type_error("adaptive_avg_pool1d: output_size must be an int");
        return lower(&adaptive_avg_pool1d, x, *s);
      }, py::arg("output_size"));
  reg.manual("adaptive_max_pool2d", [](const Tensor& x, py::object size, bool return_indices) {
        return values_or_pair(
            lower(&adaptive_max_pool2d_with_indices, x, pool_output_size(size, 2, "adaptive_max_pool2d")),
            return_indices);
      }, py::arg("output_size"), py::arg("return_indices") = false);
  reg.manual("adaptive_max_pool1d", [](const Tensor& x, py::object size, bool return_indices) {
        const auto s = pool_output_size(size, 1, "adaptive_max_pool1d")[1];
        if (!s) throw py::type_error("adaptive_max_pool1d: output_size must be an int");
        return values_or_pair(lower(&adaptive_max_pool1d_with_indices, x, *s), return_indices);
      }, py::arg("output_size"), py::arg("return_indices") = false);

  // ----- sorting and selection by value (ops/sort.cpp) -----
  g_sort_type = values_indices_type("sort");
  g_topk_type = values_indices_type("topk");
  g_kthvalue_type = values_indices_type("kthvalue");
  reg.manual("sort", [](const Tensor& x, int64_t d, bool descending, bool stable) -> py::object {
        auto r = lower(&tapegrad::sort, x, d, descending, stable);
        return g_sort_type(r.first, r.second);
      }, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(),
      py::arg("stable") = false);
  reg.manual("argsort", [](const Tensor& x, int64_t d, bool descending, bool stable) {
        return lower(&tapegrad::argsort, x, d, descending, stable);
      }, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(),
      py::arg("stable") = false);
  reg.manual("msort", [](const Tensor& x) { return lower(&msort, x); });
  reg.manual("topk", [](const Tensor& x, int64_t k, py::object d, bool largest, bool sorted) -> py::object {
        auto r = lower(&topk, x, k, dim_or_last(d), largest, sorted);
        return g_topk_type(r.first, r.second);
      }, py::arg("k"), py::arg("dim") = py::none(), py::arg("largest") = true,
      py::arg("sorted") = true);
  reg.manual("kthvalue", [](const Tensor& x, int64_t k, py::object d, bool keepdim) -> py::object {
        auto r = lower(&kthvalue, x, k, dim_or_last(d), keepdim);
        return g_kthvalue_type(r.first, r.second);
      }, py::arg("k"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  reg.manual("nonzero", [](const Tensor& x, bool as_tuple) -> py::object {
        if (as_tuple) return nonzero_tuple(x, "nonzero");
        refuse_capture("nonzero");
        std::vector<Tensor> cols = nonzero(x);
        if (x->dim() == 0) return py::cast(empty({cols[0]->numel(), 0}, DType::i64));
        return py::cast(stack(cols, 1));
      }, py::kw_only(), py::arg("as_tuple") = false);
  // gather and scatter along a dim (ops/gather.cpp); the in-place scatter_/scatter_add_ methods
  // beside their rows
  reg.manual("gather", [](const Tensor& x, int64_t d, const Tensor& index, bool sparse_grad) {
        if (sparse_grad)
          throw std::runtime_error("gather: sparse_grad=True needs sparse tensors, which tapegrad "
                                   "does not have; use sparse_grad=False");
        return lower(&gather, x, d, index);
      }, py::arg("dim"), py::arg("index"), py::kw_only(), py::arg("sparse_grad") = false);
  reg.manual("scatter", [](const Tensor& x, int64_t d, const Tensor& index, py::object src,
                           py::object value, py::object reduce) {
        if (const Tensor* s = scatter_source(src, value, reduce, "scatter"))
          return lower(&scatter, x, d, index, contiguous_arg(*s));
        return lower(&scatter_value, x, d, index, scalar_arg(src.is_none() ? value : src, "scatter"));
      }, py::arg("dim"), py::arg("index"), py::arg("src") = py::none(), py::kw_only(),
      py::arg("value") = py::none(), py::arg("reduce") = py::none());
  reg.manual("scatter_add", [](const Tensor& x, int64_t d, const Tensor& index, const Tensor& src) {
        return lower(&scatter_add, x, d, index, src);
      }, py::arg("dim"), py::arg("index"), py::arg("src"));
  T.def("scatter_", [](const Strided& x, int64_t d, const Tensor& index, py::object src,
                       py::object value, py::object reduce) {
        if (const Tensor* s = scatter_source(src, value, reduce, "scatter_")) {
          capture::call(&scatter_, x.t, d, index, contiguous_arg(*s));
        } else {
          const double v = scalar_arg(src.is_none() ? value : src, "scatter_");
          capture::call(&scatter_value_, x.t, d, index, v);
        }
        return x.t;
      }, py::arg("dim"), py::arg("index"), py::arg("src") = py::none(), py::kw_only(),
      py::arg("value") = py::none(), py::arg("reduce") = py::none(),
      "In-place :func:`scatter`: writes into this tensor and returns it.");
  T.def("scatter_add_", [](const Strided& x, int64_t d, const Tensor& index, const Tensor& src) {
        capture::call(&scatter_add_, x.t, d, index, src);
        return x.t;
      }, py::arg("dim"), py::arg("index"), py::arg("src"),
      "In-place :func:`scatter_add`: adds into this tensor and returns it.");

  reg.check_all_bound();

  // The table itself, for tapegrad/__init__.py (its exports) and tests/test_op_table.py.
  m.def("_op_table", [] {
    static const char* const kBind[] = {"UNARY", "BINARY", "MANUAL", "INTERNAL"};
    static const char* const kExpose[] = {"N", "M", "F", "MF"};
    py::list rows;
    for (const Row& r : kRows) {
      py::dict d;
      d["name"] = r.name;
      d["primitive"] = r.code >= 0;
      d["arity"] = r.arity;
      d["bind"] = kBind[static_cast<int>(r.bind)];
      d["expose"] = kExpose[static_cast<int>(r.expose)];
      d["dunder"] = has_dunder(r) ? py::object(py::str(r.dunder)) : py::object(py::none());
      d["grad"] = r.grad;
      rows.append(d);
    }
    return rows;
  });
}

}  // namespace tapegrad::bind

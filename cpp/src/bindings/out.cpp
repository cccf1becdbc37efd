// Note [out= arguments]
// PyTorch's module-level functions take `out=`: the result is written into the given tensor
// (or tuple of tensors, for the (values, indices) functions) and that same object is returned.
// tapegrad has one registry of the functions that take it (python/tapegrad/_out.py, which says
// for each what an output's dtype may be) and one path that writes, here:
//   - a function bound in C++ gets out= from the argument guard every pybind11 function already
//     has (convert_args.cpp): a call with keywords to a registered function goes through
//     dispatch_with_out, which removes `out`, calls the function as usual, then writes; a call
//     without `out` costs one hash lookup (and none without keywords);
//   - a Python function (a composite) is wrapped once by _out.py and calls _call_with_out.
// What the write does, in PyTorch's order:
//   1. grad mode on and an argument (or out) requires grad: PyTorch's RuntimeError "add():
//      functions with out=... arguments don't support automatic differentiation, but one of
//      the arguments requires grad." — checked before anything runs;
//   2. the result is computed as without out= (a new tensor), so out may alias an input
//      (tg.add(x, y, out=x) is x += y);
//   3. dtype: by the function's rule (OutRule below), PyTorch's error otherwise;
//   4. shape: an out of another shape is resized, with PyTorch's UserWarning when it had
//      elements. tapegrad's tensors have no resize_: the out takes a new buffer of the result's
//      shape (TensorImpl::set_data, as `t.data = ...`), which is safe only when nothing else
//      can see the old one. So an out that shares its memory (a view, .data, .numpy(),
//      from_numpy, detach()) or carries history is refused with a RuntimeError naming the op
//      and both shapes, where PyTorch would resize the shared storage under the other tensors;
//      the new buffer continues the version counter, so a graph that saved out still notices;
//   5. the values go in through the engine's copy_ (version bump, in-place checks, the write
//      through a view that shares storage), recorded by tapegrad.compile like any copy_.
// Creation functions (zeros, arange, rand, ...) and the reductions that compute in a dtype=
// (sum, prod, cumsum, cumprod) take their dtype from out when none is given (a different one is
// PyTorch's "dtype Double does not match dtype of out parameter (Float)"); a creation
// function's `requires_grad=True` marks out. Partial overlap of out with an input is computed as if
// the input were read first (PyTorch refuses it).
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bindings/bindings.h"
#include "tapegrad/capture.h"
#include "tapegrad/grad_mode.h"

namespace tapegrad::bind {
namespace {

// What an output's dtype may be, as PyTorch's kernel for the function decides it.
enum class OutRule : uint8_t {
  Cast,     // the result's dtype must cast to out's (TensorIterator: no float → int, no → bool)
  Same,     // Cast, then out's dtype must be the result's ("Found dtype Double but expected Float")
  Exact,    // out's dtype must be the result's (matmul, sort's values, ...)
  Long,     // int64 (indices)
  CatCast,  // Cast, but PyTorch's cat/stack raise TypeError
  DTypeOf,  // out's dtype is the call's dtype= (creation functions; sum/prod/cumsum/cumprod)
  Any,      // any dtype: the result is converted (randint, randperm)
};

struct OutSpec {
  std::string name;
  bool has_tensor = false;  // a call whose result is one tensor accepts a tensor out
  OutRule tensor_rule = OutRule::Cast;
  std::vector<OutRule> tuple_rules;  // a call whose result is a tuple: one rule per element
  int dim_position = -1;  // >= 0: out= only in the forms that name a dim (sum(x, dim, out=))
  bool differentiable = true;  // false: inputs that require grad are fine (argmax)
};

std::unordered_map<std::string, OutSpec> g_specs;
std::unordered_map<PyObject*, const OutSpec*> g_by_capsule;  // guarded builtins, by `self`

OutRule parse_rule(const std::string& s) {
  if (s == "cast") return OutRule::Cast;
  if (s == "same") return OutRule::Same;
  if (s == "any") return OutRule::Any;
  if (s == "exact") return OutRule::Exact;
  if (s == "long") return OutRule::Long;
  if (s == "cat") return OutRule::CatCast;
  if (s == "dtype") return OutRule::DTypeOf;
  throw std::logic_error("_enable_out: unknown dtype rule '" + s + "'");
}

// PyTorch's ScalarType names ("result type Float ...") and C type names ("dtype float").
const char* scalar_type_name(DType t) {
  switch (t) {
    case DType::f32: return "Float";
    case DType::f64: return "Double";
    case DType::i64: return "Long";
    case DType::b8: return "Bool";
  }
  return "?";
}
const char* c_type_name(DType t) {
  switch (t) {
    case DType::f32: return "float";
    case DType::f64: return "double";
    case DType::i64: return "long int";
    case DType::b8: return "bool";
  }
  return "?";
}

// PyTorch's canCast: floating → integral and anything but bool → bool are refused.
bool can_cast(DType from, DType to) {
  if (is_float(from) && !is_float(to)) return false;
  if (from != DType::b8 && to == DType::b8) return false;
  return true;
}

void check_dtype(const OutSpec& s, OutRule rule, const Tensor& result, const Tensor& out) {
  const DType r = result->dtype();
  const DType o = out->dtype();
  switch (rule) {
    case OutRule::Any:
    case OutRule::DTypeOf:
      return;
    case OutRule::Cast:
    case OutRule::Same:
      if (!can_cast(r, o))
        throw std::runtime_error(std::string("result type ") + scalar_type_name(r) +
                                 " can't be cast to the desired output type " + scalar_type_name(o));
      if (rule == OutRule::Same && r != o)
        throw std::runtime_error(std::string("Found dtype ") + scalar_type_name(o) +
                                 " but expected " + scalar_type_name(r));
      return;
    case OutRule::CatCast:
      if (!can_cast(r, o))
        throw py::type_error(s.name + "(): input types can't be cast to the desired output type " +
                             scalar_type_name(o));
      return;
    case OutRule::Exact:
    case OutRule::Long: {
      const DType want = rule == OutRule::Long ? DType::i64 : r;
      if (o != want)
        throw std::runtime_error(std::string("Expected out tensor to have dtype ") +
                                 c_type_name(want) + ", but got " + c_type_name(o) + " instead");
      return;
    }
  }
}

// Note [out= arguments], step 4.
void resize_out(const OutSpec& s, const Tensor& out, const Shape& shape) {
  const std::string op = s.name + "(): ";
  const std::shared_ptr<Storage>& st = out->storage();
  const char* why = nullptr;
  if (out->is_view() || st.use_count() > 1 || st->owner || out->offset() != 0)
    why = "it shares its memory with another tensor or array (a view, .data, .numpy(), "
          "from_numpy or detach()), which tapegrad cannot resize under them";
  else if (!out->is_leaf() || out->has_grad())
    why = "it carries autograd history or a .grad";
  if (why)
    throw std::runtime_error(op + "out= has shape " + shape_str(out->shape()) +
                             " but the result has shape " + shape_str(shape) +
                             ", and out cannot be resized: " + why +
                             ". Pass an out of shape " + shape_str(shape) + ".");
  if (out->numel() > 0) {
    const std::string msg =
        "An output with one or more elements was resized since it had shape " +
        shape_str(out->shape()) + ", which does not match the required output shape " +
        shape_str(shape) + ". This behavior is deprecated (as in PyTorch), and in the future "
        "outputs will not be resized unless they have zero elements. To reuse a buffer of "
        "another shape, pass one with zero elements (tapegrad.empty(0)).";
    if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
  }
  // A replay could not resize again (the next call would find the new shape): not captured.
  if (capture::Recorder* r = capture::active())
    r->refuse(op + "out= resized its tensor, which a replay cannot repeat");
  Tensor fresh = empty(shape, out->dtype());
  fresh->storage()->version = out->version() + 1;  // a graph that saved out notices the change
  out->set_data(fresh);
}

void write_one(const OutSpec& s, OutRule rule, const Tensor& result, const Tensor& out) {
  check_dtype(s, rule, result, out);
  if (out->shape() != result->shape()) resize_out(s, out, result->shape());
  capture::call(&copy_, out, result);
}

bool requires_grad_in(py::handle h, int depth = 0) {
  if (const Tensor* t = tensor_ptr(h)) return (*t)->requires_grad();
  if (depth == 0 && (PyList_Check(h.ptr()) || PyTuple_Check(h.ptr())))
    for (py::handle e : h)
      if (requires_grad_in(e, 1)) return true;
  return false;
}

std::string type_name(py::handle h) {
  return is_tensor(h) ? "Tensor" : Py_TYPE(h.ptr())->tp_name;
}

// out as given: one tensor, or a tuple or list of tensors.
std::vector<Tensor> out_tensors(const OutSpec& s, py::handle out) {
  if (const Tensor* t = tensor_ptr(out)) return {*t};
  if (PyTuple_Check(out.ptr()) || PyList_Check(out.ptr())) {
    std::vector<Tensor> v;
    for (py::handle e : out) {
      const Tensor* t = tensor_ptr(e);
      if (!t)
        throw py::type_error(s.name + "(): argument 'out' must be tuple of Tensors, not tuple "
                             "containing " + type_name(e));
      v.push_back(*t);
    }
    if (!s.tuple_rules.empty()) return v;
  }
  throw py::type_error(s.name + "(): argument 'out' must be " +
                       (s.has_tensor ? "Tensor" : "tuple of Tensors") + ", not " + type_name(out));
}

using Keywords = std::vector<std::pair<py::str, py::object>>;
using Run = py::object (*)(void* ctx, const std::vector<py::object>& pos, const Keywords& kw);

bool has_keyword(const Keywords& kw, std::string_view name) {
  for (const auto& [k, v] : kw)
    if (std::string_view(PyUnicode_AsUTF8(k.ptr())) == name) return true;
  return false;
}

// Note [out= arguments]: steps 1–5 for one call.
py::object call_with_out(const OutSpec& s, std::vector<py::object> pos, Keywords kw,
                         py::handle out, Run run, void* ctx) {
  const std::vector<Tensor> outs = out_tensors(s, out);
  if (s.dim_position >= 0 && static_cast<int>(pos.size()) <= s.dim_position &&
      !has_keyword(kw, "dim") && !has_keyword(kw, "axis"))
    throw py::type_error(s.name + "() received an invalid combination of arguments: out= is "
                         "accepted only with dim, as in PyTorch (" + s.name +
                         "(input, dim, keepdim=False, *, dtype=None, out=None))");
  bool mark_requires_grad = false;
  if (s.has_tensor && s.tensor_rule == OutRule::DTypeOf) {
    const DType od = outs[0]->dtype();
    bool given = false;
    for (auto it = kw.begin(); it != kw.end();) {
      const std::string_view key = PyUnicode_AsUTF8(it->first.ptr());
      if (key == "requires_grad") {
        mark_requires_grad = PyObject_IsTrue(it->second.ptr()) == 1;
        it = kw.erase(it);
        continue;
      }
      if (key == "dtype" && !it->second.is_none()) {
        given = true;
        const std::optional<DType> d = parse_dtype(it->second);
        if (d && *d != od)
          throw std::runtime_error(std::string("dtype ") + scalar_type_name(*d) +
                                   " does not match dtype of out parameter (" +
                                   scalar_type_name(od) + ")");
      }
      ++it;
    }
    if (!given) kw.emplace_back(py::str("dtype"), py::cast(od));
  }
  if (s.differentiable && grad_enabled()) {
    bool rg = false;
    for (const py::object& a : pos) rg = rg || requires_grad_in(a);
    for (const auto& [k, v] : kw) rg = rg || requires_grad_in(v);
    for (const Tensor& o : outs) rg = rg || o->requires_grad();
    if (rg)
      throw std::runtime_error(s.name + "(): functions with out=... arguments don't support "
                               "automatic differentiation, but one of the arguments requires grad.");
  }
  py::object result = run(ctx, pos, kw);
  if (const Tensor* r = tensor_ptr(result)) {
    if (!s.has_tensor || !is_tensor(out))
      throw py::type_error(s.name + "(): argument 'out' must be Tensor, not " + type_name(out));
    write_one(s, s.tensor_rule, *r, outs[0]);
    if (mark_requires_grad) outs[0]->set_requires_grad(true);
    return py::reinterpret_borrow<py::object>(out);
  }
  if (!PyTuple_Check(result.ptr()))
    throw std::logic_error(s.name + "(): out= registered for a function whose result is neither "
                           "a tensor nor a tuple");
  if (s.tuple_rules.empty())  // a form without out= (where(condition) → a tuple of indices)
    throw py::type_error(s.name + "() got an unexpected keyword argument 'out' (this form of " +
                         s.name + " has none, as in PyTorch)");
  const size_t n = static_cast<size_t>(PyTuple_GET_SIZE(result.ptr()));
  if (is_tensor(out))
    throw py::type_error(s.name + "(): argument 'out' must be tuple of Tensors, not Tensor");
  if (outs.size() != n)
    throw py::type_error("expected tuple of " + std::to_string(n) + " elements but got " +
                         std::to_string(outs.size()));
  for (size_t i = 0; i < n; ++i) {
    const Tensor* r = tensor_ptr(PyTuple_GET_ITEM(result.ptr(), static_cast<ssize_t>(i)));
    if (!r) throw std::logic_error(s.name + "(): out= with a result that holds a non-tensor");
    write_one(s, s.tuple_rules[std::min(i, s.tuple_rules.size() - 1)], *r, outs[i]);
  }
  // The result's own type (torch.return_types-like named tuple) over the out tensors.
  py::tuple items(n);
  for (size_t i = 0; i < n; ++i) items[i] = py::reinterpret_borrow<py::object>(out[py::int_(i)]);
  if (PyTuple_CheckExact(result.ptr())) return std::move(items);
  return py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(Py_TYPE(result.ptr())))(*items);
}

// ----- the guard's path: a vectorcall with `out` among its keywords -----
struct GuardCall {
  PyObject* self;
  PyObject* (*inner)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
};
py::object run_guarded(void* ctx, const std::vector<py::object>& pos, const Keywords& kw) {
  const auto* g = static_cast<const GuardCall*>(ctx);
  std::vector<PyObject*> args;
  args.reserve(pos.size() + kw.size());
  for (const py::object& a : pos) args.push_back(a.ptr());
  py::tuple names(kw.size());
  for (size_t i = 0; i < kw.size(); ++i) {
    names[i] = kw[i].first;
    args.push_back(kw[i].second.ptr());
  }
  PyObject* r = g->inner(g->self, args.data(), static_cast<Py_ssize_t>(pos.size()),
                         kw.empty() ? nullptr : names.ptr());
  if (!r) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

// ----- the Python path: fn(*args, **kwargs) -----
py::object run_python(void* ctx, const std::vector<py::object>& pos, const Keywords& kw) {
  py::tuple args(pos.size());
  for (size_t i = 0; i < pos.size(); ++i) args[i] = pos[i];
  py::dict kwargs;
  for (const auto& [k, v] : kw) kwargs[k] = v;
  return (*static_cast<py::handle*>(ctx))(*args, **kwargs);
}

}  // namespace

const void* out_spec_for(PyObject* self) {
  auto it = g_by_capsule.find(self);
  return it == g_by_capsule.end() ? nullptr : it->second;
}

PyObject* dispatch_with_out(const void* spec, PyObject* self, PyObject* const* args,
                            Py_ssize_t nargsf,
                            PyObject* kwnames,
                            PyObject* (*inner)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*)) {
  const Py_ssize_t n = PyVectorcall_NARGS(nargsf);
  const Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
  Py_ssize_t at = -1;
  for (Py_ssize_t i = 0; i < nkw; ++i)
    if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "out") == 0) at = i;
  if (at < 0) return inner(self, args, nargsf, kwnames);
  try {
    std::vector<py::object> pos;
    for (Py_ssize_t i = 0; i < n; ++i) pos.push_back(py::reinterpret_borrow<py::object>(args[i]));
    Keywords kw;
    for (Py_ssize_t i = 0; i < nkw; ++i)
      if (i != at)
        kw.emplace_back(py::reinterpret_borrow<py::str>(PyTuple_GET_ITEM(kwnames, i)),
                        py::reinterpret_borrow<py::object>(args[n + i]));
    py::handle out = args[n + at];
    GuardCall g{self, inner};
    if (out.is_none()) return run_guarded(&g, pos, kw).release().ptr();
    return call_with_out(*static_cast<const OutSpec*>(spec), std::move(pos), std::move(kw), out,
                         &run_guarded, &g).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (const std::exception& e) {
    // The module's translators map the engine's errors to Python's; this path runs outside
    // pybind11's dispatcher, so it does the same mapping for the errors it can raise.
    PyObject* type = PyExc_RuntimeError;
    if (dynamic_cast<const tapegrad::TypeError*>(&e)) type = PyExc_TypeError;
    else if (dynamic_cast<const tapegrad::ValueError*>(&e)) type = PyExc_ValueError;
    else if (dynamic_cast<const tapegrad::IndexError*>(&e)) type = PyExc_IndexError;
    else if (dynamic_cast<const std::bad_alloc*>(&e)) type = PyExc_MemoryError;
    PyErr_SetString(type, e.what());
  }
  return nullptr;
}

void bind_out(py::module_& m) {
  // Called by tapegrad._out for every registered function (the registry lives there).
  m.def("_enable_out", [](const std::string& name, py::object fn, py::object tensor_rule,
                          std::vector<std::string> tuple_rules, int dim_position,
                          bool differentiable) {
        OutSpec s;
        s.name = name;
        s.has_tensor = !tensor_rule.is_none();
        if (s.has_tensor) s.tensor_rule = parse_rule(tensor_rule.cast<std::string>());
        for (const std::string& r : tuple_rules) s.tuple_rules.push_back(parse_rule(r));
        s.dim_position = dim_position;
        s.differentiable = differentiable;
        const OutSpec* p = &(g_specs[name] = std::move(s));
        PyObject* f = fn.ptr();
        if (PyCFunction_Check(f)) {
          g_by_capsule[PyCFunction_GET_SELF(f)] = p;
          return true;
        }
        return false;  // a Python function: _out.py wraps it
      }, py::arg("name"), py::arg("fn"), py::arg("tensor_rule"), py::arg("tuple_rules"),
      py::arg("dim_position"), py::arg("differentiable"));
  m.def("_call_with_out", [](const std::string& name, py::handle fn, py::tuple args,
                             py::dict kwargs, py::handle out) {
        auto it = g_specs.find(name);
        if (it == g_specs.end()) throw std::logic_error("_call_with_out: " + name + " takes no out=");
        std::vector<py::object> pos;
        for (py::handle a : args) pos.push_back(py::reinterpret_borrow<py::object>(a));
        Keywords kw;
        for (auto [k, v] : kwargs)
          kw.emplace_back(py::reinterpret_borrow<py::str>(k), py::reinterpret_borrow<py::object>(v));
        capture::pure();  // the calls it makes record themselves
        return call_with_out(it->second, std::move(pos), std::move(kw), out, &run_python, &fn);
      }, py::arg("name"), py::arg("fn"), py::arg("args"), py::arg("kwargs"), py::arg("out"));
}

}  // namespace tapegrad::bind

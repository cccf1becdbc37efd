// Between the files of tapegrad._core (the only files that include pybind11):
//   convert.cpp   Python values ↔ tensors, shapes, dims, dtypes, index keys, NumPy
//   tensor.cpp    the Tensor class: properties, conversions, Python protocols, indexing, in-place
//   ops.cpp       every op of tapegrad/ops.def, bound once: the UNARY/BINARY rows from the table,
//                 the MANUAL rows by hand; methods, functions and operators as the row says
//   module.cpp    the module: creation, autograd, optimizers, kernels, and PYBIND11_MODULE
// They translate and nothing else: defaults, dims and composed formulas live in the engine.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tensor.h"

// Note [None is not a tensor]
// pybind11's holder caster turns None into an empty shared_ptr, so a `const Tensor&` parameter
// would hand C++ a null tensor and the first dereference would crash. The caster below refuses
// None for Tensor, so a None where a tensor is required fails overload resolution (and the guard
// installed by guard_arguments turns that into a TypeError naming the function and the
// argument, as PyTorch words it). A parameter that may be None (bias=None, weight=None,
// gradient=None) is declared `MaybeTensor`, which reads None as the empty tensor the engine
// takes for "absent".
namespace tapegrad::bind {
struct MaybeTensor {
  Tensor t;
  operator const Tensor&() const { return t; }  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return static_cast<bool>(t); }
};
}  // namespace tapegrad::bind

// Note [strided arguments]
// Ops read contiguous memory (Note [views] in cpp/src/ops/view.cpp). A `const Tensor&`
// parameter therefore receives a strided view as its contiguous copy (a recorded Clone, and
// an instruction when capturing): every binding is correct for views without knowing of
// them. A binding that must see the tensor itself — view ops, in-place writes, metadata,
// numpy(), and whatever keys on the tensor's identity: x.float() returning x, zero_grad,
// hooks, a custom Function's inputs and saved tensors, p.data = v — declares the parameter
// `Strided` (a copy there is a silent no-op: tests/test_views_sweep.py calls every entry
// point with views and compares with contiguous copies).
namespace tapegrad::bind {
struct Strided {
  Tensor t;
  operator const Tensor&() const { return t; }  // NOLINT(google-explicit-constructor)
  TensorImpl* operator->() const { return t.get(); }
};
// Tensors whose identity matters, strides and all (autograd's inputs, a custom Function's
// outputs); None elements are null.
struct StridedList {
  std::vector<Tensor> v;
  operator const std::vector<Tensor>&() const { return v; }  // NOLINT(google-explicit-constructor)
};
// A contiguous copy of t (the argument rule above), recorded when capturing.
Tensor contiguous_arg(const Tensor& t);
// x.to(dtype): the tensor itself when it has that dtype already (a view stays the view, as
// PyTorch's `w.T.float() is w.T`), else a converted contiguous copy.
Tensor cast_strided(const Strided& x, DType dtype);
}  // namespace tapegrad::bind

namespace pybind11::detail {
template <>
class type_caster<std::shared_ptr<tapegrad::TensorImpl>>
    : public copyable_holder_caster<tapegrad::TensorImpl, std::shared_ptr<tapegrad::TensorImpl>> {
  using Base = copyable_holder_caster<tapegrad::TensorImpl, std::shared_ptr<tapegrad::TensorImpl>>;

 public:
  bool load(handle src, bool convert) {
    if (src.is_none()) return false;  // Note [None is not a tensor]
    if (!Base::load(src, convert)) return false;
    if (!this->shared_ptr_storage->is_contiguous()) {  // Note [strided arguments]
      this->shared_ptr_storage = tapegrad::bind::contiguous_arg(this->shared_ptr_storage);
      this->value = this->shared_ptr_storage.get();
    }
    return true;
  }
  // The tensor as it is (Strided parameters).
  bool load_strided(handle src, bool convert) {
    if (src.is_none()) return false;
    return Base::load(src, convert);
  }
  const tapegrad::Tensor& loaded() const { return this->shared_ptr_storage; }
};

// A list of tensors may hold None for "absent" (optimizer state not created yet); the engine
// checks the elements it needs (cat: "expected a Tensor, got None"). Any sequence but str/bytes.
template <>
struct type_caster<std::vector<tapegrad::Tensor>> {
  PYBIND11_TYPE_CASTER(std::vector<tapegrad::Tensor>, const_name("list[tapegrad._core.Tensor]"));
  bool load(handle src, bool convert) {
    if (!isinstance<sequence>(src) || isinstance<bytes>(src) || isinstance<str>(src)) return false;
    auto seq = reinterpret_borrow<sequence>(src);
    value.clear();
    value.reserve(seq.size());
    for (object o : seq) {
      if (o.is_none()) {
        value.emplace_back();
        continue;
      }
      make_caster<tapegrad::Tensor> inner;
      if (!inner.load(o, convert)) return false;
      value.push_back(cast_op<tapegrad::Tensor>(std::move(inner)));
    }
    return true;
  }
  static handle cast(const std::vector<tapegrad::Tensor>& v, return_value_policy policy, handle parent) {
    list out(v.size());
    size_t i = 0;
    for (const tapegrad::Tensor& t : v) {
      object o = reinterpret_steal<object>(make_caster<tapegrad::Tensor>::cast(t, policy, parent));
      if (!o) return handle();
      PyList_SET_ITEM(out.ptr(), static_cast<ssize_t>(i++), o.release().ptr());
    }
    return out.release();
  }
};

template <>
struct type_caster<tapegrad::bind::Strided> {
  PYBIND11_TYPE_CASTER(tapegrad::bind::Strided, const_name("tapegrad._core.Tensor"));
  bool load(handle src, bool convert) {
    make_caster<tapegrad::Tensor> inner;
    if (!inner.load_strided(src, convert)) return false;
    value.t = inner.loaded();
    return true;
  }
  static handle cast(const tapegrad::bind::Strided& v, return_value_policy policy, handle parent) {
    return make_caster<tapegrad::Tensor>::cast(v.t, policy, parent);
  }
};

template <>
struct type_caster<tapegrad::bind::StridedList> {
  PYBIND11_TYPE_CASTER(tapegrad::bind::StridedList, const_name("list[tapegrad._core.Tensor]"));
  bool load(handle src, bool convert) {
    if (!isinstance<sequence>(src) || isinstance<bytes>(src) || isinstance<str>(src)) return false;
    auto seq = reinterpret_borrow<sequence>(src);
    value.v.clear();
    for (object o : seq) {
      if (o.is_none()) {
        value.v.emplace_back();
        continue;
      }
      make_caster<tapegrad::Tensor> inner;
      if (!inner.load_strided(o, convert)) return false;
      value.v.push_back(inner.loaded());
    }
    return true;
  }
  static handle cast(const tapegrad::bind::StridedList& v, return_value_policy policy, handle parent) {
    return make_caster<std::vector<tapegrad::Tensor>>::cast(v.v, policy, parent);
  }
};

template <>
struct type_caster<tapegrad::bind::MaybeTensor> {
  PYBIND11_TYPE_CASTER(tapegrad::bind::MaybeTensor, const_name("tapegrad._core.Tensor | None"));
  bool load(handle src, bool convert) {
    if (src.is_none()) {
      value.t = nullptr;
      return true;
    }
    make_caster<tapegrad::Tensor> inner;
    if (!inner.load(src, convert)) return false;
    value.t = cast_op<tapegrad::Tensor>(std::move(inner));
    return true;
  }
  static handle cast(const tapegrad::bind::MaybeTensor& v, return_value_policy policy, handle parent) {
    return make_caster<tapegrad::Tensor>::cast(v.t, policy, parent);
  }
};
}  // namespace pybind11::detail

namespace tapegrad::bind {

namespace py = pybind11;
using TensorClass = py::class_<TensorImpl, std::shared_ptr<TensorImpl>>;

// The Python type of Tensor, set when the class is registered. An operand of this type is read
// straight from its holder: py::isinstance + cast look the C++ type up by name in pybind11's
// registry twice, a measurable share of a tiny op.
extern PyTypeObject* g_tensor_type;
// Python types registered by the package: tapegrad.Size and the (values, indices) named tuples
// that max/min return.
extern py::object g_size_type;
extern py::object g_max_type;
extern py::object g_min_type;

// Tensor's arithmetic operators as number slots (Note [operator fast path], fast_ops.cpp).
void install_fast_operators(py::module_& m, py::handle tensor_type);

// The tensor a Python object holds, or null when it is not a tensor. Valid while `h` lives.
inline const Tensor* tensor_ptr(py::handle h) {
  PyObject* o = h.ptr();
  if (Py_TYPE(o) != g_tensor_type && !PyObject_TypeCheck(o, g_tensor_type)) return nullptr;
  return &reinterpret_cast<py::detail::instance*>(o)->get_value_and_holder().holder<Tensor>();
}
inline bool is_tensor(py::handle h) { return tensor_ptr(h) != nullptr; }
inline py::object not_implemented() {
  return py::reinterpret_borrow<py::object>(Py_NotImplemented);
}

// ----- numbers and dtypes -----
int64_t to_i64(py::handle h);
// A Python int (or anything with __index__) as int64: TypeError naming op and argument for
// other types, ValueError beyond int64.
int64_t int_arg(py::handle h, const char* op, const char* name);
double to_f64(py::handle h);
double scalar_arg(py::handle h, const char* op);  // a number or a one-element tensor
// The same, kept exact: Python ints (and bools, and int64/bool tensors) as int64, floats as
// double (Note [exact scalars] in cpp/src/tensor.cpp). An int beyond int64 becomes the
// nearest double, which an int64 destination then refuses.
Scalar scalar_value(py::handle h, const char* op);
// None → nullopt; tapegrad dtypes, Python's float/int/bool and NumPy dtypes → DType.
std::optional<DType> parse_dtype(py::handle h);

// ----- data -----
Tensor from_numpy(py::array a);                     // shares memory
py::array to_numpy(const Tensor& t, bool check_grad);  // shares memory
// Nested lists, numbers, NumPy arrays and scalars, tensors → a new tensor (a copy).
Tensor tensor_from_py(py::handle data, std::optional<DType> dtype, const char* op = "tensor");
Tensor as_tensor_from_py(py::handle data, std::optional<DType> dtype);  // shares when it can

// ----- operands -----
// A Python operand next to tensor `like`: tensors pass through; Python numbers become 0-d
// tensors of the dtype PyTorch gives the result (scalar_like); lists and arrays are converted.
// Null when the operand is not something tapegrad can combine (→ NotImplemented).
Tensor operand(py::handle h, const Tensor& like);
// Both operands of a binary op, either of which may be a Python number; TypeError otherwise.
std::pair<Tensor, Tensor> operands(py::handle a, py::handle b, const char* op);

// generator=None → null (the default generator); a tapegrad.Generator → it; TypeError otherwise.
Generator* generator_arg(py::handle h, const char* op);

// ----- shapes, dims, keys -----
Shape shape_from(py::args args, const char* op);  // f(2, 3) or f((2, 3))
Shape shape_arg(py::handle h, const char* op);
std::vector<int64_t> dims_from(py::handle dim, const char* op);  // None, int or sequence
py::object dim_or_axis(py::object dim, py::object axis, const char* op);  // NumPy's alias
bool keepdim_or_keepdims(bool keepdim, py::handle keepdims);
std::vector<IndexItem> items_from(py::handle key);
py::object size_of(const Tensor& t);  // tapegrad.Size

// ----- registration -----
void bind_tensor(TensorClass& T);
void bind_ops(py::module_& m, TensorClass& T);
void bind_functions(py::module_& m);
// Every pybind11 function of the module, its submodules and classes: an overload-resolution
// failure becomes PyTorch's TypeError ("add(): argument 'other' (position 2) must be Tensor,
// not NoneType"), never pybind11's "incompatible function arguments". Call last.
void guard_arguments(py::module_& m);
void bind_custom(py::module_& m, TensorClass& T);  // Functions and hooks (function.cpp)
void bind_compile(py::module_& m);  // tapegrad.compile's callable and guards (compile.cpp)
// Sets the Python error for the C++ exception `p` as every binding's would be (the engine's
// exception types first, then pybind11's own mapping); for code that calls into the engine
// outside pybind11's dispatcher (module.cpp).
void set_python_error(std::exception_ptr p);
// out= (Note [out= arguments], out.cpp): the registry's bindings, and the guard's route for a
// call with keywords to a registered function (spec: out_spec_for's answer, null if none).
void bind_out(py::module_& m);
const void* out_spec_for(PyObject* self);
PyObject* dispatch_with_out(const void* spec, PyObject* self, PyObject* const* args, Py_ssize_t nargsf,
                            PyObject* kwnames,
                            PyObject* (*inner)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*));

}  // namespace tapegrad::bind

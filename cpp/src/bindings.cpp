// tapegrad._core: the only file that includes pybind11. It translates — Python objects to
// tensors, shapes, dims and index items; C++ exceptions to Python ones — and nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "tapegrad/kernels.h"
#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"
#include "tapegrad/tensor.h"

namespace py = pybind11;
using namespace tapegrad;

#ifndef TAPEGRAD_VERSION
#define TAPEGRAD_VERSION "0.0.0"
#endif

// An empty index list (x[[]]) parses as float32; indices need int64.
Tensor convert_for_index(const Tensor& t);

namespace {

int64_t to_i64(py::handle h) {
  PyObject* idx = PyNumber_Index(h.ptr());
  if (!idx) throw py::error_already_set();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
  Py_DECREF(idx);
  if (overflow) throw py::value_error("integer too large for int64");
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

double to_f64(py::handle h) {
  const double v = PyFloat_AsDouble(h.ptr());
  if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

py::object g_size_type;  // tapegrad.Size, registered by the Python package

// ----- dtypes -------------------------------------------------------------------------------
std::optional<DType> parse_dtype(const py::handle& h) {
  if (h.is_none()) return std::nullopt;
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::f64;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::i64;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::b8;
  py::object np = py::module_::import("numpy");
  try {
    py::object dt = np.attr("dtype")(h);
    const std::string kind = py::str(dt.attr("kind"));
    const int size = dt.attr("itemsize").cast<int>();
    if (kind == "f" && size == 4) return DType::f32;
    if (kind == "f" && size == 8) return DType::f64;
    if (kind == "i" || kind == "u") return DType::i64;
    if (kind == "b") return DType::b8;
  } catch (const py::error_already_set&) {
  }
  throw py::type_error("unsupported dtype " + py::repr(h).cast<std::string>() +
                       "; tapegrad has float32, float64, int64 and bool");
}

DType np_to_dtype(const py::array& a, bool& exact) {
  const char kind = a.dtype().kind();
  const auto size = a.dtype().itemsize();
  exact = true;
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b') return DType::b8;
  exact = false;
  if (kind == 'f') return DType::f32;  // float16 and friends
  if (kind == 'i' || kind == 'u') return DType::i64;
  throw py::type_error("can't convert a NumPy array of dtype " + py::str(a.dtype()).cast<std::string>() +
                       "; tapegrad supports float32, float64, int64 and bool");
}

const char* np_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
  }
  return "float32";
}

// ----- NumPy interop --------------------------------------------------------------------------
Tensor from_numpy(py::array a) {
  bool exact;
  const DType dt = np_to_dtype(a, exact);
  if (!exact)
    throw py::type_error("from_numpy: NumPy dtype " + py::str(a.dtype()).cast<std::string>() +
                         " has no tapegrad equivalent to share memory with; use tapegrad.tensor(a) "
                         "to copy, or a.astype(...) first");
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("from_numpy: the array of shape " +
                          py::str(py::tuple(a.attr("shape"))).cast<std::string>() +
                          " and strides " +
                          py::str(py::tuple(a.attr("strides"))).cast<std::string>() +
                          " is not C-contiguous (use np.ascontiguousarray)");
  Shape shape(a.shape(), a.shape() + a.ndim());
  py::object* keep = new py::object(a);
  std::shared_ptr<void> owner(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  auto st = Storage::borrow(const_cast<void*>(a.data()), static_cast<size_t>(a.nbytes()), owner);
  return std::make_shared<TensorImpl>(st, 0, shape, dt);
}

py::array to_numpy(const Tensor& t, bool check_grad) {
  if (check_grad && t->requires_grad())
    throw std::runtime_error("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  std::vector<py::ssize_t> shape(t->shape().begin(), t->shape().end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t acc = static_cast<py::ssize_t>(itemsize(t->dtype()));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = acc;
    acc *= std::max<py::ssize_t>(shape[i], 1);
  }
  // The array's base is a detached alias, so it keeps the storage (not the graph) alive.
  py::object base = py::cast(detach(t));
  return py::array(py::dtype(np_name(t->dtype())), shape, strides, t->raw(), base);
}

// ----- nested Python data → tensor -------------------------------------------------------------
struct Parsed {
  Shape shape;
  int leaf_depth = -1;
  int kind = 0;  // 0 bool, 1 int, 2 float
  std::vector<double> f;
  std::vector<int64_t> i;
  bool any = false;
};

void push_value(Parsed& p, int kind, double fv, int64_t iv) {
  if (kind == 2 && p.kind < 2) {
    for (int64_t v : p.i) p.f.push_back(static_cast<double>(v));
    p.i.clear();
  }
  p.kind = std::max(p.kind, kind);
  if (p.kind == 2) p.f.push_back(kind == 2 ? fv : static_cast<double>(iv));
  else p.i.push_back(iv);
}

void set_dim(Parsed& p, int depth, int64_t len, const char* op) {
  if (static_cast<int>(p.shape.size()) == depth) {
    if (p.leaf_depth >= 0 && depth >= p.leaf_depth)
      throw py::value_error(std::string(op) + ": ragged nested sequence (a sequence appears where a number was found before, at depth " + std::to_string(depth) + ")");
    p.shape.push_back(len);
  } else if (p.shape[depth] != len) {
    throw py::value_error(std::string(op) + ": ragged nested sequence: expected a sequence of length " +
                          std::to_string(p.shape[depth]) + " at depth " + std::to_string(depth) +
                          ", got length " + std::to_string(len));
  }
}

void leaf_at(Parsed& p, int depth, const char* op) {
  if (p.leaf_depth < 0) {
    if (depth < static_cast<int>(p.shape.size()))
      throw py::value_error(std::string(op) + ": ragged nested sequence (a number appears where a sequence was found before, at depth " + std::to_string(depth) + ")");
    p.leaf_depth = depth;
  } else if (p.leaf_depth != depth) {
    throw py::value_error(std::string(op) + ": ragged nested sequence (numbers found at depths " +
                          std::to_string(p.leaf_depth) + " and " + std::to_string(depth) + ")");
  }
}

void walk_tensor_values(Parsed& p, const Tensor& t) {
  const int kind = is_float(t->dtype()) ? 2 : (t->dtype() == DType::i64 ? 1 : 0);
  for (int64_t j = 0; j < t->numel(); ++j) {
    switch (t->dtype()) {
      case DType::f32: push_value(p, kind, t->data<float>()[j], 0); break;
      case DType::f64: push_value(p, kind, t->data<double>()[j], 0); break;
      case DType::i64: push_value(p, kind, 0, t->data<int64_t>()[j]); break;
      case DType::b8: push_value(p, kind, 0, t->data<uint8_t>()[j]); break;
    }
  }
}

void walk(Parsed& p, py::handle h, int depth, const char* op) {
  if (depth > 64) throw py::value_error(std::string(op) + ": nesting too deep");
  PyObject* o = h.ptr();
  if (PyBool_Check(o)) {
    leaf_at(p, depth, op);
    push_value(p, 0, 0, o == Py_True);
    return;
  }
  if (PyLong_Check(o)) {
    leaf_at(p, depth, op);
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) throw py::value_error(std::string(op) + ": integer " + py::str(h).cast<std::string>() + " is too large for int64");
    push_value(p, 1, 0, v);
    return;
  }
  if (PyFloat_Check(o)) {
    leaf_at(p, depth, op);
    push_value(p, 2, PyFloat_AS_DOUBLE(o), 0);
    return;
  }
  if (py::isinstance<TensorImpl>(h)) {
    Tensor t = h.cast<Tensor>();
    if (t->numel() == 1 && t->dim() <= 1) {
      // One-element tensors inside lists count as numbers (PyTorch does the same).
      leaf_at(p, depth, op);
      walk_tensor_values(p, t);
      return;
    }
    for (int64_t d = 0; d < t->dim(); ++d) set_dim(p, depth + static_cast<int>(d), t->shape()[d], op);
    leaf_at(p, depth + static_cast<int>(t->dim()), op);
    walk_tensor_values(p, t);
    return;
  }
  if (py::isinstance<py::array>(h)) {
    py::array a = py::reinterpret_borrow<py::array>(h);
    if (a.ndim() == 0) {
      walk(p, a.attr("item")(), depth, op);
      return;
    }
    py::list l = a.attr("tolist")();
    walk(p, l, depth, op);
    return;
  }
  // NumPy scalars and other numbers.
  if (PyObject_HasAttrString(o, "dtype") && PyObject_HasAttrString(o, "item") && !PySequence_Check(o)) {
    walk(p, h.attr("item")(), depth, op);
    return;
  }
  if (PyUnicode_Check(o) || PyBytes_Check(o) || !PySequence_Check(o)) {
    if (PyNumber_Check(o) && !PySequence_Check(o)) {
      leaf_at(p, depth, op);
      push_value(p, 2, to_f64(h), 0);
      return;
    }
    throw py::type_error(std::string(op) + ": could not convert an object of type '" +
                         std::string(Py_TYPE(o)->tp_name) + "' to a number");
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(h);
  const int64_t n = static_cast<int64_t>(py::len(seq));
  set_dim(p, depth, n, op);
  for (int64_t j = 0; j < n; ++j) walk(p, seq[j], depth + 1, op);
}

Tensor tensor_from_py(py::handle data, std::optional<DType> dtype, const char* op = "tensor") {
  if (py::isinstance<TensorImpl>(data)) {
    Tensor t = data.cast<Tensor>();
    Tensor c = clone_data(t);
    return dtype && *dtype != c->dtype() ? detach(cast(c, *dtype)) : c;
  }
  py::object np = py::module_::import("numpy");
  if (py::isinstance(data, np.attr("generic")))  // NumPy scalars keep their dtype
    return tensor_from_py(np.attr("asarray")(data), dtype, op);
  if (py::isinstance<py::array>(data)) {
    py::array a = py::reinterpret_borrow<py::array>(data);
    bool exact;
    const DType dt = np_to_dtype(a, exact);
    py::array c = py::module_::import("numpy").attr("ascontiguousarray")(a, np_name(dt));
    if (a.ndim() == 0) c = c.attr("reshape")(py::tuple());  // ascontiguousarray makes 0-d 1-d
    Tensor t = from_numpy(c);
    Tensor out = clone_data(t);
    if (dtype && *dtype != out->dtype()) {
      GradModeGuard off(false);
      out = cast(out, *dtype);
    }
    return out;
  }
  Parsed p;
  walk(p, data, 0, op);
  if (p.leaf_depth < 0) p.kind = 2;  // empty lists: float32
  DType dt = p.kind == 2 ? DType::f32 : (p.kind == 1 ? DType::i64 : DType::b8);
  if (dtype) dt = *dtype;
  Tensor t = empty(p.shape, dt);
  const int64_t n = t->numel();
  for (int64_t j = 0; j < n; ++j) {
    const double fv = p.kind == 2 ? p.f[j] : static_cast<double>(p.i[j]);
    switch (dt) {
      case DType::f32: t->data<float>()[j] = static_cast<float>(fv); break;
      case DType::f64: t->data<double>()[j] = fv; break;
      case DType::i64:
        t->data<int64_t>()[j] = p.kind == 2 ? static_cast<int64_t>(fv) : p.i[j];
        break;
      case DType::b8: t->data<uint8_t>()[j] = fv != 0; break;
    }
  }
  return t;
}

// ----- operands -------------------------------------------------------------------------------
// The Python type of Tensor, set when the class is registered. An operand of exactly this type
// is read straight from its holder: py::isinstance + cast look the C++ type up by name in
// pybind11's registry twice, a measurable share of a tiny op.
PyTypeObject* g_tensor_type = nullptr;

// A Python operand next to tensor `like`: tensors pass through; Python numbers become 0-d
// tensors of the dtype PyTorch gives the result; lists and arrays are converted. Returns
// nullptr when the operand is not something tapegrad can combine (→ NotImplemented).
Tensor operand(py::handle h, const Tensor& like) {
  PyObject* o = h.ptr();
  if (Py_TYPE(o) == g_tensor_type)
    return reinterpret_cast<py::detail::instance*>(o)->get_value_and_holder().holder<Tensor>();
  if (py::isinstance<TensorImpl>(h)) return h.cast<Tensor>();
  if (PyBool_Check(o)) return scalar_like(like, o == Py_True ? 1.0 : 0.0, false, true);
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) return scalar_like(like, to_f64(h), true);
    if (like->dtype() == DType::i64 || like->dtype() == DType::b8) {
      Tensor s = empty({}, scalar_result_dtype(like->dtype(), false));
      *s->data<int64_t>() = v;
      return s;
    }
    return scalar_like(like, static_cast<double>(v), false);
  }
  if (PyFloat_Check(o)) return scalar_like(like, PyFloat_AS_DOUBLE(o), true);
  if (py::isinstance<py::array>(h) || PyList_Check(o) || PyTuple_Check(o))
    return tensor_from_py(h, std::nullopt, "operand");
  if (PyObject_HasAttrString(o, "dtype") && PyObject_HasAttrString(o, "item")) {
    // NumPy scalar: behaves like the Python number it holds.
    return operand(h.attr("item")(), like);
  }
  return nullptr;
}

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

template <class F>
py::object binop(const Tensor& self, py::handle other, F f) {
  Tensor o = operand(other, self);
  if (!o) return not_implemented();
  return py::cast(f(self, o));
}

// ----- shapes and dims ------------------------------------------------------------------------
Shape shape_from(py::args args, const char* op) {
  Shape s;
  auto one = [&](py::handle h) {
    if (py::isinstance<TensorImpl>(h)) {
      Tensor t = h.cast<Tensor>();
      if (t->numel() != 1 || is_float(t->dtype()))
        throw py::type_error(std::string(op) + ": sizes must be integers");
      return static_cast<int64_t>(t->item_as_double());
    }
    if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()))
      throw py::type_error(std::string(op) + ": sizes must be integers, got " +
                           std::string(Py_TYPE(h.ptr())->tp_name));
    return to_i64(h);
  };
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr()) && !py::isinstance<TensorImpl>(args[0])) {
    if (!PySequence_Check(args[0].ptr()))
      throw py::type_error(std::string(op) + ": expected a shape (ints or a sequence of ints), got " +
                           std::string(Py_TYPE(args[0].ptr())->tp_name));
    for (py::handle h : py::reinterpret_borrow<py::sequence>(args[0])) s.push_back(one(h));
  } else {
    for (py::handle h : args) s.push_back(one(h));
  }
  return s;
}

Shape shape_arg(py::handle h, const char* op) {
  py::args a = py::make_tuple(h);
  return shape_from(a, op);
}

std::vector<int64_t> dims_from(py::handle dim, const char* op) {
  std::vector<int64_t> out;
  if (dim.is_none()) return out;
  if (PyIndex_Check(dim.ptr()) && !PyBool_Check(dim.ptr())) {
    out.push_back(to_i64(dim));
    return out;
  }
  if (PySequence_Check(dim.ptr())) {
    for (py::handle h : py::reinterpret_borrow<py::sequence>(dim)) out.push_back(to_i64(h));
    if (out.empty()) return out;
    return out;
  }
  throw py::type_error(std::string(op) + ": dim must be an int, a tuple of ints or None, got " +
                       std::string(Py_TYPE(dim.ptr())->tp_name));
}

// dim / keepdim with the NumPy aliases axis / keepdims.
struct DimArgs {
  py::object dim;
  bool keepdim;
  bool all;  // no dim given (reduce everything)
};
DimArgs dim_args(py::object dim, bool keepdim, py::object axis, py::object keepdims, const char* op) {
  if (!axis.is_none()) {
    if (!dim.is_none()) throw py::type_error(std::string(op) + ": got both dim and axis");
    dim = axis;
  }
  if (!keepdims.is_none()) keepdim = keepdims.cast<bool>();
  bool all = dim.is_none();
  if (!all && PySequence_Check(dim.ptr()) && py::len(dim) == 0) all = true;
  return {dim, keepdim, all};
}

// ----- index keys -----------------------------------------------------------------------------
IndexItem item_from(py::handle h) {
  IndexItem it;
  PyObject* o = h.ptr();
  if (o == Py_None) {
    it.kind = IndexItem::None;
  } else if (o == Py_Ellipsis) {
    it.kind = IndexItem::Ellipsis;
  } else if (PyBool_Check(o)) {
    it.kind = IndexItem::Tensor;
    it.t = full({}, o == Py_True ? 1.0 : 0.0, DType::b8);
  } else if (PyLong_Check(o)) {
    it.kind = IndexItem::Int;
    it.i = to_i64(h);
  } else if (PySlice_Check(o)) {
    it.kind = IndexItem::Slice;
    py::slice s = py::reinterpret_borrow<py::slice>(h);
    auto get = [&](const char* name, int64_t& v, bool& has) {
      py::object a = s.attr(name);
      has = !a.is_none();
      if (has) {
        if (!PyIndex_Check(a.ptr()) && !py::isinstance<TensorImpl>(a))
          throw py::type_error("slice indices must be integers or None");
        v = to_i64(a);
      }
    };
    get("start", it.start, it.has_start);
    get("stop", it.stop, it.has_stop);
    bool has_step;
    int64_t step = 1;
    get("step", step, has_step);
    it.step = has_step ? step : 1;
  } else if (py::isinstance<TensorImpl>(h)) {
    it.kind = IndexItem::Tensor;
    it.t = h.cast<Tensor>();
  } else if (py::isinstance<py::array>(h) || PyList_Check(o) || PyTuple_Check(o) || PyRange_Check(o)) {
    it.kind = IndexItem::Tensor;
    Tensor t = tensor_from_py(h, std::nullopt, "index");
    if (t->numel() == 0 && t->dtype() != DType::b8) t = convert_for_index(t);
    it.t = t;
  } else if (PyIndex_Check(o)) {
    it.kind = IndexItem::Int;
    it.i = to_i64(h);
  } else {
    throw py::index_error("only integers, slices (`:`), ellipsis (`...`), None and int64 or bool "
                          "tensors are valid indices (got " + std::string(Py_TYPE(o)->tp_name) + ")");
  }
  return it;
}

std::vector<IndexItem> items_from(py::handle key) {
  std::vector<IndexItem> items;
  if (PyTuple_Check(key.ptr())) {
    for (py::handle h : py::reinterpret_borrow<py::tuple>(key)) items.push_back(item_from(h));
  } else {
    items.push_back(item_from(key));
  }
  return items;
}

py::object size_of(const Tensor& t) {
  py::tuple tup(t->dim());
  for (int64_t i = 0; i < t->dim(); ++i) tup[i] = py::int_(t->shape()[i]);
  if (g_size_type) return g_size_type(tup);
  return std::move(tup);
}

double scalar_arg(py::handle h, const char* op) {
  if (py::isinstance<TensorImpl>(h)) return h.cast<Tensor>()->item_as_double();
  try {
    return to_f64(h);
  } catch (const py::error_already_set&) {
    throw py::type_error(std::string(op) + ": expected a number, got " + std::string(Py_TYPE(h.ptr())->tp_name));
  }
}

Tensor reduce_sum(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims, py::object dtype) {
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, "sum");
  Tensor r = sum(x, d.all ? std::vector<int64_t>{} : dims_from(d.dim, "sum"), d.keepdim);
  if (auto dt = parse_dtype(dtype)) r = cast(r, *dt);
  return r;
}

Tensor reduce_mean(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims, py::object dtype) {
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, "mean");
  Tensor xin = x;
  if (auto dt = parse_dtype(dtype)) xin = cast(x, *dt);
  return mean(xin, d.all ? std::vector<int64_t>{} : dims_from(d.dim, "mean"), d.keepdim);
}

py::object reduce_max_min(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims, bool is_max) {
  const char* op = is_max ? "max" : "min";
  // x.max(other_tensor) is maximum(x, other), as in PyTorch.
  if (py::isinstance<TensorImpl>(dim)) {
    Tensor o = dim.cast<Tensor>();
    return py::cast(is_max ? maximum(x, o) : minimum(x, o));
  }
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, op);
  if (d.all) return py::cast(is_max ? amax(x, {}, false) : amin(x, {}, false));
  const std::vector<int64_t> dims = dims_from(d.dim, op);
  if (dims.size() != 1) throw py::type_error(std::string(op) + ": dim must be a single int (use amax/amin for several dims)");
  auto r = is_max ? max_dim(x, dims[0], d.keepdim) : min_dim(x, dims[0], d.keepdim);
  return py::make_tuple(r.first, r.second);
}

Tensor amax_amin(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims, bool is_max) {
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, is_max ? "amax" : "amin");
  const auto dims = d.all ? std::vector<int64_t>{} : dims_from(d.dim, is_max ? "amax" : "amin");
  return is_max ? amax(x, dims, d.keepdim) : amin(x, dims, d.keepdim);
}

Tensor arg_max_min(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims, bool is_max) {
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, is_max ? "argmax" : "argmin");
  std::optional<int64_t> od;
  if (!d.dim.is_none()) od = to_i64(d.dim);
  return is_max ? argmax(x, od, d.keepdim) : argmin(x, od, d.keepdim);
}

Tensor lse(const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
  DimArgs d = dim_args(dim, keepdim, axis, keepdims, "logsumexp");
  return logsumexp(x, d.all ? std::vector<int64_t>{} : dims_from(d.dim, "logsumexp"), d.keepdim);
}

int64_t single_dim(py::object dim, py::object axis, const char* op) {
  if (!axis.is_none()) dim = axis;
  if (dim.is_none()) throw py::type_error(std::string(op) + ": missing the required argument dim");
  return to_i64(dim);
}

Tensor where3(const Tensor& cond, py::handle a, py::handle b) {
  Tensor ta = py::isinstance<TensorImpl>(a) ? a.cast<Tensor>() : Tensor{};
  Tensor tb = py::isinstance<TensorImpl>(b) ? b.cast<Tensor>() : Tensor{};
  if (!ta && !tb) {
    ta = operand(a, scalar_tensor(0, DType::f32));
    tb = operand(b, scalar_tensor(0, DType::f32));
  } else {
    if (!ta) ta = operand(a, tb);
    if (!tb) tb = operand(b, ta);
  }
  if (!ta || !tb) throw py::type_error("where: expected tensors or numbers for x and y");
  return where(cond, ta, tb);
}

Tensor to_dtype(const Tensor& x, py::handle dtype) {
  auto dt = parse_dtype(dtype);
  if (!dt) return x;
  return cast(x, *dt);
}

void inplace_op(const Tensor& self, py::handle other, void (*fn)(const Tensor&, const Tensor&), const char* name) {
  Tensor o = operand(other, self);
  if (!o) throw py::type_error(std::string(name) + ": unsupported operand type " + std::string(Py_TYPE(other.ptr())->tp_name));
  fn(self, o);
}

Tensor creation(py::args args, py::kwargs kw, const char* op, double value, bool use_value) {
  py::object size = kw.contains("size") ? py::object(kw["size"]) : py::none();
  Shape s = size.is_none() ? shape_from(args, op) : shape_arg(size, op);
  for (int64_t d : s)
    if (d < 0)
      throw ValueError(std::string(op) + ": negative dimension " + std::to_string(d) +
                       " in size " + shape_str(s));
  auto dt = kw.contains("dtype") ? parse_dtype(kw["dtype"]) : std::nullopt;
  Tensor t = use_value ? full(s, value, dt.value_or(DType::f32)) : zeros(s, dt.value_or(DType::f32));
  if (kw.contains("requires_grad") && kw["requires_grad"].cast<bool>()) t->set_requires_grad(true);
  return t;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "tapegrad's C++ engine: tensors, the tape, ops and kernels";
  m.attr("__version__") = TAPEGRAD_VERSION;
  // Note [GIL] (tensor.h): large kernels let other Python threads run.
  set_allow_threads_hooks(
      []() -> void* { return PyGILState_Check() ? PyEval_SaveThread() : nullptr; },
      [](void* state) { PyEval_RestoreThread(static_cast<PyThreadState*>(state)); });

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tapegrad::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const tapegrad::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tapegrad::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tapegrad::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "tapegrad: out of memory (the requested tensor is too large)");
    }
  });

  py::enum_<DType>(m, "dtype")
      .value("float32", DType::f32)
      .value("float64", DType::f64)
      .value("int64", DType::i64)
      .value("bool", DType::b8)
      .def("__repr__", [](DType d) { return std::string("tapegrad.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("tapegrad.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_float(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });

  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> T(m, "Tensor");
  g_tensor_type = reinterpret_cast<PyTypeObject*>(T.ptr());
  T.def_property_readonly("shape", &size_of)
      .def("size", [](const Tensor& t, py::object dim) -> py::object {
            if (dim.is_none()) return size_of(t);
            const int64_t nd = std::max<int64_t>(t->dim(), 1);
            int64_t d = to_i64(dim);
            if (d < -nd || d >= nd)
              throw py::index_error("size: dimension " + std::to_string(d) + " is out of range for a tensor of shape " + shape_str(t->shape()));
            if (t->dim() == 0) return py::int_(1);
            return py::int_(t->shape()[d < 0 ? d + t->dim() : d]);
          }, py::arg("dim") = py::none())
      .def_property_readonly("ndim", &TensorImpl::dim)
      .def("dim", &TensorImpl::dim)
      .def("numel", &TensorImpl::numel)
      .def_property_readonly("dtype", &TensorImpl::dtype)
      .def_property("requires_grad", &TensorImpl::requires_grad,
                    [](const Tensor& t, bool v) { t->set_requires_grad(v); })
      .def_property("grad", [](const Tensor& t) { return t->grad(); },
                    [](const Tensor& t, Tensor g) { t->set_grad(std::move(g)); })
      .def_property_readonly("is_leaf", &TensorImpl::is_leaf)
      .def_property("_is_parameter", &TensorImpl::is_parameter, &TensorImpl::set_is_parameter)
      .def_property_readonly("grad_fn", [](const Tensor& t) -> py::object {
            const char* n = t->grad_fn_name();
            if (!n) return py::none();
            return py::str(n);
          })
      .def_property_readonly("_version", &TensorImpl::version)
      .def_property_readonly("_id", &TensorImpl::id)
      .def_property_readonly("T", [](const Tensor& x) { return t(x); })
      .def_property_readonly("mT", [](const Tensor& x) { return transpose(x, -2, -1); })
      .def("requires_grad_", [](const Tensor& t, bool v) { t->set_requires_grad(v); return t; },
           py::arg("requires_grad") = true)
      .def("retain_grad", [](const Tensor& t) { t->retain_grad(); })
      .def_property_readonly("retains_grad", &TensorImpl::retains_grad)
      .def("detach", [](const Tensor& t) { return detach(t); })
      .def("detach_", [](const Tensor& t) {
            if (!t->is_leaf()) throw std::runtime_error("detach_: only leaf tensors can be detached in place here; use detach()");
            t->set_requires_grad(false);
            return t;
          })
      .def("clone", [](const Tensor& t) { return clone(t); })
      .def("contiguous", [](const Tensor& t) { return t; })
      .def("is_contiguous", [](const Tensor&) { return true; })
      .def("item", [](const Tensor& t) -> py::object {
            const double v = t->item_as_double();
            if (t->dtype() == DType::i64) return py::int_(*t->data<int64_t>());
            if (t->dtype() == DType::b8) return py::bool_(v != 0);
            return py::float_(v);
          })
      .def("numpy", [](const Tensor& t) { return to_numpy(t, true); })
      .def("_numpy_view", [](const Tensor& t) { return to_numpy(t, false); })
      .def("backward", [](const Tensor& t, Tensor gradient, py::object retain_graph, bool create_graph) {
            const bool retain = retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
            backward(t, gradient, retain, create_graph);
          }, py::arg("gradient") = nullptr, py::arg("retain_graph") = py::none(),
          py::arg("create_graph") = false)
      .def("to", [](const Tensor& x, py::object dtype) { return to_dtype(x, dtype); }, py::arg("dtype"))
      .def("type", [](const Tensor& x, py::object dtype) -> py::object {
            if (dtype.is_none()) return py::str(std::string("tapegrad.") + dtype_name(x->dtype()));
            return py::cast(to_dtype(x, dtype));
          }, py::arg("dtype") = py::none())
      .def("float", [](const Tensor& x) { return cast(x, DType::f32); })
      .def("double", [](const Tensor& x) { return cast(x, DType::f64); })
      .def("long", [](const Tensor& x) { return cast(x, DType::i64); })
      .def("int", [](const Tensor& x) { return cast(x, DType::i64); })
      .def("bool", [](const Tensor& x) { return cast(x, DType::b8); })
      .def("is_floating_point", [](const Tensor& x) { return is_float(x->dtype()); })
      // arithmetic operators (Python scalars, lists and arrays accepted on either side)
      .def("__add__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return add(x, y); }); }, py::is_operator())
      .def("__radd__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return add(y, x); }); }, py::is_operator())
      .def("__sub__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return sub(x, y); }); }, py::is_operator())
      .def("__rsub__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return sub(y, x); }); }, py::is_operator())
      .def("__mul__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return mul(x, y); }); }, py::is_operator())
      .def("__rmul__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return mul(y, x); }); }, py::is_operator())
      .def("__truediv__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return div(x, y); }); }, py::is_operator())
      .def("__rtruediv__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return div(y, x); }); }, py::is_operator())
      .def("__pow__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return pow(x, y); }); }, py::is_operator())
      .def("__rpow__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return pow(y, x); }); }, py::is_operator())
      .def("__matmul__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return matmul(x, y); }); }, py::is_operator())
      .def("__rmatmul__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return matmul(y, x); }); }, py::is_operator())
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { return abs(a); })
      .def("__iadd__", [](const Tensor& a, py::object b) { inplace_op(a, b, add_, "add_"); return a; }, py::is_operator())
      .def("__isub__", [](const Tensor& a, py::object b) { inplace_op(a, b, sub_, "sub_"); return a; }, py::is_operator())
      .def("__imul__", [](const Tensor& a, py::object b) { inplace_op(a, b, mul_, "mul_"); return a; }, py::is_operator())
      .def("__itruediv__", [](const Tensor& a, py::object b) { inplace_op(a, b, div_, "div_"); return a; }, py::is_operator())
      .def("add_", [](const Tensor& a, py::object b) { inplace_op(a, b, add_, "add_"); return a; })
      .def("sub_", [](const Tensor& a, py::object b) { inplace_op(a, b, sub_, "sub_"); return a; })
      .def("mul_", [](const Tensor& a, py::object b) { inplace_op(a, b, mul_, "mul_"); return a; })
      .def("div_", [](const Tensor& a, py::object b) { inplace_op(a, b, div_, "div_"); return a; })
      .def("zero_", [](const Tensor& a) { zero_(a); return a; })
      .def("fill_", [](const Tensor& a, py::object v) { check_inplace(a, "fill_"); fill_(a, scalar_arg(v, "fill_")); return a; })
      .def("copy_", [](const Tensor& a, py::object src) {
            Tensor s = operand(src, a);
            if (!s) throw py::type_error("copy_: expected a tensor");
            copy_(a, s);
            return a;
          })
      .def("normal_", [](const Tensor& a, double mean, double std) { check_inplace(a, "normal_"); normal_(a, mean, std); return a; },
           py::arg("mean") = 0.0, py::arg("std") = 1.0)
      .def("uniform_", [](const Tensor& a, double lo, double hi) { check_inplace(a, "uniform_"); uniform_(a, lo, hi); return a; },
           py::arg("a") = 0.0, py::arg("b") = 1.0)
      // comparisons and logic
      .def("__eq__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::eq, x, y); }); }, py::is_operator())
      .def("__ne__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::ne, x, y); }); }, py::is_operator())
      .def("__lt__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::lt, x, y); }); }, py::is_operator())
      .def("__le__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::le, x, y); }); }, py::is_operator())
      .def("__gt__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::gt, x, y); }); }, py::is_operator())
      .def("__ge__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::ge, x, y); }); }, py::is_operator())
      .def("__and__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return logical_and(x, y); }); }, py::is_operator())
      .def("__or__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return logical_or(x, y); }); }, py::is_operator())
      .def("__xor__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return logical_xor(x, y); }); }, py::is_operator())
      .def("__rand__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return logical_and(y, x); }); }, py::is_operator())
      .def("__ror__", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return logical_or(y, x); }); }, py::is_operator())
      .def("__invert__", [](const Tensor& a) {
            if (a->dtype() != DType::b8) throw py::type_error("~ (bitwise not) is only supported for bool tensors here, got " + std::string(dtype_name(a->dtype())));
            return logical_not(a);
          })
      .def("__hash__", [](const Tensor& a) { return reinterpret_cast<intptr_t>(a.get()) >> 4; })
      .def("__len__", [](const Tensor& a) {
            if (a->dim() == 0) throw py::type_error("len() of a 0-d tensor");
            return a->shape()[0];
          })
      .def("__bool__", [](const Tensor& a) {
            if (a->numel() != 1)
              throw std::runtime_error("Boolean value of Tensor with " + std::to_string(a->numel()) + " values (shape " + shape_str(a->shape()) + ") is ambiguous");
            return a->item_as_double() != 0;
          })
      .def("__float__", [](const Tensor& a) { return a->item_as_double(); })
      .def("__int__", [](const Tensor& a) { return static_cast<int64_t>(a->item_as_double()); })
      .def("__index__", [](const Tensor& a) {
            if (a->dtype() != DType::i64 || a->numel() != 1)
              throw py::type_error("only integer tensors of a single element can be converted to an index");
            return *a->data<int64_t>();
          })
      .def("__getitem__", [](const Tensor& x, py::object key) { return index(x, items_from(key)); })
      .def("__setitem__", [](const Tensor& x, py::object key, py::object value) {
            std::vector<IndexItem> items = items_from(key);
            Tensor v;
            if (py::isinstance<TensorImpl>(value)) v = value.cast<Tensor>();
            else if (PyFloat_Check(value.ptr()) || PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
              v = scalar_tensor(to_f64(value), x->dtype());
            else v = tensor_from_py(value, x->dtype(), "__setitem__");
            index_put_(x, items, v);
          })
      // elementwise math
      .def("exp", [](const Tensor& x) { return tapegrad::exp(x); })
      .def("log", [](const Tensor& x) { return tapegrad::log(x); })
      .def("sqrt", [](const Tensor& x) { return tapegrad::sqrt(x); })
      .def("abs", [](const Tensor& x) { return tapegrad::abs(x); })
      .def("neg", [](const Tensor& x) { return neg(x); })
      .def("relu", [](const Tensor& x) { return relu(x); })
      .def("sigmoid", [](const Tensor& x) { return sigmoid(x); })
      .def("tanh", [](const Tensor& x) { return tapegrad::tanh(x); })
      .def("sin", [](const Tensor& x) { return tapegrad::sin(x); })
      .def("cos", [](const Tensor& x) { return tapegrad::cos(x); })
      .def("sign", [](const Tensor& x) { return sign(x); })
      .def("pow", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return pow(x, y); }); })
      .def("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); })
      .def("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); })
      .def("clamp", [](const Tensor& x, py::object lo, py::object hi) {
            std::optional<double> l, h;
            if (!lo.is_none()) l = scalar_arg(lo, "clamp");
            if (!hi.is_none()) h = scalar_arg(hi, "clamp");
            return clamp(x, l, h);
          }, py::arg("min") = py::none(), py::arg("max") = py::none())
      .def("isnan", [](const Tensor& x) { return isnan(x); })
      .def("isinf", [](const Tensor& x) { return isinf(x); })
      .def("logical_not", [](const Tensor& x) { return logical_not(x); })
      // reductions
      .def("sum", &reduce_sum, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
           py::arg("axis") = py::none(), py::arg("keepdims") = py::none(), py::arg("dtype") = py::none())
      .def("mean", &reduce_mean, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
           py::arg("axis") = py::none(), py::arg("keepdims") = py::none(), py::arg("dtype") = py::none())
      .def("_max", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return reduce_max_min(x, dim, keepdim, axis, keepdims, true);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("_min", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return reduce_max_min(x, dim, keepdim, axis, keepdims, false);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("amax", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return amax_amin(x, dim, keepdim, axis, keepdims, true);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("amin", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return amax_amin(x, dim, keepdim, axis, keepdims, false);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("argmax", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return arg_max_min(x, dim, keepdim, axis, keepdims, true);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("argmin", [](const Tensor& x, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
            return arg_max_min(x, dim, keepdim, axis, keepdims, false);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("logsumexp", &lse, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
           py::arg("axis") = py::none(), py::arg("keepdims") = py::none())
      .def("softmax", [](const Tensor& x, py::object dim, py::object axis) { return softmax(x, single_dim(dim, axis, "softmax")); },
           py::arg("dim") = py::none(), py::kw_only(), py::arg("axis") = py::none())
      .def("log_softmax", [](const Tensor& x, py::object dim, py::object axis) { return log_softmax(x, single_dim(dim, axis, "log_softmax")); },
           py::arg("dim") = py::none(), py::kw_only(), py::arg("axis") = py::none())
      // linear algebra and shapes
      .def("matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); })
      .def("mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); })
      .def("reshape", [](const Tensor& x, py::args shape) { return reshape(x, shape_from(shape, "reshape")); })
      .def("view", [](const Tensor& x, py::args shape) { return view(x, shape_from(shape, "view")); })
      .def("flatten", [](const Tensor& x, int64_t s, int64_t e) { return flatten(x, s, e); },
           py::arg("start_dim") = 0, py::arg("end_dim") = -1)
      .def("squeeze", [](const Tensor& x, py::object dim) {
            return squeeze(x, dim.is_none() ? std::nullopt : std::optional<int64_t>(to_i64(dim)));
          }, py::arg("dim") = py::none())
      .def("unsqueeze", [](const Tensor& x, int64_t d) { return unsqueeze(x, d); }, py::arg("dim"))
      .def("permute", [](const Tensor& x, py::args dims) { return permute(x, shape_from(dims, "permute")); })
      .def("transpose", [](const Tensor& x, int64_t a, int64_t b) { return transpose(x, a, b); }, py::arg("dim0"), py::arg("dim1"))
      .def("t", [](const Tensor& x) {
            if (x->dim() > 2) throw py::value_error("t() expects a tensor with <= 2 dimensions, but self is " + std::to_string(x->dim()) + "D");
            return t(x);
          })
      .def("expand", [](const Tensor& x, py::args sizes) { return expand(x, shape_from(sizes, "expand")); })
      .def("expand_as", [](const Tensor& x, const Tensor& o) { return expand(x, o->shape()); })
      .def("view_as", [](const Tensor& x, const Tensor& o) { return view(x, o->shape()); })
      .def("reshape_as", [](const Tensor& x, const Tensor& o) { return reshape(x, o->shape()); })
      .def("_storage_ptr", [](const Tensor& x) { return reinterpret_cast<uintptr_t>(x->storage()->data); });

  // ----- module functions ---------------------------------------------------------------------
  m.def("_register_size_type", [](py::object t) { g_size_type = t; });
  m.def("tensor", [](py::object data, py::object dtype, bool requires_grad) {
        Tensor t = tensor_from_py(data, parse_dtype(dtype));
        if (requires_grad) t->set_requires_grad(true);
        return t;
      }, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("from_numpy", &from_numpy, py::arg("ndarray"));
  m.def("as_tensor", [](py::object data, py::object dtype) -> Tensor {
        auto dt = parse_dtype(dtype);
        if (py::isinstance<TensorImpl>(data)) {
          Tensor t = data.cast<Tensor>();
          return dt ? cast(t, *dt) : t;
        }
        if (py::isinstance<py::array>(data)) {
          py::array a = py::reinterpret_borrow<py::array>(data);
          bool exact;
          try {
            const DType d = np_to_dtype(a, exact);
            if (exact && (a.flags() & py::array::c_style) && (!dt || *dt == d)) return from_numpy(a);
          } catch (const py::error_already_set&) {
          }
        }
        return tensor_from_py(data, dt, "as_tensor");
      }, py::arg("data"), py::arg("dtype") = py::none());
  m.def("zeros", [](py::args a, py::kwargs k) { return creation(a, k, "zeros", 0, false); });
  m.def("ones", [](py::args a, py::kwargs k) { return creation(a, k, "ones", 1, true); });
  m.def("empty", [](py::args a, py::kwargs k) { return creation(a, k, "empty", 0, false); });
  m.def("full", [](py::object size, py::object value, py::object dtype, bool rg) {
        const Shape s = shape_arg(size, "full");
        DType dt = DType::f32;
        if (PyBool_Check(value.ptr())) dt = DType::b8;
        else if (PyLong_Check(value.ptr())) dt = DType::i64;
        if (auto d = parse_dtype(dtype)) dt = *d;
        Tensor t = full(s, scalar_arg(value, "full"), dt);
        if (rg) t->set_requires_grad(true);
        return t;
      }, py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("arange", [](py::object a, py::object b, py::object step, py::object dtype, bool rg) {
        double start = 0, end;
        if (b.is_none()) end = scalar_arg(a, "arange");
        else {
          start = scalar_arg(a, "arange");
          end = scalar_arg(b, "arange");
        }
        const double st = step.is_none() ? 1.0 : scalar_arg(step, "arange");
        bool all_int = PyLong_Check(a.ptr()) && (b.is_none() || PyLong_Check(b.ptr())) && (step.is_none() || PyLong_Check(step.ptr()));
        DType dt = all_int ? DType::i64 : DType::f32;
        if (auto d = parse_dtype(dtype)) dt = *d;
        Tensor t = arange(start, end, st, dt);
        if (rg) t->set_requires_grad(true);
        return t;
      }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = py::none(), py::kw_only(),
      py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("linspace", [](double s, double e, int64_t n, py::object dtype, bool rg) {
        Tensor t = linspace(s, e, n, parse_dtype(dtype).value_or(DType::f32));
        if (rg) t->set_requires_grad(true);
        return t;
      }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("eye", [](int64_t n, py::object mm_, py::object dtype) {
        if (n < 0) throw py::value_error("eye: n must be non-negative, got " + std::to_string(n));
        const int64_t cols = mm_.is_none() ? n : mm_.cast<int64_t>();
        if (cols < 0) throw py::value_error("eye: m must be non-negative, got " + std::to_string(cols));
        return eye(n, cols, parse_dtype(dtype).value_or(DType::f32));
      }, py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none());
  m.def("rand", [](py::args a, py::kwargs k) {
        py::object size = k.contains("size") ? py::object(k["size"]) : py::none();
        Shape s = size.is_none() ? shape_from(a, "rand") : shape_arg(size, "rand");
        Tensor t = rand(s, k.contains("dtype") ? parse_dtype(k["dtype"]).value_or(DType::f32) : DType::f32);
        if (k.contains("requires_grad") && k["requires_grad"].cast<bool>()) t->set_requires_grad(true);
        return t;
      });
  m.def("randn", [](py::args a, py::kwargs k) {
        py::object size = k.contains("size") ? py::object(k["size"]) : py::none();
        Shape s = size.is_none() ? shape_from(a, "randn") : shape_arg(size, "randn");
        Tensor t = randn(s, k.contains("dtype") ? parse_dtype(k["dtype"]).value_or(DType::f32) : DType::f32);
        if (k.contains("requires_grad") && k["requires_grad"].cast<bool>()) t->set_requires_grad(true);
        return t;
      });
  m.def("randint", [](int64_t lo, py::object hi, py::object size) {
        if (hi.is_none()) throw py::type_error("randint: expected randint(low, high, size) or randint(high, size)");
        if (size.is_none()) return randint(0, lo, shape_arg(hi, "randint"));
        return randint(lo, hi.cast<int64_t>(), shape_arg(size, "randint"));
      }, py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none());
  m.def("randperm", [](int64_t n) { return randperm(n); }, py::arg("n"));
  m.def("_randn_like", [](const Tensor& x) { return randn(x->shape(), x->dtype()); });
  m.def("manual_seed", [](int64_t s) { manual_seed(static_cast<uint64_t>(s)); }, py::arg("seed"));
  m.def("initial_seed", &initial_seed);
  m.def("_normal_tensor", [](const Tensor& mean, double std) {
        Tensor z = randn(mean->shape(), is_float(mean->dtype()) ? mean->dtype() : DType::f32);
        GradModeGuard off(false);
        return add(mean, mul(z, scalar_tensor(std, z->dtype())));
      });
  m.def("_normal_scalar", [](double mean, double std, py::object size, py::object dtype) {
        if (std < 0) throw py::value_error("normal: std must be non-negative, got " + std::to_string(std));
        Tensor t = randn(shape_arg(size, "normal"), parse_dtype(dtype).value_or(DType::f32));
        normal_(t, mean, std);
        return t;
      });

  // functional forms of the ops
  m.def("add", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return add(x, y); }); });
  m.def("sub", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return sub(x, y); }); });
  m.def("mul", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return mul(x, y); }); });
  m.def("div", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return div(x, y); }); });
  m.def("pow", [](py::object a, py::object b) -> py::object {
        if (py::isinstance<TensorImpl>(a)) return binop(a.cast<Tensor>(), b, [](auto& x, auto& y) { return pow(x, y); });
        Tensor tb = b.cast<Tensor>();
        return binop(tb, a, [](auto& x, auto& y) { return pow(y, x); });
      });
  m.def("neg", [](const Tensor& x) { return neg(x); });
  m.def("exp", [](const Tensor& x) { return tapegrad::exp(x); });
  m.def("log", [](const Tensor& x) { return tapegrad::log(x); });
  m.def("sqrt", [](const Tensor& x) { return tapegrad::sqrt(x); });
  m.def("abs", [](const Tensor& x) { return tapegrad::abs(x); });
  m.def("relu", [](const Tensor& x) { return relu(x); });
  m.def("sigmoid", [](const Tensor& x) { return sigmoid(x); });
  m.def("tanh", [](const Tensor& x) { return tapegrad::tanh(x); });
  m.def("sin", [](const Tensor& x) { return tapegrad::sin(x); });
  m.def("cos", [](const Tensor& x) { return tapegrad::cos(x); });
  m.def("sign", [](const Tensor& x) { return sign(x); });
  m.def("isnan", [](const Tensor& x) { return isnan(x); });
  m.def("isinf", [](const Tensor& x) { return isinf(x); });
  m.def("logical_not", [](const Tensor& x) { return logical_not(x); });
  m.def("logical_and", [](const Tensor& a, const Tensor& b) { return logical_and(a, b); });
  m.def("logical_or", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); });
  m.def("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); });
  m.def("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  m.def("where", &where3, py::arg("condition"), py::arg("input"), py::arg("other"));
  m.def("eq", [](const Tensor& a, py::object b) { return binop(a, b, [](auto& x, auto& y) { return compare(CmpOp::eq, x, y); }); });
  m.def("matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  m.def("mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); });
  m.def("linear", [](const Tensor& x, const Tensor& w, const Tensor& b) { return linear(x, w, b); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = nullptr);
  m.def("bmm", [](const Tensor& a, const Tensor& b) { return bmm(a, b); });
  m.def("cat", [](const std::vector<Tensor>& xs, int64_t dim) { return cat(xs, dim); }, py::arg("tensors"), py::arg("dim") = 0);
  m.def("stack", [](const std::vector<Tensor>& xs, int64_t dim) { return stack(xs, dim); }, py::arg("tensors"), py::arg("dim") = 0);
  m.def("_gather_flat", &gather_flat);
  m.def("cross_entropy", [](const Tensor& x, const Tensor& y, const std::string& red) {
        return cross_entropy(x, y, parse_reduction(red, "cross_entropy"));
      }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def("mse_loss", [](const Tensor& x, const Tensor& y, const std::string& red) {
        return mse_loss(x, y, parse_reduction(red, "mse_loss"));
      }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& y, const std::string& red) {
        return binary_cross_entropy_with_logits(x, y, parse_reduction(red, "binary_cross_entropy_with_logits"));
      }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");

  // autograd
  m.def("is_grad_enabled", &grad_enabled);
  m.def("set_grad_enabled", &set_grad_enabled, py::arg("mode"));
  m.def("is_anomaly_enabled", &anomaly_enabled);
  m.def("set_anomaly_enabled", &set_anomaly_enabled, py::arg("mode"));
  m.def("_run_backward", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& grads,
                            bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs,
                            bool allow_unused) {
        return run_backward(outputs, grads, retain_graph, create_graph, inputs, allow_unused);
      });
  m.def("_graph", [](const Tensor& root) {
        // The DAG behind `root`: ops in recording order, each with its input and output
        // tensors (id, shape, dtype, whether a leaf, whether it requires grad).
        py::list ops;
        for (const Entry* e : reachable_entries(root)) {
          py::list ins, outs;
          for (const InputRef& in : e->inputs) {
            py::dict d;
            d["id"] = in.id;
            d["shape"] = py::tuple(py::cast(in.shape));
            d["dtype"] = dtype_name(in.dtype);
            d["leaf"] = in.node < 0;
            d["requires_grad"] = in.requires_grad;
            ins.append(d);
          }
          for (const OutputRef& o : e->outputs) {
            py::dict d;
            d["id"] = o.id;
            d["shape"] = py::tuple(py::cast(o.shape));
            d["dtype"] = dtype_name(o.dtype);
            outs.append(d);
          }
          py::dict op;
          op["op"] = op_name(e->op);
          op["backward"] = op_backward_name(e->op);
          op["inputs"] = ins;
          op["outputs"] = outs;
          ops.append(op);
        }
        py::dict g;
        g["root"] = root->id();
        g["ops"] = ops;
        return g;
      }, py::arg("tensor"));
  m.def("tape_stats", [] {
        TapeStats s = Tape::current()->stats();
        py::dict d;
        d["entries"] = s.entries;
        d["live_entries"] = s.live_entries;
        d["saved_bytes"] = s.saved_bytes;
        return d;
      });

  // optimizers
  m.def("_sgd_step", [](py::list params, py::object bufs, double lr, double momentum,
                        double dampening, double wd, bool nesterov) -> py::object {
        // Plain SGD has no state: the buffer list is neither converted nor rebuilt (that
        // round trip was most of a small model's optimizer step).
        std::vector<Tensor> ps;
        ps.reserve(params.size());
        for (py::handle h : params) ps.push_back(h.cast<Tensor>());
        if (momentum == 0) {
          std::vector<Tensor> none;
          sgd_step(ps, none, lr, momentum, dampening, wd, nesterov);
          return bufs;
        }
        auto b = bufs.cast<std::vector<Tensor>>();
        sgd_step(ps, b, lr, momentum, dampening, wd, nesterov);
        return py::cast(b);
      });
  m.def("_zero_grad", [](const std::vector<Tensor>& params, bool set_to_none) { zero_grad(params, set_to_none); },
        py::arg("params"), py::arg("set_to_none") = true);
  m.def("_adam_step", [](const std::vector<Tensor>& params, std::vector<Tensor> m1, std::vector<Tensor> m2,
                         std::vector<int64_t> steps, double lr, double b1, double b2, double eps, double wd) {
        adam_step(params, m1, m2, steps, lr, b1, b2, eps, wd);
        return py::make_tuple(m1, m2, steps);
      });

  // kernels: targets and threads
  m.def("cpu_info", [] {
        const kernels::CpuInfo& c = kernels::cpu_info();
        py::dict d;
        d["vendor"] = c.vendor;
        py::list feats;
        auto add_feat = [&](bool on, const char* n) { if (on) feats.append(n); };
        add_feat(c.sse42, "sse4.2");
        add_feat(c.avx, "avx");
        add_feat(c.avx2, "avx2");
        add_feat(c.fma, "fma");
        add_feat(c.f16c, "f16c");
        add_feat(c.avx512f, "avx512f");
        add_feat(c.avx512bw, "avx512bw");
        add_feat(c.avx512dq, "avx512dq");
        add_feat(c.avx512vl, "avx512vl");
        d["features"] = feats;
        d["os_avx"] = c.os_avx;
        d["os_avx512"] = c.os_avx512;
        py::list avail;
        for (auto a : c.available) avail.append(kernels::arch_name(a));
        d["available"] = avail;
        d["selected"] = kernels::arch_name(c.selected);
        d["num_threads"] = kernels::get_num_threads();
        return d;
      });
  m.def("_set_arch", [](const std::string& name) { kernels::set_arch(kernels::parse_arch(name)); });
  m.def("set_num_threads", [](int n) { kernels::set_num_threads(n); }, py::arg("n"));
  m.def("get_num_threads", &kernels::get_num_threads);
}

Tensor convert_for_index(const Tensor& t) {
  GradModeGuard off(false);
  return cast(t, DType::i64);
}

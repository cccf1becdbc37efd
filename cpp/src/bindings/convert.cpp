// Python values → tensors, shapes, dims, dtypes and index items, and tensors → NumPy: the
// translation every other binding file relies on. Nothing here decides what an op computes.
#include <cmath>
#include <cstring>
#include <limits>

#include "bindings/bindings.h"
#include "bindings/record.h"
#include "tapegrad/capture.h"

namespace tapegrad::bind {

PyTypeObject* g_tensor_type = nullptr;
py::object g_size_type;
py::object g_max_type;
py::object g_min_type;

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

int64_t int_arg(py::handle h, const char* op, const char* name) {
  if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()))
    throw py::type_error(std::string(op) + "(): argument '" + name + "' must be int, not " +
                         Py_TYPE(h.ptr())->tp_name);
  try {
    return to_i64(h);
  } catch (const py::value_error&) {
    throw py::value_error(std::string(op) + "(): argument '" + name + "' = " + py::str(h).cast<std::string>() +
                          " does not fit int64");
  }
}

double to_f64(py::handle h) {
  const double v = PyFloat_AsDouble(h.ptr());
  if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}


// ----- dtypes -------------------------------------------------------------------------------
std::optional<DType> parse_dtype(py::handle h) {
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
    if (kind == "f" && size == 2) return DType::f16;
    if (kind == "i" && size == 4) return DType::i32;
    if (kind == "i" && size == 2) return DType::i16;
    if (kind == "i" && size == 1) return DType::i8;
    if (kind == "u" && size == 1) return DType::u8;
    if (kind == "i" || kind == "u") return DType::i64;
    if (kind == "b") return DType::b8;
  } catch (const py::error_already_set&) {
  }
  throw py::type_error("unsupported dtype " + py::repr(h).cast<std::string>() +
                       "; tapegrad has float16, float32, float64, uint8, int8, int16, int32, "
                       "int64 and bool");
}

// `exact`: the array's bytes are the tensor's (same type, machine byte order), so memory can
// be shared. Otherwise the values are converted by NumPy (astype), never reinterpreted.
DType np_to_dtype(const py::array& a, bool& exact) {
  const char kind = a.dtype().kind();
  const auto size = a.dtype().itemsize();
  exact = a.dtype().attr("isnative").cast<bool>();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b') return DType::b8;
  if (kind == 'f' && size == 2) return DType::f16;
  if (kind == 'i' && size == 4) return DType::i32;
  if (kind == 'i' && size == 2) return DType::i16;
  if (kind == 'i' && size == 1) return DType::i8;
  if (kind == 'u' && size == 1) return DType::u8;
  exact = false;
  if (kind == 'u' && size == 8 && a.size() > 0 &&
      py::int_(a.attr("max")()).cast<unsigned long long>() > static_cast<unsigned long long>(INT64_MAX))
    throw py::value_error("can't convert a NumPy uint64 array holding values above 2**63 - 1 to int64 "
                          "exactly (tapegrad has no unsigned 64-bit dtype)");
  if (kind == 'f') return DType::f32;  // float128 and friends
  if (kind == 'i' || kind == 'u') return DType::i64;  // uint16, uint32, uint64
  throw py::type_error("can't convert a NumPy array of dtype " + py::str(a.dtype()).cast<std::string>() +
                       "; tapegrad supports float16, float32, float64, uint8, int8, int16, int32, "
                       "int64 and bool");
}

const char* np_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
    default: return dtype_name(t);  // int32 … float16: NumPy's names are tapegrad's
  }
}

// ----- NumPy interop --------------------------------------------------------------------------
namespace {
// A tensor over the array's memory (the caller checked that its bytes are the tensor's).
Tensor share_numpy(const py::array& a, DType dt) {
  Shape shape(a.shape(), a.shape() + a.ndim());
  py::object* keep = new py::object(a);
  std::shared_ptr<void> owner(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  auto st = Storage::borrow(const_cast<void*>(a.data()), static_cast<size_t>(a.nbytes()), owner);
  return std::make_shared<TensorImpl>(st, 0, shape, dt);
}
}  // namespace

// Note [NumPy memory tapegrad does not own]
// from_numpy shares memory only when the bytes are the tensor's: a non-native byte order is
// refused (the values would be reinterpreted) and a read-only array (np.frombuffer(bytes), a
// read-only memory map) is copied with PyTorch's warning, so an in-place op can never write
// into memory the array's owner declared read-only (a read-only map would even fault).
// tensor() always copies; as_tensor() shares only what from_numpy would share silently.
Tensor from_numpy(py::array a) {
  if (!a.dtype().attr("isnative").cast<bool>())
    throw py::value_error("from_numpy: the given NumPy array has byte order " +
                          py::str(a.dtype().attr("str")).cast<std::string>() +
                          ", different from the native byte order; conversion between byte orders "
                          "is not done in place (use tapegrad.tensor(a) to copy)");
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
  if (!a.writeable()) {
    if (PyErr_WarnEx(PyExc_UserWarning,
                     "from_numpy: the given NumPy array is not writable; tapegrad copies it so that "
                     "in-place ops can never write into it (the tensor does not share its memory). "
                     "Make the array writable (or copy it) first to share memory.", 1) < 0)
      throw py::error_already_set();
    return clone_data(share_numpy(a, dt));
  }
  return share_numpy(a, dt);
}

py::array to_numpy(const Tensor& t, bool check_grad) {
  if (check_grad && t->requires_grad())
    throw std::runtime_error("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  std::vector<py::ssize_t> shape(t->shape().begin(), t->shape().end());
  std::vector<py::ssize_t> strides(shape.size());
  const py::ssize_t isz = static_cast<py::ssize_t>(itemsize(t->dtype()));
  // A view's array shares its memory with its strides, as PyTorch's numpy() does.
  const std::vector<int64_t> st = t->strides();
  for (size_t i = 0; i < shape.size(); ++i) strides[i] = static_cast<py::ssize_t>(st[i]) * isz;
  // The array's base is a detached alias, so it keeps the storage (not the graph) alive.
  py::object base = py::cast(detach(t));
  return py::array(py::dtype(np_name(t->dtype())), shape, strides, t->data_ptr(), base);
}

// ----- nested Python data → tensor -------------------------------------------------------------
namespace {
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
  if (is_small(t->dtype())) return walk_tensor_values(p, detach(cast(t, wide(t->dtype()))));
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
  if (is_tensor(h)) {
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

}  // namespace

Tensor tensor_from_py(py::handle data, std::optional<DType> dtype, const char* op) {
  if (is_tensor(data)) {
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
    Tensor out = clone_data(share_numpy(c, dt));
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
      case DType::i64:  // ints exactly; floats checked (NaN, ±inf, beyond int64 raise)
        if (p.kind == 2) store_scalar(DType::i64, fv, t->data<int64_t>() + j, op);
        else t->data<int64_t>()[j] = p.i[j];
        break;
      case DType::b8: t->data<uint8_t>()[j] = fv != 0; break;
      default:  // storage dtypes, with PyTorch's overflow check (Note [exact scalars])
        store_scalar(dt, p.kind == 2 ? Scalar(fv) : Scalar(p.i[j]),
                     static_cast<char*>(t->raw()) + j * static_cast<int64_t>(itemsize(dt)), op);
        break;
    }
  }
  return t;
}

Tensor as_tensor_from_py(py::handle data, std::optional<DType> dtype) {
  if (const Tensor* t = tensor_ptr(data)) return dtype ? cast_strided(Strided{*t}, *dtype) : *t;
  if (py::isinstance<py::array>(data)) {
    // Shares memory when the array already is what the tensor would be.
    py::array a = py::reinterpret_borrow<py::array>(data);
    bool exact;
    try {
      const DType d = np_to_dtype(a, exact);
      if (exact && a.writeable() && (a.flags() & py::array::c_style) && (!dtype || *dtype == d))
        return from_numpy(a);
    } catch (const py::error_already_set&) {
    }
  }
  return tensor_from_py(data, dtype, "as_tensor");
}

// ----- operands -------------------------------------------------------------------------------
// A Python operand next to tensor `like`: tensors pass through; Python numbers become 0-d
// tensors of the dtype PyTorch gives the result; lists and arrays are converted. Returns
// nullptr when the operand is not something tapegrad can combine (→ NotImplemented).
Tensor contiguous_arg(const Tensor& t) {
  if (t->is_contiguous()) return t;
  // While capturing, the copy is a call of the program: its own at depth 0, and inside a
  // binding lowering itself part of that binding's C++ form — made any other way it would be
  // a tensor the C++ form only reads, baked in with the captured call's data.
  if (capture::active()) return capture::call(&contiguous, t);
  return contiguous(t);
}

Tensor cast_strided(const Strided& x, DType dtype) {
  if (!x.t || x->dtype() == dtype) return lower(&cast, x.t, dtype);  // "undefined tensor" or x
  return lower(&cast, contiguous_arg(x.t), dtype);
}

Tensor operand(py::handle h, const Tensor& like) {
  PyObject* o = h.ptr();
  if (const Tensor* t = tensor_ptr(h)) return contiguous_arg(*t);  // Note [strided arguments]
  if (PyBool_Check(o)) return scalar_like(like, int64_t{o == Py_True}, false, true);
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) return scalar_like(like, static_cast<int64_t>(v), false);  // exact
    if (is_floating_point(like->dtype())) return scalar_like(like, to_f64(h), true);
    // Beyond int64 next to an integer tensor: PyTorch takes [2^63, 2^64) as the uint64 bit
    // pattern (so x + 2**63 wraps like x - 2**63) and refuses the rest.
    const unsigned long long u = PyLong_AsUnsignedLongLong(o);
    if (u == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      PyErr_Clear();
      const std::string msg = "int too big to convert: " + py::str(h).cast<std::string>() +
                              " does not fit the int64 operand of an int64 or bool tensor";
      PyErr_SetString(PyExc_OverflowError, msg.c_str());
      throw py::error_already_set();
    }
    return scalar_like(like, static_cast<int64_t>(u), false);
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

std::pair<Tensor, Tensor> operands(py::handle a, py::handle b, const char* op) {
  const Tensor* ta = tensor_ptr(a);
  const Tensor* tb = tensor_ptr(b);
  if (ta && tb) return {contiguous_arg(*ta), contiguous_arg(*tb)};  // Note [strided arguments]
  Tensor x, y;
  if (ta) {
    x = contiguous_arg(*ta);
    y = operand(b, x);
  } else if (tb) {
    y = contiguous_arg(*tb);
    x = operand(a, y);
  } else {
    // Two Python numbers (where(c, 1.0, 0)): PyTorch's result type of the two — float32 (the
    // default) if either is a float, else int64 if either is an int (exact), else bool.
    auto kind = [](py::handle h) {
      return PyBool_Check(h.ptr()) ? 0 : PyLong_Check(h.ptr()) ? 1 : 2;
    };
    const int k = std::max(kind(a), kind(b));
    const Tensor like = scalar_tensor(0, k == 2 ? DType::f32 : k == 1 ? DType::i64 : DType::b8);
    x = operand(a, like);
    y = operand(b, like);
  }
  if (!x || !y)
    throw py::type_error(std::string(op) + ": unsupported operand types " +
                         std::string(Py_TYPE(a.ptr())->tp_name) + " and " +
                         std::string(Py_TYPE(b.ptr())->tp_name));
  return {x, y};
}

// ----- shapes and dims ------------------------------------------------------------------------
Shape shape_from(py::args args, const char* op) {
  Shape s;
  auto one = [&](py::handle h) {
    if (is_tensor(h)) {
      Tensor t = h.cast<Tensor>();
      if (t->numel() != 1 || is_float(t->dtype()))
        throw py::type_error(std::string(op) + ": sizes must be integers");
      return t->dtype() == DType::i64 ? *t->data<int64_t>() : static_cast<int64_t>(t->item_as_double());
    }
    if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()))
      throw py::type_error(std::string(op) + ": sizes must be integers, got " +
                           std::string(Py_TYPE(h.ptr())->tp_name));
    return to_i64(h);
  };
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr()) && !is_tensor(args[0])) {
    if (!PySequence_Check(args[0].ptr()))
      throw py::type_error(std::string(op) + ": expected a shape (ints or a sequence of ints), got " +
                           std::string(Py_TYPE(args[0].ptr())->tp_name));
    for (py::object h : py::reinterpret_borrow<py::sequence>(args[0])) s.push_back(one(h));  // py::object: items a sequence makes on the fly (a tensor's rows) must outlive the loop body
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
    for (py::object h : py::reinterpret_borrow<py::sequence>(dim)) out.push_back(to_i64(h));
    return out;
  }
  throw py::type_error(std::string(op) + ": dim must be an int, a tuple of ints or None, got " +
                       std::string(Py_TYPE(dim.ptr())->tp_name));
}

// dim / keepdim with the NumPy aliases axis / keepdims.
py::object dim_or_axis(py::object dim, py::object axis, const char* op) {
  if (axis.is_none()) return dim;
  if (!dim.is_none()) throw py::type_error(std::string(op) + ": got both dim and axis");
  return axis;
}

bool keepdim_or_keepdims(bool keepdim, py::handle keepdims) {
  return keepdims.is_none() ? keepdim : keepdims.cast<bool>();
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
        if (!PyIndex_Check(a.ptr()) && !is_tensor(a))
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
  } else if (is_tensor(h)) {
    it.kind = IndexItem::Tensor;
    it.t = h.cast<Tensor>();
  } else if (py::isinstance<py::array>(h) || PyList_Check(o) || PyTuple_Check(o) || PyRange_Check(o)) {
    it.kind = IndexItem::Tensor;
    Tensor t = tensor_from_py(h, std::nullopt, "index");
    if (t->numel() == 0 && t->dtype() != DType::b8) {
      // An empty index list (x[[]]) parses as float32; indices need int64.
      GradModeGuard off(false);
      t = cast(t, DType::i64);
    }
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

Scalar scalar_value(py::handle h, const char* op) {
  if (const Tensor* t = tensor_ptr(h)) {
    const Tensor& x = *t;
    const double d = x->item_as_double();  // checks numel
    if (x->dtype() == DType::i64) return *x->data<int64_t>();
    if (x->dtype() == DType::b8) return int64_t{d != 0};
    return d;
  }
  PyObject* o = h.ptr();
  if (PyBool_Check(o)) return int64_t{o == Py_True};
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
      if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
      return static_cast<int64_t>(v);
    }
    return to_f64(h);  // OverflowError beyond double's range (as float(int) raises)
  }
  if (PyObject_HasAttrString(o, "dtype") && PyObject_HasAttrString(o, "item") && !PySequence_Check(o))
    return scalar_value(h.attr("item")(), op);  // NumPy scalars: the Python number they hold
  try {
    return to_f64(h);
  } catch (const py::error_already_set&) {
    throw py::type_error(std::string(op) + ": expected a number, got " + std::string(Py_TYPE(h.ptr())->tp_name));
  }
}

double scalar_arg(py::handle h, const char* op) {
  if (is_tensor(h)) return h.cast<Tensor>()->item_as_double();
  try {
    return to_f64(h);
  } catch (const py::error_already_set&) {
    throw py::type_error(std::string(op) + ": expected a number, got " + std::string(Py_TYPE(h.ptr())->tp_name));
  }
}

Generator* generator_arg(py::handle h, const char* op) {
  if (!h || h.is_none()) return nullptr;
  if (!py::isinstance<Generator>(h))
    throw py::type_error(std::string(op) + "(): argument 'generator' must be tapegrad.Generator, not " +
                         Py_TYPE(h.ptr())->tp_name);
  return h.cast<Generator*>();
}

}  // namespace tapegrad::bind

// The Tensor class as Python sees it, apart from its ops (ops.cpp): shape and autograd state,
// dtype conversions, Python's number/sequence protocols, indexing and the in-place fills.
#include "bindings/bindings.h"
#include "bindings/record.h"
#include "tapegrad/tape.h"

namespace tapegrad::bind {
namespace {
// t.grad. While capturing, the read is recorded with whether a gradient was there: Python may
// have decided on it (`if p.grad is not None`), so a replay that finds otherwise stops with an
// error instead of going on down the captured path.
Tensor read_grad(const Tensor& t) {
  Tensor g = t->grad();
  capture::Recorder* rec = capture::active();
  if (!rec || rec->depth > 0) return g;
  rec->touched = true;
  rec->begin_call(/*direct=*/true);
  const capture::Slot in = rec->use(t), out = rec->define(g);
  const bool had = static_cast<bool>(g);
  {
    capture::Writer w;  // its C++ form: ex::grad_of(t, had)
    w.pod<capture::Slot>(in);
    w.pod<bool>(had);
    rec->xemit(capture::export_index_of(&capture::ex::grad_of), std::move(w.buf));
  }
  rec->emit([in, out, had](capture::Frame& f) {
    Tensor now = f[static_cast<size_t>(in)]->grad();
    if (static_cast<bool>(now) != had)
      throw capture::StaleProgram(std::string("tapegrad.compile: a tensor's .grad was ") +
                               (had ? "set" : "None") + " when the step was captured and is " +
                               (had ? "None" : "set") + " in this replay, and the captured "
                               "step may have decided on it; this call stopped part way (the "
                               "next call captures again): reset gradients the same way before "
                               "every call");
    f[static_cast<size_t>(out)] = std::move(now);
  });
  rec->end_call();
  return g;
}

// Note [.data]
// t.data is PyTorch's escape hatch around autograd: a tensor over t's memory, without history,
// whose in-place writes autograd does not see — it has a version counter of its own, so
// `p.data -= lr * p.grad` or `w.data.normal_(0, 0.01)` never trips the "modified by an
// inplace operation" check of a graph that saved p (detach() shares the counter and would).
// The alias gets a Storage of its own that borrows t's memory and keeps t's storage alive.
// `t.data = src` keeps t's identity (optimizers and modules holding t see the change) and
// gives it src's memory, shape and dtype (TensorImpl::set_data), with PyTorch's checks; t
// keeps its own version counter, as in PyTorch.
Tensor data_alias(const Tensor& t) {
  const std::shared_ptr<Storage>& s = t->storage();
  return std::make_shared<TensorImpl>(Storage::borrow(s->data, s->nbytes, s), t->offset(),
                                      t->shape(), t->strides(), t->dtype());
}

void assign_data(const Tensor& t, py::handle value) {
  const Tensor* src = tensor_ptr(value);
  if (!src)
    throw py::type_error("Variable data has to be a tensor, but got " +
                         std::string(Py_TYPE(value.ptr())->tp_name));
  if (t->requires_grad() && !is_float((*src)->dtype()))
    throw std::runtime_error("data set to a tensor that requires gradients must be floating "
                             "point or complex dtype (got " +
                             std::string(dtype_name((*src)->dtype())) + ")");
  if (!t->is_leaf())
    throw std::runtime_error("data: only a leaf tensor's data can be replaced in tapegrad "
                             "(this tensor of shape " + shape_str(t->shape()) + " was produced "
                             "by " + (t->grad_fn_name() ? t->grad_fn_name() : "an op") + ")");
  // PyTorch keeps .grad across the swap; it is kept here while it still fits the new data
  // (a .grad of another shape or dtype could not be accumulated into: it is dropped).
  // A view is taken as it is, strides and all (PyTorch's `p.data = w.T`): t becomes a window
  // on the view's memory, not a view itself (its history and version stay t's own).
  // The version counter stays with t, as PyTorch's: t takes src's memory through a Storage of
  // its own that continues t's count (so `p.data -= x`, which assigns p.data's own alias
  // back, leaves the version that autograd checks where it was).
  const std::shared_ptr<Storage>& from = (*src)->storage();
  std::shared_ptr<Storage> own = Storage::borrow(from->data, from->nbytes, from);
  own->version = t->version();
  Tensor moved = std::make_shared<TensorImpl>(std::move(own), (*src)->offset(), (*src)->shape(),
                                              (*src)->strides(), (*src)->dtype());
  Tensor g = t->has_grad() ? t->grad() : Tensor();
  if (g) t->set_grad(nullptr);
  t->set_data(moved);
  if (g && g->shape() == t->shape() && g->dtype() == t->dtype()) t->set_grad(std::move(g));
}
}  // namespace

void bind_tensor(TensorClass& T) {
  // Note [tensor hash]
  // Tensors hash by identity (== compares elementwise, so dict lookups rely on `is`). The
  // interpreter's own pointer hash, installed as the type slot, costs no bindings round trip:
  // an optimizer looks every parameter up in its `state` dict on every step
  // (Note [optimizer state lookups]). One Python object per tensor: the bindings return the
  // registered wrapper of a live tensor, so identity and the tensor coincide.
  T.attr("__hash__") = py::module_::import("builtins").attr("object").attr("__hash__");
  // PyTorch's legacy constructor: Tensor(data) is a float32 tensor of data, Tensor(*sizes) an
  // uninitialised float32 one (tapegrad._legacy.tensor_new parses the forms). The result is a
  // fresh TensorImpl sharing the parsed tensor's storage, so no other Python object wraps it.
  T.def(py::init([](py::args a, py::kwargs k) {
          py::object made = py::module_::import("tapegrad._legacy").attr("tensor_new")(*a, **k);
          return detach(made.cast<Tensor>());
        }));
  T.def_property_readonly("shape", [](const Strided& t) { return capture::pure(), size_of(t); })
      .def("size", [](const Strided& t, py::object dim) -> py::object {
            capture::pure();
            if (dim.is_none()) return size_of(t);
            const int64_t nd = std::max<int64_t>(t->dim(), 1);
            int64_t d = to_i64(dim);
            if (d < -nd || d >= nd)
              throw py::index_error("size: dimension " + std::to_string(d) + " is out of range for a tensor of shape " + shape_str(t->shape()));
            if (t->dim() == 0) return py::int_(1);
            return py::int_(t->shape()[d < 0 ? d + t->dim() : d]);
          }, py::arg("dim") = py::none())
      .def_property_readonly("ndim", pure_getter(&TensorImpl::dim))
      .def("dim", pure_getter(&TensorImpl::dim))
      .def_property_readonly("dtype", pure_getter(&TensorImpl::dtype))
      // ----- autograd state -----
      // A view's autograd state as its base's current history gives it (sync_view).
      .def_property("requires_grad", [](const Strided& t) { return capture::pure(), sync_view(t), t->requires_grad(); },
                    recorded([](const Strided& t, bool v) { t->set_requires_grad(v); }))
      .def_property("grad", [](const Strided& t) { return read_grad(t); },
                    recorded([](const Strided& t, MaybeTensor g) { t->set_grad(std::move(g.t)); }))
      .def_property_readonly("is_leaf", [](const Strided& t) { return capture::pure(), sync_view(t), t->is_leaf(); })
      .def_property("_is_parameter", pure_getter(&TensorImpl::is_parameter), &TensorImpl::set_is_parameter)
      .def_property_readonly("grad_fn", [](const Strided& t) -> py::object {
            capture::pure();
            sync_view(t);
            const char* n = t->grad_fn_name();
            if (!n) return py::none();
            return py::str(n);
          })
      .def_property_readonly("_version", pure_getter(&TensorImpl::version))
      .def_property_readonly("_id", pure_getter(&TensorImpl::id))
      .def("_set_data", recorded([](const Strided& t, const Tensor& src) { t->set_data(src); }))
      // Note [.data]
      .def_property("data", recorded([](const Strided& t) { return data_alias(t); }),
                    recorded([](const Strided& t, py::handle v) { assign_data(t, v); }),
                    "This tensor's values without history, sharing its memory; in-place "
                    "writes through it are not seen by autograd. Assigning replaces the "
                    "values (and shape, dtype) while the tensor keeps its identity.")
      .def("requires_grad_", recorded([](const Strided& t, bool v) { return lower(&capture::ex::set_requires_grad, t.t, v); }),
           py::arg("requires_grad") = true)
      .def("retain_grad", recorded([](const Strided& t) { sync_view(t); retain_grad(t); }))
      .def_property_readonly("retains_grad", pure_getter(&TensorImpl::retains_grad))
      .def("detach_", recorded([](const Strided& t) {
            // PyTorch's refusal: the view would stay a window on a base whose history goes on
            if (t->is_view()) throw std::runtime_error("detach_: Can't detach views in-place. Use detach() instead.");
            if (!t->is_leaf()) throw std::runtime_error("detach_: only leaf tensors can be detached in place here; use detach()");
            t->set_requires_grad(false);
            return t.t;
          }))
      .def("backward", recorded([](const Strided& t, MaybeTensor gradient, py::object retain_graph, bool create_graph) {
            // retain_graph=None means "as create_graph" (PyTorch's default).
            const bool retain = retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
            lower(static_cast<void (*)(const Tensor&, const Tensor&, bool, bool)>(&backward), t.t,
                  gradient.t, retain, create_graph);
          }), py::arg("gradient") = nullptr, py::arg("retain_graph") = py::none(),
          py::arg("create_graph") = false)
      // ----- the transposes as properties (T reverses the dims; mT swaps the last two) -----
      .def_property_readonly("T", recorded([](const Strided& x) { return lower(&T_view, x.t); }))
      .def_property_readonly("mT", recorded([](const Strided& x) { return lower(&transpose_view, x.t, int64_t{-2}, int64_t{-1}); }))
      // ----- storage and conversions -----
      .def("contiguous", recorded([](const Strided& t) { return lower(&contiguous, t.t); }))
      .def("is_contiguous", [](const Strided& t) { return capture::pure(), t->is_contiguous(); })
      .def("stride", [](const Strided& t, py::object dim) -> py::object {
            capture::pure();
            const std::vector<int64_t> st = t->strides();
            if (dim.is_none()) return py::tuple(py::cast(st));
            const int64_t nd = std::max<int64_t>(t->dim(), 1);
            const int64_t d = to_i64(dim);
            if (d < -nd || d >= nd)
              throw py::index_error("stride: dimension " + std::to_string(d) + " is out of range for a tensor of shape " + shape_str(t->shape()));
            if (t->dim() == 0) return py::int_(1);
            return py::int_(st[static_cast<size_t>(d < 0 ? d + t->dim() : d)]);
          }, py::arg("dim") = py::none())
      .def("storage_offset", [](const Strided& t) { return capture::pure(), t->offset(); })
      .def("_is_view", [](const Strided& t) { return capture::pure(), t->is_view(); })
      .def_property_readonly("_base", [](const Strided& t) -> py::object {
            capture::pure();
            if (!t->is_view()) return py::none();
            return py::cast(t->view_base());
          })
      .def("item", [](const Tensor& t) -> py::object {
            const double v = t->item_as_double();
            if (t->dtype() == DType::i64) return py::int_(*t->data<int64_t>());
            if (t->dtype() == DType::b8) return py::bool_(v != 0);
            if (!is_floating_point(t->dtype())) return py::int_(static_cast<int64_t>(v));  // exact
            return py::float_(v);
          })
      .def("numpy", [](const Strided& t) { return to_numpy(t, true); })
      .def("_numpy_view", [](const Strided& t) { return to_numpy(t, false); })
      .def("type", [](const Strided& x, py::object dtype) -> py::object {
            if (dtype.is_none()) return capture::pure(), py::str(std::string("tapegrad.") + dtype_name(x->dtype()));
            const DType to = *parse_dtype(dtype);
            return py::cast(capture::call([](const Strided& a, DType d) { return cast_strided(a, d); },
                                          Strided{x}, to));
          }, py::arg("dtype") = py::none())
      .def("float", recorded([](const Strided& x) { return cast_strided(x, DType::f32); }))
      .def("double", recorded([](const Strided& x) { return cast_strided(x, DType::f64); }))
      .def("long", recorded([](const Strided& x) { return cast_strided(x, DType::i64); }))
      .def("int", recorded([](const Strided& x) { return cast_strided(x, DType::i32); }))
      .def("short", recorded([](const Strided& x) { return cast_strided(x, DType::i16); }))
      .def("char", recorded([](const Strided& x) { return cast_strided(x, DType::i8); }))
      .def("byte", recorded([](const Strided& x) { return cast_strided(x, DType::u8); }))
      .def("half", recorded([](const Strided& x) { return cast_strided(x, DType::f16); }))
      .def("bool", recorded([](const Strided& x) { return cast_strided(x, DType::b8); }))
      // ----- Python protocols -----
      .def("__pos__", recorded([](const Strided& a) { return a.t; }))  // the tensor itself, a view too
      .def("__len__", [](const Strided& a) {
            capture::pure();
            if (a->dim() == 0) throw py::type_error("len() of a 0-d tensor");
            return a->shape()[0];
          })
      .def("__bool__", [](const Tensor& a) {
            if (a->numel() != 1)
              throw std::runtime_error("Boolean value of Tensor with " + std::to_string(a->numel()) + " values (shape " + shape_str(a->shape()) + ") is ambiguous");
            return a->item_as_double() != 0;
          })
      .def("__float__", [](const Tensor& a) { return a->item_as_double(); })
      .def("__int__", [](const Tensor& a) -> py::object {
            // int64 exactly; a float as Python's int(float) (NaN and ±inf raise).
            const double v = a->item_as_double();
            if (a->dtype() == DType::i64) return py::int_(*a->data<int64_t>());
            PyObject* r = PyLong_FromDouble(v);
            if (!r) throw py::error_already_set();
            return py::reinterpret_steal<py::object>(r);
          })
      .def("__index__", [](const Tensor& a) {
            if (is_floating_point(a->dtype()) || a->dtype() == DType::b8 || a->numel() != 1)
              throw py::type_error("only integer tensors of a single element can be converted to an index");
            return a->dtype() == DType::i64 ? *a->data<int64_t>() : static_cast<int64_t>(a->item_as_double());
          })
      // ----- indexing -----
      .def("__getitem__", [](const Strided& x, py::object key) {
            std::vector<IndexItem> items = items_from(key);
            // A boolean mask gives a result whose shape depends on the data, and Python may
            // decide on that shape: such a capture is refused (Note [capture and replay]).
            if (capture::Recorder* rec = capture::active(); rec && rec->depth == 0)
              for (const IndexItem& it : items)
                if (it.kind == IndexItem::Tensor && it.t && it.t->dtype() == DType::b8)
                  rec->refuse("indexing with a boolean mask gives a shape that depends on the data");
            return capture::call(&index_view, x.t, items);
          })
      .def("__setitem__", [](const Strided& x, py::object key, py::object value) {
            std::vector<IndexItem> items = items_from(key);
            Tensor v;
            if (const Tensor* tv = tensor_ptr(value)) v = contiguous_arg(*tv);
            else if (PyFloat_Check(value.ptr()) || PyLong_Check(value.ptr()) || PyBool_Check(value.ptr())) {
              v = empty({}, x->dtype());  // exact for ints; checked (Note [exact scalars])
              store_scalar(x->dtype(), scalar_value(value, "__setitem__"), v->raw(), "__setitem__");
            }
            else v = tensor_from_py(value, x->dtype(), "__setitem__");
            capture::call(&index_put_, x.t, items, v);
          })
      // ----- in-place fills (the arithmetic ones come with their ops) -----
      .def("zero_", recorded([](const Strided& a) { lower(&zero_, a.t); return a.t; }))
      .def("fill_", recorded([](const Strided& a, py::object v) {
            check_inplace(a, "fill_");
            if (const Tensor* t = tensor_ptr(v)) {
              // A 0-d tensor is converted as cast converts (PyTorch's fill_(Tensor): unchecked)
              // and receives the gradient; a Python number goes through fill's checks (Note
              // [exact scalars]).
              lower(&fill_tensor_, a.t, *t);
            } else {
              lower(&fill_, a.t, scalar_value(v, "fill_"));
            }
            return a.t;
          }))
      .def("copy_", recorded([](const Strided& a, py::object src) {
            Tensor s = operand(src, a);
            if (!s) throw py::type_error("copy_: expected a tensor");
            lower(&copy_, a.t, s);
            return a.t;
          }))
      // the in-place forms made in Python from out-of-place ops (Note [in-place forms])
      .def("_assign_inplace", recorded([](const Strided& a, py::object result, const std::string& op) {
            const Tensor* r = tensor_ptr(result);
            if (!r) throw py::type_error(op + ": expected a tensor result");
            lower(&assign_inplace, a.t, *r, op);
            return a.t;
          }), py::arg("result"), py::arg("op"))
      .def("normal_", recorded([](const Strided& a, double mean, double std, py::object gen) {
             check_inplace(a, "normal_");
             if (Generator* g = generator_arg(gen, "normal_")) normal_(a, mean, std, g);
             else lower(&capture::ex::normal_default, a.t, mean, std);
             return a.t;
           }), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::kw_only(), py::arg("generator") = py::none())
      .def("uniform_", recorded([](const Strided& a, double lo, double hi, py::object gen) {
             check_inplace(a, "uniform_");
             if (Generator* g = generator_arg(gen, "uniform_")) uniform_(a, lo, hi, g);
             else lower(&capture::ex::uniform_default, a.t, lo, hi);
             return a.t;
           }), py::arg("a") = 0.0, py::arg("b") = 1.0, py::kw_only(), py::arg("generator") = py::none());
}

}  // namespace tapegrad::bind

// The arithmetic operators of Tensor as CPython number slots (Note [operator fast path]).
//
// Note [operator fast path]
// `a * b` on a pybind11 class goes through CPython's generic slot (slot_nb_multiply), which
// looks up __mul__ (or __rmul__) on the type, calls the pybind11 function object, whose
// dispatcher loads and converts the arguments before the binding runs: measured on the
// 8-point line fit written as a learner writes it, ~2.5k instructions per operator, more than
// the engine's own work on eight elements. The Tensor type's nb_add, nb_subtract,
// nb_multiply, nb_true_divide and nb_power slots, and their in-place forms, are replaced here
// by functions that do what the __add__/__radd__/__iadd__ ... bindings do (ops.cpp:
// Registrar::binary) for the common case — float32 or float64 tensors, with a tensor or a
// Python float or int (not bool) as the other operand, no capture running — by the same calls
// (contiguous_arg, operand, the engine function), and hand every other case, and any
// exception, to the generic slot they replaced, which runs the bindings as before: so an
// error is raised with the bindings' message, a capture records through them, and other
// operand types get NotImplemented as before. Results are the same tensors either way
// (tests/test_fast_ops.py compares both paths over dtypes, operand kinds and errors).
#include "bindings/bindings.h"
#include "tapegrad/capture.h"

namespace tapegrad::bind {
namespace {

using Binary = PyObject* (*)(PyObject*, PyObject*);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using InplaceFn = void (*)(const Tensor&, const Tensor&);

// The generic in-place slots this file replaced (they call __iadd__ ... as before).
Binary g_iadd, g_isub, g_imul, g_idiv;

// What CPython's generic binary slot does for a type whose slot it is (typeobject.c,
// SLOT1BINFULL), for a Tensor on either side (tensors have no subclasses): the left operand's
// __op__ when it is a tensor; then, when that gave NotImplemented and the right operand is a
// tensor of another type than the left, the right's __rop__. (The generic slot itself cannot
// be called once replaced: it checks that it is still the type's slot.)
PyObject* call_special(PyObject* obj, const char* name, PyObject* arg, PyObject* arg2 = nullptr) {
  PyObject* f = _PyType_Lookup(Py_TYPE(obj), py::str(name).ptr());  // borrowed
  if (!f) Py_RETURN_NOTIMPLEMENTED;
  return arg2 ? PyObject_CallFunctionObjArgs(f, obj, arg, arg2, nullptr)
              : PyObject_CallFunctionObjArgs(f, obj, arg, nullptr);
}
PyObject* generic(PyObject* a, PyObject* b, const char* op, const char* rop) {
  const bool left = tensor_ptr(a) != nullptr, right = tensor_ptr(b) != nullptr;
  if (left) {
    PyObject* r = call_special(a, op, b);
    if (r != Py_NotImplemented || !right || Py_TYPE(a) == Py_TYPE(b)) return r;
    Py_DECREF(r);
  }
  if (right) return call_special(b, rop, a);
  Py_RETURN_NOTIMPLEMENTED;
}

bool fast_dtype(const Tensor& t) { return t && (t->dtype() == DType::f32 || t->dtype() == DType::f64); }

// A tensor of a fast dtype, or a Python float or int (not bool).
bool fast_other(PyObject* o) {
  if (const Tensor* t = tensor_ptr(o)) return fast_dtype(*t);
  return PyFloat_CheckExact(o) || PyLong_CheckExact(o);
}

// a ∘ b where a or b is a Tensor (CPython calls the slot for both orders).
template <BinaryFn Fn>
PyObject* binary(PyObject* a, PyObject* b, const char* op, const char* rop) {
  if (capture::active()) return generic(a, b, op, rop);
  const Tensor* ta = tensor_ptr(a);
  const bool forward = ta != nullptr;
  const Tensor* self = forward ? ta : tensor_ptr(b);
  PyObject* other = forward ? b : a;
  if (!self || !fast_dtype(*self) || !fast_other(other)) return generic(a, b, op, rop);
  try {
    const Tensor x = contiguous_arg(*self);
    const Tensor o = operand(other, x);
    if (!o) return generic(a, b, op, rop);
    Tensor r = forward ? Fn(x, o) : Fn(o, x);
    return py::cast(std::move(r)).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
    PyErr_Clear();
  } catch (...) {
  }
  return generic(a, b, op, rop);  // raises with the binding's message, or handles the case
}

template <InplaceFn Fn>
PyObject* inplace(PyObject* self, PyObject* other, Binary generic) {
  if (capture::active()) return generic(self, other);
  const Tensor* t = tensor_ptr(self);
  if (!t || !fast_dtype(*t) || !fast_other(other)) return generic(self, other);
  try {
    const Tensor o = operand(other, *t);
    if (!o) return generic(self, other);
    Fn(*t, o);
    Py_INCREF(self);
    return self;
  } catch (py::error_already_set& e) {
    e.restore();
    PyErr_Clear();
  } catch (...) {
  }
  return generic(self, other);
}

PyObject* add_slot(PyObject* a, PyObject* b) {
  return binary<static_cast<BinaryFn>(&tapegrad::add)>(a, b, "__add__", "__radd__");
}
PyObject* sub_slot(PyObject* a, PyObject* b) {
  return binary<static_cast<BinaryFn>(&tapegrad::sub)>(a, b, "__sub__", "__rsub__");
}
PyObject* mul_slot(PyObject* a, PyObject* b) {
  return binary<static_cast<BinaryFn>(&tapegrad::mul)>(a, b, "__mul__", "__rmul__");
}
PyObject* div_slot(PyObject* a, PyObject* b) {
  return binary<static_cast<BinaryFn>(&tapegrad::div)>(a, b, "__truediv__", "__rtruediv__");
}
PyObject* pow_slot(PyObject* a, PyObject* b, PyObject* m) {
  // Three-argument pow: the tensor's __pow__ with the modulus (which refuses it), as before.
  if (m != Py_None) return tensor_ptr(a) ? call_special(a, "__pow__", b, m) : (Py_INCREF(Py_NotImplemented), Py_NotImplemented);
  return binary<static_cast<BinaryFn>(&tapegrad::pow)>(a, b, "__pow__", "__rpow__");
}
PyObject* iadd_slot(PyObject* a, PyObject* b) { return inplace<&tapegrad::add_>(a, b, g_iadd); }
PyObject* isub_slot(PyObject* a, PyObject* b) { return inplace<&tapegrad::sub_>(a, b, g_isub); }
PyObject* imul_slot(PyObject* a, PyObject* b) { return inplace<&tapegrad::mul_>(a, b, g_imul); }
PyObject* idiv_slot(PyObject* a, PyObject* b) { return inplace<&tapegrad::div_>(a, b, g_idiv); }


PyTypeObject* g_type = nullptr;
PyNumberMethods g_generic{};  // the slots before install (CPython's generic ones)

void set_slots(bool fast) {
  PyNumberMethods* n = g_type->tp_as_number;
  const PyNumberMethods& g = g_generic;
  n->nb_add = fast ? &add_slot : g.nb_add;
  n->nb_subtract = fast ? &sub_slot : g.nb_subtract;
  n->nb_multiply = fast ? &mul_slot : g.nb_multiply;
  n->nb_true_divide = fast ? &div_slot : g.nb_true_divide;
  n->nb_power = fast ? &pow_slot : g.nb_power;
  n->nb_inplace_add = fast ? &iadd_slot : g.nb_inplace_add;
  n->nb_inplace_subtract = fast ? &isub_slot : g.nb_inplace_subtract;
  n->nb_inplace_multiply = fast ? &imul_slot : g.nb_inplace_multiply;
  n->nb_inplace_true_divide = fast ? &idiv_slot : g.nb_inplace_true_divide;
  PyType_Modified(g_type);
}

}  // namespace

void install_fast_operators(py::module_& m, py::handle tensor_type) {
  auto* tp = reinterpret_cast<PyTypeObject*>(tensor_type.ptr());
  PyNumberMethods* n = tp->tp_as_number;
  if (!n || !n->nb_add || !n->nb_subtract || !n->nb_multiply || !n->nb_true_divide ||
      !n->nb_power || !n->nb_inplace_add || !n->nb_inplace_subtract ||
      !n->nb_inplace_multiply || !n->nb_inplace_true_divide)
    return;  // (not the class ops.cpp made: leave it alone)
  g_type = tp;
  g_generic = *n;
  g_iadd = n->nb_inplace_add;
  g_isub = n->nb_inplace_subtract;
  g_imul = n->nb_inplace_multiply;
  g_idiv = n->nb_inplace_true_divide;
  set_slots(true);
  // For tests: the generic slots back (False) or the fast ones (True).
  m.def("_set_fast_operators", [](bool on) { set_slots(on); }, py::arg("on"));
}

}  // namespace tapegrad::bind

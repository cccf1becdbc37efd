// Bindings that record themselves while tapegrad.compile captures (Note [capture and replay]
// in cpp/src/capture/capture.cpp): how Python-typed arguments and results are kept in an
// instruction, and recorded(f), which wraps a binding callable so that each call is recorded
// whole — argument translation included — and replayed with the same arguments.
#pragma once

#include "bindings/bindings.h"
#include "tapegrad/capture.h"

namespace tapegrad::bind {

// A Python argument: a tensor by slot (replayed as a new Python handle to the slot's tensor),
// anything else held as it is. A tensor inside a tuple or list would be read at capture time
// only, so it refuses the capture.
struct PyArg {
  capture::Slot slot = capture::kNoSlot;
  py::object value;
};
inline PyArg save_py(capture::Recorder& r, py::handle h) {
  if (const Tensor* t = tensor_ptr(h)) return {r.use(*t), {}};
  if (PyTuple_Check(h.ptr()) || PyList_Check(h.ptr()))
    for (py::handle e : h)
      if (tensor_ptr(e)) r.refuse("a tensor inside a tuple or list argument is not captured yet");
  return {capture::kNoSlot, py::reinterpret_borrow<py::object>(h)};
}
inline py::object load_py(const capture::Frame& f, const PyArg& a) {
  if (a.slot == capture::kNoSlot) return a.value;
  return py::cast(f[static_cast<size_t>(a.slot)]);
}

}  // namespace tapegrad::bind

namespace tapegrad::capture {
template <class T>
struct Arg<T, std::enable_if_t<std::is_same_v<T, pybind11::object> ||
                               std::is_same_v<T, pybind11::handle> ||
                               std::is_same_v<T, pybind11::args>>> {
  using Stored = bind::PyArg;
  static Stored save(Recorder& r, const T& v) { return bind::save_py(r, v); }
  // An owning object even for a py::handle parameter: the temporary lives to the end of the
  // replayed call (a handle to a fresh wrapper would dangle).
  static auto load(const Frame& f, const Stored& s) {
    if constexpr (std::is_same_v<T, pybind11::args>)
      return pybind11::reinterpret_borrow<pybind11::args>(s.value);
    else
      return bind::load_py(f, s);
  }
};
template <>
struct Arg<bind::Strided> {
  using Stored = Slot;
  static Slot save(Recorder& r, const bind::Strided& t) { return r.use(t.t); }
  static bind::Strided load(const Frame& f, Slot s) { return {Arg<Tensor>::load(f, s)}; }
};
template <>
struct Arg<bind::StridedList> {
  using Stored = std::vector<Slot>;
  static Stored save(Recorder& r, const bind::StridedList& l) { return Arg<std::vector<Tensor>>::save(r, l.v); }
  static bind::StridedList load(const Frame& f, const Stored& s) { return {Arg<std::vector<Tensor>>::load(f, s)}; }
};
template <>
struct Arg<bind::MaybeTensor> {
  using Stored = Slot;
  static Slot save(Recorder& r, const bind::MaybeTensor& t) { return t.t ? r.use(t.t) : kNoSlot; }
  static bind::MaybeTensor load(const Frame& f, Slot s) { return {Arg<Tensor>::load(f, s)}; }
};
// A result as Python sees it: a tensor, or a tuple (named tuples too) or list of tensors.
template <>
struct Out<pybind11::object> {
  using Slots = std::vector<Slot>;
  static Slots define(Recorder& r, const pybind11::object& o) {
    Slots s;
    if (const Tensor* t = bind::tensor_ptr(o)) {
      s.push_back(r.define(*t));
    } else if (PyTuple_Check(o.ptr()) || PyList_Check(o.ptr())) {
      for (pybind11::handle e : o) {
        const Tensor* t = bind::tensor_ptr(e);
        if (!t) r.refuse("a call returned a Python value that is not a tensor");
        s.push_back(t ? r.define(*t) : kNoSlot);
      }
    } else if (!o.is_none()) {
      r.refuse("a call returned a Python " + std::string(Py_TYPE(o.ptr())->tp_name));
    }
    return s;
  }
  static void store(Frame& f, const Slots& s, const pybind11::object& o) {
    if (s.empty()) return;
    if (const Tensor* t = bind::tensor_ptr(o)) {
      f[static_cast<size_t>(s[0])] = *t;
      return;
    }
    size_t i = 0;
    for (pybind11::handle e : o) {
      if (i >= s.size()) break;
      if (const Tensor* t = bind::tensor_ptr(e)) f[static_cast<size_t>(s[i])] = *t;
      ++i;
    }
  }
};
}  // namespace tapegrad::capture

namespace tapegrad::bind {

template <class F, class R, class... A>
auto recorded_impl(F f, R (F::*)(A...) const) {
  if constexpr (std::is_arithmetic_v<R>) {
    // A metadata query (numel, is_floating_point): nothing to record.
    return [f](A... a) -> R { return capture::pure(), f(a...); };
  } else {
    return [f](A... a) -> R { return capture::call(f, a...); };
  }
}
// A binding callable (a lambda without captures of state) that records itself when capturing.
template <class F>
auto recorded(F f) {
  return recorded_impl(f, &F::operator());
}

// The engine call of a binding lowered to it (Note [saved programs] in
// cpp/src/capture/saved.cpp): `fn` must be in the export table and get its arguments with the
// types it declares; the binding says so (capture::lowers), so the call is its C++ form.
template <class F, class... A>
auto lower(F fn, const A&... args) {
  capture::lowers();
  return capture::call(fn, args...);
}

// A metadata getter of the tensor (shape, dtype, flags): reads no data, records nothing.
template <class R>
auto pure_getter(R (TensorImpl::*m)() const) {
  return [m](const Strided& t) -> R { return capture::pure(), ((*t.t).*m)(); };
}

}  // namespace tapegrad::bind

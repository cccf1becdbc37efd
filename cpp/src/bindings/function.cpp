// Python's doors into the tape: the node of a tapegrad.autograd.Function (a CustomBackward
// that calls back into Python) and tensor hooks (Note [custom functions] in
// cpp/src/autograd/custom.cpp).
//
// The engine may drop a node or a hook in a thread that does not hold the GIL (a tensor
// released from another thread is drained later by the tape's owner, an exiting thread's tape
// is adopted: Note [tape threads]), so every Python object the engine holds sits in a PyRef,
// which takes the GIL to let go of it — and leaks it once the interpreter is finalizing,
// when taking the GIL is no longer safe. Calls into Python take the GIL too: a backward
// normally runs in the thread that called it, holding the GIL already.
#include "bindings/bindings.h"
#include "tapegrad/custom.h"
#include "tapegrad/tape.h"

namespace tapegrad::bind {

namespace {
bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

class PyRef {
 public:
  explicit PyRef(py::object o) : obj_(o.release().ptr()) {}
  ~PyRef() {
    if (!obj_ || !Py_IsInitialized() || interpreter_finalizing()) return;
    PyGILState_STATE s = PyGILState_Ensure();
    Py_DECREF(obj_);
    PyGILState_Release(s);
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  py::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

// The node of one Function application: `fn(saved, grads)` is the Python side of the
// backward (tapegrad.autograd.function), returning one gradient or None per tensor input.
class PyFunctionBackward final : public CustomBackward {
 public:
  PyFunctionBackward(std::string name, py::object fn)
      : CustomBackward(std::move(name)), fn_(std::move(fn)) {}

  std::vector<Tensor> backward(CustomGradCtx& c) override {
    py::gil_scoped_acquire gil;
    py::list saved, grads;
    for (const Tensor& t : c.saved) saved.append(t ? py::cast(t) : py::none());
    for (const Tensor& g : c.grads) grads.append(g ? py::cast(g) : py::none());
    py::object r = fn_.get()(saved, grads);
    std::vector<Tensor> out;
    for (py::handle h : py::reinterpret_borrow<py::sequence>(r)) {
      if (h.is_none()) out.emplace_back();
      else if (const Tensor* t = tensor_ptr(h)) out.push_back(contiguous_arg(*t));
      else
        throw py::type_error("function " + name() + " returned a " + type_name(h) +
                             " as a gradient; expected a Tensor or None");
    }
    return out;
  }

 private:
  PyRef fn_;
};

// Tensor.register_hook's handle: removes the hook if its tensor still lives, without
// keeping the tensor alive itself.
struct HookHandle {
  std::weak_ptr<TensorHooks> hooks;
  int64_t id;
  void remove() {
    std::shared_ptr<TensorHooks> h = hooks.lock();
    if (!h) return;
    for (auto it = h->pre.begin(); it != h->pre.end(); ++it)
      if (it->id == id) {
        h->pre.erase(it);
        return;
      }
    for (auto it = h->post.begin(); it != h->post.end(); ++it)
      if (it->id == id) {
        h->post.erase(it);
        return;
      }
  }
};

HookHandle handle_of(const Tensor& t, int64_t id) {
  return HookHandle{tensor_hooks(t), id};
}
}  // namespace

void bind_custom(py::module_& m, TensorClass& T) {
  // Inputs and saved tensors as the Function saw them, views included: an input marked dirty
  // is found among the outputs by identity, and a saved view is version-checked with its base.
  m.def("_record_function", [](const std::string& name, const StridedList& inputs,
                               const StridedList& outputs, const StridedList& saved,
                               py::object backward, bool materialize_grads) {
        auto node = std::make_shared<PyFunctionBackward>(name, std::move(backward));
        node->materialize_grads = materialize_grads;
        return record_custom(std::move(node), inputs, outputs, saved);
      }, py::arg("name"), py::arg("inputs"), py::arg("outputs"), py::arg("saved"),
      py::arg("backward"), py::arg("materialize_grads"));

  py::class_<HookHandle>(m, "_HookHandle")
      .def("remove", &HookHandle::remove)
      .def_readonly("id", &HookHandle::id);

  T.def("_register_hook", [](const Strided& t, py::object fn) {
         auto ref = std::make_shared<PyRef>(fn);
         const int64_t id = register_hook(t, [ref](const Tensor& g) -> Tensor {
           py::gil_scoped_acquire gil;
           py::object r = ref->get()(g);
           if (r.is_none()) return nullptr;
           if (const Tensor* rt = tensor_ptr(r)) return contiguous_arg(*rt);
           throw py::type_error("hook: a gradient hook returned a " + type_name(r) +
                                "; expected a Tensor or None");
         });
         return handle_of(t, id);
       }, py::arg("hook"))
      .def("_register_post_accumulate_grad_hook", [](const Strided& t, py::object fn) {
         auto ref = std::make_shared<PyRef>(fn);
         const int64_t id = register_post_accumulate_grad_hook(t, [ref](const Tensor& leaf) {
           py::gil_scoped_acquire gil;
           ref->get()(leaf);
         });
         return handle_of(t, id);
       }, py::arg("hook"));
}

}  // namespace tapegrad::bind

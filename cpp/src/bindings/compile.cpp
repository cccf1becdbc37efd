// tapegrad.compile's callable (_core._Compiled): finds the captured program whose guards hold
// for a call and replays it, or captures a new one (Note [capture and replay] in
// cpp/src/capture/capture.cpp). Also the guards the library's Python registers while a capture
// runs (_capture_guard_item, _capture_guard_len).
#include "bindings/bindings.h"
#include "blocks.h"
#include "tapegrad/capture.h"
#include "tapegrad/grad_mode.h"
#include "tapegrad/tape.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tapegrad::bind {
namespace {

// A Python value the capture read: obj[key] (a dict item), a closure cell, or len(obj).
struct Guard {
  // Contents: a plain container (dict or list of numbers, strings, ...) fn reads, compared
  // with the copy taken when the capture began (`expected`).
  enum Kind { Item, Cell, Len, Contents } kind;
  py::object obj, key;
  py::object expected;  // null: the key was missing
  int64_t length = 0;
  uint64_t dict_version = 0;  // Item: the dict's version when the guard last held (0: none)
};

// CPython 3.11 gives every dict a version that changes whenever the dict does (PEP 509): an
// item guard on a dict whose version is the one it last held under still holds, without the
// lookup — what a module's or an optimizer group's guards cost on every call otherwise. Other
// versions (the field is deprecated from 3.12) always look the item up.
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define TG_DICT_VERSION 1
inline uint64_t dict_version(PyObject* d) {
  return reinterpret_cast<PyDictObject*>(d)->ma_version_tag;
}
#else
inline uint64_t dict_version(PyObject*) { return 0; }
#endif

// Plain values compare by value (of the same type); everything else by identity.
bool is_plain(PyObject* o) {
  return o == Py_None || PyBool_Check(o) || PyLong_CheckExact(o) || PyFloat_CheckExact(o) ||
         PyUnicode_CheckExact(o) || PyComplex_CheckExact(o);
}
bool same_value(PyObject* a, PyObject* b) {
  if (a == b) return true;
  if (!a || !b || Py_TYPE(a) != Py_TYPE(b) || !is_plain(a)) return false;
  const int r = PyObject_RichCompareBool(a, b, Py_EQ);
  if (r < 0) PyErr_Clear();
  return r == 1;
}

PyObject* read_guard(const Guard& g) {  // borrowed; null for missing
  switch (g.kind) {
    case Guard::Item: {
      PyObject* v = PyDict_GetItemWithError(g.obj.ptr(), g.key.ptr());
      if (!v && PyErr_Occurred()) PyErr_Clear();
      return v;
    }
    case Guard::Cell: return PyCell_GET(g.obj.ptr());
    case Guard::Len:
    case Guard::Contents: return nullptr;
  }
  return nullptr;
}
bool guard_holds(Guard& g) {
  if (g.kind == Guard::Len) {
    const Py_ssize_t n = PyObject_Length(g.obj.ptr());
    if (n < 0) PyErr_Clear();
    return n == g.length;
  }
  if (g.kind == Guard::Contents) {
    const int eq = PyObject_RichCompareBool(g.obj.ptr(), g.expected.ptr(), Py_EQ);
    if (eq < 0) PyErr_Clear();
    return eq == 1;
  }
  if (g.kind == Guard::Item) {
    const uint64_t v = dict_version(g.obj.ptr());
    if (v != 0 && v == g.dict_version) return true;  // unchanged since it last held
    const bool holds = same_value(read_guard(g), g.expected.ptr());
    g.dict_version = holds ? v : 0;
    return holds;
  }
  return same_value(read_guard(g), g.expected.ptr());
}

// What a guard watches, for messages.
std::string describe_guard(const Guard& g) {
  switch (g.kind) {
    case Guard::Item:
      return "the value of " + py::repr(g.key).cast<std::string>();
    case Guard::Cell: return "a closure variable";
    case Guard::Len: return "the number of an optimizer's parameter groups";
    case Guard::Contents: return "the contents of a " + std::string(Py_TYPE(g.obj.ptr())->tp_name) +
                                 " it reads";
  }
  return "?";
}

struct ArgSpec {
  bool tensor = false;
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  bool contiguous = true;        // a strided view was captured with its contiguous copy
  std::vector<int64_t> strides;  // a strided view's (Note [strided arguments])
  int alias = -1;     // index of the first argument that is the same tensor
  py::object value;   // a non-tensor argument
};

// The result of fn: None, a tensor, or a tuple/list/dict whose items are tensors or values.
struct OutSpec {
  enum Kind { Value, Tensor1, Tuple, List, Dict } kind = Value;
  py::object value;  // Value
  capture::Slot slot = capture::kNoSlot;
  std::vector<capture::Slot> slots;  // per item: a slot, or kNoSlot for a value
  std::vector<py::object> values;
  py::object keys;  // Dict
};

struct Entry {
  bool eager = false;  // captured, but not replayable: calls with this signature run eagerly
  bool grad_enabled = true;
  std::vector<ArgSpec> args;
  py::tuple kwnames;
  std::vector<Guard> guards;
  std::vector<capture::Recorder::ConstState> consts;
  capture::Program program;
  // The program's C++ form (Note [saved programs]), replayed instead when it has one: the
  // same engine calls without re-entering the bindings.
  std::optional<capture::Program> cpp;
  OutSpec out;
};

// The capture in progress on this thread (guards registered by the library's Python go here).
thread_local Entry* t_capturing = nullptr;
struct Capturing {
  Entry* prev;
  py::object flag;
  explicit Capturing(Entry* e, py::object f) : prev(t_capturing), flag(std::move(f)) {
    t_capturing = e;
    bump(1);
  }
  ~Capturing() {
    t_capturing = prev;
    bump(-1);
  }
  void bump(int d) {  // tapegrad._capture.ACTIVE: a cheap test for the library's Python
    PyObject* dict = flag.ptr();
    PyObject* v = PyDict_GetItemString(dict, "ACTIVE");
    const long n = (v ? PyLong_AsLong(v) : 0) + d;
    PyObject* nv = PyLong_FromLong(n < 0 ? 0 : n);
    if (nv) {
      PyDict_SetItemString(dict, "ACTIVE", nv);
      Py_DECREF(nv);
    }
    PyErr_Clear();
  }
};

void add_guard(Guard::Kind kind, py::object obj, py::object key) {
  Entry* e = t_capturing;
  if (!e || !capture::active()) return;
  Guard g{kind, std::move(obj), std::move(key), py::object(), 0};
  if (kind == Guard::Len) {
    g.length = static_cast<int64_t>(py::len(g.obj));
  } else {
    if (kind == Guard::Item && !PyDict_Check(g.obj.ptr()))
      throw py::type_error("_capture_guard_item: expected a dict");
    PyObject* v = read_guard(g);
    if (v) g.expected = py::reinterpret_borrow<py::object>(v);
  }
  e->guards.push_back(std::move(g));
}

class Compiled {
 public:
  Compiled(py::object fn, bool fullgraph, int cache_limit, py::object flags, py::object fn_guards,
           bool cpp_form, bool memory_planning, bool fusion)
      : fn_(std::move(fn)), fullgraph_(fullgraph), limit_(cache_limit), flags_(std::move(flags)),
        fn_guards_(std::move(fn_guards)), cpp_form_(cpp_form), memory_planning_(memory_planning),
        fusion_(fusion) {}

  py::object call(const py::args& args, const py::kwargs& kwargs) {
    // Inside another capture the call is inlined: the outer program records fn's calls.
    if (capture::active()) {
      capture::pure();
      return fn_(*args, **kwargs);
    }
    if (disabled_ || !capture_available()) return eager(args, kwargs);
    const bool grad = grad_enabled();
    for (const auto& e : entries_) {
      if (!matches(*e, args, kwargs, grad)) continue;
      if (e->eager) return eager(args, kwargs);
      std::shared_ptr<Entry> hold = e;  // a capture on another thread may grow entries_
      try {
        return replay(*hold);
      } catch (const capture::StaleProgram& err) {
        reasons_.push_back(err.what());
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
          if (it->get() == hold.get()) {
            entries_.erase(it);
            break;
          }
        throw std::runtime_error(err.what());
      }
    }
    if (static_cast<int>(entries_.size()) >= limit_) {
      disabled_ = true;
      reasons_.push_back("cache_size_limit (" + std::to_string(limit_) +
                         ") reached: every later call runs eagerly");
      PyErr_WarnEx(PyExc_UserWarning,
                   ("tapegrad.compile: " + reasons_.back() +
                    " (the guards changed on every call; see .fallback_reasons)").c_str(), 1);
      return eager(args, kwargs);
    }
    return capture(args, kwargs, grad);
  }

  py::list reasons() const {
    py::list l;
    for (const auto& r : reasons_) l.append(r);
    return l;
  }
  py::dict stats() const {
    py::dict d;
    d["captures"] = captures_;
    d["replays"] = replays_;
    d["eager_calls"] = eager_calls_;
    d["programs"] = static_cast<int64_t>(entries_.size());
    int64_t instrs = 0, cpp = 0, planned = 0, fused = 0;
    for (const auto& e : entries_) {
      instrs += static_cast<int64_t>(e->program.instrs.size());
      cpp += e->cpp.has_value();
      // each fused pair is one call of the C++ form for two exported calls (linear_relu, which
      // runs the pair itself outside linear's 2-D fast path)
      if (e->cpp) fused += static_cast<int64_t>(e->program.exported->calls.size() - e->cpp->instrs.size());
      planned += e->program.planned_runs() + (e->cpp ? e->cpp->planned_runs() : 0);
    }
    d["instructions"] = instrs;
    d["cpp_form"] = cpp;
    d["fused"] = fused;  // linear + relu pairs run as one call (Note [fused linear-relu])
    d["planned_runs"] = planned;  // replays recorded into a planned tape (Note [planned tapes])
    return d;
  }
  void reset() {
    entries_.clear();
    disabled_ = false;
  }
  // The program of the latest capture, in its C++ form, with its state as it is now (Note
  // [saved programs]); `names` maps names to tensors (a module's named_parameters()).
  void save(const std::string& path, py::object names) const {
    const Entry* last = nullptr;
    for (const auto& e : entries_)
      if (!e->eager) last = e.get();
    if (!last)
      throw std::runtime_error(entries_.empty()
          ? "save(): nothing captured yet: call the compiled function once first"
          : "save(): no call was captured as a program (see .fallback_reasons): " +
                (reasons_.empty() ? std::string("?") : reasons_.back()));
    std::vector<std::pair<Tensor, std::string>> named;
    if (!names.is_none() && !PyDict_Check(names.ptr()))
      throw py::type_error("save(): names must be a dict of names to tensors, got " +
                           std::string(Py_TYPE(names.ptr())->tp_name));
    if (!names.is_none())
      for (auto kv : py::reinterpret_borrow<py::dict>(names)) {
        const Tensor* t = tensor_ptr(kv.second);
        if (!t) throw py::type_error("save(): names must map names to tensors");
        named.emplace_back(*t, py::str(kv.first).cast<std::string>());
      }
    std::string bytes;
    {
      py::gil_scoped_release nogil;
      bytes = capture::save_program(last->program, named, last->out.kind == OutSpec::Tensor1);
    }
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("save(): cannot write '" + path + "'");
    const size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
    const bool ok = n == bytes.size() && std::fclose(f) == 0;
    if (!ok) throw std::runtime_error("save(): could not write all of '" + path + "'");
  }
  const py::object& fn() const { return fn_; }

 private:
  static bool capture_available();

  py::object eager(const py::args& args, const py::kwargs& kwargs) {
    ++eager_calls_;
    return fn_(*args, **kwargs);
  }

  // The positional arguments, then the keyword values in the call's order.
  static void each_value(const py::args& args, const py::kwargs& kwargs,
                         std::vector<py::handle>& out) {
    out.clear();
    for (py::handle h : args) out.push_back(h);
    for (auto item : kwargs) out.push_back(item.second);
  }

  bool matches(Entry& e, const py::args& args, const py::kwargs& kwargs, bool grad) {
    if (e.grad_enabled != grad) return false;
    const size_t nkw = kwargs.size();
    if (args.size() + nkw != e.args.size() || nkw != e.kwnames.size()) return false;
    if (nkw) {
      size_t i = 0;
      for (auto item : kwargs)
        if (!same_value(item.first.ptr(), e.kwnames[i++].ptr())) return false;
    }
    each_value(args, kwargs, values_);
    for (size_t i = 0; i < values_.size(); ++i) {
      const ArgSpec& s = e.args[i];
      const Tensor* t = tensor_ptr(values_[i]);
      if (!s.tensor) {
        if (t || !same_value(values_[i].ptr(), s.value.ptr())) return false;
        continue;
      }
      if (!t || !*t) return false;
      const TensorImpl& x = **t;
      if (x.dtype() != s.dtype || x.shape() != s.shape || x.requires_grad() != s.requires_grad ||
          x.is_contiguous() != s.contiguous || (!s.contiguous && x.strides() != s.strides))
        return false;
      int alias = -1;
      for (size_t j = 0; j < i; ++j) {
        const Tensor* u = tensor_ptr(values_[j]);
        if (u && u->get() == t->get()) {
          alias = static_cast<int>(j);
          break;
        }
      }
      if (alias != s.alias) return false;
    }
    for (Guard& g : e.guards)
      if (!guard_holds(g)) return false;
    for (const auto& c : e.consts)
      if (c.t->dtype() != c.dtype || c.t->shape() != c.shape ||
          c.t->requires_grad() != c.requires_grad)
        return false;
    return true;
  }

  py::object capture(const py::args& args, const py::kwargs& kwargs, bool grad) {
    auto e = std::make_shared<Entry>();
    e->grad_enabled = grad;
    py::list names;
    for (auto item : kwargs) names.append(item.first);
    e->kwnames = py::tuple(names);
    capture::Recorder rec;
    each_value(args, kwargs, values_);
    const std::vector<py::handle> vals = values_;
    for (size_t i = 0; i < vals.size(); ++i) {
      ArgSpec s;
      if (const Tensor* t = tensor_ptr(vals[i]); t && *t) {
        s.tensor = true;
        s.shape = (*t)->shape();
        s.dtype = (*t)->dtype();
        s.requires_grad = (*t)->requires_grad();
        s.contiguous = (*t)->is_contiguous();
        if (!s.contiguous) s.strides = (*t)->strides();
        for (size_t j = 0; j < i; ++j)
          if (const Tensor* u = tensor_ptr(vals[j]); u && u->get() == t->get()) {
            s.alias = static_cast<int>(j);
            break;
          }
        if (s.alias < 0) rec.input(*t);
      } else {
        s.value = py::reinterpret_borrow<py::object>(vals[i]);
        if (!is_plain(vals[i].ptr())) {
          // A container or object argument may hold tensors or change between calls.
          rec.refuse("argument " + std::to_string(i) + " is a " +
                     std::string(Py_TYPE(vals[i].ptr())->tp_name) +
                     " (compiled functions take tensors and plain numbers, strings, None)");
        }
      }
      e->args.push_back(std::move(s));
    }
    // fn's globals and closure cells, read as they are now.
    for (py::handle spec : fn_guards_(fn_)) {
      auto t = spec.cast<py::tuple>();
      const std::string kind = t[0].cast<std::string>();
      if (kind == "contents") {  // (container, its copy now)
        e->guards.push_back(Guard{Guard::Contents, t[1], py::none(), t[2], 0});
        continue;
      }
      Guard g{kind == "cell" ? Guard::Cell : Guard::Item, t[1], t[2], py::object(), 0};
      if (PyObject* v = read_guard(g)) g.expected = py::reinterpret_borrow<py::object>(v);
      e->guards.push_back(std::move(g));
    }
    ++captures_;
    py::object result;
    {
      Capturing c(e.get(), flags_);
      capture::Scope scope(&rec);
      result = fn_(*args, **kwargs);
    }
    if (!rec.refused()) describe_output(*e, rec, result);
    // A function that changes Python state it read (a counter it increments, a scheduler it
    // steps, a module mode it flips) would capture again on every call, and its replays
    // would not make that change: it runs eagerly.
    if (!rec.refused())
      for (Guard& g : e->guards)
        if (!guard_holds(g)) {
          rec.refuse("the function changes Python state it reads (" + describe_guard(g) +
                     "), which a replay would not do");
          break;
        }
    if (rec.refused()) {
      reasons_.push_back(rec.reason());
      if (fullgraph_) throw std::runtime_error("tapegrad.compile(fullgraph=True): " + rec.reason());
      e->eager = true;
      e->guards.clear();  // the signature alone sends such calls to eager
      entries_.push_back(std::move(e));
      return result;
    }
    e->consts = rec.constant_states();
    std::vector<capture::Slot> keep = e->out.slots;
    keep.push_back(e->out.slot);
    e->program = rec.finish(keep);
    // Not when an optimizer left a state entry empty (a parameter no gradient reached): a
    // replay that makes it (the caller gave that parameter a .grad) must store it in the
    // optimizer's Python state as eager does, which only the bindings' calls do.
    auto state_left_empty = [](const capture::ExportForm& x) {
      for (const auto& c : x.constants)
        if (!c.second) return true;
      return false;
    };
    if (cpp_form_ && e->program.exported && e->program.exported->missing.empty() &&
        !state_left_empty(*e->program.exported))
      e->cpp = capture::cpp_form(e->program, memory_planning_, fusion_);
    entries_.push_back(std::move(e));
    return result;
  }

  static void describe_output(Entry& e, capture::Recorder& rec, const py::object& r) {
    OutSpec& o = e.out;
    auto slot_of = [&](py::handle h) -> capture::Slot {
      const Tensor* t = tensor_ptr(h);
      if (!t || !*t) return capture::kNoSlot;
      const capture::Slot s = rec.find(*t);
      if (s == capture::kNoSlot) rec.refuse("fn returned a tensor that no captured call made");
      return s;
    };
    auto item = [&](py::handle h) {
      if (tensor_ptr(h)) {
        o.slots.push_back(slot_of(h));
        o.values.emplace_back();
      } else {
        if (!is_plain(h.ptr())) rec.refuse("fn returned a " + std::string(Py_TYPE(h.ptr())->tp_name) +
                                           " inside its result (tensors and plain values only)");
        o.slots.push_back(capture::kNoSlot);
        o.values.push_back(py::reinterpret_borrow<py::object>(h));
      }
    };
    if (tensor_ptr(r)) {
      o.kind = OutSpec::Tensor1;
      o.slot = slot_of(r);
    } else if (PyTuple_CheckExact(r.ptr()) || PyList_CheckExact(r.ptr())) {
      o.kind = PyTuple_CheckExact(r.ptr()) ? OutSpec::Tuple : OutSpec::List;
      for (py::handle h : r) item(h);
    } else if (PyDict_CheckExact(r.ptr())) {
      o.kind = OutSpec::Dict;
      py::list keys;
      for (auto kv : py::reinterpret_borrow<py::dict>(r)) {
        if (!is_plain(kv.first.ptr())) rec.refuse("fn returned a dict with non-plain keys");
        keys.append(kv.first);
        item(kv.second);
      }
      o.keys = keys;
    } else if (is_plain(r.ptr())) {
      o.kind = OutSpec::Value;
      o.value = r;
    } else {
      rec.refuse("fn returned a " + std::string(Py_TYPE(r.ptr())->tp_name) +
                 " (tensors, plain values, and tuples, lists or dicts of them only)");
    }
  }

  // The call's argument values are in values_ (matches() collected them).
  py::object replay(const Entry& e) {
    const capture::Program& p = e.cpp ? *e.cpp : e.program;
    capture::Program::FrameLease lease(p);
    capture::Frame& f = lease.frame();
    size_t k = 0;
    for (size_t i = 0; i < values_.size(); ++i)
      if (e.args[i].tensor && e.args[i].alias < 0)
        f[static_cast<size_t>(p.inputs[k++])] = *tensor_ptr(values_[i]);
    lease.run();
    ++replays_;
    const OutSpec& o = e.out;
    auto get = [&](size_t i) -> py::object {
      if (o.slots[i] == capture::kNoSlot) return o.values[i];
      return py::cast(f[static_cast<size_t>(o.slots[i])]);
    };
    switch (o.kind) {
      case OutSpec::Value: return o.value;
      case OutSpec::Tensor1: return py::cast(f[static_cast<size_t>(o.slot)]);
      case OutSpec::Tuple: {
        py::tuple t(o.slots.size());
        for (size_t i = 0; i < o.slots.size(); ++i) t[i] = get(i);
        return t;
      }
      case OutSpec::List: {
        py::list l;
        for (size_t i = 0; i < o.slots.size(); ++i) l.append(get(i));
        return l;
      }
      case OutSpec::Dict: {
        py::dict d;
        size_t i = 0;
        for (py::handle key : o.keys) d[key] = get(i++);
        return d;
      }
    }
    return py::none();
  }

  py::object fn_;
  bool fullgraph_;
  int limit_;
  py::object flags_;      // tapegrad._capture's namespace (ACTIVE)
  py::object fn_guards_;  // tapegrad._capture.fn_guards
  std::vector<std::shared_ptr<Entry>> entries_;
  std::vector<py::handle> values_;  // scratch: the current call's argument values
  std::vector<std::string> reasons_;
  bool disabled_ = false;
  bool cpp_form_ = true;
  bool memory_planning_ = true;  // Note [reused temporaries] in cpp/src/ops/binary.cpp
  bool fusion_ = true;           // Note [fused linear-relu] in cpp/src/ops/linalg.cpp
  int64_t captures_ = 0, replays_ = 0, eager_calls_ = 0;
};

}  // namespace

bool capture_guard_installed();  // convert_args.cpp
bool Compiled::capture_available() { return capture_guard_installed(); }

namespace {
// Note [compiled call]
// Calling a compiled function is the one call a replayed step still makes from Python, so it
// does not go through pybind11's dispatcher (a method lookup, the overload loop, the argument
// loaders building an args tuple and a kwargs dict): the type's tp_call slot goes straight to
// Compiled::call with the tuple CPython made, and raises a C++ exception as a binding would
// (set_python_error). Measured on the 8-point step: ~2k of ~36k instructions per call.
PyObject* compiled_tp_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  try {
    Compiled& c = py::cast<Compiled&>(py::handle(self));
    const auto a = py::reinterpret_borrow<py::args>(args);
    const py::kwargs k = kwargs ? py::reinterpret_borrow<py::kwargs>(kwargs) : py::kwargs();
    return c.call(a, k).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    set_python_error(std::current_exception());
  }
  return nullptr;
}
}  // namespace

void bind_compile(py::module_& m) {
  auto compiled = py::class_<Compiled>(m, "_Compiled", py::dynamic_attr());
  compiled
      .def(py::init<py::object, bool, int, py::object, py::object, bool, bool, bool>(), py::arg("fn"),
           py::arg("fullgraph"), py::arg("cache_size_limit"), py::arg("flags"),
           py::arg("fn_guards"), py::arg("cpp_form") = true, py::arg("memory_planning") = true,
           py::arg("fusion") = true)
      .def("__call__", &Compiled::call)
      .def_property_readonly("fallback_reasons", &Compiled::reasons)
      .def_property_readonly("_stats", &Compiled::stats)
      .def_property_readonly("_orig_fn", &Compiled::fn)
      .def("_reset", &Compiled::reset)
      .def("save", &Compiled::save, py::arg("path"), py::arg("names") = py::none());
  // Note [compiled call]: `c(...)` skips the dispatcher (c.__call__(...) still takes it).
  reinterpret_cast<PyTypeObject*>(compiled.ptr())->tp_call = &compiled_tp_call;
  PyType_Modified(reinterpret_cast<PyTypeObject*>(compiled.ptr()));
  py::class_<capture::SavedProgram>(m, "_SavedProgram")
      .def_static("load", &capture::SavedProgram::load, py::arg("path"))
      .def("run", [](capture::SavedProgram& p, const std::vector<Tensor>& inputs) -> py::object {
            std::vector<Tensor> out;
            {
              py::gil_scoped_release nogil;
              out = p.run(inputs);
            }
            if (p.single_result() && out.size() == 1) return py::cast(out[0]);
            if (out.empty()) return py::none();  // a step that returns nothing (or no tensor)
            return py::cast(out);
          })
      .def("state", [](const capture::SavedProgram& p) {
            py::dict d;
            for (const std::string& n : p.state_names()) d[py::str(n)] = p.state(n);
            return d;
          })
      .def_property_readonly("num_calls", &capture::SavedProgram::num_calls)
      .def_property_readonly("num_fused", &capture::SavedProgram::num_fused);
  m.def("_capture_guard_item", [](py::dict d, py::object key) {
    capture::pure();
    add_guard(Guard::Item, std::move(d), std::move(key));
  });
  m.def("_capture_guard_len", [](py::object obj) {
    capture::pure();
    add_guard(Guard::Len, std::move(obj), py::none());
  });
  // Note [block recycling]: the calling thread's recycled tensor blocks (tests).
  m.def("_block_stats", [] {
    capture::pure();
    const tapegrad::blocks::Stats s = tapegrad::blocks::stats();
    py::dict d;
    d["enabled"] = s.enabled;
    d["cached"] = s.cached;
    d["fresh"] = s.fresh;
    d["reused"] = s.reused;
    return d;
  });
  m.def("_capture_refuse", [](const std::string& why) {
    capture::pure();
    if (capture::Recorder* r = capture::active()) r->refuse(why);
  });
}

}  // namespace tapegrad::bind

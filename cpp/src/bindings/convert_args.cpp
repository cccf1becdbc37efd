// Wrong-typed arguments → PyTorch's TypeError. When no overload of a pybind11 function accepts
// the arguments, pybind11 raises "f(): incompatible function arguments. The following argument
// types are supported: ..." with C++-flavoured signatures. Every function of the module gets a
// guard around pybind11's dispatcher that rewrites that one error, once for all rows:
//   mm(): argument 'other' (position 2) must be Tensor, not str
//   expand_as(): argument 'other' (position 1) must be Tensor, not NoneType
//   f() received an invalid combination of arguments - got (Tensor, str), but expected ...
// (positions count from 1 and leave out `self`, as PyTorch's do). See Note [None is not a tensor].
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "bindings/bindings.h"
#include "tapegrad/capture.h"

namespace tapegrad::bind {
namespace {

// pybind11's dispatcher is a METH_FASTCALL | METH_KEYWORDS function.
using Dispatcher = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
using Keywords = std::vector<std::pair<std::string, PyObject*>>;
Dispatcher g_dispatch = nullptr;
// The name of each guarded function, by the capsule pybind11 passes as `self`.
std::unordered_map<PyObject*, const char*> g_names;
// Functions that read no tensor data and change no engine state (the dtype enum's methods):
// a capture goes on through them (Note [capture and replay]).
std::unordered_set<PyObject*> g_pure;
bool g_guarding_pure = false;  // set while guard_namespace walks such a class

struct Param {
  std::string name, type;
  bool has_default = false;
};

std::string strip_module(std::string s) {
  for (const std::string_view prefix : {"tapegrad._core.", "typing."}) {
    for (size_t p; (p = s.find(prefix)) != std::string::npos;) s.erase(p, prefix.size());
  }
  return s;
}

// "(self: Tensor, other: Tensor, dim: int = 0)" → params (top-level commas only).
std::vector<Param> parse_params(const std::string& sig) {
  std::vector<Param> out;
  std::string cur;
  int depth = 0;
  auto flush = [&] {
    size_t b = cur.find_first_not_of(' ');
    if (b == std::string::npos) return;
    std::string p = cur.substr(b);
    cur.clear();
    if (p == "*" || p == "/" || p.rfind("*", 0) == 0) return;  // markers, *args, **kwargs
    Param q;
    const size_t colon = p.find(": ");
    const size_t eq = p.find(" = ");
    q.name = p.substr(0, colon == std::string::npos ? p.size() : colon);
    if (colon != std::string::npos)
      q.type = p.substr(colon + 2, (eq == std::string::npos ? p.size() : eq) - colon - 2);
    q.has_default = eq != std::string::npos;
    // pybind11 3 spells int and float parameters as the protocols it accepts
    if (q.type.rfind("SupportsInt", 0) == 0) q.type = "int";
    if (q.type.rfind("SupportsFloat", 0) == 0) q.type = "float";
    if (q.name == "arg0") q.name = "input";
    out.push_back(q);
  };
  for (char c : sig) {
    if (c == '[' || c == '(' || c == '{') ++depth;
    if (c == ']' || c == ')' || c == '}') --depth;
    if (c == ',' && depth == 0) flush();
    else cur += c;
  }
  flush();
  return out;
}

std::string py_type_name(PyObject* o) {
  if (is_tensor(o)) return "Tensor";
  return Py_TYPE(o)->tp_name;
}

// Whether `o` plausibly matches a declared type; only used to point at the argument at fault.
bool plausible(PyObject* o, const std::string& type) {
  if (type.empty() || type == "object" || type == "Any" || type == "handle") return true;
  if (type == "Tensor") return is_tensor(o);
  if (type.find("Tensor | None") != std::string::npos) return o == Py_None || is_tensor(o);
  if (type == "int" || type == "SupportsInt" || type == "typing.SupportsInt")
    return PyIndex_Check(o) && !PyFloat_Check(o);
  if (type == "float" || type == "SupportsFloat")
    return PyFloat_Check(o) || PyLong_Check(o) || PyIndex_Check(o) || PyNumber_Check(o);
  if (type == "bool") return PyBool_Check(o) || PyIndex_Check(o);
  if (type == "str") return PyUnicode_Check(o);
  if (type.rfind("list[Tensor]", 0) == 0 || type.rfind("collections.abc.Sequence[Tensor]", 0) == 0 ||
      type.rfind("Sequence[Tensor]", 0) == 0) {
    if (!PySequence_Check(o) || PyUnicode_Check(o)) return false;
    py::sequence s = py::reinterpret_borrow<py::sequence>(o);
    for (py::object e : s)
      if (!is_tensor(e)) return false;
    return true;
  }
  return true;  // a type this guard does not know: do not blame it
}

std::string short_type(const std::string& t) {
  if (t.find("Sequence[Tensor]") != std::string::npos || t.find("list[Tensor]") != std::string::npos)
    return "tuple of Tensors";
  if (t == "SupportsInt") return "int";
  if (t == "SupportsFloat") return "float";
  return t;
}

std::string rewrite(const std::string& msg, const std::vector<PyObject*>& given, const Keywords& kwargs) {
  const size_t mark = msg.find("(): incompatible ");
  const std::string name = msg.substr(0, mark);
  // The overloads pybind11 listed: "    1. (a: T, b: U) -> R".
  std::vector<std::string> sigs;
  for (size_t p = msg.find("\n    1. ("); p != std::string::npos; p = msg.find("\n    ", p + 1)) {
    const size_t open = msg.find('(', p);
    const size_t end = msg.find('\n', p + 1);
    std::string line = msg.substr(open, (end == std::string::npos ? msg.size() : end) - open);
    const size_t arrow = line.rfind(") -> ");
    if (arrow != std::string::npos) line = line.substr(0, arrow + 1);
    sigs.push_back(strip_module(line));
    if (end == std::string::npos) break;
    if (msg.compare(end, 2, "\n\n") == 0) break;
  }

  if (sigs.size() == 1) {
    const std::vector<Param> ps = parse_params(sigs[0].substr(1, sigs[0].size() - 2));
    const bool method = !ps.empty() && ps[0].name == "self";
    for (size_t i = 0; i < given.size() && i < ps.size(); ++i) {
      if (plausible(given[i], ps[i].type)) continue;
      const size_t pos = method ? i : i + 1;
      if (method && i == 0)
        return name + "(): expected a Tensor as self, got " + py_type_name(given[i]);
      return name + "(): argument '" + ps[i].name + "' (position " + std::to_string(pos) +
             ") must be " + short_type(ps[i].type) + ", not " + py_type_name(given[i]);
    }
    for (size_t i = given.size(); i < ps.size(); ++i) {
      bool named = false;
      for (const auto& kv : kwargs) named = named || kv.first == ps[i].name;
      if (!ps[i].has_default && !named)
        return name + "() missing required argument '" + ps[i].name + "' (position " +
               std::to_string(method ? i : i + 1) + ")";
    }
    {
      for (const auto& [key, v] : kwargs) {
        bool known = false;
        for (const Param& p : ps) {
          if (p.name != key) continue;
          known = true;
          if (!plausible(v, p.type))
            return name + "(): argument '" + key + "' must be " + short_type(p.type) + ", not " +
                   py_type_name(v);
        }
        if (!known) return name + "() got an unexpected keyword argument '" + key + "'";
      }
    }
  }
  std::string got = "(";
  for (size_t i = 0; i < given.size(); ++i) got += (i ? ", " : "") + py_type_name(given[i]);
  for (const auto& [key, v] : kwargs) got += (got.size() > 1 ? ", " : "") + key + "=" + py_type_name(v);
  got += ")";
  std::string out = name + "() received an invalid combination of arguments - got " + got + ", but expected ";
  if (sigs.size() == 1) return out + sigs[0];
  out += "one of:";
  for (const std::string& s : sigs) out += "\n * " + s;
  return out;
}

PyObject* translated_dispatch(PyObject* self, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames);

// Why a binding that did not record refuses a capture (Note [capture and replay]).
std::string not_captured(PyObject* self) {
  auto it = g_names.find(self);
  const std::string name = it == g_names.end() ? std::string("a tapegrad function") : it->second;
  static const char* const reads_data[] = {"item", "tolist", "numpy", "_numpy_view", "__bool__",
                                           "__float__", "__int__", "__index__", "__repr__",
                                           "__str__", "__format__", "__array__"};
  for (const char* r : reads_data)
    if (name == r)
      return name + "() reads tensor data into Python, so what the function does next may "
             "depend on it (return the tensor and read it outside the compiled function)";
  static const char* const from_python[] = {"tensor", "as_tensor", "from_numpy"};
  for (const char* r : from_python)
    if (name == r)
      return name + "() makes a tensor from Python data, which a replay could not see change";
  return name + "() is not recorded by capture yet";
}

PyObject* capture_guarded_dispatch(PyObject* self, PyObject* const* args, Py_ssize_t nargsf,
                                   PyObject* kwnames) {
  capture::Recorder* rec = capture::active();
  if (!rec || rec->depth > 0) return translated_dispatch(self, args, nargsf, kwnames);
  rec->touched = false;
  auto named = g_names.find(self);
  rec->binding = named == g_names.end() ? nullptr : named->second;
  PyObject* r = translated_dispatch(self, args, nargsf, kwnames);
  if (!rec->touched && !g_pure.count(self)) rec->refuse(not_captured(self));
  rec->touched = true;  // for a binding this one was called from
  return r;
}

// A function that takes out= (Note [out= arguments] in out.cpp) is looked up only when the call
// has keywords.
PyObject* guarded_dispatch(PyObject* self, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  if (kwnames)
    if (const void* spec = out_spec_for(self))
      return dispatch_with_out(spec, self, args, nargsf, kwnames, &capture_guarded_dispatch);
  return capture_guarded_dispatch(self, args, nargsf, kwnames);
}

// A size check deep in the allocation ("shape [...] has too many elements", "out of memory:
// cannot allocate ...") knows the shape but not the op that asked for it: the function's name
// goes in front, as every tapegrad message has it.
void name_size_error(PyObject* self) {
  auto it = g_names.find(self);
  if (it == g_names.end()) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  std::string msg;
  if (PyObject* s = value ? PyObject_Str(value) : nullptr) {
    if (const char* c = PyUnicode_AsUTF8(s)) msg = c;
    Py_DECREF(s);
  }
  PyErr_Clear();
  bool sized = false;
  for (const std::string_view p : {"shape [", "negative dimension ", "out of memory: cannot allocate"})
    sized = sized || msg.rfind(p, 0) == 0;
  if (!sized) {
    PyErr_Restore(type, value, tb);
    return;
  }
  PyErr_SetString(type, (std::string(it->second) + "(): " + msg).c_str());
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

PyObject* translated_dispatch(PyObject* self, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  PyObject* r = g_dispatch(self, args, nargsf, kwnames);
  if (!r && (PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_MemoryError))) {
    name_size_error(self);
    return nullptr;
  }
  if (r || !PyErr_ExceptionMatches(PyExc_TypeError)) return r;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string msg;
  if (PyObject* s = value ? PyObject_Str(value) : nullptr) {
    if (const char* c = PyUnicode_AsUTF8(s)) msg = c;
    Py_DECREF(s);
  }
  PyErr_Clear();
  if (msg.find("(): incompatible function arguments") == std::string::npos &&
      msg.find("(): incompatible constructor arguments") == std::string::npos) {
    // A TypeError from inside (Python's own "'str' object cannot be interpreted as an
    // integer") gets the function's name in front, as every tapegrad message has.
    auto it = g_names.find(self);
    if (it != g_names.end() && type == PyExc_TypeError && msg.find(it->second) == std::string::npos) {
      Py_XDECREF(type);
      Py_XDECREF(value);
      Py_XDECREF(tb);
      PyErr_SetString(PyExc_TypeError, (std::string(it->second) + "(): " + msg).c_str());
      return nullptr;
    }
    PyErr_Restore(type, value, tb);
    return nullptr;
  }
  std::string text;
  try {
    const Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    std::vector<PyObject*> given(args, args + n);
    Keywords kw;
    if (kwnames)
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i)
        kw.emplace_back(PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i)), args[n + i]);
    text = rewrite(msg, given, kw);
  } catch (...) {
    PyErr_Clear();
    text = msg.substr(0, msg.find('.')) + " (wrong argument types)";
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_SetString(PyExc_TypeError, text.c_str());
  return nullptr;
}

void guard_object(PyObject* o) {
  if (PyInstanceMethod_Check(o)) o = PyInstanceMethod_GET_FUNCTION(o);
  if (PyCFunction_Check(o)) {
    PyMethodDef* def = reinterpret_cast<PyCFunctionObject*>(o)->m_ml;
    if (reinterpret_cast<void*>(def->ml_meth) == reinterpret_cast<void*>(g_dispatch) &&
        def->ml_flags == (METH_FASTCALL | METH_KEYWORDS))
    {
      def->ml_meth = reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(&guarded_dispatch));
      g_names[PyCFunction_GET_SELF(o)] = def->ml_name;
    }
    if (g_guarding_pure &&
        reinterpret_cast<void*>(def->ml_meth) == reinterpret_cast<void*>(&guarded_dispatch))
      g_pure.insert(PyCFunction_GET_SELF(o));
    return;
  }
  // staticmethod(__func__) and properties (fget, fset)
  for (const char* attr : {"__func__", "fget", "fset"}) {
    if (!PyObject_HasAttrString(o, attr) || PyType_Check(o)) continue;
    PyObject* f = PyObject_GetAttrString(o, attr);
    if (!f) {
      PyErr_Clear();
      continue;
    }
    if (f != Py_None && PyCFunction_Check(f)) guard_object(f);
    Py_DECREF(f);
  }
}

void guard_namespace(PyObject* dict, int depth) {
  PyObject *k, *v;
  Py_ssize_t it = 0;
  while (PyDict_Next(dict, &it, &k, &v)) {
    if (PyModule_Check(v) && depth < 2) {
      guard_namespace(PyModule_GetDict(v), depth + 1);
    } else if (PyType_Check(v) && depth < 3) {
      PyObject* d = reinterpret_cast<PyTypeObject*>(v)->tp_dict;
      if (d) guard_namespace(d, depth + 1);
    } else {
      guard_object(v);
    }
  }
}

}  // namespace

bool capture_guard_installed() { return g_dispatch != nullptr; }

void guard_arguments(py::module_& m) {
  py::object probe = m.attr("_register_types");
  PyObject* f = probe.ptr();
  if (PyInstanceMethod_Check(f)) f = PyInstanceMethod_GET_FUNCTION(f);
  if (!PyCFunction_Check(f) || PyCFunction_GET_FLAGS(f) != (METH_FASTCALL | METH_KEYWORDS)) return;
  g_dispatch = reinterpret_cast<Dispatcher>(reinterpret_cast<void*>(PyCFunction_GET_FUNCTION(f)));
  guard_namespace(PyModule_GetDict(m.ptr()), 0);
  // The dtype enum (comparisons, hash, repr, name, value): metadata only.
  if (PyObject* dt = PyDict_GetItemString(PyModule_GetDict(m.ptr()), "dtype"); dt && PyType_Check(dt)) {
    g_guarding_pure = true;
    if (PyObject* d = reinterpret_cast<PyTypeObject*>(dt)->tp_dict) guard_namespace(d, 3);
    g_guarding_pure = false;
  }
}

}  // namespace tapegrad::bind

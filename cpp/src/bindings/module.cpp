// The tapegrad._core module: creation and random functions, autograd, the optimizers' one-call
// updates, kernel selection and threads; and PYBIND11_MODULE, which registers the dtype, the
// Tensor class (tensor.cpp) and the ops (ops.cpp).
#include "bindings/bindings.h"
#include "bindings/op_docs.h"
#include "bindings/record.h"
#include "tapegrad/grad_mode.h"
#include "tapegrad/kernels.h"
#include "tapegrad/tape.h"

#include <chrono>
#include <mutex>
#include <random>
#include <functional>
#include <vector>

#ifndef TAPEGRAD_VERSION
#define TAPEGRAD_VERSION "0.0.0"
#endif

namespace tapegrad::bind {
namespace {

// An optimizer state tensor the optimizers update in place: the tensor itself (never the
// contiguous copy a strided argument gets, Note [strided arguments]), so a strided view is
// refused instead of updated in a copy.
Tensor updated_in_place(py::handle h, const char* op) {
  const Tensor* t = tensor_ptr(h);
  if (!t) return h.cast<Tensor>();  // the caster's TypeError for a non-tensor
  if (*t && !(*t)->is_contiguous())
    throw std::runtime_error(std::string(op) + ": a state tensor of shape " +
                             shape_str((*t)->shape()) + " is a non-contiguous view; optimizers "
                             "update their state in place and need contiguous tensors");
  return *t;
}

// The parameters an optimizer step updates. The update kernels read and write contiguous
// memory; a strided Parameter (nn.Parameter(w.T), p.data = w.T) is updated in a contiguous
// working copy that carries its gradient, and the result is written back through the
// parameter's strides after the step (as PyTorch's optimizers update such a parameter).
struct StepParams {
  std::vector<Tensor> params;                      // what the kernels see
  std::vector<std::pair<Tensor, Tensor>> strided;  // (parameter, its working copy)
  void add(py::handle h) {
    Tensor p = updated_in_place_param(h);
    if (p && !p->is_contiguous()) {
      if (capture::Recorder* r = capture::active())
        r->xmiss("an optimizer step over a strided parameter has no C++ form yet");
      Tensor c = clone_data(p);
      if (p->has_grad()) c->set_grad(p->grad());
      strided.emplace_back(p, c);
      p = c;
    }
    params.push_back(std::move(p));
  }
  void write_back() const {
    GradModeGuard off(false);  // a parameter update, as `with no_grad(): p.copy_(...)`
    for (const auto& [p, c] : strided) copy_(p, c);
  }
 private:
  static Tensor updated_in_place_param(py::handle h) {
    const Tensor* t = tensor_ptr(h);
    return t ? *t : h.cast<Tensor>();  // the caster's TypeError for a non-tensor
  }
};

// zeros(2, 3), zeros((2, 3)), zeros(size=(2, 3)); dtype= and requires_grad= as keywords.
Shape size_from(py::args args, py::kwargs kw, const char* op) {
  if (kw.contains("size")) return shape_arg(kw["size"], op);
  return shape_from(args, op);
}
DType dtype_from(py::kwargs kw) {
  return kw.contains("dtype") ? parse_dtype(kw["dtype"]).value_or(DType::f32) : DType::f32;
}
Tensor with_grad(Tensor t, bool requires_grad) {
  if (requires_grad) t->set_requires_grad(true);
  return t;
}
// with_grad in a lowered binding: requires_grad_ as one of its engine calls.
Tensor lowered_with_grad(Tensor t, bool requires_grad) {
  return requires_grad ? lower(&capture::ex::set_requires_grad, t, true) : t;
}
constexpr auto kArangeInt = static_cast<Tensor (*)(int64_t, int64_t, int64_t)>(&arange);
constexpr auto kArangeFloat = static_cast<Tensor (*)(double, double, double, DType)>(&arange);
constexpr auto kFull = static_cast<Tensor (*)(const Shape&, const Scalar&, DType)>(&full);
Generator* generator_kw(const py::kwargs& kw, const char* op) {
  return kw.contains("generator") ? generator_arg(kw["generator"], op) : nullptr;
}
bool requires_grad_from(py::kwargs kw) {
  return kw.contains("requires_grad") && kw["requires_grad"].cast<bool>();
}

// Kernel time alone of a float32 row kernel on n × c logits (labels j·7 mod c, g = 1/n):
// the best over `reps` batches of 8 calls, in nanoseconds per call. The integer labels and
// the inputs are made once, so this is the number the issue's "kernel time" means.
double time_row_kernel(const std::string& name, int64_t n, int64_t c, int64_t reps) {
  if (n < 1 || c < 1 || reps < 1)
    throw ValueError("_time_row_kernel: n, c and reps must be >= 1");
  const size_t rows = size_t(n), all = size_t(n * c);
  std::vector<float> x(all), y(all), loss(rows), lse(rows), g(rows, 1.0f / float(n));
  std::vector<int64_t> label(rows);
  uint32_t state = 12345;
  for (auto& v : x) {
    state = state * 1664525u + 1013904223u;
    v = float(int32_t(state >> 8) % 4000) * 1e-3f - 2.0f;
  }
  for (int64_t i = 0; i < n; ++i) label[size_t(i)] = (i * 7) % c;
  std::function<void()> fn;
  if (name == "cross_entropy")
    fn = [&] { kernels::cross_entropy_f32(n, c, x.data(), label.data(), loss.data(), lse.data()); };
  else if (name == "cross_entropy_backward")
    fn = [&] {
      kernels::cross_entropy_backward_f32(n, c, x.data(), label.data(), lse.data(), g.data(), 1,
                                          y.data());
    };
  else if (name == "cross_entropy_fwd_bwd")
    fn = [&] {
      kernels::cross_entropy_f32(n, c, x.data(), label.data(), loss.data(), lse.data());
      kernels::cross_entropy_backward_f32(n, c, x.data(), label.data(), lse.data(), g.data(), 1,
                                          y.data());
    };
  else if (name == "softmax")
    fn = [&] { kernels::softmax_f32(n, c, 1, x.data(), y.data()); };
  else if (name == "log_softmax")
    fn = [&] { kernels::log_softmax_f32(n, c, 1, x.data(), y.data()); };
  else
    throw ValueError("_time_row_kernel: unknown kernel '" + name + "'");
  py::gil_scoped_release nogil;
  fn();
  double best = 1e300;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 8; ++i) fn();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, dt / 8);
  }
  return best * 1e9;
}

Tensor creation(py::args args, py::kwargs kw, const char* op, double value, bool use_value) {
  Shape s = size_from(args, kw, op);
  for (int64_t d : s)
    if (d < 0)
      throw ValueError(std::string(op) + ": negative dimension " + std::to_string(d) +
                       " in size " + shape_str(s));
  const DType dt = dtype_from(kw);
  return lowered_with_grad(use_value ? lower(kFull, s, Scalar(value), dt) : lower(&zeros, s, dt),
                           requires_grad_from(kw));
}

}  // namespace

void bind_functions(py::module_& m) {
  // ----- creation -----
  m.def("tensor", [](py::object data, py::object dtype, bool requires_grad) {
        return with_grad(tensor_from_py(data, parse_dtype(dtype)), requires_grad);
      }, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("tensor"));
  m.def("from_numpy", &from_numpy, py::arg("ndarray"), op_doc("from_numpy"));
  m.def("as_tensor", [](py::object data, py::object dtype) { return as_tensor_from_py(data, parse_dtype(dtype)); },
        py::arg("data"), py::arg("dtype") = py::none(), op_doc("as_tensor"));
  m.def("zeros", recorded([](py::args a, py::kwargs k) { return creation(a, k, "zeros", 0, false); }), op_doc("zeros"));
  m.def("ones", recorded([](py::args a, py::kwargs k) { return creation(a, k, "ones", 1, true); }), op_doc("ones"));
  m.def("empty", recorded([](py::args a, py::kwargs k) { return creation(a, k, "empty", 0, false); }), op_doc("empty"));
  m.def("full", recorded([](py::object size, py::object value, py::object dtype, bool rg) {
        // The fill value's Python type gives the default dtype (bool, int64, float32).
        DType dt = DType::f32;
        if (PyBool_Check(value.ptr())) dt = DType::b8;
        else if (PyLong_Check(value.ptr())) dt = DType::i64;
        if (auto d = parse_dtype(dtype)) dt = *d;
        return lowered_with_grad(lower(kFull, shape_arg(size, "full"), scalar_value(value, "full"), dt), rg);
      }), py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("full"));
  // *_like: the shape of `input`, its dtype unless dtype= says otherwise (a view is read for
  // its shape only: no contiguous copy, Note [strided arguments]).
  m.def("zeros_like", recorded([](const Strided& x, py::object dtype, bool rg) {
        return lowered_with_grad(lower(&zeros, x->shape(), parse_dtype(dtype).value_or(x->dtype())), rg);
      }), py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("zeros_like"));
  m.def("ones_like", recorded([](const Strided& x, py::object dtype, bool rg) {
        return lowered_with_grad(lower(kFull, x->shape(), Scalar(1), parse_dtype(dtype).value_or(x->dtype())), rg);
      }), py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("ones_like"));
  m.def("full_like", recorded([](const Strided& x, py::object value, py::object dtype, bool rg) {
        return lowered_with_grad(lower(kFull, x->shape(), scalar_value(value, "full_like"),
                                       parse_dtype(dtype).value_or(x->dtype())), rg);
      }), py::arg("input"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("full_like"));
  m.def("rand_like", recorded([](const Strided& x, py::object dtype) {
        return rand(x->shape(), parse_dtype(dtype).value_or(x->dtype()));
      }), py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), op_doc("rand_like"));
  m.def("randn_like", recorded([](const Strided& x, py::object dtype) {
        return randn(x->shape(), parse_dtype(dtype).value_or(x->dtype()));
      }), py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), op_doc("randn_like"));
  m.def("arange", recorded([](py::object a, py::object b, py::object step, py::object dtype, bool rg) {
        // All-integer arguments give int64 (PyTorch's rule), anything else float32.
        bool all_int = PyLong_Check(a.ptr()) && (b.is_none() || PyLong_Check(b.ptr())) && (step.is_none() || PyLong_Check(step.ptr()));
        DType dt = all_int ? DType::i64 : DType::f32;
        if (auto d = parse_dtype(dtype)) dt = *d;
        if (all_int && dt == DType::i64) {  // exact beyond 2^53 (Note [exact scalars])
          const int64_t lo = b.is_none() ? 0 : to_i64(a), hi = to_i64(b.is_none() ? a : b);
          return lowered_with_grad(lower(kArangeInt, lo, hi, step.is_none() ? int64_t{1} : to_i64(step)), rg);
        }
        double start = 0, end;
        if (b.is_none()) end = scalar_arg(a, "arange");
        else {
          start = scalar_arg(a, "arange");
          end = scalar_arg(b, "arange");
        }
        const double st = step.is_none() ? 1.0 : scalar_arg(step, "arange");
        return lowered_with_grad(lower(kArangeFloat, start, end, st, dt), rg);
      }), py::arg("start"), py::arg("end") = py::none(), py::arg("step") = py::none(), py::kw_only(),
      py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("arange"));
  m.def("linspace", recorded([](double s, double e, int64_t n, py::object dtype, bool rg) {
        return lowered_with_grad(lower(&linspace, s, e, n, parse_dtype(dtype).value_or(DType::f32)), rg);
      }), py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false, op_doc("linspace"));
  m.def("eye", recorded([](int64_t n, py::object cols, py::object dtype) {
        return lower(&eye, n, cols.is_none() ? n : to_i64(cols), parse_dtype(dtype).value_or(DType::f32));
      }), py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none(), op_doc("eye"));

  // ----- random -----
  // Generators (torch.Generator): their own state; generator= on the random functions below.
  py::class_<Generator, std::shared_ptr<Generator>>(m, "Generator", R"doc(A random number generator with its own state (``torch.Generator``), seeded with PyTorch's default seed unless given another; pass it as ``generator=`` to the random functions, samplers and ``random_split``. ``tapegrad.default_generator`` is the one ``manual_seed`` seeds.

>>> g = tg.Generator().manual_seed(7)
>>> a = tg.rand(3, generator=g)
>>> _ = g.manual_seed(7)
>>> bool((tg.rand(3, generator=g) == a).all()), g.initial_seed()
(True, 7)
)doc")
      .def(py::init([](py::object device) {
             if (!device.is_none() && py::str(device).cast<std::string>() != "cpu")
               throw std::runtime_error("Generator: tapegrad runs on the CPU only (device " +
                                        py::str(device).cast<std::string>() + ")");
             return std::make_shared<Generator>();
           }), py::arg("device") = "cpu")
      .def("manual_seed", [](const std::shared_ptr<Generator>& g, py::object seed) {
             // Recorded: a compiled step that reseeds reseeds on every replay too.
             capture::call([](const std::shared_ptr<Generator>& gen, uint64_t sd) {
               std::lock_guard<std::mutex> lock(gen->lock());
               gen->reseed(sd);
             }, g, static_cast<uint64_t>(to_i64(seed)));
             return g;
           }, py::arg("seed"), "Reseed this generator; returns it.")
      .def("initial_seed", [](const Generator& g) { return capture::pure(), g.initial_seed(); },
           "The seed this generator was last seeded with.")
      .def("seed", [](const std::shared_ptr<Generator>& g) {
             const uint64_t s = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
             std::lock_guard<std::mutex> lock(g->lock());
             g->reseed(s);
             return s;
           }, "Reseed from a nondeterministic source; returns the new seed.")
      .def("get_state", [](const std::shared_ptr<Generator>& g) {
             return capture::call([](const std::shared_ptr<Generator>& gen) {
               const std::vector<uint8_t> st = gen->state();
               Tensor t = empty({static_cast<int64_t>(st.size())}, DType::i64);
               for (size_t i = 0; i < st.size(); ++i) t->data<int64_t>()[i] = st[i];
               return t;
             }, g);
           }, "The generator's state as a 1-D int64 tensor of bytes (for set_state).")
      .def("set_state", [](const std::shared_ptr<Generator>& g, const Tensor& t) {
        capture::call([](const std::shared_ptr<Generator>& g, const Tensor& t) {
             if (t->dtype() != DType::i64 && t->dtype() != DType::b8)
               throw TypeError("Generator.set_state: expected the tensor get_state() returns");
             std::vector<uint8_t> st(static_cast<size_t>(t->numel()));
             for (size_t i = 0; i < st.size(); ++i) {
               const int64_t v = t->dtype() == DType::i64 ? t->data<int64_t>()[i] : t->data<uint8_t>()[i];
               if (v < 0 || v > 255) throw ValueError("Generator.set_state: state bytes must be in [0, 255]");
               st[i] = static_cast<uint8_t>(v);
             }
             g->set_state(st);
           }, g, t);
        return g;
      }, py::arg("new_state"), "Restore a state from get_state(); returns the generator.")
      .def_property_readonly("device", [](const Generator&) { return capture::pure(), std::string("cpu"); })
      .def("__repr__", [](const Generator& g) {
             return "<tapegrad.Generator seed=" + std::to_string(g.initial_seed()) + ">";
           });
  m.attr("default_generator") =
      std::shared_ptr<Generator>(&Generator::default_generator(), [](Generator*) {});

  m.def("rand", recorded([](py::args a, py::kwargs k) {
        Generator* g = generator_kw(k, "rand");  // the default generator's draws have a C++ form
        if (!g) return lowered_with_grad(lower(&capture::ex::rand_default, size_from(a, k, "rand"), dtype_from(k)),
                                         requires_grad_from(k));
        return with_grad(rand(size_from(a, k, "rand"), dtype_from(k), g), requires_grad_from(k));
      }), op_doc("rand"));
  m.def("randn", recorded([](py::args a, py::kwargs k) {
        Generator* g = generator_kw(k, "randn");
        if (!g) return lowered_with_grad(lower(&capture::ex::randn_default, size_from(a, k, "randn"), dtype_from(k)),
                                         requires_grad_from(k));
        return with_grad(randn(size_from(a, k, "randn"), dtype_from(k), g), requires_grad_from(k));
      }), op_doc("randn"));
  m.def("randint", recorded([](py::object lo, py::object hi, py::object size, py::object gen) {
        if (hi.is_none()) throw py::type_error("randint: expected randint(low, high, size) or randint(high, size)");
        Generator* g = generator_arg(gen, "randint");
        const int64_t low = size.is_none() ? 0 : int_arg(lo, "randint", "low");
        const int64_t high = size.is_none() ? int_arg(lo, "randint", "high") : int_arg(hi, "randint", "high");
        const Shape shape = size.is_none() ? shape_arg(hi, "randint") : shape_arg(size, "randint");
        if (!g) return lower(&capture::ex::randint_default, low, high, shape);  // (the default generator)
        return randint(low, high, shape, g);
      }), py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none(), py::kw_only(),
      py::arg("generator") = py::none(), op_doc("randint"));
  m.def("randperm", recorded([](int64_t n, py::object gen) {
        Generator* g = generator_arg(gen, "randperm");
        return g ? randperm(n, g) : lower(&capture::ex::randperm_default, n);
      }),
        py::arg("n"), py::kw_only(), py::arg("generator") = py::none(), op_doc("randperm"));
  m.def("manual_seed", recorded([](int64_t s) { lower(&manual_seed, static_cast<uint64_t>(s)); }), py::arg("seed"));
  m.def("initial_seed", &initial_seed, op_doc("initial_seed"));
  m.def("normal", recorded([](py::object mean, py::object std, py::object size, py::object dtype,
                     py::object generator, bool rg) {
        const Tensor* tm = tensor_ptr(mean);
        const Tensor* ts = tensor_ptr(std);
        Generator* g = generator_arg(generator, "normal");
        Tensor out;
        if (!g) {  // the default generator's draws have a C++ form
          if (tm && ts) {
            out = lower(&capture::ex::normal_tt_default, contiguous_arg(*tm), contiguous_arg(*ts));
          } else if (tm) {
            out = lower(&capture::ex::normal_tn_default, contiguous_arg(*tm), to_f64(std));
          } else if (ts) {
            out = lower(&capture::ex::normal_nt_default, to_f64(mean), contiguous_arg(*ts));
          } else {
            if (size.is_none()) throw py::type_error("normal: with scalar mean and std, size= is required");
            out = lower(&capture::ex::normal_nn_default, to_f64(mean), to_f64(std),
                        shape_arg(size, "normal"), parse_dtype(dtype).value_or(DType::f32));
          }
          return lowered_with_grad(out, rg);
        }
        if (tm && ts) out = normal(contiguous_arg(*tm), contiguous_arg(*ts), g);
        else if (tm) out = normal(contiguous_arg(*tm), to_f64(std), g);
        else if (ts) out = normal(to_f64(mean), contiguous_arg(*ts), g);
        else if (size.is_none()) throw py::type_error("normal: with scalar mean and std, size= is required");
        else out = normal(to_f64(mean), to_f64(std), shape_arg(size, "normal"), parse_dtype(dtype).value_or(DType::f32), g);
        return with_grad(out, rg);
      }), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::arg("size") = py::none(), py::kw_only(),
      py::arg("dtype") = py::none(), py::arg("generator") = py::none(), py::arg("requires_grad") = false,
      op_doc("normal"));

  // autograd
  m.def("is_grad_enabled", [] { return capture::pure(), grad_enabled(); }, op_doc("is_grad_enabled"));
  m.def("set_grad_enabled", recorded([](bool mode) { lower(&set_grad_enabled, mode); }), py::arg("mode"));
  m.def("is_anomaly_enabled", [] { return capture::pure(), anomaly_enabled(); });
  m.def("set_anomaly_enabled", recorded([](bool mode) { set_anomaly_enabled(mode); }), py::arg("mode"));
  // tg.grad / tg.autograd.backward: grad_outputs is None or one entry per output (None: implied,
  // a tensor, or data converted to the output's dtype); the engine defaults and checks them.
  m.def("_run_backward", recorded([](const std::vector<Tensor>& outputs, py::object grad_outputs,
                            bool retain_graph, bool create_graph, const StridedList& inputs,
                            bool allow_unused, const std::string& op) {
        std::vector<Tensor> given;
        const char* arg = op == "grad" ? "grad_outputs" : "grad_tensors";
        if (!grad_outputs.is_none()) {
          for (py::object g : py::reinterpret_borrow<py::sequence>(grad_outputs)) {
            const size_t i = given.size();
            if (g.is_none()) given.emplace_back();
            else if (const Tensor* t = tensor_ptr(g)) given.push_back(contiguous_arg(*t));
            else given.push_back(tensor_from_py(g, i < outputs.size() ? std::optional(outputs[i]->dtype()) : std::nullopt, op.c_str()));
          }
        }
        const std::vector<Tensor> grads = output_grads(outputs, given, op.c_str(), arg);
        return run_backward(outputs, grads, retain_graph, create_graph, inputs, allow_unused);
      }), py::arg("outputs"), py::arg("grad_outputs"), py::arg("retain_graph"), py::arg("create_graph"),
      py::arg("inputs"), py::arg("allow_unused"), py::arg("op"));
  m.def("_graph", [](const Strided& root) {
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
          op["backward"] = entry_backward_name(*e);
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
  // Note [optimizer state lookups]
  // The `_*_group` steps read a group's per-parameter state straight from the optimizer's
  // `state` dict (PyTorch's layout: parameter -> {'exp_avg': tensor, ...}) and write back only
  // the entries they created, so Python builds no per-step lists and a state tensor a user
  // assigned is seen (and checked, Note [optimizer state checks]) on the next step. The
  // lookups bypass `__missing__` (no entries appear for parameters without gradients) and hash
  // the parameter with Tensor's identity hash (Note [tensor hash]).
  struct GroupState {
    py::handle state;
    StepParams step;
    std::vector<Tensor>& params = step.params;
    std::vector<py::handle> handles;  // the parameters as Python holds them (state keys)
    std::vector<PyObject*> entries;  // borrowed: the parameter's dict, or null
    GroupState(py::handle st, const py::list& ps, const char* op) : state(st) {
      if (!PyDict_Check(st.ptr()))
        throw py::type_error(std::string(op) + ": optimizer state must be a dict, got " +
                             std::string(py::str(py::type::handle_of(st).attr("__name__"))));
      params.reserve(ps.size());
      entries.reserve(ps.size());
      for (py::handle h : ps) {
        step.add(h);
        handles.push_back(h);
        PyObject* d = PyDict_GetItemWithError(st.ptr(), h.ptr());
        if (!d && PyErr_Occurred()) throw py::error_already_set();
        if (d && !PyDict_Check(d))
          throw py::type_error(std::string(op) + ": state of parameter " +
                               std::to_string(entries.size()) + " must be a dict, got " +
                               std::string(Py_TYPE(d)->tp_name));
        entries.push_back(d);
      }
    }
    // entry[key] for every parameter (null when missing or None).
    std::vector<Tensor> column(const char* key, const char* op) const {
      std::vector<Tensor> out(entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        if (!entries[i]) continue;
        PyObject* v = PyDict_GetItemString(entries[i], key);
        if (!v || v == Py_None) continue;
        const Tensor* t = tensor_ptr(py::handle(v));
        if (!t)
          throw py::type_error(std::string(op) + ": state '" + key + "' of parameter " +
                               std::to_string(i) + " must be a Tensor, got " + Py_TYPE(v)->tp_name);
        out[i] = updated_in_place(py::handle(v), op);
      }
      return out;
    }
    // Store what the step created: `after[i]` where `before[i]` was missing.
    void store(const char* key, const std::vector<Tensor>& before, const std::vector<Tensor>& after) {
      for (size_t i = 0; i < after.size(); ++i) {
        if (!after[i] || (i < before.size() && before[i])) continue;
        if (!entries[i]) {
          py::dict d;
          if (PyDict_SetItem(state.ptr(), handles[i].ptr(), d.ptr()) != 0)
            throw py::error_already_set();
          entries[i] = d.ptr();  // borrowed: the state dict holds it
        }
        if (PyDict_SetItemString(entries[i], key, py::cast(after[i]).ptr()) != 0)
          throw py::error_already_set();
      }
    }
  };
  m.def("_sgd_group", recorded([](py::list params, py::object state, double lr, double momentum,
                         double dampening, double wd, bool nesterov, bool maximize) {
        GroupState gs(state, params, "SGD.step");
        std::vector<Tensor> bufs = gs.column("momentum_buffer", "SGD.step");
        const std::vector<Tensor> before = bufs;
        lower(&capture::ex::sgd, gs.params, capture::StateList{&bufs},
              SgdOptions{lr, momentum, dampening, wd, nesterov, maximize});
        gs.step.write_back();
        gs.store("momentum_buffer", before, bufs);
      }));
  m.def("_adam_group", recorded([](py::list params, py::object state, double lr, double b1, double b2,
                          double eps, double wd, bool amsgrad, bool maximize, bool decoupled) {
        const char* op = decoupled ? "AdamW.step" : "Adam.step";
        GroupState gs(state, params, op);
        AdamState s{gs.column("exp_avg", op), gs.column("exp_avg_sq", op),
                    amsgrad ? gs.column("max_exp_avg_sq", op) : std::vector<Tensor>{},
                    gs.column("step", op)};
        const AdamState before = s;
        lower(&capture::ex::adam, gs.params, capture::StateList{&s.exp_avg},
              capture::StateList{&s.exp_avg_sq}, capture::StateList{&s.max_exp_avg_sq},
              capture::StateList{&s.steps}, AdamOptions{lr, b1, b2, eps, wd, amsgrad, maximize, decoupled});
        gs.step.write_back();
        // "step" first: PyTorch's entries list it first.
        gs.store("step", before.steps, s.steps);
        gs.store("exp_avg", before.exp_avg, s.exp_avg);
        gs.store("exp_avg_sq", before.exp_avg_sq, s.exp_avg_sq);
        if (amsgrad) gs.store("max_exp_avg_sq", before.max_exp_avg_sq, s.max_exp_avg_sq);
      }));
  m.def("_rmsprop_group", recorded([](py::list params, py::object state, double lr, double alpha,
                             double eps, double wd, double momentum, bool centered,
                             bool maximize) {
        const char* op = "RMSprop.step";
        GroupState gs(state, params, op);
        const bool use_buf = momentum > 0;
        RmspropState s{gs.column("square_avg", op),
                       centered ? gs.column("grad_avg", op) : std::vector<Tensor>{},
                       use_buf ? gs.column("momentum_buffer", op) : std::vector<Tensor>{},
                       gs.column("step", op)};
        const RmspropState before = s;
        lower(&capture::ex::rmsprop, gs.params, capture::StateList{&s.square_avg},
              capture::StateList{&s.grad_avg}, capture::StateList{&s.momentum_buffer},
              capture::StateList{&s.steps}, RmspropOptions{lr, alpha, eps, wd, momentum, centered, maximize});
        gs.step.write_back();
        gs.store("step", before.steps, s.steps);
        gs.store("square_avg", before.square_avg, s.square_avg);
        if (use_buf) gs.store("momentum_buffer", before.momentum_buffer, s.momentum_buffer);
        if (centered) gs.store("grad_avg", before.grad_avg, s.grad_avg);
      }));
  m.def("_adagrad_group", recorded([](py::list params, py::object state, double lr, double lr_decay,
                             double wd, double eps, bool maximize) {
        const char* op = "Adagrad.step";
        GroupState gs(state, params, op);
        std::vector<Tensor> sums = gs.column("sum", op), steps = gs.column("step", op);
        const std::vector<Tensor> sums0 = sums, steps0 = steps;
        lower(&capture::ex::adagrad, gs.params, capture::StateList{&sums}, capture::StateList{&steps},
              AdagradOptions{lr, lr_decay, wd, eps, maximize});
        gs.step.write_back();
        gs.store("sum", sums0, sums);
        gs.store("step", steps0, steps);
      }));
  m.def("_sgd_step", recorded([](py::list params, py::object bufs, double lr, double momentum,
                        double dampening, double wd, bool nesterov, bool maximize) -> py::object {
        // Plain SGD has no state: the buffer list is neither converted nor rebuilt (that
        // round trip was most of a small model's optimizer step).
        StepParams ps;
        ps.params.reserve(params.size());
        for (py::handle h : params) ps.add(h);
        const SgdOptions o{lr, momentum, dampening, wd, nesterov, maximize};
        if (momentum == 0) {
          std::vector<Tensor> none;
          lower(&capture::ex::sgd, ps.params, capture::StateList{&none}, o);
          ps.write_back();
          return bufs;
        }
        auto b = bufs.cast<std::vector<Tensor>>();
        lower(&capture::ex::sgd, ps.params, capture::StateList{&b}, o);
        ps.write_back();
        return py::cast(b);
      }));
  // The parameters themselves (a strided Parameter's contiguous copy has no .grad to clear).
  m.def("_zero_grad", recorded([](const StridedList& params, bool set_to_none) { lower(&zero_grad, params.v, set_to_none); }),
        py::arg("params"), py::arg("set_to_none") = true);
  m.def("_adam_step", [](const std::vector<Tensor>& params, std::vector<Tensor> exp_avg,
                         std::vector<Tensor> exp_avg_sq, std::vector<Tensor> max_exp_avg_sq,
                         std::vector<Tensor> steps, double lr, double b1, double b2, double eps,
                         double wd, bool amsgrad, bool maximize, bool decoupled) {
        AdamState s{std::move(exp_avg), std::move(exp_avg_sq), std::move(max_exp_avg_sq),
                    std::move(steps)};
        adam_step(params, s, {lr, b1, b2, eps, wd, amsgrad, maximize, decoupled});
        return py::make_tuple(s.exp_avg, s.exp_avg_sq, s.max_exp_avg_sq, s.steps);
      });
  m.def("_rmsprop_step", [](const std::vector<Tensor>& params, std::vector<Tensor> square_avg,
                            std::vector<Tensor> grad_avg, std::vector<Tensor> momentum_buffer,
                            std::vector<Tensor> steps, double lr, double alpha, double eps,
                            double wd, double momentum, bool centered, bool maximize) {
        RmspropState s{std::move(square_avg), std::move(grad_avg), std::move(momentum_buffer),
                       std::move(steps)};
        rmsprop_step(params, s, {lr, alpha, eps, wd, momentum, centered, maximize});
        return py::make_tuple(s.square_avg, s.grad_avg, s.momentum_buffer, s.steps);
      });
  m.def("_adagrad_step", [](const std::vector<Tensor>& params, std::vector<Tensor> sums,
                            std::vector<Tensor> steps, double lr, double lr_decay, double wd,
                            double eps, bool maximize) {
        adagrad_step(params, sums, steps, {lr, lr_decay, wd, eps, maximize});
        return py::make_tuple(sums, steps);
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
        // Model, caches and the GEMM blocking derived from them (Note [GEMM blocking]).
        d["model_name"] = c.model_name;
        d["family"] = c.family;
        d["model"] = c.model;
        d["stepping"] = c.stepping;
        py::dict caches;
        auto level = [](const kernels::CacheLevel& l) {
          py::dict e;
          e["size"] = l.size;
          e["ways"] = l.ways;
          e["line"] = l.line;
          e["sets"] = l.sets;
          e["shared_by"] = l.shared_by;
          return e;
        };
        caches["L1d"] = level(c.l1d);
        caches["L2"] = level(c.l2);
        caches["L3"] = level(c.l3);
        caches["source"] = c.cache_source;
        if (!c.cache_mismatch.empty()) caches["mismatch"] = c.cache_mismatch;
        d["caches"] = caches;
        auto blocks = [](const kernels::GemmBlocks& g) {
          py::dict e;
          e["mr"] = g.mr;
          e["nr"] = g.nr;
          e["kc"] = g.kc;
          e["mc"] = g.mc;
          e["nc"] = g.nc;
          return e;
        };
        py::dict gemm;
        gemm["float32"] = blocks(kernels::gemm_blocks_f32());
        gemm["float64"] = blocks(kernels::gemm_blocks_f64());
        d["gemm"] = gemm;
        return d;
      }, op_doc("cpu_info"));
  // Benchmark helpers (bench/fma_peak.py, bench/kernels.py): the core's FMA limit for a
  // target, and the kernel time alone of a row kernel (no Python, no tensor allocation).
  m.def("_fma_peak", [](const std::string& arch, double seconds) {
        py::gil_scoped_release nogil;
        return kernels::measure_fma_peak(kernels::parse_arch(arch), seconds);
      }, py::arg("arch"), py::arg("seconds") = 0.2);
  m.def("_time_row_kernel", [](const std::string& name, int64_t n, int64_t c, int64_t reps) {
        return time_row_kernel(name, n, c, reps);
      }, py::arg("name"), py::arg("n"), py::arg("c"), py::arg("reps") = 1000);
  m.def("_set_arch", [](const std::string& name) { kernels::set_arch(kernels::parse_arch(name)); });
  m.def("set_num_threads", [](int n) { kernels::set_num_threads(n); }, py::arg("n"), op_doc("set_num_threads"));
  m.def("get_num_threads", &kernels::get_num_threads, op_doc("get_num_threads"));
}

}  // namespace tapegrad::bind

namespace tapegrad::bind {

// The engine's exception types as Python's (registered with pybind11 for every binding).
void translate_engine_exception(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const tapegrad::TypeError& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  } catch (const tapegrad::ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const tapegrad::IndexError& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const tapegrad::NotImplementedError& e) {
    PyErr_SetString(PyExc_NotImplementedError, e.what());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const tapegrad::OutOfMemory& e) {
    PyErr_SetString(PyExc_MemoryError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_SetString(PyExc_MemoryError, "tapegrad: out of memory (the requested tensor is too large)");
  }
}

void set_python_error(std::exception_ptr p) {
  try {
    translate_engine_exception(p);
  } catch (...) {  // not one of the engine's types: pybind11's mapping below
  }
  if (!PyErr_Occurred()) pybind11::detail::translate_exception(p);
  if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "tapegrad: an unknown C++ exception");
}

}  // namespace tapegrad::bind

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using namespace tapegrad;
  m.doc() = "tapegrad's C++ engine: tensors, the tape, ops and kernels";
  m.attr("__version__") = TAPEGRAD_VERSION;
  // Note [GIL] (tensor.h): large kernels let other Python threads run.
  set_allow_threads_hooks(
      []() -> void* { return PyGILState_Check() ? PyEval_SaveThread() : nullptr; },
      [](void* state) { PyEval_RestoreThread(static_cast<PyThreadState*>(state)); });

  py::register_exception_translator(&bind::translate_engine_exception);

  py::enum_<DType>(m, "dtype", R"doc(The element type of a tensor: ``tapegrad.float32`` (the default for
floats), ``float64``, ``int64`` (the default for integers) or ``bool``.

>>> import tapegrad as tg
>>> tg.tensor([1, 2]).dtype, tg.tensor([1, 2]).float().dtype.itemsize
(tapegrad.int64, 4)
)doc")
      .value("float32", DType::f32)
      .value("float64", DType::f64)
      .value("int64", DType::i64)
      .value("bool", DType::b8)
      // The storage dtypes (Note [storage dtypes] in cpp/src/tensor.cpp).
      .value("int32", DType::i32)
      .value("int16", DType::i16)
      .value("int8", DType::i8)
      .value("uint8", DType::u8)
      .value("float16", DType::f16)
      .def("__repr__", [](DType d) { return std::string("tapegrad.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("tapegrad.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating_point(d); })
      .def_property_readonly("is_signed", [](DType d) { return d != DType::b8 && d != DType::u8; })
      .def_property_readonly("is_complex", [](DType) { return false; })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });

  bind::TensorClass T(m, "Tensor", R"doc(An n-dimensional array of float32, float64, int64 or bool that records
its operations on the tape when it (or an input) requires grad.

Make one with ``tapegrad.tensor``, ``zeros``, ``randn``, ``from_numpy`` ... (``Tensor(data)``
and ``Tensor(*sizes)`` are PyTorch's legacy float32 constructors). Every op is a method and a ``tapegrad`` function; operators
broadcast as in NumPy and PyTorch.

>>> import tapegrad as tg
>>> w = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = (w @ tg.ones(2)).sum()
>>> loss.backward(); w.grad
tensor([[1., 1.],
        [1., 1.]])
)doc");
  bind::g_tensor_type = reinterpret_cast<PyTypeObject*>(T.ptr());
  m.def("_register_types", [](py::object size, py::object max, py::object min) {
        bind::g_size_type = size;
        bind::g_max_type = max;
        bind::g_min_type = min;
      }, py::arg("size"), py::arg("max"), py::arg("min"));
  bind::bind_tensor(T);
  bind::bind_ops(m, T);
  bind::bind_functions(m);
  bind::bind_custom(m, T);
  bind::bind_compile(m);
  bind::bind_out(m);  // out= keywords (out.cpp)
  bind::install_fast_operators(m, T);  // Note [operator fast path] (fast_ops.cpp)
  bind::guard_arguments(m);  // last: every function above is bound
}

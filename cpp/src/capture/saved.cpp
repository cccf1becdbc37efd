// Saved programs: a captured step written to a file and run again without Python.
//
// Note [saved programs]
// A program captured by tapegrad.compile replays binding calls (Note [capture and replay]):
// many of its instructions are pybind11 functions re-entered with Python arguments, so it
// needs the interpreter. Its C++ form is recorded beside it during the same capture, as a
// list of calls of engine functions named in one table (exports.cpp):
//   - a call the bindings make straight to a function of the table (every UNARY and BINARY
//     row, the in-place and alpha forms, backward(), set_grad_enabled) is its own C++ form;
//   - a binding recorded whole (one that converts Python arguments first: mean's dims, the
//     optimizers' state dicts) says capture::lowers() and makes its engine calls through
//     capture::call: those calls, recorded at depth 1 with their converted C++ arguments,
//     are its C++ form. An optimizer's state goes through a StateList: an entry its first
//     step creates gets a state slot of its own, and each run writes back what the step left;
//   - a binding that does neither has no C++ form, and neither has the program: saving it
//     raises, naming the function (e.g. "max_pool2d() has no C++ form yet").
// Both forms name tensors by the same slots, so a tensor made inside a lowered binding (a
// Python number as a tensor) is a constant of the C++ form alone. What the Python program
// replays and what the C++ form runs are the same engine calls in the same order with the
// same arguments, which tests/test_saved_program.py checks bit for bit against eager steps.
//
// The file: a header (magic, format version, payload length, FNV-1a checksum of the payload
// against accidental damage), then the payload: slot count, the inputs (slot, dtype, shape,
// requires_grad), the result slots, the storages of the constants (each once: a parameter and
// a view of it stay one memory), the constants (slot, storage, offset, dtype, shape, strides,
// requires_grad, .grad, name) and the calls (table name, argument bytes, slots read and
// defined). A constant's data is written as it is at save time — a step saved after a
// hundred steps goes on from the hundred-and-first. A constant with history (a non-leaf
// tensor made before the capture) cannot be saved: its graph is not in the program.
// Loading checks every size, slot number, enum and tensor extent it reads, and that an absent
// tensor stands only where its function takes one (the export table's `nullable` bits); a run
// checks that each slot it reads holds a tensor. So damaged or crafted bytes raise, never
// crash (tests/test_saved_program.py changes bytes at random and fixes the checksum). A saved
// program is still code, as a pickle is: it decides what the process computes; load only
// files you trust.
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "blocks.h"
#include "tapegrad/capture.h"
#include "tapegrad/grad_mode.h"

namespace tapegrad::capture {
namespace {

constexpr char kMagic[] = "tapegrad-program\n";
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

using Slots = std::vector<Slot>;

void write_tensor(Writer& w, const Tensor& t, std::unordered_map<const Storage*, uint64_t>& storages,
                  std::vector<const Storage*>& order, const std::string& name) {
  auto it = storages.find(t->storage().get());
  if (it == storages.end()) {
    it = storages.emplace(t->storage().get(), order.size()).first;
    order.push_back(t->storage().get());
  }
  if (!t->is_leaf())
    throw std::runtime_error(
        "tapegrad: cannot save the program: it reads a tensor" + (name.empty() ? std::string() : " '" + name + "'") +
        " that has autograd history from before the capture (its graph is not in the program)");
  w.pod<uint64_t>(it->second);
  w.pod<int64_t>(t->offset());
  w.pod<uint8_t>(static_cast<uint8_t>(t->dtype()));
  Codec<Shape>::write(w, t->shape());
  Codec<std::vector<int64_t>>::write(w, t->is_contiguous() ? std::vector<int64_t>{} : t->strides());
  w.pod<uint8_t>(t->requires_grad());
  const bool has_grad = t->requires_grad() && t->has_grad();
  w.pod<uint8_t>(has_grad);
  if (has_grad) write_tensor(w, t->grad(), storages, order, name + ".grad");
}

Tensor read_tensor(Reader& r, const std::vector<std::shared_ptr<Storage>>& storages) {
  const auto si = r.pod<uint64_t>();
  const auto offset = r.pod<int64_t>();
  const auto dt = r.pod<uint8_t>();
  Shape shape = Codec<Shape>::read(r);
  std::vector<int64_t> strides = Codec<std::vector<int64_t>>::read(r);
  const bool rg = r.pod<uint8_t>();
  const bool has_grad = r.pod<uint8_t>();
  auto corrupt = [](const char* what) {
    return std::runtime_error(std::string("tapegrad: the saved program is corrupt (") + what + ")");
  };
  if (si >= storages.size()) throw corrupt("storage index");
  if (dt >= kNumDTypes) throw corrupt("dtype");
  const DType dtype = static_cast<DType>(dt);
  if (!strides.empty() && strides.size() != shape.size()) throw corrupt("strides");
  // The furthest element must lie inside the storage.
  const auto& st = storages[si];
  const int64_t cap = static_cast<int64_t>(st->nbytes / itemsize(dtype));
  // (overflow-checked: every size of a damaged file is suspect)
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < 0 || __builtin_mul_overflow(numel, shape[i], &numel)) throw corrupt("shape");
  if (offset < 0 || offset > cap) throw corrupt("offset");
  if (numel > 0) {
    int64_t stride = 1, last = offset;
    for (size_t i = shape.size(); i-- > 0;) {
      const int64_t s = strides.empty() ? stride : strides[i];
      int64_t step = 0;
      if (s < 0 || __builtin_mul_overflow(shape[i] - 1, s, &step) ||
          __builtin_add_overflow(last, step, &last))
        throw corrupt("strides");
      stride *= shape[i];  // ≤ numel: no overflow
    }
    if (last >= cap) throw corrupt("tensor extent");
  }
  Tensor t = strides.empty() ? std::make_shared<TensorImpl>(st, offset, std::move(shape), dtype)
                             : std::make_shared<TensorImpl>(st, offset, std::move(shape), std::move(strides), dtype);
  if (rg) t->set_requires_grad(true);
  if (has_grad) {
    Tensor g = read_tensor(r, storages);
    t->set_grad(std::move(g));
  }
  return t;
}

}  // namespace

namespace {
// How many times the calls read each slot (a slot is defined once: Recorder::define).
std::vector<int32_t> read_counts(const std::vector<ExportedCall>& calls, int32_t nslots) {
  std::vector<int32_t> n(static_cast<size_t>(nslots), 0);
  for (const ExportedCall& c : calls)
    for (Slot s : c.reads)
      if (s >= 0 && s < nslots) ++n[static_cast<size_t>(s)];
  return n;
}

// Note [fused linear-relu]: call i is `linear` and call i + 1 the `relu` of its result, which
// nothing else reads (read once in all, not a result of the program); the pair as one call of
// linear_relu (linear's arguments, relu's result).
bool fuse_linear_relu(const std::vector<ExportedCall>& calls, size_t i, const Slots& kept,
                      const std::vector<int32_t>& reads, ExportedCall& fused) {
  if (i + 1 >= calls.size()) return false;
  const ExportedCall &lin = calls[i], &act = calls[i + 1];
  static const int32_t linear_fn = export_index(reinterpret_cast<const void*>(&linear));
  static const int32_t relu_fn = export_index(reinterpret_cast<const void*>(
      static_cast<Tensor (*)(const Tensor&)>(&relu)));
  static const int32_t fused_fn = export_index(reinterpret_cast<const void*>(&linear_relu));
  if (lin.fn != linear_fn || act.fn != relu_fn || lin.defs.size() != 1 || act.defs.size() != 1 ||
      act.reads.size() != 1 || act.reads[0] != lin.defs[0])
    return false;
  const Slot h = lin.defs[0];
  if (h < 0 || static_cast<size_t>(h) >= reads.size() || reads[static_cast<size_t>(h)] != 1)
    return false;
  for (Slot s : kept)
    if (s == h) return false;
  fused = lin;
  fused.fn = fused_fn;
  fused.defs = act.defs;
  fused.history = lin.history || act.history;
  return true;
}
}  // namespace

Program cpp_form(const Program& p, bool memory_planning, bool fusion) {
  const ExportForm* x = p.exported.get();
  if (!x || !x->missing.empty()) throw std::runtime_error("tapegrad: this program has no C++ form");
  Program c;
  c.nslots = p.nslots;
  c.inputs = p.inputs;
  c.kept = p.kept;
  c.constants = p.constants;
  c.constants.insert(c.constants.end(), x->constants.begin(), x->constants.end());
  std::vector<Slots> reads, defs;
  int32_t keep_slots = 0;  // past p's slots: never read, defined or released by name
  const std::vector<int32_t> nreads = read_counts(x->calls, p.nslots);
  for (size_t i = 0; i < x->calls.size(); ++i) {
    ExportedCall fused;
    const bool pair = fusion && fuse_linear_relu(x->calls, i, p.kept, nreads, fused);
    const ExportedCall& call = pair ? fused : x->calls[i];
    i += pair;  // (the relu is part of the fused call)
    const std::string& name = export_name(call.fn);
    Instr f = decode_call(name, call);  // (checks the call whichever form runs)
    if (memory_planning && !call.history)
      if (Instr g = reusing_call(name, call, c.nslots + keep_slots)) {
        f = std::move(g);
        ++keep_slots;
      }
    c.instrs.push_back(std::move(f));
    reads.push_back(call.reads);
    defs.push_back(call.defs);
  }
  plan_releases(c, reads, defs, /*keep_inputs=*/true);
  c.nslots += keep_slots;  // (after the plan, which sizes its table by the named slots)
  c.exported = p.exported;
  c.plannable = p.plannable;
  for (const auto& k : x->constants) c.plannable = c.plannable && (!k.second || k.second->node() < 0);
  return c;
}

std::string save_program(const Program& p, const std::vector<std::pair<Tensor, std::string>>& names,
                         bool single_result) {
  const ExportForm* x = p.exported.get();
  if (!x) throw std::runtime_error("tapegrad: this program has no C++ form");
  if (!x->missing.empty())
    throw std::runtime_error("tapegrad: cannot save the program: " + x->missing +
                             " (Note [saved programs]: such a call runs in Python only)");
  std::unordered_map<const TensorImpl*, std::string> name_of;
  for (const auto& [t, n] : names)
    if (t) name_of.emplace(t.get(), n);
  Writer w;
  w.pod<int32_t>(p.nslots);
  w.pod<uint64_t>(p.inputs.size());
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    w.pod<Slot>(p.inputs[i]);
    const ExportForm::Input& in = x->inputs.at(i);
    w.pod<uint8_t>(static_cast<uint8_t>(in.dtype));
    Codec<Shape>::write(w, in.shape);
    w.pod<uint8_t>(in.requires_grad);
  }
  Slots kept;
  for (Slot s : p.kept)
    if (s != kNoSlot) kept.push_back(s);
  Codec<Slots>::write(w, kept);
  w.pod<uint8_t>(single_result);
  // constants: the program's and the C++ form's own
  std::vector<std::pair<Slot, Tensor>> consts(p.constants.begin(), p.constants.end());
  consts.insert(consts.end(), x->constants.begin(), x->constants.end());
  Writer tw;
  std::unordered_map<const Storage*, uint64_t> storages;
  std::vector<const Storage*> order;
  tw.pod<uint64_t>(consts.size());
  for (const auto& [s, t] : consts) {
    tw.pod<Slot>(s);
    tw.pod<uint8_t>(static_cast<bool>(t));
    if (!t) continue;
    auto n = name_of.find(t.get());
    const std::string name = n == name_of.end() ? std::string() : n->second;
    tw.str(name);
    write_tensor(tw, t, storages, order, name);
  }
  w.pod<uint64_t>(order.size());
  for (const Storage* st : order) {
    w.pod<uint64_t>(st->nbytes);
    w.buf.append(static_cast<const char*>(st->data), st->nbytes);
  }
  w.buf += tw.buf;
  w.pod<uint64_t>(x->calls.size());
  for (const ExportedCall& c : x->calls) {
    w.str(export_name(c.fn));
    w.str(c.args);
    Codec<Slots>::write(w, c.reads);
    Codec<Slots>::write(w, c.defs);
  }
  Writer out;
  out.buf.append(kMagic, sizeof(kMagic) - 1);
  out.pod<uint32_t>(kVersion);
  out.pod<uint64_t>(w.buf.size());
  out.pod<uint64_t>(fnv1a(w.buf));
  out.buf += w.buf;
  return std::move(out.buf);
}

struct SavedProgram::Impl {
  Program program;
  std::vector<ExportForm::Input> inputs;
  std::vector<std::pair<std::string, Slot>> names;
  bool single = false;
  size_t ncalls = 0;  // as saved (a fused pair is one instruction)
  size_t fused = 0;   // linear-relu pairs run as one call
  Frame frame;  // the constants persist here between runs (the state)
  std::mutex mu;
};

SavedProgram::SavedProgram() : impl_(std::make_unique<Impl>()) {}
SavedProgram::~SavedProgram() = default;
SavedProgram::SavedProgram(SavedProgram&&) noexcept = default;
SavedProgram& SavedProgram::operator=(SavedProgram&&) noexcept = default;

SavedProgram SavedProgram::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("tapegrad: cannot open the saved program '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return from_bytes(ss.str());
}

SavedProgram SavedProgram::from_bytes(const std::string& bytes) {
  const size_t m = sizeof(kMagic) - 1;
  if (bytes.size() < m || bytes.compare(0, m, kMagic) != 0)
    throw std::runtime_error("tapegrad: not a saved tapegrad program");
  Reader h{bytes.data() + m, bytes.data() + bytes.size()};
  const auto version = h.pod<uint32_t>();
  if (version != kVersion)
    throw std::runtime_error("tapegrad: the saved program has format version " + std::to_string(version) +
                             "; this build reads version " + std::to_string(kVersion));
  const auto len = h.pod<uint64_t>();
  const auto sum = h.pod<uint64_t>();
  h.need(len);
  if (static_cast<uint64_t>(h.end - h.p) != len)
    throw std::runtime_error("tapegrad: the saved program is damaged (" +
                             std::to_string(static_cast<uint64_t>(h.end - h.p) - len) +
                             " bytes after its end)");
  const std::string payload(h.p, len);
  if (fnv1a(payload) != sum) throw std::runtime_error("tapegrad: the saved program is damaged (checksum)");
  Reader r{payload.data(), payload.data() + payload.size()};
  auto corrupt = [](const char* what) {
    return std::runtime_error(std::string("tapegrad: the saved program is corrupt (") + what + ")");
  };
  SavedProgram sp;
  Impl& im = *sp.impl_;
  Program& p = im.program;
  p.nslots = r.pod<int32_t>();
  // (each slot is named somewhere in the payload by four bytes at least)
  if (p.nslots < 0 || static_cast<size_t>(p.nslots) > payload.size()) throw corrupt("slot count");
  auto check_slot = [&](Slot s) {
    if (s < 0 || s >= p.nslots) throw corrupt("slot");
    return s;
  };
  const auto nin = r.pod<uint64_t>();
  r.need(nin);
  for (uint64_t i = 0; i < nin; ++i) {
    p.inputs.push_back(check_slot(r.pod<Slot>()));
    const auto dt = r.pod<uint8_t>();
    if (dt >= kNumDTypes) throw corrupt("dtype");
    Shape shape = Codec<Shape>::read(r);
    const bool rg = r.pod<uint8_t>();
    im.inputs.push_back({std::move(shape), static_cast<DType>(dt), rg});
  }
  p.kept = Codec<Slots>::read(r);
  for (Slot s : p.kept) check_slot(s);
  im.single = r.pod<uint8_t>();
  const auto nst = r.pod<uint64_t>();
  r.need(nst);
  std::vector<std::shared_ptr<Storage>> storages;
  for (uint64_t i = 0; i < nst; ++i) {
    const auto nb = r.pod<uint64_t>();
    r.need(nb);
    auto st = Storage::allocate(nb);
    if (nb) std::memcpy(st->data, r.p, nb);
    r.p += nb;
    storages.push_back(std::move(st));
  }
  const auto nconst = r.pod<uint64_t>();
  r.need(nconst);
  for (uint64_t i = 0; i < nconst; ++i) {
    const Slot s = check_slot(r.pod<Slot>());
    Tensor t;
    if (r.pod<uint8_t>()) {
      std::string name = r.str();
      t = read_tensor(r, storages);
      if (!name.empty()) im.names.emplace_back(std::move(name), s);
    }
    p.constants.emplace_back(s, std::move(t));
  }
  const auto ncalls = r.pod<uint64_t>();
  r.need(ncalls);
  std::vector<ExportedCall> calls;
  std::vector<std::string> names;
  for (uint64_t i = 0; i < ncalls; ++i) {
    names.push_back(r.str());
    ExportedCall c;
    c.fn = export_index_by_name(names.back());  // (-1 if unknown: decode_call says so)
    c.args = r.str();
    c.reads = Codec<Slots>::read(r);
    c.defs = Codec<Slots>::read(r);
    for (Slot s : c.reads) check_slot(s);
    for (Slot s : c.defs) check_slot(s);
    calls.push_back(std::move(c));
  }
  if (r.p != r.end) throw corrupt("trailing bytes");
  im.ncalls = calls.size();
  std::vector<Slots> reads, defs;
  const std::vector<int32_t> nreads = read_counts(calls, p.nslots);
  for (size_t i = 0; i < calls.size(); ++i) {
    ExportedCall fused;  // as in cpp_form (Note [fused linear-relu])
    const bool pair = fuse_linear_relu(calls, i, p.kept, nreads, fused);
    im.fused += pair;
    const ExportedCall& c = pair ? fused : calls[i];
    p.instrs.push_back(decode_call(pair ? export_name(fused.fn) : names[i], c));
    reads.push_back(c.reads);
    defs.push_back(c.defs);
    i += pair;
  }
  plan_releases(p, reads, defs, /*keep_inputs=*/true);
  im.frame.assign(static_cast<size_t>(p.nslots), Tensor());
  for (const auto& [s, t] : p.constants) im.frame[static_cast<size_t>(s)] = t;
  return sp;
}

std::vector<Tensor> SavedProgram::run(const std::vector<Tensor>& inputs) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  const Program& p = im.program;
  if (inputs.size() != p.inputs.size())
    throw std::invalid_argument("SavedProgram.run: expected " + std::to_string(p.inputs.size()) +
                                " input tensors, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ExportForm::Input& in = im.inputs[i];
    const Tensor& t = inputs[i];
    if (!t || t->dtype() != in.dtype || t->shape() != in.shape || t->requires_grad() != in.requires_grad ||
        !t->is_contiguous())
      throw std::invalid_argument("SavedProgram.run: input " + std::to_string(i) +
                                  " must be a contiguous " + dtype_name(in.dtype) + " tensor of shape " +
                                  shape_str(in.shape) + (in.requires_grad ? " that requires grad" : "") +
                                  ", as captured");
    im.frame[static_cast<size_t>(p.inputs[i])] = t;
  }
  std::vector<Tensor> out;
  const bool grad = grad_enabled();
  try {
    for (size_t i = 0; i < p.instrs.size(); ++i) {
      p.instrs[i](im.frame);
      for (Slot s : p.release_after[i]) im.frame[static_cast<size_t>(s)].reset();
    }
    for (Slot s : p.kept) out.push_back(im.frame[static_cast<size_t>(s)]);
  } catch (...) {
    for (Slot s : p.inputs) im.frame[static_cast<size_t>(s)].reset();
    set_grad_enabled(grad);  // a run stopped inside the step's no_grad block, as in a replay
    throw;
  }
  for (Slot s : p.inputs) im.frame[static_cast<size_t>(s)].reset();
  for (Slot s : p.kept) {
    bool is_const = false;
    for (const auto& c : p.constants) is_const = is_const || c.first == s;
    if (!is_const) im.frame[static_cast<size_t>(s)].reset();
  }
  return out;
}

Tensor SavedProgram::state(const std::string& name) const {
  for (const auto& [n, s] : impl_->names)
    if (n == name) return impl_->frame[static_cast<size_t>(s)];
  return nullptr;
}

std::vector<std::string> SavedProgram::state_names() const {
  std::vector<std::string> v;
  for (const auto& [n, s] : impl_->names) v.push_back(n);
  return v;
}

const std::vector<ExportForm::Input>& SavedProgram::inputs() const { return impl_->inputs; }
bool SavedProgram::single_result() const { return impl_->single; }
size_t SavedProgram::num_calls() const { return impl_->ncalls; }
size_t SavedProgram::num_fused() const { return impl_->fused; }

}  // namespace tapegrad::capture

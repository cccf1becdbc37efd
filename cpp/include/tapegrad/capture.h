// Capture and replay (Note [capture and replay] in cpp/src/capture/capture.cpp): while a
// Recorder is active on a thread, every engine call made through capture::call() runs as usual
// and is also appended to a program, its tensor arguments and results named by slots; a
// Program runs those same calls again, in order, on new input tensors, with nothing between
// them. Layers: above autograd and the optimizers, below the bindings (docs/architecture.md).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <functional>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/ops.h"
#include "tapegrad/tensor.h"

namespace tapegrad {
class Tape;
}

namespace tapegrad::capture {

using Slot = int32_t;
constexpr Slot kNoSlot = -1;  // an absent (null) tensor

// Thrown by an instruction that finds what the capture assumed no longer holds, midway through
// a replay: the caller drops that program (the next call captures again).
struct StaleProgram : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown when an instruction names a slot its frame does not have (a damaged saved program).
[[noreturn]] void throw_bad_slot();

// The tensors of one run of a program, by slot.
using Frame = std::vector<Tensor>;
using Instr = std::function<void(Frame&)>;

// ----- the C++ form of a program (Note [saved programs] in cpp/src/capture/saved.cpp) -----
// Bytes of a saved program: values appended by Writer, read back by Reader (which throws
// std::runtime_error on a truncated or malformed file instead of reading past its end).
struct Writer {
  std::string buf;
  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    buf.append(s);
  }
};
struct Reader {
  const char* p;
  const char* end;
  void need(size_t n) const {
    if (static_cast<size_t>(end - p) < n)
      throw std::runtime_error("tapegrad: the saved program is truncated or corrupt");
  }
  template <class T>
  T pod() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = pod<uint64_t>();
    need(n);
    std::string s(p, n);
    p += n;
    return s;
  }
};

// How a kept argument is written to a saved program: plain numbers, enums, the option structs
// of the optimizers (all numbers), strings, and vectors and optionals of them. Anything else
// (a Python object, a generator) has no C++ form: a call keeping one cannot be saved.
template <class T, class = void>
struct Codec {
  static constexpr bool ok = false;
};
template <class T>
struct PodCodec {
  static constexpr bool ok = true;
  static void write(Writer& w, const T& v) { w.pod(v); }
  static T read(Reader& r) { return r.pod<T>(); }
};
template <class T>
struct Codec<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>> : PodCodec<T> {};
// Enums: only the ones a saved program may hold, each read back checked against its range.
template <class E, int N>
struct EnumCodec {
  static constexpr bool ok = true;
  static void write(Writer& w, E v) { w.pod<int32_t>(static_cast<int32_t>(v)); }
  static E read(Reader& r) {
    const auto v = r.pod<int32_t>();
    if (v < 0 || v >= N) throw std::runtime_error("tapegrad: the saved program is corrupt (enum)");
    return static_cast<E>(v);
  }
};
template <>
struct Codec<DType> : EnumCodec<DType, kNumDTypes> {};
template <>
struct Codec<Reduction> : EnumCodec<Reduction, 3> {};
// bool: one byte, read back as 0 or not (a damaged byte never becomes an invalid bool).
template <>
struct Codec<bool> {
  static constexpr bool ok = true;
  static void write(Writer& w, bool v) { w.pod<uint8_t>(v); }
  static bool read(Reader& r) { return r.pod<uint8_t>() != 0; }
};
// The optimizers' option structs, field by field (their bools as above).
template <class T, class Tie>
struct FieldsCodec {
  static constexpr bool ok = true;
  static void write(Writer& w, const T& v) {
    T c = v;
    std::apply([&](auto&... f) { (Codec<std::decay_t<decltype(f)>>::write(w, f), ...); }, Tie::fields(c));
  }
  static T read(Reader& r) {
    T v{};
    std::apply([&](auto&... f) { ((f = Codec<std::decay_t<decltype(f)>>::read(r)), ...); }, Tie::fields(v));
    return v;
  }
};
struct SgdFields {
  static auto fields(SgdOptions& o) {
    return std::tie(o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, o.maximize);
  }
};
struct AdamFields {
  static auto fields(AdamOptions& o) {
    return std::tie(o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize, o.decoupled);
  }
};
struct RmspropFields {
  static auto fields(RmspropOptions& o) {
    return std::tie(o.lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.centered, o.maximize);
  }
};
struct AdagradFields {
  static auto fields(AdagradOptions& o) {
    return std::tie(o.lr, o.lr_decay, o.weight_decay, o.eps, o.maximize);
  }
};
template <>
struct Codec<SgdOptions> : FieldsCodec<SgdOptions, SgdFields> {};
template <>
struct Codec<AdamOptions> : FieldsCodec<AdamOptions, AdamFields> {};
template <>
struct Codec<RmspropOptions> : FieldsCodec<RmspropOptions, RmspropFields> {};
template <>
struct Codec<AdagradOptions> : FieldsCodec<AdagradOptions, AdagradFields> {};
template <class T, size_t N>
struct Codec<std::array<T, N>, std::enable_if_t<Codec<T>::ok>> {
  static constexpr bool ok = true;
  static void write(Writer& w, const std::array<T, N>& v) {
    for (const T& e : v) Codec<T>::write(w, e);
  }
  static std::array<T, N> read(Reader& r) {
    std::array<T, N> v;
    for (T& e : v) e = Codec<T>::read(r);
    return v;
  }
};
template <>
struct Codec<ConvPadding> {
  static constexpr bool ok = true;
  static void write(Writer& w, const ConvPadding& p);
  static ConvPadding read(Reader& r);
};
template <>
struct Codec<Scalar> {
  static constexpr bool ok = true;
  static void write(Writer& w, const Scalar& s) {
    w.pod<uint8_t>(s.is_integral());
    w.pod<int64_t>(s.as_int());
    w.pod<double>(s.as_double());
  }
  static Scalar read(Reader& r) {
    const bool integral = r.pod<uint8_t>();
    const auto i = r.pod<int64_t>();
    const auto d = r.pod<double>();
    return integral ? Scalar(i) : Scalar(d);
  }
};
// An index item without its tensor (Arg<std::vector<IndexItem>> keeps that as a slot).
template <>
struct Codec<IndexItem> {
  static constexpr bool ok = true;
  static void write(Writer& w, const IndexItem& it) {
    w.pod<int32_t>(static_cast<int32_t>(it.kind));
    w.pod(it.i);
    w.pod(it.start);
    w.pod(it.stop);
    w.pod(it.step);
    w.pod<uint8_t>(it.has_start);
    w.pod<uint8_t>(it.has_stop);
  }
  static IndexItem read(Reader& r) {
    IndexItem it;
    const auto k = r.pod<int32_t>();
    if (k < IndexItem::Int || k > IndexItem::Tensor)
      throw std::runtime_error("tapegrad: the saved program is corrupt (index item)");
    it.kind = static_cast<IndexItem::Kind>(k);
    it.i = r.pod<int64_t>();
    it.start = r.pod<int64_t>();
    it.stop = r.pod<int64_t>();
    it.step = r.pod<int64_t>();
    it.has_start = r.pod<uint8_t>();
    it.has_stop = r.pod<uint8_t>();
    return it;
  }
};
template <class A, class B>
struct Codec<std::pair<A, B>, std::enable_if_t<Codec<A>::ok && Codec<B>::ok>> {
  static constexpr bool ok = true;
  static void write(Writer& w, const std::pair<A, B>& v) {
    Codec<A>::write(w, v.first);
    Codec<B>::write(w, v.second);
  }
  static std::pair<A, B> read(Reader& r) {
    A a = Codec<A>::read(r);
    B b = Codec<B>::read(r);
    return {std::move(a), std::move(b)};
  }
};
template <>
struct Codec<std::string> {
  static constexpr bool ok = true;
  static void write(Writer& w, const std::string& v) { w.str(v); }
  static std::string read(Reader& r) { return r.str(); }
};
template <class T>
struct Codec<std::vector<T>, std::enable_if_t<Codec<T>::ok>> {
  static constexpr bool ok = true;
  static void write(Writer& w, const std::vector<T>& v) {
    w.pod<uint64_t>(v.size());
    for (const T& e : v) Codec<T>::write(w, e);
  }
  static std::vector<T> read(Reader& r) {
    const auto n = r.pod<uint64_t>();
    r.need(n);  // at least a byte each: a corrupt count fails here, not in the allocation
    std::vector<T> v;
    v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.push_back(Codec<T>::read(r));
    return v;
  }
};
inline void Codec<ConvPadding>::write(Writer& w, const ConvPadding& p) {
  Codec<std::vector<int64_t>>::write(w, p.sizes);
  Codec<std::string>::write(w, p.name);
}
inline ConvPadding Codec<ConvPadding>::read(Reader& r) {
  ConvPadding p;
  p.sizes = Codec<std::vector<int64_t>>::read(r);
  p.name = Codec<std::string>::read(r);
  return p;
}
template <class T>
struct Codec<std::optional<T>, std::enable_if_t<Codec<T>::ok>> {
  static constexpr bool ok = true;
  static void write(Writer& w, const std::optional<T>& v) {
    w.pod<uint8_t>(v.has_value());
    if (v) Codec<T>::write(w, *v);
  }
  static std::optional<T> read(Reader& r) {
    if (!r.pod<uint8_t>()) return std::nullopt;
    return Codec<T>::read(r);
  }
};

// A call of a function in the export table as a saved program keeps it: the function's index
// in the table, its arguments' bytes, and the slots it reads and defines.
struct ExportedCall {
  int32_t fn = -1;
  std::string args;
  std::vector<int32_t> reads, defs;
  // A result had autograd state when captured (the call recorded an entry); not saved:
  // only the compiled step's own C++ form reads it (Note [reused temporaries]).
  bool history = false;
};
// The index of `fn` in the export table (cpp/src/capture/exports.cpp), or -1.
int32_t export_index(const void* fn);
// The index of the table's function named `name`, or -1.
int32_t export_index_by_name(const std::string& name);
// The table's entry that gives back its argument (a handle copied to another slot).
int32_t same_tensor_index();
template <class F>
int32_t export_index_of(F fn) {
  if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>)
    return export_index(reinterpret_cast<const void*>(fn));
  else
    return -1;
}

// The C++ form of a captured program (Note [saved programs]): the exported calls, over the
// same slots as the program's instructions, and what saving it needs besides the program.
struct ExportForm {
  std::string missing;  // why the program has no C++ form; empty when it has one
  std::vector<ExportedCall> calls;
  // Constants only the C++ form reads (made inside a binding: a Python number as a tensor,
  // an optimizer's state created by the captured step), by slot; with the program's own.
  std::vector<std::pair<int32_t, Tensor>> constants;
  struct Input {
    Shape shape;
    DType dtype;
    bool requires_grad;
  };
  std::vector<Input> inputs;  // as captured, one per program input
};

// A captured program: instructions over slots. Inputs are filled by the caller, constants
// (tensors that existed before the capture: parameters, optimizer state, data held by a
// closure) are held here; every other slot is defined by an instruction.
struct Program {
  int32_t nslots = 0;
  std::vector<Slot> inputs;
  std::vector<std::pair<Slot, Tensor>> constants;
  std::vector<Instr> instrs;
  std::vector<std::vector<Slot>> release_after;  // slots last read by instruction i
  std::vector<Slot> kept;  // slots the caller reads after a run (the results)
  std::shared_ptr<const ExportForm> exported;  // null for a program not made by a Recorder
  // No result, input or constant (or a constant's .grad) carried history when the capture
  // ended, so no tensor of a replay's graph outlives it but through the caller's results:
  // replays may record into a planned tape of the program's own (Note [planned tapes] in
  // cpp/src/tape/tape.cpp).
  bool plannable = false;
  // Runs the instructions on `f` (sized nslots, inputs set); constants are set here.
  void run(Frame& f) const;

  // A frame kept with the program between runs, its constants installed once: a replay then
  // neither allocates a frame nor re-counts the references to every constant. One run holds
  // it at a time (a concurrent or nested run of the same program gets a fresh frame), and
  // releasing it drops the inputs and results, so it keeps nothing alive but the constants
  // the program holds anyway.
  class FrameLease {
   public:
    explicit FrameLease(const Program& p);
    ~FrameLease();
    FrameLease(const FrameLease&) = delete;
    FrameLease& operator=(const FrameLease&) = delete;
    Frame& frame() { return *f_; }
    // Runs the instructions (the constants are in place); on an exception the frame is
    // emptied, as a fresh one would be dropped.
    void run();

   private:
    const Program& p_;
    Frame own_;
    Frame* f_;
  };

 private:
  void run_instrs(Frame& f) const;
  void install_constants(Frame& f) const;
  struct Spare {
    Frame frame;
    std::atomic<bool> busy{false};
    // The planned tape of replays through this frame, how many runs recorded into it, and
    // how many plans did not hold.
    std::shared_ptr<Tape> plan;
    int64_t planned_runs = 0;
    int plan_misses = 0;
    // The slots a run leaves set besides the constants (inputs and results that are not
    // constants), emptied when the lease ends.
    std::vector<Slot> transient;
  };
  bool run_planned(Spare& sp, Frame& f) const;
  std::shared_ptr<Spare> spare_ = std::make_shared<Spare>();  // shared by copies

 public:
  // How many runs recorded into a planned tape (Note [planned tapes]); for tests.
  int64_t planned_runs() const { return spare_->planned_runs; }
};

// ----- saved programs (Note [saved programs] in cpp/src/capture/saved.cpp) -----
// The bytes of a program's C++ form with its constants as they are now (parameters, optimizer
// state); `names` names some of them (a parameter's name in its module) for SavedProgram::state.
// Throws std::runtime_error naming what the program does that has no C++ form.
std::string save_program(const Program& p, const std::vector<std::pair<Tensor, std::string>>& names,
                         bool single_result);
// A saved program loaded without Python: run() is one step of what was captured, on new
// inputs, updating the program's state (its constants) in place as the captured step did.
// One run at a time (a run from another thread waits).
class SavedProgram {
 public:
  static SavedProgram load(const std::string& path);
  static SavedProgram from_bytes(const std::string& bytes);
  // Inputs: as many tensors as the captured function took, of the captured shapes and
  // dtypes (std::invalid_argument otherwise). The results: what the function returned.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // A named constant (parameter, optimizer state) as the last run left it; null if none.
  Tensor state(const std::string& name) const;
  std::vector<std::string> state_names() const;
  const std::vector<ExportForm::Input>& inputs() const;
  bool single_result() const;
  size_t num_calls() const;  // as saved
  size_t num_fused() const;  // linear-relu pairs the loader runs as one call

  SavedProgram();
  ~SavedProgram();
  SavedProgram(SavedProgram&&) noexcept;
  SavedProgram& operator=(SavedProgram&&) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
const std::string& export_name(int32_t index);
// The C++ form of a captured program as a program of its own over the same slots and the same
// (live) constants: what tapegrad.compile replays when it has one (Note [saved programs]).
// `memory_planning`: the calls that can reuse their result tensor across runs do (Note
// [reused temporaries] in cpp/src/ops/binary.cpp), each with a slot of its own past p's.
// `fusion`: a linear whose result only the relu right after it reads runs as linear_relu
// (Note [fused linear-relu] in cpp/src/ops/linalg.cpp).
Program cpp_form(const Program& p, bool memory_planning = true, bool fusion = true);
Instr decode_call(const std::string& name, const ExportedCall& c);
// The call as one that reuses its result tensor (kept in slot `keep`) across runs, or an
// empty Instr when it is not one of those (add, sub, mul, div).
Instr reusing_call(const std::string& name, const ExportedCall& c, Slot keep);

// Fills p.release_after from what each instruction reads and defines (p's slot count, inputs,
// results and constants set): every slot is dropped after its last use; results, constants
// and, with keep_inputs, the inputs stay.
void plan_releases(Program& p, const std::vector<std::vector<Slot>>& reads,
                   const std::vector<std::vector<Slot>>& defs, bool keep_inputs);

class Recorder {
 public:
  // An argument tensor of the captured function; the same tensor twice is the same slot.
  Slot input(const Tensor& t);
  // A tensor an instruction reads: its slot, or a new constant slot for a tensor no
  // instruction produced.
  Slot use(const Tensor& t);
  // A tensor an instruction produced.
  Slot define(const Tensor& t);
  // Ends the instruction whose use()/define() calls came since the last emit.
  void emit(Instr f);
  // The capture cannot be replayed; the first reason is kept.
  void refuse(std::string why);
  bool refused() const { return !reason_.empty(); }
  const std::string& reason() const { return reason_; }
  // Seals the program; `keep` are the slots the caller reads after the run (the results).
  Program finish(const std::vector<Slot>& keep);
  // What the capture assumed of each constant when it first read it (the caller guards it).
  struct ConstState {
    Tensor t;
    Shape shape;
    DType dtype;
    bool requires_grad;
  };
  const std::vector<ConstState>& constant_states() const { return const_states_; }
  // Slot of a tensor already known to this capture, or kNoSlot.
  Slot find(const Tensor& t) const;

  int depth = 0;         // > 0 while the eager body of a recorded call runs
  bool touched = false;  // set by a recorded call or a binding that reads no tensor data

  // ----- the C++ form (Note [saved programs]) -----
  const char* binding = nullptr;  // the Python function being called at depth 0 (messages)
  // Around a recorded call at depth 0: `direct` when the call itself is in the export table;
  // otherwise the exported calls its body makes at depth 1 are its C++ form ("lowering").
  void begin_call(bool direct);
  void end_call();
  bool lowering() const { return lowering_; }
  // Said by a binding whose every effect on tensors goes through capture::call: those calls
  // are its C++ form. A binding that does not say it has none.
  void declare_lowered() { declared_ = true; }
  // Ends an exported call (function `fn` of the table, its arguments' bytes): at depth 0 its
  // reads and defines are the instruction's, at depth 1 those named since the last one.
  void xemit(int32_t fn, std::string args);
  // The program has no C++ form; the first reason is kept.
  void xmiss(const std::string& why);
  // A state slot: an in-out argument entry that is empty now (an optimizer buffer not yet
  // made) gets a constant slot of its own; after the call `set_state` records what the call
  // put there, so that saving writes the state as it is then.
  Slot state(const Tensor& t);
  void set_state(Slot s, const Tensor& t);

 private:
  std::unordered_map<const TensorImpl*, Slot> slots_;
  std::vector<Tensor> held_;  // every tensor named during the capture (no address reuse)
  std::vector<Slot> inputs_;
  std::vector<std::pair<Slot, Tensor>> constants_;
  std::vector<ConstState> const_states_;
  std::vector<Instr> instrs_;
  std::vector<std::vector<Slot>> reads_;
  std::vector<std::vector<Slot>> defs_;
  std::vector<Slot> cur_reads_, cur_defs_;
  std::string reason_;
  // the C++ form
  std::shared_ptr<ExportForm> x_ = std::make_shared<ExportForm>();
  std::vector<Slot> cur_xreads_, cur_xdefs_;
  // Slots only the C++ form names (made inside a lowered binding); a later read by the Python
  // program makes such a slot one of its constants, as an unknown tensor would be.
  std::vector<bool> xonly_;
  Slot new_slot(const Tensor& t, bool xonly);
  bool lowering_ = false, declared_ = false, in_call_ = false;
  size_t call_first_slot_ = 0, call_first_xcall_ = 0;
  std::string binding_name() const;
};

// The calling thread's active recorder, or null.
Recorder* active();
// Makes `r` the calling thread's recorder for the scope (null: none).
class Scope {
 public:
  explicit Scope(Recorder* r);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Recorder* prev_;
};

// A binding recorded whole whose effects on tensors all go through capture::call says so at
// its start: those calls are its C++ form (Note [saved programs]).
inline void lowers() {
  if (Recorder* r = active(); r && r->depth == 1 && r->lowering()) r->declare_lowered();
}

// A binding that reads metadata only (shapes, dtypes, flags) says so: nothing to record.
inline void pure() {
  if (Recorder* r = active(); r && r->depth == 0) r->touched = true;
}

// ----- how arguments and results are kept in an instruction -----
template <class T, class = void>
struct Arg {  // any other value: copied
  using Stored = T;
  static Stored save(Recorder&, const T& v) { return v; }
  static const T& load(const Frame&, const Stored& s) { return s; }
};
template <>
struct Arg<Tensor> {
  using Stored = Slot;
  static Slot save(Recorder& r, const Tensor& t) { return t ? r.use(t) : kNoSlot; }
  static const Tensor& load(const Frame& f, Slot s) {
    static const Tensor null;
    if (s == kNoSlot) return null;
    // (a program names only its own slots; a damaged saved one is stopped here)
    if (static_cast<size_t>(s) >= f.size()) [[unlikely]] throw_bad_slot();
    const Tensor& t = f[static_cast<size_t>(s)];
    if (!t) [[unlikely]] throw_bad_slot();  // (released, or never defined)
    return t;
  }
};
template <>
struct Arg<std::vector<Tensor>> {
  using Stored = std::vector<Slot>;
  static Stored save(Recorder& r, const std::vector<Tensor>& v) {
    Stored s;
    s.reserve(v.size());
    for (const Tensor& t : v) s.push_back(Arg<Tensor>::save(r, t));
    return s;
  }
  static std::vector<Tensor> load(const Frame& f, const Stored& s) {
    std::vector<Tensor> v;
    v.reserve(s.size());
    for (Slot i : s) v.push_back(Arg<Tensor>::load(f, i));
    return v;
  }
};
// An in-out list of tensors (an optimizer's state: entries it makes on its first step are
// null before). While capturing, an empty entry gets a state slot (Recorder::state); a replay
// of the C++ form reads the list from its slots and writes back what the call left in it.
struct StateList {
  std::vector<Tensor>* v;
};
template <>
struct Arg<StateList> {
  using Stored = std::vector<Slot>;
  static Stored save(Recorder& r, const StateList& l) {
    Stored s;
    for (const Tensor& t : *l.v) s.push_back(t ? r.use(t) : r.state(t));
    return s;
  }
  static void after(Recorder& r, const StateList& l, const Stored& s) {
    for (size_t i = 0; i < s.size() && i < l.v->size(); ++i) r.set_state(s[i], (*l.v)[i]);
  }
  struct Held {  // the list for the call; written back to the frame after it
    Frame* f;
    const Stored* s;
    std::vector<Tensor> v;
    ~Held() {
      for (size_t i = 0; i < s->size() && i < v.size(); ++i) (*f)[static_cast<size_t>((*s)[i])] = v[i];
    }
    operator StateList() { return {&v}; }
  };
  static Held load(const Frame& f, const Stored& s) {
    Held h{const_cast<Frame*>(&f), &s, {}};
    h.v.reserve(s.size());
    for (Slot i : s) {
      if (i < 0 || static_cast<size_t>(i) >= f.size()) throw_bad_slot();
      h.v.push_back(f[static_cast<size_t>(i)]);
    }
    return h;
  }
};
template <>
struct Arg<std::vector<IndexItem>> {
  using Stored = std::pair<std::vector<IndexItem>, std::vector<Slot>>;
  static Stored save(Recorder& r, const std::vector<IndexItem>& v) {
    Stored s{v, {}};
    for (IndexItem& it : s.first) {
      s.second.push_back(it.t ? r.use(it.t) : kNoSlot);
      it.t = nullptr;  // the slot names it
    }
    return s;
  }
  static std::vector<IndexItem> load(const Frame& f, const Stored& s) {
    std::vector<IndexItem> v = s.first;
    for (size_t i = 0; i < v.size(); ++i) v[i].t = Arg<Tensor>::load(f, s.second[i]);
    return v;
  }
};

template <class R>
struct Out;  // results: a tensor, tensors, or nothing
template <>
struct Out<void> {
  using Slots = std::tuple<>;
};
template <>
struct Out<Tensor> {
  using Slots = Slot;
  static Slot define(Recorder& r, const Tensor& t) { return r.define(t); }
  static void store(Frame& f, Slot s, Tensor t) { f[static_cast<size_t>(s)] = std::move(t); }
};
template <>
struct Out<std::pair<Tensor, Tensor>> {
  using Slots = std::pair<Slot, Slot>;
  static Slots define(Recorder& r, const std::pair<Tensor, Tensor>& t) {
    return {r.define(t.first), r.define(t.second)};
  }
  static void store(Frame& f, const Slots& s, std::pair<Tensor, Tensor> t) {
    f[static_cast<size_t>(s.first)] = std::move(t.first);
    f[static_cast<size_t>(s.second)] = std::move(t.second);
  }
};
template <>
struct Out<std::vector<Tensor>> {
  using Slots = std::vector<Slot>;
  static Slots define(Recorder& r, const std::vector<Tensor>& v) {
    Slots s;
    for (const Tensor& t : v) s.push_back(r.define(t));
    return s;
  }
  static void store(Frame& f, const Slots& s, std::vector<Tensor> v) {
    if (v.size() != s.size())
      throw std::runtime_error("tapegrad.compile: a replayed call returned " +
                               std::to_string(v.size()) + " tensors where the capture had " +
                               std::to_string(s.size()));
    for (size_t i = 0; i < s.size(); ++i) f[static_cast<size_t>(s[i])] = std::move(v[i]);
  }
};

// Runs fn(args...) and, while this thread captures (outside another recorded call), appends
// it to the program: tensor arguments by slot, other arguments copied, results given slots.
// fn must be copyable and depend on nothing but its arguments (a plain function or a lambda
// without captures of mutable state).
// The call's C++ form: fn is in the export table and every argument has a Codec (the types
// at the call are the function's own, so a saved program reads them back as it declares them).
template <class F>
struct FnParams;
template <class R, class... P>
struct FnParams<R (*)(P...)> {
  using Decayed = std::tuple<std::decay_t<P>...>;
};
template <class R, class... P>
struct FnParams<R (*)(P...) noexcept> : FnParams<R (*)(P...)> {};
template <class F, class... A>
constexpr bool exportable_call() {
  if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) {
    if constexpr (!std::is_same_v<typename FnParams<F>::Decayed, std::tuple<std::decay_t<A>...>>)
      return false;
    else
      return (Codec<typename Arg<std::decay_t<A>>::Stored>::ok && ...);
  } else {
    return false;
  }
}
template <class F, class... A>
std::string export_args(const std::tuple<typename Arg<std::decay_t<A>>::Stored...>& stored) {
  Writer w;
  std::apply([&](const auto&... s) {
    (Codec<std::decay_t<decltype(s)>>::write(w, s), ...);
  }, stored);
  return std::move(w.buf);
}
// In-out arguments (an optimizer's state list) report what the call left in their slots.
template <class T, class = void>
struct HasAfter : std::false_type {};
template <class T>
struct HasAfter<T, std::void_t<decltype(&Arg<T>::after)>> : std::true_type {};

template <class T, class S>
void after_call(Recorder& rec, const T& arg, const S& stored) {
  if constexpr (HasAfter<T>::value) Arg<T>::after(rec, arg, stored);
}

template <class F, class... A>
auto lowered_call(Recorder& rec, F fn, const A&... args) -> decltype(fn(args...));

template <class F, class... A>
auto call(F fn, const A&... args) -> decltype(fn(args...)) {
  using R = decltype(fn(args...));
  Recorder* rec = active();
  if (!rec) return fn(args...);
  if (rec->depth > 0) {
    if (rec->depth == 1 && rec->lowering()) return lowered_call(*rec, fn, args...);
    return fn(args...);
  }
  rec->touched = true;
  int32_t xfn = -1;
  if constexpr (exportable_call<F, A...>()) xfn = export_index_of(fn);
  rec->begin_call(xfn >= 0);
  struct End {
    Recorder* r;
    ~End() { r->end_call(); }
  } end{rec};
  auto stored = std::make_tuple(Arg<std::decay_t<A>>::save(*rec, args)...);
  // A call that raises is not recorded, and a capture whose function went on after catching
  // its exception took a path that depends on it: that capture is refused.
  struct Depth {
    Recorder* r;
    int exceptions = std::uncaught_exceptions();
    ~Depth() {
      --r->depth;
      if (std::uncaught_exceptions() > exceptions) r->refuse("an engine call raised an exception");
    }
  };
  if constexpr (std::is_void_v<R>) {
    {
      ++rec->depth;
      Depth d{rec};
      fn(args...);
    }
    std::apply([&](const auto&... st) { (after_call(*rec, args, st), ...); }, stored);
    if constexpr (exportable_call<F, A...>())
      if (xfn >= 0) rec->xemit(xfn, export_args<F, A...>(stored));
    rec->emit([fn, stored](Frame& f) {
      std::apply([&](const auto&... s) { fn(Arg<std::decay_t<A>>::load(f, s)...); }, stored);
    });
  } else {
    R result = [&] {
      ++rec->depth;
      Depth d{rec};
      return fn(args...);
    }();
    auto slots = Out<R>::define(*rec, result);
    std::apply([&](const auto&... st) { (after_call(*rec, args, st), ...); }, stored);
    if constexpr (exportable_call<F, A...>())
      if (xfn >= 0) rec->xemit(xfn, export_args<F, A...>(stored));
    rec->emit([fn, stored, slots](Frame& f) {
      Out<R>::store(f, slots, std::apply([&](const auto&... s) {
        return fn(Arg<std::decay_t<A>>::load(f, s)...);
      }, stored));
    });
    return result;
  }
}

// The entries of the export table (cpp/src/capture/exports.cpp) that are not plain engine
// functions: the forms the bindings call while lowering themselves.
namespace ex {

// The handle itself, in another slot (a binding that returns a tensor it was given).
Tensor same(const Tensor& t);
// t.grad, which is there (`had`) or not as when the step was captured (runtime_error if not).
Tensor grad_of(const Tensor& t, bool had);
// The optimizers' group steps over state lists (an empty entry is made on the first step).
void sgd(const std::vector<Tensor>& params, StateList momentum_buffers, const SgdOptions& o);
void adam(const std::vector<Tensor>& params, StateList exp_avg, StateList exp_avg_sq,
          StateList max_exp_avg_sq, StateList steps, const AdamOptions& o);
// matmul's transposed-operand forms (x @ W.T and A.T @ B: matmul_transposed, bindings/ops.cpp).
Tensor mm_transposed_a(const Tensor& x, const Tensor& v, bool v_transposed);
Tensor mm_transposed_b(const Tensor& x, const Tensor& v);
Tensor linear_transposed(const Tensor& x, const Tensor& v);
// t.requires_grad_(value), returning t.
Tensor set_requires_grad(const Tensor& t, bool value);
// RMSprop and Adagrad group steps over state lists.
void rmsprop(const std::vector<Tensor>& params, StateList square_avg, StateList grad_avg,
             StateList momentum_buffer, StateList steps, const RmspropOptions& o);
void adagrad(const std::vector<Tensor>& params, StateList sums, StateList steps,
             const AdagradOptions& o);
// Random tensors and in-place draws from the process's default generator.
Tensor rand_default(const Shape& shape, DType dtype);
Tensor randn_default(const Shape& shape, DType dtype);
void normal_default(const Tensor& t, double mean, double std);
void uniform_default(const Tensor& t, double low, double high);
Tensor randint_default(int64_t low, int64_t high, const Shape& shape);
Tensor randperm_default(int64_t n);
// tapegrad.normal's four forms (tensor or number mean and std) on the default generator.
Tensor normal_tt_default(const Tensor& mean, const Tensor& std);
Tensor normal_tn_default(const Tensor& mean, double std);
Tensor normal_nt_default(double mean, const Tensor& std);
Tensor normal_nn_default(double mean, double std, const Shape& size, DType dtype);

}  // namespace ex

// An engine call made by a binding recorded whole (depth 1), while it is being lowered: it runs
// as usual and, when it is in the export table, joins the binding's C++ form.
template <class F, class... A>
auto lowered_call(Recorder& rec, F fn, const A&... args) -> decltype(fn(args...)) {
  using R = decltype(fn(args...));
  int32_t xfn = -1;
  if constexpr (exportable_call<F, A...>()) xfn = export_index_of(fn);
  if (xfn < 0) {
    rec.xmiss("an engine call inside " + std::string(rec.binding ? rec.binding : "a binding") +
              "() is not in the export table");
    return fn(args...);
  }
  if constexpr (exportable_call<F, A...>()) {
    auto stored = std::make_tuple(Arg<std::decay_t<A>>::save(rec, args)...);
    auto after = [&] {
      std::apply([&](const auto&... st) {
        std::apply([&](const auto&... a) { (after_call(rec, a, st), ...); },
                   std::forward_as_tuple(args...));
      }, stored);
    };
    if constexpr (std::is_void_v<R>) {
      ++rec.depth;
      try {
        fn(args...);
      } catch (...) {
        --rec.depth;
        throw;
      }
      --rec.depth;
      after();
      rec.xemit(xfn, export_args<F, A...>(stored));
    } else {
      ++rec.depth;
      R result = [&] {
        try {
          return fn(args...);
        } catch (...) {
          --rec.depth;
          throw;
        }
      }();
      --rec.depth;
      after();
      Out<R>::define(rec, result);
      rec.xemit(xfn, export_args<F, A...>(stored));
      return result;
    }
  } else {
    return fn(args...);
  }
}

}  // namespace tapegrad::capture

// Capture and replay (Note [capture and replay] in cpp/src/capture/capture.cpp): while a
// Recorder is active on a thread, every engine call made through capture::call() runs as usual
// and is also appended to a program, its tensor arguments and results named by slots; a
// Program runs those same calls again, in order, on new input tensors, with nothing between
// them. Layers: above autograd and the optimizers, below the bindings (docs/architecture.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/ops.h"
#include "tapegrad/tensor.h"

namespace tapegrad::capture {

using Slot = int32_t;
constexpr Slot kNoSlot = -1;  // an absent (null) tensor

// Thrown by an instruction that finds what the capture assumed no longer holds, midway through
// a replay: the caller drops that program (the next call captures again).
struct StaleProgram : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The tensors of one run of a program, by slot.
using Frame = std::vector<Tensor>;
using Instr = std::function<void(Frame&)>;

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
  };
  std::shared_ptr<Spare> spare_ = std::make_shared<Spare>();  // shared by copies
};

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
    return s == kNoSlot ? null : f[static_cast<size_t>(s)];
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
template <class F, class... A>
auto call(F fn, const A&... args) -> decltype(fn(args...)) {
  using R = decltype(fn(args...));
  Recorder* rec = active();
  if (!rec || rec->depth > 0) return fn(args...);
  rec->touched = true;
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
    rec->emit([fn, stored, slots](Frame& f) {
      Out<R>::store(f, slots, std::apply([&](const auto&... s) {
        return fn(Arg<std::decay_t<A>>::load(f, s)...);
      }, stored));
    });
    return result;
  }
}

}  // namespace tapegrad::capture

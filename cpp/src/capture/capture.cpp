// Capture and replay: the recorder and the program.
//
// Note [capture and replay]
// tapegrad.compile(fn) runs fn once with a Recorder active on the thread. Every engine call the
// bindings make goes through capture::call(), which runs it as usual and appends it to the
// program: the function (a plain function or a capture-free lambda over the engine), its
// non-tensor arguments copied, its tensor arguments and results named by slots. A tensor no
// recorded call produced and that is not an argument of fn is a constant: it existed before the
// call (a parameter, optimizer state, data held by a closure) and the program holds it by
// reference, so a later replay reads its current contents, as eager code would.
//
// A replay runs the same engine calls in the same order on the new inputs — the same kernels,
// the same tape, the same reverse sweep, the same optimizer updates — so its results are
// eager's to the bit; what it leaves out is Python: the interpreter, argument parsing and
// conversion, the binding layer. Slots are released after their last reader (the results are
// kept), so intermediates live no longer than in eager code.
//
// Memory. A replay allocates nothing per step for its tensors once it runs in a loop:
//   - Every intermediate's TensorImpl, Storage (small data inline) and shape vector, and the
//     shapes its tape entries keep, come from what its predecessors freed (Note [block
//     recycling] in cpp/src/blocks.cpp): the k-th tensor a replay makes takes, last-in
//     first-out, a block the previous replay's tensors returned when they died, and large
//     buffers come back out of the buffer cache (Note [buffer cache]). That is the static memory plan, assigned by the allocation order the program
//     fixes rather than by a table: a planned table would have to give each op an output
//     buffer (every op an out= variant) and prove that no result, view, .grad or saved tensor
//     still holds it; recycling on destruction is safe by construction — a block is reused
//     only after its last owner (the caller, a view, the tape, a .grad, an optimizer) let go
//     — and eager loops get it as well. Results the caller keeps simply keep their blocks.
//   - The frame (one tensor per slot) is kept with the program between runs, its constants
//     installed once (Program::FrameLease); a run leaves only the constants in it, so it
//     keeps nothing alive the program does not hold anyway.
// What is still allocated per replay is, for a program whose graph leaves the step through
// its results, the tape entries (the same engine calls as eager, by design). A program whose
// graph stays inside the step records into a planned tape of its own (Note [planned tapes] in
// cpp/src/tape/tape.cpp; Program::run_planned below), whose entries are recorded into again
// rather than built per step: 38.0k → 35.6k instructions per replay of the 8-point step as a
// learner writes it. Making the per-op bookkeeping inline (itemsize, numel, shape equality,
// same-dtype promotion, the kernel table) and letting a binary op borrow the shape an operand
// broadcasts into took 35.0k → 32.3k (callgrind, counted inside the compiled call; AVX2
// build). The reverse sweep then still made ten heap allocations per replay (each rule's
// result vector, the seed and root vectors of backward(), the adjoint array); with the
// rules' gradients inline (Grads) and the sweep's arrays kept by the thread (Note [adjoint
// table]) it makes none: 31.3k → 30.0k (AVX2 code under valgrind, counted inside the call
// from Python, 2026-12-01).
// A replay that skipped the tape altogether would run the sweep's rule calls as
// instructions of its own.
//
// What Python decided while fn ran is baked into the program, so the capture must not depend
// on anything a later call could change unseen. Two rules keep that true:
//   - Every binding opts in. The argument guard that wraps every pybind11 function
//     (bindings/convert_args.cpp) refuses the capture when a binding ran at depth 0 without
//     recording a call or declaring itself metadata-only (capture::pure). So a read of tensor
//     data into Python (item(), tolist(), bool(t), numpy()), a tensor made from Python data,
//     or anything not yet taught to record, makes the capture fall back to eager.
//   - What Python read is guarded (bindings/compile.cpp): the arguments' shapes, dtypes and
//     requires_grad; non-tensor arguments by value; fn's globals and closure cells (a plain
//     dict or list by its contents); the constants' shapes, dtypes, requires_grad and
//     whether they have a .grad; and what the library's Python registers while capturing (a
//     module's `training` flag, an optimizer's hyperparameters). A call that fails a guard
//     captures again; a capture whose guards fail already when it ends (fn changed what it
//     read) is not replayed at all. An item guard whose dict has the version it last held
//     under (CPython 3.11's dict versions) holds without a lookup.
// A call made inside a recorded call (a hook the reverse sweep calls, say) belongs to it: the
// depth counter keeps it out of the program, and the replay of the outer call makes it again.
#include "tapegrad/capture.h"
#include "tapegrad/grad_mode.h"
#include "tapegrad/tape.h"

namespace tapegrad::capture {
namespace {
thread_local Recorder* t_active = nullptr;

// Whether t, its .grad or the base it is a view of carries history (on `tape` only, when
// given): what a run could reach of it. (A factored .grad is two plain rows: no history, and
// it is not formed here.)
bool has_history(const Tensor& t, const Tape* tape) {
  // (The meta's fields read inline: this runs for every input, constant and result around
  // each planned run.)
  auto on = [&](const Tensor& x) {
    const AutogradMeta* m = x ? x->autograd_meta() : nullptr;
    return m && m->node >= 0 && (!tape || m->tape.get() == tape);
  };
  if (!t) return false;
  if (on(t)) return true;
  if (const AutogradMeta* m = t->autograd_meta(); m && on(m->grad)) return true;
  return t->is_view() && on(t->view_base());
}

// Whether a planned run may not read t: t has history, or gradient hooks (Python code that
// runs inside the sweep and may keep a gradient it is given).
bool blocks_plan(const Tensor& t) {
  if (has_history(t, nullptr)) return true;
  const AutogradMeta* m = t ? t->autograd_meta() : nullptr;
  return m && m->hooks && (!m->hooks->pre.empty() || !m->hooks->post.empty());
}
}  // namespace

Recorder* active() { return t_active; }

void throw_bad_slot() {
  throw std::runtime_error("tapegrad: an instruction reads a slot its program does not have "
                           "or has not filled (a damaged saved program?)");
}

Scope::Scope(Recorder* r) : prev_(t_active) { t_active = r; }
Scope::~Scope() { t_active = prev_; }

Slot Recorder::find(const Tensor& t) const {
  auto it = slots_.find(t.get());
  return it == slots_.end() ? kNoSlot : it->second;
}

Slot Recorder::input(const Tensor& t) {
  if (Slot s = find(t); s != kNoSlot) {
    inputs_.push_back(s);
    return s;
  }
  const Slot s = new_slot(t, false);
  slots_[t.get()] = s;
  inputs_.push_back(s);
  return s;
}

Slot Recorder::new_slot(const Tensor& t, bool xonly) {
  const Slot s = static_cast<Slot>(held_.size());
  held_.push_back(t);
  xonly_.push_back(xonly);
  return s;
}

Slot Recorder::use(const Tensor& t) {
  Slot s = find(t);
  if (depth > 0) {  // an engine call inside a binding being lowered: the C++ form's alone
    if (s == kNoSlot) {
      s = new_slot(t, true);
      slots_[t.get()] = s;
      x_->constants.emplace_back(s, t);
    }
    cur_xreads_.push_back(s);
    return s;
  }
  if (s != kNoSlot && xonly_[static_cast<size_t>(s)]) {
    // Made inside a lowered binding, now read by the Python program: its constant.
    xonly_[static_cast<size_t>(s)] = false;
    auto& xc = x_->constants;
    for (auto it = xc.begin(); it != xc.end(); ++it)
      if (it->first == s) {
        xc.erase(it);
        break;
      }
    constants_.emplace_back(s, t);
    const_states_.push_back({t, t->shape(), t->dtype(), t->requires_grad()});
  }
  if (s == kNoSlot) {
    s = new_slot(t, false);
    slots_[t.get()] = s;
    constants_.emplace_back(s, t);
    const_states_.push_back({t, t->shape(), t->dtype(), t->requires_grad()});
  }
  cur_reads_.push_back(s);
  return s;
}

Slot Recorder::define(const Tensor& t) {
  if (depth > 0) {
    const Slot s = new_slot(t, true);
    cur_xdefs_.push_back(s);
    if (t) slots_[t.get()] = s;
    return s;
  }
  if (lowering_ && t) {
    // A result of a binding lowered to its engine calls: the slot one of them defined, or,
    // for a tensor that existed before (an in-place method returns self), a new slot the
    // C++ form fills by copying the handle.
    const Slot before = find(t);
    bool made_here = before != kNoSlot && static_cast<size_t>(before) >= call_first_slot_;
    // (a tensor the binding made itself and only handed to an engine call is a constant of
    // the C++ form, not something its calls made: returning it has no C++ form)
    for (const auto& c : x_->constants) made_here = made_here && c.first != before;
    if (made_here) {
      cur_defs_.push_back(before);
      xonly_[static_cast<size_t>(before)] = false;  // the Python instruction defines it too
      return before;
    }
    const Slot s = new_slot(t, false);
    cur_defs_.push_back(s);
    slots_[t.get()] = s;
    if (before == kNoSlot || static_cast<size_t>(before) >= call_first_slot_) {
      if (declared_) xmiss(binding_name() + " returned a tensor that its engine calls did not make");
    } else {
      x_->calls.push_back({same_tensor_index(), {}, {before}, {s}});
      Writer w;
      w.pod<Slot>(before);
      x_->calls.back().args = std::move(w.buf);
    }
    return s;
  }
  const Slot s = new_slot(t, false);
  cur_defs_.push_back(s);
  if (t) slots_[t.get()] = s;  // the newest slot names the tensor from now on
  return s;
}

std::string Recorder::binding_name() const {
  if (!binding) return "a tapegrad function";
  // pybind11 names a property's accessors "": the setters are what record (t.grad = None).
  return *binding ? std::string(binding) + "()" : "a tensor property's setter (such as `t.grad = ...`)";
}

void Recorder::begin_call(bool direct) {
  in_call_ = true;
  lowering_ = !direct;
  declared_ = false;
  call_first_slot_ = held_.size();
  call_first_xcall_ = x_->calls.size();
  cur_xreads_.clear();
  cur_xdefs_.clear();
}

void Recorder::end_call() {
  lowering_ = false;
  in_call_ = false;
}

void Recorder::xemit(int32_t fn, std::string args) {
  ExportedCall c;
  c.fn = fn;
  c.args = std::move(args);
  if (depth > 0) {
    c.reads = std::move(cur_xreads_);
    c.defs = std::move(cur_xdefs_);
    cur_xreads_.clear();
    cur_xdefs_.clear();
  } else {
    c.reads = cur_reads_;
    c.defs = cur_defs_;
  }
  for (Slot s : c.defs)
    if (const Tensor& t = held_[static_cast<size_t>(s)]; t && t->autograd_meta()) c.history = true;
  x_->calls.push_back(std::move(c));
}

void Recorder::xmiss(const std::string& why) {
  if (x_->missing.empty()) x_->missing = why;
}

Slot Recorder::state(const Tensor& t) {
  const Slot s = new_slot(t, depth > 0);
  if (depth > 0) {  // (a lowered binding: the Python program replays the binding itself)
    x_->constants.emplace_back(s, t);
    cur_xreads_.push_back(s);
  } else {  // a state slot of both forms: kept in the frame between runs
    constants_.emplace_back(s, t);
    cur_reads_.push_back(s);
  }
  return s;
}

void Recorder::set_state(Slot s, const Tensor& t) {
  if (!t) return;
  const Slot was = find(t);
  if (was == s) return;
  slots_[t.get()] = s;
  held_.push_back(t);  // (keeps its address from being reused during the capture)
  xonly_.push_back(false);
  for (auto& c : x_->constants)
    if (c.first == s) c.second = t;
  for (auto& c : constants_)
    if (c.first == s) c.second = t;
}

void Recorder::emit(Instr f) {
  if (!in_call_ || (lowering_ && !declared_)) xmiss(binding_name() + " has no C++ form yet");
  in_call_ = false;
  instrs_.push_back(std::move(f));
  reads_.push_back(std::move(cur_reads_));
  defs_.push_back(std::move(cur_defs_));
  cur_reads_.clear();
  cur_defs_.clear();
}

void Recorder::refuse(std::string why) {
  try {
    if (reason_.empty()) reason_ = std::move(why);
  } catch (...) {
    if (reason_.empty()) reason_ = "?";
  }
}

// Dead values: a slot is released after the last instruction that reads it (a result never
// read, after the instruction that made it), unless the caller reads it afterwards; the
// program holds its constants anyway (they stay in the frame, Program::FrameLease).
void plan_releases(Program& p, const std::vector<std::vector<Slot>>& reads,
                   const std::vector<std::vector<Slot>>& defs, bool keep_inputs) {
  std::vector<int64_t> last(static_cast<size_t>(p.nslots), -1);
  for (size_t i = 0; i < reads.size(); ++i) {
    for (Slot s : defs[i]) last[static_cast<size_t>(s)] = static_cast<int64_t>(i);
    for (Slot s : reads[i]) last[static_cast<size_t>(s)] = static_cast<int64_t>(i);
  }
  for (Slot s : p.kept)
    if (s != kNoSlot) last[static_cast<size_t>(s)] = -1;
  if (keep_inputs)
    for (Slot s : p.inputs) last[static_cast<size_t>(s)] = -1;
  for (const auto& c : p.constants) last[static_cast<size_t>(c.first)] = -1;
  p.release_after.assign(p.instrs.size(), {});
  for (size_t s = 0; s < last.size(); ++s)
    if (last[s] >= 0) p.release_after[static_cast<size_t>(last[s])].push_back(static_cast<Slot>(s));
}

Program Recorder::finish(const std::vector<Slot>& keep) {
  Program p;
  p.nslots = static_cast<int32_t>(held_.size());
  p.inputs = inputs_;
  p.constants = constants_;
  p.instrs = std::move(instrs_);
  p.kept = keep;
  plan_releases(p, reads_, defs_, /*keep_inputs=*/false);
  p.plannable = true;
  for (Slot s : keep)
    if (s != kNoSlot) p.plannable = p.plannable && !has_history(held_[static_cast<size_t>(s)], nullptr);
  for (Slot s : inputs_) p.plannable = p.plannable && !has_history(held_[static_cast<size_t>(s)], nullptr);
  for (const auto& c : constants_) p.plannable = p.plannable && !has_history(c.second, nullptr);
  for (Slot s : inputs_) {
    const Tensor& t = held_[static_cast<size_t>(s)];
    x_->inputs.push_back({t->shape(), t->dtype(), t->requires_grad()});
  }
  p.exported = std::move(x_);
  x_ = std::make_shared<ExportForm>();
  held_.clear();
  xonly_.clear();
  slots_.clear();
  return p;
}

void Program::install_constants(Frame& f) const {
  for (const auto& [s, t] : constants) f[static_cast<size_t>(s)] = t;
}

void Program::run_instrs(Frame& f) const {
  for (size_t i = 0; i < instrs.size(); ++i) {
    instrs[i](f);
    for (Slot s : release_after[i]) f[static_cast<size_t>(s)].reset();
  }
}

void Program::run(Frame& f) const {
  install_constants(f);
  run_instrs(f);
}

Program::FrameLease::FrameLease(const Program& p) : p_(p) {
  if (!p.spare_->busy.exchange(true, std::memory_order_acquire)) {
    f_ = &p.spare_->frame;
    if (f_->size() != static_cast<size_t>(p.nslots)) {
      f_->assign(static_cast<size_t>(p.nslots), Tensor());
      p.install_constants(*f_);
      // A result may be a constant (a buffer the step returns): it stays installed.
      std::vector<bool> constant(static_cast<size_t>(p.nslots), false);
      for (const auto& c : p.constants) constant[static_cast<size_t>(c.first)] = true;
      auto& tr = p.spare_->transient;
      tr.clear();
      for (Slot s : p.inputs) tr.push_back(s);
      for (Slot s : p.kept)
        if (s != kNoSlot && !constant[static_cast<size_t>(s)]) tr.push_back(s);
    }
  } else {
    own_.resize(static_cast<size_t>(p.nslots));
    p.install_constants(own_);
    f_ = &own_;
  }
}

void Program::FrameLease::run() {
  const bool grad = grad_enabled();
  try {
    if (p_.plannable && f_ == &p_.spare_->frame && p_.run_planned(*p_.spare_, *f_)) return;
    p_.run_instrs(*f_);
  } catch (...) {
    f_->clear();  // the constants are installed again by the next lease
    // A run stopped inside the step's `with no_grad():` leaves grad mode as it found it, as
    // the with statement would have on the way out.
    set_grad_enabled(grad);
    throw;
  }
}

Program::FrameLease::~FrameLease() {
  if (f_ != &p_.spare_->frame) return;
  if (!f_->empty()) {  // (emptied by an exception)
    // Only the inputs and the results can still be set (every other slot was released
    // after its last reader), besides the constants.
    for (Slot s : p_.spare_->transient) (*f_)[static_cast<size_t>(s)].reset();
  }
  p_.spare_->busy.store(false, std::memory_order_release);
}

// A run recorded into the program's planned tape (Note [planned tapes] in
// cpp/src/tape/tape.cpp); false when this run cannot use it (it then runs as usual). The plan
// is used only when nothing from outside the run has history (an input or constant with
// history is on the thread's tape, which the run's records must share), not inside another
// planned run, not under anomaly mode, and when no tensor holds history on it (the program
// holds the only reference), and not when an input or constant has gradient hooks (Python code
// that runs inside the sweep; a hook registered inside the step refuses the capture). A plan
// that did not hold is dropped; after three the program stops planning.
bool Program::run_planned(Spare& sp, Frame& f) const {
  if (sp.plan_misses >= 3 || Tape::PlanScope::active() || anomaly_enabled()) return false;
  for (Slot s : inputs)
    if (blocks_plan(f[static_cast<size_t>(s)])) return false;
  for (const auto& c : constants)
    if (blocks_plan(f[static_cast<size_t>(c.first)])) return false;
  if (!sp.plan) sp.plan = Tape::make_planned();
  auto drop = [&] {
    sp.plan->retire_plan();
    sp.plan.reset();
    ++sp.plan_misses;
  };
  if (sp.plan.use_count() != 1 || !sp.plan->plan_begin()) {
    drop();
    return false;
  }
  try {
    Tape::PlanScope scope(sp.plan);
    run_instrs(f);
  } catch (...) {
    drop();
    throw;
  }
  bool held = sp.plan->plan_end();
  // What the capture found (plannable): nothing the caller can reach has history here.
  auto outside = [&](Slot s) { return s != kNoSlot && has_history(f[static_cast<size_t>(s)], sp.plan.get()); };
  for (Slot s : kept) held = held && !outside(s);
  for (Slot s : inputs) held = held && !outside(s);
  for (const auto& c : constants) held = held && !outside(c.first);
  ++sp.planned_runs;
  if (!held) drop();
  return true;
}

}  // namespace tapegrad::capture

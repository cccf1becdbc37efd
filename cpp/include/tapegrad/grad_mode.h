// Grad mode (thread-local, as torch.no_grad / enable_grad) and anomaly mode. They belong to
// the tape layer: an entry is recorded iff grad mode is on and an input requires grad, and
// ops below the autograd layer consult them (tapegrad/autograd.h re-exports them).
#pragma once

namespace tapegrad {

bool grad_enabled();
void set_grad_enabled(bool on);
struct GradModeGuard {
  explicit GradModeGuard(bool on) : prev_(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// detect_anomaly(): the forward names the first op that produced a NaN, the backward the
// first rule that returned NaN or inf (Note [anomaly mode] in cpp/src/autograd/checks.cpp).
bool anomaly_enabled();
void set_anomaly_enabled(bool on);

}  // namespace tapegrad

// A training loop in C++ from a step defined in Python (docs/saved-programs.md):
//
//   tapegrad regression --save-step step.tgp     # train in Python, save the compiled step
//   train_saved_step step.tgp 1000               # go on for 1000 steps without Python
//
// The step takes no inputs (the lesson's eight points are part of it); a step that takes a
// batch gets its tensors as run()'s arguments. Prints the last step's loss and the named state
// (m, b) as hexadecimal floats (exact) and decimals.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "tapegrad/capture.h"
#include "tapegrad/tensor.h"

using tapegrad::Tensor;

namespace {
void print(const char* name, const Tensor& t) {
  if (!t || t->numel() != 1) {
    std::printf("%s: %s\n", name, t ? tapegrad::shape_str(t->shape()).c_str() : "None");
    return;
  }
  const double v = t->item_as_double();
  std::printf("%s %a %.7f\n", name, v, v);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s STEP.tgp STEPS\n", argv[0]);
    return 2;
  }
  try {
    tapegrad::capture::SavedProgram step = tapegrad::capture::SavedProgram::load(argv[1]);
    if (!step.inputs().empty()) {
      std::fprintf(stderr, "%s: this example runs steps without inputs; the saved step takes %zu\n",
                   argv[1], step.inputs().size());
      return 2;
    }
    const long steps = std::strtol(argv[2], nullptr, 10);
    std::vector<Tensor> out;
    for (long i = 0; i < steps; ++i) out = step.run({});
    if (!out.empty()) print("loss", out[0]);
    for (const std::string& name : step.state_names()) print(name.c_str(), step.state(name));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

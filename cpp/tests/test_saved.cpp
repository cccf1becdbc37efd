// Saved programs without Python (Note [saved programs] in cpp/src/capture/saved.cpp): a
// line-fit step with SGD and momentum is captured from C++ engine calls, saved, loaded from the
// bytes and run; its losses and parameters must equal an eager loop's bit for bit. Then the
// loader's refusals: damaged, truncated and foreign bytes, inputs of the wrong shape.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "tapegrad/autograd.h"
#include "tapegrad/capture.h"
#include "tapegrad/grad_mode.h"
#include "tapegrad/ops.h"

using namespace tapegrad;
namespace cap = tapegrad::capture;

namespace {
using MeanFn = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool, std::optional<DType>);
constexpr MeanFn kMean = &tapegrad::mean;
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using BackwardFn = void (*)(const Tensor&, const Tensor&, bool, bool);

Tensor data(std::vector<float> v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::f32);
  std::memcpy(t->data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

struct Model {
  Tensor m = data({0.5f}), b = data({0.1f});
  std::vector<Tensor> bufs{nullptr, nullptr};
  Model() {
    m->set_requires_grad(true);
    b->set_requires_grad(true);
  }
};

// One step: loss = mean((m·x + b − y)²), backward, SGD with momentum 0.9. Every call goes
// through capture::call, as the bindings make them; outside a capture it is the eager step.
Tensor step(Model& md, const Tensor& x, const Tensor& y) {
  const Tensor two = scalar_tensor(2.0, DType::f32);
  Tensor yhat = cap::call(static_cast<BinaryFn>(&add), cap::call(static_cast<BinaryFn>(&mul), md.m, x), md.b);
  Tensor r = cap::call(static_cast<BinaryFn>(&sub), yhat, y);
  Tensor loss = cap::call(kMean, cap::call(static_cast<BinaryFn>(&tapegrad::pow), r, two), std::vector<int64_t>{}, false,
                          std::optional<DType>{});
  cap::call(static_cast<BackwardFn>(&backward), loss, Tensor(), false, false);
  cap::call(&cap::ex::sgd, std::vector<Tensor>{md.m, md.b}, cap::StateList{&md.bufs},
            SgdOptions{0.05, 0.9, 0.0, 0.0, false, false});
  cap::call(&zero_grad, std::vector<Tensor>{md.m, md.b}, true);
  return loss;
}

float first(const Tensor& t) { return t->data<float>()[0]; }
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <class F>
bool throws(F f, const char* needle) {
  try {
    f();
  } catch (const std::exception& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return true;
    std::printf("  unexpected message: %s\n", e.what());
    return false;
  }
  return false;
}
}  // namespace

int main() {
  const Tensor x = data({1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor y = data({3.1f, 4.9f, 7.2f, 9.0f, 10.8f, 13.1f, 15.0f, 17.2f});

  // eager: 12 steps
  Model eager;
  std::vector<float> eager_losses;
  for (int i = 0; i < 12; ++i) eager_losses.push_back(first(step(eager, x, y)));

  // captured at step 1 (momentum buffers made by it: state slots), saved after step 2
  Model cm;
  cap::Recorder rec;
  Tensor loss0;
  {
    cap::Scope scope(&rec);
    loss0 = step(cm, x, y);
  }
  const cap::Slot kept = rec.find(loss0);
  CHECK(kept != cap::kNoSlot);
  cap::Program prog = rec.finish({kept});
  CHECK(prog.exported && prog.exported->missing.empty());
  CHECK(same_bits(first(loss0), eager_losses[0]));
  CHECK(same_bits(first(step(cm, x, y)), eager_losses[1]));  // eager again, as Python would
  const std::string bytes = cap::save_program(prog, {{cm.m, "m"}, {cm.b, "b"}}, true);
  cap::SavedProgram sp = cap::SavedProgram::from_bytes(bytes);
  CHECK(sp.inputs().empty());
  CHECK(sp.state_names() == (std::vector<std::string>{"m", "b"}));
  for (int i = 2; i < 12; ++i) {
    std::vector<Tensor> out = sp.run({});
    CHECK(out.size() == 1);
    CHECK(same_bits(first(out[0]), eager_losses[static_cast<size_t>(i)]));
  }
  CHECK(same_bits(first(sp.state("m")), first(eager.m)));
  CHECK(same_bits(first(sp.state("b")), first(eager.b)));
  CHECK(!sp.state("nothing"));
  // the saved copy is the program's own: the captured model did not move
  CHECK(!same_bits(first(cm.m), first(eager.m)));

  // damaged, truncated and foreign bytes
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 1;
  CHECK(throws([&] { cap::SavedProgram::from_bytes(bad); }, "damaged"));
  CHECK(throws([&] { cap::SavedProgram::from_bytes(bytes.substr(0, bytes.size() - 3)); }, "truncated"));
  CHECK(throws([&] { cap::SavedProgram::from_bytes("PK\x03\x04 not a program"); }, "not a saved tapegrad program"));
  CHECK(throws([&] { cap::SavedProgram::load("/nonexistent/dir/step.tgp"); }, "cannot open"));

  // a program with an input: the input's shape and dtype are checked
  {
    Model im;
    cap::Recorder r2;
    Tensor l;
    {
      cap::Scope scope(&r2);
      r2.input(x);
      l = step(im, x, y);
    }
    cap::SavedProgram p2 = cap::SavedProgram::from_bytes(
        cap::save_program(r2.finish({r2.find(l)}), {}, true));
    CHECK(p2.inputs().size() == 1);
    CHECK(throws([&] { p2.run({}); }, "expected 1 input"));
    CHECK(throws([&] { p2.run({data({1, 2})}); }, "of shape [8]"));
    Model em;
    step(em, x, y);  // the capture's step
    for (int i = 0; i < 3; ++i) CHECK(same_bits(first(p2.run({x})[0]), first(step(em, x, y))));
  }

  // a call outside the export table leaves the program without a C++ form
  {
    cap::Recorder r3;
    {
      cap::Scope scope(&r3);
      cap::call([](const Tensor& a) { return exp(a); }, x);
    }
    cap::Program p3 = r3.finish({});
    CHECK(!p3.exported->missing.empty());
    CHECK(throws([&] { cap::save_program(p3, {}, false); }, "cannot save the program"));
  }
  std::printf("%s: %d failures\n", __FILE__, failures);
  return failures == 0 ? 0 : 1;
}

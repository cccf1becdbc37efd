// Note [planned tapes] from C++ alone: a step recorded into a planned tape again and again
// gives the thread tape's gradients bit for bit without growing the tape; a step that records
// other ops leaves the plan (still right) and says so; a tape with a live entry is not recorded
// over; a retired plan is an ordinary tape.
#include <cstdio>
#include <cstring>
#include <vector>

#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"

#include "check.h"

using namespace tapegrad;

static Tensor from(std::initializer_list<float> v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::f32);
  float* p = t->data<float>();
  for (float f : v) *p++ = f;
  return t;
}

static Tensor param(float v) {
  Tensor t = from({v});
  t->set_requires_grad(true);
  return t;
}

static bool same_bits(const Tensor& a, const Tensor& b) {
  return a && b && a->nbytes() == b->nbytes() && std::memcmp(a->raw(), b->raw(), a->nbytes()) == 0;
}

// One step of the line fit; `other` swaps the loss's square for exp (a different op list).
static void step(const Tensor& m, const Tensor& b, const Tensor& x, bool other) {
  Tensor y_hat = m * x + b;
  Tensor loss = other ? mean(exp(y_hat), {}, false) : mean(y_hat * y_hat, {}, false);
  backward(loss);
}

static void clear_grads(const Tensor& a, const Tensor& b) {
  zero_(a->grad());
  zero_(b->grad());
}

int main() {
  const Tensor x = from({0, 1, 2, 3, 4, 5, 6, 7});
  const Tensor m = param(0.9f), b = param(0.1f);     // on the planned tape
  const Tensor me = param(0.9f), be = param(0.1f);   // on the thread's tape
  auto plan = Tape::make_planned();
  CHECK(plan->planned());

  int64_t entries = -1;
  for (int run = 0; run < 5; ++run) {
    CHECK(plan->plan_begin());
    {
      Tape::PlanScope scope(plan);
      CHECK(Tape::PlanScope::active());
      step(m, b, x, false);
    }
    CHECK(!Tape::PlanScope::active());
    CHECK(plan->plan_end());
    step(me, be, x, false);
    CHECK(same_bits(m->grad(), me->grad()));
    CHECK(same_bits(b->grad(), be->grad()));
    const TapeStats s = plan->stats();
    CHECK(s.live_entries == 0);  // every entry parked once its tensors died
    if (run == 0) entries = s.entries;
    CHECK(s.entries == entries);  // recorded into, not appended to
    clear_grads(m, b);
    clear_grads(me, be);
  }
  CHECK(entries == 4);  // mul, add, mul, mean

  // Other ops: the plan does not hold, the gradients are still the thread tape's.
  CHECK(plan->plan_begin());
  {
    Tape::PlanScope scope(plan);
    step(m, b, x, true);
  }
  CHECK(!plan->plan_end());
  step(me, be, x, true);
  CHECK(same_bits(m->grad(), me->grad()));
  CHECK(same_bits(b->grad(), be->grad()));
  clear_grads(m, b);
  clear_grads(me, be);

  // A tensor that still holds history on the tape keeps it from being recorded over.
  auto plan2 = Tape::make_planned();
  CHECK(plan2->plan_begin());
  Tensor kept;
  {
    Tape::PlanScope scope(plan2);
    kept = m * x;
  }
  CHECK(plan2->plan_end());
  CHECK(!plan2->plan_begin());
  kept.reset();
  CHECK(plan2->plan_begin());
  {
    Tape::PlanScope scope(plan2);
    kept = m * x;  // recorded into the parked entry
  }
  CHECK(plan2->plan_end());
  CHECK(plan2->stats().entries == 1);
  kept.reset();
  CHECK(plan2->plan_begin());
  CHECK(!plan2->plan_end());  // a run that records less than the plan does not hold either

  // Retired, the broken plan is an ordinary tape: entries die and are compacted away.
  plan->retire_plan();
  CHECK(!plan->planned());
  for (int run = 0; run < 300; ++run) {
    Tape::PlanScope scope(plan);
    step(m, b, x, run % 2 == 1);
  }
  CHECK(plan->stats().live_entries == 0);
  CHECK(plan->stats().entries < 300 * 4);

  if (failures) std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}

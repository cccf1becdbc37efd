// Note [tape threads] from C++ alone: tensors with history die in threads other than the one
// that recorded them — while it keeps recording and sweeping — and tapes outlive their
// threads. Run it under ThreadSanitizer to see the protocol hold; in CI it checks that
// nothing crashes and that every entry is released in the end.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "tapegrad/autograd.h"
#include "tapegrad/ops.h"
#include "tapegrad/tape.h"

#include "check.h"

using namespace tapegrad;

// Thread A records graphs and hands their results to thread B, which drops them; A keeps
// recording and running backward meanwhile, and drains B's releases as it goes.
static void handoff() {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Tensor> queue;
  bool done = false;
  std::atomic<int64_t> live_after{-1};

  std::thread consumer([&] {
    for (;;) {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return done || !queue.empty(); });
      if (queue.empty() && done) return;
      Tensor t = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      t.reset();  // dies here, on the wrong thread
    }
  });
  std::thread producer([&] {
    Tensor w = randn({16}, DType::f32);
    w->set_requires_grad(true);
    const int64_t base = Tape::current()->stats().live_entries;
    for (int i = 0; i < 20000; ++i) {
      Tensor y = exp(tanh(w * w));  // 3 entries, handed over
      {
        std::lock_guard<std::mutex> lk(mu);
        queue.push_back(std::move(y));
      }
      cv.notify_one();
      if (i % 16 == 0) backward(sum(tanh(w) * w, {}, false));
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      done = true;
    }
    cv.notify_one();
    // wait until the consumer has dropped everything, then let stats() drain the releases
    for (;;) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (queue.empty()) break;
      }
      std::this_thread::yield();
    }
    consumer.join();
    live_after = Tape::current()->stats().live_entries - base;
  });
  producer.join();
  CHECK(live_after.load() == 0);
}

// A thread exits leaving results behind; destroying them elsewhere adopts its tape, and a
// backward through them from another thread works.
static void orphaned_tape() {
  Tensor x = randn({8}, DType::f64);
  x->set_requires_grad(true);
  std::vector<Tensor> left;
  Tensor loss;
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) left.push_back(exp(x * x));
    loss = sum(x * x, {}, false);
  });
  t.join();
  left.clear();  // released through the orphaned tape
  backward(loss);
  CHECK(x->grad() != nullptr);
  for (int64_t i = 0; x->grad() && i < 8; ++i)
    CHECK(x->grad()->data<double>()[i] == 2 * x->data<double>()[i]);
  CHECK(loss->tape()->stats().live_entries == 2);  // loss's sum and the mul it reads
  loss.reset();
}

int main() {
  handoff();
  orphaned_tape();
  if (failures) std::printf("%d failure(s)\n", failures);
  else std::printf("tape threads: ok\n");
  return failures ? 1 : 0;
}

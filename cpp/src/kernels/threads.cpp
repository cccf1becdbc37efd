// Note [thread pool]
// The kernels' own thread pool (no OpenMP: several wheels each bundling an OpenMP runtime
// clash, and libgomp hangs in a child after fork).
//
// - Persistent workers: num_threads - 1 of them; the calling thread takes chunks too.
// - parallel_for(n, grain, fn) cuts [0, n) into at most num_threads contiguous chunks of at
//   least `grain` items; workers (and the caller) claim chunks with an atomic counter, so an
//   idle worker never stalls the caller. The first exception thrown by fn is rethrown in the
//   caller once every chunk has finished.
// - Runs inline when n < 2·grain, one thread is configured, the caller is itself a pool worker
//   (nested kernels), or another thread is already using the pool (no queueing, no deadlock).
// - Workers spin briefly before sleeping on a condition variable: kernel calls come in bursts
//   and a futex wake-up costs tens of microseconds.
// - fork: the pool object is leaked, never destroyed (no join at exit, when the C++ runtime
//   may already have torn down what the workers use). A pthread_atfork child handler drops
//   the pointer, so a forked child builds a fresh pool on first use instead of waiting on
//   workers that do not exist in it.
// - TAPEGRAD_NUM_THREADS sets the initial size; default std::thread::hardware_concurrency().
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_PAUSE() _mm_pause()
#else
#define TG_PAUSE() ((void)0)
#endif

#include "kernels/parallel.h"
#include "tapegrad/kernels.h"

namespace tapegrad::kernels {

namespace {

using Fn = std::function<void(int64_t, int64_t)>;

thread_local bool t_in_worker = false;

class Pool {
 public:
  // Note [thread start failure]: when the OS refuses a thread (a container's pids limit,
  // RLIMIT_NPROC) the pool keeps the workers that started and runs with them; the caller
  // takes every chunk no worker claims, so a pool of any size (even zero) finishes each job.
  // TAPEGRAD_FAIL_THREAD_START=k makes every start after the k-th fail, to test this path.
  explicit Pool(int workers) {
    threads_.reserve(size_t(workers));
    const char* fail_after = std::getenv("TAPEGRAD_FAIL_THREAD_START");
    const int limit = fail_after ? std::atoi(fail_after) : workers;
    try {
      for (int i = 0; i < workers; ++i) {
        if (i >= limit) throw std::system_error(EAGAIN, std::generic_category(), "thread start refused");
        threads_.emplace_back([this] { worker_loop(); });
      }
    } catch (const std::system_error&) {
      // fewer workers; see Note [thread start failure]
    }
  }
  int workers() const { return int(threads_.size()); }

  // Workers leave their loop; the object itself is leaked (a late worker may still read it).
  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.detach();
  }

  // Returns false (without running anything) when the pool is busy with another caller.
  bool run(int64_t n, int64_t chunks, const Fn& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      // Publish the job: fields first, then the tagged claim counter (release), then wake.
      fn_ = &fn;
      n_ = n;
      error_ = nullptr;
      done_.store(0, std::memory_order_relaxed);
      chunks_.store(chunks, std::memory_order_relaxed);
      job_ += 1;
      next_.store(job_ << 32, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work();  // the caller takes chunks too
    while (done_.load(std::memory_order_acquire) < chunks) TG_PAUSE();
    std::exception_ptr err;
    {
      std::lock_guard<std::mutex> lk(mu_);
      err = error_;
    }
    if (err) std::rethrow_exception(err);
    return true;
  }

 private:
  // Claim chunks until none is left. The claim counter carries the job number in its high
  // 32 bits, so a worker that read the counter of a finished job can never claim a chunk of
  // the next one (its compare-exchange fails); fn_/n_ are stable while a claimed chunk runs.
  void work() {
    uint64_t v = next_.load(std::memory_order_acquire);
    for (;;) {
      const int64_t c = int64_t(v & 0xffffffffu);
      const int64_t chunks = chunks_.load(std::memory_order_acquire);
      if (c >= chunks) return;
      if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
        continue;
      const int64_t b = n_ * c / chunks, e = n_ * (c + 1) / chunks;
      try {
        (*fn_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
      v = next_.load(std::memory_order_acquire);
    }
  }

  void worker_loop() {
    t_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      // Spin a little (tens of microseconds), then sleep until the generation changes.
      for (int i = 0; i < 20000 && generation_.load(std::memory_order_acquire) == seen; ++i)
        TG_PAUSE();
      if (generation_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_.load()) return;
      work();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex busy_;  // one parallel_for at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> next_{0};  // (job << 32) | next chunk index
  std::atomic<int64_t> chunks_{0}, done_{0};
  std::atomic<bool> stop_{false};
  uint64_t job_ = 0;
  int64_t n_ = 0;
  const Fn* fn_ = nullptr;
  std::exception_ptr error_;
};

int initial_threads() {
  if (const char* env = std::getenv("TAPEGRAD_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end && *end == 0 && v >= 1 && v <= 1024) return int(v);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(std::min(hc, 1024u));
}

std::atomic<int>& num_threads_ref() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

std::mutex g_pool_mu;
Pool* g_pool = nullptr;  // leaked on purpose: see Note [thread pool]
// Pools replaced by set_num_threads or orphaned by fork stay reachable from here (so leak
// checkers do not report them); their workers have exited or never existed.
std::vector<Pool*>* g_retired = new std::vector<Pool*>();

void atfork_child() {
  // Only the forking thread exists in the child: the old workers are gone, and g_pool_mu may
  // have been held by another parent thread. Start over (the old objects are leaked).
  new (&g_pool_mu) std::mutex();
  if (g_pool) g_retired->push_back(g_pool);
  g_pool = nullptr;
}

// The pool sized for `threads` (workers = threads - 1), rebuilt when the size changed.
Pool* pool_for(int threads) {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, atfork_child);
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool || g_pool->workers() != threads - 1) {
    if (g_pool) {
      g_pool->shutdown();  // a caller still inside run() finishes its chunks alone
      g_retired->push_back(g_pool);
    }
    g_pool = new Pool(threads - 1);
  }
  return g_pool;
}

}  // namespace

int get_num_threads() { return num_threads_ref().load(); }

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
  // A sane cap: each thread is an OS thread with its own stack; beyond this a typo (1e6)
  // would exhaust the process's thread limit instead of speeding anything up.
  constexpr int kMaxThreads = 1024;
  if (n > kMaxThreads)
    throw std::invalid_argument("set_num_threads: n must be <= " + std::to_string(kMaxThreads) +
                                ", got " + std::to_string(n));
  num_threads_ref().store(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = get_num_threads();
  const int64_t chunks = std::min<int64_t>(threads, n / grain);
  if (chunks <= 1 || t_in_worker) {
    fn(0, n);
    return;
  }
  Pool* pool = pool_for(threads);
  if (!pool->run(n, chunks, fn)) fn(0, n);
}

}  // namespace tapegrad::kernels

// tapegrad tensors: dtype, shared storage, and the TensorImpl that Python holds directly.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tapegrad {

// ---------------------------------------------------------------------------------------------
// Errors. The bindings translate these to the Python exception of the same name; plain
// std::runtime_error becomes RuntimeError and std::bad_alloc MemoryError.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A valid request this build does not support (PyTorch's NotImplementedError, e.g. a padding
// mode or size F.pad has no kernel for).
struct NotImplementedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An allocation that cannot succeed or failed; the bindings raise MemoryError with what().
struct OutOfMemory : std::bad_alloc {
  explicit OutOfMemory(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

// ---------------------------------------------------------------------------------------------
// The compute dtypes (f32, f64, i64, b8) that every op family and kernel handles, and the
// storage dtypes (i32, i16, i8, u8, f16) that the engine stores, views, copies and converts,
// and computes with only by widening: Note [storage dtypes] in cpp/src/tensor.cpp.
enum class DType : uint8_t { f32 = 0, f64 = 1, i64 = 2, b8 = 3, i32 = 4, i16 = 5, i8 = 6, u8 = 7,
                             f16 = 8 };
constexpr int kNumDTypes = 9;

// Bytes per element (inline: every tensor allocation and data pointer asks; an out-of-range
// value, which no tensor holds, counts as 1).
inline size_t itemsize(DType t) {
  constexpr uint8_t kSizes[kNumDTypes] = {4, 8, 8, 1, 4, 2, 1, 1, 2};
  const auto i = static_cast<uint8_t>(t);
  return i < kNumDTypes ? kSizes[i] : 1;
}
const char* dtype_name(DType t);  // "float32", "float64", "int64", "bool", "int32", …
// PyTorch's scalar-type name ("Float", "Long", "Int", "Half", …) as its error messages spell it.
const char* dtype_torch_name(DType t);
// The floating compute dtypes (what the float kernels take); float16 is a storage dtype.
inline bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }
inline bool is_floating_point(DType t) { return is_float(t) || t == DType::f16; }
// A storage dtype (Note [storage dtypes]).
inline bool is_small(DType t) { return static_cast<uint8_t>(t) >= static_cast<uint8_t>(DType::i32); }
// The compute dtype a storage dtype widens to: int64 for the integers, float32 for float16.
inline DType wide(DType t) { return t == DType::f16 ? DType::f32 : is_small(t) ? DType::i64 : t; }
// PyTorch's promotion between two tensors (torch.promote_types): bool < uint8, int8 < int16 <
// int32 < int64 < float16 < float32 < float64, with uint8 + int8 = int16.
DType promote_mixed(DType a, DType b);  // (a ≠ b)
inline DType promote(DType a, DType b) { return a == b ? a : promote_mixed(a, b); }
// PyTorch's result_type of two tensor operands when one is 0-d: a 0-d operand decides the
// dtype only when it is of a higher category (bool < integer < floating) than the other.
DType promote_operands(DType a, bool a_0d, DType b, bool b_0d);
// The refusal of an op that has no path for a storage dtype: TypeError "<op>: not implemented
// for 'Int' tensors in tapegrad; convert with .long() / .float() first" (op may be empty: the
// bindings put the function's name in front).
[[noreturn]] void throw_storage_dtype(const char* op, DType t);

// A number as the caller gave it (PyTorch's c10::Scalar without complex): an int64 held
// exactly or a double. Python ints reach int64 tensors through it without a round trip via
// double, which loses digits above 2^53 (Note [exact scalars] in cpp/src/tensor.cpp).
class Scalar {
 public:
  Scalar(double v) : d_(v) {}  // NOLINT: implicit, like the double it replaces
  template <class I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
  Scalar(I v) : i_(static_cast<int64_t>(v)), integral_(true) {}  // NOLINT
  bool is_integral() const { return integral_; }
  int64_t as_int() const { return i_; }     // the int64 (integral scalars)
  double as_double() const { return d_; }   // the double (floating scalars)
  double to_double() const { return integral_ ? static_cast<double>(i_) : d_; }  // rounds
  std::string str() const;  // "nan", "1e+30", "4611686018427387905"

 private:
  int64_t i_ = 0;
  double d_ = 0;
  bool integral_ = false;
};
// Scalar s stored as one element of dtype t at dst, as PyTorch's fill converts: ints exactly
// (wrapping into int64 is the caller's business), floats to int64 truncated toward zero, to
// bool as `!= 0`. A value the dtype cannot hold raises RuntimeError "<op>: value ... cannot be
// converted to type int64 without overflow" (NaN, ±inf or out of range for int64; with
// `float_range`, a finite double beyond float32's range for float32), never a silent INT64_MIN.
void store_scalar(DType t, const Scalar& s, void* dst, const char* op, bool float_range = true);
namespace kernels {
enum class Elem : int;
}
// The kernel layer's element type of any dtype, storage dtypes included (cast, fill and the
// by-size kernels; arithmetic kernels take ops/common.h's elem(), which refuses those).
kernels::Elem storage_elem(DType t);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3]"
// The element count; throws ValueError on negative dims / overflow (inline: every allocation
// asks, the throw is out of line).
[[noreturn]] void throw_bad_numel(const Shape& s);
inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) [[unlikely]]  // no division per dim
      throw_bad_numel(s);
  return n;
}
std::vector<int64_t> contiguous_strides(const Shape& s);  // row-major element strides
// Shape equality inline (std::vector's == calls memcmp: most shapes have one to four dims).
inline bool same_shape(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Reference-counted, 64-byte aligned buffer. `version` counts in-place writes (all views of a
// storage share it: Note [version counters] in cpp/src/autograd/checks.cpp). `owner` keeps
// foreign memory alive (a NumPy array the storage borrows).
// Small buffers live inside the Storage object itself (one allocation for the tensor's data),
// large ones are recycled through a bounded cache: Note [storage allocation] in tensor.cpp.
struct Storage {
  static constexpr size_t kInlineBytes = 64;
  void* data = nullptr;
  size_t nbytes = 0;
  size_t capacity = 0;  // bytes of an owned heap block (0: inline, borrowed or empty)
  uint64_t version = 0;
  std::shared_ptr<void> owner;
  // Not alignas(64): an over-aligned type would send every make_shared through the slow
  // memalign path of malloc; the 64-byte aligned window is found inside this buffer instead.
  unsigned char inline_raw[kInlineBytes + 63];
  static std::shared_ptr<Storage> allocate(size_t nbytes);  // zero-size gives a valid object
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes, std::shared_ptr<void> owner);
  ~Storage();
};

class Tape;
class TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;
// The autograd state of a tensor (identity, producing entry, requires_grad, .grad): defined by
// the tape layer (tapegrad/tape.h), Note [autograd meta] in cpp/src/tape/meta.cpp.
struct AutogradMeta;
// A gradient held factored as uᵀ·v (tapegrad/tape.h; Note [factored weight gradients]).
struct OuterGrad;

// A tensor: storage, offset, shape, strides and dtype. Op outputs are row-major contiguous;
// a view (Note [views] in cpp/src/ops/view.cpp) shares its base's storage with strides of its
// own. Kernels read contiguous memory only: raw()/data<T>() refuse a non-contiguous tensor
// (the bindings hand ops contiguous copies; stride-aware code uses data_ptr()). Everything autograd knows
// of it sits behind one pointer to an AutogradMeta, null for a tensor that never took part in
// a graph — so plain data tensors (gradients in a backward, optimizer state, batches) neither
// allocate nor carry autograd state. The accessors below the storage part are defined by the
// tape layer (cpp/src/tape/meta.cpp) and, for grad(), the autograd layer.
// Not enable_shared_from_this: its hidden weak reference cost every tensor two atomic
// read-modify-writes (made, destroyed) and took libstdc++'s release of a sole owner off its
// no-atomics path; a retained non-leaf keeps a weak reference to itself in its meta instead
// (retain_grad), the one place a strong reference is made from the tensor alone.
class TensorImpl {
 public:
  TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, DType dtype);
  // A strided tensor over `storage` (strides in elements, one per dim).
  TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape,
             std::vector<int64_t> strides, DType dtype);
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * itemsize(dtype_); }
  // The first element of a contiguous tensor (what kernels read and write).
  void* raw() const {
    if (!contiguous_) [[unlikely]] throw_not_contiguous();
    return data_ptr();
  }
  // Typed access checks the storage dtypes (Note [storage dtypes]): an op that reaches a typed
  // loop with one it does not handle raises instead of reading the bytes as another type.
  template <class T>
  T* data() const {
    if (is_small(dtype_)) [[unlikely]] check_storage_type(sizeof(T), std::is_floating_point_v<T>,
                                                         std::is_signed_v<T>);
    return static_cast<T*>(raw());
  }
  // The element at index 0 whatever the strides (stride-aware code only).
  // Throws throw_storage_dtype unless a C++ type of this size and kind is this storage dtype.
  void check_storage_type(size_t size, bool floating, bool is_signed) const;
  void* data_ptr() const {
    return static_cast<char*>(storage_->data) + offset_ * static_cast<int64_t>(itemsize(dtype_));
  }
  // Element strides (row-major ones computed for a contiguous tensor, which stores none).
  std::vector<int64_t> strides() const;
  bool is_contiguous() const { return contiguous_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  int64_t offset() const { return offset_; }
  uint64_t version() const { return storage_->version; }
  void bump_version() { ++storage_->version; }
  // A view made by a view op (Note [views]): the tensor whose storage it shares (the root
  // of a chain of views) and that tensor's autograd id when this view's history was last
  // written (a newer id means the base was written in place since: the view's history is
  // regenerated from the base before it is next recorded).
  bool is_view() const { return static_cast<bool>(view_base_); }
  const Tensor& view_base() const { return view_base_; }
  uint64_t view_base_id() const { return view_base_id_; }
  void set_view_base(Tensor base, uint64_t base_id) {
    view_base_ = std::move(base);
    view_base_id_ = base_id;
  }

  // ----- autograd state (Note [autograd meta]) -----
  // Null for a tensor without autograd state.
  AutogradMeta* autograd_meta() const { return meta_.load(std::memory_order_acquire); }
  AutogradMeta& ensure_autograd_meta() const;           // created on first use
  // The same, recycled by `pool`. `sole`: the caller's reference is the only one (an op's
  // fresh output), so no other thread can reach this tensor and the meta is published with a
  // plain store instead of a compare-and-swap (a locked instruction per recorded output).
  AutogradMeta& ensure_autograd_meta(Tape& pool, bool sole = false) const;
  bool requires_grad() const;
  bool is_leaf() const;  // not produced by a recorded op
  // Throws (TypeError) for non-float dtypes and (RuntimeError) for non-leaves, as PyTorch.
  void set_requires_grad(bool value);
  // Marks torch.nn.Parameter: Note [Parameter is a marked Tensor] in nn/parameter.py.
  bool is_parameter() const { return is_parameter_; }
  void set_is_parameter(bool value) { is_parameter_ = value; }
  // PyTorch's `t.data = src`: this leaf takes src's storage, shape and dtype while keeping its
  // identity (Module.to converts parameters so that optimizers holding them see the change).
  // Leaf without a gradient only; src must not be a graph-carrying view.
  void set_data(const Tensor& src);
  // The accumulated gradient. One held factored (Note [factored weight gradients]) is formed
  // here on first access, so no caller ever sees the factored form unless it asks for it.
  const Tensor& grad() const;
  bool has_grad() const;
  const OuterGrad* outer_grad() const;  // null unless factored
  void set_grad(Tensor g);  // checks shape and dtype
  bool retains_grad() const;
  // The autograd identity: which tensor an entry's input or output is (kept across in-place
  // rebasing), the producing entry's handle (node < 0: a leaf), its output slot, its tape.
  uint64_t id() const;
  int32_t node() const;
  int32_t slot() const;
  const std::shared_ptr<Tape>& tape() const;
  const char* grad_fn_name() const;  // "MulBackward0" or nullptr for leaves

  // Data access for tests and bindings.
  double item_as_double() const;  // one element; ValueError otherwise

 private:
  static void free_autograd_meta(TensorImpl* self, AutogradMeta* meta);  // the tape layer's
  [[noreturn]] void throw_not_contiguous() const;
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  std::vector<int64_t> strides_;  // in elements; empty when contiguous_ (no allocation)
  int64_t numel_ = 0;
  DType dtype_;
  bool contiguous_ = true;     // strides_ are the row-major ones (or numel ≤ 1)
  bool is_parameter_ = false;  // never copied: detach, clone and op results are plain tensors
  Tensor view_base_;           // Note [views]
  uint64_t view_base_id_ = 0;
  // Owned; installed once by compare-and-swap, since two threads may name the same constant
  // input at once when both record (Note [autograd meta]).
  mutable std::atomic<AutogradMeta*> meta_{nullptr};
};

// ---------------------------------------------------------------------------------------------
// Creation.
Tensor empty(const Shape& shape, DType dtype);
Tensor zeros(const Shape& shape, DType dtype);
Tensor full(const Shape& shape, const Scalar& value, DType dtype);  // store_scalar's checks
// 0-d, an operand of an op: as full, except that a double beyond float32's range becomes ±inf
// in float32 (PyTorch's x + 1e300 on a float32 x), as the ops' own constants may.
Tensor scalar_tensor(const Scalar& value, DType dtype);
Tensor arange(double start, double end, double step, DType dtype);
// int64 elements start, start + step, ... < end (> end for step < 0), computed exactly.
Tensor arange(int64_t start, int64_t end, int64_t step);
Tensor linspace(double start, double end, int64_t steps, DType dtype);
Tensor eye(int64_t n, int64_t m, DType dtype);
// A tensor that shares x's storage but has no history (PyTorch's detach()).
Tensor detach(const Tensor& x);
// PyTorch's retain_grad(): a non-leaf that requires grad gets its .grad filled by backward
// (a leaf's is anyway); raises on a tensor that does not require grad.
void retain_grad(const Tensor& t);
Tensor clone_data(const Tensor& x);  // deep copy without history (contiguous)
// Copies contiguous `src` (t's shape and dtype) into t's elements through t's strides.
void assign_strided(const Tensor& t, const Tensor& src);

// Random numbers: xoshiro256** generators seeded through splitmix64 (normals by Box–Muller).
// A Generator is PyTorch's torch.Generator: its own state, seeded with PyTorch's default seed
// unless told otherwise. The functions below draw from `gen`, or from the process-wide default
// generator (what manual_seed seeds) when it is null. Each generator is guarded by its own lock.
class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;  // torch.Generator()'s
  explicit Generator(uint64_t seed = kDefaultSeed) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }
  // The whole state (4 words, the seed, the spare normal) as bytes, and back.
  std::vector<uint8_t> state() const;
  void set_state(const std::vector<uint8_t>& bytes);  // ValueError on a wrong length
  static Generator& default_generator();

  // Draws; callers hold lock().
  std::mutex& lock() const { return mu_; }
  uint64_t next();
  double uniform();  // [0, 1)
  double normal();
  uint64_t below(uint64_t n);  // unbiased integer in [0, n)

 private:
  uint64_t s_[4] = {};
  uint64_t seed_ = 0;
  bool has_spare_ = false;
  double spare_ = 0;
  mutable std::mutex mu_;
};

void manual_seed(uint64_t seed);
uint64_t initial_seed();
Tensor rand(const Shape& shape, DType dtype, Generator* gen = nullptr);     // U[0, 1)
Tensor randn(const Shape& shape, DType dtype, Generator* gen = nullptr);    // N(0, 1)
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr);  // int64
Tensor randperm(int64_t n, Generator* gen = nullptr);                       // int64
// 1 with probability `keep`, else 0 (float dtype), one uniform draw per element (dropout masks).
Tensor bernoulli(const Shape& shape, double keep, DType dtype);
void uniform_(const Tensor& t, double low, double high, Generator* gen = nullptr);  // in place
void normal_(const Tensor& t, double mean, double std, Generator* gen = nullptr);   // no grad

// ---------------------------------------------------------------------------------------------
// Note [GIL]: large kernels (GEMM, elementwise and reductions over many elements) run inside
// an AllowThreads scope. The engine knows nothing of Python: the bindings install `release`
// (drop the interpreter lock if this thread holds it; returns a token, or null) and `restore`
// (take it back given the token). Only pure kernel calls on raw buffers sit inside a scope —
// never tape or tensor bookkeeping, never anything that can free a tensor.
void set_allow_threads_hooks(void* (*release)(), void (*restore)(void*));
class AllowThreads {
 public:
  static constexpr int64_t kMinWork = int64_t(1) << 18;  // elements (or multiply-adds)
  explicit AllowThreads(int64_t work);
  ~AllowThreads();
  AllowThreads(const AllowThreads&) = delete;
  AllowThreads& operator=(const AllowThreads&) = delete;

 private:
  void* token_ = nullptr;
};

}  // namespace tapegrad

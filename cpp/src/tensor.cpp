// Tensors and storage, creation functions (the random ones: random.cpp). Nothing here knows
// the tape: a tensor's autograd state is the tape layer's (Note [autograd meta] in
// cpp/src/tape/meta.cpp).
#include "tapegrad/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "blocks.h"
#include "tapegrad/kernels.h"

namespace tapegrad {

// Note [storage dtypes]
// int32, int16, int8, uint8 and float16 are storage dtypes: tensors hold them, views, copies,
// indexing, cat/stack and the by-size kernels move them, and the cast kernel converts them
// (PyTorch's wrap-around and truncation, Note [float16 conversion] in
// cpp/src/kernels/reference_data.cpp). Arithmetic widens: an elementwise op computes on
// int64 (integers) or float32 (float16) and casts the result once to PyTorch's result dtype,
// which reproduces PyTorch exactly — integer add/sub/mul/neg/bitwise wrap modulo 2^k either
// way, and PyTorch's CPU kernels compute float16 elementwise ops in float32 and round once.
// The widening lives in a few places (binary_forward and unary_forward in the op families,
// comparisons, where, the reductions); every other op refuses: typed access (data<T>()) and
// the kernel element type (elem() in ops/common.h) throw throw_storage_dtype's TypeError for
// a storage dtype, so an op without a path for one raises instead of reading the bytes as
// another type.
const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
    case DType::i32: return "int32";
    case DType::i16: return "int16";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::f16: return "float16";
  }
  return "?";
}

const char* dtype_torch_name(DType t) {
  switch (t) {
    case DType::f32: return "Float";
    case DType::f64: return "Double";
    case DType::i64: return "Long";
    case DType::b8: return "Bool";
    case DType::i32: return "Int";
    case DType::i16: return "Short";
    case DType::i8: return "Char";
    case DType::u8: return "Byte";
    case DType::f16: return "Half";
  }
  return "?";
}

void throw_storage_dtype(const char* op, DType t) {
  std::string msg = op && *op ? std::string(op) + ": " : std::string();
  msg += std::string("not implemented for '") + dtype_torch_name(t) +
         "' tensors in tapegrad; convert with .long() / .float() first";
  throw TypeError(msg);
}

void TensorImpl::check_storage_type(size_t size, bool floating, bool is_signed) const {
  const bool ok = !floating && size == itemsize(dtype_) &&
                  (dtype_ == DType::f16 ? !is_signed : dtype_ == DType::u8 ? !is_signed : is_signed);
  if (!ok) throw_storage_dtype("", dtype_);
}

namespace {
// PyTorch's lattice: 0 bool, 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float16,
// 7 float32, 8 float64; uint8 and int8 meet at int16.
int promote_rank(DType t) {
  switch (t) {
    case DType::b8: return 0;
    case DType::u8: return 1;
    case DType::i8: return 2;
    case DType::i16: return 3;
    case DType::i32: return 4;
    case DType::i64: return 5;
    case DType::f16: return 6;
    case DType::f32: return 7;
    case DType::f64: return 8;
  }
  return 0;
}
int category(DType t) { return t == DType::b8 ? 0 : is_floating_point(t) ? 2 : 1; }
}  // namespace

DType promote_mixed(DType a, DType b) {
  if ((a == DType::u8 && b == DType::i8) || (a == DType::i8 && b == DType::u8)) return DType::i16;
  return promote_rank(a) >= promote_rank(b) ? a : b;
}

DType promote_operands(DType a, bool a_0d, DType b, bool b_0d) {
  if (a_0d == b_0d) return promote(a, b);
  const DType dim = a_0d ? b : a, zd = a_0d ? a : b;
  return category(zd) > category(dim) ? zd : dim;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

void throw_bad_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {  // the first dim that fails, as shape_numel met it
    if (d < 0) throw ValueError("negative dimension " + std::to_string(d) + " in shape " + shape_str(s));
    if (__builtin_mul_overflow(n, d, &n)) break;
  }
  throw ValueError("shape " + shape_str(s) + " has too many elements");
}

// ---------------------------------------------------------------------------------------------
// Note [storage allocation]
// Profiling tiny ops showed malloc/free as the largest single cost after the Python dispatch:
// a tensor's data was a separate aligned allocation next to the Storage and TensorImpl
// objects. Buffers of up to kInlineBytes (every scalar, vectors up to 16 floats) now live
// inside the Storage object (at its first 64-byte boundary), which allocate_shared places in
// the same block as its control block — a block recycled from a dead storage (Note [block
// recycling] in cpp/src/blocks.cpp), as a TensorImpl's is.
// At the other end, training steps free and re-allocate the same large buffers (gradients,
// activations) every step; blocks of 64 KiB and more go through the kernel layer's bounded
// buffer cache (Note [buffer cache] in cpp/src/kernels/alloc.cpp) instead of page-faulting
// fresh memory in every step.
std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::allocate_shared<Storage>(blocks::Recycling<Storage>{});
  s->nbytes = nbytes;
  if (nbytes <= kInlineBytes) {
    const auto raw = reinterpret_cast<uintptr_t>(s->inline_raw);
    s->data = reinterpret_cast<void*>((raw + 63) & ~uintptr_t(63));
    return s;
  }
  // 64-byte aligned for SIMD loads and cache lines.
  s->data = blocks::take_buffer(nbytes);  // Note [block recycling]
  s->capacity = nbytes;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes, std::shared_ptr<void> owner) {
  auto s = std::allocate_shared<Storage>(blocks::Recycling<Storage>{});
  s->data = data;
  s->nbytes = nbytes;
  s->owner = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (owner || capacity == 0) return;  // borrowed, inline or empty
  blocks::give_buffer(data, capacity);
}

// ---------------------------------------------------------------------------------------------
TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, DType dtype)
    : storage_(std::move(storage)),
      offset_(offset),
      shape_(std::move(shape)),
      numel_(shape_numel(shape_)),
      dtype_(dtype) {}

namespace {
// Row-major up to dims of size 1 (whose stride never matters), or at most one element.
bool strides_contiguous(const Shape& shape, const std::vector<int64_t>& st, int64_t numel) {
  if (numel <= 1) return true;
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (st[i] != acc) return false;
    acc *= shape[i];
  }
  return true;
}
}  // namespace

std::vector<int64_t> contiguous_strides(const Shape& s) {
  // A dim of size 0 counts as 1, as PyTorch's: zeros(2, 0).stride() is (1, 1), not (0, 1)
  // (the same for every tensor with elements; an empty one has no element to address).
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape,
                       std::vector<int64_t> strides, DType dtype)
    : storage_(std::move(storage)),
      offset_(offset),
      shape_(std::move(shape)),
      numel_(shape_numel(shape_)),
      dtype_(dtype) {
  if (strides.size() != shape_.size())
    throw std::logic_error("TensorImpl: " + std::to_string(strides.size()) + " strides for shape " +
                           shape_str(shape_));
  contiguous_ = strides_contiguous(shape_, strides, numel_);
  // Kept unless they are the row-major ones: a contiguous view may still differ on dims of
  // size 1 (x[None] has PyTorch's stride there), which stride() reports.
  if (!contiguous_ || strides != contiguous_strides(shape_)) strides_ = std::move(strides);
}

std::vector<int64_t> TensorImpl::strides() const {
  return strides_.empty() ? contiguous_strides(shape_) : strides_;
}

void TensorImpl::throw_not_contiguous() const {
  // Kernels read row-major memory; a strided view reaching one is a bug in the caller (the
  // bindings make every tensor argument contiguous unless the binding reads strides).
  throw std::logic_error("internal error: a non-contiguous tensor of shape " + shape_str(shape_) +
                         " reached a kernel that reads contiguous memory; please report it");
}

TensorImpl::~TensorImpl() {
  // A tensor that took part in a graph hands its autograd state back to the tape layer, which
  // releases its entry (Note [tape threads]); a plain data tensor has nothing to hand back.
  if (AutogradMeta* m = meta_.load(std::memory_order_relaxed)) free_autograd_meta(this, m);
  blocks::recycle_shape(shape_);  // Note [block recycling]
}

void TensorImpl::set_data(const Tensor& src) {
  if (!is_leaf()) throw ValueError("set_data: only a leaf tensor's data can be replaced");
  if (has_grad())
    throw ValueError("set_data: clear the tensor's .grad before replacing its data");
  if (is_view() || src->is_view())
    throw ValueError("set_data: neither tensor may be a view (Note [views]); use detach() or clone()");
  storage_ = src->storage_;
  offset_ = src->offset_;
  shape_ = src->shape_;
  strides_ = src->strides_;
  contiguous_ = src->contiguous_;
  numel_ = src->numel_;
  dtype_ = src->dtype_;
}

double TensorImpl::item_as_double() const {
  if (numel_ != 1)
    throw ValueError("item(): a Tensor with " + std::to_string(numel_) +
                     " elements (shape " + shape_str(shape_) +
                     ") cannot be converted to a Python scalar; only one-element tensors can");
  switch (dtype_) {
    case DType::f32: return *static_cast<const float*>(data_ptr());
    case DType::f64: return *static_cast<const double*>(data_ptr());
    case DType::i64: return static_cast<double>(*static_cast<const int64_t*>(data_ptr()));
    case DType::b8: return *static_cast<const uint8_t*>(data_ptr()) ? 1.0 : 0.0;
    case DType::i32: return *static_cast<const int32_t*>(data_ptr());
    case DType::i16: return *static_cast<const int16_t*>(data_ptr());
    case DType::i8: return *static_cast<const int8_t*>(data_ptr());
    case DType::u8: return *static_cast<const uint8_t*>(data_ptr());
    case DType::f16: return kernels::f16_to_f32(*static_cast<const uint16_t*>(data_ptr()));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
Tensor empty(const Shape& shape, DType dtype) {
  const int64_t n = shape_numel(shape);
  const size_t isz = itemsize(dtype);
  auto oom = [&] {
    return OutOfMemory("out of memory: cannot allocate a " + std::string(dtype_name(dtype)) +
                       " tensor of shape " + shape_str(shape) + " (" + std::to_string(n) +
                       " elements, " + std::to_string(static_cast<double>(n) * isz / 1e9) +
                       " GB)");
  };
  if (n > 0 && static_cast<uint64_t>(n) > std::numeric_limits<size_t>::max() / isz / 2)
    throw oom();
  std::shared_ptr<Storage> st;
  try {
    st = Storage::allocate(static_cast<size_t>(n) * isz);
  } catch (const std::bad_alloc&) {
    throw oom();
  }
  return blocks::make_tensor(std::move(st), 0, blocks::copy_shape(shape), dtype);
}

Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t->nbytes()) std::memset(t->raw(), 0, t->nbytes());
  return t;
}

kernels::Elem storage_elem(DType t) {
  switch (t) {
    case DType::f32: return kernels::Elem::f32;
    case DType::f64: return kernels::Elem::f64;
    case DType::i64: return kernels::Elem::i64;
    case DType::b8: return kernels::Elem::u8;
    case DType::i32: return kernels::Elem::i32;
    case DType::i16: return kernels::Elem::i16;
    case DType::i8: return kernels::Elem::i8;
    case DType::u8: return kernels::Elem::uint8;
    case DType::f16: return kernels::Elem::f16;
  }
  return kernels::Elem::u8;
}

void fill_raw(const Tensor& t, double value) {
  kernels::fill(storage_elem(t->dtype()), t->numel(), value, t->raw());
}

// Note [exact scalars]
// Numbers given by the caller (fill values, Python operands, clamp bounds) travel as a Scalar:
// an int64 held exactly or a double. Storing one into a tensor converts it once, here, with
// PyTorch's checks: an int64 tensor takes an integral Scalar bit for bit (2^62 + 1 stays
// 2^62 + 1, where a double would round it to 2^62) and a double truncated toward zero if it
// lies in [-2^63, 2^63); NaN, ±inf and anything beyond raise instead of becoming INT64_MIN
// (what the C++ cast gives on x86). A float32 tensor refuses a finite double beyond its range
// (PyTorch's "cannot be converted to type float without overflow"); NaN and ±inf pass. Data
// already in a tensor is converted by cast, which (as PyTorch's) does not check.
std::string Scalar::str() const {
  if (integral_) return std::to_string(i_);
  if (std::isnan(d_)) return "nan";
  if (std::isinf(d_)) return d_ > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d_);
  return buf;
}

void store_scalar(DType t, const Scalar& s, void* dst, const char* op, bool float_range) {
  auto overflow = [&](const char* type) {
    return std::runtime_error(std::string(op) + ": value " + s.str() + " cannot be converted to type " +
                              type + " without overflow");
  };
  switch (t) {
    case DType::i64: {
      int64_t v;
      if (s.is_integral()) {
        v = s.as_int();
      } else {
        const double d = s.as_double();
        // [-2^63, 2^63) holds exactly the doubles whose truncation fits int64 (and NaN fails).
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) throw overflow("int64");
        v = static_cast<int64_t>(d);
      }
      std::memcpy(dst, &v, sizeof v);
      return;
    }
    case DType::f32: {
      // An int64 rounds to float32 once (through double it could round twice).
      const double d = s.to_double();
      if (float_range && std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max())
        throw overflow("float");
      const float v = s.is_integral() ? static_cast<float>(s.as_int()) : static_cast<float>(d);
      std::memcpy(dst, &v, sizeof v);
      return;
    }
    case DType::f64: {
      const double v = s.to_double();
      std::memcpy(dst, &v, sizeof v);
      return;
    }
    case DType::b8: {
      const uint8_t v = s.is_integral() ? s.as_int() != 0 : s.as_double() != 0;
      std::memcpy(dst, &v, sizeof v);
      return;
    }
    case DType::f16: {
      // Through float32, as PyTorch's c10::Half; beyond ±65504 is ±inf (PyTorch checks none).
      const float f = s.is_integral() ? static_cast<float>(s.as_int()) : static_cast<float>(s.to_double());
      const uint16_t v = kernels::f32_to_f16(f);
      std::memcpy(dst, &v, sizeof v);
      return;
    }
    case DType::i32:
    case DType::i16:
    case DType::i8:
    case DType::u8: {
      // PyTorch's checks (with float_range; a Python operand wraps as PyTorch's operand cast):
      // a float must lie in [min, max] before truncation (NaN and ±inf never do); an integer
      // too, except that uint8 also takes −255 … −1 (as two's complement: −2 is 254).
      const int bits = static_cast<int>(itemsize(t)) * 8;
      const int64_t lo = t == DType::u8 ? 0 : -(int64_t{1} << (bits - 1));
      const int64_t hi = t == DType::u8 ? 255 : (int64_t{1} << (bits - 1)) - 1;
      if (float_range) {
        const bool bad = s.is_integral()
                             ? s.as_int() > hi || s.as_int() < (t == DType::u8 ? -hi : lo)
                             : !(s.as_double() >= static_cast<double>(lo) &&
                                 s.as_double() <= static_cast<double>(hi));
        if (bad) throw overflow(dtype_name(t));
      }
      int64_t v;
      store_scalar(DType::i64, s, &v, op, float_range);
      kernels::cast(kernels::Elem::i64, storage_elem(t), 1, &v, dst);
      return;
    }
  }
}

namespace {
Tensor full_impl(const Shape& shape, const Scalar& value, DType dtype, bool float_range) {
  alignas(8) unsigned char elem[8];
  store_scalar(dtype, value, elem, "full", float_range);  // checked before anything is allocated
  Tensor t = empty(shape, dtype);
  kernels::fill_value(itemsize(dtype), t->numel(), elem, t->raw());
  return t;
}
}  // namespace

Tensor full(const Shape& shape, const Scalar& value, DType dtype) {
  return full_impl(shape, value, dtype, true);
}

Tensor scalar_tensor(const Scalar& value, DType dtype) { return full_impl({}, value, dtype, false); }

namespace {
// t[i] = v converted to t's dtype (creation functions compute in double).
void store_double(const Tensor& t, int64_t i, double v) {
  switch (t->dtype()) {
    case DType::f32: t->data<float>()[i] = static_cast<float>(v); break;
    case DType::f64: t->data<double>()[i] = v; break;
    case DType::i64: t->data<int64_t>()[i] = static_cast<int64_t>(v); break;
    case DType::b8: t->data<uint8_t>()[i] = v != 0; break;
    default: throw_storage_dtype("", t->dtype());  // callers narrow a wide tensor instead
  }
}
}  // namespace

namespace {
// A tensor of storage dtype d holding w's values (w of the compute dtype wide(d)).
Tensor narrowed(const Tensor& w, DType d) {
  Tensor t = empty(w->shape(), d);
  kernels::cast(storage_elem(w->dtype()), storage_elem(d), t->numel(), w->raw(), t->raw());
  return t;
}
}  // namespace

Tensor arange(double start, double end, double step, DType dtype) {
  if (is_small(dtype)) return narrowed(arange(start, end, step, wide(dtype)), dtype);
  if (step == 0) throw ValueError("arange: step must be nonzero");
  if (std::isnan(step)) throw ValueError("arange: step must not be NaN");
  if (!std::isfinite(start) || !std::isfinite(end))
    throw ValueError("arange: start and end must be finite");
  const double span = (end - start) / step;
  if (span > 9.0e18)  // the element count would not fit int64
    throw ValueError("arange: the range [" + std::to_string(start) + ", " + std::to_string(end) +
                     ") with step " + std::to_string(step) + " has too many elements");
  const int64_t n = span <= 0 ? 0 : static_cast<int64_t>(std::ceil(span));
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    const double v = start + static_cast<double>(i) * step;
    store_double(t, i, v);
  }
  return t;
}

Tensor arange(int64_t start, int64_t end, int64_t step) {
  if (step == 0) throw ValueError("arange: step must be nonzero");
  // The count ⌈(end − start) / step⌉ in unsigned arithmetic: end − start may not fit int64
  // (arange(-2**63, 2**63 - 1)), but its magnitude always fits uint64.
  const bool up = step > 0;
  const uint64_t span = up ? (end > start ? static_cast<uint64_t>(end) - static_cast<uint64_t>(start) : 0)
                           : (start > end ? static_cast<uint64_t>(start) - static_cast<uint64_t>(end) : 0);
  const uint64_t mag = up ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  const uint64_t count = span / mag + (span % mag != 0);
  if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw ValueError("arange: the range [" + std::to_string(start) + ", " + std::to_string(end) +
                     ") with step " + std::to_string(step) + " has too many elements");
  const int64_t n = static_cast<int64_t>(count);
  Tensor t = empty({n}, DType::i64);
  int64_t* p = t->data<int64_t>();
  // start + i·step stays within [start, end) for i < n; formed in uint64 (no signed overflow).
  for (int64_t i = 0; i < n; ++i)
    p[i] = static_cast<int64_t>(static_cast<uint64_t>(start) + static_cast<uint64_t>(i) * static_cast<uint64_t>(step));
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  if (is_small(dtype)) return narrowed(linspace(start, end, steps, wide(dtype)), dtype);
  if (steps < 0) throw ValueError("linspace: number of steps must be non-negative, got " + std::to_string(steps));
  Tensor t = empty({steps}, dtype);
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  for (int64_t i = 0; i < steps; ++i) {
    // Fill symmetric from both ends, as PyTorch does, so the last value is exactly `end`.
    const double v = i < steps / 2 ? start + step * static_cast<double>(i)
                                   : end - step * static_cast<double>(steps - 1 - i);
    store_double(t, i, v);
  }
  return t;
}

Tensor eye(int64_t n, int64_t m, DType dtype) {
  if (n < 0) throw ValueError("eye: n must be non-negative, got " + std::to_string(n));
  if (m < 0) throw ValueError("eye: m must be non-negative, got " + std::to_string(m));
  if (is_small(dtype)) return narrowed(eye(n, m, wide(dtype)), dtype);
  Tensor t = zeros({n, m}, dtype);
  for (int64_t i = 0; i < std::min(n, m); ++i) {
    switch (dtype) {
      case DType::f32: t->data<float>()[i * m + i] = 1; break;
      case DType::f64: t->data<double>()[i * m + i] = 1; break;
      case DType::i64: t->data<int64_t>()[i * m + i] = 1; break;
      case DType::b8: t->data<uint8_t>()[i * m + i] = 1; break;
      default: break;  // storage dtypes: narrowed above
    }
  }
  return t;
}

Tensor detach(const Tensor& x) {
  if (!x->is_contiguous())
    return blocks::make_tensor(x->storage(), x->offset(), blocks::copy_shape(x->shape()),
                               x->strides(), x->dtype());
  return blocks::make_tensor(x->storage(), x->offset(), blocks::copy_shape(x->shape()),
                             x->dtype());
}

Tensor clone_data(const Tensor& x) {
  Tensor t = empty(x->shape(), x->dtype());
  if (!t->nbytes()) return t;
  if (x->is_contiguous()) {
    std::memcpy(t->raw(), x->raw(), t->nbytes());
  } else {
    const std::vector<int64_t> src_st = x->strides(), dst_st = contiguous_strides(x->shape());
    kernels::copy_strided(itemsize(x->dtype()), static_cast<int>(x->dim()), x->shape().data(),
                          x->data_ptr(), src_st.data(), t->raw(), dst_st.data());
  }
  return t;
}

void assign_strided(const Tensor& t, const Tensor& src) {
  if (src->shape() != t->shape() || src->dtype() != t->dtype())
    throw std::logic_error("assign_strided: shape or dtype differs");
  if (!t->numel()) return;
  const std::vector<int64_t> src_st = contiguous_strides(t->shape()), dst_st = t->strides();
  kernels::copy_strided(itemsize(t->dtype()), static_cast<int>(t->dim()), t->shape().data(),
                        src->raw(), src_st.data(), t->data_ptr(), dst_st.data());
}

// ---------------------------------------------------------------------------------------------
// Note [GIL] in tensor.h.
namespace {
std::atomic<void* (*)()> g_release{nullptr};
std::atomic<void (*)(void*)> g_restore{nullptr};
}  // namespace

void set_allow_threads_hooks(void* (*release)(), void (*restore)(void*)) {
  g_restore.store(restore);
  g_release.store(release);
}

AllowThreads::AllowThreads(int64_t work) {
  if (work < kMinWork) return;
  if (auto* rel = g_release.load(std::memory_order_acquire)) token_ = rel();
}

AllowThreads::~AllowThreads() {
  if (token_) g_restore.load(std::memory_order_relaxed)(token_);
}

}  // namespace tapegrad

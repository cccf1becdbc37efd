// The attributes a tape entry carries for its backward rule, as one small type-erased box.
#pragma once

#include <cassert>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace tapegrad {

// Note [typed attributes]
// Each op declares its own attribute struct beside its forward (MmAttrs{trans_a, trans_b},
// ReduceAttrs{dims, keepdim}, ...) and its backward reads it back with ctx.attrs<MmAttrs>(),
// so a rule never decodes a generic slot whose meaning lives in a comment. The entry stores
// the struct in an AttrBox: types up to kInline bytes (every attribute struct of the built-in
// ops) live inside the box, larger ones on the heap. Ops without attributes leave the box
// empty, which costs one null pointer to construct, move and destroy — record() of a tiny op
// stays as cheap as before. get<T>() checks the stored type in debug builds only.
class AttrBox {
 public:
  static constexpr size_t kInline = 32;

  AttrBox() noexcept = default;
  template <class T, class D = std::decay_t<T>,
            class = std::enable_if_t<!std::is_same_v<D, AttrBox>>>
  AttrBox(T&& value) {  // NOLINT(google-explicit-constructor): record(..., MmAttrs{ta, tb})
    if constexpr (fits<D>()) {
      ::new (static_cast<void*>(buf_)) D(std::forward<T>(value));
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<T>(value));
    }
    vt_ = &kVTable<D>;
  }
  AttrBox(AttrBox&& o) noexcept { take(o); }
  AttrBox& operator=(AttrBox&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  AttrBox(const AttrBox&) = delete;
  AttrBox& operator=(const AttrBox&) = delete;
  ~AttrBox() { reset(); }

  bool empty() const { return vt_ == nullptr; }
  template <class T>
  bool holds() const {
    return vt_ == &kVTable<T>;
  }
  // The stored attributes; T must be the type the op recorded.
  template <class T>
  const T& get() const {
    assert(holds<T>() && "AttrBox::get: the entry holds attributes of another type");
    if constexpr (fits<T>()) return *std::launder(reinterpret_cast<const T*>(buf_));
    else return **reinterpret_cast<T* const*>(buf_);
  }
  void reset() noexcept {
    if (vt_) {
      vt_->destroy(buf_);
      vt_ = nullptr;
    }
  }

 private:
  struct VTable {
    void (*destroy)(void* buf) noexcept;
    void (*move)(void* dst, void* src) noexcept;  // move-construct into dst, destroy src
  };
  template <class T>
  static constexpr bool fits() {
    return sizeof(T) <= kInline && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }
  template <class T>
  static void destroy_fn(void* buf) noexcept {
    if constexpr (fits<T>()) std::launder(reinterpret_cast<T*>(buf))->~T();
    else delete *reinterpret_cast<T**>(buf);
  }
  template <class T>
  static void move_fn(void* dst, void* src) noexcept {
    if constexpr (fits<T>()) {
      T* s = std::launder(reinterpret_cast<T*>(src));
      ::new (dst) T(std::move(*s));
      s->~T();
    } else {
      *reinterpret_cast<T**>(dst) = *reinterpret_cast<T**>(src);  // the heap block changes hands
    }
  }
  template <class T>
  static constexpr VTable kVTable{&destroy_fn<T>, &move_fn<T>};

  void take(AttrBox& o) noexcept {
    if (o.vt_) {
      o.vt_->move(buf_, o.buf_);
      vt_ = o.vt_;
      o.vt_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const VTable* vt_ = nullptr;
};

}  // namespace tapegrad

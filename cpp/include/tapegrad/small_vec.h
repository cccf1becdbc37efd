// SmallVec: a vector that keeps its first N elements inline (the tape's entry arrays).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <utility>
#include <vector>

namespace tapegrad {

// Note [entry storage]
// Profiling a tiny recorded op (a * c on 4 floats) showed malloc/free as the largest cost
// after the Python dispatch: an entry held three std::vectors (inputs, outputs, saved), each a
// heap allocation per recorded op. SmallVec keeps the first N elements inline (N covers every
// primitive but cat), spilling to the heap only beyond that. Unused inline slots are kept in
// their default (empty) state, so clearing releases every tensor they referenced.
template <class T, size_t N>
class SmallVec {
 public:
  SmallVec() = default;
  SmallVec(std::initializer_list<T> l) {
    for (const T& v : l) push_back(v);
  }
  SmallVec(std::vector<T>&& v) {  // NOLINT(google-explicit-constructor): callers pass vectors
    for (T& x : v) push_back(std::move(x));
  }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T* data() { return spilled_ ? heap_.data() : inline_; }
  const T* data() const { return spilled_ ? heap_.data() : inline_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + n_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + n_; }
  void reserve(size_t) {}
  void push_back(T v) {
    if (!spilled_ && n_ < N) {
      inline_[n_++] = std::move(v);
      return;
    }
    spill();
    heap_.push_back(std::move(v));
    ++n_;
  }
  void resize(size_t k) {
    if (!spilled_ && k <= N) {
      for (size_t i = k; i < n_; ++i) inline_[i] = T{};
      n_ = k;
      return;
    }
    spill();
    heap_.resize(k);
    n_ = k;
  }
  void clear() {
    for (size_t i = 0; i < N && i < n_; ++i) inline_[i] = T{};
    if (spilled_) std::vector<T>().swap(heap_);
    spilled_ = false;
    n_ = 0;
  }

 private:
  void spill() {
    if (spilled_) return;
    heap_.reserve(n_ + 1);
    for (size_t i = 0; i < n_; ++i) {
      heap_.push_back(std::move(inline_[i]));
      inline_[i] = T{};
    }
    spilled_ = true;
  }
  void take(SmallVec& o) {
    if (o.spilled_) {
      heap_ = std::move(o.heap_);
      spilled_ = true;
    } else {
      for (size_t i = 0; i < o.n_; ++i) {
        inline_[i] = std::move(o.inline_[i]);
        o.inline_[i] = T{};
      }
    }
    n_ = o.n_;
    o.n_ = 0;
    o.spilled_ = false;
    o.heap_.clear();
  }
  T inline_[N] = {};
  std::vector<T> heap_;
  size_t n_ = 0;
  bool spilled_ = false;
};

}  // namespace tapegrad

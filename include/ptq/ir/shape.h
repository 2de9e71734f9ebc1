// SPDX-License-Identifier: Apache-2.0
// Shape: a tensor's dimensions, a vector of int64_t that keeps up to kInline of them in place.
// Tensors are made and copied on every node of every run; with std::vector each of those copies was a
// heap allocation (a third of an executor run's allocations). The interface is std::vector's (the
// subset the code base uses) and converts to and from std::vector<int64_t> implicitly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace ptq {

class Shape {
 public:
  static constexpr uint32_t kInline = 6;
  using value_type = int64_t;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using reference = int64_t&;
  using const_reference = const int64_t&;
  using pointer = int64_t*;
  using const_pointer = const int64_t*;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  Shape() noexcept : data_(inline_) {}
  Shape(std::initializer_list<int64_t> dims) : Shape() { assign(dims.begin(), dims.end()); }
  explicit Shape(size_t count, int64_t value = 0) : Shape() { assign(count, value); }
  template <class It, class = std::enable_if_t<!std::is_integral_v<It>>>
  Shape(It first, It last) : Shape() {
    assign(first, last);
  }
  Shape(const std::vector<int64_t>& dims) : Shape() { assign(dims.begin(), dims.end()); }  // NOLINT: implicit
  Shape(const Shape& other) : Shape() { assign(other.begin(), other.end()); }
  Shape(Shape&& other) noexcept : Shape() { take(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Shape& operator=(std::initializer_list<int64_t> dims) {
    assign(dims.begin(), dims.end());
    return *this;
  }
  ~Shape() { release(); }

  operator std::vector<int64_t>() const { return std::vector<int64_t>(begin(), end()); }  // NOLINT: implicit

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_t capacity() const noexcept { return capacity_; }
  int64_t* data() noexcept { return data_; }
  const int64_t* data() const noexcept { return data_; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return data_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }
  int64_t& operator[](size_t i) noexcept { return data_[i]; }
  const int64_t& operator[](size_t i) const noexcept { return data_[i]; }
  int64_t& at(size_t i) {
    if (i >= size_) throw std::out_of_range("Shape::at");
    return data_[i];
  }
  const int64_t& at(size_t i) const {
    if (i >= size_) throw std::out_of_range("Shape::at");
    return data_[i];
  }
  int64_t& front() noexcept { return data_[0]; }
  const int64_t& front() const noexcept { return data_[0]; }
  int64_t& back() noexcept { return data_[size_ - 1]; }
  const int64_t& back() const noexcept { return data_[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= capacity_) return;
    auto* p = static_cast<int64_t*>(std::malloc(n * sizeof(int64_t)));
    if (!p) throw std::bad_alloc();
    const uint32_t size = size_;
    if (size) std::memcpy(p, data_, size * sizeof(int64_t));
    release();
    data_ = p;
    size_ = size;
    capacity_ = static_cast<uint32_t>(n);
  }
  void clear() noexcept { size_ = 0; }
  void resize(size_t n, int64_t value = 0) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data_[i] = value;
    size_ = static_cast<uint32_t>(n);
  }
  void assign(size_t count, int64_t value) {
    clear();
    resize(count, value);
  }
  template <class It, class = std::enable_if_t<!std::is_integral_v<It>>>
  void assign(It first, It last) {
    const auto n = static_cast<size_t>(std::distance(first, last));
    if (n > capacity_) {  // `first` may point into this shape only when it fits (self-assignment)
      Shape grown;
      grown.reserve(n);
      std::copy(first, last, grown.data_);
      grown.size_ = static_cast<uint32_t>(n);
      *this = std::move(grown);
      return;
    }
    std::copy(first, last, data_);
    size_ = static_cast<uint32_t>(n);
  }
  void push_back(int64_t value) {
    if (size_ == capacity_) reserve(size_t{capacity_} * 2);
    data_[size_++] = value;
  }
  void emplace_back(int64_t value) { push_back(value); }
  void pop_back() noexcept { --size_; }
  iterator insert(const_iterator pos, int64_t value) { return insert(pos, size_t{1}, value); }
  iterator insert(const_iterator pos, size_t count, int64_t value) {
    const size_t at = static_cast<size_t>(pos - data_);
    if (size_ + count > capacity_) reserve(std::max<size_t>(size_ + count, size_t{capacity_} * 2));
    std::memmove(data_ + at + count, data_ + at, (size_ - at) * sizeof(int64_t));
    std::fill(data_ + at, data_ + at + count, value);
    size_ += static_cast<uint32_t>(count);
    return data_ + at;
  }
  template <class It, class = std::enable_if_t<!std::is_integral_v<It>>>
  iterator insert(const_iterator pos, It first, It last) {
    const size_t at = static_cast<size_t>(pos - data_);
    const Shape copy(first, last);  // the range may be this shape's own
    if (size_ + copy.size() > capacity_) reserve(std::max<size_t>(size_ + copy.size(), size_t{capacity_} * 2));
    std::memmove(data_ + at + copy.size(), data_ + at, (size_ - at) * sizeof(int64_t));
    std::copy(copy.begin(), copy.end(), data_ + at);
    size_ += static_cast<uint32_t>(copy.size());
    return data_ + at;
  }
  iterator insert(const_iterator pos, std::initializer_list<int64_t> values) {
    return insert(pos, values.begin(), values.end());
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const size_t a = static_cast<size_t>(first - data_), b = static_cast<size_t>(last - data_);
    std::memmove(data_ + a, data_ + b, (size_ - b) * sizeof(int64_t));
    size_ -= static_cast<uint32_t>(b - a);
    return data_ + a;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  friend bool operator<(const Shape& a, const Shape& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  void release() noexcept {
    if (data_ != inline_) std::free(data_);
    data_ = inline_;
    capacity_ = kInline;
    size_ = 0;
  }
  // Takes other's dimensions (its heap block, or a copy of its inline ones); leaves it empty.
  void take(Shape& other) noexcept {
    if (other.data_ != other.inline_) {
      data_ = other.data_;
      capacity_ = other.capacity_;
    } else {
      std::memcpy(inline_, other.inline_, other.size_ * sizeof(int64_t));
    }
    size_ = other.size_;
    other.data_ = other.inline_;
    other.capacity_ = kInline;
    other.size_ = 0;
  }

  int64_t* data_;
  uint32_t size_ = 0;
  uint32_t capacity_ = kInline;
  int64_t inline_[kInline];
};

}  // namespace ptq

// SPDX-License-Identifier: Apache-2.0
// IdleList: objects kept between calls for reuse, one per concurrent user (an executor's run frames,
// a oneDNN primitive's argument sets). take() hands out an idle one, or a new one when all are in use;
// the lease gives it back when it goes, thrown or not, after calling its release() (which lets go of
// what must not outlive the call). Thread-safe; steady state allocates nothing.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace ptq::exec {

template <class T>
class IdleList {
 public:
  class Lease {
   public:
    Lease(IdleList& list, std::unique_ptr<T> item) : list_(list), item_(std::move(item)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      item_->release();
      std::lock_guard<std::mutex> lock(list_.mutex_);
      list_.idle_.push_back(std::move(item_));
    }
    T& operator*() const { return *item_; }
    T* operator->() const { return item_.get(); }

   private:
    IdleList& list_;
    std::unique_ptr<T> item_;
  };

  Lease take() {
    std::unique_ptr<T> item;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        item = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    return Lease(*this, item ? std::move(item) : std::make_unique<T>());
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<T>> idle_;
};

}  // namespace ptq::exec

// SPDX-License-Identifier: Apache-2.0
// A contiguous range of another reader's samples.
#include "ptq/calib/data_reader.h"

namespace ptq::calib {
namespace {

class SubsetReader : public DataReader {
 public:
  SubsetReader(const DataReader& base, size_t begin, size_t end) : base_(base), begin_(begin), end_(end) {}
  size_t size() const override { return end_ - begin_; }
  Sample read(size_t index) const override {
    PTQ_CHECK(index < size());
    return base_.read(begin_ + index);
  }
  std::string describe() const override {
    return base_.describe() + " (samples " + std::to_string(begin_ + 1) + ".." + std::to_string(end_) + ")";
  }

 private:
  const DataReader& base_;
  size_t begin_, end_;
};

}  // namespace

std::unique_ptr<DataReader> subset(const DataReader& base, size_t begin, size_t end) {
  PTQ_CHECK(begin <= end && end <= base.size());
  return std::make_unique<SubsetReader>(base, begin, end);
}

}  // namespace ptq::calib

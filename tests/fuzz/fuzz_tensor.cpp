// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the tensor file readers behind --calib/--inputs, through open_data() as the CLI calls
// them. The first byte picks the format, the rest is the file:
//   0: sample folder with x.npy   1: x.npz   2: test_data_set_0/input_0.pb (TensorProto)
// against a model with one float input x of shape [N, 3] (N symbolic). Seeds: corpus/tensor.
#include "fuzz_util.h"
#include "ptq/calib/data_reader.h"

namespace {

struct Format {
  const char* file;  // written under the scratch folder
  const char* open;  // what open_data() is given, relative to the scratch folder
};
constexpr Format kFormats[] = {
    {"npy/s0/x.npy", "npy"},
    {"npz/s0.npz", "npz/s0.npz"},
    {"pb/test_data_set_0/input_0.pb", "pb"},
};

std::vector<ptq::ValueInfo> model_inputs() {
  ptq::ValueInfo x;
  x.name = "x";
  x.dtype = ptq::DType::Float32;
  x.has_shape = true;
  x.dims = {ptq::Dim{-1, "N"}, ptq::Dim{3, ""}};
  return {x};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ptq::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Format& f = kFormats[data[0] % std::size(kFormats)];
  ptq::fuzz::write_scratch(f.file, data + 1, size - 1);
  static const std::vector<ptq::ValueInfo> inputs = model_inputs();
  return ptq::fuzz::expect_clean([&] {
    auto reader = ptq::calib::open_data(ptq::fuzz::scratch_dir() / f.open, inputs);
    for (size_t i = 0; i < reader->size(); ++i) reader->read(i);
  });
}

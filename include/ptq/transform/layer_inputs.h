// SPDX-License-Identifier: Apache-2.0
// LayerColumns: one layer's inputs (or outputs) gathered from the calibration stream, as the columns of
// its matrix product (linear_layer.h), subsampled so that memory stays bounded whatever the number of
// samples and the image size. What produces the tensors is the caller's business (the FP32 executor's
// tap, the quantized model's simulator), so that the same positions of the same samples can be read from
// both: AdaRound pairs FP32 outputs with quantized inputs; GPTQ, AWQ read inputs only.
//
// Positions: sample s contributes min(P_s, quota) of its P_s positions, quota = ceil(max_columns /
// samples), drawn without replacement by a generator seeded from (seed, layer node, s) and sorted; so the
// positions depend neither on what produced the tensor nor on the thread count. Samples never added
// (skipped as bad) are left out. Kinds:
//   Inputs    X_g[:, p] at the layer's product positions: im2col patches for Conv (depth rows per group)
//   Outputs   the layer's output channels at the same positions (rows per group)
//   Channels  the input's channel vectors at the input's own positions (C/G rows per group; no im2col)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/transform/linear_layer.h"

namespace ptq::transform {

enum class ColumnKind { Inputs, Outputs, Channels };

// A float matrix stored column by column (column j at data[j·rows]): what collectors hand over.
struct Columns {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  float at(int64_t r, int64_t c) const { return data[static_cast<size_t>(c * rows + r)]; }
  const float* column(int64_t c) const { return data.data() + c * rows; }
};

struct ColumnOptions {
  size_t max_columns = 8192;           // per layer, over all samples (exceeded by at most samples - 1)
  uint64_t seed = 0x9e3779b97f4a7c15;  // the position draw
};

class LayerColumns {
 public:
  // `samples`: how many samples will be offered (indices 0 .. samples-1).
  LayerColumns(const Graph& graph, const LinearLayer& layer, ColumnKind kind, size_t samples,
               const ColumnOptions& options = {});
  LayerColumns(LayerColumns&&) noexcept;
  ~LayerColumns();

  // Takes sample `sample`'s columns from `tensor` (the layer's input, or output for Outputs). Calls for
  // distinct samples may run concurrently. Throws DataError when the tensor does not fit the layer.
  void add(size_t sample, const Tensor& tensor);
  // Rows of one column: depth (Inputs), rows (Outputs) or input channels per group (Channels).
  int64_t height() const;
  // The columns of the samples added, in sample order then position order: per group a matrix
  // [height(), columns]. Leaves the collector empty.
  std::vector<Columns> take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Several layers' columns from one pass of the FP32 executor over `data` (collect_columns.cpp).
struct CollectOptions {
  ColumnOptions columns;
  int threads = 0;           // 0: all cores
  bool progress = false;     // progress bar on stderr
  std::string what = "columns";  // progress label and messages ("AdaRound targets", "GPTQ", ...)
};
struct CollectedColumns {
  std::vector<std::vector<Columns>> layers;  // per layer: LayerColumns::take()
  std::vector<char> used;                    // per sample: 1 unless skipped as bad
  size_t samples = 0;                        // samples used (DataError when none)
};
CollectedColumns collect_columns(const Graph& graph, const std::vector<LinearLayer>& layers, ColumnKind kind,
                                 const calib::DataReader& data, const CollectOptions& options);

// The positions sample `sample` contributes (sorted), out of `positions`, with `quota` per sample.
std::vector<int64_t> sampled_positions(int64_t positions, int64_t quota, uint64_t seed, int node, size_t sample);

}  // namespace ptq::transform

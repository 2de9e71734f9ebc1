// SPDX-License-Identifier: Apache-2.0
// LayerColumns (see layer_inputs.h). Each sample's columns go to its own buffer (so concurrent adds of
// distinct samples never share memory) and are stacked in sample order by take().
#include "ptq/transform/layer_inputs.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "ptq/util/error.h"
#include "ptq/util/splitmix.h"

namespace ptq::transform {

std::vector<int64_t> sampled_positions(int64_t positions, int64_t quota, uint64_t seed, int node, size_t sample) {
  std::vector<int64_t> all(static_cast<size_t>(std::max<int64_t>(positions, 0)));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (quota >= positions) return all;
  uint64_t state = seed ^ (static_cast<uint64_t>(node) * 0xd1b54a32d192ed03ull) ^
                   (static_cast<uint64_t>(sample) * 0x8cb92ba72f3d8dd7ull);
  for (int64_t i = 0; i < quota; ++i) {  // partial Fisher-Yates: the first `quota` entries
    const int64_t j = i + static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(positions - i));
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
  }
  all.resize(static_cast<size_t>(quota));
  std::sort(all.begin(), all.end());
  return all;
}

struct LayerColumns::Impl {
  const Graph& graph;
  LinearLayer layer;
  ColumnKind kind;
  ColumnOptions options;
  int64_t quota = 0, height = 0;
  std::vector<std::vector<float>> buffers;  // per sample: [group][column][height]
  std::vector<int64_t> counts;              // per sample: columns, -1 when not added
};

LayerColumns::LayerColumns(const Graph& graph, const LinearLayer& layer, ColumnKind kind, size_t samples,
                           const ColumnOptions& options)
    : impl_(std::make_unique<Impl>(Impl{graph, layer, kind, options, 0, 0, {}, {}})) {
  const size_t n = std::max<size_t>(samples, 1);
  impl_->quota = static_cast<int64_t>((std::max<size_t>(options.max_columns, 1) + n - 1) / n);
  const Tensor* w = graph.weight(layer.weight);
  impl_->height = kind == ColumnKind::Inputs    ? layer.depth
                  : kind == ColumnKind::Outputs ? layer.rows
                  : layer.op_type == "Conv"     ? w->dim(1)
                                                : layer.depth;
  impl_->buffers.resize(samples);
  impl_->counts.assign(samples, -1);
}

LayerColumns::LayerColumns(LayerColumns&&) noexcept = default;
LayerColumns::~LayerColumns() = default;

int64_t LayerColumns::height() const { return impl_->height; }

void LayerColumns::add(size_t sample, const Tensor& tensor) {
  Impl& m = *impl_;
  PTQ_CHECK(sample < m.buffers.size());
  const ColumnView view(m.graph, m.layer, tensor,
                        m.kind == ColumnKind::Outputs ? ColumnView::Role::Output : ColumnView::Role::Input);
  const int64_t total = m.kind == ColumnKind::Channels ? view.tensor_positions() : view.positions();
  const std::vector<int64_t> at = sampled_positions(total, m.quota, m.options.seed, m.layer.node, sample);
  const int64_t cols = static_cast<int64_t>(at.size());
  std::vector<float>& buf = m.buffers[sample];
  buf.assign(static_cast<size_t>(m.layer.groups * cols * m.height), 0.0f);
  for (int64_t g = 0; g < m.layer.groups; ++g)
    for (int64_t j = 0; j < cols; ++j) {
      float* out = buf.data() + (g * cols + j) * m.height;
      const int64_t p = at[static_cast<size_t>(j)];
      switch (m.kind) {
        case ColumnKind::Inputs:
          view.patch(g, p, out);
          break;
        case ColumnKind::Outputs:
          view.outputs(g, p, out);
          break;
        case ColumnKind::Channels:
          view.channels(g, p, out);
          break;
      }
    }
  m.counts[sample] = cols;
}

std::vector<Columns> LayerColumns::take() {
  Impl& m = *impl_;
  int64_t total = 0;
  for (int64_t c : m.counts) total += std::max<int64_t>(c, 0);
  std::vector<Columns> out(static_cast<size_t>(m.layer.groups));
  for (auto& c : out) c = Columns{m.height, total, std::vector<float>(static_cast<size_t>(m.height * total))};
  int64_t at = 0;
  for (size_t s = 0; s < m.buffers.size(); ++s) {
    const int64_t cols = m.counts[s];
    if (cols <= 0) continue;
    for (int64_t g = 0; g < m.layer.groups; ++g)
      std::memcpy(out[static_cast<size_t>(g)].data.data() + at * m.height, m.buffers[s].data() + g * cols * m.height,
                  static_cast<size_t>(cols * m.height) * sizeof(float));
    at += cols;
    std::vector<float>().swap(m.buffers[s]);
  }
  std::fill(m.counts.begin(), m.counts.end(), -1);
  return out;
}

}  // namespace ptq::transform

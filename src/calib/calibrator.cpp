// SPDX-License-Identifier: Apache-2.0
// calibrate(): weights are observed straight from the graph's weights; activations by streaming every
// sample through the executor with a tap (the executor knows nothing about quantization), once:
// histograms grow their range as they go (pow2_histogram.h). Weights use
// the method's weight observer, or options.weight_range's (calibrate_weights: weights only). Each target's
// ranges become QParams through compute_qparams (target_observer.cpp); a method with a refine step
// (eq) then improves the table.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <unordered_map>

#include "ptq/calib/calibrator.h"
#include "channel_layout.h"
#include "ptq/quant/scale.h"
#include "ptq/util/log.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"
#include "refine.h"
#include "target_observer.h"

namespace ptq::calib {
namespace {

// Targets are named by their scoped names (graph.h): a tensor of an If/Loop/Scan body is observed
// through the executor's tap under "<node>/<attribute>/<tensor>", and a weight of a body is found the
// same way.
void check_targets(const Graph& graph, const std::vector<CalibTarget>& targets) {
  std::set<std::string> names;
  for (const auto& t : targets) {
    if (!names.insert(t.tensor).second) PTQ_FAIL(UsageError, "tensor '", t.tensor, "' is listed twice as a calibration target");
    if (t.is_weight && !find_scoped_weight(graph, t.tensor))
      PTQ_FAIL(ModelError, "calibration target '", t.tensor, "' is marked as a weight, but the model has no initializer or Constant of that name");
    if (!t.is_weight && !has_scoped_tensor(graph, t.tensor))
      PTQ_FAIL(ModelError, "calibration target '", t.tensor, "' is not a tensor of the model");
  }
}

// Runs sample i through the executor, its inputs and every node output handed to `tap`; false when
// the sample was skipped as bad.
bool run_sample(const exec::Executor& executor, const DataReader& data, size_t i, const exec::Tap& tap) {
  Sample sample = data.read(i);
  if (sample.skipped) return false;
  exec::RunOptions run;
  run.tap = &tap;
  try {
    for (const auto& kv : sample.tensors) tap(kv.first, kv.second);  // graph inputs
    executor.run(sample.tensors, run);
  } catch (Error& e) {
    e.append_context("sample '" + (sample.id.empty() ? std::to_string(i) : sample.id) + "' of " + data.describe());
    throw;
  }
  return true;
}

// One pass of the samples, with a progress bar; returns the number of samples used (skipped bad
// samples excluded). workers > 1: that many samples run at once, each on `executor` (then a
// single-threaded one), so `tap` must be safe to call from several threads; when samples fail, the
// first in index order is reported, as a sequential pass would.
size_t stream_samples(const exec::Executor& executor, int workers, const DataReader& data, const CalibOptions& options,
                      const std::string& label, const exec::Tap& tap) {
  Progress progress(label, data.size(), options.progress);
  size_t used = 0;
  if (workers <= 1) {
    for (size_t i = 0; i < data.size(); ++i) {
      progress.update(i + 1);
      used += run_sample(executor, data, i, tap) ? 1 : 0;
    }
    progress.finish();
    return used;
  }
  std::atomic<size_t> first_failed{data.size()};
  std::vector<std::exception_ptr> errors(data.size());
  std::mutex progress_mutex;
  size_t done = 0;
  run_tasks(workers, data.size(), [&](size_t i) {
    if (i > first_failed.load()) return;  // a lower sample failed: that error is the one reported
    bool ok = false;
    try {
      ok = run_sample(executor, data, i, tap);
    } catch (...) {
      errors[i] = std::current_exception();
      for (size_t f = first_failed.load(); i < f && !first_failed.compare_exchange_weak(f, i);) {}
    }
    std::lock_guard<std::mutex> lock(progress_mutex);
    used += ok ? 1 : 0;
    progress.update(++done);
  });
  if (first_failed.load() < data.size()) std::rethrow_exception(errors[first_failed.load()]);
  progress.finish();
  return used;
}

// Streams the samples through the executor once, feeding the activation observers;
// returns the number of samples used (skipped bad samples excluded). Observers whose results do not
// depend on the order of the samples (all but moving-average minmax) see several samples at once,
// one per thread, each target behind its own lock; counts and extremes do not depend on the order,
// so the table is the same for any thread count.
size_t observe_activations(const Graph& graph, const exec::Executor& executor, const DataReader& data,
                           const CalibOptions& options, std::unordered_map<std::string, TargetObserver*>& streamed) {
  const bool any_order = std::all_of(streamed.begin(), streamed.end(), [](const auto& kv) { return kv.second->order_independent(); });
  const int workers = any_order ? static_cast<int>(std::min<size_t>(resolve_threads(options.threads), data.size())) : 1;
  std::unique_ptr<exec::Executor> serial;  // one sample per thread: each run single-threaded
  if (workers > 1) serial = std::make_unique<exec::Executor>(graph, exec::ExecOptions{1, false});
  struct Guarded {  // a target's observer and its lock: one lookup per tapped tensor
    TargetObserver* observer = nullptr;
    std::mutex lock;
  };
  std::unordered_map<std::string, Guarded> targets;
  for (const auto& kv : streamed) targets[kv.first].observer = kv.second;
  exec::Tap tap = [&](const std::string& name, const Tensor& value) {
    auto it = targets.find(name);
    if (it == targets.end()) return;
    if (workers <= 1) return it->second.observer->observe(value);
    std::lock_guard<std::mutex> lock(it->second.lock);
    it->second.observer->observe(value);
  };
  const size_t used = stream_samples(serial ? *serial : executor, workers, data, options, "calibrating", tap);
  if (used == 0) PTQ_FAIL(DataError, data.describe(), ": every sample was skipped as bad; nothing to calibrate with");
  return used;
}

void check_all_seen(const std::unordered_map<std::string, TargetObserver*>& streamed, const DataReader& data) {
  std::vector<std::string> missing;
  for (const auto& kv : streamed)
    if (!kv.second->seen()) missing.push_back(kv.first);
  if (missing.empty()) return;
  std::sort(missing.begin(), missing.end());
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "'" : ", '") + m + "'";
  PTQ_FAIL(DataError, "calibration target", missing.size() > 1 ? "s " : " ", list, missing.size() > 1 ? " were" : " was",
           " never produced (or always empty) while running the ", data.size(), " samples of ", data.describe(),
           " (computed only inside an If/Loop branch the samples never take?)");
}

}  // namespace

CalibTable calibrate(const Graph& graph, const std::vector<CalibTarget>& targets, const DataReader& data,
                     const CalibOptions& options) {
  const ObserverEntry& entry = find_observer(options.method);
  const ObserverFactory make_weight = options.weight_range.empty() ? entry.make_weight : find_weight_observer(options.weight_range).make;
  check_targets(graph, targets);
  ObserverConfig config;
  config.percentile = options.percentile;
  config.moving_average = options.moving_average;

  std::vector<std::unique_ptr<TargetObserver>> observers;
  std::unordered_map<std::string, TargetObserver*> streamed;
  std::vector<TensorCalib> fixed;
  for (const auto& t : targets) {
    if (t.fixed) {
      fixed.push_back(TensorCalib{t.tensor, "fixed", {t.fixed_range.lo}, {t.fixed_range.hi}, {t.fixed_range},
                                  compute_qparams(t.fixed_range, t.spec)});
      continue;
    }
    const Tensor* constant = find_scoped_weight(graph, t.tensor);
    observers.push_back(std::make_unique<TargetObserver>(t, t.is_weight ? make_weight : entry.make_activation, config));
    if (constant)
      observers.back()->observe(*constant);
    else
      streamed[t.tensor] = observers.back().get();
  }
  exec::Executor executor(graph, exec::ExecOptions{options.threads, false});
  size_t used = 0;
  if (!streamed.empty()) {
    if (data.size() == 0) PTQ_FAIL(DataError, data.describe(), ": no samples to calibrate with");
    used = observe_activations(graph, executor, data, options, streamed);
    check_all_seen(streamed, data);
  }
  CalibTable table;
  table.method = options.method;
  table.samples = used;
  // Ranges (histogram searches) per target on all threads: each target's result is its own.
  std::vector<TensorCalib> finished(observers.size());
  run_tasks(options.threads, observers.size(), [&](size_t i) { finished[i] = observers[i]->finish(options.method); });
  for (auto& f : finished) table.tensors[f.tensor] = std::move(f);
  for (auto& f : fixed) table.tensors[f.tensor] = std::move(f);
  for (const auto& t : targets)  // weights observed by --weight-range's observer carry its name
    if (t.is_weight && !options.weight_range.empty()) table.tensors.at(t.tensor).method = options.weight_range;
  if (entry.refine) {
    RefineContext context{graph, executor, targets, data, options, table};
    entry.refine(context);
  }
  log::info("calibrated ", table.tensors.size(), " tensors (", options.method, ") on ", table.samples, " samples");
  return table;
}

CalibTable calibrate_weights(const Graph& graph, const std::vector<CalibTarget>& targets, const std::string& weight_range) {
  const WeightObserverEntry& entry = find_weight_observer(weight_range);
  check_targets(graph, targets);
  CalibTable table;
  table.method = weight_range;
  for (const auto& t : targets) {
    const Tensor* w = find_scoped_weight(graph, t.tensor);
    if (!t.is_weight || !w) PTQ_FAIL(Error, "calibrate_weights: target '", t.tensor, "' is not a weight");
    TargetObserver obs(t, entry.make, ObserverConfig{});
    obs.observe(*w);
    table.tensors[t.tensor] = obs.finish(weight_range);
  }
  return table;
}

std::map<std::string, std::vector<double>> channel_means(const Graph& graph, const std::map<std::string, int>& tensor_axes,
                                                         const DataReader& data, const CalibOptions& options) {
  struct Sums {
    std::vector<double> sum;
    int64_t per_channel = 0;  // values added into each channel
  };
  std::map<std::string, Sums> sums;
  exec::Tap tap = [&](const std::string& name, const Tensor& value) {
    ChannelLayout layout;
    if (!channel_layout(tensor_axes, name, value, layout)) return;
    const int64_t channels = layout.channels, inner = layout.inner;
    Sums& s = sums[name];
    if (s.sum.empty()) s.sum.assign(static_cast<size_t>(channels), 0.0);
    if (static_cast<int64_t>(s.sum.size()) != channels) return;  // a varying channel count: not a channel axis
    const float* p = value.data<float>();
    for (int64_t i = 0, n = value.numel(); i < n;)
      for (int64_t c = 0; c < channels && i < n; ++c) {
        double acc = 0.0;
        for (int64_t j = 0; j < inner; ++j) acc += p[i++];
        s.sum[static_cast<size_t>(c)] += acc;
      }
    s.per_channel += channels > 0 ? value.numel() / channels : 0;
  };
  exec::Executor executor(graph, exec::ExecOptions{options.threads, false});
  stream_samples(executor, 1, data, options, "bias correction", tap);  // sums in sample order
  std::map<std::string, std::vector<double>> means;
  for (auto& [name, s] : sums) {
    if (s.per_channel == 0) continue;
    for (double& v : s.sum) v /= static_cast<double>(s.per_channel);
    means[name] = std::move(s.sum);
  }
  return means;
}

}  // namespace ptq::calib

// SPDX-License-Identifier: Apache-2.0
#include "ptq/report/evaluator.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <limits>
#include <set>

#include "ptq/ir/npy.h"
#include "ptq/quant/scale.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"
#include "ptq/util/log.h"

namespace ptq::report {

void ErrorStats::add(const Tensor& reference, const Tensor& candidate) {
  if (reference.shape() != candidate.shape())
    PTQ_FAIL(Error, "shape mismatch: reference ", shape_str(reference.shape()), ", candidate ", shape_str(candidate.shape()));
  Tensor a = cast_tensor(reference, DType::Float32), b = cast_tensor(candidate, DType::Float32);
  add(a.data<float>(), b.data<float>(), a.numel());
}

void ErrorStats::add(const float* pa, const float* pb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double x = pa[i], y = pb[i], d = x - y;
    if (!std::isfinite(x) || !std::isfinite(y)) {
      nonfinite_reference += !std::isfinite(x);
      nonfinite_candidate += !std::isfinite(y);
      continue;
    }
    dot += x * y;
    ref_sq += x * x;
    cand_sq += y * y;
    diff_sq += d * d;
    max_abs = std::max(max_abs, std::fabs(d));
  }
  count += n;
}

double ErrorStats::cosine() const {
  if (ref_sq == 0.0 && cand_sq == 0.0) return 1.0;
  if (ref_sq == 0.0 || cand_sq == 0.0) return 0.0;
  return dot / std::sqrt(ref_sq * cand_sq);
}

double ErrorStats::snr_db() const {
  if (diff_sq == 0.0) return std::numeric_limits<double>::infinity();
  if (ref_sq == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(ref_sq / diff_sq);
}

namespace {

// Argmax over the last axis, one per row.
std::vector<int64_t> row_argmax(const Tensor& t) {
  Tensor f = cast_tensor(t, DType::Float32);
  int64_t c = t.rank() == 0 ? 1 : t.shape().back();
  int64_t rows = c == 0 ? 0 : t.numel() / c;
  std::vector<int64_t> out(static_cast<size_t>(rows));
  const float* p = f.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * c;
    out[static_cast<size_t>(r)] = std::max_element(row, row + c) - row;
  }
  return out;
}

bool is_classifier(const Tensor& t) { return t.rank() >= 1 && t.shape().back() > 1 && dtype_is_float(t.dtype()); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The intermediate tensors one model must hand over: names of its graph are fetched, names inside its
// bodies come through the tap (every occurrence, in order: once per loop iteration).
class Probe {
 public:
  Probe(const Graph& g) : g_(g) {}
  // False when the model has no such tensor.
  bool want(const std::string& name) {
    if (g_.producer(name) >= 0) {
      if (!g_.is_graph_output(name)) fetch_.insert(name);
      return true;
    }
    if (!has_scoped_tensor(g_, name)) return false;
    tapped_.insert(name);
    return true;
  }
  // Runs the model; values() then holds every wanted tensor of this run.
  exec::TensorMap run(const exec::Executor& ex, const exec::TensorMap& inputs) {
    values_.clear();
    exec::RunOptions ro;
    ro.fetch.assign(fetch_.begin(), fetch_.end());
    exec::Tap tap = [&](const std::string& name, const Tensor& value) {
      if (tapped_.count(name)) values_[name].push_back(value.clone());
    };
    if (!tapped_.empty()) ro.tap = &tap;
    exec::TensorMap out = ex.run(inputs, ro);
    for (const auto& [name, value] : out) values_[name].push_back(value);
    return out;
  }
  const std::vector<Tensor>* values(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }

 private:
  const Graph& g_;
  std::set<std::string> fetch_, tapped_;
  std::map<std::string, std::vector<Tensor>> values_;
};

// Adds one pair of sequences, step by step along `axis`.
void add_steps(const Tensor& reference, const Tensor& candidate, int axis, std::vector<ErrorStats>& steps) {
  if (reference.shape() != candidate.shape() || axis >= reference.rank())
    PTQ_FAIL(Error, "shape mismatch: reference ", shape_str(reference.shape()), ", candidate ", shape_str(candidate.shape()));
  Tensor a = cast_tensor(reference, DType::Float32), b = cast_tensor(candidate, DType::Float32);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= a.dim(d);
  for (int d = axis + 1; d < a.rank(); ++d) inner *= a.dim(d);
  const int64_t T = a.dim(axis);
  if (steps.size() < static_cast<size_t>(T)) steps.resize(static_cast<size_t>(T));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t at = (o * T + t) * inner;
      steps[static_cast<size_t>(t)].add(a.data<float>() + at, b.data<float>() + at, inner);
    }
}

}  // namespace

double EvalResult::worst_output_cosine() const {
  double worst = 1.0;
  for (const auto& o : outputs) worst = std::min(worst, o.error.cosine());
  return worst;
}

OutputScorer::OutputScorer(const std::vector<std::string>& names) {
  for (const auto& n : names) outputs_.push_back(OutputMetrics{n, {}, false, 0, 0});
}

void OutputScorer::add(const exec::TensorMap& reference, const exec::TensorMap& candidate, const std::string& sample_id) {
  bool first_classifier = true;
  for (OutputMetrics& m : outputs_) {
    const Tensor& a = reference.at(m.name);
    const Tensor& b = candidate.at(m.name);
    try {
      m.error.add(a, b);
    } catch (Error& e) {
      e.append_context("output '" + m.name + "', sample '" + sample_id + "'");
      throw;
    }
    if (!is_classifier(a)) continue;
    m.classifier = true;
    auto pa = row_argmax(a), pb = row_argmax(b);
    for (size_t r = 0; r < pa.size(); ++r) m.top1_agree += pa[r] == pb[r];
    m.rows += static_cast<int64_t>(pa.size());
    if (first_classifier) {
      ref_pred_.insert(ref_pred_.end(), pa.begin(), pa.end());
      cand_pred_.insert(cand_pred_.end(), pb.begin(), pb.end());
    }
    first_classifier = false;
  }
}

void OutputScorer::finish(const std::vector<int64_t>& labels, const std::string& source, EvalResult& result) const {
  result.outputs = outputs_;
  if (labels.empty()) return;
  if (labels.size() != ref_pred_.size())
    PTQ_FAIL(DataError, "labels: ", labels.size(), " labels for ", ref_pred_.size(), " classifier rows in ", source);
  int64_t ok_ref = 0, ok_cand = 0;
  for (size_t r = 0; r < ref_pred_.size(); ++r) {
    ok_ref += ref_pred_[r] == labels[r];
    ok_cand += cand_pred_[r] == labels[r];
  }
  const double rows = static_cast<double>(ref_pred_.size());
  result.has_accuracy = true;
  result.labelled_rows = static_cast<int64_t>(ref_pred_.size());
  result.accuracy_reference = ref_pred_.empty() ? 0.0 : static_cast<double>(ok_ref) / rows;
  result.accuracy_candidate = ref_pred_.empty() ? 0.0 : static_cast<double>(ok_cand) / rows;
}

// One sample's runs of both models, made on a worker thread and scored on the calling thread in
// sample order (the sums do not depend on the thread count).
struct SampleRun {
  calib::Sample sample;
  exec::TensorMap ref_out, cand_out;
  double ref_seconds = 0.0, cand_seconds = 0.0;
  std::exception_ptr error;
};

EvalResult evaluate(const Graph& reference, const Graph& candidate, const calib::DataReader& data,
                    const EvalOptions& options) {
  // Several samples at once, one per thread, each run single-threaded; one sample: all threads on it.
  const int workers = static_cast<int>(std::max<size_t>(1, std::min<size_t>(resolve_threads(options.threads), data.size())));
  const int run_threads = workers > 1 ? 1 : options.threads;
  exec::Executor ref_ex(reference, exec::ExecOptions{run_threads, false});
  exec::Executor cand_ex(candidate, exec::ExecOptions{run_threads, false});
  // Intermediate tensors present in both models.
  Probe ref_probe(reference), cand_probe(candidate);
  std::vector<TensorCompare> compares;
  for (const auto& t : options.tensors)
    if (ref_probe.want(t.reference) && cand_probe.want(t.candidate)) compares.push_back(t);
  std::vector<SequenceCompare> sequences;
  for (const auto& t : options.sequences)
    if (ref_probe.want(t.reference) && cand_probe.want(t.candidate)) sequences.push_back(t);
  std::vector<Probe> ref_probes(static_cast<size_t>(workers), ref_probe), cand_probes(static_cast<size_t>(workers), cand_probe);

  EvalResult result;
  std::vector<std::string> names;
  for (const auto& o : reference.outputs) {
    if (!candidate.is_graph_output(o.name))
      PTQ_FAIL(ModelError, "the quantized model has no output '", o.name, "' (the reference model's output)");
    names.push_back(o.name);
  }
  OutputScorer scorer(names);
  std::vector<TensorMetrics> tensors;
  for (const auto& t : compares) tensors.push_back(TensorMetrics{t.name, {}, t.has_qparams, {}});
  for (const auto& t : sequences) result.sequences.push_back(SequenceMetrics{t.name, {}});
  // Scores sample run `r` made with probes `slot`.
  auto score = [&](SampleRun& r, size_t slot) {
    result.seconds_reference += r.ref_seconds;
    result.seconds_candidate += r.cand_seconds;
    scorer.add(r.ref_out, r.cand_out, r.sample.id);
    // Occurrence k of a tensor in one model against occurrence k in the other (a body not run, or run
    // a different number of times, compares what both have).
    auto each_pair = [&](const std::string& a, const std::string& b, const std::function<void(const Tensor&, const Tensor&)>& fn) {
      const std::vector<Tensor>*va = ref_probes[slot].values(a), *vb = cand_probes[slot].values(b);
      if (!va || !vb) return;
      for (size_t k = 0; k < va->size() && k < vb->size(); ++k) fn((*va)[k], (*vb)[k]);
    };
    for (size_t k = 0; k < compares.size(); ++k)
      each_pair(compares[k].reference, compares[k].candidate, [&](const Tensor& a, const Tensor& b) {
        tensors[k].error.add(a, b);
        if (compares[k].has_qparams && a.dtype() == DType::Float32) tensors[k].local.add(a, fake_quantize(a, compares[k].qparams));
      });
    for (size_t k = 0; k < sequences.size(); ++k)
      each_pair(sequences[k].reference, sequences[k].candidate, [&](const Tensor& a, const Tensor& b) {
        add_steps(a, b, sequences[k].axis, result.sequences[k].steps);
      });
    ++result.samples;
  };
  Progress progress("evaluating", data.size(), options.progress);
  std::vector<SampleRun> runs(static_cast<size_t>(workers));
  for (size_t i0 = 0; i0 < data.size(); i0 += runs.size()) {
    const size_t count = std::min(runs.size(), data.size() - i0);
    run_tasks(workers, count, [&](size_t slot) {
      SampleRun& r = runs[slot];
      r = SampleRun{};
      try {
        r.sample = data.read(i0 + slot);
        if (r.sample.skipped) return;
        auto t0 = std::chrono::steady_clock::now();
        r.ref_out = ref_probes[slot].run(ref_ex, r.sample.tensors);
        auto t1 = std::chrono::steady_clock::now();
        r.cand_out = cand_probes[slot].run(cand_ex, r.sample.tensors);
        r.ref_seconds = std::chrono::duration<double>(t1 - t0).count();
        r.cand_seconds = seconds_since(t1);
      } catch (...) {
        r.error = std::current_exception();
      }
    });
    for (size_t slot = 0; slot < count; ++slot) {
      if (runs[slot].error) std::rethrow_exception(runs[slot].error);
      if (!runs[slot].sample.skipped) score(runs[slot], slot);
      progress.update(i0 + slot + 1);
    }
  }
  progress.finish();
  scorer.finish(options.labels, data.describe(), result);
  std::stable_sort(tensors.begin(), tensors.end(),
                   [](const TensorMetrics& a, const TensorMetrics& b) { return a.error.snr_db() < b.error.snr_db(); });
  result.tensors = std::move(tensors);
  return result;
}

std::vector<int64_t> read_labels(const std::string& path) {
  std::vector<int64_t> labels;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
    Tensor t = read_npy(path);
    if (!dtype_is_integer(t.dtype())) PTQ_FAIL(DataError, path, ": labels must be integers, got ", dtype_name(t.dtype()));
    return cast_tensor(t, DType::Int64).to_vector<int64_t>();
  }
  std::ifstream in(path);
  if (!in) PTQ_FAIL(IoError, path, ": cannot open");
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      size_t used = 0;
      labels.push_back(std::stoll(line, &used));
    } catch (const std::exception&) {
      PTQ_FAIL(DataError, path, ":", line_no, ": not an integer label: '", line, "'");
    }
  }
  return labels;
}

}  // namespace ptq::report

// SPDX-License-Identifier: Apache-2.0
#include "ptq/report/evaluator.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>

#include "ptq/ir/npy.h"
#include "ptq/quant/scale.h"
#include "ptq/util/progress.h"
#include "ptq/util/log.h"

namespace ptq::report {

void ErrorStats::add(const Tensor& reference, const Tensor& candidate) {
  if (reference.shape() != candidate.shape())
    PTQ_FAIL(Error, "shape mismatch: reference ", shape_str(reference.shape()), ", candidate ", shape_str(candidate.shape()));
  Tensor a = cast_tensor(reference, DType::Float32), b = cast_tensor(candidate, DType::Float32);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
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
  count += a.numel();
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

}  // namespace

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

EvalResult evaluate(const Graph& reference, const Graph& candidate, const calib::DataReader& data,
                    const EvalOptions& options) {
  exec::Executor ref_ex(reference, exec::ExecOptions{options.threads, false});
  exec::Executor cand_ex(candidate, exec::ExecOptions{options.threads, false});
  // Intermediate tensors present in both models.
  auto produced = [](const Graph& g, const std::string& name) { return g.producer(name) >= 0; };
  std::vector<TensorCompare> compares;
  std::set<std::string> ref_fetch, cand_fetch;
  for (const auto& t : options.tensors) {
    if (!produced(reference, t.reference) || !produced(candidate, t.candidate)) continue;
    compares.push_back(t);
    if (!reference.is_graph_output(t.reference)) ref_fetch.insert(t.reference);
    if (!candidate.is_graph_output(t.candidate)) cand_fetch.insert(t.candidate);
  }

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
  Progress progress("evaluating", data.size(), options.progress);
  exec::RunOptions ref_ro, cand_ro;
  ref_ro.fetch.assign(ref_fetch.begin(), ref_fetch.end());
  cand_ro.fetch.assign(cand_fetch.begin(), cand_fetch.end());
  for (size_t i = 0; i < data.size(); ++i) {
    calib::Sample s = data.read(i);
    if (s.skipped) continue;
    auto t0 = std::chrono::steady_clock::now();
    exec::TensorMap ref_out = ref_ex.run(s.tensors, ref_ro);
    auto t1 = std::chrono::steady_clock::now();
    exec::TensorMap cand_out = cand_ex.run(s.tensors, cand_ro);
    result.seconds_reference += std::chrono::duration<double>(t1 - t0).count();
    result.seconds_candidate += seconds_since(t1);
    scorer.add(ref_out, cand_out, s.id);
    for (size_t k = 0; k < compares.size(); ++k) {
      auto ra = ref_out.find(compares[k].reference), cb = cand_out.find(compares[k].candidate);
      if (ra == ref_out.end() || cb == cand_out.end()) continue;
      tensors[k].error.add(ra->second, cb->second);
      if (compares[k].has_qparams && ra->second.dtype() == DType::Float32)
        tensors[k].local.add(ra->second, fake_quantize(ra->second, compares[k].qparams));
    }
    ++result.samples;
    progress.update(i + 1);
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

// SPDX-License-Identifier: Apache-2.0
#include "ptq/report/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ptq::report {
namespace {

std::string fixed(double v, int digits) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

nlohmann::json error_json(const ErrorStats& e) {
  nlohmann::json j = {{"cosine", json_number(e.cosine())}, {"snr_db", json_number(e.snr_db())}, {"max_abs_diff", json_number(e.max_abs)}};
  if (e.nonfinite_reference || e.nonfinite_candidate)
    j["nonfinite"] = {{"reference", e.nonfinite_reference}, {"quantized", e.nonfinite_candidate}};
  return j;
}

// "  warning: <what> has N NaN/Inf values in FP32 and M in the quantized model (left out of the figures)"
void warn_nonfinite(std::ostream& os, const std::string& what, const ErrorStats& e) {
  if (!e.nonfinite_reference && !e.nonfinite_candidate) return;
  os << "  warning: " << what << " has " << e.nonfinite_reference << " NaN/Inf values in FP32 and " << e.nonfinite_candidate
     << " in the quantized model, of " << e.count << " (left out of the figures)\n";
}

// "  name (T steps): cosine at step 1 c1, ..., T cT; lowest cW at step W" with at most kShownSteps steps
// (evenly spaced, first and last included).
void format_sequences(std::ostream& os, const std::vector<SequenceMetrics>& sequences) {
  constexpr size_t kShownSteps = 8;
  if (sequences.empty()) return;
  os << "recurrent outputs, cosine per time step:\n";
  for (const auto& q : sequences) {
    const size_t n = q.steps.size();
    if (n == 0) continue;
    os << "  " << q.name << " (" << n << (n == 1 ? " step" : " steps") << "):";
    const size_t shown = std::min(n, kShownSteps);
    for (size_t k = 0; k < shown; ++k) {
      const size_t t = shown == 1 ? 0 : k * (n - 1) / (shown - 1);
      os << (k ? ", " : " step ") << t + 1 << " " << fixed(q.steps[t].cosine(), 6);
    }
    size_t worst = 0;
    for (size_t t = 1; t < n; ++t)
      if (q.steps[t].cosine() < q.steps[worst].cosine()) worst = t;
    os << "; lowest " << fixed(q.steps[worst].cosine(), 6) << " at step " << worst + 1 << "\n";
  }
}

}  // namespace

nlohmann::json json_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  return v;
}

std::string format_eval(const EvalResult& r, size_t max_tensors) {
  std::ostringstream os;
  os << "outputs (" << r.samples << (r.samples == 1 ? " sample" : " samples") << "):\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-32s %9s %9s %12s %10s\n", "name", "cosine", "SNR dB", "max|diff|", "top-1 =");
  os << line;
  for (const auto& o : r.outputs) {
    std::string agree = o.classifier && o.rows > 0 ? fixed(100.0 * static_cast<double>(o.top1_agree) / static_cast<double>(o.rows), 2) + "%" : "-";
    std::snprintf(line, sizeof line, "  %-32s %9s %9s %12.6g %10s\n", o.name.c_str(), fixed(o.error.cosine(), 6).c_str(),
                  fixed(o.error.snr_db(), 2).c_str(), o.error.max_abs, agree.c_str());
    os << line;
  }
  for (const auto& o : r.outputs) warn_nonfinite(os, "output '" + o.name + "'", o.error);
  if (r.has_accuracy) {
    std::snprintf(line, sizeof line, "accuracy (top-1, %lld labelled rows): FP32 %.2f%%  quantized %.2f%%  (%+.2f points)\n",
                  static_cast<long long>(r.labelled_rows), 100 * r.accuracy_reference, 100 * r.accuracy_candidate,
                  100 * (r.accuracy_candidate - r.accuracy_reference));
    os << line;
  }
  constexpr size_t kNonfiniteTensorLines = 3;  // NaN spreads downstream: the first few say where
  size_t bad_tensors = 0;
  for (const auto& t : r.tensors) {
    if (!t.error.nonfinite_reference && !t.error.nonfinite_candidate) continue;
    if (++bad_tensors <= kNonfiniteTensorLines) warn_nonfinite(os, "tensor '" + t.tensor + "'", t.error);
  }
  if (bad_tensors > kNonfiniteTensorLines)
    os << "  warning: " << bad_tensors - kNonfiniteTensorLines << " more tensors have NaN/Inf values\n";
  if (!r.tensors.empty() && max_tensors > 0) {
    os << "tensors, worst first (" << std::min(max_tensors, r.tensors.size()) << " of " << r.tensors.size() << "):\n";
    std::snprintf(line, sizeof line, "  %-48s %9s %9s %12s\n", "tensor", "cosine", "SNR dB", "own SNR dB");
    os << line;
    for (size_t i = 0; i < r.tensors.size() && i < max_tensors; ++i) {
      const auto& t = r.tensors[i];
      std::string name = t.tensor.size() > 48 ? "..." + t.tensor.substr(t.tensor.size() - 45) : t.tensor;
      std::snprintf(line, sizeof line, "  %-48s %9s %9s %12s\n", name.c_str(), fixed(t.error.cosine(), 6).c_str(),
                    fixed(t.error.snr_db(), 2).c_str(), t.has_local ? fixed(t.local.snr_db(), 2).c_str() : "-");
      os << line;
    }
  }
  format_sequences(os, r.sequences);
  return os.str();
}

nlohmann::json eval_json(const EvalResult& r) {
  nlohmann::json j;
  j["samples"] = r.samples;
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : r.outputs) {
    nlohmann::json oj = error_json(o.error);
    oj["name"] = o.name;
    if (o.classifier) {
      oj["rows"] = o.rows;
      oj["top1_agreement"] = o.rows ? static_cast<double>(o.top1_agree) / static_cast<double>(o.rows) : 0.0;
    }
    j["outputs"].push_back(oj);
  }
  if (r.has_accuracy) {
    j["accuracy"] = {{"rows", r.labelled_rows}, {"reference", r.accuracy_reference}, {"quantized", r.accuracy_candidate}};
  }
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : r.tensors) {
    nlohmann::json tj = error_json(t.error);
    tj["tensor"] = t.tensor;
    if (t.has_local) tj["own"] = error_json(t.local);
    j["tensors"].push_back(tj);
  }
  j["sequences"] = nlohmann::json::array();
  for (const auto& q : r.sequences) {
    nlohmann::json cos = nlohmann::json::array(), snr = nlohmann::json::array();
    for (const auto& step : q.steps) cos.push_back(json_number(step.cosine())), snr.push_back(json_number(step.snr_db()));
    j["sequences"].push_back({{"name", q.name}, {"cosine", cos}, {"snr_db", snr}});
  }
  j["seconds"] = {{"reference", r.seconds_reference}, {"quantized", r.seconds_candidate}};
  return j;
}

}  // namespace ptq::report

// SPDX-License-Identifier: Apache-2.0
// tolerance_miss (quantize.h): the one-line reason an evaluation misses a --target-cosine / --max-drop
// tolerance. The verdict is search::meets on EvalResult::worst_output_cosine() and the accuracies, the
// same test the precision search and the main command apply; this only words it.
#include <cstdio>

#include "ptq/pipeline/quantize.h"

namespace ptq::pipeline {

std::string tolerance_miss(const search::Tolerance& t, const report::EvalResult& eval, const std::string& source) {
  if (search::meets(t, eval.worst_output_cosine(), eval.has_accuracy, eval.accuracy_candidate, eval.accuracy_reference)) return "";
  char text[512];
  std::string why;
  const search::Tolerance cosine_only{t.target_cosine, -1.0};
  if (t.target_cosine > 0.0 && !search::meets(cosine_only, eval.worst_output_cosine(), false, 0.0, 0.0)) {
    const report::OutputMetrics* worst = nullptr;
    for (const auto& o : eval.outputs)
      if (!worst || !(o.error.cosine() >= worst->error.cosine())) worst = &o;
    if (worst)
      std::snprintf(text, sizeof text, "--target-cosine not met on %s: output '%s' has cosine %.6f < %.10g", source.c_str(),
                    worst->name.c_str(), worst->error.cosine(), t.target_cosine);
    else
      std::snprintf(text, sizeof text, "--target-cosine not met on %s: no output was compared", source.c_str());
    why += text;
  }
  const search::Tolerance drop_only{0.0, t.max_drop};
  if (t.max_drop >= 0.0 && !search::meets(drop_only, 1.0, eval.has_accuracy, eval.accuracy_candidate, eval.accuracy_reference)) {
    if (eval.has_accuracy)
      std::snprintf(text, sizeof text, "--max-drop not met on %s: top-1 %.2f %% vs FP32 %.2f %%, %.2f points > %.10g", source.c_str(),
                    100.0 * eval.accuracy_candidate, 100.0 * eval.accuracy_reference,
                    100.0 * (eval.accuracy_reference - eval.accuracy_candidate), t.max_drop);
    else
      std::snprintf(text, sizeof text, "--max-drop not met on %s: no accuracy (no classifier output matched the labels)", source.c_str());
    why += (why.empty() ? "" : "; ") + std::string(text);
  }
  return why;
}

}  // namespace ptq::pipeline

// SPDX-License-Identifier: Apache-2.0
// split_data (see stages.h). Held-out samples: with --eval-data the evaluation uses that set; otherwise
// the last `eval_samples` samples of the calibration folder are kept out of calibration (default: a
// tenth of the set, at least 1 and at most 16, when the set has 5 samples or more). A set too small to
// split is evaluated on its calibration samples.
#include <algorithm>

#include "stages.h"

namespace ptq::pipeline {
namespace {

size_t default_holdout(size_t total) { return total < 5 ? 0 : std::clamp<size_t>(total / 10, 1, 16); }

}  // namespace

DataSplit split_data(const QuantizeJob& job, const Graph& graph) {
  DataSplit d;
  const bool dynamic = job.quant.mode == rewrite::QuantMode::Dynamic;
  const bool needs_calib = !dynamic || job.bias_correction || job.adaround > 0 || job.tolerance.active() || job.weight_method != "rtn";
  if (!job.calib_dir.empty() && needs_calib) {
    calib::DataOptions dopt = job.data;
    dopt.max_samples = 0;
    d.all = calib::open_data(job.calib_dir, graph.inputs, dopt);
    const size_t total = d.all->size();
    size_t n_calib = job.calib_samples ? std::min(job.calib_samples, total) : total;
    size_t holdout = 0;
    if (job.eval_dir.empty() && job.eval_samples != 0) {
      size_t wanted = job.eval_samples > 0 ? static_cast<size_t>(job.eval_samples) : default_holdout(total);
      holdout = job.calib_samples ? std::min(wanted, total - n_calib) : std::min(wanted, total > 1 ? total - 1 : 0);
      if (!job.calib_samples) n_calib = total - holdout;
    }
    d.calib = calib::subset(*d.all, 0, n_calib);
    if (holdout > 0) d.eval = calib::subset(*d.all, n_calib, n_calib + holdout);
    else if (job.eval_dir.empty() && job.eval_samples != 0) d.eval = calib::subset(*d.all, 0, n_calib);
    d.held_out = holdout > 0;
  }
  if (!job.eval_dir.empty() && job.eval_samples != 0) {
    calib::DataOptions dopt = job.data;
    dopt.max_samples = job.eval_samples > 0 ? static_cast<size_t>(job.eval_samples) : 0;
    d.eval = calib::open_data(job.eval_dir, graph.inputs, dopt);
    d.held_out = true;
  }
  return d;
}

}  // namespace ptq::pipeline

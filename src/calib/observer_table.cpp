// SPDX-License-Identifier: Apache-2.0
// The observer tables. Methods: one row per --method; the CLI's --method check and help text, the
// calibrator and the tests all read it. Weights use min/max per channel (no clipping), except where
// a method fits weights itself (admm); eq starts from kl and refines (observers/eq.cpp). Weight
// observers: one row per --weight-range, which replaces the method's weight column (static mode)
// or the min/max of dynamic mode; eq still refines from there.
#include "observers/observers.h"
#include "ptq/util/error.h"

namespace ptq::calib {
namespace {

// Lookup and name list shared by both tables (rows with a `name`).
template <class Row>
std::string names_of(const std::vector<Row>& table) {
  std::string names;
  for (const auto& e : table) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

template <class Row>
const Row& find_row(const std::vector<Row>& table, const std::string& name, const char* what) {
  for (const auto& e : table)
    if (name == e.name) return e;
  PTQ_FAIL(UsageError, "unknown ", what, " '", name, "'; expected one of: ", names_of(table));
}

}  // namespace

const std::vector<ObserverEntry>& observer_table() {
  static const std::vector<ObserverEntry> table = {
      // name          help                                                                  activations                weights                     refine
      {"minmax",     "running min/max (optional moving average)",                            &make_minmax_observer,     &make_minmax_observer,      nullptr},
      {"kl",         "TensorRT entropy: KL threshold on a 2048-bin histogram, on the levels of the grid used", &make_kl_observer,         &make_minmax_observer,      nullptr},
      {"percentile", "keep p% of |x| (two-sided when asymmetric), default 99.999",           &make_percentile_observer, &make_minmax_observer,      nullptr},
      {"mse",        "threshold minimizing the squared quantization error (histogram)",      &make_mse_observer,        &make_minmax_observer,      nullptr},
      {"admm",       "least-squares scale fit (MNN 'ADMM'); weights per channel",            &make_admm_observer,       &make_admm_weight_observer, nullptr},
      {"eq",         "EasyQuant: kl, then per-layer scale search maximizing output cosine",  &make_kl_observer,         &make_minmax_observer,      &refine_eq},
  };
  return table;
}

const ObserverEntry& find_observer(const std::string& name) { return find_row(observer_table(), name, "calibration method"); }
std::string observer_names() { return names_of(observer_table()); }

const std::vector<WeightObserverEntry>& weight_observer_table() {
  static const std::vector<WeightObserverEntry> table = {
      // name      help                                                                              weights
      {"minmax", "per-channel min/max, no clipping (what every method but admm uses)",               &make_minmax_observer},
      {"mse",    "per-channel clipping threshold minimizing the squared weight error (100 steps)",   &make_mse_weight_observer},
      {"admm",   "per-channel least-squares scale fit (MNN 'ADMM', what --method admm uses)",        &make_admm_weight_observer},
  };
  return table;
}

const WeightObserverEntry& find_weight_observer(const std::string& name) {
  return find_row(weight_observer_table(), name, "weight range");
}
std::string weight_observer_names() { return names_of(weight_observer_table()); }

}  // namespace ptq::calib

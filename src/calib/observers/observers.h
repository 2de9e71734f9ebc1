// SPDX-License-Identifier: Apache-2.0
// Factories of the observers in this folder, one file each; rows in ../observer_table.cpp.
#pragma once

#include <memory>

#include "ptq/calib/observer.h"

namespace ptq::calib {

std::unique_ptr<Observer> make_minmax_observer(const ObserverConfig& config);
std::unique_ptr<Observer> make_kl_observer(const ObserverConfig& config);
std::unique_ptr<Observer> make_percentile_observer(const ObserverConfig& config);
std::unique_ptr<Observer> make_mse_observer(const ObserverConfig& config);         // activations: histogram
std::unique_ptr<Observer> make_mse_weight_observer(const ObserverConfig& config);  // weights: raw values
std::unique_ptr<Observer> make_admm_observer(const ObserverConfig& config);         // activations: histogram
std::unique_ptr<Observer> make_admm_weight_observer(const ObserverConfig& config);  // weights: raw values
void refine_eq(RefineContext& context);

}  // namespace ptq::calib

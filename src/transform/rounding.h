// SPDX-License-Identifier: Apache-2.0
// learn_rounding on Eigen views (not public API: Eigen types stay inside the library): the AdaRound
// driver hands it a block of output channels, the group's shuffled inputs in the row-major layout the
// batches are cut from, and the block's targets.
#pragma once

#include <Eigen/Core>
#include <vector>

#include "ptq/transform/adaround.h"

namespace ptq::transform {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// How many of `columns` are learned on with options.holdout: the first ones; the rest (at least one,
// when holdout > 0 and there are two columns) are held out for the choice against nearest rounding.
Eigen::Index training_columns(Eigen::Index columns, float holdout);

// `fp_inputs` (same shape as `inputs`, or nullptr): the layer's FP32 inputs at the same columns, mixed
// into the batches element by element when options.drop_probability > 0 (QDrop); `seed` draws the mix
// (a layer's tasks share it, so every block of rows sees the same batches).
RoundingResult learn_rounding(const RoundingProblem& problem, const Eigen::Ref<const RowMatrix>& inputs,
                              const Eigen::Ref<const Eigen::MatrixXf>& targets, const AdaRoundOptions& options,
                              const RowMatrix* fp_inputs = nullptr, uint64_t seed = 0);

// Depthwise groups side by side: row g of `problem` is one group's only output channel, whose inputs
// are row first + g of every xk[k] (k < depth; each [groups, columns]) and targets row g of `targets`.
RoundingResult learn_rounding_depthwise(const RoundingProblem& problem, const std::vector<RowMatrix>& xk,
                                        Eigen::Index first, const Eigen::Ref<const Eigen::MatrixXf>& targets,
                                        const AdaRoundOptions& options, const std::vector<RowMatrix>* fp_xk = nullptr,
                                        uint64_t seed = 0);

}  // namespace ptq::transform

// SPDX-License-Identifier: Apache-2.0
// Input dither: a second realization of the evaluation samples for the precision search.
//
// A quantized model's output depends on which values land just either side of a rounding tie, and a
// deep model can amplify those few flips into a visible change of its output: PP-OCRv4 det at int8
// gives output cosine 0.9959 between ptq's executor and ONNX Runtime on the same model and inputs
// (both correct: they sum in different orders, so different values fall on either side of a tie), and
// 0.9953 between two runs of ptq's executor whose inputs differ by a relative 1e-5 (1e-6: 0.9985,
// 1e-7: no change). The cosine with FP32 measured on a few samples is then one draw among equally valid
// ones, and a search that keeps the fewest layers whose draw meets the tolerance picks a lucky draw:
// its searched model gave 0.9912 on ptq's nominal run and 0.9889–0.9895 with dithered inputs and in
// ONNX Runtime. The search therefore also judges each candidate that meets the tolerance on dithered
// copies of the samples, as a runtime that rounds differently would see it.
//
// dithered(): every element x of the float32 inputs named in `names` becomes x·(1 + kDitherRelative·u),
// u uniform in [−√3, √3) (unit variance), from a generator seeded with `seed` and the input's position
// in the map: the same bits for the same sample whatever the thread count. The search names the inputs
// its plan quantizes: others (integers: token ids; a float mask a model compares with Equal) are left
// as they are.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "ptq/exec/executor.h"

namespace ptq::search {

constexpr double kDitherRelative = 1e-5;

exec::TensorMap dithered(const exec::TensorMap& inputs, uint64_t seed, const std::set<std::string>& names);

}  // namespace ptq::search

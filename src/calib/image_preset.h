// SPDX-License-Identifier: Apache-2.0
// Image preprocessing presets: JSON files in calibration/presets/ (built into the library at build
// time, so an installed binary has them) with the ImageOptions fields: description, resize, size,
// scale, mean, std, layout, color. A preset given as a path is read from disk.
#pragma once

#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"

namespace ptq::calib {

struct BuiltinPreset {
  const char* name;  // file name without .json
  const char* json;
};
const std::vector<BuiltinPreset>& builtin_presets();

// The options with the preset (if any) filled in under the explicit fields. Throws UsageError for an
// unknown preset (listing the built-in names) and DataError naming the file and field of a bad one.
ImageOptions resolve_image_options(const ImageOptions& given);

}  // namespace ptq::calib

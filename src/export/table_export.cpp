// SPDX-License-Identifier: Apache-2.0
// The export format table (table_export.h): name → writer, the FORMAT:FILE parser and the atomic write.
#include "ptq/export/table_export.h"

#include "ptq/ir/onnx_io.h"
#include "ptq/util/error.h"
#include "ptq/util/log.h"

namespace ptq::table_export {

// One file each.
ExportedTable write_trt_cache(const ExportInput& input);
ExportedTable write_ncnn_table(const ExportInput& input);
ExportedTable write_mnn_params(const ExportInput& input);

namespace {

std::string format_names() {
  std::string s;
  for (const auto& f : export_formats()) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

const ExportFormat& find_format(const std::string& name) {
  for (const auto& f : export_formats())
    if (f.name == name) return f;
  PTQ_FAIL(UsageError, "unknown --export-table format '", name, "'; expected one of: ", format_names());
}

}  // namespace

const std::vector<ExportFormat>& export_formats() {
  static const std::vector<ExportFormat> formats = {
      {"trt",  "TensorRT calibration cache (trtexec --calib, ONNX Runtime's TensorRT provider)", &write_trt_cache},
      {"ncnn", "ncnn2int8 scale table (weight scales per output channel, input scale per layer)", &write_ncnn_table},
      {"mnn",  "MNNConvert --compressionParamsFile JSON (per-layer int8 parameters)",            &write_mnn_params},
  };
  return formats;
}

ExportRequest parse_export_request(const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || colon + 1 == spec.size())
    PTQ_FAIL(UsageError, "--export-table '", spec, "': expected FORMAT:FILE with FORMAT one of: ", format_names());
  ExportRequest r{spec.substr(0, colon), spec.substr(colon + 1)};
  find_format(r.format);
  return r;
}

void check_export_paths(const std::vector<ExportRequest>& requests) {
  for (const auto& r : requests) onnx_io::check_destination(r.path);
}

ExportedTable export_table(const ExportRequest& request, const ExportInput& input) {
  ExportedTable t = find_format(request.format).write(input);
  onnx_io::write_file_atomic(request.path, t.text);
  for (const auto& s : t.skipped) log::debug(request.format, " table: left out ", s);
  log::info("wrote ", request.format, " table ", request.path, " (", t.entries, " entries",
            t.skipped.empty() ? std::string() : ", " + std::to_string(t.skipped.size()) + " left out (-v: why)", ")");
  return t;
}

}  // namespace ptq::table_export

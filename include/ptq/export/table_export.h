// SPDX-License-Identifier: Apache-2.0
// Calibration-table exports (--export-table FORMAT:FILE, repeatable, on the main command and on
// `quantize calibrate`): the final plan and table written in the format a runtime that takes no Q/DQ
// reads. A table of formats, each row a name, a description and a writer in its own file:
//   trt   TensorRT calibration cache (trt_cache.cpp)
//   ncnn  ncnn2int8 scale table (ncnn_table.cpp)
//   mnn   MNNConvert --compressionParamsFile JSON (mnn_params.cpp)
// Only the model graph is exported (nodes inside If/Loop/Scan bodies are not). Files are written
// atomically (temp file + rename).
#pragma once

#include <string>
#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/ir/graph.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::table_export {

// What a writer reads: the float graph the plan was made for, the plan and its calibration table.
struct ExportInput {
  const Graph& graph;
  const rewrite::QuantPlan& plan;
  const calib::CalibTable& table;
};

// A written table: its text, how many entries (tensors or layers, per the format) it holds, and the
// quantized tensors or layers the format cannot express (one "name: reason" each).
struct ExportedTable {
  std::string text;
  size_t entries = 0;
  std::vector<std::string> skipped;
};

struct ExportFormat {
  std::string name;
  std::string description;
  ExportedTable (*write)(const ExportInput& input);
};

// Every format, in the order --help lists them.
const std::vector<ExportFormat>& export_formats();

// One --export-table FORMAT:FILE.
struct ExportRequest {
  std::string format;
  std::string path;
};

// Parses "FORMAT:FILE"; UsageError naming the spec for a missing ':' or file, or an unknown format
// (with the known ones).
ExportRequest parse_export_request(const std::string& spec);

// Before any work: IoError naming the file when a request's folder does not exist (onnx_io::check_destination).
void check_export_paths(const std::vector<ExportRequest>& requests);

// Renders the request's format and writes it atomically; returns what was written (for the log and
// the report).
ExportedTable export_table(const ExportRequest& request, const ExportInput& input);

}  // namespace ptq::table_export

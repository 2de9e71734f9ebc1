// SPDX-License-Identifier: Apache-2.0
// `quantize`: the ptq command line. Logs go to stderr, machine-readable output to stdout.
// Exit codes: 0 ok, 1 error (bad model, data, I/O), 2 usage, 3 a --target-cosine/--max-drop tolerance not
// met (the best model found is written) or, for `check`, a target rule broken.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>

#include "commands.h"
#include "ptq/util/allocator.h"
#include "ptq/util/error.h"
#include "ptq/util/log.h"

namespace {

constexpr const char* kExamples = R"(Examples:
  quantize model.onnx --calib calib/ -o model.int8.onnx
                                           static INT8 (uint8 activations, int8 per-channel weights, percentile)
  quantize model.onnx --calib calib/ --method percentile --activation-type int8 --symmetric-activations -o m.int8.onnx
  quantize model.onnx --calib images/ --preset imagenet_torchvision -o m.int8.onnx
                                           calibrate on JPEG/PNG files with torchvision preprocessing
  quantize model.onnx --calib calib/ --eval-data test/ --labels test/labels.npy -o m.int8.onnx
                                           report accuracy FP32 vs INT8 on a labelled set
  quantize detector.onnx --calib calib/ --float-first 3 -o d.int8.onnx
                                           keep the first 3 conv layers float (the report hints when it helps)
  quantize model.onnx --mode dynamic -o model.dyn.onnx
                                           weights-only int8 (no calibration data)
  quantize model.onnx --calib calib/ --bias-correction -o m.int8.onnx
                                           also remove the mean shift int8 weights cause (MobileNets: +0.5..1 point)
  quantize model.onnx --calib calib/ --adaround -o m.int8.onnx
                                           learn each weight's rounding (AdaRound; --adaround N: N iterations per layer)
  quantize model.onnx --calib calib/ --activation-type uint16 --weight-type int16 -o m.16.onnx
  quantize model.onnx --calib calib/ --weight-type int4 --weight-range mse -o m.w4a8.onnx
                                           4-bit weights (opset 21), clipped per channel where that lowers their error
  quantize lm.onnx --mode dynamic --weight-type int4 --block-size 32 --weight-method gptq --calib ids/ -o lm.int4.onnx
                                           LLM-style weight-only int4 blocks rounded by GPTQ (ONNX Runtime: MatMulNBits)
  quantize model.onnx --calib calib/ --target tensorrt -o m.trt.onnx
                                           TensorRT's Q/DQ dialect (int8 symmetric, float bias); checked before writing
  quantize check m.onnx --target qnn       every (node, rule) a Q/DQ model breaks for ONNX Runtime QNN (exit 3 if any)
  quantize inspect model.onnx              summary of a model (IR, opsets, I/O, ops, weights)
  quantize inspect model.onnx --json       the same as JSON on stdout
  quantize run model.onnx --inputs calib/ -o out/
                                           run ptq's executor on every sample, outputs as .npy
  quantize calibrate model.onnx --calib calib/ --table calib.json --method kl
                                           calibration table only (JSON)
  quantize detector.onnx --calib calib/ --target-cosine 0.99 -o d.int8.onnx
                                           promote the fewest layers to int16 until every output's cosine
                                           with FP32 is >= 0.99 on held-out samples (exit 3 if impossible)
  quantize model.onnx --calib calib/ --eval-data val/ --labels val/labels.npy --max-drop 0.5 -o m.int8.onnx
                                           the same for top-1 accuracy (at most 0.5 points below FP32)
  quantize sensitivity model.onnx --calib calib/
                                           per-layer output error: only this layer int8 / all but this layer
  quantize eval model.onnx model.int8.onnx --data samples/ --labels labels.npy
                                           compare FP32 and quantized outputs (cosine, SNR, top-1, accuracy)
  quantize eval model.onnx model.int8.onnx --data samples/ --target-cosine 0.99 --html eval.html
                                           CI gate: exit 3 when an output's cosine is below 0.99; a visual report
  quantize model.onnx --calib calib/ -o m.int8.onnx --export-table trt:m.cache --export-table ncnn:m.table
                                           also write TensorRT / ncnn calibration tables (and mnn:FILE for MNN)
  quantize model.onnx --calib calib/ -o m.int8.onnx --html report.html
                                           self-contained HTML report: per-layer error, histograms, precision
)";

}  // namespace

int main(int argc, char** argv) {
  ptq::tune_allocator();
  CLI::App app{"ptq: post-training quantization of ONNX models", "quantize"};
  app.footer(kExamples);
  app.set_version_flag("--version", std::string("quantize (ptq) ") + PTQ_VERSION);
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging on stderr");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");
  app.fallthrough();
  app.require_subcommand(0, 1);

  const std::vector<CLI::Option*> global = app.get_options();  // --help, --version, -v, -q

  ptq::cli::Action action;
  ptq::cli::register_quantize_command(app, action);
  ptq::cli::register_inspect_command(app, action);
  ptq::cli::register_check_command(app, action);
  ptq::cli::register_run_command(app, action);
  ptq::cli::register_calibrate_command(app, action);
  ptq::cli::register_eval_command(app, action);
  ptq::cli::register_sensitivity_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  // fallthrough lets -v/-q follow a subcommand, and with them every main-command option, which the
  // subcommand would then ignore (`quantize sensitivity m.onnx --adaround`): refused instead.
  if (!app.get_subcommands().empty())
    for (const CLI::Option* opt : app.get_options())
      if (opt->count() > 0 && std::find(global.begin(), global.end(), opt) == global.end()) {
        std::fprintf(stderr, "error: %s applies to the main command only, not to `quantize %s`\n", opt->get_name().c_str(),
                     app.get_subcommands().front()->get_name().c_str());
        return 2;
      }
  if (verbose) ptq::log::set_level(ptq::log::Level::Debug);
  if (quiet) ptq::log::set_level(ptq::log::Level::Warn);
  try {
    return action ? action() : 0;
  } catch (const ptq::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

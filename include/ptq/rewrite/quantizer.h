// SPDX-License-Identifier: Apache-2.0
// Post-training quantization of an ONNX model into the Q/DQ form ONNX Runtime fuses into integer
// kernels. Three steps, so the CLI wiring is a few lines:
//
//   model = fold_batch_norm(model).model;                             // optional pre-pass (passes.h)
//   Graph graph = build_graph(model);
//   QuantPlan plan = plan_quantization(graph, options);              // rules table → decisions
//   calib::CalibTable table = calib::calibrate(graph, calib_targets(plan), data, calib_options);
//       (dynamic mode: table = weight_table(graph, plan); no data needed)
//   onnx::ModelProto out = rewrite_model(model, graph, plan, table); // Q/DQ inserted, weights stored quantized
//
// Generated names (fixed suffixes, as ONNX Runtime's quantizer): for a tensor T, "T_scale",
// "T_zero_point", "T_QuantizeLinear" / "T_DequantizeLinear" (nodes), "T_QuantizeLinear_Output",
// "T_DequantizeLinear_Output"; weights and biases "W_quantized"; a quantized graph output keeps its
// name on the DQ output and its producer writes "T_QuantizeLinear_Input". Same inputs → same bytes.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/ir/graph.h"
#include "ptq/quant/qspec.h"
#include "ptq/rewrite/qdq_rules.h"

namespace ptq::onnx_io {
class DataFileWriter;
}

namespace ptq::rewrite {

enum class QuantMode { Static, Dynamic };
enum class DynamicFormat { QDQ, Integer };
enum class Int4Format { QDQ, MatMulNBits };

std::string quant_mode_name(QuantMode mode);          // "static", "dynamic"
QuantMode quant_mode_from_name(const std::string& name);  // throws UsageError
std::string dynamic_format_name(DynamicFormat format);    // "qdq", "integer"
DynamicFormat dynamic_format_from_name(const std::string& name);
std::string int4_format_name(Int4Format format);          // "qdq", "matmulnbits"
Int4Format int4_format_from_name(const std::string& name);
// The block sizes QuantOptions::block_size accepts (besides 0).
const std::vector<int64_t>& block_sizes();

// Layers kept above the default types, and the tensors that go with them (a layer's quantizers: the
// activations it reads and writes with own parameters, its weights; search/layers.h finds them).
//   wide:  16-bit Q/DQ (activations int16 when the activation type is signed, else uint16; weights int16
//          symmetric; the bias int32 as ever); a tensor sharing parameters with a wide one is wide.
//   float: the node is not quantized, and neither are the tensors listed (nobody reads them quantized;
//          a Relu/Clip writing one is not folded).
struct PrecisionOverrides {
  std::set<int> wide_nodes, float_nodes;
  std::set<std::string> wide_tensors, float_tensors;
  bool empty() const { return wide_nodes.empty() && float_nodes.empty() && wide_tensors.empty() && float_tensors.empty(); }
};

// What channel equalization (passes.h: equalize_channels) keeps float: the element-wise activations
// reading a restored tensor (named by their first output: nodes may be unnamed), and the restored
// tensors themselves (no reader quantizes them; the restoring Mul quantizes only its input).
struct KeptFloat {
  std::set<std::string> nodes_writing, tensors;
};

struct QuantOptions {
  QuantMode mode = QuantMode::Static;
  QType activation_type = QType::UInt8;  // activation_types(): uint8 | int8 | uint16 | int16
  QType weight_type = QType::Int8;       // weight_types(): int8 | uint8 | int16 | int4 | uint4
  // 4-bit weights on asymmetric grids (each channel's, or with block_size each block's, own zero point
  // over the type's 16 levels) instead of symmetric ones; 8-bit edge layers and 16-bit promotions stay
  // symmetric.
  bool asymmetric_weights = false;
  bool per_channel = true;               // weights of Conv/ConvTranspose/Gemm/MatMul
  // Non-empty: per-channel weights only for these (op type, weight axis) pairs, others per-tensor (targets).
  std::vector<std::pair<std::string, int>> per_channel_ops;
  bool symmetric_activations = false;    // also keeps Relu/Clip (they fold only into asymmetric ranges)
  bool reduce_range = false;             // weights one bit narrower (ONNX Runtime's reduce_range)
  std::vector<std::string> exclude;      // node names or fnmatch globs left float; each must match a node
  std::vector<std::string> op_types;     // only these op types (empty: every row of the rule table)
  // Leave the first / last N compute layers float: a node stays float when at most N Conv,
  // ConvTranspose, Gemm or MatMul nodes (itself included) lie on the longest path from a graph input
  // to it (float_first) or from it to a graph output (float_last). So the stem or the head stays
  // float with the element-wise and data-movement nodes around it (e.g. YOLOX's stem, whose channels'
  // ranges differ by 250x, which a per-tensor 8-bit activation cannot hold).
  int float_first = 0;
  int float_last = 0;
  // With 4-bit weights (int4/uint4, per channel or per tensor), the weights of the first / last N compute
  // layers (counted as float_first/float_last count) are 8-bit: int8 (uint8 with uint4 weights, zero
  // point 128). -1: the default, 1 each (int8_edges()): the stem reads the raw input and the classifier or
  // heads write the outputs, with nothing after them to average their error out; the 4-bit literature
  // (AdaRound, BRECQ, QDrop: "first and last layer in 8 bits") and NNCF's int4 weight compression (int8
  // backup precision) keep them in 8 bits. 0: every layer 4-bit.
  // With block_size (the weight-only LLM path) the edge layers' blocks are 8-bit (same block size), and
  // the default is the last layer only (int8_first 0): the output head, which NNCF (int8 backup
  // precision) and llama.cpp (Q4_K_M: the output weight in 6 bits) keep wider too; the first compute
  // layer of a language model is an ordinary projection after the embedding.
  int int8_first = -1;
  int int8_last = -1;
  // With 4-bit weights in blocks: constant tables a Gather reads (token embeddings) in 8-bit blocks too
  // (edge_weight_spec, the same block size). -1: the default, on; 0 off; 1 on. NNCF keeps embeddings in
  // int8 and ModelOpt leaves them float: a 4-bit embedding puts its error into every token's input (the
  // bench LM: perplexity 1.0048x → 1.0010x of FP32, README Transformer results).
  int int8_embeddings = -1;
  // The edge layers' weights are uint8 (zero point 128) even with int4 weights: set by targets that take
  // no int8 weights (ort-cpu-novnni).
  bool unsigned_edges = false;
  // 0: keep the model's default opset (raised to 11 below 10, where ONNX Runtime cannot fuse Q/DQ);
  // 13: at least opset 13 (per-channel Q/DQ in the ONNX domain, what TensorRT reads);
  // 21: upgrade to opset 21 so 16-bit Q/DQ use the ONNX domain (otherwise com.microsoft below 21).
  int64_t opset = 0;
  DynamicFormat dynamic_format = DynamicFormat::QDQ;
  // Dynamic mode: weights of MatMul/Gemm (and Gather embedding tables) quantized in blocks of this many
  // elements along the reduced axis (K; a table's last axis) instead of per channel: opset-21
  // DequantizeLinear with block_size (block_sizes(): 16, 32, 64, 128; 0: off). Other layers keep per
  // channel.
  int64_t block_size = 0;
  // With 4-bit blocked weights: DequantizeLinear → MatMul (ONNX Runtime fuses it into MatMulNBits) or
  // com.microsoft MatMulNBits written directly.
  Int4Format int4_format = Int4Format::QDQ;
  bool keep_removable_activations = false;  // keep Relu/Clip even with asymmetric activations
  bool quantize_bias = true;                 // int32 bias of Conv/ConvTranspose/Gemm (static mode)
  // One Q→DQ pair per reader of an activation read by several nodes (T_QuantizeLinear_1, ...), as
  // ONNX Runtime's DedicatedQDQPair: what TensorRT expects. Default: one pair shared by all readers.
  bool dedicated_qdq_pairs = false;
  // int8 activations read by several nodes (or also a graph output) are written as uint8 with zero point
  // + 128 (the same values): ONNX Runtime's CPU provider converts int8 Q/DQ pairs to uint8 itself, but
  // not a QuantizeLinear with several DequantizeLinear readers, and the nodes around such a tensor would
  // stay float (shared_int8.cpp). On by default (the ort-cpu target); other targets (target.h) turn it off.
  bool unsigned_shared_int8 = true;
  // Sigmoid outputs get the fixed range [0, 65535/65536] instead of [0, 1]: in uint16, scale exactly
  // 1/65536 with zero point 0, what ONNX Runtime's QNN provider takes (the qnn target).
  bool qnn_sigmoid_range = false;
  KeptFloat kept_float;
  // Mixed precision (set by the precision search, search/precision_search.h): layers promoted above the
  // default types. Keys are node indices of the graph the plan is made for.
  PrecisionOverrides precision;
  // A QAT export (the model has Q/DQ nodes) quantized without calibration data: nothing is planned
  // beyond the model's own Q/DQ (fold_qat_weights has made its weights integer).
  bool qat_import_only = false;
};

// Per node (graph.nodes order): how many Conv/ConvTranspose/Gemm/MatMul nodes, itself included, lie on
// the longest path from a graph input to it (from_inputs) and from it to a graph output (to_outputs).
// What --float-first / --float-last count.
struct LayerDepths {
  std::vector<int> from_inputs, to_outputs;
};
LayerDepths layer_depths(const Graph& graph);

// How many first / last compute layers keep 8-bit weights under `options` (QuantOptions::int8_first /
// int8_last with the default resolved; {0, 0} unless the weights are 4-bit).
struct EdgeLayers {
  int first = 0, last = 0;
  bool embeddings = false;  // QuantOptions::int8_embeddings resolved
  bool any() const { return first > 0 || last > 0 || embeddings; }
};
EdgeLayers int8_edges(const QuantOptions& options);
// The spec of those layers' weights: weight_spec with int8 (int4) or uint8 (uint4, or unsigned_edges).
QuantSpec edge_weight_spec(const QuantOptions& options);

// The types QuantOptions accepts (validate_options and the CLI's --activation-type/--weight-type
// choices read these lists), and their names.
const std::vector<QType>& activation_types();
const std::vector<QType>& weight_types();
std::vector<std::string> type_names(const std::vector<QType>& types);

// Throws UsageError for a combination that cannot work (e.g. int16 or int4 weights in the integer
// format, --reduce-range with 4-bit weights).
void validate_options(const QuantOptions& options);

// The spec used for activations / weights under these options.
QuantSpec activation_spec(const QuantOptions& options);
QuantSpec weight_spec(const QuantOptions& options);
// The 16-bit specs of layers promoted to wide (PrecisionOverrides).
QuantSpec wide_activation_spec(const QuantOptions& options);
QuantSpec wide_weight_spec(const QuantOptions& options);

// One tensor of the float model that the rewrite quantizes.
struct TensorPlan {
  enum class Kind { Activation, Weight, Bias };
  std::string tensor;   // name in the float model (after Relu/Clip folding: the folded op's output)
  Kind kind = Kind::Activation;
  QuantSpec spec;
  int axis = -1;            // per-channel axis (weights, biases), -1 per-tensor; blocked: the blocked axis
  int64_t block = 0;        // weights: > 0 blocked along axis (QParams::block)
  bool constant = false;    // value known offline (initializer or Constant): stored quantized, no Q node
  bool integer = false;     // read by ConvInteger/MatMulInteger (dynamic integer format): no DQ node
  std::string params_from;  // non-empty: reuses that tensor's scale and zero point (no calibration)
  std::string bias_input;   // Bias: scale = s(bias_input) · s(bias_weight)
  std::string bias_weight;
  std::vector<int> readers;  // weights/biases: nodes that read the quantized value (others read float)
  bool fixed = false;        // activation with a known range (not calibrated), e.g. Softmax output [0, 1]
  Range range;
  calib::SoftmaxRows softmax;  // activation a Softmax reads: calibrated on the top of each row
  calib::ReaderGain gain;      // calibrated activation: how its readers amplify its error (reader_gain.cpp)
  // Name in the calibration table and the parameter map: the tensor's scoped name (graph.h) inside an
  // If/Loop/Scan body (for an outer-scope value, its scoped name where it is defined); "" = `tensor`.
  std::string key;
  const std::string& table_key() const { return key.empty() ? tensor : key; }
};

struct NodePlan {
  std::string family;                        // rule family (or pattern name); empty when the op has no rule
  bool compute = true;                       // a float compute node (false: shape arithmetic, ir/data_flow.h)
  std::string pattern;                       // member of this pattern (patterns: quantized at their boundary)
  bool quantized = false;                    // some input or output of the node is quantized
  bool removed = false;                      // Relu/Clip folded into its producer
  IntegerForm integer = IntegerForm::None;   // emitted as an integer kernel (dynamic integer format)
  std::string reason;                        // why the node stays float
};

struct QuantPlan;

// The plan of an If/Loop/Scan body: the body of attribute `attr` of node `node` (index into the
// enclosing graph's nodes). Its tensors are named as in the body, with scoped table keys.
struct SubgraphPlan {
  int node = -1;
  std::string attr;
  std::string scope;  // the chained subgraph_scope() prefix of its tensors' keys
  std::shared_ptr<const QuantPlan> plan;
};

// Subgraphs: a body is planned like the model's graph (same rules and options, minus --float-first/
// --float-last and the precision search's overrides, which index the model's own nodes). Its weights
// (its own or read from an enclosing graph) are stored quantized inside the body; an activation it
// reads from an enclosing graph gets its Q/DQ inside the body, with the parameters the enclosing graph
// uses for it when it quantizes it too.
struct QuantPlan {
  QuantOptions options;
  std::map<std::string, TensorPlan> tensors;
  std::vector<NodePlan> nodes;                // one per Graph::nodes entry, same order
  std::map<std::string, std::string> renamed; // producer output -> folded activation's output
  std::vector<SubgraphPlan> subgraphs;        // every body, in node order
  // Counts include the nodes of the bodies.
  size_t quantized_node_count() const;
  size_t float_node_count() const;            // float compute nodes left float (removed nodes are not counted)
  size_t shape_node_count() const;            // shape arithmetic nodes (never quantized)
  size_t pattern_node_count() const;          // quantized nodes that are pattern members
  // Calls fn(plan) for this plan and every body's plan, depth first.
  void for_each_plan(const std::function<void(const QuantPlan&)>& fn) const;
};

// Applies the rule table to the graph. Throws UsageError when the options select nothing (every
// node excluded, an --op-types filter matching no node, an --exclude pattern matching no node),
// UnsupportedError when the model has nothing quantizable or is already quantized.
QuantPlan plan_quantization(const Graph& graph, const QuantOptions& options);

// The tensors calibration must observe (own parameters only; shared and bias parameters are derived),
// by table key; a body's targets follow the model graph's (a key planned twice is listed once).
std::vector<calib::CalibTarget> calib_targets(const QuantPlan& plan);

// The table with every planned tensor's parameters in its planned type: entries whose type differs
// (tensors the precision search made 16-bit) are recomputed from their observed [min, max] (per channel
// for weights) with the plan's spec, method "minmax".
calib::CalibTable retype_table(const calib::CalibTable& table, const QuantPlan& plan);

// Parameters of the weight targets (is_weight) straight from the weights (per-channel min/max →
// compute_qparams): what dynamic mode uses instead of calibration. Activation targets are left out.
calib::CalibTable weight_table(const Graph& graph, const QuantPlan& plan, const std::string& weight_range = "minmax",
                               int threads = 1);  // or another row of calib::weight_observer_table()

// The QParams written for every planned tensor, by table key (TensorPlan::table_key(): the tensor's
// name in the model's graph, its scoped name in a body): activations and weights from the table
// (checked against the plan), shared ones copied from their root, biases derived (after enlarging
// weight scales where an int32 bias would overflow).
std::map<std::string, QParams> resolve_params(const Graph& graph, const QuantPlan& plan,
                                              const calib::CalibTable& table);
// int32 bias values: round-half-even(b / scale[c]) in double, clipped to int32 (warns when clipping).
Tensor quantize_bias(const Tensor& bias, const QParams& params, const std::string& name);

// Writes the quantized model. `graph` must be build_graph(model); `table` must hold every target of
// calib_targets(plan) (else DataError naming the tensor). The result passes onnx::checker where ONNX
// 1.12 knows its opset (≤ 17) and ptq's structural validation always.
// With `data_file` (the output's, see DataFileWriter), the graph's large quantized weights and biases
// are written to it as they are made, one at a time, and the result refers to them there (external
// data): pass data_file.tensors() as GraphOptions::mapped to run it, and data_file to save_model.
// Not with --int4-format matmulnbits (its packing reads the weights back from the proto).
onnx::ModelProto rewrite_model(const onnx::ModelProto& model, const Graph& graph, const QuantPlan& plan,
                               const calib::CalibTable& table, onnx_io::DataFileWriter* data_file = nullptr);

// Opsets below 10 have no QuantizeLinear: rewrite_model raises them to 11 (opset_upgrade.cpp). This
// tries that on a copy of `model`, before any work, and throws UnsupportedError naming `file` and the
// node when it cannot be done (opset below 7, a node with no faithful conversion). Nothing for opset ≥ 10.
void check_opset_upgrade(const onnx::ModelProto& model, const std::string& file);

}  // namespace ptq::rewrite

// SPDX-License-Identifier: Apache-2.0
// Raising a model's default opset (below 10 → 11 so ONNX Runtime can fuse Q/DQ; → 21 on request for
// ONNX-domain 16-bit Q/DQ). Most ops keep their meaning across versions (new versions add types or
// optional attributes); the table below lists the ones whose meaning or signature changed, one row
// per (op, version of the change), with a converter or, where no faithful conversion exists, nothing:
// the upgrade then fails naming the node, so a model never silently changes meaning.
// Converters: attributes that became inputs (Slice 10, TopK 10, Clip 11, Pad 11, Dropout 12,
// Squeeze/Unsqueeze/Split/ReduceSum 13, other Reduce* 18) become constant inputs; Split 18 without
// a `split` input gets num_outputs; Softmax-family 13 is kept only where old and new semantics agree
// (axis = last dimension); RoiAlign 16 and GridSample 20 get their old defaults/mode names spelled out;
// BatchNormalization 9 drops spatial = 1; Dropout 10 drops a mask nobody reads (its type became bool);
// Upsample 10 (nearest, linear) becomes the equivalent Resize-11.
#include <algorithm>

#include "ptq/ir/onnx_io.h"
#include "ptq/util/error.h"
#include "ptq/rewrite/quantizer.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

constexpr int64_t kOldestUpgradable = 7;  // Add/Mul lost `broadcast` in 7

struct UpgradeContext {
  onnx::GraphProto& graph;
  Names& names;
  std::function<int(const std::string&)> rank_of;  // -1 when unknown
};

using Converter = bool (*)(onnx::NodeProto& node, UpgradeContext& ctx);

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

void erase_attr(onnx::NodeProto& n, const char* name) {
  auto* attrs = n.mutable_attribute();
  for (int i = attrs->size() - 1; i >= 0; --i)
    if (attrs->Get(i).name() == name) attrs->DeleteSubrange(i, 1);
}

std::string base_name(const onnx::NodeProto& n) { return n.name().empty() ? n.output(0) : n.name(); }

// Sets input `index` (padding with omitted inputs) to a new initializer holding `value`.
void set_const_input(onnx::NodeProto& n, int index, const Tensor& value, const char* what, UpgradeContext& ctx) {
  std::string name = ctx.names.unique(base_name(n) + "_" + what);
  *ctx.graph.add_initializer() = onnx_io::tensor_to_proto(value, name);
  while (n.input_size() <= index) n.add_input("");
  n.set_input(index, name);
}

// Moves an INTS attribute to an int64 input; absent attribute → input left omitted.
void ints_attr_to_input(onnx::NodeProto& n, const char* attr, int index, UpgradeContext& ctx) {
  const onnx::AttributeProto* a = find_attr(n, attr);
  if (!a) return;
  std::vector<int64_t> v(a->ints().begin(), a->ints().end());
  set_const_input(n, index, Tensor::from_vector(v, {static_cast<int64_t>(v.size())}), attr, ctx);
  erase_attr(n, attr);
}

void float_attr_to_input(onnx::NodeProto& n, const char* attr, int index, UpgradeContext& ctx) {
  const onnx::AttributeProto* a = find_attr(n, attr);
  if (!a) return;
  set_const_input(n, index, Tensor::scalar<float>(a->f()), attr, ctx);
  erase_attr(n, attr);
}

bool convert_slice(onnx::NodeProto& n, UpgradeContext& ctx) {
  if (!find_attr(n, "starts") || !find_attr(n, "ends")) return false;
  ints_attr_to_input(n, "starts", 1, ctx);
  ints_attr_to_input(n, "ends", 2, ctx);
  ints_attr_to_input(n, "axes", 3, ctx);
  return true;
}

bool convert_topk(onnx::NodeProto& n, UpgradeContext& ctx) {
  const onnx::AttributeProto* k = find_attr(n, "k");
  if (!k) return false;
  set_const_input(n, 1, Tensor::from_vector<int64_t>({k->i()}, {1}), "k", ctx);
  erase_attr(n, "k");
  return true;
}

bool convert_clip(onnx::NodeProto& n, UpgradeContext& ctx) {
  float_attr_to_input(n, "min", 1, ctx);
  float_attr_to_input(n, "max", 2, ctx);
  return true;
}

bool convert_pad(onnx::NodeProto& n, UpgradeContext& ctx) {
  const char* pads = find_attr(n, "pads") ? "pads" : "paddings";  // Pad-1 called it paddings
  if (!find_attr(n, pads)) return false;
  ints_attr_to_input(n, pads, 1, ctx);
  float_attr_to_input(n, "value", 2, ctx);
  return true;
}

bool convert_dropout(onnx::NodeProto& n, UpgradeContext& ctx) {
  float_attr_to_input(n, "ratio", 1, ctx);
  return true;
}

bool convert_axes(onnx::NodeProto& n, UpgradeContext& ctx) {
  ints_attr_to_input(n, "axes", 1, ctx);
  return true;
}

bool convert_split_13(onnx::NodeProto& n, UpgradeContext& ctx) {
  ints_attr_to_input(n, "split", 1, ctx);
  return true;
}

bool convert_split_18(onnx::NodeProto& n, UpgradeContext&) {
  if (n.input_size() > 1 && !n.input(1).empty()) return true;
  auto* a = n.add_attribute();
  a->set_name("num_outputs");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(n.output_size());
  return true;
}

// Softmax-1/11 flatten to 2-D at `axis` (default 1); from 13 they work along `axis` (default -1).
// Same result only when `axis` is the last dimension.
bool convert_softmax(onnx::NodeProto& n, UpgradeContext& ctx) {
  const onnx::AttributeProto* a = find_attr(n, "axis");
  int64_t axis = a ? a->i() : 1;
  int rank = ctx.rank_of(n.input(0));
  if (rank < 0 || (axis < 0 ? axis + rank : axis) != rank - 1) return false;
  erase_attr(n, "axis");
  auto* attr = n.add_attribute();
  attr->set_name("axis");
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(-1);
  return true;
}

// BatchNormalization-9 dropped `spatial` (always 1 from then on).
bool convert_batchnorm_9(onnx::NodeProto& n, UpgradeContext&) {
  const onnx::AttributeProto* spatial = find_attr(n, "spatial");
  if (spatial && spatial->i() == 0) return false;
  erase_attr(n, "spatial");
  return true;
}

// Dropout-10's mask is bool (the input's type before): an unread mask is dropped, a read one refused.
bool convert_dropout_mask(onnx::NodeProto& n, UpgradeContext& ctx) {
  if (n.output_size() < 2 || n.output(1).empty()) return true;
  for (const auto& o : ctx.graph.output())
    if (o.name() == n.output(1)) return false;
  for (const auto& other : ctx.graph.node())
    for (const auto& in : other.input())
      if (in == n.output(1)) return false;
  n.mutable_output()->RemoveLast();
  return true;
}

void set_string_attr(onnx::NodeProto& n, const char* name, const std::string& value) {
  erase_attr(n, name);
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

// Upsample-7 (scales attribute) and -9 (scales input) become Resize-11 sampling the same points:
// output x reads input x / scale, nearest taking its floor (coordinate_transformation_mode asymmetric,
// nearest_mode floor), linear interpolating there.
bool convert_upsample(onnx::NodeProto& n, UpgradeContext& ctx) {
  const onnx::AttributeProto* mode = find_attr(n, "mode");
  const std::string m = mode ? mode->s() : "nearest";
  if (m != "nearest" && m != "linear") return false;
  std::string scales = n.input_size() > 1 ? n.input(1) : "";
  if (const onnx::AttributeProto* a = find_attr(n, "scales")) {
    std::vector<float> v(a->floats().begin(), a->floats().end());
    scales = ctx.names.unique(base_name(n) + "_scales");
    *ctx.graph.add_initializer() = onnx_io::tensor_to_proto(Tensor::from_vector(v, {static_cast<int64_t>(v.size())}), scales);
    erase_attr(n, "scales");
  }
  if (scales.empty()) return false;
  set_const_input(n, 1, Tensor(DType::Float32, {0}), "roi", ctx);
  while (n.input_size() < 3) n.add_input("");
  n.set_input(2, scales);
  n.set_op_type("Resize");
  set_string_attr(n, "coordinate_transformation_mode", "asymmetric");
  if (m == "nearest") set_string_attr(n, "nearest_mode", "floor");
  return true;
}

bool convert_batchnorm(onnx::NodeProto& n, UpgradeContext& ctx) {
  if (!convert_batchnorm_9(n, ctx)) return false;  // a model raised from below 9 to 14 at once
  erase_attr(n, "is_test");
  return n.output_size() == 1;  // training outputs changed meaning in 14
}

bool convert_roialign(onnx::NodeProto& n, UpgradeContext&) {
  if (find_attr(n, "coordinate_transformation_mode")) return true;
  auto* a = n.add_attribute();
  a->set_name("coordinate_transformation_mode");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("output_half_pixel");  // the default before 16
  return true;
}

bool convert_gridsample(onnx::NodeProto& n, UpgradeContext&) {
  for (auto& a : *n.mutable_attribute()) {
    if (a.name() != "mode") continue;
    if (a.s() == "bilinear") a.set_s("linear");
    if (a.s() == "bicubic") a.set_s("cubic");
  }
  return true;
}

struct UpgradeRow {
  const char* op_type;
  int64_t changed_in;
  Converter convert;  // nullptr: no faithful conversion
  const char* change;
};

// clang-format off
const UpgradeRow kUpgradeTable[] = {
    {"BatchNormalization",   9, &convert_batchnorm_9,   "spatial was removed"},
    {"Slice",               10, &convert_slice,         "starts/ends/axes became inputs"},
    {"TopK",                10, &convert_topk,          "k became an input"},
    {"Dropout",             10, &convert_dropout_mask,  "the mask output became bool"},
    {"Upsample",            10, &convert_upsample,      "Upsample was replaced by Resize (modes nearest and linear convert)"},
    {"Resize",              11, nullptr,                "Resize-10 coordinate mapping differs from Resize-11"},
    {"Clip",                11, &convert_clip,          "min/max became inputs"},
    {"Pad",                 11, &convert_pad,           "pads/value became inputs"},
    {"Scatter",             11, nullptr,                "Scatter was deprecated (use ScatterElements)"},
    {"Dropout",             12, &convert_dropout,       "ratio became an input"},
    {"Squeeze",             13, &convert_axes,          "axes became an input"},
    {"Unsqueeze",           13, &convert_axes,          "axes became an input"},
    {"ReduceSum",           13, &convert_axes,          "axes became an input"},
    {"Split",               13, &convert_split_13,      "split became an input"},
    {"Softmax",             13, &convert_softmax,       "works along one axis instead of flattening"},
    {"LogSoftmax",          13, &convert_softmax,       "works along one axis instead of flattening"},
    {"Hardmax",             13, &convert_softmax,       "works along one axis instead of flattening"},
    {"BatchNormalization",  14, &convert_batchnorm,     "training outputs and spatial changed"},
    {"RoiAlign",            16, &convert_roialign,      "default coordinate_transformation_mode changed"},
    {"Split",               18, &convert_split_18,      "needs split or num_outputs"},
    {"ReduceMax",           18, &convert_axes,          "axes became an input"},
    {"ReduceMin",           18, &convert_axes,          "axes became an input"},
    {"ReduceMean",          18, &convert_axes,          "axes became an input"},
    {"ReduceProd",          18, &convert_axes,          "axes became an input"},
    {"ReduceL1",            18, &convert_axes,          "axes became an input"},
    {"ReduceL2",            18, &convert_axes,          "axes became an input"},
    {"ReduceLogSum",        18, &convert_axes,          "axes became an input"},
    {"ReduceLogSumExp",     18, &convert_axes,          "axes became an input"},
    {"ReduceSumSquare",     18, &convert_axes,          "axes became an input"},
    {"DFT",                 20, nullptr,                "axis became an input"},
    {"GridSample",          20, &convert_gridsample,    "mode names changed"},
    {"GroupNormalization",  21, nullptr,                "scale/bias became per channel"},
};
// clang-format on

void upgrade_graph(onnx::GraphProto& graph, int64_t from, int64_t to, UpgradeContext& ctx_top, bool top) {
  std::function<int(const std::string&)> unknown = [](const std::string&) { return -1; };
  UpgradeContext ctx{graph, ctx_top.names, top ? ctx_top.rank_of : unknown};
  for (auto& n : *graph.mutable_node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
    const std::string op_type = n.op_type();  // the rows of the model's op (a converter may replace it)
    for (const auto& row : kUpgradeTable) {
      if (op_type != row.op_type || row.changed_in <= from || row.changed_in > to) continue;
      if (!row.convert || !row.convert(n, ctx))
        PTQ_FAIL(UnsupportedError, "cannot raise the opset from ", from, " to ", to, ": node '", n.name(), "' (",
                 n.op_type(), "): ", row.change, " in opset ", row.changed_in,
                 "; convert the model first (onnx.version_converter) or choose options that keep its opset");
    }
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) upgrade_graph(*a.mutable_g(), from, to, ctx, false);
      for (auto& sg : *a.mutable_graphs()) upgrade_graph(sg, from, to, ctx, false);
    }
  }
}

}  // namespace

void upgrade_opset(onnx::ModelProto& model, int64_t from, int64_t to, const std::function<int(const std::string&)>& rank_of) {
  if (from < kOldestUpgradable)
    PTQ_FAIL(UnsupportedError, "cannot raise the opset from ", from, " to ", to, ": models below opset ",
             kOldestUpgradable, " are not supported; convert the model first (onnx.version_converter)");
  Names names(model.graph());
  UpgradeContext ctx{*model.mutable_graph(), names, rank_of};
  upgrade_graph(*model.mutable_graph(), from, to, ctx, true);
}

void check_opset_upgrade(const onnx::ModelProto& model, const std::string& file) {
  const int64_t from = onnx_io::default_opset(model);
  if (from >= 10) return;
  onnx::ModelProto copy = model;
  try {
    upgrade_opset(copy, from, 11, [](const std::string&) { return -1; });
  } catch (Error& e) {
    e.append_context(file);
    throw;
  }
}

}  // namespace ptq::rewrite

// SPDX-License-Identifier: Apache-2.0
// html_report.h: the HTML page, its tables and charts.
#include "ptq/report/html_report.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "ptq/ir/onnx_io.h"
#include "svg_chart.h"

namespace ptq::report {
namespace {

constexpr int kChartWidth = 960, kChartHeight = 260;
constexpr int kHistogramWidth = 460, kHistogramHeight = 150;

constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
    "th{background:#f0f0f0}td.n{text-align:right;font-family:monospace}"
    ".hist{display:inline-block;margin:6px 10px 6px 0;vertical-align:top}.hist p{margin:2px 0;font-size:12px}"
    ".bad{color:#b00}.note{color:#555;font-size:13px}";

std::string fixed(double v, int digits) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string cell(const std::string& text, bool number = false) {
  return std::string(number ? "<td class=\"n\">" : "<td>") + html_escape(text) + "</td>";
}

std::string header_row(const std::vector<std::string>& names) {
  std::string s = "<tr>";
  for (const auto& n : names) s += "<th>" + html_escape(n) + "</th>";
  return s + "</tr>";
}

std::string summary_section(const HtmlReport& r) {
  std::string s = "<h2 id=\"summary\">Summary</h2><table>";
  for (const auto& [key, value] : r.summary) s += "<tr><th>" + html_escape(key) + "</th>" + cell(value) + "</tr>";
  s += "</table>";
  if (!r.eval) return s + "<p class=\"note\">Not evaluated.</p>";
  s += "<h3>Outputs (" + std::to_string(r.eval->samples) + " samples)</h3><table>" +
       header_row({"output", "cosine", "SNR dB", "max |diff|", "top-1 agreement"});
  for (const auto& o : r.eval->outputs) {
    const std::string top1 = o.classifier && o.rows ? fixed(100.0 * o.top1_agree / static_cast<double>(o.rows), 2) + " %" : "";
    s += "<tr>" + cell(o.name) + cell(fixed(o.error.cosine(), 6), true) + cell(fixed(o.error.snr_db(), 2), true) +
         cell(fixed(o.error.max_abs, 6), true) + cell(top1, true) + "</tr>";
  }
  s += "</table>";
  if (r.eval->has_accuracy)
    s += "<p>Accuracy (top-1, " + std::to_string(r.eval->labelled_rows) + " labelled rows): FP32 " +
         fixed(100.0 * r.eval->accuracy_reference, 2) + " %, quantized " + fixed(100.0 * r.eval->accuracy_candidate, 2) + " %</p>";
  return s;
}

std::string error_section(const HtmlReport& r) {
  std::string s = "<h2 id=\"error\">Error per tensor, in graph order</h2>";
  if (r.errors.empty()) return s + "<p class=\"note\">No intermediate tensor was compared.</p>";
  std::vector<std::string> labels;
  ChartSeries acc{"accumulated SNR dB", "#d62728", {}}, own{"own rounding SNR dB", "#1f77b4", {}};
  bool any_own = false;
  for (const auto& e : r.errors) {
    labels.push_back(e.tensor);
    acc.values.push_back(e.snr_db);
    own.values.push_back(e.has_own ? e.own_snr_db : NAN);
    any_own |= e.has_own;
  }
  std::vector<ChartSeries> series{acc};
  if (any_own) series.push_back(own);
  s += "<p class=\"note\">Accumulated: the quantized model's tensor against FP32 (every quantizer above it on). "
       "Own: rounding and clipping this tensor alone. Hover a point for its tensor.</p>";
  s += svg_line_chart(labels, series, "SNR dB", kChartWidth, kChartHeight);
  ChartSeries cos{"accumulated cosine", "#2ca02c", {}};
  for (const auto& e : r.errors) cos.values.push_back(e.cosine);
  s += svg_line_chart(labels, {cos}, "cosine", kChartWidth, kChartHeight / 2 + 40);
  s += "<table>" + header_row({"#", "tensor", "cosine", "SNR dB", "own SNR dB"});
  for (size_t i = 0; i < r.errors.size(); ++i) {
    const auto& e = r.errors[i];
    s += "<tr>" + cell(std::to_string(i + 1), true) + cell(e.tensor) + cell(fixed(e.cosine, 6), true) + cell(fixed(e.snr_db, 2), true) +
         cell(e.has_own ? fixed(e.own_snr_db, 2) : "", true) + "</tr>";
  }
  return s + "</table>";
}

std::string histogram_section(const HtmlReport& r) {
  std::string s = "<h2 id=\"histograms\">Activation histograms and clip ranges</h2>";
  if (!r.histogram_note.empty()) s += "<p class=\"note\">" + html_escape(r.histogram_note) + "</p>";
  for (const auto& h : r.histograms) {
    std::vector<ChartMarker> markers = {
        {h.observed.lo, "#777", "observed min/max (minmax)", true}, {h.observed.hi, "#777", "observed min/max (minmax)", true},
        {h.chosen.lo, "#d62728", "chosen (" + h.method + ")", false}, {h.chosen.hi, "#d62728", "chosen (" + h.method + ")", false}};
    s += "<div class=\"hist\"><p><b>" + html_escape(h.tensor) + "</b> " + html_escape(h.dtype) + ", chosen [" + fixed(h.chosen.lo, 4) +
         ", " + fixed(h.chosen.hi, 4) + "], observed [" + fixed(h.observed.lo, 4) + ", " + fixed(h.observed.hi, 4) + "]</p>" +
         svg_histogram(h.counts, h.lo, h.hi, markers, kHistogramWidth, kHistogramHeight) + "</div>";
  }
  return s;
}

std::string layer_section(const HtmlReport& r) {
  std::string s = "<h2 id=\"precision\">Precision per layer</h2>";
  if (!r.layer_note.empty()) s += "<p class=\"note\">" + html_escape(r.layer_note) + "</p>";
  if (r.layers.empty()) return s;
  std::map<std::string, size_t> counts;
  for (const auto& l : r.layers) ++counts[l.precision];
  s += "<p>";
  for (const auto& [precision, n] : counts) s += html_escape(precision) + ": " + std::to_string(n) + (n == 1 ? " layer. " : " layers. ");
  s += "</p><table>" + header_row({"layer", "op", "precision (activations / weights)", "why"});
  for (const auto& l : r.layers)
    s += "<tr>" + cell(l.name) + cell(l.op_type) + (l.precision == "float" ? "<td class=\"bad\">float</td>" : cell(l.precision)) +
         cell(l.why) + "</tr>";
  return s + "</table>";
}

}  // namespace

std::string render_html(const HtmlReport& r) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(r.title) +
                  "</title><style>" + kStyle + "</style></head><body>\n<h1>" + html_escape(r.title) + "</h1>\n";
  s += summary_section(r) + "\n" + error_section(r) + "\n" + histogram_section(r) + "\n" + layer_section(r) + "\n";
  return s + "</body></html>\n";
}

void write_html(const HtmlReport& report, const std::filesystem::path& path) { onnx_io::write_file_atomic(path, render_html(report)); }

std::vector<HtmlTensorError> errors_in_order(const EvalResult& eval, const std::vector<std::string>& order) {
  std::map<std::string, const TensorMetrics*> by_name;
  for (const auto& t : eval.tensors) by_name[t.tensor] = &t;
  std::vector<HtmlTensorError> out;
  auto add = [&](const TensorMetrics& t) {
    out.push_back({t.tensor, t.error.cosine(), t.error.snr_db(), t.has_local, t.has_local ? t.local.snr_db() : 0.0});
  };
  for (const auto& name : order) {
    auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    add(*it->second);
    by_name.erase(it);
  }
  for (const auto& t : eval.tensors)
    if (by_name.count(t.tensor)) add(t);
  return out;
}

}  // namespace ptq::report

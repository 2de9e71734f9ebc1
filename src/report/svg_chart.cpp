// SPDX-License-Identifier: Apache-2.0
// svg_chart.h: line charts and histograms as inline SVG text.
#include "svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ptq::report {
namespace {

constexpr int kMarginLeft = 56, kMarginRight = 12, kMarginTop = 22, kMarginBottom = 26;

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

std::string tick(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

// "950", "34.5k", "1.2M": a count in a few characters.
std::string count_text(double v) {
  char text[32];
  if (v < 1e3) std::snprintf(text, sizeof text, "%.0f", v);
  else if (v < 1e6) std::snprintf(text, sizeof text, "%.1fk", v / 1e3);
  else std::snprintf(text, sizeof text, "%.1fM", v / 1e6);
  return text;
}

// Frame, y ticks (bottom, middle, top: `ticks`) and the y label.
std::string axes(int width, int height, const std::vector<std::string>& ticks, const std::string& y_label) {
  const int x0 = kMarginLeft, x1 = width - kMarginRight, top = kMarginTop, bottom = height - kMarginBottom;
  std::string s = "<rect x=\"" + std::to_string(x0) + "\" y=\"" + std::to_string(top) + "\" width=\"" + std::to_string(x1 - x0) +
                  "\" height=\"" + std::to_string(bottom - top) + "\" fill=\"#fafafa\" stroke=\"#999\"/>";
  for (size_t k = 0; k < ticks.size(); ++k) {
    const double y = bottom - (bottom - top) * static_cast<double>(k) / static_cast<double>(ticks.size() > 1 ? ticks.size() - 1 : 1);
    s += "<text x=\"" + std::to_string(x0 - 4) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\" font-size=\"10\">" + ticks[k] + "</text>";
  }
  if (!y_label.empty())
    s += "<text x=\"12\" y=\"" + num((top + bottom) / 2.0) + "\" font-size=\"11\" transform=\"rotate(-90 12 " + num((top + bottom) / 2.0) +
         ")\" text-anchor=\"middle\">" + html_escape(y_label) + "</text>";
  return s;
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& entries, int width) {
  std::string s;
  double x = kMarginLeft;
  for (const auto& [name, color] : entries) {
    s += "<rect x=\"" + num(x) + "\" y=\"6\" width=\"10\" height=\"10\" fill=\"" + html_escape(color) + "\"/>";
    s += "<text x=\"" + num(x + 14) + "\" y=\"15\" font-size=\"11\">" + html_escape(name) + "</text>";
    x += 24 + 6.5 * static_cast<double>(name.size());
    if (x > width - 40) break;
  }
  return s;
}

std::string open_svg(int width, int height, const std::string& role) {
  return "<svg class=\"chart\" role=\"img\" aria-label=\"" + html_escape(role) + "\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) + "\">";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_line_chart(const std::vector<std::string>& labels, const std::vector<ChartSeries>& series,
                           const std::string& y_label, int width, int height) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (labels.empty() || !std::isfinite(lo)) return "";
  if (hi - lo < 1e-9) lo -= 1.0, hi += 1.0;
  const double x0 = kMarginLeft, x1 = width - kMarginRight, top = kMarginTop, bottom = height - kMarginBottom;
  const double step = labels.size() > 1 ? (x1 - x0) / static_cast<double>(labels.size() - 1) : 0.0;
  auto px = [&](size_t i) { return labels.size() > 1 ? x0 + step * static_cast<double>(i) : (x0 + x1) / 2.0; };
  auto py = [&](double v) { return bottom - (v - lo) / (hi - lo) * (bottom - top); };
  std::string svg = open_svg(width, height, y_label) + axes(width, height, {tick(lo), tick((lo + hi) / 2.0), tick(hi)}, y_label);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& s : series) {
    keys.emplace_back(s.name, s.color);
    std::string path;
    bool pen = false;
    for (size_t i = 0; i < s.values.size() && i < labels.size(); ++i) {
      if (!std::isfinite(s.values[i])) {
        pen = false;
        continue;
      }
      path += (pen ? "L" : "M") + num(px(i)) + " " + num(py(s.values[i]));
      pen = true;
    }
    svg += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + html_escape(s.color) + "\" stroke-width=\"1.5\"/>";
    for (size_t i = 0; i < s.values.size() && i < labels.size(); ++i)
      if (std::isfinite(s.values[i]))
        svg += "<circle cx=\"" + num(px(i)) + "\" cy=\"" + num(py(s.values[i])) + "\" r=\"2.5\" fill=\"" + html_escape(s.color) +
               "\"><title>" + html_escape(labels[i]) + ": " + html_escape(s.name) + " " + tick(s.values[i]) + "</title></circle>";
  }
  svg += "<text x=\"" + num(x0) + "\" y=\"" + num(height - 8.0) + "\" font-size=\"10\">" + html_escape(labels.front()) + "</text>";
  if (labels.size() > 1)
    svg += "<text x=\"" + num(x1) + "\" y=\"" + num(height - 8.0) + "\" font-size=\"10\" text-anchor=\"end\">" + html_escape(labels.back()) + "</text>";
  return svg + legend(keys, width) + "</svg>";
}

std::string svg_histogram(const std::vector<double>& counts, double lo, double hi, const std::vector<ChartMarker>& markers,
                          int width, int height) {
  if (counts.empty() || !(hi > lo)) return "";
  double peak = 0.0;
  for (double c : counts) peak = std::max(peak, std::log1p(c));
  if (peak <= 0.0) peak = 1.0;
  const double x0 = kMarginLeft, x1 = width - kMarginRight, top = kMarginTop, bottom = height - kMarginBottom;
  const double bin = (x1 - x0) / static_cast<double>(counts.size());
  std::string path = "M" + num(x0) + " " + num(bottom);
  for (size_t i = 0; i < counts.size(); ++i) {
    const double y = bottom - std::log1p(counts[i]) / peak * (bottom - top);
    path += "L" + num(x0 + bin * static_cast<double>(i)) + " " + num(y) + "L" + num(x0 + bin * static_cast<double>(i + 1)) + " " + num(y);
  }
  path += "L" + num(x1) + " " + num(bottom) + "Z";
  std::string svg = open_svg(width, height, "histogram") + axes(width, height, {"0", count_text(std::expm1(peak / 2.0)), count_text(std::expm1(peak))}, "count (log)");
  svg += "<path d=\"" + path + "\" fill=\"#9ecae1\" stroke=\"#3182bd\" stroke-width=\"0.5\"/>";
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& m : markers) {
    const double x = x0 + (std::clamp(m.x, lo, hi) - lo) / (hi - lo) * (x1 - x0);
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" + num(bottom) + "\" stroke=\"" +
           html_escape(m.color) + "\" stroke-width=\"1.5\"" + (m.dashed ? " stroke-dasharray=\"4 3\"" : "") + "><title>" +
           html_escape(m.label) + " " + tick(m.x) + "</title></line>";
    if (keys.empty() || keys.back().first != m.label) keys.emplace_back(m.label, m.color);
  }
  svg += "<text x=\"" + num(x0) + "\" y=\"" + num(height - 8.0) + "\" font-size=\"10\">" + tick(lo) + "</text>";
  svg += "<text x=\"" + num(x1) + "\" y=\"" + num(height - 8.0) + "\" font-size=\"10\" text-anchor=\"end\">" + tick(hi) + "</text>";
  return svg + legend(keys, width) + "</svg>";
}

}  // namespace ptq::report

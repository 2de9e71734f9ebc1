// SPDX-License-Identifier: Apache-2.0
// Small inline-SVG charts for the HTML report (html_report.cpp): text only, no scripts, no external
// references (inline <svg> in HTML needs no namespace URL). Every label goes through html_escape.
// Coordinates are printed with fixed precision, so the same figures give the same bytes.
#pragma once

#include <string>
#include <vector>

namespace ptq::report {

// &, <, >, " and ' as entities: safe in element text and in quoted attributes.
std::string html_escape(const std::string& text);

struct ChartSeries {
  std::string name;
  std::string color;           // CSS colour, e.g. "#d62728"
  std::vector<double> values;  // one per x position; non-finite values are left out (gap)
};

// Points joined per series over x = 0..n-1 (labels[i] in each point's tooltip), y axis from the
// finite values' range, with a legend. Empty string when there is nothing to draw.
std::string svg_line_chart(const std::vector<std::string>& labels, const std::vector<ChartSeries>& series,
                           const std::string& y_label, int width, int height);

struct ChartMarker {
  double x = 0.0;
  std::string color;
  std::string label;
  bool dashed = false;
};

// A histogram of counts over [lo, hi] (equal bins), log-scaled heights (log1p), as one filled path,
// with vertical markers (a range's ends) and their legend.
std::string svg_histogram(const std::vector<double>& counts, double lo, double hi, const std::vector<ChartMarker>& markers,
                          int width, int height);

}  // namespace ptq::report

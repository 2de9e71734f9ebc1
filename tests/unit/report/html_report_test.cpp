// SPDX-License-Identifier: Apache-2.0
// render_html and its charts: names escaped everywhere, nothing external, errors put in graph order.
#include <gtest/gtest.h>

#include <cmath>

#include "ptq/report/html_report.h"

using namespace ptq;
using namespace ptq::report;

namespace {

TensorMetrics metrics(const std::string& name, float scale) {
  TensorMetrics t;
  t.tensor = name;
  const float a[] = {1.0f, 2.0f, 3.0f, 4.0f}, b[] = {1.0f, 2.0f, 3.0f, 4.0f * scale};
  t.error.add(a, b, 4);
  return t;
}

}  // namespace

TEST(HtmlReport, ErrorsFollowTheGivenOrderThenTheRest) {
  EvalResult r;
  r.tensors = {metrics("c", 1.5f), metrics("a", 1.1f), metrics("body/t", 1.2f), metrics("b", 1.0f)};
  auto e = errors_in_order(r, {"x", "a", "b", "c"});
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].tensor, "a");
  EXPECT_EQ(e[1].tensor, "b");
  EXPECT_EQ(e[2].tensor, "c");
  EXPECT_EQ(e[3].tensor, "body/t");
  // a: b = a except 4 → 4.4: SNR = 10 log10(30 / 0.16).
  EXPECT_NEAR(e[0].snr_db, 10.0 * std::log10(30.0 / (0.4 * 0.4)), 1e-4);
}

TEST(HtmlReport, EveryNameIsEscapedAndNothingIsExternal) {
  const std::string evil = "<script>alert('x')</script>&\"";
  EvalResult r;
  r.samples = 1;
  OutputMetrics o;
  o.name = evil;
  const float a[] = {1.0f, 2.0f}, b[] = {1.0f, 2.5f};
  o.error.add(a, b, 2);
  r.outputs.push_back(o);
  r.tensors = {metrics(evil, 1.1f), metrics("t2", 1.2f)};
  HtmlReport h;
  h.title = evil;
  h.summary = {{evil, evil}};
  h.eval = &r;
  h.errors = errors_in_order(r, {});
  HtmlHistogram hist;
  hist.tensor = evil;
  hist.method = evil;
  hist.lo = -1.0, hist.hi = 2.0;
  hist.counts = {0, 3, 10, 1};
  hist.chosen = Range{-0.5f, 1.5f};
  hist.observed = Range{-1.0f, 2.0f};
  h.histograms = {hist};
  h.layers = {{evil, "Conv", "uint8 / int8", evil}, {"fc", "Gemm", "float", "excluded"}};
  const std::string html = render_html(h);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"), std::string::npos);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // One line chart point per tensor for each series, one histogram path.
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("uint8 / int8: 1 layer."), std::string::npos);
  EXPECT_NE(html.find("<td class=\"bad\">float</td>"), std::string::npos);
}

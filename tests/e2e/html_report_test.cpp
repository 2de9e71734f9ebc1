// SPDX-License-Identifier: Apache-2.0
// --html, end to end: the file is self-contained (no network reference, no script), names every layer
// with its name escaped, and renders in a real browser: headless Chromium dumps a DOM holding the
// sections and layer names, and its screenshot is not blank. The browser checks are skipped only when
// no chromium is installed (tools/run_tests.sh installs Debian's).
#include <stb_image.h>

#include <cstdlib>
#include <set>

#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

constexpr int kMinColours = 8;              // a blank or one-colour page has 1
constexpr double kMinInkFraction = 0.005;   // pixels that are not the page's white background

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

const char* kEvilName = "stem<b>&\"x\"";
const char* kEvilEscaped = "stem&lt;b&gt;&amp;&quot;x&quot;";
// The same name as text in the browser's serialized DOM (quotes are not escaped in text nodes): a text
// node, not a <b> element.
const char* kEvilInDom = "stem&lt;b&gt;&amp;\"x\"";

struct HtmlRun {
  fs::path dir, model, calib, quantized, html, eval_html;
};

// test::write_classifier with its first Conv named kEvilName, quantized with --html, then compared by
// `eval --html`.
HtmlRun quantize_with_html() {
  HtmlRun r;
  const test::ClassifierFiles c = test::write_classifier(
      8, 6, 8, 4, 12, {kEvilName, "stem_relu", "pointwise_conv", "pw_relu", "gap", "flat", "classifier_fc"});
  r.dir = c.dir;
  r.model = c.model;
  r.calib = c.calib;
  r.quantized = r.dir / "q.onnx";
  r.html = r.dir / "report.html";
  r.eval_html = r.dir / "eval.html";
  auto run = test::run_quantize(q(r.model) + " --calib " + q(r.calib) + " -q -o " + q(r.quantized) + " --html " + q(r.html));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto eval = test::run_quantize("eval " + q(r.model) + " " + q(r.quantized) + " --data " + q(r.calib) + " -q --html " +
                                 q(r.eval_html));
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
  return r;
}

void expect_self_contained(const std::string& html) {
  for (const char* banned : {"http:", "https:", "<script", "<link", "url(", "@import", "<iframe", "<img"})
    EXPECT_EQ(html.find(banned), std::string::npos) << "the report contains " << banned;
  EXPECT_EQ(html.find(kEvilName), std::string::npos) << "a node name went in unescaped";
}

std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser"})
    if (test::run_command(std::string("command -v ") + name + " >/dev/null 2>&1").exit_code == 0) return name;
  return "";
}

std::string browser_command(const std::string& browser, const fs::path& dir) {
  return browser + " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --user-data-dir=" + q(dir / "chromium-profile");
}

}  // namespace

TEST(HtmlReport, MainAndEvalReportsAreSelfContainedAndNameTheLayers) {
  HtmlRun r = quantize_with_html();
  const std::string html = test::read_bytes(r.html);
  expect_self_contained(html);
  for (const char* section : {"Summary", "Error per tensor, in graph order", "Activation histograms", "Precision per layer"})
    EXPECT_NE(html.find(section), std::string::npos) << section;
  for (const char* layer : {kEvilEscaped, "pointwise_conv", "classifier_fc"}) EXPECT_NE(html.find(layer), std::string::npos) << layer;
  EXPECT_NE(html.find("<svg"), std::string::npos);
  // The histograms of the quantized activations: the graph input and the folded Relu's output at least.
  EXPECT_NE(html.find("<b>x</b>"), std::string::npos);
  EXPECT_NE(html.find("<b>r1</b>"), std::string::npos);
  const std::string eval = test::read_bytes(r.eval_html);
  expect_self_contained(eval);
  for (const char* layer : {kEvilEscaped, "pointwise_conv", "classifier_fc"}) EXPECT_NE(eval.find(layer), std::string::npos) << layer;
  EXPECT_NE(eval.find("uint8 / int8"), std::string::npos) << "eval reads the precision from the Q/DQ";
}

TEST(HtmlReport, RendersInHeadlessChromium) {
  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "chromium is not installed (tools/run_tests.sh installs it)";
  HtmlRun r = quantize_with_html();
  for (const fs::path& page : {r.html, r.eval_html}) {
    const std::string url = "file://" + page.string();
    auto dom = test::run_command(browser_command(browser, r.dir) + " --dump-dom " + q(url) + " 2>/dev/null");
    ASSERT_EQ(dom.exit_code, 0) << dom.err;
    EXPECT_NE(dom.out.find("Precision per layer"), std::string::npos) << page;
    for (const char* layer : {kEvilInDom, "pointwise_conv", "classifier_fc"}) EXPECT_NE(dom.out.find(layer), std::string::npos) << layer;
    EXPECT_NE(dom.out.find("<svg"), std::string::npos) << page;
    const fs::path png = page.string() + ".png";
    auto shot = test::run_command(browser_command(browser, r.dir) + " --window-size=1200,1600 --screenshot=" + q(png) + " " + q(url) +
                                  " >/dev/null 2>&1");
    ASSERT_EQ(shot.exit_code, 0);
    int w = 0, h = 0, channels = 0;
    unsigned char* pixels = stbi_load(png.string().c_str(), &w, &h, &channels, 3);
    ASSERT_NE(pixels, nullptr) << "cannot decode " << png;
    std::set<uint32_t> colours;
    size_t ink = 0;
    for (int i = 0; i < w * h; ++i) {
      const unsigned char* p = pixels + 3 * i;
      colours.insert(static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2]);
      ink += !(p[0] == 255 && p[1] == 255 && p[2] == 255);
    }
    stbi_image_free(pixels);
    EXPECT_EQ(w, 1200);
    EXPECT_GE(static_cast<int>(colours.size()), kMinColours) << page;
    EXPECT_GE(static_cast<double>(ink) / (static_cast<double>(w) * h), kMinInkFraction) << page;
  }
}

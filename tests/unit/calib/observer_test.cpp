// SPDX-License-Identifier: Apache-2.0
// Observers: a loop over every table row (empty and constant tensors, chunked == one-shot), hand-computed
// cases, and thresholds on synthetic Gaussian/Laplacian data against brute-force computations here.
#include "ptq/calib/observer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "observer_testutil.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
using ptq::test::raw_mse;

namespace {

constexpr int kBins = 2048;              // the histogram size every histogram observer documents
constexpr double kMseSlack = 0.02;       // histogram-based MSE vs brute force on raw values: 2% more error at most
constexpr double kAdmmSlack = 1e-9;      // ADMM loss vs brute-force optimum (relative)

const QuantSpec kUInt8{QType::UInt8, false, false};
const QuantSpec kInt8Sym{QType::Int8, true, false};
const QuantSpec kInt4Sym{QType::Int4, true, false};

// Every observer factory: both columns of the method table and the weight observer table.
std::vector<std::pair<std::string, ObserverFactory>> all_factories() {
  std::vector<std::pair<std::string, ObserverFactory>> all;
  for (const auto& e : observer_table()) {
    all.emplace_back(std::string(e.name) + " (activations)", e.make_activation);
    all.emplace_back(std::string(e.name) + " (weights)", e.make_weight);
  }
  for (const auto& e : weight_observer_table()) all.emplace_back(std::string("--weight-range ") + e.name, e.make);
  return all;
}

// Runs an observer over the chunks (each chunk = one observe() call).
Range run(Observer& obs, const std::vector<std::vector<float>>& chunks) {
  for (const auto& c : chunks) obs.observe(c.data(), c.size());
  return obs.compute_range();
}

Range run(ObserverFactory make, const ObserverConfig& config, const std::vector<std::vector<float>>& chunks) {
  auto obs = make(config);
  return run(*obs, chunks);
}

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> laplacian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(n);
  for (auto& x : v) x = sign(rng) ? e(rng) : -e(rng);
  return v;
}

float absmax(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

}  // namespace

TEST(ObserverTable, NamesAreUniqueAndLookedUp) {
  const auto& table = observer_table();
  ASSERT_GE(table.size(), 5u);
  for (const auto& e : table) {
    EXPECT_EQ(&find_observer(e.name), &e);
    EXPECT_NE(e.make_activation, nullptr) << e.name;
    EXPECT_NE(e.make_weight, nullptr) << e.name;
    EXPECT_NE(std::string(e.help), "") << e.name;
  }
  try {
    find_observer("kll");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown calibration method 'kll'; expected one of: minmax, kl"), std::string::npos) << e.what();
  }
}

TEST(ObserverTable, EveryRowSurvivesEmptyAndConstantTensors) {
  for (const auto& [name, make] : all_factories())
    for (const QuantSpec& spec : {kUInt8, kInt8Sym, kInt4Sym}) {
      ObserverConfig cfg;
      cfg.spec = spec;
      Range empty = run(make, cfg, {{}, {}});
      EXPECT_EQ(empty.lo, 0.0f) << name;
      EXPECT_EQ(empty.hi, 0.0f) << name;
      EXPECT_NO_THROW(compute_qparams(empty, spec)) << name;
      for (float c : {0.0f, 3.5f, -2.0f}) {
        Range r = run(make, cfg, {std::vector<float>(100, c), {}, std::vector<float>(7, c)});
        ASSERT_TRUE(std::isfinite(r.lo) && std::isfinite(r.hi) && r.lo <= r.hi) << name << " " << c;
        QParams p = compute_qparams(r, spec);
        // A constant tensor must come back (nearly) exactly: no method may clip it away.
        float back = fake_quantize_value(c, p.scale[0], p.zero_point[0], p.type);
        EXPECT_NEAR(back, c, std::fabs(c) * 0.01f + 1e-6f) << name << " constant " << c << " " << qtype_name(spec.type)
                                                         << " sym " << spec.symmetric;
      }
    }
}

TEST(ObserverTable, ChunkedEqualsOneShot) {
  std::vector<float> data = laplacian(5000, 7);
  data[17] = 9.0f;  // an outlier in the first chunk
  std::vector<std::vector<float>> chunks = {std::vector<float>(data.begin(), data.begin() + 1234),
                                            std::vector<float>(data.begin() + 1234, data.begin() + 1235),
                                            std::vector<float>(data.begin() + 1235, data.end())};
  for (const auto& [name, make] : all_factories())
    for (const QuantSpec& spec : {kUInt8, kInt8Sym, kInt4Sym}) {
      ObserverConfig cfg;
      cfg.spec = spec;
      Range whole = run(make, cfg, {data});
      Range parts = run(make, cfg, chunks);
      EXPECT_EQ(whole.lo, parts.lo) << name;
      EXPECT_EQ(whole.hi, parts.hi) << name;
    }
}

TEST(MinMax, HandComputed) {
  ObserverConfig cfg;
  Range r = run(find_observer("minmax").make_activation, cfg, {{1.0f, -2.0f}, {3.0f}, {}});
  EXPECT_EQ(r.lo, -2.0f);
  EXPECT_EQ(r.hi, 3.0f);
  cfg.moving_average = 0.5f;  // m <- m + 0.5 (m_call - m): lo 0 -> -1, hi 2 -> 3
  r = run(find_observer("minmax").make_activation, cfg, {{0.0f, 2.0f}, {-2.0f, 4.0f}});
  EXPECT_EQ(r.lo, -1.0f);
  EXPECT_EQ(r.hi, 3.0f);
  cfg.moving_average = 1.5f;
  EXPECT_THROW(find_observer("minmax").make_activation(cfg), UsageError);
}

TEST(Percentile, HandComputed) {
  // absmax 2048 -> bins of width 1 over |x|; 99 of 100 values lie in bin 0, so p = 99 cuts at its upper edge 1.
  std::vector<float> v(99, 0.5f);
  v.push_back(2048.0f);
  ObserverConfig cfg;
  cfg.spec = kInt8Sym;
  cfg.percentile = 99.0f;
  Range r = run(find_observer("percentile").make_activation, cfg, {v});
  EXPECT_EQ(r.lo, 0.5f);  // [max(min, -T), min(max, T)] with min 0.5
  EXPECT_EQ(r.hi, 1.0f);
  // Two-sided: values -1024 (1), 0.25 (98), 1023.75 (1) over [-1024, 1024] in bins of width 1; p = 98
  // cuts 1 value on each side: lo = lower edge of bin 1024 (0.0), hi = its upper edge 1.0.
  std::vector<float> w(98, 0.25f);
  w.push_back(-1024.0f);
  w.push_back(1024.0f);
  cfg.spec = kUInt8;
  cfg.percentile = 98.0f;
  r = run(find_observer("percentile").make_activation, cfg, {w});
  EXPECT_EQ(r.lo, 0.0f);
  EXPECT_EQ(r.hi, 1.0f);
  cfg.percentile = 100.0f;
  r = run(find_observer("percentile").make_activation, cfg, {w});
  EXPECT_EQ(r.lo, -1024.0f);
  EXPECT_EQ(r.hi, 1024.0f);
}

TEST(Admm, HandComputed) {
  // int8 symmetric, C = 127, a0 = 100/(1.25*127); iterations (by hand):
  //   q = [2,3,5,127] -> a = 12723/16167;  q = [1,3,4,127] -> a = 12719/16155;  q unchanged: stop.
  ObserverConfig cfg;
  cfg.spec = kInt8Sym;
  Range r = run(find_observer("admm").make_weight, cfg, {{1.0f, 2.0f, 3.0f, 100.0f}});
  const double a = 12719.0 / 16155.0;
  EXPECT_FLOAT_EQ(r.hi, static_cast<float>(127 * a));
  EXPECT_FLOAT_EQ(r.lo, static_cast<float>(-127 * a));
  EXPECT_NEAR(compute_qparams(r, cfg.spec).scale[0], a, 1e-7);
}

// ---- Synthetic data against brute force ----------------------------------------------------------

namespace {

// The KL search on ptq's grid written out directly from its description, bin by bin (independent of
// kl.cpp and window_search.cpp), over every threshold T = e·w of a |x| histogram (symmetric specs) or of
// x >= 0 (uint8 on non-negative data): KL and expected squared error of each candidate; the guard keeps
// candidates within kKlGuard of the least error.
struct BruteKl {
  double threshold;  // the guarded argmin (ties: larger T)
  double kl;         // its divergence
  double least_error;
  int first;                         // e of kls[0]
  std::vector<double> kls, errors;   // per e = first, first + 1, ..., kBins
};
constexpr double kKlGuard = 2.0;

BruteKl brute_kl(const std::vector<float>& v, const QuantSpec& spec) {
  const double amax = absmax(v), width = amax / kBins;
  std::vector<double> hist(kBins, 0.0);
  for (float x : v) {
    if (x == 0.0f) continue;
    int b = static_cast<int>(std::floor(std::fabs(static_cast<double>(x)) / width));
    hist[static_cast<size_t>(std::min(b, kBins - 1))] += 1.0;
  }
  auto smoothed = [](std::vector<double> d) {
    double zeros = 0;
    for (double x : d) zeros += x == 0;
    for (double& x : d) x = x == 0 ? 1e-4 : x - 1e-4 * zeros / (static_cast<double>(d.size()) - zeros);
    double s = 0;
    for (double x : d) s += x;
    for (double& x : d) x /= s;
    return d;
  };
  const int levels = static_cast<int>(spec.symmetric ? (spec.qmax() - spec.qmin()) / 2 + 1 : spec.qmax() - spec.qmin() + 1);
  std::vector<double> kls, errors;
  for (int e = levels; e <= kBins; ++e) {
    const double t = e * width;
    QParams p = compute_qparams(spec.symmetric ? Range{static_cast<float>(-t), static_cast<float>(t)} : Range{0.0f, static_cast<float>(t)}, spec);
    auto code = [&](int k) { return quantize_value(static_cast<float>((k + 0.5) * width), p.scale[0], p.zero_point[0], spec.qmin(), spec.qmax()); };
    double err = 0;
    for (int k = 0; k < kBins; ++k) {
      double c = (k + 0.5) * width, d = (code(k) - p.zero_point[0]) * static_cast<double>(p.scale[0]) - c;
      err += hist[static_cast<size_t>(k)] * d * d;
    }
    std::vector<double> pd(hist.begin(), hist.begin() + e), q(static_cast<size_t>(e), 0.0);
    for (int k = e; k < kBins; ++k) pd[static_cast<size_t>(e - 1)] += hist[static_cast<size_t>(k)];
    for (int k = 0; k < e;) {  // one level: the bins sharing a code
      int j = k;
      double sum = 0, nonzero = 0;
      for (; j < e && code(j) == code(k); ++j) sum += hist[static_cast<size_t>(j)], nonzero += pd[static_cast<size_t>(j)] != 0;
      for (int m = k; m < j; ++m)
        if (pd[static_cast<size_t>(m)] != 0) q[static_cast<size_t>(m)] = sum / nonzero;
      k = j;
    }
    std::vector<double> ps = smoothed(pd), qs = smoothed(q);
    double kl = 0;
    for (size_t k = 0; k < ps.size(); ++k) kl += ps[k] * std::log(ps[k] / qs[k]);
    kls.push_back(kl);
    errors.push_back(err);
  }
  BruteKl r{0, std::numeric_limits<double>::infinity(), *std::min_element(errors.begin(), errors.end()), levels, kls, errors};
  for (size_t i = 0; i < kls.size(); ++i)
    if (errors[i] <= kKlGuard * r.least_error && kls[i] <= r.kl) r.kl = kls[i], r.threshold = (levels + static_cast<double>(i)) * width;
  return r;
}

// Exact symmetric percentile of |x|: the smallest value with at least p% of |x| at or below it.
double exact_abs_percentile(const std::vector<float>& v, double p) {
  std::vector<double> a;
  for (float x : v) a.push_back(std::fabs(static_cast<double>(x)));
  std::sort(a.begin(), a.end());
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(a.size()))) - 1;
  return a[k];
}

}  // namespace

TEST(SyntheticData, KlMatchesBruteForce) {
  // The observer sweeps coarse to fine and sums in another order; on these smooth histograms the KL
  // curve is flat near its minimum, so the test checks the objective: the chosen threshold is eligible
  // (error within the guard) and its divergence within kKlSlack of the exhaustive search's optimum.
  constexpr double kKlSlack = 0.05;  // the coarse sweep (every 8th bin, then refined) may miss the optimum by this
  for (uint32_t seed : {1u, 2u}) {
    for (const auto& raw : {gaussian(200000, seed), laplacian(200000, seed)}) {
      for (const QuantSpec& spec : {kInt8Sym, kUInt8}) {
        std::vector<float> v = raw;
        if (!spec.symmetric)
          for (float& x : v) x = std::fabs(x);  // uint8 on non-negative data: 256 levels over [0, T]
        ObserverConfig cfg;
        cfg.spec = spec;
        Range r = run(find_observer("kl").make_activation, cfg, {v});
        const BruteKl b = brute_kl(v, spec);
        const float lo = *std::min_element(v.begin(), v.end());
        const double t = std::max(r.hi, -r.lo);  // the threshold: one side is clipped at it, or it is absmax
        const size_t chosen = static_cast<size_t>(std::lround(t / (absmax(v) / kBins))) - static_cast<size_t>(b.first);
        ASSERT_LT(chosen, b.kls.size());
        EXPECT_LE(b.errors[chosen], kKlGuard * b.least_error * (1 + 1e-9)) << "sym " << spec.symmetric << " seed " << seed;
        EXPECT_LE(b.kls[chosen], b.kl * (1 + kKlSlack)) << "sym " << spec.symmetric << " seed " << seed;
        EXPECT_EQ(r.lo, spec.symmetric ? std::max(lo, static_cast<float>(-t)) : lo);
      }
    }
  }
}

TEST(SyntheticData, SignedAsymmetricSearchesBothEdges) {
  // A SiLU output, x·sigmoid(x) with x ~ N(0, 3^2): [-0.28, ~13], asymmetric uint8. Both edges move
  // (coordinate descent): the mse range must be as good as the best of a brute-force grid of
  // (lo, hi) pairs on the raw values, and kl must stay within the guard of it.
  std::vector<float> v = gaussian(60000, 11);
  for (float& x : v) x = 3.0f * x / (1.0f + std::exp(-3.0f * x));
  const float lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  double best = std::numeric_limits<double>::infinity();
  for (int i = 1; i <= 40; ++i)
    for (int j = 1; j <= 80; ++j) best = std::min(best, raw_mse(v, Range{lo * i / 40.0f, hi * j / 80.0f}, kUInt8));
  ObserverConfig cfg;
  cfg.spec = kUInt8;
  const Range mse = run(find_observer("mse").make_activation, cfg, {v});
  const Range kl = run(find_observer("kl").make_activation, cfg, {v});
  EXPECT_LE(raw_mse(v, mse, kUInt8), best * (1.0 + kMseSlack));
  EXPECT_LT(mse.hi, hi);  // the long side is clipped
  EXPECT_LE(raw_mse(v, kl, kUInt8), kKlGuard * best * (1.0 + kMseSlack));
}

TEST(SyntheticData, KlGuardKeepsAnEnergeticTail) {
  // 99.7 % of the values in [0, 1], 0.3 % spread up to 6 (a ReLU6 output): counting values, KL alone
  // clips the tail; the squared-error guard keeps the range within 3 dB of the least-error one.
  std::mt19937 rng(9);
  std::exponential_distribution<float> body(4.0f);
  std::uniform_real_distribution<float> tail(1.0f, 6.0f);
  std::vector<float> v(300000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 333 == 0 ? tail(rng) : std::min(body(rng), 1.0f);
  ObserverConfig cfg;
  cfg.spec = kUInt8;
  Range kl = run(find_observer("kl").make_activation, cfg, {v});
  Range mse = run(find_observer("mse").make_activation, cfg, {v});
  EXPECT_LE(raw_mse(v, kl, kUInt8), kKlGuard * 1.05 * raw_mse(v, mse, kUInt8));
  EXPECT_GT(kl.hi, 3.0f);
}

TEST(SyntheticData, SaturatedEndsAreKept) {
  // 8-bit pixels normalized to [-1, 1] (p / 127.5 - 1, p ~ N(128, 64^2) rounded and clamped: 2.3 % of
  // them saturated at each end). Counting values, kl and mse would clip the ends by a bin or more;
  // they keep both, as percentile does. On the same values before the clamp (the control: a tail, not
  // a saturation) they clip.
  std::vector<float> raw = gaussian(200000, 21), pixels(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    raw[i] = (std::nearbyint(128.0f + 64.0f * raw[i])) / 127.5f - 1.0f;
    pixels[i] = std::clamp(raw[i], -1.0f, 1.0f);
  }
  ObserverConfig cfg;
  cfg.spec = kUInt8;
  for (const char* method : {"kl", "mse"}) {
    const Range r = run(find_observer(method).make_activation, cfg, {pixels});
    EXPECT_EQ(r.lo, -1.0f) << method;
    EXPECT_EQ(r.hi, 1.0f) << method;
    const Range control = run(find_observer(method).make_activation, cfg, {raw});
    EXPECT_LT(control.hi, *std::max_element(raw.begin(), raw.end())) << method;
  }
}

TEST(SyntheticData, PercentileWithinOneBinOfExact) {
  for (const auto& v : {gaussian(100000, 3), laplacian(100000, 3)}) {
    for (float p : {99.0f, 99.9f, 99.999f}) {
      ObserverConfig cfg;
      cfg.spec = kInt8Sym;
      cfg.percentile = p;
      Range r = run(find_observer("percentile").make_activation, cfg, {v});
      double exact = exact_abs_percentile(v, p), bin = absmax(v) / kBins;
      EXPECT_GE(r.hi, exact - 1e-6) << p;
      EXPECT_LE(r.hi, exact + bin + 1e-6) << p;
    }
  }
}

TEST(SyntheticData, MseMatchesBruteForce) {
  for (const auto& v : {gaussian(50000, 4), laplacian(50000, 4)}) {
    for (const QuantSpec& spec : {kInt8Sym, kUInt8}) {
      ObserverConfig cfg;
      cfg.spec = spec;
      Range r = run(find_observer("mse").make_activation, cfg, {v});
      // Brute force on the raw values over 1000 thresholds spanning (0, absmax].
      const float amax = absmax(v), lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
      double best = std::numeric_limits<double>::infinity();
      for (int k = 1; k <= 1000; ++k) {
        float t = amax * static_cast<float>(k) / 1000.0f;
        best = std::min(best, raw_mse(v, Range{std::max(lo, -t), std::min(hi, t)}, spec));
      }
      double got = raw_mse(v, r, spec);
      EXPECT_LE(got, best * (1.0 + kMseSlack)) << "sym " << spec.symmetric;
      EXPECT_LT(got, raw_mse(v, Range{lo, hi}, spec));  // clipping helps on these tails
    }
  }
}

namespace {

constexpr double kLevels64 = 64.0;  // int8 symmetric reduce-range levels [-64, 64]

double admm_loss(const std::vector<float>& v, double s) {
  double e = 0;
  for (float x : v) {
    double d = x - s * std::clamp(std::nearbyint(x / s), -kLevels64, kLevels64);
    e += d * d;
  }
  return e;
}

// Lowest loss over every level assignment a fine grid of scales produces, each with its optimal scale.
double brute_admm_optimum(const std::vector<float>& v) {
  double best = std::numeric_limits<double>::infinity();
  const double top = 2.0 * absmax(v) / kLevels64;
  for (int k = 1; k <= 200000; ++k) {
    double s = top * k / 200000.0, xq = 0, qq = 0;
    for (float x : v) {
      double q = std::clamp(std::nearbyint(x / s), -kLevels64, kLevels64);
      xq += x * q;
      qq += q * q;
    }
    if (qq > 0) best = std::min(best, admm_loss(v, xq / qq));
  }
  return best;
}

Range admm_weight_range(const std::vector<float>& v) {
  ObserverConfig cfg;
  cfg.spec = QuantSpec{QType::Int8, true, true};
  return run(find_observer("admm").make_weight, cfg, {v});
}

}  // namespace

TEST(SyntheticData, AdmmConvergesToAFixedPoint) {
  // Alternating least squares stops where neither step changes anything: the scale is the exact
  // least-squares scale of its own levels, and the error is no worse than at either start (the
  // min/max scale and MNN's max/(1.25 C)).
  for (uint32_t seed = 0; seed < 8; ++seed) {
    std::vector<float> v = laplacian(500, 100 + seed);
    v[0] = 9.0f;
    const double a = admm_weight_range(v).hi / kLevels64;
    double xq = 0, qq = 0;
    for (float x : v) {
      double q = std::clamp(std::nearbyint(x / a), -kLevels64, kLevels64);
      xq += x * q;
      qq += q * q;
    }
    EXPECT_NEAR(a, xq / qq, 1e-6 * a) << seed;
    EXPECT_LE(admm_loss(v, a), admm_loss(v, absmax(v) / kLevels64)) << seed;
    EXPECT_LE(admm_loss(v, a), admm_loss(v, absmax(v) / (1.25 * kLevels64))) << seed;
  }
}

TEST(SyntheticData, AdmmReachesLeastSquaresOptimumOnSmallCases) {
  // Values near a grid s·q (q integers in [-64, 64], one at 64, noise up to 0.2 s): the least-squares
  // optimum is near s, and the brute force confirms ADMM reaches it.
  for (uint32_t seed = 0; seed < 6; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> level(-64, 64);
    std::uniform_real_distribution<float> noise(-0.2f, 0.2f);
    const float s = 0.05f * static_cast<float>(seed + 1);
    std::vector<float> v = {64 * s};
    for (int k = 0; k < 10; ++k) v.push_back(s * (static_cast<float>(level(rng)) + noise(rng)));
    const double a = admm_weight_range(v).hi / kLevels64;
    EXPECT_LE(admm_loss(v, a), brute_admm_optimum(v) * (1.0 + kAdmmSlack) + 1e-12) << "seed " << seed;
    EXPECT_NEAR(a, s, 0.02 * s) << "seed " << seed;
  }
}

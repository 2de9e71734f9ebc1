// SPDX-License-Identifier: Apache-2.0
// LSTM, GRU and RNN against the ONNX equations evaluated per element here: bidirectional, sequence_lens,
// initial states, peepholes, clip, linear_before_reset, custom activations, layout 1; com.microsoft
// DynamicQuantizeLSTM against the LSTM on the weights it dequantizes to.
#include <cmath>
#include <functional>

#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kTol = 1e-4f;  // float recurrences of a few steps vs double references
constexpr int64_t T = 5, B = 3, I = 4, H = 6;
const std::vector<int32_t> kLens = {5, 2, 4};

using Fn = std::function<double(double)>;
double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

struct RnnRef {
  std::vector<float> y, y_h, y_c;
};

// pre[g][k] = x W_g + h R_g + biases for one batch entry and step.
double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Shared driver: runs `cell(d, b, t, h, c)` over each direction, batch entry and valid step.
RnnRef drive(int dirs, const std::vector<float>& h0, const std::vector<float>& c0,
             const std::function<void(int, int64_t, int64_t, std::vector<double>&, std::vector<double>&)>& cell) {
  RnnRef r;
  r.y.assign(static_cast<size_t>(T * dirs * B * H), 0.0f);
  r.y_h.assign(static_cast<size_t>(dirs * B * H), 0.0f);
  r.y_c = r.y_h;
  for (int d = 0; d < dirs; ++d)
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(h0.begin() + (d * B + b) * H, h0.begin() + (d * B + b + 1) * H);
      std::vector<double> c(c0.begin() + (d * B + b) * H, c0.begin() + (d * B + b + 1) * H);
      const int64_t len = kLens[static_cast<size_t>(b)];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = d == 1 ? len - 1 - s : s;
        cell(d, b, t, h, c);
        for (int64_t k = 0; k < H; ++k) r.y[static_cast<size_t>(((t * dirs + d) * B + b) * H + k)] = static_cast<float>(h[static_cast<size_t>(k)]);
      }
      for (int64_t k = 0; k < H; ++k) {
        r.y_h[static_cast<size_t>((d * B + b) * H + k)] = static_cast<float>(h[static_cast<size_t>(k)]);
        r.y_c[static_cast<size_t>((d * B + b) * H + k)] = static_cast<float>(c[static_cast<size_t>(k)]);
      }
    }
  return r;
}

struct Weights {
  Tensor x, w, r, bias, h0, c0, p;
};

Weights make_weights(int64_t gates, uint32_t seed) {
  Weights w;
  w.x = test::random_tensor({T, B, I}, seed);
  w.w = test::random_tensor({2, gates * H, I}, seed + 1);
  w.r = test::random_tensor({2, gates * H, H}, seed + 2);
  w.bias = test::random_tensor({2, 2 * gates * H}, seed + 3);
  w.h0 = test::random_tensor({2, B, H}, seed + 4);
  w.c0 = test::random_tensor({2, B, H}, seed + 5);
  w.p = test::random_tensor({2, 3 * H}, seed + 6);
  return w;
}

RnnRef ref_lstm(const Weights& w, double clip) {
  auto cl = [clip](double v) { return std::min(std::max(v, -clip), clip); };
  return drive(2, w.h0.to_vector<float>(), w.c0.to_vector<float>(), [&](int d, int64_t b, int64_t t, std::vector<double>& h, std::vector<double>& c) {
    const float* xt = w.x.data<float>() + (t * B + b) * I;
    std::vector<float> hf(h.begin(), h.end());
    auto pre = [&](int g, int64_t k) {
      const int64_t row = g * H + k;
      return dot(xt, w.w.data<float>() + (d * 4 * H + row) * I, I) + dot(hf.data(), w.r.data<float>() + (d * 4 * H + row) * H, H) +
             w.bias.data<float>()[d * 8 * H + row] + w.bias.data<float>()[d * 8 * H + 4 * H + row];
    };
    const float* p = w.p.data<float>() + d * 3 * H;
    for (int64_t k = 0; k < H; ++k) {
      size_t kk = static_cast<size_t>(k);
      double i = sigmoid(cl(pre(0, k) + p[k] * c[kk]));
      double f = sigmoid(cl(pre(2, k) + p[2 * H + k] * c[kk]));
      double g = std::tanh(cl(pre(3, k)));
      c[kk] = f * c[kk] + i * g;
      double o = sigmoid(cl(pre(1, k) + p[H + k] * c[kk]));
      h[kk] = o * std::tanh(c[kk]);
    }
  });
}

RnnRef ref_gru(const Weights& w, bool lbr, const Fn& f, const Fn& g) {
  std::vector<float> zeros(static_cast<size_t>(2 * B * H), 0.0f);
  return drive(2, w.h0.to_vector<float>(), zeros, [&](int d, int64_t b, int64_t t, std::vector<double>& h, std::vector<double>&) {
    const float* xt = w.x.data<float>() + (t * B + b) * I;
    const float* wb = w.bias.data<float>() + d * 6 * H;
    std::vector<float> hf(h.begin(), h.end());
    auto xw = [&](int gate, int64_t k) { return dot(xt, w.w.data<float>() + (d * 3 * H + gate * H + k) * I, I) + wb[gate * H + k]; };
    auto hr = [&](const float* v, int gate, int64_t k) { return dot(v, w.r.data<float>() + (d * 3 * H + gate * H + k) * H, H) + wb[3 * H + gate * H + k]; };
    std::vector<double> z(static_cast<size_t>(H)), r(static_cast<size_t>(H));
    std::vector<float> rh(static_cast<size_t>(H));
    for (int64_t k = 0; k < H; ++k) {
      z[static_cast<size_t>(k)] = f(xw(0, k) + hr(hf.data(), 0, k));
      r[static_cast<size_t>(k)] = f(xw(1, k) + hr(hf.data(), 1, k));
      rh[static_cast<size_t>(k)] = static_cast<float>(r[static_cast<size_t>(k)] * h[static_cast<size_t>(k)]);
    }
    for (int64_t k = 0; k < H; ++k) {
      size_t kk = static_cast<size_t>(k);
      double n = lbr ? g(xw(2, k) + r[kk] * hr(hf.data(), 2, k)) : g(xw(2, k) + hr(rh.data(), 2, k));
      h[kk] = (1 - z[kk]) * n + z[kk] * h[kk];
    }
  });
}

RnnRef ref_rnn(const Weights& w, const Fn& f) {
  std::vector<float> zeros(static_cast<size_t>(2 * B * H), 0.0f);
  return drive(2, w.h0.to_vector<float>(), zeros, [&](int d, int64_t b, int64_t t, std::vector<double>& h, std::vector<double>&) {
    const float* xt = w.x.data<float>() + (t * B + b) * I;
    const float* wb = w.bias.data<float>() + d * 2 * H;
    std::vector<float> hf(h.begin(), h.end());
    for (int64_t k = 0; k < H; ++k)
      h[static_cast<size_t>(k)] = f(dot(xt, w.w.data<float>() + (d * H + k) * I, I) + dot(hf.data(), w.r.data<float>() + (d * H + k) * H, H) +
                                    wb[k] + wb[H + k]);
  });
}

OpCase rnn_case(const std::string& node, const Weights& w, bool lstm) {
  OpCase op;
  op.node = node;
  op.inputs = {{"x", w.x}, {"w", w.w}, {"r", w.r}, {"bias", w.bias}, {"lens", test::tensor_of(kLens, {B})}, {"h0", w.h0}};
  if (lstm) {
    op.inputs.push_back({"c0", w.c0});
    op.inputs.push_back({"p", w.p});
    op.outputs = {{"y", DType::Float32}, {"yh", DType::Float32}, {"yc", DType::Float32}};
  } else {
    op.outputs = {{"y", DType::Float32}, {"yh", DType::Float32}};
  }
  return op;
}

}  // namespace

TEST(LSTM, BidirectionalSequenceLensPeepholesClip) {
  Weights w = make_weights(4, 100);
  OpCase op = rnn_case("y, yh, yc = LSTM <direction = \"bidirectional\", hidden_size = 6, clip = 1.5> (x, w, r, bias, lens, h0, c0, p)", w, true);
  auto out = test::run_op(op);
  RnnRef ref = ref_lstm(w, 1.5);
  EXPECT_EQ(out[0].shape(), (Shape{T, 2, B, H}));
  test::expect_near_all(out[0], ref.y, kTol, "Y");
  test::expect_near_all(out[1], ref.y_h, kTol, "Y_h");
  test::expect_near_all(out[2], ref.y_c, kTol, "Y_c");
}

TEST(LSTM, BatchMajorLayoutIsTheTransposedProblem) {
  Weights w = make_weights(4, 200);
  OpCase op0 = rnn_case("y, yh, yc = LSTM <direction = \"bidirectional\", hidden_size = 6> (x, w, r, bias, lens, h0, c0, p)", w, true);
  auto ref = test::run_op(op0);
  // layout 1: X [B, T, I], states [B, dirs, H], Y [B, T, dirs, H].
  auto swap01 = [](const Tensor& t) {
    Shape s = t.shape();
    std::swap(s[0], s[1]);
    Tensor out(DType::Float32, s);
    int64_t inner = t.numel() / (s[0] * s[1]);
    for (int64_t a = 0; a < s[1]; ++a)
      for (int64_t b = 0; b < s[0]; ++b)
        std::memcpy(out.data<float>() + (b * s[1] + a) * inner, t.data<float>() + (a * s[0] + b) * inner, static_cast<size_t>(inner) * sizeof(float));
    return out;
  };
  Weights wt = w;
  wt.x = swap01(w.x);
  wt.h0 = swap01(w.h0);
  wt.c0 = swap01(w.c0);
  OpCase op1 = rnn_case("y, yh, yc = LSTM <direction = \"bidirectional\", hidden_size = 6, layout = 1> (x, w, r, bias, lens, h0, c0, p)", wt, true);
  op1.opsets = "\"\" : 14";
  auto out = test::run_op(op1);
  ASSERT_EQ(out[0].shape(), (Shape{B, T, 2, H}));
  // Y [T, D, B, H] -> [B, T, D, H]: swap T and (D, B) blocks entry by entry.
  for (int64_t t = 0; t < T; ++t)
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < H; ++k)
          ASSERT_EQ(out[0].data<float>()[((b * T + t) * 2 + d) * H + k], ref[0].data<float>()[((t * 2 + d) * B + b) * H + k]);
  test::expect_same_bits(out[1], swap01(ref[1]), "Y_h");
  test::expect_same_bits(out[2], swap01(ref[2]), "Y_c");
}

TEST(GRU, BidirectionalBothResetForms) {
  for (int lbr = 0; lbr < 2; ++lbr) {
    Weights w = make_weights(3, static_cast<uint32_t>(300 + lbr));
    OpCase op = rnn_case("y, yh = GRU <direction = \"bidirectional\", hidden_size = 6, linear_before_reset = " + std::to_string(lbr) +
                             "> (x, w, r, bias, lens, h0)",
                         w, false);
    auto out = test::run_op(op);
    RnnRef ref = ref_gru(w, lbr != 0, sigmoid, [](double v) { return std::tanh(v); });
    test::expect_near_all(out[0], ref.y, kTol, "Y lbr " + std::to_string(lbr));
    test::expect_near_all(out[1], ref.y_h, kTol, "Y_h lbr " + std::to_string(lbr));
  }
}

TEST(GRU, CustomActivationsWithAlphaBeta) {
  Weights w = make_weights(3, 400);
  OpCase op = rnn_case(
      "y, yh = GRU <direction = \"bidirectional\", hidden_size = 6, activations = [\"HardSigmoid\", \"Softsign\", \"HardSigmoid\", "
      "\"Softsign\"], activation_alpha = [0.3, 0.25], activation_beta = [0.4, 0.6]> (x, w, r, bias, lens, h0)",
      w, false);
  auto out = test::run_op(op);
  // Both directions use HardSigmoid, consuming alphas/betas in order: forward (0.3, 0.4), reverse (0.25, 0.6).
  auto hs = [](double a, double b) { return [a, b](double v) { return std::max(0.0, std::min(1.0, a * v + b)); }; };
  auto softsign = [](double v) { return v / (1 + std::fabs(v)); };
  RnnRef fwd = ref_gru(w, false, hs(0.3, 0.4), softsign), rev = ref_gru(w, false, hs(0.25, 0.6), softsign);
  for (int64_t t = 0; t < T; ++t)  // direction d of Y comes from the reference run with its own parameters
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < H; ++k) {
        size_t i0 = static_cast<size_t>(((t * 2 + 0) * B + b) * H + k), i1 = static_cast<size_t>(((t * 2 + 1) * B + b) * H + k);
        EXPECT_TRUE(test::nearly_equal(out[0].data<float>()[i0], fwd.y[i0], kTol)) << t << "," << b << "," << k;
        EXPECT_TRUE(test::nearly_equal(out[0].data<float>()[i1], rev.y[i1], kTol)) << t << "," << b << "," << k;
      }
}

TEST(RNN, BidirectionalSequenceLensAndActivations) {
  Weights w = make_weights(1, 500);
  auto out = test::run_op(rnn_case("y, yh = RNN <direction = \"bidirectional\", hidden_size = 6> (x, w, r, bias, lens, h0)", w, false));
  RnnRef ref = ref_rnn(w, [](double v) { return std::tanh(v); });
  test::expect_near_all(out[0], ref.y, kTol, "Y");
  test::expect_near_all(out[1], ref.y_h, kTol, "Y_h");
  auto relu = test::run_op(rnn_case(
      "y, yh = RNN <direction = \"bidirectional\", hidden_size = 6, activations = [\"Relu\", \"Relu\"]> (x, w, r, bias, lens, h0)", w, false));
  test::expect_near_all(relu[0], ref_rnn(w, [](double v) { return std::max(0.0, v); }).y, kTol, "Y relu");
}

TEST(DynamicQuantizeLSTM, RunsTheLstmOnItsDequantizedWeights) {
  Weights w = make_weights(4, 600);
  // int8 W/R in the contrib layout [D, K, 4H], per-row scales and zero points [D, 4H] (nonzero zero points).
  auto quantized = [](int64_t k, uint32_t seed, Tensor& q, Tensor& scale, Tensor& zp, Tensor& dequantized) {
    q = Tensor(DType::Int8, {2, k, 4 * H});
    scale = test::random_tensor({2, 4 * H}, seed, 0.005f, 0.02f);
    zp = Tensor(DType::Int8, {2, 4 * H});
    dequantized = Tensor(DType::Float32, {2, 4 * H, k});
    for (int64_t c = 0; c < 2 * 4 * H; ++c) zp.data<int8_t>()[c] = static_cast<int8_t>(c % 7 - 3);
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t n = 0; n < 4 * H; ++n) {
          const int8_t v = static_cast<int8_t>((d * 131 + i * 17 + n * 29 + static_cast<int64_t>(seed)) % 255 - 127);
          q.data<int8_t>()[(d * k + i) * 4 * H + n] = v;
          const int64_t c = d * 4 * H + n;
          dequantized.data<float>()[(d * 4 * H + n) * k + i] = static_cast<float>(v - zp.data<int8_t>()[c]) * scale.data<float>()[c];
        }
  };
  Tensor wq, ws, wz, rq, rs, rz;
  quantized(I, 7, wq, ws, wz, w.w);
  quantized(H, 8, rq, rs, rz, w.r);
  OpCase op = rnn_case("y, yh, yc = LSTM <direction = \"bidirectional\", hidden_size = 6> (x, w, r, bias, lens, h0, c0, p)", w, true);
  auto ref = test::run_op(op);
  OpCase dq = op;
  dq.node = "y, yh, yc = com.microsoft.DynamicQuantizeLSTM <direction = \"bidirectional\", hidden_size = 6> "
            "(x, wq, rq, bias, lens, h0, c0, p, ws, wz, rs, rz)";
  dq.opsets = "\"\" : 13, \"com.microsoft\" : 1";
  dq.inputs[1] = {"wq", wq};
  dq.inputs[2] = {"rq", rq};
  dq.inputs.insert(dq.inputs.end(), {{"ws", ws}, {"wz", wz}, {"rs", rs}, {"rz", rz}});
  auto out = test::run_op(dq);
  for (size_t k = 0; k < 3; ++k) test::expect_same_bits(out[k], ref[k], "output " + std::to_string(k));
}

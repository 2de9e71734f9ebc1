// SPDX-License-Identifier: Apache-2.0
// LSTM (opsets 1, 7, 14), GRU (opsets 1, 3, 7, 14) and RNN (opsets 1, 7, 14), float32: forward, reverse, bidirectional;
// sequence_lens; initial states; layout 0 ([seq, batch, ...]) and 1 ([batch, seq, ...]); clip;
// activations / activation_alpha / activation_beta (the ONNX RNN list below).
// ONNX equations (gate order LSTM i, o, f, c; GRU z, r, h; W* input, R* recurrence, b bias):
//   LSTM  i = f(x Wi + h Ri + Pi . c + Wbi + Rbi)     f = f(x Wf + h Rf + Pf . c + Wbf + Rbf)
//         g = g(x Wc + h Rc + Wbc + Rbc)                C = f . c + i . g
//         o = f(x Wo + h Ro + Po . C + Wbo + Rbo)     H = o . h(C);   input_forget: f = 1 - i
//   GRU   z = f(x Wz + h Rz + Wbz + Rbz)   r = f(x Wr + h Rr + Wbr + Rbr)
//         n = g(x Wh + (r . h) Rh + Rbh + Wbh)            (linear_before_reset = 0)
//         n = g(x Wh + r . (h Rh + Rbh) + Wbh)            (linear_before_reset = 1)
//         H = (1 - z) . n + z . h
//   RNN   H = f(x Wi + h Ri + Wbi + Rbi)
// clip bounds the inputs of the activations to [-clip, clip]. x W for all steps is one GEMM up front;
// h R is one GEMM per step. A batch entry whose sequence is shorter stops updating at its length
// (Y is 0 past it, Y_h/Y_c hold its last state); reverse runs from its last valid step.
#include <cmath>
#include <cstring>
#include <string>

#include "kernels.h"
#include "sgemm.h"

namespace ptq::exec {
namespace {

struct RnnFn {
  enum class Kind { Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus };
  Kind kind = Kind::Sigmoid;
  float alpha = 0.0f, beta = 0.0f;

  float operator()(float x) const {
    switch (kind) {
      case Kind::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
      case Kind::Tanh: return std::tanh(x);
      case Kind::Relu: return x > 0.0f ? x : 0.0f;
      case Kind::Affine: return alpha * x + beta;
      case Kind::LeakyRelu: return x >= 0.0f ? x : alpha * x;
      case Kind::ThresholdedRelu: return x > alpha ? x : 0.0f;
      case Kind::ScaledTanh: return alpha * std::tanh(beta * x);
      case Kind::HardSigmoid: return std::max(0.0f, std::min(1.0f, alpha * x + beta));
      case Kind::Elu: return x >= 0.0f ? x : alpha * (std::exp(x) - 1.0f);
      case Kind::Softsign: return x / (1.0f + std::fabs(x));
      case Kind::Softplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Parses `activations` (count per direction), consuming alphas/betas in order for the functions that
// take them (defaults: LeakyRelu 0.01, ThresholdedRelu 1, HardSigmoid 0.2/0.5, Elu 1, ScaledTanh 1/1,
// Affine 1/0).
std::vector<RnnFn> read_functions(const Node& node, const std::vector<std::string>& defaults, int dirs) {
  std::vector<std::string> names;
  auto it = node.attrs.find("activations");
  if (it != node.attrs.end()) names = it->second.strings;
  if (names.empty())
    for (int d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() != defaults.size() * static_cast<size_t>(dirs))
    PTQ_FAIL(ModelError, node.describe(), ": expects ", defaults.size() * static_cast<size_t>(dirs), " activations, got ", names.size());
  std::vector<float> alphas = node.attr_floats("activation_alpha"), betas = node.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  auto next = [](const std::vector<float>& v, size_t& i, float fallback) { return i < v.size() ? v[i++] : fallback; };
  std::vector<RnnFn> fns;
  for (const std::string& name : names) {
    RnnFn f;
    using K = RnnFn::Kind;
    if (name == "Sigmoid") f.kind = K::Sigmoid;
    else if (name == "Tanh") f.kind = K::Tanh;
    else if (name == "Relu") f.kind = K::Relu;
    else if (name == "Softsign") f.kind = K::Softsign;
    else if (name == "Softplus") f.kind = K::Softplus;
    else if (name == "Affine") { f.kind = K::Affine; f.alpha = next(alphas, ai, 1.0f); f.beta = next(betas, bi, 0.0f); }
    else if (name == "LeakyRelu") { f.kind = K::LeakyRelu; f.alpha = next(alphas, ai, 0.01f); }
    else if (name == "ThresholdedRelu") { f.kind = K::ThresholdedRelu; f.alpha = next(alphas, ai, 1.0f); }
    else if (name == "ScaledTanh") { f.kind = K::ScaledTanh; f.alpha = next(alphas, ai, 1.0f); f.beta = next(betas, bi, 1.0f); }
    else if (name == "HardSigmoid") { f.kind = K::HardSigmoid; f.alpha = next(alphas, ai, 0.2f); f.beta = next(betas, bi, 0.5f); }
    else if (name == "Elu") { f.kind = K::Elu; f.alpha = next(alphas, ai, 1.0f); }
    else PTQ_FAIL(UnsupportedError, node.describe(), ": activation '", name, "' is not supported");
    fns.push_back(f);
  }
  return fns;
}

enum class Cell { Lstm, Gru, Rnn };

struct RnnSpec {
  Cell cell = Cell::Lstm;
  bool is_lstm = true;
  int dirs = 1;
  bool reverse_only = false;
  int64_t hidden = 0;
  float clip = 0.0f;  // 0: no clipping
  bool input_forget = false, linear_before_reset = false, batch_major = false;
  std::vector<RnnFn> fns;  // per direction: LSTM f, g, h; GRU f, g; RNN f
  int gates() const { return cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1; }
  int functions() const { return cell == Cell::Lstm ? 3 : cell == Cell::Gru ? 2 : 1; }
};

RnnSpec read_spec(const Node& node, Cell cell) {
  RnnSpec s;
  s.cell = cell;
  s.is_lstm = cell == Cell::Lstm;
  std::string dir = node.attr_string("direction", "forward");
  if (dir == "bidirectional") s.dirs = 2;
  else if (dir == "reverse") s.reverse_only = true;
  else if (dir != "forward") PTQ_FAIL(ModelError, node.describe(), ": direction '", dir, "' is not valid");
  s.hidden = node.attr_int("hidden_size", 0);
  s.clip = node.attr_float("clip", 0.0f);
  s.input_forget = node.attr_int("input_forget", 0) != 0;
  s.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  s.batch_major = node.attr_int("layout", 0) != 0;
  static const std::vector<std::string> kDefaults[] = {{"Sigmoid", "Tanh", "Tanh"}, {"Sigmoid", "Tanh"}, {"Tanh"}};
  s.fns = read_functions(node, kDefaults[static_cast<int>(cell)], s.dirs);
  return s;
}

// Copies a [A, B, rest] tensor's data into [B, A, rest] order.
std::vector<float> swap_leading(const float* p, int64_t a, int64_t b, int64_t rest) {
  std::vector<float> out(static_cast<size_t>(a * b * rest));
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) std::memcpy(&out[static_cast<size_t>((j * a + i) * rest)], p + (i * b + j) * rest, static_cast<size_t>(rest) * sizeof(float));
  return out;
}

struct RnnRun {
  int64_t T = 0, B = 0, I = 0, H = 0;
  const float* x = nullptr;           // [T, B, I]
  std::vector<int64_t> lens;          // per batch entry
  std::vector<float> y;               // [T, dirs, B, H]
  std::vector<float> y_h, y_c;        // [dirs, B, H]
};

float clipped(float v, float clip) { return clip > 0.0f ? std::min(std::max(v, -clip), clip) : v; }

// One direction: gx = x W^T + biases for all steps, then the recurrence.
void run_direction(const RnnSpec& s, RnnRun& r, int d, bool reverse, const float* W, const float* R, const float* Bias,
                   const float* P, const float* h0, const float* c0, int threads) {
  const int64_t G = s.gates(), H = r.H, B = r.B, T = r.T, GH = G * H;
  std::vector<float> gx(static_cast<size_t>(T * B * GH)), hr(static_cast<size_t>(B * GH));
  std::vector<float> bias(static_cast<size_t>(GH), 0.0f);
  if (Bias)
    for (int64_t k = 0; k < GH; ++k) {
      const bool inner_rb = s.cell == Cell::Gru && s.linear_before_reset && k >= 2 * H;  // Rbh stays inside r . (...)
      bias[static_cast<size_t>(k)] = Bias[k] + (inner_rb ? 0.0f : Bias[GH + k]);
    }
  Epilogue epi;
  epi.col_bias = bias.data();
  sgemm(T * B, GH, r.I, 1.0f, MatView{r.x, r.I, false}, MatView{W, r.I, true}, gx.data(), GH, false, epi, threads);
  std::vector<float> h(h0 ? std::vector<float>(h0, h0 + B * H) : std::vector<float>(static_cast<size_t>(B * H), 0.0f));
  std::vector<float> c(c0 ? std::vector<float>(c0, c0 + B * H) : std::vector<float>(static_cast<size_t>(B * H), 0.0f));
  std::vector<float> rh(static_cast<size_t>(B * H));
  const RnnFn* fn = &s.fns[static_cast<size_t>(d * s.functions())];
  const float* rbh = Bias && s.cell == Cell::Gru && s.linear_before_reset ? Bias + GH + 2 * H : nullptr;
  for (int64_t step = 0; step < T; ++step) {
    // LSTM and the GRU z/r gates: the full recurrent product; GRU default: z/r part only.
    const bool gru_split = s.cell == Cell::Gru && !s.linear_before_reset;
    const int64_t rec_cols = gru_split ? 2 * H : GH;
    sgemm(B, rec_cols, H, 1.0f, MatView{h.data(), H, false}, MatView{R, H, true}, hr.data(), GH, false, Epilogue{}, 1);
    if (gru_split) {
      for (int64_t b = 0; b < B; ++b) {
        if (step >= r.lens[static_cast<size_t>(b)]) continue;
        const int64_t t = reverse ? r.lens[static_cast<size_t>(b)] - 1 - step : step;
        const float* g = &gx[static_cast<size_t>((t * B + b) * GH)];
        for (int64_t k = 0; k < H; ++k) {
          const float rr = fn[0](clipped(g[H + k] + hr[static_cast<size_t>(b * GH + H + k)], s.clip));
          rh[static_cast<size_t>(b * H + k)] = rr * h[static_cast<size_t>(b * H + k)];
        }
      }
      sgemm(B, H, H, 1.0f, MatView{rh.data(), H, false}, MatView{R + 2 * H * H, H, true}, hr.data() + 2 * H, GH, false, Epilogue{}, 1);
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = r.lens[static_cast<size_t>(b)];
      if (step >= len) continue;
      const int64_t t = reverse ? len - 1 - step : step;
      const float* g = &gx[static_cast<size_t>((t * B + b) * GH)];
      const float* q = &hr[static_cast<size_t>(b * GH)];
      float* hb = &h[static_cast<size_t>(b * H)];
      float* cb = &c[static_cast<size_t>(b * H)];
      for (int64_t k = 0; k < H; ++k) {
        if (s.cell == Cell::Rnn) {
          hb[k] = fn[0](clipped(g[k] + q[k], s.clip));
        } else if (s.is_lstm) {
          const float pi = P ? P[k] * cb[k] : 0.0f, pf = P ? P[2 * H + k] * cb[k] : 0.0f;
          const float i = fn[0](clipped(g[k] + q[k] + pi, s.clip));
          const float f = s.input_forget ? 1.0f - i : fn[0](clipped(g[2 * H + k] + q[2 * H + k] + pf, s.clip));
          const float cc = fn[1](clipped(g[3 * H + k] + q[3 * H + k], s.clip));
          cb[k] = f * cb[k] + i * cc;
          const float o = fn[0](clipped(g[H + k] + q[H + k] + (P ? P[H + k] * cb[k] : 0.0f), s.clip));
          hb[k] = o * fn[2](cb[k]);
        } else {
          const float z = fn[0](clipped(g[k] + q[k], s.clip));
          float pre = g[2 * H + k];
          if (s.linear_before_reset) pre += fn[0](clipped(g[H + k] + q[H + k], s.clip)) * (q[2 * H + k] + (rbh ? rbh[k] : 0.0f));
          else pre += q[2 * H + k];
          const float n = fn[1](clipped(pre, s.clip));
          hb[k] = (1.0f - z) * n + z * hb[k];
        }
      }
      std::memcpy(&r.y[static_cast<size_t>(((t * (s.dirs) + d) * B + b) * H)], hb, static_cast<size_t>(H) * sizeof(float));
    }
  }
  std::memcpy(&r.y_h[static_cast<size_t>(d * B * H)], h.data(), h.size() * sizeof(float));
  std::memcpy(&r.y_c[static_cast<size_t>(d * B * H)], c.data(), c.size() * sizeof(float));
}

void check_dims(const Tensor& t, const Shape& want, const char* name) {
  if (t.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, name, ": dtype ", dtype_name(t.dtype()), " is not supported (float32 is)");
  if (t.shape() != want) PTQ_FAIL(ModelError, name, " has shape ", shape_str(t.shape()), ", expected ", shape_str(want));
}

// Writes Y ([T, dirs, B, H] or layout 1 [B, T, dirs, H]) and Y_h/Y_c ([dirs, B, H] or [B, dirs, H]).
void write_outputs(const RnnSpec& s, RnnRun& r, KernelIO& io) {
  const int64_t D = s.dirs;
  auto put = [&](size_t k, const std::vector<float>& v, int64_t a, int64_t b, int64_t rest, Shape shape) {
    if (k >= io.outputs.size()) return;
    io.outputs[k] = Tensor(DType::Float32, shape);
    std::vector<float> data = s.batch_major ? swap_leading(v.data(), a, b, rest) : v;
    std::memcpy(io.outputs[k].raw(), data.data(), data.size() * sizeof(float));
  };
  if (!io.outputs.empty()) {
    io.outputs[0] = s.batch_major ? Tensor(DType::Float32, {r.B, r.T, D, r.H}) : Tensor(DType::Float32, {r.T, D, r.B, r.H});
    float* out = io.outputs[0].data<float>();
    for (int64_t t = 0; t < r.T; ++t)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t b = 0; b < r.B; ++b) {
          const int64_t dst = s.batch_major ? ((b * r.T + t) * D + d) : ((t * D + d) * r.B + b);
          std::memcpy(out + dst * r.H, &r.y[static_cast<size_t>(((t * D + d) * r.B + b) * r.H)], static_cast<size_t>(r.H) * sizeof(float));
        }
  }
  Shape state = s.batch_major ? Shape{r.B, D, r.H} : Shape{D, r.B, r.H};
  put(1, r.y_h, D, r.B, r.H, state);
  if (s.is_lstm) put(2, r.y_c, D, r.B, r.H, state);
}

Kernel make_recurrent(const Node& node, Cell cell) {
  expect_inputs(node, 3, cell == Cell::Lstm ? 8 : 6);
  RnnSpec spec = read_spec(node, cell);
  return [spec](KernelIO& io) {
    const RnnSpec& s = spec;
    const Tensor& x = io.in(0);
    if (x.rank() != 3) PTQ_FAIL(ModelError, "X must be 3-D, got ", shape_str(x.shape()));
    RnnRun r;
    r.T = s.batch_major ? x.dim(1) : x.dim(0);
    r.B = s.batch_major ? x.dim(0) : x.dim(1);
    r.I = x.dim(2);
    r.H = s.hidden > 0 ? s.hidden : io.in(2).dim(-1);
    const int64_t D = s.dirs, GH = s.gates() * r.H;
    check_dims(x, x.shape(), "X");
    check_dims(io.in(1), {D, GH, r.I}, "W");
    check_dims(io.in(2), {D, GH, r.H}, "R");
    const Tensor* bias = io.has(3) ? io.inputs[3] : nullptr;
    if (bias) check_dims(*bias, {D, 2 * GH}, "B");
    r.lens.assign(static_cast<size_t>(r.B), r.T);
    if (io.has(4)) {
      const Tensor& sl = io.in(4);
      if (sl.dtype() != DType::Int32 || sl.numel() != r.B) PTQ_FAIL(ModelError, "sequence_lens must be int32 [", r.B, "]");
      for (int64_t b = 0; b < r.B; ++b) {
        const int64_t len = sl.data<int32_t>()[b];
        if (len < 0 || len > r.T) PTQ_FAIL(DataError, "sequence_lens[", b, "] = ", len, " is outside [0, ", r.T, "]");
        r.lens[static_cast<size_t>(b)] = len;
      }
    }
    const Shape state = s.batch_major ? Shape{r.B, D, r.H} : Shape{D, r.B, r.H};
    std::vector<float> h0, c0;
    if (io.has(5)) {
      check_dims(io.in(5), state, "initial_h");
      h0 = s.batch_major ? swap_leading(io.in(5).data<float>(), r.B, D, r.H) : io.in(5).to_vector<float>();
    }
    if (s.is_lstm && io.has(6)) {
      check_dims(io.in(6), state, "initial_c");
      c0 = s.batch_major ? swap_leading(io.in(6).data<float>(), r.B, D, r.H) : io.in(6).to_vector<float>();
    }
    const Tensor* peep = s.is_lstm && io.has(7) ? io.inputs[7] : nullptr;
    if (peep) check_dims(*peep, {D, 3 * r.H}, "P");
    std::vector<float> xs = s.batch_major ? swap_leading(x.data<float>(), r.B, r.T, r.I) : std::vector<float>();
    r.x = s.batch_major ? xs.data() : x.data<float>();
    r.y.assign(static_cast<size_t>(r.T * D * r.B * r.H), 0.0f);
    r.y_h.assign(static_cast<size_t>(D * r.B * r.H), 0.0f);
    r.y_c.assign(r.y_h.size(), 0.0f);
    for (int d = 0; d < D; ++d) {
      const size_t st = static_cast<size_t>(d * r.B * r.H);
      run_direction(s, r, d, s.reverse_only || d == 1, io.in(1).data<float>() + d * GH * r.I, io.in(2).data<float>() + d * GH * r.H,
                    bias ? bias->data<float>() + d * 2 * GH : nullptr, peep ? peep->data<float>() + d * 3 * r.H : nullptr,
                    h0.empty() ? nullptr : &h0[st], c0.empty() ? nullptr : &c0[st], io.threads);
    }
    write_outputs(s, r, io);
  };
}

}  // namespace

Kernel make_lstm(const Node& node) { return make_recurrent(node, Cell::Lstm); }
Kernel make_gru(const Node& node) { return make_recurrent(node, Cell::Gru); }
Kernel make_rnn(const Node& node) { return make_recurrent(node, Cell::Rnn); }

}  // namespace ptq::exec

// SPDX-License-Identifier: Apache-2.0
// oneDNN convolution and the blocked layout (dnnl_conv.h).
#include "dnnl_conv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "idle_list.h"
#include "parallel.h"
#include "thread_policy.h"
#include "ptq/util/log.h"

#ifdef PTQ_WITH_DNNL
#include <dlfcn.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace ptq::exec {

namespace {

// PTQ_CHANNEL_BLOCK=8|16, or 0 when unset (anything else is refused).
int64_t forced_channel_block() {
  const char* v = std::getenv("PTQ_CHANNEL_BLOCK");
  if (!v || !*v) return 0;
  const std::string s(v);
  if (s != "8" && s != "16") PTQ_FAIL(UsageError, "PTQ_CHANNEL_BLOCK must be 8 or 16, not '", s, "'");
  return std::stoi(s);
}

int64_t probe_channel_block();  // below: oneDNN's choice, 16 without it

}  // namespace

int64_t channel_block() {
  static const int64_t b = [] {
    const int64_t forced = forced_channel_block();
    return forced ? forced : probe_channel_block();
  }();
  return b;
}

Shape blocked_shape(const Shape& nchw) {
  const int64_t B = channel_block();
  return {nchw[0], ceil_div(nchw[1], B), nchw[2], nchw[3], B};
}

#ifndef PTQ_WITH_DNNL

namespace {
int64_t probe_channel_block() { return kMaxChannelBlock; }
}  // namespace

bool have_dnnl() { return false; }

Tensor unblock(const Tensor& blocked, int64_t channels, int threads) {
  const Shape& s = blocked.shape();
  const int64_t B = s[4], N = s[0], Cb = s[1], HW = s[2] * s[3];
  Tensor out(DType::Float32, {N, channels, s[2], s[3]});
  const float* src = blocked.data<float>();
  float* dst = out.data<float>();
  parallel_for(threads, N * Cb, [&](int64_t t) {
    const int64_t n = t / Cb, cb = t % Cb, lanes = std::min(B, channels - cb * B);
    const float* in = src + t * HW * B;
    for (int64_t l = 0; l < lanes; ++l) {
      float* o = dst + (n * channels + cb * B + l) * HW;
      for (int64_t p = 0; p < HW; ++p) o[p] = in[p * B + l];
    }
  }, N * Cb * HW * B);
  return out;
}

Tensor block(const Tensor& plain, int threads) {
  const Shape& s = plain.shape();
  const int64_t B = channel_block(), N = s[0], C = s[1], HW = s[2] * s[3], Cb = ceil_div(C, B);
  Tensor out(DType::Float32, blocked_shape(s));
  const float* src = plain.data<float>();
  float* dst = out.data<float>();
  parallel_for(threads, N * Cb, [&](int64_t t) {
    const int64_t n = t / Cb, cb = t % Cb, lanes = std::min(B, C - cb * B);
    float* o = dst + t * HW * B;
    if (lanes < B) std::memset(o, 0, static_cast<size_t>(HW * B) * sizeof(float));
    for (int64_t l = 0; l < lanes; ++l) {
      const float* in = src + (n * C + cb * B + l) * HW;
      for (int64_t p = 0; p < HW; ++p) o[p * B + l] = in[p];
    }
  }, N * Cb * HW * B);
  return out;
}

struct DnnlConv::State {};
DnnlConv::DnnlConv(std::unique_ptr<State> state) : state_(std::move(state)) {}
DnnlConv::~DnnlConv() = default;
std::shared_ptr<DnnlConv> DnnlConv::create(const WindowAttrs&, int64_t, const PostOps&) { return nullptr; }
bool DnnlConv::fits(const Shape&, DType, const Tensor&, int64_t) { return false; }
Tensor DnnlConv::run(const Tensor&, int64_t, const Tensor&, const Tensor*, bool, int) {
  PTQ_FAIL(Error, "oneDNN is not built in");
}

#else

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// Inputs with at most this many channels are read as NCHW by the primitive (first layers: 3 colour
// channels would be padded to 16).
constexpr int64_t kPlainInputChannels = 4;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// One in-order CPU stream per thread, made once (not per call on the hot path).
dnnl::stream& cpu_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

// oneDNN runs on OpenMP (Debian's build); the thread count is the calling thread's OpenMP setting.
// Looked up at run time so that this file needs no OpenMP flags (clang's runtime is not libgomp).
void set_omp_threads(int threads) {
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (fn) fn(threads);
}

// The widest block whose 1x1 and depthwise 3x3 convolutions (a network's common layers) have optimized
// kernels on this CPU: 16 lanes with AVX-512, 8 with AVX2 only; 16 when neither has (the reference
// kernels then decline every call and conv.cpp's own run).
int64_t probe_channel_block() {
  for (const int64_t B : {int64_t{16}, int64_t{8}}) {
    const Tag tag = B == 16 ? Tag::nChw16c : Tag::nChw8c;
    bool fast = true;
    for (const int64_t G : {int64_t{1}, int64_t{32}}) {
      const memory::dims io{1, 32, 8, 8}, pad = G > 1 ? memory::dims{1, 1} : memory::dims{0, 0};
      const memory::dims wts = G > 1 ? memory::dims{G, 1, 1, 3, 3} : memory::dims{32, 32, 1, 1};
      try {
        const dnnl::convolution_forward::desc d(
            dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
            memory::desc(io, memory::data_type::f32, tag), memory::desc(wts, memory::data_type::f32, Tag::any),
            memory::desc(), memory::desc(io, memory::data_type::f32, tag), {1, 1}, {0, 0}, pad, pad);
        const dnnl::convolution_forward::primitive_desc pd(d, cpu_engine());
        fast = fast && std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
      } catch (const dnnl::error&) {
        fast = false;
      }
    }
    if (fast) return B;
  }
  return kMaxChannelBlock;
}

// The blocked layout's tag (dnnl_conv.h: channel_block()).
Tag blocked_tag() { return channel_block() == 8 ? Tag::nChw8c : Tag::nChw16c; }

// A primitive's arguments, made once and rebound to each call's buffers: the memory objects and the
// C argument array over them (the C++ execute() builds both per call: most of a convolution's ~40
// allocations).
struct BoundArgs {
  std::vector<std::pair<int, memory>> memories;
  std::vector<dnnl_exec_arg_t> c_args;

  void add(int arg, memory m) {
    memories.emplace_back(arg, std::move(m));
    c_args.clear();
    for (auto& kv : memories) c_args.push_back({kv.first, kv.second.get()});
  }
  bool has(int arg) const {
    for (const auto& kv : memories)
      if (kv.first == arg) return true;
    return false;
  }
  void bind(int arg, const void* data) {
    for (auto& kv : memories)
      if (kv.first == arg) kv.second.set_data_handle(const_cast<void*>(data));
  }
  void release() {}  // IdleList: the handles are rebound before the next use
  void execute(const dnnl::primitive& prim, dnnl::stream& s) const {
    dnnl::error::wrap_c_api(dnnl_primitive_execute(prim.get(), s.get(), static_cast<int>(c_args.size()), c_args.data()),
                            "could not execute a primitive");
    s.wait();
  }
};

// Reorder between NCHW and the blocked layout of the same logical shape; small ones on one thread
// (thread_policy.h). The primitive and its memory objects are made once per shape and direction and
// kept per thread (rebound to this call's buffers), so that a steady-state run allocates nothing here.
void reorder_nchw(const Shape& nchw, const void* src, Tag src_tag, void* dst, Tag dst_tag, int threads) {
  set_omp_threads(pick_threads(threads, JobKind::Tasks, shape_numel(nchw)));
  struct Cached {
    Shape dims;
    Tag from, to;
    dnnl::reorder prim;
    BoundArgs args;
  };
  constexpr size_t kMaxCached = 64;  // shapes x directions per thread; beyond, it starts over
  thread_local std::vector<std::unique_ptr<Cached>> cache;
  Cached* c = nullptr;
  for (auto& e : cache)
    if (e->dims == nchw && e->from == src_tag && e->to == dst_tag) c = e.get();
  if (!c) {
    if (cache.size() >= kMaxCached) cache.clear();
    const memory::dims dims(nchw.begin(), nchw.end());
    memory a(memory::desc(dims, memory::data_type::f32, src_tag), cpu_engine(), const_cast<void*>(src));
    memory b(memory::desc(dims, memory::data_type::f32, dst_tag), cpu_engine(), dst);
    cache.push_back(std::make_unique<Cached>(Cached{nchw, src_tag, dst_tag, dnnl::reorder(a, b), {}}));
    c = cache.back().get();
    c->args.add(DNNL_ARG_FROM, a);
    c->args.add(DNNL_ARG_TO, b);
  }
  c->args.bind(DNNL_ARG_FROM, src);
  c->args.bind(DNNL_ARG_TO, dst);
  c->args.execute(c->prim, cpu_stream());
}

// Pixels per post-op task: 64 KB of one channel block, so that the outputs of one or two blocks (a
// network's first layers: 8 to 32 channels at 64x64 and up) still split.
constexpr int64_t kPostOpPixels = 1024;

// True when the post-ops leave a padding lane (zero, channel -1) at +0.0 (Relu, Clip around 0, Mul):
// the lanes the primitive wrote as zeros then need no refill.
bool keeps_padding_zero(const PostOps& post) {
  float v[kMaxChannelBlock] = {};
  int64_t channel[kMaxChannelBlock];
  std::fill(channel, channel + kMaxChannelBlock, int64_t{-1});
  post.apply_blocked(v, channel_block(), channel);
  for (float x : v)
    if (x != 0.0f || std::signbit(x)) return false;
  return true;
}

// Post-ops over a blocked output with M real channels, in runs of up to kPostOpPixels pixels of one
// block (whole vectors of 16 lanes: the same bits however the runs fall); padding lanes are zeroed again
// after them unless the post-ops keep them zero (Sigmoid(0) is 0.5).
void apply_post_ops(const PostOps& post, Tensor& y, int64_t M, int threads) {
  if (post.empty()) return;
  const int64_t B = y.dim(4), N = y.dim(0), Mb = y.dim(1), P = y.dim(2) * y.dim(3), runs = ceil_div(P, kPostOpPixels);
  const bool refill = M % B != 0 && !keeps_padding_zero(post);
  parallel_for(threads, N * Mb * runs, [&](int64_t t) {
    const int64_t b = t / runs, p0 = (t % runs) * kPostOpPixels, pixels = std::min(kPostOpPixels, P - p0);
    const int64_t m0 = (b % Mb) * B, lanes = std::min(B, M - m0);
    int64_t channel[kMaxChannelBlock];
    for (int64_t l = 0; l < B; ++l) channel[l] = l < lanes ? m0 + l : -1;
    float* v = y.data<float>() + (b * P + p0) * B;
    post.apply_blocked(v, pixels * B, channel);
    if (!refill || lanes == B) return;
    for (int64_t p = 0; p < pixels; ++p)  // a whole vector per pixel (a per-pixel fill of the tail was 7 us at 64x64)
      for (int64_t l = 0; l < B; ++l) v[p * B + l] = l < lanes ? v[p * B + l] : 0.0f;
  }, N * M * P * 4);
}

struct Prepared {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory::desc src, dst, scratchpad, bias;  // pd's, queried once (each query allocates)
  memory weights;  // packed (Packed::weights, shared)
  bool plain_src = false;
  bool usable = false;  // oneDNN has an optimized (non-reference) kernel for this shape
  IdleList<BoundArgs> args;  // argument sets (one per concurrent call)
};

}  // namespace

bool have_dnnl() { return true; }

Tensor unblock(const Tensor& blocked, int64_t channels, int threads) {
  const Shape& s = blocked.shape();
  Tensor out(DType::Float32, {s[0], channels, s[2], s[3]});
  reorder_nchw(out.shape(), blocked.raw(), blocked_tag(), out.raw(), Tag::nchw, threads);
  return out;
}

Tensor block(const Tensor& plain, int threads) {
  Tensor out(DType::Float32, blocked_shape(plain.shape()));
  reorder_nchw(plain.shape(), plain.raw(), Tag::nchw, out.raw(), blocked_tag(), threads);
  return out;
}

// A weight buffer packed into one of the primitives' layouts; shared by every input shape whose
// primitive wants that layout (a recognizer fed many widths keeps one packed copy, not one per width).
struct Packed {
  Tensor source;  // the weight buffer it was packed from (kept alive: identity by address)
  memory::desc desc;
  memory weights;
};

// Primitives kept per convolution; beyond this many input shapes the cache starts over.
constexpr size_t kMaxShapes = 32;

struct DnnlConv::State {
  WindowAttrs attrs;
  int64_t group = 1;
  PostOps post;                // run over the primitive's output
  bool native_sigmoid = false;  // post is one Sigmoid or SiLU, run by oneDNN inside the primitive
  std::mutex mutex;
  std::map<std::tuple<int64_t, int64_t, int64_t, int, const void*>, std::shared_ptr<Prepared>> cache;
  std::vector<Packed> packed;
};

DnnlConv::DnnlConv(std::unique_ptr<State> state) : state_(std::move(state)) {}
DnnlConv::~DnnlConv() = default;

namespace {

// The primitive for one input shape: the source read blocked (or NCHW for a few channels, or when
// oneDNN has no optimized kernel reading it blocked), weights packed. Not usable when only oneDNN's
// reference kernel would run (e.g. 12 channels read blocked): conv.cpp's kernels run it then.
std::shared_ptr<Prepared> prepare(DnnlConv::State& st, const Shape& x, const WindowGeometry& g, const Tensor& w,
                                  bool bias) {
  auto p = std::make_shared<Prepared>();
  const int64_t N = x[0], C = x[1], M = w.dim(0), G = st.group;
  const memory::dims src{N, C, x[2], x[3]}, dst{N, M, g.out[1], g.out[2]};
  const memory::dims wts = G > 1 ? memory::dims{G, M / G, C / G, w.dim(2), w.dim(3)} : memory::dims{M, C, w.dim(2), w.dim(3)};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (st.native_sigmoid) {  // dnnl_conv.h: a lone Sigmoid or SiLU epilogue runs inside the primitive
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, st.post.ops()[0].kind == PostOp::Kind::Silu ? dnnl::algorithm::eltwise_swish : dnnl::algorithm::eltwise_logistic,
                       1.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  const memory::dims strides{g.s[1], g.s[2]}, dil{g.d[1] - 1, g.d[2] - 1}, pl{g.pb[1], g.pb[2]}, pr{g.pe[1], g.pe[2]};
  for (const bool plain_src : {C <= kPlainInputChannels, true}) {
    try {
      const memory::desc sd(src, memory::data_type::f32, plain_src ? Tag::nchw : blocked_tag());
      const memory::desc dd(dst, memory::data_type::f32, blocked_tag());
      const memory::desc wd(wts, memory::data_type::f32, Tag::any);
      const memory::desc bd({M}, memory::data_type::f32, Tag::x);
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, sd, wd,
                                           bias ? bd : memory::desc(), dd, strides, dil, pl, pr);
      p->pd = dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
    } catch (const dnnl::error&) {
      continue;
    }
    if (std::string(p->pd.impl_info_str()).rfind("ref", 0) == 0) continue;
    p->prim = dnnl::convolution_forward(p->pd);
    p->src = p->pd.src_desc();
    p->dst = p->pd.dst_desc();
    p->scratchpad = p->pd.scratchpad_desc();
    p->bias = p->pd.bias_desc();
    p->plain_src = plain_src;
    p->usable = true;
    for (const Packed& k : st.packed)
      if (k.source.raw() == w.raw() && k.desc == p->pd.weights_desc()) p->weights = k.weights;
    if (!p->weights) {  // pack (ONNX's [M, C/G, kh, kw] is oihw, or goihw split by group)
      const memory::desc plain_w(wts, memory::data_type::f32, G > 1 ? Tag::goihw : Tag::oihw);
      memory user_w(plain_w, cpu_engine(), const_cast<void*>(w.raw()));
      p->weights = memory(p->pd.weights_desc(), cpu_engine());
      dnnl::stream& s = cpu_stream();
      dnnl::reorder(user_w, p->weights).execute(s, user_w, p->weights);
      s.wait();
      st.packed.push_back({w, p->pd.weights_desc(), p->weights});
    }
    return p;
  }
  return p;
}

}  // namespace

std::shared_ptr<DnnlConv> DnnlConv::create(const WindowAttrs& attrs, int64_t group, const PostOps& post) {
  static const bool disabled = [] {
    const char* v = std::getenv("PTQ_NO_DNNL");
    return v && *v && std::string(v) != "0";
  }();
  if (disabled) return nullptr;
  auto s = std::make_unique<State>();
  s->attrs = attrs;
  s->group = group;
  s->post = post;
  const auto& ops = post.ops();
  s->native_sigmoid = ops.size() == 1 && (ops[0].kind == PostOp::Kind::Silu || ops[0].kind == PostOp::Kind::Sigmoid);
  return std::shared_ptr<DnnlConv>(new DnnlConv(std::move(s)));
}

bool DnnlConv::fits(const Shape& x, DType x_type, const Tensor& w, int64_t group) {
  const bool rank_ok = (x.size() == 4 || x.size() == 3) && w.rank() == static_cast<int>(x.size());
  return x_type == DType::Float32 && w.dtype() == DType::Float32 && rank_ok && group > 0 && w.dim(0) % group == 0 &&
         w.dim(1) * group == x[1] && w.numel() > 0 && shape_numel(x) > 0;
}

Tensor DnnlConv::run(const Tensor& x_in, int64_t x_channels, const Tensor& w, const Tensor* b, bool blocked_out,
                     int threads) {
  try {
    return run_dnnl(x_in, x_channels, w, b, blocked_out, threads);
  } catch (const dnnl::error& e) {  // a case oneDNN refuses: conv.cpp's kernels run it
    log::debug("oneDNN declined a convolution: ", e.what());
    return Tensor();
  }
}

Tensor DnnlConv::run_dnnl(const Tensor& x_arg, int64_t x_channels, const Tensor& w, const Tensor* b, bool blocked_out,
                          int threads) {
  State& st = *state_;
  // A 1-D convolution (NCL, plain only) runs as a 2-D one of height 1: its geometry's height slot is 1.
  const bool one_d = x_arg.rank() == 3;
  if (one_d && x_channels) PTQ_FAIL(Error, "a blocked input must be 4-D");
  const int64_t N = x_arg.dim(0), C = x_channels ? x_channels : x_arg.dim(1);
  const int64_t H = one_d ? 1 : x_arg.dim(2), W = x_arg.dim(one_d ? 2 : 3), M = w.dim(0);
  const Tensor x_in = one_d ? x_arg.reshaped({N, C, 1, W}) : x_arg;
  const Tensor w4 = one_d ? w.reshaped({M, w.dim(1), 1, w.dim(2)}) : w;
  const WindowGeometry g = one_d ? resolve_window(st.attrs, x_arg.shape(), {w.dim(2)})
                                 : resolve_window(st.attrs, Shape{N, C, H, W}, {w.dim(2), w.dim(3)});
  const int64_t OH = g.out[1], OW = g.out[2];
  // Small convolutions run on fewer threads (thread_policy.h); the reorders and post-ops around one
  // use at most as many (fewer when they are small themselves).
  const int64_t work = convolution_work(N * M * OH * OW, w4.numel() / M, N * C * H * W, w4.numel());
  threads = pick_threads(threads, JobKind::Convolution, work);
  set_omp_threads(threads);

  std::shared_ptr<Prepared> prep;
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    const auto key = std::make_tuple(N, H, W, threads, w.raw());
    auto it = st.cache.find(key);
    if (it != st.cache.end()) {
      prep = it->second;
    } else {
      // Weights in a new buffer (not a constant of the executor) or too many shapes: start over.
      const bool new_weights = !st.packed.empty() && st.packed.front().source.raw() != w.raw();
      if (new_weights || st.cache.size() >= kMaxShapes) {
        st.cache.clear();
        st.packed.clear();
      }
      prep = prepare(st, Shape{N, C, H, W}, g, w4, b != nullptr);
      st.cache[key] = prep;
    }
  }
  if (!prep->usable) return Tensor();
  const bool plain_src = prep->plain_src;

  // Source in the primitive's layout.
  Tensor x_blocked;
  const Tensor* src = &x_in;
  if (plain_src && x_channels) {
    x_blocked = unblock(x_in, C, threads);
    src = &x_blocked;
  } else if (!plain_src && !x_channels) {
    x_blocked = block(x_in, threads);
    src = &x_blocked;
  }
  Tensor y(DType::Float32, blocked_shape({N, M, OH, OW}));
  dnnl::stream& stream = cpu_stream();
  thread_local std::vector<float> scratch;
  const size_t scratch_bytes = prep->scratchpad.get_size();
  if (scratch.size() * sizeof(float) < scratch_bytes) scratch.resize(scratch_bytes / sizeof(float) + 16);
  // An argument set of this primitive not in use by another call (its memory objects made on first
  // use), bound to this call's buffers; back to the idle list when the call ends, thrown or not.
  const IdleList<BoundArgs>::Lease set = prep->args.take();
  if (set->memories.empty()) {
    set->add(DNNL_ARG_SRC, memory(prep->src, cpu_engine(), const_cast<void*>(src->raw())));
    set->add(DNNL_ARG_WEIGHTS, prep->weights);
    set->add(DNNL_ARG_DST, memory(prep->dst, cpu_engine(), y.raw()));
    set->add(DNNL_ARG_SCRATCHPAD, memory(prep->scratchpad, cpu_engine(), scratch.data()));
  }
  if (b && !set->has(DNNL_ARG_BIAS)) set->add(DNNL_ARG_BIAS, memory(prep->bias, cpu_engine(), const_cast<void*>(b->raw())));
  set->bind(DNNL_ARG_SRC, src->raw());
  set->bind(DNNL_ARG_DST, y.raw());
  set->bind(DNNL_ARG_SCRATCHPAD, scratch.data());
  if (b) set->bind(DNNL_ARG_BIAS, b->raw());
  set->execute(prep->prim, stream);

  if (!st.native_sigmoid) apply_post_ops(st.post, y, M, threads);
  if (one_d) return unblock(y, M, threads).reshaped({N, M, OW});
  return blocked_out ? y : unblock(y, M, threads);
}

#endif

}  // namespace ptq::exec

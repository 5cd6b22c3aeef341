// Functional neural-network ops (all autograd-capable): convolution, normalisation, activations,
// pooling, resampling, attention and losses.
#include "common.h"
#include "nn_ops.h"
#include "blocks.h"

#include <torch/version.h>

#include <cmath>

namespace langevin {

at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask,
                     c10::optional<double> scale) {
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 1 || TORCH_VERSION_MAJOR >= 3
  // libtorch 2.1+: the fused kernels (flash / memory-efficient on CUDA, a fused CPU path).
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
#else
  double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).mul_(s);
  if (mask) {
    if (mask->scalar_type() == at::kBool) scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
    else scores = scores + *mask;
  }
  // Reduced-precision scores are normalised in float32 (as autocast does) and cast back for the
  // second matmul.
  if (scores.scalar_type() != at::kBFloat16 && scores.scalar_type() != at::kHalf) return at::matmul(at::softmax(scores, -1), v);
  return at::matmul(at::softmax(scores, -1, at::kFloat).to(v.scalar_type()), v);
#endif
}

at::Tensor TimestepEmbedding(const at::Tensor& t, int64_t dim, double maxPeriod) {
  // As the original DDPM code: half = dim/2, freq_i = exp(-log(maxPeriod) * i / (half - 1)),
  // emb = [sin(t·freq), cos(t·freq)], zero-padded when dim is odd.
  int64_t half = dim / 2;
  double scale = std::log(maxPeriod) / static_cast<double>(std::max<int64_t>(half - 1, 1));
  at::Tensor freqs = at::exp(at::arange(half, at::TensorOptions().dtype(at::kFloat).device(t.device())) * -scale);
  at::Tensor args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  at::Tensor emb = at::cat({args.sin(), args.cos()}, 1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1});
  return emb;
}

namespace {

std::vector<int64_t> Pair2(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t fallback, int64_t min) {
  if (IsAbsent(info, i)) return {fallback, fallback};
  std::vector<int64_t> v;
  if (info[i].IsNumber()) {
    int64_t x = ArgInt(info, i, name);
    v = {x, x};
  } else {
    v = ArgInts(info, i, name);
  }
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) ThrowRange(std::string(name) + " must be one integer or two", "ERR_SHAPE");
  for (int64_t x : v)
    if (x < min) ThrowRange(std::string(name) + " must be >= " + std::to_string(min) + ", got " + ShapeString(v), "ERR_SHAPE");
  return v;
}

void RequireDims(const at::Tensor& t, int64_t d, const char* what) {
  if (t.dim() != d) ThrowRange(std::string(what) + ": expected a " + std::to_string(d) + "-d input, got shape " + ShapeString(t.sizes()), "ERR_SHAPE");
}

// conv2d(x, w, b?, stride, padding, dilation, groups). padding: n, [h, w] or [top, bottom, left, right].
LANGEVIN_BINDING(Conv2d) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    const at::Tensor& w = ArgTensor(info, 1, "weight");
    auto b = ArgOptTensor(info, 2, "bias");
    auto stride = Pair2(info, 3, "stride", 1, 1);
    std::vector<int64_t> pad = {0, 0};
    if (!IsAbsent(info, 4)) {
      pad = info[4].IsNumber() ? std::vector<int64_t>{ArgInt(info, 4, "padding"), ArgInt(info, 4, "padding")} : ArgInts(info, 4, "padding");
      if (pad.size() == 1) pad.push_back(pad[0]);
      if (pad.size() != 2 && pad.size() != 4) ThrowRange("conv2d: padding must be n, [h, w] or [top, bottom, left, right]", "ERR_SHAPE");
      for (int64_t p : pad)
        if (p < 0) ThrowRange("conv2d: padding must be >= 0", "ERR_SHAPE");
    }
    auto dilation = Pair2(info, 5, "dilation", 1, 1);
    int64_t groups = IsAbsent(info, 6) ? 1 : ArgIntIn(info, 6, "groups", 1, 1 << 20);
    RequireDims(x, 4, "conv2d");
    RequireDims(w, 4, "conv2d weight");
    if (x.size(1) != w.size(1) * groups)
      ThrowRange("conv2d: input has " + std::to_string(x.size(1)) + " channels but the weight " + ShapeString(w.sizes()) + " with groups=" +
                 std::to_string(groups) + " expects " + std::to_string(w.size(1) * groups), "ERR_SHAPE");
    at::Tensor in = x;
    std::vector<int64_t> p2 = pad;
    if (pad.size() == 4) {
      if (pad[0] == pad[1] && pad[2] == pad[3]) p2 = {pad[0], pad[2]};
      else {
        in = at::constant_pad_nd(x, {pad[2], pad[3], pad[0], pad[1]});  // asymmetric: pad first, as TF 'SAME'
        p2 = {0, 0};
      }
    }
    return WrapTensor(info.Env(), at::conv2d(in, w, b ? *b : at::Tensor(), stride, p2, dilation, groups));
  });
}

LANGEVIN_BINDING(Linear) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    const at::Tensor& w = ArgTensor(info, 1, "weight");
    auto b = ArgOptTensor(info, 2, "bias");
    if (w.dim() != 2) ThrowRange("linear: weight must be 2-d [out, in], got " + ShapeString(w.sizes()), "ERR_SHAPE");
    if (x.dim() < 1 || x.size(-1) != w.size(1))
      ThrowRange("linear: input " + ShapeString(x.sizes()) + " does not end in " + std::to_string(w.size(1)) + " features", "ERR_SHAPE");
    return WrapTensor(info.Env(), at::linear(x, w, b ? *b : at::Tensor()));
  });
}

// groupNorm(x, groups, weight?, bias?, eps)
LANGEVIN_BINDING(GroupNorm) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    int64_t groups = ArgIntIn(info, 1, "groups", 1, 1 << 20);
    auto w = ArgOptTensor(info, 2, "weight");
    auto b = ArgOptTensor(info, 3, "bias");
    double eps = IsAbsent(info, 4) ? 1e-5 : ArgNumber(info, 4, "eps");
    if (x.dim() < 2 || x.size(1) % groups != 0)
      ThrowRange("groupNorm: " + std::to_string(x.dim() < 2 ? 0 : x.size(1)) + " channels cannot be split into " + std::to_string(groups) + " groups", "ERR_SHAPE");
    return WrapTensor(info.Env(), at::group_norm(x, groups, w ? *w : at::Tensor(), b ? *b : at::Tensor(), eps, at::globalContext().userEnabledCuDNN()));
  });
}

// batchNorm(x, runningMean?, runningVar?, weight?, bias?, training, momentum, eps)
// In training mode the running statistics are updated in place (write access).
LANGEVIN_BINDING(BatchNorm) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    bool training = ArgBool(info, 5, "training");
    c10::optional<at::Tensor> rm, rv;
    if (!IsAbsent(info, 1)) rm = ArgTensor(info, 1, "runningMean", training ? Access::Write : Access::Read);
    if (!IsAbsent(info, 2)) rv = ArgTensor(info, 2, "runningVar", training ? Access::Write : Access::Read);
    auto w = ArgOptTensor(info, 3, "weight");
    auto b = ArgOptTensor(info, 4, "bias");
    double momentum = IsAbsent(info, 6) ? 0.1 : ArgNumber(info, 6, "momentum");
    double eps = IsAbsent(info, 7) ? 1e-5 : ArgNumber(info, 7, "eps");
    if (x.dim() < 2) ThrowRange("batchNorm: input needs a channel dimension", "ERR_SHAPE");
    if (!training && (!rm || !rv)) ThrowRange("batchNorm: evaluation mode needs running statistics");
    if ((rm.has_value()) != (rv.has_value())) ThrowRange("batchNorm: give both runningMean and runningVar, or neither");
    if (training && x.numel() / x.size(1) <= 1) ThrowRange("batchNorm: training needs more than one value per channel, got " + ShapeString(x.sizes()), "ERR_SHAPE");
    return WrapTensor(info.Env(), at::batch_norm(x, w ? *w : at::Tensor(), b ? *b : at::Tensor(), rm ? *rm : at::Tensor(),
                                                         rv ? *rv : at::Tensor(), training, momentum, eps, at::globalContext().userEnabledCuDNN()));
  });
}

// dropout(x, p, training, generator?): seeded mask, scaled by 1/(1-p).
LANGEVIN_BINDING(Dropout) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    double p = ArgNumber(info, 1, "p");
    bool training = ArgOptBool(info, 2, "training", true);
    at::Generator gen = ArgGenerator(info, 3, "generator");
    if (!(p >= 0 && p <= 1)) ThrowRange("dropout: p must be in [0, 1], got " + std::to_string(p));
    if (!training || p == 0) return WrapTensor(info.Env(), x.alias());
    return WrapTensor(info.Env(), langevin::Dropout(x, p, training, gen));
  });
}

LANGEVIN_BINDING(LeakyRelu) {
  return Guard(info, [&]() -> Napi::Value {
    return WrapTensor(info.Env(), at::leaky_relu(ArgTensor(info, 0, "input"), IsAbsent(info, 1) ? 0.01 : ArgNumber(info, 1, "slope")));
  });
}

LANGEVIN_BINDING(Softplus) {
  return Guard(info, [&]() -> Napi::Value {
    double beta = IsAbsent(info, 1) ? 1.0 : ArgNumber(info, 1, "beta");
    double threshold = IsAbsent(info, 2) ? 20.0 : ArgNumber(info, 2, "threshold");
    return WrapTensor(info.Env(), at::softplus(ArgTensor(info, 0, "input"), beta, threshold));
  });
}

template <bool Log>
Napi::Value SoftmaxImpl(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    int64_t dim = WrapDim(IsAbsent(info, 1) ? -1 : ArgInt(info, 1, "dim"), x.dim(), "dim");
    return WrapTensor(info.Env(), Log ? at::log_softmax(x, dim) : at::softmax(x, dim));
  });
}
LANGEVIN_BINDING(Softmax) { return SoftmaxImpl<false>(info); }
LANGEVIN_BINDING(LogSoftmax) { return SoftmaxImpl<true>(info); }

void CheckPool(const at::Tensor& x, const std::vector<int64_t>& k, const std::vector<int64_t>& pad, const char* what) {
  if (x.dim() != 3 && x.dim() != 4) ThrowRange(std::string(what) + ": expected a 3-d or 4-d input, got " + ShapeString(x.sizes()), "ERR_SHAPE");
  for (int j = 0; j < 2; ++j) {
    if (pad[j] * 2 > k[j]) ThrowRange(std::string(what) + ": padding must be at most half the kernel size", "ERR_SHAPE");
    if (x.size(x.dim() - 2 + j) + 2 * pad[j] < k[j]) ThrowRange(std::string(what) + ": the kernel is larger than the padded input", "ERR_SHAPE");
  }
}

// avgPool2d(x, kernel, stride?, padding, ceilMode, countIncludePad)
LANGEVIN_BINDING(AvgPool2d) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    auto k = Pair2(info, 1, "kernel", 1, 1);
    auto s = IsAbsent(info, 2) ? k : Pair2(info, 2, "stride", 1, 1);
    auto p = Pair2(info, 3, "padding", 0, 0);
    bool ceil = ArgOptBool(info, 4, "ceilMode", false);
    bool countPad = ArgOptBool(info, 5, "countIncludePad", true);
    CheckPool(x, k, p, "avgPool2d");
    return WrapTensor(info.Env(), at::avg_pool2d(x, k, s, p, ceil, countPad));
  });
}

// maxPool2d(x, kernel, stride?, padding, dilation, ceilMode)
LANGEVIN_BINDING(MaxPool2d) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    auto k = Pair2(info, 1, "kernel", 1, 1);
    auto s = IsAbsent(info, 2) ? k : Pair2(info, 2, "stride", 1, 1);
    auto p = Pair2(info, 3, "padding", 0, 0);
    auto d = Pair2(info, 4, "dilation", 1, 1);
    bool ceil = ArgOptBool(info, 5, "ceilMode", false);
    CheckPool(x, k, p, "maxPool2d");
    return WrapTensor(info.Env(), at::max_pool2d(x, k, s, p, d, ceil));
  });
}

LANGEVIN_BINDING(AdaptiveAvgPool2d) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    auto size = Pair2(info, 1, "outputSize", 1, 1);
    if (x.dim() != 3 && x.dim() != 4) ThrowRange("adaptiveAvgPool2d: expected a 3-d or 4-d input, got " + ShapeString(x.sizes()), "ERR_SHAPE");
    CheckAllocNumel(static_cast<double>(x.numel() / (x.size(-1) * x.size(-2) + (x.numel() == 0))) * size[0] * size[1], x.scalar_type(), "adaptiveAvgPool2d");
    return WrapTensor(info.Env(), at::adaptive_avg_pool2d(x, size));
  });
}

std::vector<int64_t> OutSize(const at::Tensor& x, const std::vector<int64_t>& size, const char* what) {
  if (x.dim() != 4) ThrowRange(std::string(what) + ": expected a 4-d NCHW input, got " + ShapeString(x.sizes()), "ERR_SHAPE");
  CheckAllocNumel(static_cast<double>(x.size(0)) * x.size(1) * size[0] * size[1], x.scalar_type(), what);
  return size;
}

// upsampleNearest(x, scale): integer factor (×2 in the U-Net)
LANGEVIN_BINDING(UpsampleNearest) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    int64_t f = IsAbsent(info, 1) ? 2 : ArgIntIn(info, 1, "scale", 1, 64);
    if (x.dim() != 4) ThrowRange("upsampleNearest: expected a 4-d NCHW input, got " + ShapeString(x.sizes()), "ERR_SHAPE");
    auto size = OutSize(x, {x.size(2) * f, x.size(3) * f}, "upsampleNearest");
    return WrapTensor(info.Env(), at::upsample_nearest2d(x, size));
  });
}

// resizeBilinear(x, [h, w], alignCorners=false) — what pytorch-fid uses to reach 299×299.
LANGEVIN_BINDING(ResizeBilinear) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "input");
    auto size = Pair2(info, 1, "size", 1, 1);
    bool align = ArgOptBool(info, 2, "alignCorners", false);
    return WrapTensor(info.Env(), at::upsample_bilinear2d(x, OutSize(x, size, "resizeBilinear"), align));
  });
}

// attention(q, k, v, mask?, scale?): softmax(q kᵀ · scale) v over the last two dims.
LANGEVIN_BINDING(AttentionJs) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& q = ArgTensor(info, 0, "query");
    const at::Tensor& k = ArgTensor(info, 1, "key");
    const at::Tensor& v = ArgTensor(info, 2, "value");
    auto mask = ArgOptTensor(info, 3, "mask");
    auto scale = ArgOptNumber(info, 4, "scale");
    if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) ThrowRange("attention: query, key and value need at least 2 dimensions", "ERR_SHAPE");
    if (q.size(-1) != k.size(-1)) ThrowRange("attention: query and key feature sizes differ: " + ShapeString(q.sizes()) + " vs " + ShapeString(k.sizes()), "ERR_SHAPE");
    if (k.size(-2) != v.size(-2)) ThrowRange("attention: key and value lengths differ: " + ShapeString(k.sizes()) + " vs " + ShapeString(v.sizes()), "ERR_SHAPE");
    CheckAllocNumel(static_cast<double>(q.numel() / q.size(-1)) * k.size(-2), q.scalar_type(), "attention");
    c10::optional<double> s;
    if (scale) s = *scale;
    return WrapTensor(info.Env(), Attention(q, k, v, mask ? c10::optional<at::Tensor>(*mask) : c10::nullopt, s));
  });
}

int64_t Reduction(const Napi::CallbackInfo& info, size_t i) {
  std::string r = IsAbsent(info, i) ? "mean" : ArgString(info, i, "reduction");
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  ThrowRange("reduction must be 'mean', 'sum' or 'none', got '" + r + "'");
}

// crossEntropy(logits [N, C], target int64 [N], reduction, labelSmoothing)
LANGEVIN_BINDING(CrossEntropy) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& logits = ArgTensor(info, 0, "logits");
    const at::Tensor& target = ArgTensor(info, 1, "target");
    int64_t red = Reduction(info, 2);
    double smoothing = IsAbsent(info, 3) ? 0.0 : ArgNumber(info, 3, "labelSmoothing");
    if (logits.dim() != 2) ThrowRange("crossEntropy: logits must be [N, C], got " + ShapeString(logits.sizes()), "ERR_SHAPE");
    if (target.scalar_type() != at::kLong) ThrowType(std::string("crossEntropy: target must be int64 class indices, got ") + DtypeName(target.scalar_type()));
    if (target.dim() != 1 || target.size(0) != logits.size(0))
      ThrowRange("crossEntropy: target " + ShapeString(target.sizes()) + " does not match logits " + ShapeString(logits.sizes()), "ERR_SHAPE");
    if (!(smoothing >= 0 && smoothing <= 1)) ThrowRange("crossEntropy: labelSmoothing must be in [0, 1]");
    if (target.numel() > 0) {
      int64_t lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
      if (lo < 0 || hi >= logits.size(1))
        ThrowRange("crossEntropy: target classes must lie in [0, " + std::to_string(logits.size(1)) + "), got " + std::to_string(lo < 0 ? lo : hi), "ERR_INDEX");
    }
    return WrapTensor(info.Env(), at::cross_entropy_loss(logits, target, {}, red, -100, smoothing));
  });
}

LANGEVIN_BINDING(MseLoss) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& a = ArgTensor(info, 0, "input");
    const at::Tensor& b = ArgTensor(info, 1, "target");
    if (a.sizes() != b.sizes()) ThrowRange("mseLoss: shapes differ: " + ShapeString(a.sizes()) + " vs " + ShapeString(b.sizes()), "ERR_SHAPE");
    return WrapTensor(info.Env(), at::mse_loss(a, b, Reduction(info, 2)));
  });
}

// timestepEmbedding(t [N], dim, maxPeriod=10000) -> [N, dim] float32
LANGEVIN_BINDING(TimestepEmbeddingJs) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "timesteps");
    int64_t dim = ArgIntIn(info, 1, "dim", 2, 1 << 16);
    double maxPeriod = IsAbsent(info, 2) ? 10000.0 : ArgNumber(info, 2, "maxPeriod");
    if (t.dim() != 1) ThrowRange("timestepEmbedding: timesteps must be 1-d, got " + ShapeString(t.sizes()), "ERR_SHAPE");
    if (!(maxPeriod > 1)) ThrowRange("timestepEmbedding: maxPeriod must be > 1");
    return WrapTensor(info.Env(), TimestepEmbedding(t, dim, maxPeriod));
  });
}

}  // namespace

void RegisterNnOps(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "conv2d", Conv2d);
  Define(env, exports, "linear", Linear);
  Define(env, exports, "groupNorm", GroupNorm);
  Define(env, exports, "batchNorm", BatchNorm);
  Define(env, exports, "dropout", Dropout);
  Define(env, exports, "leakyRelu", LeakyRelu);
  Define(env, exports, "softplus", Softplus);
  Define(env, exports, "softmax", Softmax);
  Define(env, exports, "logSoftmax", LogSoftmax);
  Define(env, exports, "avgPool2d", AvgPool2d);
  Define(env, exports, "maxPool2d", MaxPool2d);
  Define(env, exports, "adaptiveAvgPool2d", AdaptiveAvgPool2d);
  Define(env, exports, "upsampleNearest", UpsampleNearest);
  Define(env, exports, "resizeBilinear", ResizeBilinear);
  Define(env, exports, "attention", AttentionJs);
  Define(env, exports, "crossEntropy", CrossEntropy);
  Define(env, exports, "mseLoss", MseLoss);
  Define(env, exports, "timestepEmbedding", TimestepEmbeddingJs);
}

}  // namespace langevin

#include "program.h"

#include "blocks.h"
#include "jobs.h"
#include "generator.h"
#include "nn_ops.h"

#include <cmath>

namespace langevin {

namespace {

struct KindInfo {
  const char* name;
  BlockKind kind;
  size_t params, ints, floats;
};

const KindInfo kKinds[] = {
    {"temb", BlockKind::TimeEmbed, 4, 1, 1},     {"conv", BlockKind::Conv, 2, 5, 0},
    {"resblock", BlockKind::ResBlock, 12, 3, 2}, {"attn", BlockKind::Attn, 10, 1, 1},
    {"downsample", BlockKind::Downsample, 2, 1, 0}, {"upsample", BlockKind::Upsample, 2, 1, 0},
    {"normact", BlockKind::NormAct, 4, 3, 3},    {"wrnblock", BlockKind::WrnBlock, 14, 4, 4},
    {"pool", BlockKind::Pool, 0, 0, 0},          {"linear", BlockKind::Linear, 2, 0, 0},
};

Napi::FunctionReference& ProgramCtor(Napi::Env env) { return Data(env).programCtor; }

template <class T>
std::vector<T> NumberList(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) ThrowType(what + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<T> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber()) ThrowType(what + "[" + std::to_string(k) + "] must be a number");
    double d = e.As<Napi::Number>().DoubleValue();
    if constexpr (std::is_integral_v<T>) {
      if (!std::isfinite(d) || std::floor(d) != d) ThrowRange(what + "[" + std::to_string(k) + "] must be an integer");
    }
    out[k] = static_cast<T>(d);
  }
  return out;
}

NormSpec Norm(const std::vector<at::Tensor>& t, size_t at, int64_t kind, int64_t groups, double eps, double momentum) {
  NormSpec n;
  n.kind = static_cast<NormKind>(kind);
  n.groups = groups;
  n.eps = eps;
  n.momentum = momentum;
  n.weight = t[at];
  n.bias = t[at + 1];
  if (t.size() > at + 3) {
    n.runningMean = t[at + 2];
    n.runningVar = t[at + 3];
  }
  return n;
}

at::Tensor Act(const at::Tensor& x, int64_t act, double slope) {
  if (act == 1) return at::silu(x);
  if (act == 2) return at::leaky_relu(x, slope);
  return x;
}

at::Tensor GroupNorm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t groups, double eps) {
  return at::group_norm(AsParam(x, w), groups, w, b, eps, at::globalContext().userEnabledCuDNN());
}

}  // namespace

Napi::Function ProgramHandle::DefineClass(Napi::Env env) { return ObjectWrap<ProgramHandle>::DefineClass(env, "NativeProgram", {}); }

// new NativeProgram(blocks): validates kinds, counts and ids' shapes (ids are looked up per run).
ProgramHandle::ProgramHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramHandle>(info) {
  try {
    if (info.Length() < 1 || !info[0].IsArray()) ThrowType("NativeProgram: expected an array of blocks");
    Napi::Array arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      std::string where = "block " + std::to_string(i);
      if (!v.IsObject()) ThrowType(where + " must be an object");
      Napi::Object o = v.As<Napi::Object>();
      Napi::Value kv = o.Get("kind");
      if (!kv.IsString()) ThrowType(where + ".kind must be a string");
      std::string kind = kv.As<Napi::String>().Utf8Value();
      const KindInfo* ki = nullptr;
      for (auto& k : kKinds)
        if (kind == k.name) ki = &k;
      if (!ki) ThrowRange(where + ": unknown block kind '" + kind + "'");
      Block b;
      b.kind = ki->kind;
      b.params = NumberList<double>(o.Get("params"), where + ".params");
      b.ints = NumberList<int64_t>(o.Get("ints"), where + ".ints");
      b.floats = NumberList<double>(o.Get("floats"), where + ".floats");
      if (b.params.size() != ki->params || b.ints.size() != ki->ints || b.floats.size() != ki->floats)
        ThrowRange(where + " (" + kind + "): expected " + std::to_string(ki->params) + " params, " + std::to_string(ki->ints) + " ints, " +
                   std::to_string(ki->floats) + " floats");
      auto mutated = NumberList<int64_t>(o.Has("mutated") ? o.Get("mutated") : Napi::Array::New(info.Env()), where + ".mutated");
      b.mutated.assign(b.params.size(), false);
      for (int64_t m : mutated) {
        if (m < 0 || m >= static_cast<int64_t>(b.params.size())) ThrowRange(where + ".mutated index out of range");
        b.mutated[m] = true;
      }
      b.pushAfter = o.Has("push") && o.Get("push").ToBoolean().Value();
      b.popConcat = o.Has("pop") && o.Get("pop").ToBoolean().Value();
      blocks_.push_back(std::move(b));
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw ToJsError(info.Env(), std::current_exception());
  }
}

bool ProgramHandle::needsTime() const {
  for (auto& b : blocks_)
    if (b.kind == BlockKind::TimeEmbed) return true;
  return false;
}

ProgramHandle* ArgProgram(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(ProgramCtor(info.Env()).Value()))
    ThrowType("argument " + std::to_string(i) + " (program) must be a NativeProgram");
  return ProgramHandle::Unwrap(info[i].As<Napi::Object>());
}

std::set<double> ProgramParamIds(const ProgramHandle& p, bool mutatedOnly) {
  std::set<double> ids;
  for (auto& b : p.blocks())
    for (size_t k = 0; k < b.params.size(); ++k)
      if (b.params[k] >= 0 && (!mutatedOnly || b.mutated[k])) ids.insert(b.params[k]);
  return ids;
}

std::vector<ResolvedBlock> Resolve(Napi::Env env, const ProgramHandle& p, bool training) {
  std::vector<ResolvedBlock> out;
  out.reserve(p.blocks().size());
  for (auto& b : p.blocks()) {
    ResolvedBlock r{&b, {}};
    r.t.reserve(b.params.size());
    for (size_t k = 0; k < b.params.size(); ++k) {
      if (b.params[k] < 0) r.t.emplace_back();
      else r.t.push_back(Table(env).Get(b.params[k], training && b.mutated[k] ? Access::Write : Access::Read, "model parameter"));
    }
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

// A model placed channels-last (Module.to({ memoryFormat })) has NHWC-strided convolution weights;
// the first one whose layout tells (more than one input channel and a spatial extent: a 1×1 kernel
// or a single input channel is contiguous in both formats) decides.
bool ChannelsLast(const std::vector<ResolvedBlock>& blocks) {
  for (const auto& r : blocks)
    for (const auto& w : r.t)
      if (w.defined() && w.dim() == 4 && w.size(1) > 1 && w.size(2) * w.size(3) > 1) return !w.is_contiguous() && w.is_contiguous(at::MemoryFormat::ChannelsLast);
  return false;
}

}  // namespace

at::Tensor RunProgram(const std::vector<ResolvedBlock>& blocks, const at::Tensor& x, const c10::optional<at::Tensor>& t, bool training,
                      at::Generator& gen) {
  // Channels-last models get their input in that layout (every op then keeps it) and hand back a
  // contiguous output. (Gradients with respect to the input, through autograd, may come back
  // NHWC-strided, as in PyTorch; energyGrad makes its own contiguous.)
  const bool channelsLast = ChannelsLast(blocks);
  at::Tensor h = channelsLast ? x.contiguous(at::MemoryFormat::ChannelsLast) : x, temb;
  std::vector<at::Tensor> skips;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = *blocks[i].block;
    const auto& p = blocks[i].t;
    if (b.popConcat) {
      if (skips.empty()) ThrowPlain("program: block " + std::to_string(i) + " pops an empty skip stack", "ERR_PROGRAM");
      h = at::cat({h, skips.back()}, 1);
      skips.pop_back();
    }
    switch (b.kind) {
      case BlockKind::TimeEmbed: {
        if (!t) ThrowRange("this model is time-conditioned: pass timesteps t [N]", "ERR_SHAPE");
        if (t->dim() != 1 || t->size(0) != x.size(0))
          ThrowRange("timesteps must be 1-d with one entry per image: got " + ShapeString(t->sizes()) + " for a batch of " + std::to_string(x.size(0)), "ERR_SHAPE");
        at::Tensor e = TimestepEmbedding(*t, b.ints[0], b.floats[0]).to(p[0].device(), p[0].scalar_type());
        temb = Linear(at::silu(Linear(e, p[0], p[1])), p[2], p[3]);
        break;
      }
      case BlockKind::Conv:
        h = Conv(h, p[0], p[1], b.ints[0], {b.ints[1], b.ints[2], b.ints[3], b.ints[4]});
        break;
      case BlockKind::ResBlock: {
        int64_t groups = b.ints[0];
        double eps = b.floats[0];
        at::Tensor r = Conv(at::silu(GroupNorm(h, p[0], p[1], groups, eps)), p[2], p[3], 1, {1, 1, 1, 1});
        if (b.ints[2]) r = r + Linear(at::silu(temb), p[4], p[5]).unsqueeze(-1).unsqueeze(-1);
        r = Dropout(at::silu(GroupNorm(r, p[6], p[7], groups, eps)), b.floats[1], training, gen);
        r = Conv(r, p[8], p[9], 1, {1, 1, 1, 1});
        at::Tensor skip = b.ints[1] ? Conv(h, p[10], p[11], 1, {0, 0, 0, 0}) : h;
        h = skip + r;
        break;
      }
      case BlockKind::Attn: {
        int64_t B = h.size(0), C = h.size(1), H = h.size(2), W = h.size(3);
        at::Tensor n = GroupNorm(h, p[0], p[1], b.ints[0], b.floats[0]);
        auto tokens = [&](const at::Tensor& y) { return y.reshape({B, C, H * W}).transpose(1, 2); };  // [B, HW, C]
        const std::vector<int64_t> none = {0, 0, 0, 0};
        at::Tensor q = tokens(Conv(n, p[2], p[3], 1, none)), k = tokens(Conv(n, p[4], p[5], 1, none)), v = tokens(Conv(n, p[6], p[7], 1, none));
        at::Tensor a = Attention(q, k, v, c10::nullopt, 1.0 / std::sqrt(static_cast<double>(C)));
        a = a.transpose(1, 2).reshape({B, C, H, W});
        h = h + Conv(a, p[8], p[9], 1, none);
        break;
      }
      case BlockKind::Downsample:
        h = b.ints[0] ? Conv(h, p[0], p[1], 2, {0, 1, 0, 1}) : at::avg_pool2d(h, {2, 2}, {2, 2});
        break;
      case BlockKind::Upsample:
        h = at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
        if (b.ints[0]) h = Conv(h, p[0], p[1], 1, {1, 1, 1, 1});
        break;
      case BlockKind::NormAct:
        h = Act(ApplyNorm(h, Norm(p, 0, b.ints[0], b.ints[1], b.floats[0], b.floats[1]), training), b.ints[2], b.floats[2]);
        break;
      case BlockKind::WrnBlock: {
        NormSpec n1 = Norm(p, 0, b.ints[0], b.ints[1], b.floats[0], b.floats[1]);
        NormSpec n2 = Norm(p, 6, b.ints[0], b.ints[1], b.floats[0], b.floats[1]);
        double slope = b.floats[3];
        at::Tensor r = Dropout(Conv(at::leaky_relu(ApplyNorm(h, n1, training), slope), p[4], p[5], 1, {1, 1, 1, 1}), b.floats[2], training, gen);
        r = Conv(at::leaky_relu(ApplyNorm(r, n2, training), slope), p[10], p[11], b.ints[2], {1, 1, 1, 1});
        at::Tensor skip = b.ints[3] ? Conv(h, p[12], p[13], b.ints[2], {0, 0, 0, 0}) : h;
        h = r + skip;
        break;
      }
      case BlockKind::Pool:
        h = h.mean({2, 3});
        break;
      case BlockKind::Linear:
        h = Linear(h, p[0], p[1]);
        break;
    }
    if (b.pushAfter) skips.push_back(h);
  }
  if (!skips.empty()) ThrowPlain("program: " + std::to_string(skips.size()) + " skip(s) left on the stack", "ERR_PROGRAM");
  return h.to(x.scalar_type()).contiguous();  // the compute dtype and the layout stay inside
}

namespace {

// Which of a block's params belong to a normalisation layer (kept in float32 by CastForCompute).
bool IsNormParam(BlockKind kind, size_t k) {
  switch (kind) {
    case BlockKind::ResBlock:
      return k == 0 || k == 1 || k == 6 || k == 7;
    case BlockKind::Attn:
      return k <= 1;
    case BlockKind::NormAct:
      return true;
    case BlockKind::WrnBlock:
      return k <= 3 || (k >= 6 && k <= 9);
    default:
      return false;
  }
}

}  // namespace

std::vector<ResolvedBlock> CastForCompute(const std::vector<ResolvedBlock>& blocks, at::ScalarType dtype, bool differentiable) {
  std::vector<ResolvedBlock> out = blocks;
  if (dtype == at::kFloat) return out;
  // Differentiable casts (grad mode on) route the bf16 weight gradients back to the float32
  // parameters as float32: mixed-precision training with float32 master weights.
  c10::optional<at::NoGradGuard> ng;
  if (!differentiable) ng.emplace();
  for (auto& r : out)
    for (size_t k = 0; k < r.t.size(); ++k)
      if (r.t[k].defined() && !IsNormParam(r.block->kind, k)) r.t[k] = r.t[k].to(dtype);
  return out;
}

std::vector<ResolvedBlock> ProgramHandle::CastCached(const std::vector<ResolvedBlock>& blocks, at::ScalarType dtype) {
  if (dtype == at::kFloat) return blocks;
  std::vector<std::pair<at::Tensor, uint32_t>> sources;
  for (auto& r : blocks)
    for (auto& t : r.t)
      if (t.defined()) sources.emplace_back(t, t._version());
  std::lock_guard<std::mutex> lock(castMutex_);
  auto same = [&]() {
    if (!cast_ || cast_->dtype != dtype || cast_->sources.size() != sources.size()) return false;
    for (size_t k = 0; k < sources.size(); ++k)
      if (!cast_->sources[k].first.is_same(sources[k].first) || cast_->sources[k].second != sources[k].second) return false;
    return true;
  };
  if (!same()) {
    cast_.reset();  // free the stale copies before making new ones (peak memory)
    cast_ = CastCache{dtype, std::move(sources), CastForCompute(blocks, dtype)};
  }
  // The cached blocks point at this program's Block records, as the caller's do.
  return cast_->blocks;
}

void ProgramHandle::ReleaseCache() {
  std::lock_guard<std::mutex> lock(castMutex_);
  cast_.reset();
}

at::ScalarType ArgComputeDtype(const Napi::CallbackInfo& info, size_t i) {
  at::ScalarType d = ArgOptDtype(info, i, "computeDtype", at::kFloat);
  if (d != at::kFloat && d != at::kBFloat16) ThrowRange("computeDtype must be 'float32' or 'bfloat16'");
  return d;
}

namespace {

// programForward(program, x, t?, training, generator?, computeDtype?): under grad mode a bf16
// forward records its weight casts, so backward leaves float32 gradients on the float32 parameters.
LANGEVIN_BINDING(ProgramForward) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "input");
    auto t = ArgOptTensor(info, 2, "timesteps");
    bool training = ArgOptBool(info, 3, "training", false);
    at::Generator gen = ArgGenerator(info, 4, "generator");
    at::ScalarType compute = ArgComputeDtype(info, 5);
    if (x.dim() != 4) ThrowRange("model input must be [N, C, H, W], got " + ShapeString(x.sizes()), "ERR_SHAPE");
    auto blocks = CastForCompute(Resolve(info.Env(), *p, training), compute, at::GradMode::is_enabled());
    c10::optional<at::Tensor> tt;
    if (t) tt = *t;
    return WrapTensor(info.Env(), RunProgram(blocks, x, tt, training, gen));
  });
}

// One forward on a worker thread (inference: no autograd graph). The program's parameters and the
// inputs are locked for reading while it runs, so JS cannot change or dispose them underneath.
class ProgramForwardJob : public Job {
 public:
  ProgramForwardJob(std::vector<ResolvedBlock> blocks, at::Tensor x, c10::optional<at::Tensor> t, at::Generator gen, at::ScalarType compute)
      : blocks_(std::move(blocks)), x_(std::move(x)), t_(std::move(t)), gen_(std::move(gen)), compute_(compute) {}
  int64_t Steps() const override { return 1; }
  void Step(int64_t) override { out_ = RunProgram(CastForCompute(blocks_, compute_), x_, t_, false, gen_); }
  Napi::Value Result(Napi::Env env) override { return WrapTensor(env, out_); }

 private:
  std::vector<ResolvedBlock> blocks_;
  at::Tensor x_, out_;
  c10::optional<at::Tensor> t_;
  at::Generator gen_;
  at::ScalarType compute_;
};

// programForwardAsync(program, x, t?, generator?, computeDtype?, jobOptions?) -> { promise, cancel }
LANGEVIN_BINDING(ProgramForwardAsync) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "input");
    auto t = ArgOptTensor(info, 2, "timesteps");
    at::Generator gen = ArgGenerator(info, 3, "generator");
    at::ScalarType compute = ArgComputeDtype(info, 4);
    JobOptions opts = ArgJobOptions(info, 5);
    if (x.dim() != 4) ThrowRange("model input must be [N, C, H, W], got " + ShapeString(x.sizes()), "ERR_SHAPE");
    auto blocks = Resolve(info.Env(), *p, false);
    std::vector<JobLock> locks = {{info[1].As<Napi::Number>().DoubleValue(), Access::Read}};
    if (t) locks.push_back({info[2].As<Napi::Number>().DoubleValue(), Access::Read});
    for (double id : ProgramParamIds(*p, false)) locks.push_back({id, Access::Read});
    c10::optional<at::Tensor> tt;
    if (t) tt = *t;
    return StartJob(info.Env(), std::make_unique<ProgramForwardJob>(std::move(blocks), x, tt, gen, compute), locks, opts);
  });
}

// programReleaseCache(program): drops the program's cached cast weights.
LANGEVIN_BINDING(ProgramReleaseCache) {
  return Guard(info, [&]() -> Napi::Value {
    ArgProgram(info, 0)->ReleaseCache();
    return info.Env().Undefined();
  });
}

}  // namespace

void RegisterPrograms(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ProgramHandle::DefineClass(env);
  ProgramCtor(env) = Napi::Persistent(ctor);
  exports.Set("NativeProgram", ctor);
  Define(env, exports, "programForward", ProgramForward);
  Define(env, exports, "programForwardAsync", ProgramForwardAsync);
  Define(env, exports, "programReleaseCache", ProgramReleaseCache);
}

}  // namespace langevin

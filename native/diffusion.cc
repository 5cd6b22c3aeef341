// Diffusion sampling: the update of one reverse step (ancestral or DDIM), shared by the step
// binding the TypeScript sampler calls for any model and by the native loop that runs all T steps
// of a compiled U-Net on a worker thread — one implementation, so both paths give the same samples.
#include "common.h"
#include "jobs.h"
#include "program.h"

namespace langevin {

namespace {

// One step's coefficients, computed in float64 by TypeScript (ts/diffusion/gaussian.ts):
//   x̂0 = recip·x − recipM1·ε, clipped to [−1, 1] when `clip`;
//   x' = coef1·x̂0 + coef2·(useEps ? ε : x) + sigma·z, with z ~ N(0, I) drawn only when sigma > 0.
// Ancestral (posterior mean): useEps = false. DDIM: coef1 = sqrt(ᾱ'), coef2 = sqrt(1 − ᾱ' − σ²),
// useEps = true.
struct StepPlan {
  int64_t t;
  double recip, recipM1, coef1, coef2, sigma;
};

struct StepOut {
  at::Tensor x, x0;
};

StepOut DiffusionStep(const at::Tensor& x, const at::Tensor& eps, const StepPlan& s, bool clip, bool useEps, at::Generator& gen) {
  at::NoGradGuard ng;
  at::Tensor x0 = x * s.recip - eps * s.recipM1;
  if (clip) x0 = x0.clamp(-1.0, 1.0);
  at::Tensor out = x0 * s.coef1 + (useEps ? eps : x) * s.coef2;
  if (s.sigma > 0) {
    // Drawn on the CPU generator whatever the device (one seed, same samples everywhere).
    at::Tensor z = at::randn(x.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(x.device(), x.scalar_type());
    out = out + z * s.sigma;
  }
  return {out, x0};
}

StepPlan ReadPlan(const Napi::Object& o, const std::string& what) {
  auto num = [&](const char* k) {
    Napi::Value v = o.Get(k);
    if (!v.IsNumber()) ThrowType(what + ": " + k + " must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) ThrowRange(what + ": " + k + " must be finite, got " + std::to_string(d));
    return d;
  };
  StepPlan p{static_cast<int64_t>(num("t")), num("recip"), num("recipM1"), num("coef1"), num("coef2"), num("sigma")};
  if (p.t < 0 || p.sigma < 0) ThrowRange(what + ": t and sigma must be ≥ 0");
  return p;
}

void CheckPair(const at::Tensor& x, const at::Tensor& eps, const char* what) {
  if (!x.is_floating_point() || x.sizes() != eps.sizes())
    ThrowRange(std::string(what) + ": x and the model output must be floating tensors of one shape, got " + ShapeString(x.sizes()) + " and " +
                   ShapeString(eps.sizes()),
               "ERR_SHAPE");
}

// diffusionStep(x, eps, plan, clip, useEps, generator?) -> [x', x̂0]
LANGEVIN_BINDING(DiffusionStepJs) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "x");
    const at::Tensor& eps = ArgTensor(info, 1, "eps");
    CheckPair(x, eps, "diffusionStep");
    if (info.Length() < 3 || !info[2].IsObject()) ThrowType("diffusionStep: argument 2 must be the step plan");
    StepPlan plan = ReadPlan(info[2].As<Napi::Object>(), "diffusionStep");
    bool clip = ArgBool(info, 3, "clip"), useEps = ArgBool(info, 4, "useEps");
    at::Generator gen = ArgGenerator(info, 5, "generator");
    StepOut r = DiffusionStep(x, eps, plan, clip, useEps, gen);
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, WrapTensor(info.Env(), r.x));
    out.Set(1u, WrapTensor(info.Env(), r.x0));
    return out;
  });
}

// The whole reverse process of a compiled model on a worker thread: per step one program forward
// and one DiffusionStep. Snapshots of x_t and x̂0 every `snapshotEvery` steps (and the last) are kept.
class SampleLoopJob : public Job {
 public:
  SampleLoopJob(std::vector<ResolvedBlock> blocks, at::Tensor x, std::vector<StepPlan> plan, bool clip, bool useEps, int64_t snapshotEvery,
                at::Generator gen, at::ScalarType compute)
      : blocks_(std::move(blocks)), x_(std::move(x)), plan_(std::move(plan)), clip_(clip), useEps_(useEps), snapshotEvery_(snapshotEvery),
        gen_(std::move(gen)), compute_(compute) {}
  int64_t Steps() const override { return static_cast<int64_t>(plan_.size()); }
  void Step(int64_t i) override {
    const StepPlan& s = plan_[i];
    if (i == 0) blocks_ = CastForCompute(blocks_, compute_);  // once, on the worker thread
    at::Tensor t = at::full({x_.size(0)}, s.t, at::TensorOptions().dtype(at::kLong).device(x_.device()));
    at::Tensor eps = RunProgram(blocks_, x_, t, false, gen_);
    StepOut r = DiffusionStep(x_, eps, s, clip_, useEps_, gen_);
    x_ = r.x;
    if (snapshotEvery_ > 0 && ((i + 1) % snapshotEvery_ == 0 || i + 1 == Steps())) snapshots_.push_back({i + 1, s.t, r.x, r.x0});
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("x", WrapTensor(env, x_));
    Napi::Array snaps = Napi::Array::New(env, snapshots_.size());
    for (size_t k = 0; k < snapshots_.size(); ++k) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("step", static_cast<double>(snapshots_[k].step));
      s.Set("t", static_cast<double>(snapshots_[k].t));
      s.Set("x", WrapTensor(env, snapshots_[k].x));
      s.Set("x0", WrapTensor(env, snapshots_[k].x0));
      snaps.Set(static_cast<uint32_t>(k), s);
    }
    o.Set("snapshots", snaps);
    return o;
  }

 private:
  struct Snapshot {
    int64_t step, t;
    at::Tensor x, x0;
  };
  std::vector<ResolvedBlock> blocks_;
  at::Tensor x_;
  std::vector<StepPlan> plan_;
  bool clip_, useEps_;
  int64_t snapshotEvery_;
  at::Generator gen_;
  at::ScalarType compute_;
  std::vector<Snapshot> snapshots_;
};

// sampleLoopAsync(program, xT, plans[], clip, useEps, snapshotEvery, generator?, computeDtype?, jobOptions?) -> { promise, cancel }
// The model runs in computeDtype (CastForCompute); x_t and the update stay float32.
LANGEVIN_BINDING(SampleLoopAsync) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "x");
    if (x.dim() != 4 || !x.is_floating_point()) ThrowRange("sampleLoop: x must be a floating [N, C, H, W] tensor, got " + ShapeString(x.sizes()), "ERR_SHAPE");
    if (!p->needsTime()) ThrowType("sampleLoop: the program takes no timesteps (not a diffusion model)");
    if (info.Length() < 3 || !info[2].IsArray()) ThrowType("sampleLoop: argument 2 must be an array of step plans");
    Napi::Array arr = info[2].As<Napi::Array>();
    std::vector<StepPlan> plan;
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      Napi::Value v = arr.Get(k);
      if (!v.IsObject()) ThrowType("sampleLoop: step plan " + std::to_string(k) + " is not an object");
      plan.push_back(ReadPlan(v.As<Napi::Object>(), "sampleLoop: step " + std::to_string(k)));
    }
    if (plan.empty()) ThrowRange("sampleLoop: no steps to run");
    bool clip = ArgBool(info, 3, "clip"), useEps = ArgBool(info, 4, "useEps");
    int64_t snapshotEvery = ArgIntIn(info, 5, "snapshotEvery", 0, INT64_MAX);
    at::Generator gen = ArgGenerator(info, 6, "generator");
    at::ScalarType compute = ArgComputeDtype(info, 7);
    JobOptions opts = ArgJobOptions(info, 8);
    auto blocks = Resolve(info.Env(), *p, false);
    std::vector<JobLock> locks = {{info[1].As<Napi::Number>().DoubleValue(), Access::Read}};
    for (double id : ProgramParamIds(*p, false)) locks.push_back({id, Access::Read});
    return StartJob(info.Env(), std::make_unique<SampleLoopJob>(std::move(blocks), x, std::move(plan), clip, useEps, snapshotEvery, gen, compute), locks, opts);
  });
}

}  // namespace

void RegisterDiffusion(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "diffusionStep", DiffusionStepJs);
  Define(env, exports, "sampleLoopAsync", SampleLoopAsync);
}

}  // namespace langevin

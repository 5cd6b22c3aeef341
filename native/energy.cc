// JEM over a compiled classifier program: the energy E(x) = −logsumexp_y f(x)[y] (or E(x, y) =
// −f(x)[y]) with ∂E/∂x in one call, and one SGLD step x ← x − α·∂E/∂x + σ·ε fused with it. The
// input gradient comes from autograd::grad with x as the only input, so parameter .grad is never
// touched. The program runs in eval mode, as the official code samples.
#include "common.h"
#include "program.h"

#include <torch/csrc/autograd/autograd.h>

namespace langevin {

namespace {

struct EnergyGrad {
  at::Tensor energy, grad;
};

EnergyGrad EnergyAndGrad(const std::vector<ResolvedBlock>& blocks, const at::Tensor& x, const c10::optional<at::Tensor>& y, at::Generator& gen) {
  c10::AutoGradMode on(true);
  at::Tensor xi = x.detach().requires_grad_(true);
  at::Tensor logits = RunProgram(blocks, xi, c10::nullopt, false, gen);
  if (logits.dim() != 2) ThrowRange("energy: the model must output logits [N, classes], got " + ShapeString(logits.sizes()), "ERR_SHAPE");
  at::Tensor e = y ? -logits.gather(1, y->view({-1, 1})).squeeze(1) : -logits.logsumexp({1});
  // A channels-last model's backward leaves ∂E/∂x NHWC-strided: hand it back in the input's layout.
  at::Tensor g = torch::autograd::grad({e.sum()}, {xi})[0].contiguous(x.suggest_memory_format());
  return {e.detach(), g};
}

c10::optional<at::Tensor> ArgLabels(const Napi::CallbackInfo& info, size_t i, const at::Tensor& x, const char* what) {
  auto y = ArgOptTensor(info, i, "y");
  if (!y) return c10::nullopt;
  if (y->scalar_type() != at::kLong || y->dim() != 1 || y->size(0) != x.size(0))
    ThrowRange(std::string(what) + ": y must be int64 labels [" + std::to_string(x.size(0)) + "], got " + ShapeString(y->sizes()), "ERR_SHAPE");
  return *y;
}

void CheckInput(const at::Tensor& x, const char* what) {
  if (x.dim() != 4 || !x.is_floating_point()) ThrowRange(std::string(what) + ": x must be a floating [N, C, H, W] tensor, got " + ShapeString(x.sizes()), "ERR_SHAPE");
}

// energyGrad(program, x, y?, generator?, computeDtype?) -> [E [N], ∂E/∂x]
LANGEVIN_BINDING(EnergyGradJs) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "x");
    CheckInput(x, "energyGrad");
    auto y = ArgLabels(info, 2, x, "energyGrad");
    at::Generator gen = ArgGenerator(info, 3, "generator");
    auto blocks = p->CastCached(Resolve(info.Env(), *p, false), ArgComputeDtype(info, 4));
    EnergyGrad r = EnergyAndGrad(blocks, x, y, gen);
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, WrapTensor(info.Env(), r.energy));
    out.Set(1u, WrapTensor(info.Env(), r.grad));
    return out;
  });
}

// sgldStep(program, x, {stepSize, noise, gradClamp?, clampMin?, clampMax?}, y?, generator?, computeDtype?) -> [x', E(x) [N]]
//   g = ∂E/∂x, clamped to [−gradClamp, gradClamp] when given (JEM++'s proximal step);
//   x' = x − stepSize·g + noise·ε, ε ~ N(0, I) from the generator when noise > 0; then clamped to
//   [clampMin, clampMax] when given. E is the energy at the input x. In bfloat16 compute the
//   network runs mixed (CastForCompute); x, ∂E/∂x (cast back through autograd) and the update stay
//   float32.
LANGEVIN_BINDING(SgldStepJs) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "x");
    CheckInput(x, "sgldStep");
    if (info.Length() < 3 || !info[2].IsObject()) ThrowType("sgldStep: argument 2 must be the step settings");
    Napi::Object o = info[2].As<Napi::Object>();
    auto opt = [&](const char* k) -> c10::optional<double> {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
      if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) ThrowType(std::string("sgldStep: ") + k + " must be a finite number");
      return v.As<Napi::Number>().DoubleValue();
    };
    auto stepSize = opt("stepSize"), noise = opt("noise"), gradClamp = opt("gradClamp"), lo = opt("clampMin"), hi = opt("clampMax");
    if (!stepSize || !noise) ThrowType("sgldStep: stepSize and noise are required");
    if (*noise < 0 || (gradClamp && *gradClamp <= 0)) ThrowRange("sgldStep: noise must be ≥ 0 and gradClamp > 0");
    if (lo && hi && *lo > *hi) ThrowRange("sgldStep: clampMin must be ≤ clampMax");
    auto y = ArgLabels(info, 3, x, "sgldStep");
    at::Generator gen = ArgGenerator(info, 4, "generator");
    auto blocks = p->CastCached(Resolve(info.Env(), *p, false), ArgComputeDtype(info, 5));
    EnergyGrad r = EnergyAndGrad(blocks, x, y, gen);
    at::NoGradGuard ng;
    at::Tensor g = gradClamp ? r.grad.clamp(-*gradClamp, *gradClamp) : r.grad;
    at::Tensor out = x.detach() - g * *stepSize;
    if (*noise > 0) out = out + at::randn(x.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(x.device(), x.scalar_type()) * *noise;
    if (lo || hi) out = out.clamp(lo ? c10::optional<at::Scalar>(*lo) : c10::nullopt, hi ? c10::optional<at::Scalar>(*hi) : c10::nullopt);
    Napi::Array res = Napi::Array::New(info.Env(), 2);
    res.Set(0u, WrapTensor(info.Env(), out));
    res.Set(1u, WrapTensor(info.Env(), r.energy));
    return res;
  });
}

}  // namespace

void RegisterEnergy(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "energyGrad", EnergyGradJs);
  Define(env, exports, "sgldStep", SgldStepJs);
}

}  // namespace langevin

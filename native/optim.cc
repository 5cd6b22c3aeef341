// Optimizer updates, gradient clipping and EMA: one native call updates a whole parameter list,
// with PyTorch 1.13's formulas (torch.optim.Adam/AdamW/SGD, clip_grad_norm_), outside autograd.
#include "common.h"
#include "optim.h"

#include <cmath>

namespace langevin {

void AdamUpdate(std::vector<at::Tensor>& params, std::vector<at::Tensor>& m, std::vector<at::Tensor>& v, const AdamConfig& c) {
  at::NoGradGuard ng;
  const double bc1 = 1 - std::pow(c.beta1, c.step), bc2 = 1 - std::pow(c.beta2, c.step);
  const double stepSize = c.lr / bc1, bc2Sqrt = std::sqrt(bc2);
  for (size_t k = 0; k < params.size(); ++k) {
    at::Tensor& p = params[k];
    at::Tensor g = p.grad();
    if (!g.defined()) continue;  // as PyTorch: parameters without a gradient are left alone
    if (c.decoupled) p.mul_(1 - c.lr * c.weightDecay);
    else if (c.weightDecay != 0) g = g.add(p, c.weightDecay);
    m[k].mul_(c.beta1).add_(g, 1 - c.beta1);
    v[k].mul_(c.beta2).addcmul_(g, g, 1 - c.beta2);
    at::Tensor denom = (v[k].sqrt() / bc2Sqrt).add_(c.eps);
    p.addcdiv_(m[k], denom, -stepSize);
  }
}

double ClipGradNorm(std::vector<at::Tensor>& params, double maxNorm) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (auto& p : params)
    if (p.grad().defined()) norms.push_back(at::norm(p.grad().detach(), 2));
  if (norms.empty()) return 0;
  at::Tensor total = at::norm(at::stack(norms), 2);
  at::Tensor coef = (maxNorm / (total + 1e-6)).clamp_max(1.0);
  for (auto& p : params)
    if (p.grad().defined()) p.mutable_grad().detach().mul_(coef.to(p.grad().device()));
  return total.item<double>();
}

namespace {

void SameLength(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, const char* what) {
  if (a.size() != b.size()) ThrowRange(std::string(what) + ": state lists must match the parameter list (" + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")");
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].sizes() != b[k].sizes()) ThrowRange(std::string(what) + ": state " + std::to_string(k) + " has shape " + ShapeString(b[k].sizes()) + ", the parameter " + ShapeString(a[k].sizes()), "ERR_SHAPE");
}

// adamStep(params, expAvg, expAvgSq, step, lr, beta1, beta2, eps, weightDecay, decoupled)
LANGEVIN_BINDING(AdamStep) {
  return Guard(info, [&]() -> Napi::Value {
    auto params = ArgTensorList(info, 0, "params", Access::Write), m = ArgTensorList(info, 1, "expAvg", Access::Write), v = ArgTensorList(info, 2, "expAvgSq", Access::Write);
    SameLength(params, m, "adam");
    SameLength(params, v, "adam");
    double step = ArgNumber(info, 3, "step"), lr = ArgNumber(info, 4, "lr"), b1 = ArgNumber(info, 5, "beta1"), b2 = ArgNumber(info, 6, "beta2");
    double eps = ArgNumber(info, 7, "eps"), wd = ArgNumber(info, 8, "weightDecay");
    bool decoupled = ArgBool(info, 9, "decoupled");
    if (!(step >= 1)) ThrowRange("adam: step counts from 1");
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) ThrowRange("adam: betas must be in [0, 1)");
    if (!(lr >= 0) || !(eps >= 0) || !(wd >= 0)) ThrowRange("adam: lr, eps and weightDecay must be >= 0");
    AdamUpdate(params, m, v, AdamConfig{step, lr, b1, b2, eps, wd, decoupled});
    return info.Env().Undefined();
  });
}

// sgdStep(params, buffers, lr, momentum, dampening, weightDecay, nesterov, firstStep)
LANGEVIN_BINDING(SgdStep) {
  return Guard(info, [&]() -> Napi::Value {
    auto params = ArgTensorList(info, 0, "params", Access::Write), bufs = ArgTensorList(info, 1, "momentumBuffers", Access::Write);
    double lr = ArgNumber(info, 2, "lr"), mom = ArgNumber(info, 3, "momentum"), damp = ArgNumber(info, 4, "dampening"), wd = ArgNumber(info, 5, "weightDecay");
    bool nesterov = ArgBool(info, 6, "nesterov"), first = ArgBool(info, 7, "firstStep");
    if (mom != 0) SameLength(params, bufs, "sgd");
    if (!(lr >= 0) || !(mom >= 0) || !(wd >= 0)) ThrowRange("sgd: lr, momentum and weightDecay must be >= 0");
    if (nesterov && (mom <= 0 || damp != 0)) ThrowRange("sgd: Nesterov momentum requires a momentum and zero dampening");
    at::NoGradGuard ng;
    for (size_t k = 0; k < params.size(); ++k) {
      at::Tensor& p = params[k];
      at::Tensor d = p.grad();
      if (!d.defined()) continue;
      if (wd != 0) d = d.add(p, wd);
      if (mom != 0) {
        at::Tensor& b = bufs[k];
        if (first) b.copy_(d);
        else b.mul_(mom).add_(d, 1 - damp);
        d = nesterov ? d.add(b, mom) : b;
      }
      p.add_(d, -lr);
    }
    return info.Env().Undefined();
  });
}

// clipGradNorm(params, maxNorm) -> total norm before clipping (PyTorch 1.13's clip_grad_norm_, L2)
LANGEVIN_BINDING(ClipGradNormJs) {
  return Guard(info, [&]() -> Napi::Value {
    auto params = ArgTensorList(info, 0, "params", Access::Write);
    double maxNorm = ArgNumber(info, 1, "maxNorm");
    if (!(maxNorm > 0)) ThrowRange("clipGradNorm: maxNorm must be > 0");
    return Napi::Number::New(info.Env(), langevin::ClipGradNorm(params, maxNorm));
  });
}

// emaUpdate(shadow, params, decay): shadow ← shadow + (1 − decay)·(param − shadow)
LANGEVIN_BINDING(EmaUpdate) {
  return Guard(info, [&]() -> Napi::Value {
    auto shadow = ArgTensorList(info, 0, "shadow", Access::Write);
    auto params = ArgTensorList(info, 1, "params");
    double decay = ArgNumber(info, 2, "decay");
    if (!(decay >= 0 && decay <= 1)) ThrowRange("ema: decay must be in [0, 1]");
    SameLength(params, shadow, "ema");
    at::NoGradGuard ng;
    for (size_t k = 0; k < shadow.size(); ++k) {
      if (at::isFloatingType(shadow[k].scalar_type())) shadow[k].lerp_(params[k].detach().to(shadow[k].scalar_type()), 1 - decay);
      else shadow[k].copy_(params[k]);  // integer buffers (batch counters) are copied
    }
    return info.Env().Undefined();
  });
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "adamStep", AdamStep);
  Define(env, exports, "sgdStep", SgdStep);
  Define(env, exports, "clipGradNorm", ClipGradNormJs);
  Define(env, exports, "emaUpdate", EmaUpdate);
}

}  // namespace langevin

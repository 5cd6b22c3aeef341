// Tensor creation: constant fills, ranges, and random draws from an explicit Generator.
#include "common.h"

#include <cmath>

namespace langevin {

namespace {

at::TensorOptions Opts(at::ScalarType dtype, at::Device device) { return at::TensorOptions().dtype(dtype).device(device); }

// Random draws are made on the CPU in a dtype that has kernels everywhere, then converted and moved,
// so one seed gives the same numbers on every device and dtype.
at::ScalarType DrawDtype(at::ScalarType target) { return target == at::kDouble ? at::kDouble : at::kFloat; }

void RequireFloat(at::ScalarType t, const char* what) {
  if (!at::isFloatingType(t)) ThrowType(std::string(what) + ": dtype must be floating point, got " + DtypeName(t));
}

// full(shape, value, dtype?, device?) — zeros/ones are full with 0/1.
LANGEVIN_BINDING(Full) {
  return Guard(info, [&]() -> Napi::Value {
    auto shape = ArgShape(info, 0, "shape");
    double value = ArgNumber(info, 1, "value");
    auto dtype = ArgOptDtype(info, 2, "dtype", at::kFloat);
    auto device = ArgDevice(info, 3, "device");
    CheckAlloc(shape, dtype, "full");
    return WrapTensor(info.Env(), at::full(shape, value, Opts(dtype, device)));
  });
}

LANGEVIN_BINDING(Empty) {
  return Guard(info, [&]() -> Napi::Value {
    auto shape = ArgShape(info, 0, "shape");
    auto dtype = ArgOptDtype(info, 1, "dtype", at::kFloat);
    auto device = ArgDevice(info, 2, "device");
    CheckAlloc(shape, dtype, "empty");
    return WrapTensor(info.Env(), at::empty(shape, Opts(dtype, device)));
  });
}

// rand(shape, generator?, dtype?, device?) and randn(...)
template <bool Normal>
Napi::Value RandomFloat(const Napi::CallbackInfo& info, const char* name) {
  return Guard(info, [&]() -> Napi::Value {
    auto shape = ArgShape(info, 0, "shape");
    at::Generator gen = ArgGenerator(info, 1, "generator");
    auto dtype = ArgOptDtype(info, 2, "dtype", at::kFloat);
    auto device = ArgDevice(info, 3, "device");
    RequireFloat(dtype, name);
    CheckAlloc(shape, dtype, name);
    at::Tensor t = Normal ? at::randn(shape, gen, at::TensorOptions().dtype(DrawDtype(dtype)))
                          : at::rand(shape, gen, at::TensorOptions().dtype(DrawDtype(dtype)));
    return WrapTensor(info.Env(), t.to(device, dtype));
  });
}
LANGEVIN_BINDING(Rand) { return RandomFloat<false>(info, "rand"); }
LANGEVIN_BINDING(Randn) { return RandomFloat<true>(info, "randn"); }

// randint(low, high, shape, generator?, dtype?, device?): integers in [low, high)
LANGEVIN_BINDING(Randint) {
  return Guard(info, [&]() -> Napi::Value {
    int64_t low = ArgInt(info, 0, "low"), high = ArgInt(info, 1, "high");
    if (high <= low) ThrowRange("randint: high (" + std::to_string(high) + ") must be greater than low (" + std::to_string(low) + ")");
    auto shape = ArgShape(info, 2, "shape");
    at::Generator gen = ArgGenerator(info, 3, "generator");
    auto dtype = ArgOptDtype(info, 4, "dtype", at::kLong);
    auto device = ArgDevice(info, 5, "device");
    CheckAlloc(shape, dtype, "randint");
    at::Tensor t = at::randint(low, high, shape, gen, at::TensorOptions().dtype(at::kLong));
    return WrapTensor(info.Env(), t.to(device, dtype));
  });
}

// randperm(n, generator?, device?)
LANGEVIN_BINDING(Randperm) {
  return Guard(info, [&]() -> Napi::Value {
    int64_t n = ArgIntIn(info, 0, "n", 0, int64_t{1} << 40);
    at::Generator gen = ArgGenerator(info, 1, "generator");
    auto device = ArgDevice(info, 2, "device");
    CheckAllocNumel(static_cast<double>(n), at::kLong, "randperm");
    return WrapTensor(info.Env(), at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)).to(device));
  });
}

// bernoulli(p, generator?): p a tensor of probabilities in [0, 1]; draws 0/1 in p's dtype.
LANGEVIN_BINDING(Bernoulli) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& p = ArgTensor(info, 0, "p");
    at::Generator gen = ArgGenerator(info, 1, "generator");
    RequireFloat(p.scalar_type(), "bernoulli");
    at::Tensor pc = p.detach().to(at::kCPU, DrawDtype(p.scalar_type()));
    if (pc.numel() > 0 && (pc.min().item<double>() < 0 || pc.max().item<double>() > 1 || pc.isnan().any().item<bool>()))
      ThrowRange("bernoulli: probabilities must lie in [0, 1]");
    return WrapTensor(info.Env(), at::bernoulli(pc, gen).to(p.device(), p.scalar_type()));
  });
}

// normalInPlace(t, mean, std, generator?): fills t with N(mean, std²) — for initialisers.
LANGEVIN_BINDING(UniformInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "target", Access::Write);
    double lo = ArgNumber(info, 1, "low"), hi = ArgNumber(info, 2, "high");
    at::Generator gen = ArgGenerator(info, 3, "generator");
    RequireFloat(t.scalar_type(), "uniform");
    if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) ThrowRange("uniform: need finite low <= high");
    at::NoGradGuard ng;
    at::Tensor draw = at::empty(t.sizes(), at::TensorOptions().dtype(DrawDtype(t.scalar_type()))).uniform_(lo, hi, gen);
    t.copy_(draw);
    return info[0];
  });
}

LANGEVIN_BINDING(NormalInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "target", Access::Write);
    double mean = ArgNumber(info, 1, "mean"), std = ArgNumber(info, 2, "std");
    at::Generator gen = ArgGenerator(info, 3, "generator");
    RequireFloat(t.scalar_type(), "normal");
    if (!(std >= 0) || !std::isfinite(mean) || !std::isfinite(std)) ThrowRange("normal: need a finite mean and std >= 0");
    at::NoGradGuard ng;
    at::Tensor draw = at::empty(t.sizes(), at::TensorOptions().dtype(DrawDtype(t.scalar_type()))).normal_(mean, std, gen);
    t.copy_(draw);
    return info[0];
  });
}

// arange(start, end, step, dtype?, device?)
LANGEVIN_BINDING(Arange) {
  return Guard(info, [&]() -> Napi::Value {
    double start = ArgNumber(info, 0, "start"), end = ArgNumber(info, 1, "end"), step = ArgNumber(info, 2, "step");
    if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step) || step == 0)
      ThrowRange("arange: start, end and step must be finite and step non-zero");
    if ((end - start) / step < 0) ThrowRange("arange: the step goes away from end");
    auto dtype = ArgOptDtype(info, 3, "dtype", at::kFloat);
    auto device = ArgDevice(info, 4, "device");
    CheckAllocNumel(std::ceil((end - start) / step), dtype, "arange");
    return WrapTensor(info.Env(), at::arange(start, end, step, Opts(dtype, device)));
  });
}

// linspace(start, end, steps, dtype?, device?)
LANGEVIN_BINDING(Linspace) {
  return Guard(info, [&]() -> Napi::Value {
    double start = ArgNumber(info, 0, "start"), end = ArgNumber(info, 1, "end");
    int64_t steps = ArgIntIn(info, 2, "steps", 0, int64_t{1} << 40);
    auto dtype = ArgOptDtype(info, 3, "dtype", at::kFloat);
    auto device = ArgDevice(info, 4, "device");
    RequireFloat(dtype, "linspace");
    CheckAllocNumel(static_cast<double>(steps), dtype, "linspace");
    return WrapTensor(info.Env(), at::linspace(start, end, steps, Opts(dtype, device)));
  });
}

LANGEVIN_BINDING(Eye) {
  return Guard(info, [&]() -> Napi::Value {
    int64_t n = ArgIntIn(info, 0, "n", 0, int64_t{1} << 31);
    auto dtype = ArgOptDtype(info, 1, "dtype", at::kFloat);
    auto device = ArgDevice(info, 2, "device");
    CheckAllocNumel(static_cast<double>(n) * n, dtype, "eye");
    return WrapTensor(info.Env(), at::eye(n, Opts(dtype, device)));
  });
}

}  // namespace

void RegisterCreation(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "full", Full);
  Define(env, exports, "empty", Empty);
  Define(env, exports, "rand", Rand);
  Define(env, exports, "randn", Randn);
  Define(env, exports, "randint", Randint);
  Define(env, exports, "randperm", Randperm);
  Define(env, exports, "bernoulli", Bernoulli);
  Define(env, exports, "uniformInPlace", UniformInPlace);
  Define(env, exports, "normalInPlace", NormalInPlace);
  Define(env, exports, "arange", Arange);
  Define(env, exports, "linspace", Linspace);
  Define(env, exports, "eye", Eye);
}

}  // namespace langevin

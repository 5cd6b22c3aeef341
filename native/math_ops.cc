// Elementwise math (unary and broadcasting binary), comparisons, clamps and reductions.
#include "common.h"

#include <functional>
#include <unordered_map>

namespace langevin {

namespace {

using Unary = std::function<at::Tensor(const at::Tensor&)>;
using Binary = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;
using BinaryScalar = std::function<at::Tensor(const at::Tensor&, const at::Scalar&)>;

const std::unordered_map<std::string, Unary>& UnaryOps() {
  static const auto* ops = new std::unordered_map<std::string, Unary>{
      {"neg", [](const at::Tensor& t) { return t.neg(); }},
      {"abs", [](const at::Tensor& t) { return t.abs(); }},
      {"sign", [](const at::Tensor& t) { return t.sign(); }},
      {"exp", [](const at::Tensor& t) { return t.exp(); }},
      {"expm1", [](const at::Tensor& t) { return t.expm1(); }},
      {"log", [](const at::Tensor& t) { return t.log(); }},
      {"log1p", [](const at::Tensor& t) { return t.log1p(); }},
      {"log2", [](const at::Tensor& t) { return t.log2(); }},
      {"sqrt", [](const at::Tensor& t) { return t.sqrt(); }},
      {"rsqrt", [](const at::Tensor& t) { return t.rsqrt(); }},
      {"square", [](const at::Tensor& t) { return t.square(); }},
      {"reciprocal", [](const at::Tensor& t) { return t.reciprocal(); }},
      {"sin", [](const at::Tensor& t) { return t.sin(); }},
      {"cos", [](const at::Tensor& t) { return t.cos(); }},
      {"tanh", [](const at::Tensor& t) { return t.tanh(); }},
      {"sigmoid", [](const at::Tensor& t) { return t.sigmoid(); }},
      {"relu", [](const at::Tensor& t) { return t.relu(); }},
      {"silu", [](const at::Tensor& t) { return at::silu(t); }},
      {"erf", [](const at::Tensor& t) { return t.erf(); }},
      {"floor", [](const at::Tensor& t) { return t.floor(); }},
      {"ceil", [](const at::Tensor& t) { return t.ceil(); }},
      {"round", [](const at::Tensor& t) { return t.round(); }},
      {"trunc", [](const at::Tensor& t) { return t.trunc(); }},
      {"isnan", [](const at::Tensor& t) { return t.isnan(); }},
      {"isfinite", [](const at::Tensor& t) { return t.isfinite(); }},
      {"logicalNot", [](const at::Tensor& t) { return t.logical_not(); }},
  };
  return *ops;
}

const std::unordered_map<std::string, Binary>& BinaryOps() {
  static const auto* ops = new std::unordered_map<std::string, Binary>{
      {"add", [](const at::Tensor& a, const at::Tensor& b) { return a.add(b); }},
      {"sub", [](const at::Tensor& a, const at::Tensor& b) { return a.sub(b); }},
      {"mul", [](const at::Tensor& a, const at::Tensor& b) { return a.mul(b); }},
      {"div", [](const at::Tensor& a, const at::Tensor& b) { return a.div(b); }},
      {"pow", [](const at::Tensor& a, const at::Tensor& b) { return a.pow(b); }},
      {"maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }},
      {"minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }},
      {"remainder", [](const at::Tensor& a, const at::Tensor& b) { return a.remainder(b); }},
      {"atan2", [](const at::Tensor& a, const at::Tensor& b) { return a.atan2(b); }},
      {"eq", [](const at::Tensor& a, const at::Tensor& b) { return a.eq(b); }},
      {"ne", [](const at::Tensor& a, const at::Tensor& b) { return a.ne(b); }},
      {"lt", [](const at::Tensor& a, const at::Tensor& b) { return a.lt(b); }},
      {"le", [](const at::Tensor& a, const at::Tensor& b) { return a.le(b); }},
      {"gt", [](const at::Tensor& a, const at::Tensor& b) { return a.gt(b); }},
      {"ge", [](const at::Tensor& a, const at::Tensor& b) { return a.ge(b); }},
      {"logicalAnd", [](const at::Tensor& a, const at::Tensor& b) { return a.logical_and(b); }},
      {"logicalOr", [](const at::Tensor& a, const at::Tensor& b) { return a.logical_or(b); }},
  };
  return *ops;
}

const std::unordered_map<std::string, BinaryScalar>& ScalarOps() {
  static const auto* ops = new std::unordered_map<std::string, BinaryScalar>{
      {"add", [](const at::Tensor& a, const at::Scalar& b) { return a.add(b); }},
      {"sub", [](const at::Tensor& a, const at::Scalar& b) { return a.sub(b); }},
      {"mul", [](const at::Tensor& a, const at::Scalar& b) { return a.mul(b); }},
      {"div", [](const at::Tensor& a, const at::Scalar& b) { return a.div(b); }},
      {"pow", [](const at::Tensor& a, const at::Scalar& b) { return a.pow(b); }},
      {"remainder", [](const at::Tensor& a, const at::Scalar& b) { return a.remainder(b); }},
      {"maximum", [](const at::Tensor& a, const at::Scalar& b) { return a.clamp_min(b); }},
      {"minimum", [](const at::Tensor& a, const at::Scalar& b) { return a.clamp_max(b); }},
      {"eq", [](const at::Tensor& a, const at::Scalar& b) { return a.eq(b); }},
      {"ne", [](const at::Tensor& a, const at::Scalar& b) { return a.ne(b); }},
      {"lt", [](const at::Tensor& a, const at::Scalar& b) { return a.lt(b); }},
      {"le", [](const at::Tensor& a, const at::Scalar& b) { return a.le(b); }},
      {"gt", [](const at::Tensor& a, const at::Scalar& b) { return a.gt(b); }},
      {"ge", [](const at::Tensor& a, const at::Scalar& b) { return a.ge(b); }},
  };
  return *ops;
}

Napi::Array Names(Napi::Env env, const std::vector<std::string>& names) {
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t k = 0; k < names.size(); ++k) out.Set(static_cast<uint32_t>(k), names[k]);
  return out;
}

template <class Map>
std::vector<std::string> Keys(const Map& m) {
  std::vector<std::string> out;
  for (auto& [k, v] : m) out.push_back(k);
  return out;
}

// unary(name, t)
LANGEVIN_BINDING(UnaryJs) {
  return Guard(info, [&]() -> Napi::Value {
    std::string name = ArgString(info, 0, "op");
    auto it = UnaryOps().find(name);
    if (it == UnaryOps().end()) ThrowRange("unknown unary op '" + name + "'");
    return WrapTensor(info.Env(), it->second(ArgTensor(info, 1, "input")));
  });
}

// binary(name, a, b): tensors, broadcasting.
LANGEVIN_BINDING(BinaryJs) {
  return Guard(info, [&]() -> Napi::Value {
    std::string name = ArgString(info, 0, "op");
    auto it = BinaryOps().find(name);
    if (it == BinaryOps().end()) ThrowRange("unknown binary op '" + name + "'");
    return WrapTensor(info.Env(), it->second(ArgTensor(info, 1, "input"), ArgTensor(info, 2, "other")));
  });
}

// binaryScalar(name, a, s): a tensor and a number (PyTorch's type promotion for Python scalars).
LANGEVIN_BINDING(BinaryScalarJs) {
  return Guard(info, [&]() -> Napi::Value {
    std::string name = ArgString(info, 0, "op");
    const at::Tensor& a = ArgTensor(info, 1, "input");
    double s = ArgNumber(info, 2, "scalar");
    auto it = ScalarOps().find(name);
    if (it != ScalarOps().end()) return WrapTensor(info.Env(), it->second(a, ScalarOf(s)));
    auto bt = BinaryOps().find(name);
    if (bt == BinaryOps().end()) ThrowRange("unknown binary op '" + name + "'");
    return WrapTensor(info.Env(), bt->second(a, at::scalar_tensor(s, a.options().requires_grad(false))));
  });
}

LANGEVIN_BINDING(OpNames) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("unary", Names(info.Env(), Keys(UnaryOps())));
    o.Set("binary", Names(info.Env(), Keys(BinaryOps())));
    return o;
  });
}

// clamp(t, min?, max?)
LANGEVIN_BINDING(Clamp) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    auto lo = ArgOptNumber(info, 1, "min"), hi = ArgOptNumber(info, 2, "max");
    if (!lo && !hi) ThrowRange("clamp: give min, max or both");
    c10::optional<at::Scalar> l, h;
    if (lo) l = *lo;
    if (hi) h = *hi;
    return WrapTensor(info.Env(), at::clamp(t, l, h));
  });
}

std::vector<int64_t> Dims(const Napi::CallbackInfo& info, size_t i, const at::Tensor& t) {
  if (IsAbsent(info, i)) return {};
  auto dims = ArgInts(info, i, "dims");
  for (auto& d : dims) d = WrapDim(d, t.dim(), "dim");
  return dims;
}

// reduce(name, t, dims?, keepdim?, extra?): sum, mean, prod, amax, amin, logsumexp, var, std, norm
LANGEVIN_BINDING(Reduce) {
  return Guard(info, [&]() -> Napi::Value {
    std::string name = ArgString(info, 0, "op");
    const at::Tensor& t = ArgTensor(info, 1, "input");
    std::vector<int64_t> dims = Dims(info, 2, t);
    bool keep = ArgOptBool(info, 3, "keepdim", false);
    bool all = dims.empty();
    at::Tensor r;
    if (name == "sum") r = all ? (keep ? t.sum(at::IntArrayRef(), true) : t.sum()) : t.sum(dims, keep);
    else if (name == "mean") r = all ? (keep ? t.mean(at::IntArrayRef(), true) : t.mean()) : t.mean(dims, keep);
    else if (name == "prod") {
      if (all) r = keep ? t.prod().reshape(std::vector<int64_t>(t.dim(), 1)) : t.prod();
      else {
        r = t;
        std::vector<int64_t> sorted = dims;
        std::sort(sorted.rbegin(), sorted.rend());
        for (int64_t d : sorted) r = r.prod(d, keep);
      }
    } else if (name == "amax" || name == "amin") {
      if (t.numel() == 0) ThrowRange(name + ": the tensor is empty", "ERR_SHAPE");
      r = name == "amax" ? t.amax(dims, keep) : t.amin(dims, keep);
    } else if (name == "logsumexp") {
      if (all) for (int64_t d = 0; d < t.dim(); ++d) dims.push_back(d);
      r = t.dim() == 0 ? t.clone() : at::logsumexp(t, dims, keep);
    } else if (name == "var" || name == "std") {
      // extra = correction (1 = unbiased, as PyTorch's default)
      int64_t correction = IsAbsent(info, 4) ? 1 : ArgIntIn(info, 4, "correction", 0, 1);
      c10::optional<at::IntArrayRef> d = all ? c10::nullopt : c10::optional<at::IntArrayRef>(dims);
      r = name == "var" ? at::var(t, d, correction, keep) : at::std(t, d, correction, keep);
    } else if (name == "norm") {
      double p = IsAbsent(info, 4) ? 2.0 : ArgNumber(info, 4, "p");
      r = all ? (keep ? at::norm(t, p, at::IntArrayRef(std::vector<int64_t>()), true) : at::norm(t, p)) : at::norm(t, p, dims, keep);
    } else if (name == "any" || name == "all") {
      at::Tensor b = t.to(at::kBool);
      if (all) r = name == "any" ? b.any() : b.all();
      else {
        r = b;
        std::vector<int64_t> sorted = dims;
        std::sort(sorted.rbegin(), sorted.rend());
        for (int64_t d : sorted) r = name == "any" ? r.any(d, keep) : r.all(d, keep);
      }
    } else {
      ThrowRange("unknown reduction '" + name + "'");
    }
    return WrapTensor(info.Env(), r);
  });
}

Napi::Value Pair(Napi::Env env, const at::Tensor& a, const at::Tensor& b) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, WrapTensor(env, a));
  out.Set(1u, WrapTensor(env, b));
  return out;
}

// maxDim / minDim (t, dim, keepdim) -> [values, indices]
template <bool Max>
Napi::Value ExtremeDim(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    bool keep = ArgOptBool(info, 2, "keepdim", false);
    if (t.dim() > 0 && t.size(dim) == 0) ThrowRange("max/min: dimension " + std::to_string(dim) + " is empty", "ERR_SHAPE");
    auto [v, i] = Max ? at::max(t, dim, keep) : at::min(t, dim, keep);
    return Pair(info.Env(), v, i);
  });
}
LANGEVIN_BINDING(MaxDim) { return ExtremeDim<true>(info); }
LANGEVIN_BINDING(MinDim) { return ExtremeDim<false>(info); }

// argmax / argmin (t, dim?, keepdim)
template <bool Max>
Napi::Value ArgExtreme(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    if (t.numel() == 0) ThrowRange("argmax/argmin: the tensor is empty", "ERR_SHAPE");
    c10::optional<int64_t> dim;
    if (!IsAbsent(info, 1)) dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    bool keep = ArgOptBool(info, 2, "keepdim", false);
    return WrapTensor(info.Env(), Max ? at::argmax(t, dim, keep) : at::argmin(t, dim, keep));
  });
}
LANGEVIN_BINDING(Argmax) { return ArgExtreme<true>(info); }
LANGEVIN_BINDING(Argmin) { return ArgExtreme<false>(info); }

// sort(t, dim, descending, stable) -> [values, indices]
LANGEVIN_BINDING(Sort) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    int64_t dim = WrapDim(IsAbsent(info, 1) ? -1 : ArgInt(info, 1, "dim"), t.dim(), "dim");
    bool desc = ArgOptBool(info, 2, "descending", false);
    bool stable = ArgOptBool(info, 3, "stable", true);
    auto [v, i] = at::sort(t, stable, dim, desc);
    return Pair(info.Env(), v, i);
  });
}

// topk(t, k, dim, largest, sorted) -> [values, indices]
LANGEVIN_BINDING(Topk) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    int64_t dim = WrapDim(IsAbsent(info, 2) ? -1 : ArgInt(info, 2, "dim"), t.dim(), "dim");
    int64_t size = t.dim() == 0 ? 1 : t.size(dim);
    int64_t k = ArgIntIn(info, 1, "k", 0, size);
    bool largest = ArgOptBool(info, 3, "largest", true);
    bool sorted = ArgOptBool(info, 4, "sorted", true);
    auto [v, i] = at::topk(t, k, dim, largest, sorted);
    return Pair(info.Env(), v, i);
  });
}

LANGEVIN_BINDING(Cumsum) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "input");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    return WrapTensor(info.Env(), t.cumsum(dim));
  });
}

}  // namespace

void RegisterMathOps(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "unary", UnaryJs);
  Define(env, exports, "binary", BinaryJs);
  Define(env, exports, "binaryScalar", BinaryScalarJs);
  Define(env, exports, "opNames", OpNames);
  Define(env, exports, "clamp", Clamp);
  Define(env, exports, "reduce", Reduce);
  Define(env, exports, "maxDim", MaxDim);
  Define(env, exports, "minDim", MinDim);
  Define(env, exports, "argmax", Argmax);
  Define(env, exports, "argmin", Argmin);
  Define(env, exports, "sort", Sort);
  Define(env, exports, "topk", Topk);
  Define(env, exports, "cumsum", Cumsum);
}

}  // namespace langevin

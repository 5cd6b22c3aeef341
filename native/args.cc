// Argument parsing for bindings: every wrong type is a TypeError, every bad value a RangeError.
#include "common.h"

#include <cmath>
#include <sstream>

namespace langevin {

namespace {

std::string Where(size_t i, const char* name) {
  std::ostringstream s;
  s << "argument " << i << " (" << name << ")";
  return s.str();
}

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

Napi::Value At(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }

int64_t ToInt(const Napi::Value& v, const std::string& where) {
  if (!v.IsNumber()) ThrowType(where + " must be an integer, got " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) ThrowRange(where + " must be an integer, got " + std::to_string(d));
  if (std::fabs(d) > 9007199254740991.0) ThrowRange(where + " is beyond the safe integer range");
  return static_cast<int64_t>(d);
}

}  // namespace

bool IsAbsent(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull();
}

bool IsTensorArg(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() && info[i].IsNumber(); }

at::Tensor& ArgTensor(const Napi::CallbackInfo& info, size_t i, const char* name, Access a) {
  Napi::Value v = At(info, i);
  if (!v.IsNumber()) ThrowType(Where(i, name) + " must be a Tensor, got " + Describe(v));
  return Table(info.Env()).Get(v.As<Napi::Number>().DoubleValue(), a, name);
}

std::optional<at::Tensor> ArgOptTensor(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsAbsent(info, i)) return std::nullopt;
  return ArgTensor(info, i, name);
}

std::vector<double> ArgTensorIds(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = At(info, i);
  if (!v.IsArray()) ThrowType(Where(i, name) + " must be an array of Tensors, got " + Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<double> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr.Get(k);
    if (!e.IsNumber()) ThrowType(Where(i, name) + "[" + std::to_string(k) + "] must be a Tensor, got " + Describe(e));
    out.push_back(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

std::vector<at::Tensor> ArgTensorList(const Napi::CallbackInfo& info, size_t i, const char* name, Access a) {
  std::vector<at::Tensor> out;
  for (double id : ArgTensorIds(info, i, name)) out.push_back(Table(info.Env()).Get(id, a, name));
  return out;
}

double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = At(info, i);
  if (!v.IsNumber()) ThrowType(Where(i, name) + " must be a number, got " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

std::optional<double> ArgOptNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsAbsent(info, i)) return std::nullopt;
  return ArgNumber(info, i, name);
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) { return ToInt(At(info, i), Where(i, name)); }

std::optional<int64_t> ArgOptInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsAbsent(info, i)) return std::nullopt;
  return ArgInt(info, i, name);
}

int64_t ArgIntIn(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  int64_t v = ArgInt(info, i, name);
  if (v < lo || v > hi)
    ThrowRange(Where(i, name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return v;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = At(info, i);
  if (!v.IsBoolean()) ThrowType(Where(i, name) + " must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

bool ArgOptBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback) {
  if (IsAbsent(info, i)) return fallback;
  return ArgBool(info, i, name);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = At(info, i);
  if (!v.IsString()) ThrowType(Where(i, name) + " must be a string, got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> ArgInts(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = At(info, i);
  if (!v.IsArray()) ThrowType(Where(i, name) + " must be an array of integers, got " + Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 64) ThrowRange(Where(i, name) + " has " + std::to_string(arr.Length()) + " entries; at most 64 are allowed");
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) out[k] = ToInt(arr.Get(k), Where(i, name) + "[" + std::to_string(k) + "]");
  return out;
}

std::vector<int64_t> ArgShape(const Napi::CallbackInfo& info, size_t i, const char* name) {
  std::vector<int64_t> shape = ArgInts(info, i, name);
  for (int64_t s : shape)
    if (s < 0) ThrowRange(Where(i, name) + " has a negative size: " + ShapeString(shape));
  return shape;
}

at::ScalarType ArgDtype(const Napi::CallbackInfo& info, size_t i, const char* name) {
  std::string s = ArgString(info, i, name);
  auto t = DtypeFromName(s);
  if (!t) ThrowRange(Where(i, name) + ": unknown dtype '" + s + "' (float32, float64, bfloat16, float16, int64, int32, uint8, bool)", "ERR_DTYPE");
  return *t;
}

at::ScalarType ArgOptDtype(const Napi::CallbackInfo& info, size_t i, const char* name, at::ScalarType fallback) {
  if (IsAbsent(info, i)) return fallback;
  return ArgDtype(info, i, name);
}

at::Device ArgDevice(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsAbsent(info, i)) return at::Device(at::kCPU);
  std::string s = ArgString(info, i, name);
  if (s == "cpu") return at::Device(at::kCPU);
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    int64_t index = 0;
    if (s.size() > 5) {
      std::string digits = s.substr(5);
      if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
        ThrowRange(Where(i, name) + ": bad device '" + s + "' (use 'cpu', 'cuda' or 'cuda:N')", "ERR_DEVICE");
      index = std::stoll(digits);
    }
    if (!at::hasCUDA())
      ThrowPlain("CUDA was requested ('" + s + "') but this build of langevin has no CUDA: rebuild against a CUDA libtorch (LANGEVIN_TORCH_DIR)", "ERR_NO_CUDA");
    int64_t count = at::detail::getCUDAHooks().getNumGPUs();
    if (index >= count)
      ThrowPlain("CUDA device " + std::to_string(index) + " was requested but " + std::to_string(count) + " GPU(s) are visible", "ERR_NO_CUDA");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  ThrowRange(Where(i, name) + ": bad device '" + s + "' (use 'cpu', 'cuda' or 'cuda:N')", "ERR_DEVICE");
}

at::Scalar ScalarOf(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

int64_t WrapDim(int64_t dim, int64_t ndim, const char* name) {
  int64_t n = ndim == 0 ? 1 : ndim;
  if (dim < -n || dim >= n)
    ThrowRange(std::string(name) + " " + std::to_string(dim) + " is out of range for a tensor of " + std::to_string(ndim) + " dimension(s)", "ERR_INDEX");
  return dim < 0 ? dim + n : dim;
}

// ---- names ----------------------------------------------------------------------------------

const char* DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "unsupported";
  }
}

std::optional<at::ScalarType> DtypeFromName(const std::string& n) {
  if (n == "float32") return at::kFloat;
  if (n == "float64") return at::kDouble;
  if (n == "bfloat16") return at::kBFloat16;
  if (n == "float16") return at::kHalf;
  if (n == "int64") return at::kLong;
  if (n == "int32") return at::kInt;
  if (n == "uint8") return at::kByte;
  if (n == "bool") return at::kBool;
  return std::nullopt;
}

std::string DeviceString(const at::Device& d) {
  if (d.is_cpu()) return "cpu";
  if (d.is_cuda()) return d.has_index() ? "cuda:" + std::to_string(d.index()) : "cuda";
  return d.str();
}

std::string ShapeString(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t k = 0; k < shape.size(); ++k) s << (k ? ", " : "") << shape[k];
  s << "]";
  return s.str();
}

}  // namespace langevin

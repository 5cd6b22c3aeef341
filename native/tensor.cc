// Moving data across the boundary (typed arrays in and out), conversion, copies, in-place updates.
#include "common.h"

#include <cstring>

namespace langevin {

namespace {

// The typed array a dtype is read from / written to. bfloat16 and float16 travel as raw bits.
napi_typedarray_type ArrayTypeFor(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return napi_float32_array;
    case at::kDouble: return napi_float64_array;
    case at::kBFloat16:
    case at::kHalf: return napi_uint16_array;
    case at::kLong: return napi_bigint64_array;
    case at::kInt: return napi_int32_array;
    case at::kByte:
    case at::kBool: return napi_uint8_array;
    default: ThrowType(std::string("unsupported dtype ") + c10::toString(t));
  }
}

std::optional<at::ScalarType> DtypeOfArray(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_bigint64_array: return at::kLong;
    case napi_int32_array: return at::kInt;
    case napi_uint8_array: return at::kByte;
    default: return std::nullopt;
  }
}

// fromArray(typedArray, shape, dtype?): copies the data (the JS buffer may move or be detached).
LANGEVIN_BINDING(FromArray) {
  return Guard(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray()) ThrowType("argument 0 (data) must be a typed array");
    auto arr = info[0].As<Napi::TypedArray>();
    std::vector<int64_t> shape = ArgShape(info, 1, "shape");
    double numel = 1;
    for (int64_t s : shape) numel *= static_cast<double>(s);
    if (numel != static_cast<double>(arr.ElementLength()))
      ThrowRange("fromArray: shape " + ShapeString(shape) + " holds " + std::to_string(static_cast<int64_t>(numel)) +
                 " elements but the array has " + std::to_string(arr.ElementLength()), "ERR_SHAPE");
    std::optional<at::ScalarType> target;
    if (!IsAbsent(info, 2)) target = ArgDtype(info, 2, "dtype");
    at::ScalarType source;
    if (arr.TypedArrayType() == napi_uint16_array) {
      if (!target || (*target != at::kBFloat16 && *target != at::kHalf))
        ThrowType("fromArray: a Uint16Array holds raw bfloat16/float16 bits; pass dtype 'bfloat16' or 'float16'");
      source = *target;
    } else {
      auto s = DtypeOfArray(arr.TypedArrayType());
      if (!s) ThrowType("fromArray: unsupported typed array (use Float32Array, Float64Array, BigInt64Array, Int32Array, Uint8Array or Uint16Array)");
      source = *s;
      if (target == at::kBool && source == at::kByte) source = at::kBool;
    }
    napi_typedarray_type tt;
    size_t len = 0, offset = 0;
    void* data = nullptr;
    napi_value ab;
    if (napi_get_typedarray_info(info.Env(), arr, &tt, &len, &data, &ab, &offset) != napi_ok) ThrowType("fromArray: unreadable typed array");
    if (data == nullptr && len > 0) ThrowType("fromArray: the typed array's buffer is detached");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(source));
    if (t.numel() > 0) std::memcpy(t.data_ptr(), data, t.nbytes());
    if (target && *target != source) t = t.to(*target);
    return WrapTensor(info.Env(), std::move(t));
  });
}

// toArray(t): a fresh typed array with the elements in row-major order (copied to CPU if needed).
LANGEVIN_BINDING(ToArray) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor t = ArgTensor(info, 0, "tensor").detach().to(at::kCPU).contiguous();
    napi_typedarray_type type = ArrayTypeFor(t.scalar_type());
    size_t n = static_cast<size_t>(t.numel());
    Napi::Env env = info.Env();
    auto buf = Napi::ArrayBuffer::New(env, t.nbytes());
    if (n > 0) std::memcpy(buf.Data(), t.data_ptr(), t.nbytes());
    switch (type) {
      case napi_float32_array: return Napi::Float32Array::New(env, n, buf, 0);
      case napi_float64_array: return Napi::Float64Array::New(env, n, buf, 0);
      case napi_uint16_array: return Napi::Uint16Array::New(env, n, buf, 0);
      case napi_bigint64_array: return Napi::BigInt64Array::New(env, n, buf, 0);
      case napi_int32_array: return Napi::Int32Array::New(env, n, buf, 0);
      default: return Napi::Uint8Array::New(env, n, buf, 0);
    }
  });
}

// fromBytes(uint8array, shape, dtype): raw little-endian element bytes (safetensors, checkpoints).
LANGEVIN_BINDING(FromBytes) {
  return Guard(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      ThrowType("fromBytes: argument 0 (bytes) must be a Uint8Array");
    auto arr = info[0].As<Napi::Uint8Array>();
    std::vector<int64_t> shape = ArgShape(info, 1, "shape");
    at::ScalarType dtype = ArgDtype(info, 2, "dtype");
    double numel = 1;
    for (int64_t s : shape) numel *= static_cast<double>(s);
    double want = numel * static_cast<double>(c10::elementSize(dtype));
    if (want != static_cast<double>(arr.ByteLength()))
      ThrowRange("fromBytes: " + std::string(DtypeName(dtype)) + " " + ShapeString(shape) + " needs " + std::to_string(static_cast<int64_t>(want)) +
                 " bytes, got " + std::to_string(arr.ByteLength()), "ERR_SHAPE");
    CheckAlloc(shape, dtype, "fromBytes");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    if (t.nbytes() > 0) std::memcpy(t.data_ptr(), arr.Data(), t.nbytes());
    return WrapTensor(info.Env(), std::move(t));
  });
}

// toBytes(t): the elements' raw bytes in row-major order (CPU copy).
LANGEVIN_BINDING(ToBytes) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor t = ArgTensor(info, 0, "tensor").detach().to(at::kCPU).contiguous();
    auto out = Napi::Uint8Array::New(info.Env(), t.nbytes());
    if (t.nbytes() > 0) std::memcpy(out.Data(), t.data_ptr(), t.nbytes());
    return out;
  });
}

LANGEVIN_BINDING(Item) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "tensor");
    if (t.numel() != 1) ThrowRange("item: the tensor has " + std::to_string(t.numel()) + " elements; item() needs exactly 1", "ERR_SHAPE");
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
    return Napi::Number::New(info.Env(), t.item<double>());
  });
}

// to(t, dtype?, device?, copy?)
LANGEVIN_BINDING(To) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "tensor");
    at::ScalarType dtype = ArgOptDtype(info, 1, "dtype", t.scalar_type());
    at::Device device = IsAbsent(info, 2) ? t.device() : ArgDevice(info, 2, "device");
    bool copy = ArgOptBool(info, 3, "copy", false);
    return WrapTensor(info.Env(), t.to(device, dtype, /*non_blocking=*/false, copy));
  });
}

LANGEVIN_BINDING(Clone) {
  return Guard(info, [&]() -> Napi::Value { return WrapTensor(info.Env(), ArgTensor(info, 0, "tensor").clone()); });
}

LANGEVIN_BINDING(Detach) {
  return Guard(info, [&]() -> Napi::Value { return WrapTensor(info.Env(), ArgTensor(info, 0, "tensor").detach()); });
}

// An optional memory format: 'contiguous' (default, NCHW for 4-d) or 'channelsLast' (NHWC strides).
static at::MemoryFormat ArgMemoryFormat(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return at::MemoryFormat::Contiguous;
  std::string f = ArgString(info, i, "memoryFormat");
  if (f == "contiguous") return at::MemoryFormat::Contiguous;
  if (f == "channelsLast") return at::MemoryFormat::ChannelsLast;
  ThrowRange("memoryFormat must be 'contiguous' or 'channelsLast', got '" + f + "'");
}

// contiguous(t, memoryFormat?)
LANGEVIN_BINDING(Contiguous) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    at::MemoryFormat f = ArgMemoryFormat(info, 1);
    if (f == at::MemoryFormat::ChannelsLast && t.dim() != 4) ThrowRange("channelsLast needs a 4-d tensor, got " + ShapeString(t.sizes()), "ERR_SHAPE");
    return WrapTensor(info.Env(), t.contiguous(f));
  });
}

// isContiguous(t, memoryFormat?)
LANGEVIN_BINDING(IsContiguous) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    at::MemoryFormat f = ArgMemoryFormat(info, 1);
    return Napi::Boolean::New(info.Env(), (f == at::MemoryFormat::Contiguous || t.dim() == 4) && t.is_contiguous(f));
  });
}

// ---- in-place updates (need write access: refused while a job reads the tensor) -------------

LANGEVIN_BINDING(CopyInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    const at::Tensor& src = ArgTensor(info, 1, "source");
    at::NoGradGuard ng;
    dst.copy_(src);
    return info[0];
  });
}

LANGEVIN_BINDING(FillInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    double v = ArgNumber(info, 1, "value");
    at::NoGradGuard ng;
    dst.fill_(v);
    return info[0];
  });
}

// addInPlace(t, other, alpha): t += alpha * other; addScalarInPlace(t, s): t += s
LANGEVIN_BINDING(AddInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    double alpha = IsAbsent(info, 2) ? 1.0 : ArgNumber(info, 2, "alpha");
    at::NoGradGuard ng;
    dst.add_(ArgTensor(info, 1, "other"), alpha);
    return info[0];
  });
}

LANGEVIN_BINDING(MulInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    at::NoGradGuard ng;
    dst.mul_(ArgTensor(info, 1, "other"));
    return info[0];
  });
}

LANGEVIN_BINDING(AddScalarInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    at::Scalar s = ScalarOf(ArgNumber(info, 1, "scalar"));
    at::NoGradGuard ng;
    dst.add_(s);
    return info[0];
  });
}

LANGEVIN_BINDING(MulScalarInPlace) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& dst = ArgTensor(info, 0, "target", Access::Write);
    at::Scalar s = ScalarOf(ArgNumber(info, 1, "scalar"));
    at::NoGradGuard ng;
    dst.mul_(s);
    return info[0];
  });
}

LANGEVIN_BINDING(SetRequiresGrad) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "tensor", Access::Write);
    bool on = ArgBool(info, 1, "requiresGrad");
    if (on && !at::isFloatingType(t.scalar_type()))
      ThrowType(std::string("requiresGrad: only floating-point tensors can require gradients, this one is ") + DtypeName(t.scalar_type()));
    t.set_requires_grad(on);
    return info[0];
  });
}

}  // namespace

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "fromArray", FromArray);
  Define(env, exports, "toArray", ToArray);
  Define(env, exports, "fromBytes", FromBytes);
  Define(env, exports, "toBytes", ToBytes);
  Define(env, exports, "item", Item);
  Define(env, exports, "to", To);
  Define(env, exports, "clone", Clone);
  Define(env, exports, "detach", Detach);
  Define(env, exports, "contiguous", Contiguous);
  Define(env, exports, "isContiguous", IsContiguous);
  Define(env, exports, "copyInPlace", CopyInPlace);
  Define(env, exports, "fillInPlace", FillInPlace);
  Define(env, exports, "addInPlace", AddInPlace);
  Define(env, exports, "mulInPlace", MulInPlace);
  Define(env, exports, "addScalarInPlace", AddScalarInPlace);
  Define(env, exports, "mulScalarInPlace", MulScalarInPlace);
  Define(env, exports, "setRequiresGrad", SetRequiresGrad);
}

}  // namespace langevin

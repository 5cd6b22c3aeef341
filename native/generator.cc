// Generator: an explicit, seedable random stream (CPU Philox/MT19937 state from ATen).
// Every random draw in langevin takes one; draws for CUDA tensors are made on the CPU stream and
// copied, so one seed gives the same numbers on every device.
#include "common.h"
#include "generator.h"

#include <ATen/CPUGeneratorImpl.h>

namespace langevin {

namespace {
// A seed argument: an integer in [0, 2^53) (what a JS number holds exactly).
uint64_t ArgSeed(const Napi::CallbackInfo& info, size_t i, const char* what) {
  double s = ArgNumber(info, i, "seed");
  if (!(s >= 0) || s > 9007199254740991.0 || s != static_cast<double>(static_cast<uint64_t>(s)))
    ThrowRange(std::string(what) + ": seed must be an integer in [0, 2^53), got " + std::to_string(s));
  return static_cast<uint64_t>(s);
}

at::Generator& DefaultGenerator() {
  static at::Generator* g = new at::Generator(at::make_generator<at::CPUGeneratorImpl>(0));
  return *g;
}
}  // namespace

GeneratorHandle::GeneratorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorHandle>(info) {
  try {
    uint64_t seed = IsAbsent(info, 0) ? 0 : ArgSeed(info, 0, "Generator");
    gen_ = at::make_generator<at::CPUGeneratorImpl>(seed);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw ToJsError(info.Env(), std::current_exception());
  }
}

Napi::Function GeneratorHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<GeneratorHandle>::DefineClass(env, "NativeGenerator",
      {InstanceMethod<&GeneratorHandle::ManualSeed>("manualSeed"), InstanceMethod<&GeneratorHandle::InitialSeed>("initialSeed"),
       InstanceMethod<&GeneratorHandle::GetState>("getState"), InstanceMethod<&GeneratorHandle::SetState>("setState")});
}

Napi::Value GeneratorHandle::ManualSeed(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    uint64_t seed = ArgSeed(info, 0, "manualSeed");
    std::lock_guard<std::mutex> l(gen_.mutex());
    gen_.set_current_seed(seed);
    return info.Env().Undefined();
  });
}

Napi::Value GeneratorHandle::InitialSeed(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(gen_.current_seed()));
}

Napi::Value GeneratorHandle::GetState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    std::lock_guard<std::mutex> l(gen_.mutex());
    at::Tensor state = gen_.get_state();
    auto out = Napi::Uint8Array::New(info.Env(), state.numel());
    std::memcpy(out.Data(), state.data_ptr(), state.numel());
    return out;
  });
}

Napi::Value GeneratorHandle::SetState(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      ThrowType("setState: state must be a Uint8Array from getState()");
    auto arr = info[0].As<Napi::Uint8Array>();
    at::Tensor state = at::empty({static_cast<int64_t>(arr.ElementLength())}, at::kByte);
    std::memcpy(state.data_ptr(), arr.Data(), arr.ElementLength());
    std::lock_guard<std::mutex> l(gen_.mutex());
    gen_.set_state(state);  // c10 checks the size and throws a c10::Error for a wrong one
    return info.Env().Undefined();
  });
}

at::Generator ArgGenerator(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsAbsent(info, i)) return DefaultGenerator();
  Napi::Value v = info[i];
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(info.Env()).generatorCtor.Value()))
    ThrowType(std::string("argument ") + std::to_string(i) + " (" + name + ") must be a Generator");
  return GeneratorHandle::Unwrap(v.As<Napi::Object>())->generator();
}

namespace {
LANGEVIN_BINDING(ManualSeedDefault) {
  return Guard(info, [&]() -> Napi::Value {
    uint64_t seed = ArgSeed(info, 0, "manualSeed");
    std::lock_guard<std::mutex> l(DefaultGenerator().mutex());
    DefaultGenerator().set_current_seed(seed);
    return info.Env().Undefined();
  });
}
}  // namespace

void RegisterGenerator(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = GeneratorHandle::DefineClass(env);
  Data(env).generatorCtor = Napi::Persistent(ctor);
  exports.Set("NativeGenerator", ctor);
  Define(env, exports, "manualSeed", ManualSeedDefault);
}

}  // namespace langevin

// Process-level settings and facts: build info, threads, allocation cap, memory counters, grad mode.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <unistd.h>

#include <atomic>
#include <cmath>

namespace langevin {

namespace {

std::atomic<int> g_threads{0};  // 0 = not set yet
std::atomic<int64_t> g_alloc_limit{0};

int64_t PhysicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : (int64_t{1} << 40);
}

}  // namespace

int ConfiguredThreads() {
  int n = g_threads.load();
  return n > 0 ? n : at::get_num_threads();
}

void ApplyThreads() {
  int n = g_threads.load();
  // OpenMP's thread count is per OS thread: a libuv worker keeps its own until told.
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

int64_t AllocationLimit() {
  int64_t v = g_alloc_limit.load();
  return v > 0 ? v : PhysicalMemory();
}

void SetAllocationLimit(int64_t bytes) { g_alloc_limit.store(bytes); }

void CheckAllocNumel(double numel, at::ScalarType dtype, const char* what) {
  double bytes = numel * static_cast<double>(c10::elementSize(dtype));
  if (!(bytes <= static_cast<double>(AllocationLimit())))
    ThrowRange(std::string(what) + ": the result would need " + std::to_string(static_cast<double>(bytes) / (1 << 20)) +
                   " MiB, over the allocation limit of " + std::to_string(AllocationLimit() >> 20) +
                   " MiB (setAllocationLimit changes it)",
               "ERR_ALLOCATION_LIMIT");
}

void CheckAlloc(at::IntArrayRef shape, at::ScalarType dtype, const char* what) {
  double numel = 1;
  for (int64_t s : shape) numel *= static_cast<double>(s);
  CheckAllocNumel(numel, dtype, what);
}

namespace {

LANGEVIN_BINDING(BuildInfo) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("libtorch", TORCH_VERSION);
    o.Set("cudaCompiled", Napi::Boolean::New(env, at::hasCUDA()));
    bool cuda = at::hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0;
    o.Set("cudaAvailable", Napi::Boolean::New(env, cuda));
    o.Set("gpus", Napi::Number::New(env, at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0));
    if (at::hasCUDA()) {
      o.Set("cudnn", Napi::Number::New(env, at::detail::getCUDAHooks().hasCuDNN() ? at::detail::getCUDAHooks().versionCuDNN() : 0));
    } else {
      o.Set("cudnn", env.Null());
    }
    o.Set("threads", Napi::Number::New(env, ConfiguredThreads()));
    o.Set("parallel", at::get_parallel_info());
    o.Set("config", at::show_config());
    o.Set("mkldnn", Napi::Boolean::New(env, at::hasMKLDNN()));
    Napi::Object cpu = Napi::Object::New(env);
    __builtin_cpu_init();
    cpu.Set("avx2", Napi::Boolean::New(env, __builtin_cpu_supports("avx2")));
    cpu.Set("avx512f", Napi::Boolean::New(env, __builtin_cpu_supports("avx512f")));
    cpu.Set("avx512bf16", Napi::Boolean::New(env, __builtin_cpu_supports("avx512bf16")));
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    cpu.Set("amxBf16", Napi::Boolean::New(env, __builtin_cpu_supports("amx-bf16")));
#else
    cpu.Set("amxBf16", Napi::Boolean::New(env, false));  // older compilers cannot ask
#endif
    cpu.Set("cores", Napi::Number::New(env, static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN))));
    o.Set("cpu", cpu);
    o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
    return o;
  });
}

LANGEVIN_BINDING(SetNumThreads) {
  return Guard(info, [&]() -> Napi::Value {
    int64_t n = ArgIntIn(info, 0, "threads", 1, 1024);
    g_threads.store(static_cast<int>(n));
    at::set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

LANGEVIN_BINDING(GetNumThreads) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), ConfiguredThreads()); });
}

LANGEVIN_BINDING(SetAllocationLimitJs) {
  return Guard(info, [&]() -> Napi::Value {
    double bytes = ArgNumber(info, 0, "bytes");
    if (!(bytes >= 0) || !std::isfinite(bytes)) ThrowRange("setAllocationLimit: bytes must be a finite number >= 0 (0 = physical memory)");
    SetAllocationLimit(static_cast<int64_t>(bytes));
    return info.Env().Undefined();
  });
}

LANGEVIN_BINDING(GetAllocationLimit) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(AllocationLimit())); });
}

LANGEVIN_BINDING(MemoryStats) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("tensors", Napi::Number::New(info.Env(), static_cast<double>(LiveTensors())));
    o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(LiveBytes())));
    o.Set("handles", Napi::Number::New(info.Env(), static_cast<double>(Table(info.Env()).Handles())));
    return o;
  });
}

LANGEVIN_BINDING(SetGradEnabled) {
  return Guard(info, [&]() -> Napi::Value {
    bool prev = at::GradMode::is_enabled();
    at::GradMode::set_enabled(ArgBool(info, 0, "enabled"));
    return Napi::Boolean::New(info.Env(), prev);
  });
}

LANGEVIN_BINDING(IsGradEnabled) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); });
}

LANGEVIN_BINDING(SetDeterministic) {
  return Guard(info, [&]() -> Napi::Value {
    bool on = ArgBool(info, 0, "enabled");
    at::globalContext().setDeterministicAlgorithms(on, false);
    at::globalContext().setBenchmarkCuDNN(!on && at::globalContext().benchmarkCuDNN());
    at::globalContext().setDeterministicCuDNN(on);
    return info.Env().Undefined();
  });
}

// setCudaOptions({ benchmark?, tf32? }): cuDNN autotuning (picks the fastest convolution algorithm
// per shape on first use) and TF32 for convolutions and matmuls. No effect on CPU builds.
LANGEVIN_BINDING(SetCudaOptions) {
  return Guard(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) ThrowType("setCudaOptions: expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto flag = [&](const char* k) -> std::optional<bool> {
      if (!o.Has(k) || o.Get(k).IsUndefined()) return std::nullopt;
      if (!o.Get(k).IsBoolean()) ThrowType(std::string("setCudaOptions: ") + k + " must be a boolean");
      return o.Get(k).As<Napi::Boolean>().Value();
    };
    if (auto b = flag("benchmark")) at::globalContext().setBenchmarkCuDNN(*b);
    if (auto t = flag("tf32")) {
      at::globalContext().setAllowTF32CuDNN(*t);
      at::globalContext().setAllowTF32CuBLAS(*t);
    }
    return info.Env().Undefined();
  });
}

LANGEVIN_BINDING(GetCudaOptions) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("benchmark", at::globalContext().benchmarkCuDNN());
    o.Set("tf32", at::globalContext().allowTF32CuDNN() && at::globalContext().allowTF32CuBLAS());
    return o;
  });
}

// synchronize(): waits for the current CUDA device's queued work (a no-op without CUDA), so a
// timer around GPU work measures the work.
LANGEVIN_BINDING(Synchronize) {
  return Guard(info, [&]() -> Napi::Value {
    if (torch::cuda::is_available()) torch::cuda::synchronize();
    return info.Env().Undefined();
  });
}

}  // namespace

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "buildInfo", BuildInfo);
  Define(env, exports, "setNumThreads", SetNumThreads);
  Define(env, exports, "getNumThreads", GetNumThreads);
  Define(env, exports, "setAllocationLimit", SetAllocationLimitJs);
  Define(env, exports, "getAllocationLimit", GetAllocationLimit);
  Define(env, exports, "memoryStats", MemoryStats);
  Define(env, exports, "setGradEnabled", SetGradEnabled);
  Define(env, exports, "isGradEnabled", IsGradEnabled);
  Define(env, exports, "setDeterministic", SetDeterministic);
  Define(env, exports, "setCudaOptions", SetCudaOptions);
  Define(env, exports, "getCudaOptions", GetCudaOptions);
  Define(env, exports, "synchronize", Synchronize);
}

}  // namespace langevin

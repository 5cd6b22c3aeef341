// Module entry: per-environment data, registration of every binding group.
#include "common.h"

#include <malloc.h>

namespace langevin {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

void Define(Napi::Env env, Napi::Object exports, const char* name, BindingFn fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // glibc serves blocks above the mmap threshold with fresh mappings, so every such tensor is
  // faulted in page by page (a 4 MB activation: 1,024 faults, ~0.1 ms). In python glibc raises the
  // threshold dynamically up to 32 MB; inside node that adaptation is off, so set what python ends
  // up with: 32 MB, and a trim threshold that keeps freed heap for the next step's tensors.
  // LANGEVIN_MMAP_THRESHOLD=bytes overrides (0 leaves glibc's settings alone).
  static bool tuned = [] {
    const char* e = getenv("LANGEVIN_MMAP_THRESHOLD");
    long threshold = e ? atol(e) : 32L << 20;
    if (threshold <= 0) return false;
    return mallopt(M_MMAP_THRESHOLD, static_cast<int>(threshold)) == 1 && mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * threshold)) == 1;
  }();
  (void)tuned;
  env.SetInstanceData<AddonData>(new AddonData());
  RegisterHandles(env, exports);
  RegisterTensor(env, exports);
  RegisterCreation(env, exports);
  RegisterShapeOps(env, exports);
  RegisterMathOps(env, exports);
  RegisterLinalgOps(env, exports);
  RegisterNnOps(env, exports);
  RegisterAutograd(env, exports);
  RegisterGenerator(env, exports);
  RegisterRuntime(env, exports);
  RegisterJobs(env, exports);
  RegisterPrograms(env, exports);
  RegisterOptim(env, exports);
  RegisterDataOps(env, exports);
  RegisterTrainStep(env, exports);
  RegisterDiffusion(env, exports);
  RegisterEnergy(env, exports);
  return exports;
}

}  // namespace langevin

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return langevin::Init(env, exports); }
NODE_API_MODULE(langevin, InitAll)

// Module entry: per-environment data, registration of every binding group.
#include "common.h"

#include <malloc.h>

namespace langevin {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

void Define(Napi::Env env, Napi::Object exports, const char* name, BindingFn fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Optional glibc tuning for experiments (LANGEVIN_MMAP_THRESHOLD=bytes). Off by default: a low
  // threshold maps and faults in every large tensor afresh (measured: GroupNorm 5x slower).
  static bool tuned = [] {
    const char* e = getenv("LANGEVIN_MMAP_THRESHOLD");
    return e ? mallopt(M_MMAP_THRESHOLD, atoi(e)) == 1 : false;
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
  return exports;
}

}  // namespace langevin

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return langevin::Init(env, exports); }
NODE_API_MODULE(langevin, InitAll)

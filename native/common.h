// Shared plumbing of the addon: the tensor handle, argument parsing and error mapping.
// Every binding body runs inside Guard(), so no C++ exception ever escapes to N-API.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace langevin {

// ---- errors -------------------------------------------------------------------------------

enum class ErrKind { Type, Range, Plain };

// Thrown by argument helpers and op checks; Guard turns it into a JS TypeError/RangeError/Error.
struct JsError : std::exception {
  ErrKind kind;
  std::string message;
  std::string code;
  JsError(ErrKind k, std::string m, std::string c = "") : kind(k), message(std::move(m)), code(std::move(c)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

[[noreturn]] void ThrowType(const std::string& msg);
[[noreturn]] void ThrowRange(const std::string& msg, const std::string& code = "ERR_OUT_OF_RANGE");
[[noreturn]] void ThrowPlain(const std::string& msg, const std::string& code);

// Maps any caught C++ exception to a JS error value (short message, no backtrace).
Napi::Error ToJsError(Napi::Env env, const std::exception_ptr& ep);
// The same mapping for worker threads, where no Env exists yet: kind, message, code.
JsError Classify(const std::exception_ptr& ep);

template <class F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;  // already a JS error
  } catch (...) {
    throw ToJsError(info.Env(), std::current_exception());
  }
}

// ---- tensor handles ---------------------------------------------------------------------

enum class Access { Read, Write };

// JS sees a tensor as a number: an id into this environment's slot table (generation × 2^24 +
// index). dispose() frees the slot's tensor at once and leaves nothing native behind — no
// per-tensor N-API wrap whose finalizer would wait for the event loop (in a synchronous loop those
// pile up and fragment the heap). Tensors the JS side forgets are released through a
// FinalizationRegistry. `readers`/`writer` are set while an async job uses the tensor: JS may not
// mutate or dispose a tensor a job reads, and may not touch at all a tensor a job writes.
struct Slot {
  at::Tensor tensor;
  uint32_t generation = 0;  // 0 = never issued, so small integers are never valid ids
  bool live = false;
  int readers = 0;
  bool writer = false;
  bool releaseWhenIdle = false;  // released by the GC while a job held it
  const void* storageKey = nullptr;
};

class TensorTable {
 public:
  double Add(at::Tensor t);
  Slot& Lookup(double id, const char* what);           // ERR_DISPOSED for stale ids
  Slot* Find(double id);                                // nullptr for stale ids
  at::Tensor& Get(double id, Access access, const char* what);
  void Release(double id);                              // no-op for stale ids
  void ReleaseSlot(Slot& s, uint32_t index);
  int64_t Handles() const { return static_cast<int64_t>(slots_.size() - free_.size()); }

 private:
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

// Wraps a result as a new id (a JS number).
Napi::Value WrapTensor(Napi::Env env, at::Tensor t);
TensorTable& Table(Napi::Env env);

// Live JS-visible tensors and the bytes of their distinct storages (all environments).
int64_t LiveTensors();
int64_t LiveBytes();

// ---- arguments ----------------------------------------------------------------------------

at::Tensor& ArgTensor(const Napi::CallbackInfo& info, size_t i, const char* name, Access a = Access::Read);
bool IsTensorArg(const Napi::CallbackInfo& info, size_t i);  // a number in a tensor position
std::optional<at::Tensor> ArgOptTensor(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<at::Tensor> ArgTensorList(const Napi::CallbackInfo& info, size_t i, const char* name, Access a = Access::Read);
std::vector<double> ArgTensorIds(const Napi::CallbackInfo& info, size_t i, const char* name);  // ids, type-checked only
bool IsAbsent(const Napi::CallbackInfo& info, size_t i);  // undefined or null or missing
double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
std::optional<double> ArgOptNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);
std::optional<int64_t> ArgOptInt(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t ArgIntIn(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgOptBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<int64_t> ArgInts(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<int64_t> ArgShape(const Napi::CallbackInfo& info, size_t i, const char* name);  // ints >= 0
at::ScalarType ArgDtype(const Napi::CallbackInfo& info, size_t i, const char* name);
at::ScalarType ArgOptDtype(const Napi::CallbackInfo& info, size_t i, const char* name, at::ScalarType fallback);
at::Device ArgDevice(const Napi::CallbackInfo& info, size_t i, const char* name);  // absent = cpu
at::Generator ArgGenerator(const Napi::CallbackInfo& info, size_t i, const char* name);  // absent = default

// A JS number as a Scalar: integral values become int64 (so int tensors stay int, as with Python
// ints in PyTorch), others double.
at::Scalar ScalarOf(double v);

// Normalises a possibly negative dim against `ndim`; RangeError when out of range.
int64_t WrapDim(int64_t dim, int64_t ndim, const char* name);

// ---- names and limits ---------------------------------------------------------------------

const char* DtypeName(at::ScalarType t);
std::optional<at::ScalarType> DtypeFromName(const std::string& name);
std::string DeviceString(const at::Device& d);
std::string ShapeString(at::IntArrayRef shape);

// Throws RangeError (code ERR_ALLOCATION_LIMIT) when numel × itemsize exceeds the allocation cap.
void CheckAlloc(at::IntArrayRef shape, at::ScalarType dtype, const char* what);
void CheckAllocNumel(double numel, at::ScalarType dtype, const char* what);
int64_t AllocationLimit();
void SetAllocationLimit(int64_t bytes);

// Thread count used by the main thread and every job's worker thread.
int ConfiguredThreads();
void ApplyThreads();  // call at the start of work on any thread

// ---- registration -------------------------------------------------------------------------

using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);
void Define(Napi::Env env, Napi::Object exports, const char* name, BindingFn fn);

#define LANGEVIN_BINDING(fname) static Napi::Value fname(const Napi::CallbackInfo& info)

void RegisterHandles(Napi::Env env, Napi::Object exports);
void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterCreation(Napi::Env env, Napi::Object exports);
void RegisterShapeOps(Napi::Env env, Napi::Object exports);
void RegisterMathOps(Napi::Env env, Napi::Object exports);
void RegisterLinalgOps(Napi::Env env, Napi::Object exports);
void RegisterNnOps(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterGenerator(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterJobs(Napi::Env env, Napi::Object exports);
void RegisterPrograms(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);
void RegisterDataOps(Napi::Env env, Napi::Object exports);
void RegisterTrainStep(Napi::Env env, Napi::Object exports);
void RegisterDiffusion(Napi::Env env, Napi::Object exports);
void RegisterEnergy(Napi::Env env, Napi::Object exports);

// Per-environment data (one per main thread / worker_thread).
struct AddonData {
  TensorTable tensors;
  Napi::FunctionReference programCtor;
  Napi::FunctionReference generatorCtor;
};
AddonData& Data(Napi::Env env);

}  // namespace langevin

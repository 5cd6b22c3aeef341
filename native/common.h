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

// ---- tensor handle ------------------------------------------------------------------------

enum class Access { Read, Write };

// A JS-visible tensor. Holds the at::Tensor until dispose() or garbage collection.
// `readers`/`writer` are set while an async job uses the tensor: JS may not mutate or dispose a
// tensor a job reads, and may not touch at all a tensor a job writes.
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  static bool IsHandle(Napi::Env env, const Napi::Value& v);
  static TensorHandle* FromJs(Napi::Env env, const Napi::Value& v);  // TypeError if not a handle

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  at::Tensor& Get(Access access, const char* what);
  bool disposed() const { return !tensor_.defined() && disposed_; }
  void Release();

  int readers = 0;
  bool writer = false;

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value Dim(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  void Track(const at::Tensor& t);
  void Untrack();

  at::Tensor tensor_;
  bool disposed_ = false;
  const void* storage_key_ = nullptr;
};

// Live JS-visible tensors and the bytes of their distinct storages.
int64_t LiveTensors();
int64_t LiveBytes();

// ---- arguments ----------------------------------------------------------------------------

at::Tensor& ArgTensor(const Napi::CallbackInfo& info, size_t i, const char* name, Access a = Access::Read);
std::optional<at::Tensor> ArgOptTensor(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<at::Tensor> ArgTensorList(const Napi::CallbackInfo& info, size_t i, const char* name);
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

// Per-environment data (one per main thread / worker_thread).
struct AddonData {
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference generatorCtor;
};
AddonData& Data(Napi::Env env);

}  // namespace langevin

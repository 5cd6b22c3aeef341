// TensorHandle: the JS object that owns one at::Tensor, plus live-tensor accounting.
#include "common.h"

#include <mutex>
#include <unordered_map>

namespace langevin {

namespace {

// Distinct storages held by live handles (views share one), so bytes are not double counted.
struct Accounting {
  std::mutex mu;
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::unordered_map<const void*, std::pair<int64_t, int64_t>> storages;  // key -> (refs, bytes)
};
Accounting& Acc() {
  static Accounting* a = new Accounting();  // never destroyed: handles may outlive static teardown
  return *a;
}

}  // namespace

int64_t LiveTensors() {
  std::lock_guard<std::mutex> l(Acc().mu);
  return Acc().tensors;
}
int64_t LiveBytes() {
  std::lock_guard<std::mutex> l(Acc().mu);
  return Acc().bytes;
}

Napi::Function TensorHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<TensorHandle>::DefineClass(env, "NativeTensor",
      {InstanceMethod<&TensorHandle::Shape>("shape"), InstanceMethod<&TensorHandle::Dtype>("dtype"),
       InstanceMethod<&TensorHandle::DeviceName>("device"), InstanceMethod<&TensorHandle::Numel>("numel"),
       InstanceMethod<&TensorHandle::Dim>("dim"), InstanceMethod<&TensorHandle::RequiresGrad>("requiresGrad"),
       InstanceMethod<&TensorHandle::IsDisposed>("isDisposed"), InstanceMethod<&TensorHandle::Dispose>("dispose")});
}

Napi::Value TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) ThrowPlain("internal: an operation produced no tensor", "ERR_NATIVE");
  Napi::Object obj = Data(env).tensorCtor.New({});
  TensorHandle* h = Unwrap(obj);
  h->tensor_ = std::move(t);
  h->Track(h->tensor_);
  return obj;
}

bool TensorHandle::IsHandle(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(Data(env).tensorCtor.Value());
}

TensorHandle* TensorHandle::FromJs(Napi::Env env, const Napi::Value& v) {
  if (!IsHandle(env, v)) ThrowType("expected a Tensor");
  return Unwrap(v.As<Napi::Object>());
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() { Untrack(); }

void TensorHandle::Track(const at::Tensor& t) {
  auto& a = Acc();
  std::lock_guard<std::mutex> l(a.mu);
  a.tensors++;
  if (t.has_storage()) {
    storage_key_ = t.storage().unsafeGetStorageImpl();
    auto& e = a.storages[storage_key_];
    if (e.first++ == 0) {
      e.second = static_cast<int64_t>(t.storage().nbytes());
      a.bytes += e.second;
    }
  }
}

void TensorHandle::Untrack() {
  if (!tensor_.defined()) return;
  auto& a = Acc();
  std::lock_guard<std::mutex> l(a.mu);
  a.tensors--;
  if (storage_key_) {
    auto it = a.storages.find(storage_key_);
    if (it != a.storages.end() && --it->second.first == 0) {
      a.bytes -= it->second.second;
      a.storages.erase(it);
    }
    storage_key_ = nullptr;
  }
}

void TensorHandle::Release() {
  Untrack();
  tensor_ = at::Tensor();
  disposed_ = true;
}

at::Tensor& TensorHandle::Get(Access access, const char* what) {
  if (disposed_) ThrowPlain(std::string(what) + ": the tensor was disposed", "ERR_DISPOSED");
  if (!tensor_.defined()) ThrowType(std::string(what) + ": an empty NativeTensor (tensors come from langevin's functions, not `new`)");
  if (writer) ThrowPlain(std::string(what) + ": the tensor is busy (an async job is writing it)", "ERR_BUSY");
  if (access == Access::Write && readers > 0)
    ThrowPlain(std::string(what) + ": the tensor is busy (an async job is reading it); wait for the job before changing it", "ERR_BUSY");
  return tensor_;
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = Get(Access::Read, "shape");
    Napi::Array out = Napi::Array::New(info.Env(), t.dim());
    for (int64_t k = 0; k < t.dim(); ++k) out.Set(static_cast<uint32_t>(k), Napi::Number::New(info.Env(), static_cast<double>(t.size(k))));
    return out;
  });
}

Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), DtypeName(Get(Access::Read, "dtype").scalar_type())); });
}

Napi::Value TensorHandle::DeviceName(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), DeviceString(Get(Access::Read, "device").device())); });
}

Napi::Value TensorHandle::Numel(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(Get(Access::Read, "numel").numel())); });
}

Napi::Value TensorHandle::Dim(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(Get(Access::Read, "dim").dim())); });
}

Napi::Value TensorHandle::RequiresGrad(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), Get(Access::Read, "requiresGrad").requires_grad()); });
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    if (disposed_) return info.Env().Undefined();  // idempotent, like tfjs
    if (writer || readers > 0) ThrowPlain("dispose: the tensor is busy (an async job is using it); wait for the job first", "ERR_BUSY");
    Release();
    return info.Env().Undefined();
  });
}

}  // namespace langevin

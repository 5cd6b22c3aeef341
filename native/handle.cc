// The tensor slot table (see common.h) and live-tensor accounting.
#include "common.h"

#include <cmath>
#include <mutex>
#include <unordered_map>

namespace langevin {

namespace {

constexpr double kIndexSpan = 16777216.0;  // 2^24 slots per environment

// Distinct storages held by live tensors (views share one), so bytes are not double counted.
struct Accounting {
  std::mutex mu;
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::unordered_map<const void*, std::pair<int64_t, int64_t>> storages;  // key -> (refs, bytes)
};
Accounting& Acc() {
  static Accounting* a = new Accounting();  // never destroyed: environments may outlive static teardown
  return *a;
}

const void* Track(const at::Tensor& t) {
  auto& a = Acc();
  std::lock_guard<std::mutex> l(a.mu);
  a.tensors++;
  if (!t.has_storage()) return nullptr;
  const void* key = t.storage().unsafeGetStorageImpl();
  auto& e = a.storages[key];
  if (e.first++ == 0) {
    e.second = static_cast<int64_t>(t.storage().nbytes());
    a.bytes += e.second;
  }
  return key;
}

void Untrack(const void* key) {
  auto& a = Acc();
  std::lock_guard<std::mutex> l(a.mu);
  a.tensors--;
  if (!key) return;
  auto it = a.storages.find(key);
  if (it != a.storages.end() && --it->second.first == 0) {
    a.bytes -= it->second.second;
    a.storages.erase(it);
  }
}

bool Decode(double id, uint32_t& index, uint32_t& generation) {
  if (!(id >= kIndexSpan) || id > 9007199254740991.0 || std::floor(id) != id) return false;
  double gen = std::floor(id / kIndexSpan);
  index = static_cast<uint32_t>(id - gen * kIndexSpan);
  generation = static_cast<uint32_t>(gen);
  return true;
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

double TensorTable::Add(at::Tensor t) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= static_cast<size_t>(kIndexSpan)) ThrowPlain("too many live tensors (16M); dispose some", "ERR_TOO_MANY_TENSORS");
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[index];
  s.generation = s.generation >= (1u << 29) - 1 ? 1 : s.generation + 1;
  s.live = true;
  s.readers = 0;
  s.writer = false;
  s.releaseWhenIdle = false;
  s.storageKey = Track(t);
  s.tensor = std::move(t);
  return static_cast<double>(s.generation) * kIndexSpan + index;
}

Slot* TensorTable::Find(double id) {
  uint32_t index, gen;
  if (!Decode(id, index, gen) || index >= slots_.size()) return nullptr;
  Slot& s = slots_[index];
  return s.live && s.generation == gen ? &s : nullptr;
}

Slot& TensorTable::Lookup(double id, const char* what) {
  Slot* s = Find(id);
  if (!s) ThrowPlain(std::string(what) + ": the tensor was disposed (or is not a tensor)", "ERR_DISPOSED");
  return *s;
}

at::Tensor& TensorTable::Get(double id, Access access, const char* what) {
  Slot& s = Lookup(id, what);
  if (s.writer) ThrowPlain(std::string(what) + ": the tensor is busy (an async job is writing it)", "ERR_BUSY");
  if (access == Access::Write && s.readers > 0)
    ThrowPlain(std::string(what) + ": the tensor is busy (an async job is reading it); wait for the job before changing it", "ERR_BUSY");
  return s.tensor;
}

void TensorTable::ReleaseSlot(Slot& s, uint32_t index) {
  Untrack(s.storageKey);
  s.storageKey = nullptr;
  s.tensor = at::Tensor();
  s.live = false;
  free_.push_back(index);
}

void TensorTable::Release(double id) {
  uint32_t index, gen;
  Slot* s = Find(id);
  if (!s || !Decode(id, index, gen)) return;
  if (s->writer || s->readers > 0) {
    s->releaseWhenIdle = true;  // the job settles first, then the slot is freed
    return;
  }
  ReleaseSlot(*s, index);
}

TensorTable& Table(Napi::Env env) { return Data(env).tensors; }

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) ThrowPlain("internal: an operation produced no tensor", "ERR_NATIVE");
  return Napi::Number::New(env, Table(env).Add(std::move(t)));
}

namespace {

double IdArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowType("argument 0 (tensor) must be a Tensor");
  return info[0].As<Napi::Number>().DoubleValue();
}

LANGEVIN_BINDING(Shape) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = Table(info.Env()).Get(IdArg(info), Access::Read, "shape");
    Napi::Array out = Napi::Array::New(info.Env(), t.dim());
    for (int64_t k = 0; k < t.dim(); ++k) out.Set(static_cast<uint32_t>(k), Napi::Number::New(info.Env(), static_cast<double>(t.size(k))));
    return out;
  });
}

LANGEVIN_BINDING(Dtype) {
  return Guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), DtypeName(Table(info.Env()).Get(IdArg(info), Access::Read, "dtype").scalar_type())); });
}

LANGEVIN_BINDING(DeviceName) {
  return Guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), DeviceString(Table(info.Env()).Get(IdArg(info), Access::Read, "device").device())); });
}

LANGEVIN_BINDING(Numel) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(Table(info.Env()).Get(IdArg(info), Access::Read, "numel").numel())); });
}

LANGEVIN_BINDING(RequiresGrad) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), Table(info.Env()).Get(IdArg(info), Access::Read, "requiresGrad").requires_grad()); });
}

LANGEVIN_BINDING(IsDisposed) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), Table(info.Env()).Find(IdArg(info)) == nullptr); });
}

// dispose(id): frees now; idempotent; refused while a job uses the tensor.
LANGEVIN_BINDING(Dispose) {
  return Guard(info, [&]() -> Napi::Value {
    double id = IdArg(info);
    Slot* s = Table(info.Env()).Find(id);
    if (!s) return info.Env().Undefined();
    if (s->writer || s->readers > 0) ThrowPlain("dispose: the tensor is busy (an async job is using it); wait for the job first", "ERR_BUSY");
    Table(info.Env()).Release(id);
    return info.Env().Undefined();
  });
}

// release(id): for the FinalizationRegistry — like dispose, but deferred while a job holds it.
LANGEVIN_BINDING(ReleaseJs) {
  return Guard(info, [&]() -> Napi::Value {
    Table(info.Env()).Release(IdArg(info));
    return info.Env().Undefined();
  });
}

LANGEVIN_BINDING(HandleCount) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(Table(info.Env()).Handles())); });
}

}  // namespace

void RegisterHandles(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "shape", Shape);
  Define(env, exports, "dtype", Dtype);
  Define(env, exports, "device", DeviceName);
  Define(env, exports, "numel", Numel);
  Define(env, exports, "requiresGrad", RequiresGrad);
  Define(env, exports, "isDisposed", IsDisposed);
  Define(env, exports, "dispose", Dispose);
  Define(env, exports, "release", ReleaseJs);
  Define(env, exports, "handleCount", HandleCount);
}

}  // namespace langevin

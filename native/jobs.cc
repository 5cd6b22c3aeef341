// The async job runner (see jobs.h) and the jobs of the foundation layer.
#include "jobs.h"

#include <ATen/Parallel.h>

#include <atomic>

// libgomp keeps one pool of threads per thread that has opened a parallel region, and once the pools
// together hold more threads than there are CPUs it stops spinning at barriers and sleeps on a futex
// instead ("throttled" waits). A job on a libuv worker next to the main thread's pool is exactly
// that case: every parallel region then pays a wake-up (~4 ms a step on the DDPM sampling loop, 2
// cores). So a thread hands its idle pool back before a job starts (main thread) and when it ends
// (worker): at most one pool exists while a job computes. A weak symbol, because the OpenMP runtime
// is whichever one libtorch loaded (a renamed libgomp in PyTorch wheels) or none.
extern "C" int omp_pause_resource_all(int kind) __attribute__((weak));

namespace langevin {

namespace {

void ReleaseThisThreadsOpenMpPool() {
  constexpr int kOmpPauseSoft = 1;
  if (omp_pause_resource_all != nullptr) omp_pause_resource_all(kOmpPauseSoft);
}

struct JobState;
struct Progress {
  JobState* state;
  int64_t step, total;
  std::vector<std::pair<std::string, double>> metrics;
};

struct JobState {
  explicit JobState(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  std::unique_ptr<Job> job;
  Napi::Promise::Deferred deferred;
  std::vector<JobLock> locks;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::exception_ptr error;
  bool wasCancelled = false;
  Napi::ObjectReference progressError;
  Napi::ThreadSafeFunction tsfn;
  int64_t every = 1;
  bool hasProgress = false;
};

// A progress callback that throws aborts the job; the Promise rejects with that error.
void CallProgress(Napi::Env env, Napi::Function callback, Progress* p) {
  std::unique_ptr<Progress> owned(p);
  if (env == nullptr) return;  // environment shutting down
  JobState* s = p->state;
  if (!s->progressError.IsEmpty()) return;
  try {
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", Napi::Number::New(env, static_cast<double>(p->step)));
    o.Set("total", Napi::Number::New(env, static_cast<double>(p->total)));
    for (auto& [k, v] : p->metrics) o.Set(k, Napi::Number::New(env, v));
    callback.Call({o});
  } catch (const Napi::Error& e) {
    s->progressError = Napi::Persistent(e.Value());
    s->cancelled->store(true);
  }
}

class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, JobState* s) : Napi::AsyncWorker(env, "langevin-job"), s_(s) {}

  void Execute() override {
    try {
      ApplyThreads();
      c10::AutoGradMode grad(s_->job->GradEnabled());
      const int64_t n = s_->job->Steps();
      for (int64_t i = 0; i < n; ++i) {
        if (s_->cancelled->load()) {
          s_->wasCancelled = true;
          return;
        }
        s_->job->Step(i);
        if (s_->hasProgress && ((i + 1) % s_->every == 0 || i + 1 == n)) {
          auto* p = new Progress{s_, i + 1, n, {}};
          s_->job->Metrics(p->metrics);
          if (s_->tsfn.BlockingCall(p, CallProgress) != napi_ok) delete p;
        }
      }
    } catch (...) {
      s_->error = std::current_exception();
    }
    ReleaseThisThreadsOpenMpPool();
  }

  // Settling happens in the thread-safe function's finalizer, after queued progress calls.
  void OnOK() override { s_->tsfn.Release(); }
  void OnError(const Napi::Error&) override { s_->tsfn.Release(); }

 private:
  JobState* s_;
};

void Settle(Napi::Env env, void*, JobState* s) {
  std::unique_ptr<JobState> owned(s);
  if (env == nullptr) return;
  Napi::HandleScope scope(env);
  TensorTable& table = Table(env);
  for (auto& l : s->locks) {
    Slot* slot = table.Find(l.id);
    if (!slot) continue;
    if (l.access == Access::Write) slot->writer = false;
    else slot->readers--;
    if (slot->releaseWhenIdle && !slot->writer && slot->readers == 0) table.Release(l.id);
  }
  try {
    if (!s->progressError.IsEmpty()) {
      s->deferred.Reject(s->progressError.Value());
    } else if (s->error) {
      s->deferred.Reject(ToJsError(env, s->error).Value());
    } else if (s->wasCancelled) {
      Napi::Error e = Napi::Error::New(env, "the job was aborted");
      e.Set("name", Napi::String::New(env, "AbortError"));
      e.Set("code", Napi::String::New(env, "ABORT_ERR"));
      s->deferred.Reject(e.Value());
    } else {
      s->deferred.Resolve(s->job->Result(env));
    }
  } catch (const Napi::Error& e) {
    s->deferred.Reject(e.Value());
  } catch (...) {
    s->deferred.Reject(ToJsError(env, std::current_exception()).Value());
  }
}

}  // namespace

JobOptions ArgJobOptions(const Napi::CallbackInfo& info, size_t i) {
  JobOptions o;
  o.onProgress = info.Env().Undefined();
  if (IsAbsent(info, i)) return o;
  if (!info[i].IsObject()) ThrowType("job options must be an object");
  Napi::Object obj = info[i].As<Napi::Object>();
  Napi::Value fn = obj.Get("onProgress");
  if (!fn.IsUndefined() && !fn.IsNull()) {
    if (!fn.IsFunction()) ThrowType("onProgress must be a function");
    o.onProgress = fn;
  }
  Napi::Value every = obj.Get("progressEvery");
  if (!every.IsUndefined()) {
    if (!every.IsNumber()) ThrowType("progressEvery must be a number");
    double e = every.As<Napi::Number>().DoubleValue();
    if (!(e >= 1) || e != static_cast<double>(static_cast<int64_t>(e))) ThrowRange("progressEvery must be an integer >= 1");
    o.progressEvery = static_cast<int64_t>(e);
  }
  return o;
}

Napi::Value StartJob(Napi::Env env, std::unique_ptr<Job> job, const std::vector<JobLock>& locks, const JobOptions& opts) {
  // Check every lock before taking any, so a refusal leaves nothing locked.
  TensorTable& table = Table(env);
  for (auto& l : locks) table.Get(l.id, l.access, "job");
  for (size_t a = 0; a < locks.size(); ++a)
    for (size_t b = a + 1; b < locks.size(); ++b)
      if (locks[a].id == locks[b].id && (locks[a].access == Access::Write || locks[b].access == Access::Write))
        ThrowRange("job: the same tensor is passed twice where one of them is written", "ERR_ALIASING");
  auto* s = new JobState(env);
  s->job = std::move(job);
  s->every = opts.progressEvery;
  s->hasProgress = opts.onProgress.IsFunction();
  for (auto& l : locks) {
    Slot& slot = table.Lookup(l.id, "job");
    if (l.access == Access::Write) slot.writer = true;
    else slot.readers++;
    s->locks.push_back(l);
  }
  Napi::Function cb = s->hasProgress ? opts.onProgress.As<Napi::Function>() : Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  s->tsfn = Napi::ThreadSafeFunction::New(env, cb, "langevin-progress", 0, 1, s, Settle, static_cast<void*>(nullptr));
  Napi::Object out = Napi::Object::New(env);
  out.Set("promise", s->deferred.Promise());
  auto flag = s->cancelled;
  out.Set("cancel", Napi::Function::New(env, [flag](const Napi::CallbackInfo& info) {
            flag->store(true);
            return info.Env().Undefined();
          }, "cancel"));
  ReleaseThisThreadsOpenMpPool();
  (new JobWorker(env, s))->Queue();
  return out;
}

namespace {

// A Langevin chain on the Gaussian energy E(x) = ‖x − μ‖² / (2s²), updated in place:
//   x ← x − α·(x − μ)/s² + σ·ε.
// Its stationary law is known in closed form (mean μ, variance σ² / (1 − (1 − α/s²)²)), which
// makes it the reference chain for checking samplers and the job machinery itself.
class GaussianLangevinJob : public Job {
 public:
  GaussianLangevinJob(at::Tensor x, double mean, double std, double step, double noise, int64_t steps, at::Generator gen)
      : x_(std::move(x)), mean_(mean), inv_var_(1.0 / (std * std)), step_(step), noise_(noise), steps_(steps), gen_(std::move(gen)) {}
  int64_t Steps() const override { return steps_; }
  void Step(int64_t) override {
    at::Tensor eps = at::randn(x_.sizes(), gen_, at::TensorOptions().dtype(x_.scalar_type() == at::kDouble ? at::kDouble : at::kFloat))
                         .to(x_.device(), x_.scalar_type());
    x_.sub_((x_ - mean_).mul_(step_ * inv_var_)).add_(eps, noise_);
  }
  void Metrics(std::vector<std::pair<std::string, double>>& out) override {
    out.emplace_back("energy", (x_ - mean_).square().mean().item<double>() * 0.5 * inv_var_);
    out.emplace_back("threads", at::get_num_threads());  // what the worker thread actually uses
  }

 private:
  at::Tensor x_;
  double mean_, inv_var_, step_, noise_;
  int64_t steps_;
  at::Generator gen_;
};

// langevinGaussian(x, { mean, std, stepSize, noise, steps }, generator?, jobOptions?)
LANGEVIN_BINDING(LangevinGaussian) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor x = ArgTensor(info, 0, "x", Access::Write);
    if (!at::isFloatingType(x.scalar_type())) ThrowType("langevinGaussian: x must be floating point");
    if (x.requires_grad()) ThrowPlain("langevinGaussian: x must not require grad (it is updated in place)", "ERR_REQUIRES_GRAD");
    if (IsAbsent(info, 1) || !info[1].IsObject()) ThrowType("langevinGaussian: argument 1 must be an options object");
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* k, double fallback) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return fallback;
      if (!v.IsNumber()) ThrowType(std::string("langevinGaussian: ") + k + " must be a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!std::isfinite(d)) ThrowRange(std::string("langevinGaussian: ") + k + " must be finite");
      return d;
    };
    double mean = num("mean", 0), std = num("std", 1), step = num("stepSize", 0.01), noise = num("noise", std::sqrt(2 * 0.01));
    double steps = num("steps", 100);
    if (!(std > 0) || !(step > 0) || !(noise >= 0)) ThrowRange("langevinGaussian: need std > 0, stepSize > 0, noise >= 0");
    if (!(steps >= 0) || steps > 1e9 || steps != std::floor(steps)) ThrowRange("langevinGaussian: steps must be an integer in [0, 1e9]");
    at::Generator gen = ArgGenerator(info, 2, "generator");
    JobOptions opts = ArgJobOptions(info, 3);
    auto job = std::make_unique<GaussianLangevinJob>(x, mean, std, step, noise, static_cast<int64_t>(steps), gen);
    return StartJob(info.Env(), std::move(job), {{info[0].As<Napi::Number>().DoubleValue(), Access::Write}}, opts);
  });
}

}  // namespace

void RegisterJobs(Napi::Env env, Napi::Object exports) { Define(env, exports, "langevinGaussian", LangevinGaussian); }

}  // namespace langevin

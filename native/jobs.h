// Async jobs: heavy native work that runs step by step on a libuv worker thread.
//
// A job's tensors are locked while it runs (read or write access, see TensorHandle), progress
// reaches JS through a thread-safe function, cancellation is checked between steps, and the
// Promise settles in the thread-safe function's finalizer — so every progress call arrives first.
#pragma once
#include "common.h"

#include <memory>
#include <utility>

namespace langevin {

class Job {
 public:
  virtual ~Job() = default;
  virtual int64_t Steps() const = 0;
  virtual void Step(int64_t i) = 0;                                              // worker thread
  virtual void Metrics(std::vector<std::pair<std::string, double>>& out) {}      // worker thread, after a step
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }         // main thread, on success
  virtual bool GradEnabled() const { return false; }
};

struct JobLock {
  double id;  // a tensor id
  Access access;
};

struct JobOptions {
  Napi::Value onProgress;      // a function or undefined
  int64_t progressEvery = 1;   // report every k steps (and the last)
};

// Locks the tensors, queues the job, and returns { promise, cancel() }.
Napi::Value StartJob(Napi::Env env, std::unique_ptr<Job> job, const std::vector<JobLock>& locks, const JobOptions& opts);

// Reads { onProgress?, progressEvery? } from an options object at argument i.
JobOptions ArgJobOptions(const Napi::CallbackInfo& info, size_t i);

}  // namespace langevin

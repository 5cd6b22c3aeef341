// A whole classifier training step as one native job on a worker thread: program forward (training
// mode) → cross-entropy → backward → optional clipping → Adam/AdamW. The same math as the
// TypeScript step, so both paths give identical numbers.
#include "common.h"
#include "jobs.h"
#include "optim.h"
#include "program.h"

#include <set>

namespace langevin {

namespace {

class ClassifierStepJob : public Job {
 public:
  ClassifierStepJob(std::vector<ResolvedBlock> blocks, at::Tensor x, at::Tensor y, std::vector<at::Tensor> params, std::vector<at::Tensor> m,
                    std::vector<at::Tensor> v, AdamConfig adam, double clip, at::Generator gen)
      : blocks_(std::move(blocks)), x_(std::move(x)), y_(std::move(y)), params_(std::move(params)), m_(std::move(m)), v_(std::move(v)),
        adam_(adam), clip_(clip), gen_(std::move(gen)) {}
  int64_t Steps() const override { return 1; }
  bool GradEnabled() const override { return true; }
  void Step(int64_t) override {
    at::Tensor logits = RunProgram(blocks_, x_, c10::nullopt, true, gen_);
    at::Tensor loss = at::cross_entropy_loss(logits, y_, {}, at::Reduction::Mean, -100, 0.0);
    for (auto& p : params_) p.mutable_grad() = at::Tensor();
    loss.backward();
    gradNorm_ = clip_ > 0 ? ClipGradNorm(params_, clip_) : -1;
    AdamUpdate(params_, m_, v_, adam_);
    loss_ = loss.item<double>();
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss_);
    if (gradNorm_ >= 0) o.Set("gradNorm", gradNorm_);
    return o;
  }

 private:
  std::vector<ResolvedBlock> blocks_;
  at::Tensor x_, y_;
  std::vector<at::Tensor> params_, m_, v_;
  AdamConfig adam_;
  double clip_, loss_ = 0, gradNorm_ = -1;
  at::Generator gen_;
};

// classifierStepAsync(program, x, y, params[], expAvg[], expAvgSq[], {step, lr, beta1, beta2, eps, weightDecay, decoupled, clip}, generator?)
LANGEVIN_BINDING(ClassifierStepAsync) {
  return Guard(info, [&]() -> Napi::Value {
    ProgramHandle* p = ArgProgram(info, 0);
    const at::Tensor& x = ArgTensor(info, 1, "x");
    const at::Tensor& y = ArgTensor(info, 2, "y");
    if (y.scalar_type() != at::kLong || y.dim() != 1 || x.dim() != 4 || y.size(0) != x.size(0))
      ThrowRange("classifierStep: need x [N, C, H, W] and int64 labels y [N]", "ERR_SHAPE");
    auto pIds = ArgTensorIds(info, 3, "params"), mIds = ArgTensorIds(info, 4, "expAvg"), vIds = ArgTensorIds(info, 5, "expAvgSq");
    if (mIds.size() != pIds.size() || vIds.size() != pIds.size()) ThrowRange("classifierStep: optimizer state does not match the parameters");
    if (info.Length() < 7 || !info[6].IsObject()) ThrowType("classifierStep: argument 6 must be the optimizer settings");
    Napi::Object o = info[6].As<Napi::Object>();
    auto num = [&](const char* k) {
      Napi::Value v = o.Get(k);
      if (!v.IsNumber()) ThrowType(std::string("classifierStep: ") + k + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    AdamConfig adam{num("step"), num("lr"), num("beta1"), num("beta2"), num("eps"), num("weightDecay"), o.Get("decoupled").ToBoolean().Value()};
    double clip = o.Has("clip") && o.Get("clip").IsNumber() ? o.Get("clip").As<Napi::Number>().DoubleValue() : 0;
    at::Generator gen = ArgGenerator(info, 7, "generator");
    auto blocks = Resolve(info.Env(), *p, true);
    auto params = ArgTensorList(info, 3, "params", Access::Write), m = ArgTensorList(info, 4, "expAvg", Access::Write),
         v = ArgTensorList(info, 5, "expAvgSq", Access::Write);
    // Locks: everything written (parameters, optimizer state, batch-norm statistics) and the batch.
    std::set<double> written(pIds.begin(), pIds.end());
    written.insert(mIds.begin(), mIds.end());
    written.insert(vIds.begin(), vIds.end());
    for (double id : ProgramParamIds(*p, true)) written.insert(id);
    std::set<double> read;
    for (double id : ProgramParamIds(*p, false))
      if (!written.count(id)) read.insert(id);
    std::vector<JobLock> locks;
    for (double id : written) locks.push_back({id, Access::Write});
    for (double id : read) locks.push_back({id, Access::Read});
    locks.push_back({info[1].As<Napi::Number>().DoubleValue(), Access::Read});
    locks.push_back({info[2].As<Napi::Number>().DoubleValue(), Access::Read});
    return StartJob(info.Env(), std::make_unique<ClassifierStepJob>(std::move(blocks), x, y, std::move(params), std::move(m), std::move(v), adam, clip, gen), locks,
                    JobOptions{info.Env().Undefined(), 1});
  });
}

}  // namespace

void RegisterTrainStep(Napi::Env env, Napi::Object exports) { Define(env, exports, "classifierStepAsync", ClassifierStepAsync); }

}  // namespace langevin

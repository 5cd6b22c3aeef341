// Optimizer math shared by the optimizer bindings and the native training-step job.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace langevin {

struct AdamConfig {
  double step, lr, beta1, beta2, eps, weightDecay;
  bool decoupled;
};

// One Adam/AdamW update of every parameter that has a gradient (PyTorch 1.13's formulas).
void AdamUpdate(std::vector<at::Tensor>& params, std::vector<at::Tensor>& m, std::vector<at::Tensor>& v, const AdamConfig& c);

// clip_grad_norm_ (L2): returns the total norm before clipping.
double ClipGradNorm(std::vector<at::Tensor>& params, double maxNorm);

}  // namespace langevin

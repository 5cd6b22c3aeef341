// The blocks a model program is made of (U-Net and Wide-ResNet pieces), as plain ATen code.
// The TypeScript layers (ts/nn/blocks.ts) compute the same ops in the same order, so the native
// program and the TypeScript forward agree to the last bit.
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace langevin {

enum class NormKind : int64_t { None = 0, Batch = 1, Group = 2 };

// A normalisation layer's parameters and config. Batch norm updates its running stats in place in
// training mode (as PyTorch).
struct NormSpec {
  NormKind kind = NormKind::None;
  int64_t groups = 32;
  double eps = 1e-5;
  double momentum = 0.1;
  at::Tensor weight, bias, runningMean, runningVar;
};

// Mixed precision is carried by the parameters: every op casts its input to its parameter's dtype
// (a no-op when they agree), so with bf16 convolution weights and float32 norm parameters the
// convolutions run in bf16 and the normalisations in float32. `AsParam` is that cast.
at::Tensor AsParam(const at::Tensor& x, const at::Tensor& p);

at::Tensor ApplyNorm(const at::Tensor& x, const NormSpec& n, bool training);

// conv2d with PyTorch-order padding [top, bottom, left, right]; asymmetric padding pads first.
at::Tensor Conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t stride, const std::vector<int64_t>& pad);

at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// Dropout with an explicit generator (identity when p == 0 or not training).
at::Tensor Dropout(const at::Tensor& x, double p, bool training, at::Generator& gen);

}  // namespace langevin

// Building blocks shared by the functional bindings and native model programs.
#pragma once
#include <ATen/ATen.h>

namespace langevin {

// softmax(q kᵀ · scale) v; the fused kernel on libtorch ≥ 2.1, matmul + softmax before.
at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask,
                     c10::optional<double> scale);

// The sinusoidal timestep embedding of the original DDPM code, [N] -> [N, dim] float32.
at::Tensor TimestepEmbedding(const at::Tensor& t, int64_t dim, double maxPeriod);

}  // namespace langevin

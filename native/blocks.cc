#include "blocks.h"

namespace langevin {

at::Tensor AsParam(const at::Tensor& x, const at::Tensor& p) { return p.defined() ? x.to(p.scalar_type()) : x; }

at::Tensor ApplyNorm(const at::Tensor& x, const NormSpec& n, bool training) {
  switch (n.kind) {
    case NormKind::None:
      return x;
    case NormKind::Group:
      return at::group_norm(AsParam(x, n.weight), n.groups, n.weight, n.bias, n.eps, at::globalContext().userEnabledCuDNN());
    case NormKind::Batch:
      return at::batch_norm(AsParam(x, n.weight), n.weight, n.bias, n.runningMean, n.runningVar, training, n.momentum, n.eps, at::globalContext().userEnabledCuDNN());
  }
  return x;
}

at::Tensor Conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t stride, const std::vector<int64_t>& pad) {
  const std::vector<int64_t> s = {stride, stride};
  const at::Tensor in = AsParam(x, w);
  if (pad[0] == pad[1] && pad[2] == pad[3]) return at::conv2d(in, w, b, s, std::vector<int64_t>{pad[0], pad[2]});
  return at::conv2d(at::constant_pad_nd(in, {pad[2], pad[3], pad[0], pad[1]}), w, b, s, std::vector<int64_t>{0, 0});
}

at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) { return at::linear(AsParam(x, w), w, b); }

at::Tensor Dropout(const at::Tensor& x, double p, bool training, at::Generator& gen) {
  if (!training || p == 0) return x;
  if (p >= 1) return x * 0;
  at::Tensor keep = at::empty(x.sizes(), at::TensorOptions().dtype(at::kFloat)).bernoulli_(1 - p, gen);
  return x * keep.to(x.device(), x.scalar_type()).div_(1 - p);
}

}  // namespace langevin

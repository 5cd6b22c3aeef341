// Batch assembly and augmentation for image data, natively (no per-pixel JS loops).
#include "common.h"

namespace langevin {

namespace {

// imageBatch(images uint8 [N, C, H, W], indices int64 [B]) -> float32 [B, C, H, W] in [-1, 1]
LANGEVIN_BINDING(ImageBatch) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& images = ArgTensor(info, 0, "images");
    const at::Tensor& idx = ArgTensor(info, 1, "indices");
    if (images.scalar_type() != at::kByte || images.dim() != 4) ThrowType("imageBatch: images must be uint8 [N, C, H, W]");
    if (idx.scalar_type() != at::kLong || idx.dim() != 1) ThrowType("imageBatch: indices must be int64 [B]");
    at::NoGradGuard ng;
    return WrapTensor(info.Env(), images.index_select(0, idx).to(at::kFloat).div_(127.5).sub_(1.0));
  });
}

// augment(x float [B, C, H, W], flip, cropPad, noise, generator): random horizontal flips, reflect
// padding by cropPad then a random crop back to H×W (one offset per image), Gaussian noise σ.
LANGEVIN_BINDING(Augment) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& x = ArgTensor(info, 0, "images");
    bool flip = ArgBool(info, 1, "flip");
    int64_t pad = ArgIntIn(info, 2, "cropPad", 0, 64);
    double noise = ArgNumber(info, 3, "noise");
    at::Generator gen = ArgGenerator(info, 4, "generator");
    if (x.dim() != 4 || !at::isFloatingType(x.scalar_type())) ThrowType("augment: images must be float [B, C, H, W]");
    if (!(noise >= 0)) ThrowRange("augment: noise must be >= 0");
    if (pad >= x.size(2) || pad >= x.size(3)) ThrowRange("augment: cropPad must be smaller than the image", "ERR_SHAPE");
    at::NoGradGuard ng;
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
    at::Tensor out = x.detach();
    if (flip) {
      at::Tensor mask = at::empty({B}, at::kFloat).bernoulli_(0.5, gen).to(at::kBool).to(x.device()).view({B, 1, 1, 1});
      out = at::where(mask, out.flip({3}), out);
    }
    if (pad > 0) {
      at::Tensor padded = at::reflection_pad2d(out, {pad, pad, pad, pad});
      at::Tensor offs = at::randint(0, 2 * pad + 1, {B, 2}, gen, at::TensorOptions().dtype(at::kLong));
      auto o = offs.accessor<int64_t, 2>();
      std::vector<at::Tensor> crops;
      crops.reserve(B);
      for (int64_t b = 0; b < B; ++b) crops.push_back(padded[b].narrow(1, o[b][0], H).narrow(2, o[b][1], W));
      out = at::stack(crops);
    }
    if (noise > 0) out = out + at::randn(out.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(out.device(), out.scalar_type()) * noise;
    if (out.is_same(x)) out = x.clone();
    return WrapTensor(info.Env(), out);
  });
}

}  // namespace

void RegisterDataOps(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "imageBatch", ImageBatch);
  Define(env, exports, "augment", Augment);
}

}  // namespace langevin

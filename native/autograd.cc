// Autograd: backward, .grad access, and grad(outputs, inputs) that leaves parameter grads alone.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>

namespace langevin {

namespace {

// backward(t, gradient?, retainGraph, createGraph)
LANGEVIN_BINDING(Backward) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto g = ArgOptTensor(info, 1, "gradient");
    bool retain = ArgOptBool(info, 2, "retainGraph", false);
    bool create = ArgOptBool(info, 3, "createGraph", false);
    if (!t.requires_grad()) ThrowPlain("backward: the tensor does not require grad (no input of it has requiresGrad set)", "ERR_NO_GRAD");
    if (!g && t.numel() != 1)
      ThrowRange("backward: a gradient is needed for a non-scalar tensor of shape " + ShapeString(t.sizes()), "ERR_SHAPE");
    if (g && g->sizes() != t.sizes())
      ThrowRange("backward: gradient shape " + ShapeString(g->sizes()) + " differs from " + ShapeString(t.sizes()), "ERR_SHAPE");
    t.backward(g ? *g : at::Tensor(), retain, create);
    return info.Env().Undefined();
  });
}

LANGEVIN_BINDING(GetGrad) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    const at::Tensor& g = t.grad();
    if (!g.defined()) return info.Env().Undefined();
    return WrapTensor(info.Env(), g);
  });
}

// setGrad(t, g | undefined): replaces or clears .grad
LANGEVIN_BINDING(SetGrad) {
  return Guard(info, [&]() -> Napi::Value {
    at::Tensor& t = ArgTensor(info, 0, "tensor", Access::Write);
    auto g = ArgOptTensor(info, 1, "grad");
    if (g && (g->sizes() != t.sizes() || g->scalar_type() != t.scalar_type()))
      ThrowRange("setGrad: the gradient must match the tensor's shape and dtype", "ERR_SHAPE");
    t.mutable_grad() = g ? g->detach() : at::Tensor();
    return info.Env().Undefined();
  });
}

// zeroGrad(tensors[]): clears .grad of each (set to none, as PyTorch's default).
LANGEVIN_BINDING(ZeroGrad) {
  return Guard(info, [&]() -> Napi::Value {
    for (at::Tensor& t : ArgTensorList(info, 0, "tensors", Access::Write)) t.mutable_grad() = at::Tensor();
    return info.Env().Undefined();
  });
}

// grad(outputs[], inputs[], gradOutputs[]?, retainGraph, createGraph, allowUnused) -> (Tensor|undefined)[]
LANGEVIN_BINDING(Grad) {
  return Guard(info, [&]() -> Napi::Value {
    auto outputs = ArgTensorList(info, 0, "outputs");
    auto inputs = ArgTensorList(info, 1, "inputs");
    std::vector<at::Tensor> gradOutputs;
    if (!IsAbsent(info, 2)) gradOutputs = ArgTensorList(info, 2, "gradOutputs");
    bool retain = ArgOptBool(info, 3, "retainGraph", false);
    bool create = ArgOptBool(info, 4, "createGraph", false);
    bool allowUnused = ArgOptBool(info, 5, "allowUnused", false);
    if (outputs.empty() || inputs.empty()) ThrowRange("grad: needs at least one output and one input");
    if (!gradOutputs.empty() && gradOutputs.size() != outputs.size()) ThrowRange("grad: give one gradOutput per output");
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (!outputs[k].requires_grad()) ThrowPlain("grad: output " + std::to_string(k) + " does not require grad", "ERR_NO_GRAD");
      if (gradOutputs.empty() && outputs[k].numel() != 1)
        ThrowRange("grad: output " + std::to_string(k) + " is not a scalar; pass gradOutputs", "ERR_SHAPE");
    }
    for (size_t k = 0; k < inputs.size(); ++k)
      if (!inputs[k].requires_grad()) ThrowPlain("grad: input " + std::to_string(k) + " does not require grad", "ERR_NO_GRAD");
    auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, allowUnused);
    Napi::Array out = Napi::Array::New(info.Env(), grads.size());
    for (size_t k = 0; k < grads.size(); ++k)
      out.Set(static_cast<uint32_t>(k), grads[k].defined() ? WrapTensor(info.Env(), grads[k]) : info.Env().Undefined());
    return out;
  });
}

LANGEVIN_BINDING(IsLeaf) {
  return Guard(info, [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), ArgTensor(info, 0, "tensor").is_leaf()); });
}

}  // namespace

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "backward", Backward);
  Define(env, exports, "getGrad", GetGrad);
  Define(env, exports, "setGrad", SetGrad);
  Define(env, exports, "zeroGrad", ZeroGrad);
  Define(env, exports, "grad", Grad);
  Define(env, exports, "isLeaf", IsLeaf);
}

}  // namespace langevin

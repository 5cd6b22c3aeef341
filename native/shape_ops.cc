// Shape and indexing ops: views, joins, padding, gathers and scatters.
#include "common.h"

namespace langevin {

namespace {

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  for (size_t k = 0; k < ts.size(); ++k) out.Set(static_cast<uint32_t>(k), WrapTensor(env, ts[k]));
  return out;
}

LANGEVIN_BINDING(Reshape) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto shape = ArgInts(info, 1, "shape");
    return WrapTensor(info.Env(), t.reshape(shape));
  });
}

LANGEVIN_BINDING(Permute) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto dims = ArgInts(info, 1, "dims");
    if (static_cast<int64_t>(dims.size()) != t.dim())
      ThrowRange("permute: got " + std::to_string(dims.size()) + " dims for a tensor of " + std::to_string(t.dim()), "ERR_SHAPE");
    return WrapTensor(info.Env(), t.permute(dims));
  });
}

LANGEVIN_BINDING(Transpose) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    int64_t a = WrapDim(ArgInt(info, 1, "dim0"), t.dim(), "dim0"), b = WrapDim(ArgInt(info, 2, "dim1"), t.dim(), "dim1");
    return WrapTensor(info.Env(), t.transpose(a, b));
  });
}

LANGEVIN_BINDING(Squeeze) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    if (IsAbsent(info, 1)) return WrapTensor(info.Env(), t.squeeze());
    return WrapTensor(info.Env(), t.squeeze(WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim")));
  });
}

LANGEVIN_BINDING(Unsqueeze) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    return WrapTensor(info.Env(), t.unsqueeze(WrapDim(ArgInt(info, 1, "dim"), t.dim() + 1, "dim")));
  });
}

LANGEVIN_BINDING(Expand) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    return WrapTensor(info.Env(), t.expand(ArgInts(info, 1, "shape")));
  });
}

LANGEVIN_BINDING(Repeat) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto reps = ArgShape(info, 1, "repeats");
    if (reps.size() < static_cast<size_t>(t.dim())) ThrowRange("repeat: need at least one repeat count per dimension", "ERR_SHAPE");
    double numel = static_cast<double>(t.numel());
    for (int64_t r : reps) numel *= static_cast<double>(r);
    CheckAllocNumel(numel, t.scalar_type(), "repeat");
    return WrapTensor(info.Env(), t.repeat(reps));
  });
}

// slice(t, dim, start, end, step): Python-style start/end (negative counts from the end, clamped).
LANGEVIN_BINDING(Slice) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    if (t.dim() == 0) ThrowRange("slice: cannot slice a 0-d tensor", "ERR_SHAPE");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    auto start = ArgOptInt(info, 2, "start"), end = ArgOptInt(info, 3, "end");
    int64_t step = IsAbsent(info, 4) ? 1 : ArgInt(info, 4, "step");
    if (step <= 0) ThrowRange("slice: step must be positive, got " + std::to_string(step));
    c10::optional<int64_t> s0, e0;
    if (start) s0 = *start;
    if (end) e0 = *end;
    return WrapTensor(info.Env(), t.slice(dim, s0, e0, step));
  });
}

// select(t, dim, index): drops the dimension.
LANGEVIN_BINDING(Select) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    if (t.dim() == 0) ThrowRange("select: cannot index a 0-d tensor", "ERR_SHAPE");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    int64_t index = ArgInt(info, 2, "index"), size = t.size(dim);
    if (index < -size || index >= size)
      ThrowRange("select: index " + std::to_string(index) + " is out of range for dimension " + std::to_string(dim) + " of size " + std::to_string(size), "ERR_INDEX");
    return WrapTensor(info.Env(), t.select(dim, index));
  });
}

// index(t, indices[]): advanced indexing t[i0, i1, ...] with int64 or bool tensors.
LANGEVIN_BINDING(Index) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto idx = ArgTensorList(info, 1, "indices");
    c10::List<c10::optional<at::Tensor>> list;
    for (auto& i : idx) list.push_back(i);
    return WrapTensor(info.Env(), at::index(t, list));
  });
}

// indexPut(t, indices[], values, accumulate, inPlace)
LANGEVIN_BINDING(IndexPut) {
  return Guard(info, [&]() -> Napi::Value {
    bool inPlace = ArgOptBool(info, 4, "inPlace", false);
    at::Tensor& t = ArgTensor(info, 0, "tensor", inPlace ? Access::Write : Access::Read);
    auto idx = ArgTensorList(info, 1, "indices");
    const at::Tensor& values = ArgTensor(info, 2, "values");
    bool accumulate = ArgOptBool(info, 3, "accumulate", false);
    c10::List<c10::optional<at::Tensor>> list;
    for (auto& i : idx) list.push_back(i);
    if (inPlace) {
      t.index_put_(list, values, accumulate);
      return info[0];
    }
    return WrapTensor(info.Env(), t.index_put(list, values, accumulate));
  });
}

LANGEVIN_BINDING(Gather) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    return WrapTensor(info.Env(), at::gather(t, dim, ArgTensor(info, 2, "index")));
  });
}

// scatterValue(t, dim, index, value): out-of-place fill at the indexed positions.
LANGEVIN_BINDING(ScatterValue) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    return WrapTensor(info.Env(), at::scatter(t, dim, ArgTensor(info, 2, "index"), ArgNumber(info, 3, "value")));
  });
}

// scatter(t, dim, index, src, reduce?): out-of-place; reduce 'add' accumulates.
LANGEVIN_BINDING(Scatter) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    const at::Tensor& index = ArgTensor(info, 2, "index");
    bool add = !IsAbsent(info, 4) && ArgString(info, 4, "reduce") == "add";
    const at::Tensor& src = ArgTensor(info, 3, "src");
    return WrapTensor(info.Env(), add ? at::scatter_add(t, dim, index, src) : at::scatter(t, dim, index, src));
  });
}

LANGEVIN_BINDING(IndexSelect) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    int64_t dim = WrapDim(ArgInt(info, 1, "dim"), t.dim(), "dim");
    return WrapTensor(info.Env(), at::index_select(t, dim, ArgTensor(info, 2, "index")));
  });
}

LANGEVIN_BINDING(Cat) {
  return Guard(info, [&]() -> Napi::Value {
    auto ts = ArgTensorList(info, 0, "tensors");
    if (ts.empty()) ThrowRange("cat: needs at least one tensor", "ERR_SHAPE");
    int64_t dim = WrapDim(IsAbsent(info, 1) ? 0 : ArgInt(info, 1, "dim"), ts[0].dim(), "dim");
    return WrapTensor(info.Env(), at::cat(ts, dim));
  });
}

LANGEVIN_BINDING(Stack) {
  return Guard(info, [&]() -> Napi::Value {
    auto ts = ArgTensorList(info, 0, "tensors");
    if (ts.empty()) ThrowRange("stack: needs at least one tensor", "ERR_SHAPE");
    int64_t dim = WrapDim(IsAbsent(info, 1) ? 0 : ArgInt(info, 1, "dim"), ts[0].dim() + 1, "dim");
    return WrapTensor(info.Env(), at::stack(ts, dim));
  });
}

// split(t, sizes[], dim) -> Tensor[]
LANGEVIN_BINDING(Split) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto sizes = ArgShape(info, 1, "sizes");
    int64_t dim = WrapDim(IsAbsent(info, 2) ? 0 : ArgInt(info, 2, "dim"), t.dim(), "dim");
    return WrapList(info.Env(), at::split_with_sizes(t, sizes, dim));
  });
}

// pad(t, pads, mode, value): pads as PyTorch's F.pad (last dim first: [left, right, top, bottom, ...]).
LANGEVIN_BINDING(Pad) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto pads = ArgInts(info, 1, "pads");
    std::string mode = IsAbsent(info, 2) ? "constant" : ArgString(info, 2, "mode");
    double value = IsAbsent(info, 3) ? 0.0 : ArgNumber(info, 3, "value");
    if (pads.size() % 2 != 0 || pads.empty() || static_cast<int64_t>(pads.size() / 2) > t.dim())
      ThrowRange("pad: need an even, non-empty list of at most 2×" + std::to_string(t.dim()) + " pads, got " + ShapeString(pads), "ERR_SHAPE");
    std::vector<int64_t> out(t.sizes().begin(), t.sizes().end());
    for (size_t k = 0; k < pads.size() / 2; ++k) {
      int64_t d = t.dim() - 1 - static_cast<int64_t>(k);
      out[d] += pads[2 * k] + pads[2 * k + 1];
      if (out[d] < 0) ThrowRange("pad: negative padding removes more than dimension " + std::to_string(d) + " holds", "ERR_SHAPE");
    }
    CheckAlloc(out, t.scalar_type(), "pad");
    if (mode == "constant") return WrapTensor(info.Env(), at::constant_pad_nd(t, pads, value));
    size_t k = pads.size() / 2;
    if (mode != "reflect" && mode != "replicate") ThrowRange("pad: mode must be 'constant', 'reflect' or 'replicate', got '" + mode + "'");
    if (t.dim() != static_cast<int64_t>(k) + 1 && t.dim() != static_cast<int64_t>(k) + 2)
      ThrowRange("pad: " + mode + " padding of " + std::to_string(k) + " dimension(s) needs a " + std::to_string(k + 1) + "-d or " +
                 std::to_string(k + 2) + "-d input, got " + std::to_string(t.dim()) + "-d", "ERR_SHAPE");
    for (size_t j = 0; j < k; ++j) {
      int64_t size = t.size(t.dim() - 1 - static_cast<int64_t>(j));
      if (mode == "reflect" && (pads[2 * j] >= size || pads[2 * j + 1] >= size))
        ThrowRange("pad: reflect padding must be smaller than the padded dimension (" + std::to_string(size) + ")", "ERR_SHAPE");
      if (pads[2 * j] < 0 || pads[2 * j + 1] < 0) ThrowRange("pad: " + mode + " padding must be non-negative", "ERR_SHAPE");
    }
    at::Tensor r;
    if (mode == "reflect") r = k == 1 ? at::reflection_pad1d(t, pads) : k == 2 ? at::reflection_pad2d(t, pads) : at::reflection_pad3d(t, pads);
    else r = k == 1 ? at::replication_pad1d(t, pads) : k == 2 ? at::replication_pad2d(t, pads) : at::replication_pad3d(t, pads);
    return WrapTensor(info.Env(), r);
  });
}

LANGEVIN_BINDING(Flip) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& t = ArgTensor(info, 0, "tensor");
    auto dims = ArgInts(info, 1, "dims");
    for (auto& d : dims) d = WrapDim(d, t.dim(), "dim");
    return WrapTensor(info.Env(), t.flip(dims));
  });
}

LANGEVIN_BINDING(Where) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& cond = ArgTensor(info, 0, "condition");
    if (cond.scalar_type() != at::kBool) ThrowType("where: condition must be a bool tensor");
    const at::Tensor& a = ArgTensor(info, 1, "input");
    if (ArgOptBool(info, 3, "otherIsScalar", false)) return WrapTensor(info.Env(), at::where(cond, a, ArgNumber(info, 2, "other")));
    return WrapTensor(info.Env(), at::where(cond, a, ArgTensor(info, 2, "other")));
  });
}

}  // namespace

void RegisterShapeOps(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "reshape", Reshape);
  Define(env, exports, "permute", Permute);
  Define(env, exports, "transpose", Transpose);
  Define(env, exports, "squeeze", Squeeze);
  Define(env, exports, "unsqueeze", Unsqueeze);
  Define(env, exports, "expand", Expand);
  Define(env, exports, "repeat", Repeat);
  Define(env, exports, "slice", Slice);
  Define(env, exports, "select", Select);
  Define(env, exports, "index", Index);
  Define(env, exports, "indexPut", IndexPut);
  Define(env, exports, "gather", Gather);
  Define(env, exports, "scatter", Scatter);
  Define(env, exports, "scatterValue", ScatterValue);
  Define(env, exports, "indexSelect", IndexSelect);
  Define(env, exports, "cat", Cat);
  Define(env, exports, "stack", Stack);
  Define(env, exports, "split", Split);
  Define(env, exports, "pad", Pad);
  Define(env, exports, "flip", Flip);
  Define(env, exports, "where", Where);
}

}  // namespace langevin

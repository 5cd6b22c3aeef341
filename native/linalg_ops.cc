// Matrix products, pairwise distances and the symmetric eigen-decomposition.
#include "common.h"

namespace langevin {

namespace {

LANGEVIN_BINDING(Matmul) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& a = ArgTensor(info, 0, "input");
    const at::Tensor& b = ArgTensor(info, 1, "other");
    if (a.dim() == 0 || b.dim() == 0) ThrowRange("matmul: both arguments need at least 1 dimension", "ERR_SHAPE");
    int64_t k1 = a.size(-1), k2 = b.dim() == 1 ? b.size(0) : b.size(-2);
    if (k1 != k2)
      ThrowRange("matmul: shapes " + ShapeString(a.sizes()) + " and " + ShapeString(b.sizes()) + " cannot be multiplied (" +
                 std::to_string(k1) + " vs " + std::to_string(k2) + ")", "ERR_SHAPE");
    double rows = a.dim() >= 2 ? static_cast<double>(a.numel() / std::max<int64_t>(k1, 1)) : 1.0;
    double cols = b.dim() >= 2 ? static_cast<double>(b.size(-1)) : 1.0;
    CheckAllocNumel(rows * cols, a.scalar_type(), "matmul");
    return WrapTensor(info.Env(), at::matmul(a, b));
  });
}

// cdist(x1 [.., P, M], x2 [.., R, M], p)
LANGEVIN_BINDING(Cdist) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& a = ArgTensor(info, 0, "x1");
    const at::Tensor& b = ArgTensor(info, 1, "x2");
    double p = IsAbsent(info, 2) ? 2.0 : ArgNumber(info, 2, "p");
    if (!(p >= 0)) ThrowRange("cdist: p must be >= 0");
    if (a.dim() < 2 || b.dim() < 2) ThrowRange("cdist: inputs need at least 2 dimensions", "ERR_SHAPE");
    CheckAllocNumel(static_cast<double>(a.numel() / std::max<int64_t>(a.size(-1), 1)) * static_cast<double>(b.size(-2)), a.scalar_type(), "cdist");
    // Exact distances (no matmul shortcut): metrics compare them to scipy.
    return WrapTensor(info.Env(), at::cdist(a, b, p, /*compute_mode=*/2));
  });
}

// eigh(a, upper?) -> [eigenvalues ascending, eigenvectors as columns]
LANGEVIN_BINDING(Eigh) {
  return Guard(info, [&]() -> Napi::Value {
    const at::Tensor& a = ArgTensor(info, 0, "input");
    if (a.dim() < 2 || a.size(-1) != a.size(-2)) ThrowRange("eigh: needs square matrices, got " + ShapeString(a.sizes()), "ERR_SHAPE");
    if (!at::isFloatingType(a.scalar_type()) || a.scalar_type() == at::kBFloat16 || a.scalar_type() == at::kHalf)
      ThrowType(std::string("eigh: needs float32 or float64, got ") + DtypeName(a.scalar_type()));
    std::string uplo = ArgOptBool(info, 1, "upper", false) ? "U" : "L";
    auto [w, v] = at::linalg_eigh(a, uplo);
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, WrapTensor(info.Env(), w));
    out.Set(1u, WrapTensor(info.Env(), v));
    return out;
  });
}

}  // namespace

void RegisterLinalgOps(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "matmul", Matmul);
  Define(env, exports, "cdist", Cdist);
  Define(env, exports, "eigh", Eigh);
}

}  // namespace langevin

// Whole-model native execution: a model compiles (in TypeScript) to a typed block program — a list
// of blocks over a skip stack — whose parameters are the same tensors the TypeScript Module holds
// (referenced by id, so locks and dispose checks apply). One forward is one native call.
#pragma once
#include "common.h"

#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace langevin {

enum class BlockKind { TimeEmbed, Conv, ResBlock, Attn, Downsample, Upsample, NormAct, WrnBlock, Pool, Linear };

struct Block {
  BlockKind kind;
  std::vector<double> params;  // tensor ids; -1 = absent
  std::vector<bool> mutated;   // params written in training (batch-norm running stats)
  std::vector<int64_t> ints;
  std::vector<double> floats;
  bool pushAfter = false;      // push the block's output on the skip stack
  bool popConcat = false;      // concatenate the popped skip to the input (channels) first
};

// A block with its tensors looked up, ready to run on any thread.
struct ResolvedBlock {
  const Block* block;
  std::vector<at::Tensor> t;
};

class ProgramHandle : public Napi::ObjectWrap<ProgramHandle> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit ProgramHandle(const Napi::CallbackInfo& info);
  const std::vector<Block>& blocks() const { return blocks_; }
  bool needsTime() const;

  // CastForCompute with a cache, for callers that run the program many times in a row (SGLD steps):
  // the cast copies are reused while every source parameter is the same tensor at the same version
  // (in-place updates such as optimizer steps bump it). The cache holds one dtype and keeps its
  // copies (and the sources) alive until the next cast or the program's collection.
  std::vector<ResolvedBlock> CastCached(const std::vector<ResolvedBlock>& blocks, at::ScalarType dtype);
  // Frees the cast copies now (Module.dispose calls it; otherwise they live until collection).
  void ReleaseCache();

 private:
  std::vector<Block> blocks_;
  struct CastCache {
    at::ScalarType dtype;
    std::vector<std::pair<at::Tensor, uint32_t>> sources;  // each param and its version at cast time
    std::vector<ResolvedBlock> blocks;
  };
  std::optional<CastCache> cast_;
  std::mutex castMutex_;
};

// The distinct parameter ids of a program; `mutatedOnly` keeps those written in training.
std::set<double> ProgramParamIds(const ProgramHandle& p, bool mutatedOnly);

// Looks up every parameter (ERR_DISPOSED / ERR_BUSY as for any tensor argument).
std::vector<ResolvedBlock> Resolve(Napi::Env env, const ProgramHandle& p, bool training);

// Runs the program: x [N, C, H, W], t [N] (int64/float timesteps) or undefined.
at::Tensor RunProgram(const std::vector<ResolvedBlock>& blocks, const at::Tensor& x, const c10::optional<at::Tensor>& t, bool training,
                      at::Generator& gen);

// Mixed precision: a copy of the blocks with convolution and linear weights cast to `dtype`,
// normalisation parameters left in float32. RunProgram then computes convolutions and matmuls in
// `dtype`, normalisations in float32 (each op casts its input to its parameters' dtype) and returns
// the input's dtype. float32 returns the blocks as they are. `differentiable` records the casts in
// autograd (training: gradients reach the float32 parameters); otherwise they are plain copies.
std::vector<ResolvedBlock> CastForCompute(const std::vector<ResolvedBlock>& blocks, at::ScalarType dtype, bool differentiable = false);

// An optional 'float32' | 'bfloat16' argument (absent = float32).
at::ScalarType ArgComputeDtype(const Napi::CallbackInfo& info, size_t i);

ProgramHandle* ArgProgram(const Napi::CallbackInfo& info, size_t i);

}  // namespace langevin

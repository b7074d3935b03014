// FSMN memory (docs/binary-arithmetic.md, "Depthwise memory"): per clip, T frames of `dim`
// channels, left/right taps along time over zero-padded frames.
//   binary: u = levels of each padded frame (dual-scale: b1 + s * b2, s = sum8(|r|) / dim per
//           frame; the pad frames hold v = 0 and are quantized like real frames; sign: +-1),
//   FP:     u = the frame (pads: 0),
//   acc = 0; acc = acc + w[k] * u[t + k] for the taps k in order,
//   y = act(scale * acc + bias) + x     (FP: act(acc + bias) + x).
#pragma once

#include <cstddef>
#include <vector>

#include "../common.h"
#include "../linear/linear.h"

namespace bifsmn::ops {

struct Memory {
  std::size_t dim = 0, left = 0, right = 0;
  bool fp = false, dual = false;
  const float* w = nullptr;      // taps x dim, tap-major (+-1 binary, BN-folded weights FP)
  const float* tau0 = nullptr;   // dim (dual)
  const float* tau1 = nullptr;   // dim (dual)
  const float* pad = nullptr;    // dim: levels of a zero frame (binary; memory_pad_levels)
  const float* scale = nullptr;  // dim (binary; FP: nullptr)
  const float* bias = nullptr;   // dim
  float slope = 0;
  std::size_t taps() const { return left + right + 1; }
};

// The quantized levels of a zero pad frame (binary models; computed once at load).
Buffer<float> memory_pad_levels(std::size_t dim, bool dual, const float* tau0,
                                     const float* tau1);

// Plain reference, one clip: x (t, dim) -> y (t, dim).
void memory_reference(const Memory& p, const float* x, std::size_t t, float* y);

struct MemoryWork {
  Buffer<float> u;  // the clip's quantized padded frames
  void reserve(const Memory& p, std::size_t t);
};

// Optimized (bit-identical to the reference), B clips of t frames each. With `next` (fused:
// the binary layer that reads y, fc_in), each clip's rows are also binarized for `next` into
// next_work while they are in L1 (y is still written: fc_out adds it as the residual).
void memory_fwd(const Memory& p, const float* x, std::size_t batch, std::size_t t,
                MemoryWork& work, float* y, const BinaryLinear* next = nullptr,
                LinearWork* next_work = nullptr);

}  // namespace bifsmn::ops

// conv1: the full-precision first convolution (1 input channel, stride 2, padding k/2, BN
// folded, PReLU). Input one clip (H, W); output channel-major (C1, H/2, W/2), the layout conv2's
// bit planes need.
//
// Binary models (deployed arithmetic, docs/binary-arithmetic.md): per output,
// acc = w[0]*x[0], then acc = acc + w[t]*x[t] for taps t in (row, column) order, each operation
// rounded to float32 (no FMA), then act(acc + bias). Full-precision models: im2col and the
// kernel's float GEMM (its own summation order).
#pragma once

#include <cstddef>

#include "bifsmn/kernels.h"

namespace bifsmn::ops {

struct Conv1 {
  int H = 0, W = 0, k = 0, c1 = 0;
  const float* w = nullptr;  // (c1, k*k)
  const float* b = nullptr;  // (c1)
  float slope = 0;
  int pad() const { return k / 2; }
  int h1() const { return H / 2; }
  int w1() const { return W / 2; }
  std::size_t positions() const { return static_cast<std::size_t>(h1()) * w1(); }
  std::size_t taps() const { return static_cast<std::size_t>(k) * k; }
  // conv1_deployed's zero-padded image, its columns split by parity: rows x (2 * half) floats
  std::size_t padded_rows() const { return static_cast<std::size_t>(2 * h1() + k - 1); }
  std::size_t half_cols() const { return static_cast<std::size_t>(w1() + k / 2 + 1); }
  // conv1_fp's zero-padded image: (H + 2 pad) x (W + 2 pad) floats
  std::size_t padded_image() const {
    return static_cast<std::size_t>(H + 2 * pad()) * static_cast<std::size_t>(W + 2 * pad());
  }
  // floats of scratch `col` the optimized versions need (conv1_fp: im2col in float_gemm_kn's
  // panels, then the padded image; conv1_deployed: the split padded image)
  std::size_t col_size() const {
    const std::size_t im2col = kn_packed_floats(positions(), taps()) + padded_image();
    const std::size_t split = padded_rows() * 2 * half_cols();
    return im2col > split ? im2col : split;
  }
};

// Reference of the deployed order: plain loops, one output at a time.
void conv1_reference(const Conv1& p, const float* img, float* y);
// Optimized deployed order (bit-identical to conv1_reference): no im2col; the zero-padded image
// with its columns split by parity, so that one tap of a row of stride-2 outputs is a contiguous
// run; positions vectorized, 8 channels per pass (AVX-512 / AVX2 / baseline clones, same bits).
// col_kept: `col` holds what an earlier call with the same shape left, untouched since, so its
// padding entries are still zero and only the image's entries are written (the engine's calls
// after its first; the per-row zero fills had cost 0.8 % of the 8-block network).
void conv1_deployed(const Conv1& p, const float* img, float* col, float* y,
                    bool col_kept = false);
// Full-precision models: im2col (positions as the columns of pack_kn's panels, taps as K) and
// kern.float_gemm_kn.
void conv1_fp(const Conv1& p, const Kernel& kern, const float* img, float* col, float* y);

}  // namespace bifsmn::ops

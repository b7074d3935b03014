// conv2: the second convolution (C1 -> C2 channels, k x k, stride 2, padding k/2), whose output
// is read as tokens: (C2, H2, T) -> (T, C2 * H2), token = output column, feature = o * H2 + i2.
//
// Binary models (docs/binary-arithmetic.md, "conv2"): the input of one clip is binarized with
// one scale s for the whole clip (dual-scale) or by sign; the binarized input is zero-padded
// *after* binarization, so only the taps inside the input count:
//   D1 = sum_{taps inside} sign(W) * b1,   D2 = sum_{taps inside} sign(W) * b2,
//   z  = scale[o] * (D1 + s * D2) + bias_pos[pos, o],   y = act(z)
// with bias_pos = float32(bias[o] - scale[o] * T2[pos, o]) in float64 and
// T2 = sum_{taps inside} sign(W[o, tap]) * tau2[c] (the dual-scale tau2 term; 0 for sign mode).
// The optimized version popcounts over the full window with padding bits 0 (+1) and subtracts
// the border correction C[pos, o] = sum_{taps outside} sign(W[o, tap]) (exact integers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common.h"
#include "../linear/linear.h"
#include "bifsmn/kernels.h"

namespace bifsmn::ops {

struct Conv2Shape {
  int c1 = 0, h1 = 0, w1 = 0, c2 = 0, k = 0;
  int pad() const { return k / 2; }
  int h2() const { return h1 / 2; }
  int t() const { return w1 / 2; }
  std::size_t positions() const { return static_cast<std::size_t>(h2()) * t(); }
  std::size_t k2() const { return static_cast<std::size_t>(c1) * k * k; }  // (c, u, v) order
  std::size_t features() const { return static_cast<std::size_t>(c2) * h2(); }
  std::size_t in_size() const { return static_cast<std::size_t>(c1) * h1 * w1; }
  // conv2_fp's scratch for a batch of B clips: the im2col (B x positions x k2), then one clip's
  // zero-padded input (c1 x (h1 + 2 pad) x (w1 + 2 pad))
  std::size_t fp_col_size(std::size_t B) const {
    return B * positions() * k2() +
           static_cast<std::size_t>(c1) * (h1 + 2 * pad()) * static_cast<std::size_t>(w1 + 2 * pad());
  }
};

// Load-time tables, (positions x C2) each: the border correction C and the per-position bias.
struct Conv2Tables {
  Buffer<float> corr, bias_pos;
};
// w: C2 packed rows of k2 bits (stride `words`); tau2 nullptr: no tau2 term (sign mode).
Conv2Tables conv2_tables(const Conv2Shape& s, const std::uint64_t* w, std::size_t words,
                         const float* scale, const float* bias, const float* tau2);

struct Conv2Binary {
  Conv2Shape s;
  bool dual = false;
  const std::uint64_t* w = nullptr;   // C2 rows, stride words
  const std::uint64_t* wp = nullptr;  // the kernel's prepared copy of w, or nullptr
  std::size_t words = 0;
  const float* tau0 = nullptr;  // C1 (dual)
  const float* tau1 = nullptr;  // C1 (dual)
  const float* scale = nullptr;  // C2
  const float* corr = nullptr;      // positions x C2 (Conv2Tables)
  const float* bias_pos = nullptr;  // positions x C2 (Conv2Tables)
  float slope = 0;
  // The same weights with each row's bits in (u, v, c) order (conv2_pixel_weights, stride
  // `words`), and the kernel's prepared copy (or nullptr): given, conv2_binary builds its GEMM
  // rows from pixel-major bits (see there); nullptr: from the (c, u, v) plane rows.
  const std::uint64_t* wpix = nullptr;
  const std::uint64_t* wpix_p = nullptr;
};

// Whether conv2 of this shape can take the pixel-major path (pixel.h: 16 input channels,
// k <= 5, at most 32 padded columns); conv2_binary takes it whenever the weights in that order
// are given (Conv2Binary::wpix), on every CPU.
bool conv2_pixel_layout(const Conv2Shape& s);
// C2 rows of `words` words: w's rows (bits in (c, u, v) order) with bit (c*k + u)*k + v moved
// to (u*k + v)*c1 + c, the order of conv2_binary's pixel-major GEMM rows (padding bits 0).
Buffer<std::uint64_t> conv2_pixel_weights(const Conv2Shape& s, const std::uint64_t* w,
                                               std::size_t words);

// Plain reference for one clip: v (C1, H1, W1) -> tok (T, C2 * H2). Sums only the taps inside
// the input (no correction table).
void conv2_binary_reference(const Conv2Binary& p, const float* v, float* tok);

// Scratch of the optimized version.
struct Conv2Work {
  Buffer<float> d, r, s, z, row;  // d, r: one input row (w1) each
  Buffer<std::uint64_t> planes, abits, tile;
  Buffer<std::uint8_t> grid;  // pixel-major bits of one clip's two planes (pixel path)
  int grid_key = -1;  // hp * 64 + pad of the shape whose padding rows the grid holds zeroed
  // (clips, hp, pad) of the layout whose padding rows `planes` holds zeroed (never written else)
  std::size_t planes_key[3] = {0, 0, 0};
  Buffer<std::int32_t> dots;
  // Row-assembly tables (which plane rows' k-bit chunks land in which word of a GEMM row, at
  // which shift), rebuilt only when the shape changes.
  std::vector<std::int32_t> begin, off, sft, in_off, in_sft;
  int key_c1 = -1, key_k = -1, key_hp = -1;
  std::size_t key_words = 0;
  void reserve(const Conv2Binary& p, std::size_t batch);
  void chunk_tables(int c1, int k, int hp, std::size_t words);
};

// Optimized, B clips (v: B x (C1, H1, W1) -> tok: B x (T, C2 * H2)), bit-identical to the
// reference: bit planes per (channel, row) written while binarizing, each output row's GEMM rows
// assembled in registers (from a pixel-major copy of the planes when p.wpix is given: pixel.h),
// one popcount GEMM per clip with the b1 and b2 rows of each output row
// stacked, border correction and per-position bias in the epilogue.
// Needs W1 + 2 * pad <= 64.
// Fused output: with `next` (the binary layer that reads the tokens, fc1), each token row is
// binarized for `next` into next_work (begin_rows / binarize_row of ops/linear) as soon as it is
// complete, and `tok` is not written (may be nullptr): the same bits and s as conv2_binary
// followed by binarize_rows.
void conv2_binary(const Conv2Binary& p, const Kernel& kern, const float* v, std::size_t batch,
                  Conv2Work& work, float* tok, GemmStats* stats,
                  const BinaryLinear* next = nullptr, LinearWork* next_work = nullptr);

// Full-precision models: float im2col + kern.float_gemm_kn (wp: the BN-folded C2 x k2 weights
// packed by pack_kn), act, tokens. col: s.fp_col_size(batch) floats, out: positions * C2 per
// clip.
void conv2_fp(const Conv2Shape& s, const Kernel& kern, const float* wp, const float* b,
              float slope, const float* v, std::size_t batch, float* col, float* out, float* tok);

}  // namespace bifsmn::ops

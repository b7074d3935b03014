// Binary linear layer (fc1, fc_in, fc_out; docs/binary-arithmetic.md, "Linear / pointwise"),
// per row (token) t:
//   binarize the row (dual-scale: b1, b2 bits and s = sum8(|r|) / K; sign mode: b1 only),
//   D1 = sum_i sign(W[o, i]) b1[i],  D2 = sum_i sign(W[o, i]) b2[i]    (exact integers)
//   z  = scale[o] * (D1 + s * D2) + bias[o],  y = act(z) [+ res]
// (sign mode: z = scale[o] * D1 + bias[o]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common.h"
#include "bifsmn/kernels.h"

namespace bifsmn::ops {

struct BinaryLinear {
  std::size_t in = 0, out = 0, words = 0;  // words = packed_row_words(in)
  const std::uint64_t* w = nullptr;       // out rows, stride words
  const std::uint64_t* wp = nullptr;      // the kernel's prepared copy of w, or nullptr
  bool dual = false;
  const float* tau0 = nullptr;  // in (dual)
  const float* tau1 = nullptr;  // in (dual)
};

// The per-output transform (fc_out: one per path).
struct Epilogue {
  const float* scale = nullptr;  // out
  const float* bias = nullptr;   // out
  float slope = 0;
  const float* res = nullptr;  // rows x out, or nullptr
};

// Plain reference: x (rows, in) -> y (rows, out).
void linear_binary_reference(const BinaryLinear& L, const Epilogue& e, const float* x,
                             std::size_t rows, float* y);

// Scratch of the optimized version.
struct LinearWork {
  Buffer<std::uint64_t> abits;  // 2 * rows packed rows (b1 rows, then b2 rows)
  Buffer<std::int32_t> dots;    // 2 * rows * out
  Buffer<float> s, d, r, absr, row;  // row: 2 * out (two epilogue rows)
  std::size_t rows = 0;  // rows binarized into abits (binarize_rows / begin_rows)
  void reserve(std::size_t rows, std::size_t in, std::size_t out);
};

// Stage 1: binarize `rows` rows of x into work.abits (b1 rows first, then, dual, the b2 rows
// at offset rows * words) and work.s (dual: s per row, already divided by in).
void binarize_rows(const BinaryLinear& L, const float* x, std::size_t rows, LinearWork& work);

// Fused producers (a layer whose output feeds only this layer's binarizer) binarize their
// output rows straight into `work`, one row at a time while the row is in L1, instead of
// writing the activation: begin_rows once, then binarize_row for each row r < rows. The bits
// and s are those binarize_rows gives (same function per row).
void begin_rows(const BinaryLinear& L, std::size_t rows, LinearWork& work);
void binarize_row(const BinaryLinear& L, const float* v, std::size_t r, LinearWork& work);
// Rows r and r + 1 (values v0, v1): the same bits and s as two binarize_row calls, the two
// rows' fixed-order sums interleaved (detail::quant_rows2_dual).
void binarize_row2(const BinaryLinear& L, const float* v0, const float* v1, std::size_t r,
                   LinearWork& work);

// GEMM + epilogue on rows already binarized into `work` (binarize_rows or a fused producer).
void linear_binary_packed(const BinaryLinear& L, const Epilogue& e, const Kernel& kern,
                          LinearWork& work, float* y, GemmStats* stats);

// Fused binary layer (exact): GEMM, then per row the epilogue into an L1 row buffer, binarized
// at once for the next layer `next` into next_work (the layer's float output is not written).
void linear_binary_to_bits(const BinaryLinear& L, const Epilogue& e, const Kernel& kern,
                           LinearWork& work, const BinaryLinear& next, LinearWork& next_work,
                           GemmStats* stats);

// Sign mode (bifsmn_v1) with integer thresholds: when this layer and the next are sign-binary
// and the output has no residual, the next layer's input bit of channel o is
// !(act(scale[o] * D + bias[o]) >= 0), a function of the integer accumulator D alone. It is
// true exactly on an interval [lo, hi] of D (the float expression is monotone in D), found at
// load time by evaluating that exact float expression at every D in {-K, -K+2, ..., K}: ties,
// negative or zero scales and slopes are handled by construction, and the bits are those of the
// float epilogue + sign. exact = false if the set is not an interval (then use the float path).
struct SignThresholds {
  std::vector<std::int32_t> lo, hi;  // per output channel: y >= 0 <=> lo <= D <= hi
  bool exact = false;
};
SignThresholds sign_thresholds(const BinaryLinear& L, const Epilogue& e);
// Fused: GEMM, then the next layer's sign bits from integer compares (no float epilogue).
void linear_binary_to_sign_bits(const BinaryLinear& L, const SignThresholds& th,
                                const Kernel& kern, LinearWork& work, const BinaryLinear& next,
                                LinearWork& next_work, GemmStats* stats);

// Optimized: binarize_rows, one popcount GEMM on the stacked b1/b2 rows, epilogue.
// Bit-identical to the reference.
void linear_binary(const BinaryLinear& L, const Epilogue& e, const Kernel& kern, const float* x,
                   std::size_t rows, LinearWork& work, float* y, GemmStats* stats);

}  // namespace bifsmn::ops

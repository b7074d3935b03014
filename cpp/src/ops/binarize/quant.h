// Activation binarization helpers shared by every binary layer.
//
// Determinism: these functions are the only float code between two popcount
// GEMMs of a binary model, and they do not depend on the selected kernel, so
// every BIFSMN_KERNEL produces the same bits and scales. Reductions use eight
// interleaved partial sums in a fixed order (element i goes to sum i % 8), so
// the SIMD and scalar versions give bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../arm32_float_guard.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
// AArch64 only: ARMv7 NEON flushes subnormal floats to zero in every float operation, so a
// comparison such as -1e-40 >= 0 would hold there and change a bit; 32-bit ARM runs the
// scalar (VFP, IEEE) forms.
#include <arm_neon.h>
#endif

namespace bifsmn::detail {

// Sum of x[0..n) as ((p0+p1)+(p2+p3)) + ((p4+p5)+(p6+p7)), p_l = sum of x[i], i % 8 == l.
inline float sum8(const float* x, std::size_t n) noexcept {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) p[l] += x[i + l];
  }
  for (; i < n; ++i) p[i & 7] += x[i];
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// Bits of !(x[i] >= 0) (the packing rule of bitpack.h: bit 1 <=> -1),
// LSB-first, for i < n; returns them as one word (n <= 64).
inline std::uint64_t neg_bits64(const float* x, std::size_t n) noexcept {
  std::uint64_t w = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) {
    const int m = _mm_movemask_ps(_mm_cmpnge_ps(_mm_loadu_ps(x + i), zero));
    w |= static_cast<std::uint64_t>(m) << i;
  }
#elif defined(__aarch64__)
  const uint32x4_t weights = {1, 2, 4, 8};
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t ge = vcgeq_f32(vld1q_f32(x + i), zero);
    const uint32_t m = vaddvq_u32(vandq_u32(vmvnq_u32(ge), weights));
    w |= static_cast<std::uint64_t>(m) << i;
  }
#endif
  for (; i < n; ++i) w |= static_cast<std::uint64_t>(!(x[i] >= 0.0f)) << i;
  return w;
}

// Pack n values into words (all `words` written; bits >= n are 0).
inline void pack_neg(const float* x, std::size_t n, std::uint64_t* out, std::size_t words) noexcept {
  for (std::size_t w = 0; w < words; ++w) {
    const std::size_t lo = w * 64;
    out[w] = lo < n ? neg_bits64(x + lo, n - lo < 64 ? n - lo : 64) : 0;
  }
}

// Dual-scale stage 1 for n values with per-element thresholds:
//   d = v - tau0, b1 = sign(d), r = (v - b1) - tau1, absr = |r|.
// Same float operations, in the same order, as the PyTorch quantizer.
inline void dual_split(const float* __restrict__ v, const float* __restrict__ tau0,
                       const float* __restrict__ tau1, std::size_t n, float* __restrict__ d,
                       float* __restrict__ r, float* __restrict__ absr) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float di = v[i] - tau0[i];
    const float b1 = di >= 0.0f ? 1.0f : -1.0f;
    const float ri = (v[i] - b1) - tau1[i];
    d[i] = di;
    r[i] = ri;
    absr[i] = ri < 0.0f ? -ri : ri;
  }
}

// Same with one threshold pair for all n values (conv2: per input channel).
inline void dual_split_scalar(const float* __restrict__ v, float tau0, float tau1,
                              std::size_t n, float* __restrict__ d, float* __restrict__ r,
                              float* __restrict__ absr) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float di = v[i] - tau0;
    const float b1 = di >= 0.0f ? 1.0f : -1.0f;
    const float ri = (v[i] - b1) - tau1;
    d[i] = di;
    r[i] = ri;
    absr[i] = ri < 0.0f ? -ri : ri;
  }
}

#if defined(__x86_64__)
float quant_row_dual_avx2(const float* v, const float* tau0, const float* tau1, std::size_t k,
                          std::uint64_t* a1, std::uint64_t* a2, std::size_t words) noexcept;
bool have_avx2() noexcept;
// The same with AVX-512F (16 values per step; same bits and sum).
float quant_row_dual_avx512(const float* v, const float* tau0, const float* tau1, std::size_t k,
                            std::uint64_t* a1, std::uint64_t* a2, std::size_t words) noexcept;
bool have_avx512() noexcept;
// Two rows of k values with the same thresholds (rows v0 and v1 -> a1_0/a2_0 and a1_1/a2_1,
// sum |r| of each -> sums[0], sums[1]): the same bits and sums as two quant_row_dual calls, the
// two rows' add chains interleaved (each row's sum order is fixed, so one row's adds wait on
// each other; two rows keep the adder busy).
void quant_rows2_dual_avx2(const float* v0, const float* v1, const float* tau0,
                           const float* tau1, std::size_t k, std::uint64_t* a1_0,
                           std::uint64_t* a2_0, std::uint64_t* a1_1, std::uint64_t* a2_1,
                           std::size_t words, float* sums) noexcept;
void quant_rows2_dual_avx512(const float* v0, const float* v1, const float* tau0,
                             const float* tau1, std::size_t k, std::uint64_t* a1_0,
                             std::uint64_t* a2_0, std::uint64_t* a1_1, std::uint64_t* a2_1,
                             std::size_t words, float* sums) noexcept;
// Dual-scale bit planes of `channels` x `rows` rows of `cols` values (channel-major; thresholds
// per channel; cols % 8 == 0, cols + shift <= 64): row (c, row)'s b1 / b2 sign bits, shifted
// left by `shift`, into a1 / a2[c * stride + row]; returns sum8(|r|) over all values in element
// order (conv2's input binarization, ops/conv2).
float planes_dual_avx2(const float* v, const float* tau0, const float* tau1, std::size_t channels,
                       std::size_t rows, std::size_t cols, int shift, std::size_t stride,
                       std::uint64_t* a1, std::uint64_t* a2) noexcept;
// The same with AVX-512F, 16 values per step (cols % 16 == 0; same bits and sum).
float planes_dual_avx512(const float* v, const float* tau0, const float* tau1,
                         std::size_t channels, std::size_t rows, std::size_t cols, int shift,
                         std::size_t stride, std::uint64_t* a1, std::uint64_t* a2) noexcept;
#endif

// One row of a dual-scale binary layer: b1 bits -> a1, b2 bits -> a2 (all
// `words` written), returns sum |r| (8 interleaved partial sums, fixed order).
// Scratch d, r, absr: k floats each (generic path only).
inline float quant_row_dual(const float* v, const float* tau0, const float* tau1, std::size_t k,
                            std::uint64_t* a1, std::uint64_t* a2, std::size_t words, float* d,
                            float* r, float* absr) noexcept {
#if defined(__x86_64__)
  if (have_avx512()) return quant_row_dual_avx512(v, tau0, tau1, k, a1, a2, words);
  if (have_avx2()) return quant_row_dual_avx2(v, tau0, tau1, k, a1, a2, words);
#endif
  dual_split(v, tau0, tau1, k, d, r, absr);
  pack_neg(d, k, a1, words);
  pack_neg(r, k, a2, words);
  return sum8(absr, k);
}

// Two rows with the same thresholds: exactly two quant_row_dual calls (sums[0], sums[1]).
inline void quant_rows2_dual(const float* v0, const float* v1, const float* tau0,
                             const float* tau1, std::size_t k, std::uint64_t* a1_0,
                             std::uint64_t* a2_0, std::uint64_t* a1_1, std::uint64_t* a2_1,
                             std::size_t words, float* sums, float* d, float* r,
                             float* absr) noexcept {
#if defined(__x86_64__)
  if (have_avx512()) {
    quant_rows2_dual_avx512(v0, v1, tau0, tau1, k, a1_0, a2_0, a1_1, a2_1, words, sums);
    return;
  }
  if (have_avx2()) {
    quant_rows2_dual_avx2(v0, v1, tau0, tau1, k, a1_0, a2_0, a1_1, a2_1, words, sums);
    return;
  }
#endif
  sums[0] = quant_row_dual(v0, tau0, tau1, k, a1_0, a2_0, words, d, r, absr);
  sums[1] = quant_row_dual(v1, tau0, tau1, k, a1_1, a2_1, words, d, r, absr);
}

}  // namespace bifsmn::detail

namespace bifsmn::detail {

// Binary layer epilogue for one row: y = act(scale * (D1 + s * D2) + bias) [+ res].
// d2 == nullptr: single-term layers (y uses D1 only). res may be nullptr.
inline void epilogue(const std::int32_t* __restrict__ d1, const std::int32_t* __restrict__ d2,
                     float s, const float* __restrict__ scale, const float* __restrict__ bias,
                     float slope, const float* __restrict__ res, float* __restrict__ y,
                     std::size_t n) noexcept {
  // The residual is added in the same pass (same operations: act first, then + res), not by a
  // second pass over y: the loop is bound by its stores, and the second pass doubled them.
  if (d2) {
    if (res) {
      for (std::size_t j = 0; j < n; ++j) {
        const float d = static_cast<float>(d1[j]) + s * static_cast<float>(d2[j]);
        const float z = scale[j] * d + bias[j];
        const float neg = slope * z;  // unconditional, so the select vectorizes
        y[j] = (z >= 0.0f ? z : neg) + res[j];
      }
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        const float d = static_cast<float>(d1[j]) + s * static_cast<float>(d2[j]);
        const float z = scale[j] * d + bias[j];
        const float neg = slope * z;
        y[j] = z >= 0.0f ? z : neg;
      }
    }
  } else if (res) {
    for (std::size_t j = 0; j < n; ++j) {
      const float z = scale[j] * static_cast<float>(d1[j]) + bias[j];
      const float neg = slope * z;
      y[j] = (z >= 0.0f ? z : neg) + res[j];
    }
  } else {
    for (std::size_t j = 0; j < n; ++j) {
      const float z = scale[j] * static_cast<float>(d1[j]) + bias[j];
      const float neg = slope * z;
      y[j] = z >= 0.0f ? z : neg;
    }
  }
}

// acc[c] += w[c] * u[c]
inline void axpy(const float* __restrict__ w, const float* __restrict__ u,
                 float* __restrict__ acc, std::size_t n) noexcept {
  for (std::size_t c = 0; c < n; ++c) acc[c] += w[c] * u[c];
}

// y = act(scale * acc + bias) + x  (scale may be nullptr: 1)
inline void affine_act_res(const float* __restrict__ acc, const float* __restrict__ scale,
                           const float* __restrict__ bias, float slope,
                           const float* __restrict__ x, float* __restrict__ y,
                           std::size_t n) noexcept {
  if (scale) {
    for (std::size_t c = 0; c < n; ++c) {
      const float z = scale[c] * acc[c] + bias[c];
      const float neg = slope * z;
      y[c] = (z >= 0.0f ? z : neg) + x[c];
    }
  } else {
    for (std::size_t c = 0; c < n; ++c) {
      const float z = acc[c] + bias[c];
      const float neg = slope * z;
      y[c] = (z >= 0.0f ? z : neg) + x[c];
    }
  }
}

// u = sign(d) + s * sign(r)
inline void dual_levels(const float* __restrict__ d, const float* __restrict__ r, float s,
                        float* __restrict__ u, std::size_t n) noexcept {
  for (std::size_t c = 0; c < n; ++c) {
    u[c] = (d[c] >= 0.0f ? 1.0f : -1.0f) + s * (r[c] >= 0.0f ? 1.0f : -1.0f);
  }
}

}  // namespace bifsmn::detail

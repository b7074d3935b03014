// AVX2 version of the per-row dual-scale binarization (engine hot path).
// It computes exactly what the generic code in quant.h computes: the same
// float operations per element (so the same bits), and |r| summed in eight
// partial sums with element i in sum i % 8 (one 8-lane accumulator), combined
// in the same order. Selected by CPU support, not by kernel: every kernel
// sees the same bits and scales.
//
// b1's test compares v with tau0 directly instead of v - tau0 with 0: for finite values the
// rounded difference of two floats is 0 only when they are equal and otherwise keeps the
// exact difference's sign (gradual underflow; the engine never sets flush-to-zero), so the
// bits are the same and one subtraction per value is saved (thresholds are finite: the .bkws
// loader refuses NaN and infinity; tested with neighbours of the thresholds, subnormal
// differences and signed zeros in test_ops).
#include "quant.h"

#include "bifsmn/kernels.h"

#include "../x86_intrin.h"

#if defined(__x86_64__)

namespace bifsmn::detail {

namespace {
// The scalar end of a dual-scale row shared by the ISA versions: values i..k-1 one at a time
// (same operations, value i into partial sum i % 8), the last bit words and zero padding words,
// then the fixed combination of the eight partial sums.
inline float row_tail(const float* v, const float* tau0, const float* tau1, std::size_t k,
                      std::size_t i, float* p, std::uint64_t w1, std::uint64_t w2,
                      std::uint64_t* a1, std::uint64_t* a2, std::size_t words) noexcept {
  for (; i < k; ++i) {  // tail: same operations, element i into partial sum i % 8
    const float d = v[i] - tau0[i];
    const float b1 = d >= 0.0f ? 1.0f : -1.0f;
    const float r = (v[i] - b1) - tau1[i];
    p[i & 7] += r < 0.0f ? -r : r;
    w1 |= static_cast<std::uint64_t>(!(d >= 0.0f)) << (i % 64);
    w2 |= static_cast<std::uint64_t>(!(r >= 0.0f)) << (i % 64);
    if (i % 64 == 63) {
      a1[i / 64] = w1;
      a2[i / 64] = w2;
      w1 = w2 = 0;
    }
  }
  std::size_t w = k / 64;
  if (k % 64) {
    a1[w] = w1;
    a2[w] = w2;
    ++w;
  }
  for (; w < words; ++w) a1[w] = a2[w] = 0;
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// Values i..i+7 of a dual-scale row: their |r| into acc (value i + l into lane l, in order) and
// their b1 / b2 sign bits (1 = negative) as two bytes.
__attribute__((target("avx2"), always_inline)) inline void dual_step8_avx2(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t i, __m256& acc, unsigned& m1, unsigned& m2) noexcept {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 minus_one = _mm256_set1_ps(-1.0f);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 x = _mm256_loadu_ps(v + i);
  const __m256 ge = _mm256_cmp_ps(x, _mm256_loadu_ps(tau0 + i), _CMP_GE_OQ);  // == (d >= 0)
  const __m256 b1 = _mm256_blendv_ps(minus_one, one, ge);
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, b1), _mm256_loadu_ps(tau1 + i));
  acc = _mm256_add_ps(acc, _mm256_and_ps(r, abs_mask));
  m1 = ~static_cast<unsigned>(_mm256_movemask_ps(ge)) & 0xFFu;
  m2 = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(r, zero, _CMP_NGE_UQ)));
}
}  // namespace

__attribute__((target("avx2"))) float quant_row_dual_avx2(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t k, std::uint64_t* __restrict__ a1, std::uint64_t* __restrict__ a2,
    std::size_t words) noexcept {
  __m256 acc = _mm256_setzero_ps();
  std::size_t i = 0;
  // Whole 64-value words: eight steps with constant shifts, one store per plane.
  for (; i + 64 <= k; i += 64) {
    std::uint64_t w1 = 0, w2 = 0;
    for (int j = 0; j < 8; ++j) {
      unsigned m1, m2;
      dual_step8_avx2(v, tau0, tau1, i + 8 * j, acc, m1, m2);
      w1 |= static_cast<std::uint64_t>(m1) << (8 * j);
      w2 |= static_cast<std::uint64_t>(m2) << (8 * j);
    }
    a1[i / 64] = w1;
    a2[i / 64] = w2;
  }
  std::uint64_t w1 = 0, w2 = 0;
  for (; i + 8 <= k; i += 8) {
    unsigned m1, m2;
    dual_step8_avx2(v, tau0, tau1, i, acc, m1, m2);
    w1 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w2 |= static_cast<std::uint64_t>(m2) << (i % 64);
  }
  alignas(32) float p[8];
  _mm256_store_ps(p, acc);
  return row_tail(v, tau0, tau1, k, i, p, w1, w2, a1, a2, words);
}

__attribute__((target("avx2"))) void quant_rows2_dual_avx2(
    const float* __restrict__ v0, const float* __restrict__ v1, const float* __restrict__ tau0,
    const float* __restrict__ tau1, std::size_t k, std::uint64_t* __restrict__ a1_0,
    std::uint64_t* __restrict__ a2_0, std::uint64_t* __restrict__ a1_1,
    std::uint64_t* __restrict__ a2_1, std::size_t words, float* sums) noexcept {
  // Two rows' steps alternated: each row keeps its own accumulator (its own fixed add chain),
  // so the two chains overlap instead of one row waiting on its adds.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= k; i += 64) {
    std::uint64_t w10 = 0, w20 = 0, w11 = 0, w21 = 0;
    for (int j = 0; j < 8; ++j) {
      unsigned m1, m2;
      dual_step8_avx2(v0, tau0, tau1, i + 8 * j, acc0, m1, m2);
      w10 |= static_cast<std::uint64_t>(m1) << (8 * j);
      w20 |= static_cast<std::uint64_t>(m2) << (8 * j);
      dual_step8_avx2(v1, tau0, tau1, i + 8 * j, acc1, m1, m2);
      w11 |= static_cast<std::uint64_t>(m1) << (8 * j);
      w21 |= static_cast<std::uint64_t>(m2) << (8 * j);
    }
    a1_0[i / 64] = w10;
    a2_0[i / 64] = w20;
    a1_1[i / 64] = w11;
    a2_1[i / 64] = w21;
  }
  std::uint64_t w10 = 0, w20 = 0, w11 = 0, w21 = 0;
  for (; i + 8 <= k; i += 8) {
    unsigned m1, m2;
    dual_step8_avx2(v0, tau0, tau1, i, acc0, m1, m2);
    w10 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w20 |= static_cast<std::uint64_t>(m2) << (i % 64);
    dual_step8_avx2(v1, tau0, tau1, i, acc1, m1, m2);
    w11 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w21 |= static_cast<std::uint64_t>(m2) << (i % 64);
  }
  alignas(32) float p0[8], p1[8];
  _mm256_store_ps(p0, acc0);
  _mm256_store_ps(p1, acc1);
  sums[0] = row_tail(v0, tau0, tau1, k, i, p0, w10, w20, a1_0, a2_0, words);
  sums[1] = row_tail(v1, tau0, tau1, k, i, p1, w11, w21, a1_1, a2_1, words);
}

namespace {
// The fixed combination of eight partial sums held in acc's lanes (sum8's last step).
__attribute__((target("avx2"), always_inline)) inline float sum8_lanes(__m256 acc) noexcept {
  alignas(32) float p[8];
  _mm256_store_ps(p, acc);
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
}  // namespace

__attribute__((target("avx2"))) float planes_dual_avx2(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t channels, std::size_t rows, std::size_t cols, int shift, std::size_t stride,
    std::uint64_t* __restrict__ a1, std::uint64_t* __restrict__ a2) noexcept {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 minus_one = _mm256_set1_ps(-1.0f);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 acc = zero;  // lane l: elements e with e % 8 == l, in element order (cols % 8 == 0)
  for (std::size_t c = 0; c < channels; ++c) {
    const __m256 t0 = _mm256_set1_ps(tau0[c]), t1 = _mm256_set1_ps(tau1[c]);
    for (std::size_t row = 0; row < rows; ++row) {
      const float* x_row = v + (c * rows + row) * cols;
      std::uint64_t w1 = 0, w2 = 0;
      for (std::size_t i = 0; i < cols; i += 8) {
        const __m256 x = _mm256_loadu_ps(x_row + i);
        const __m256 ge = _mm256_cmp_ps(x, t0, _CMP_GE_OQ);  // == (x - t0 >= 0)
        const __m256 b1 = _mm256_blendv_ps(minus_one, one, ge);
        const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, b1), t1);
        acc = _mm256_add_ps(acc, _mm256_and_ps(r, abs_mask));
        const unsigned m1 = ~static_cast<unsigned>(_mm256_movemask_ps(ge)) & 0xFFu;
        const unsigned m2 =
            static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(r, zero, _CMP_NGE_UQ)));
        w1 |= static_cast<std::uint64_t>(m1) << i;
        w2 |= static_cast<std::uint64_t>(m2) << i;
      }
      a1[c * stride + row] = w1 << shift;
      a2[c * stride + row] = w2 << shift;
    }
  }
  return sum8_lanes(acc);
}

namespace {
// Sixteen values x of a dual-scale split with thresholds t0, t1 (one per value): their |r| into
// acc (values 0..7, then 8..15, value l into lane l % 8, in order) and their b1 / b2 sign bits
// (1 = negative) as two 16-bit masks. Shared by the row versions (per-value thresholds) and
// conv2's planes (one threshold per channel, broadcast).
__attribute__((target("avx512f,avx2"), always_inline)) inline void dual_split16_avx512(
    __m512 x, __m512 t0, __m512 t1, __m256& acc, unsigned& m1, unsigned& m2) noexcept {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  const __m512 minus_one = _mm512_set1_ps(-1.0f);
  const __mmask16 ge = _mm512_cmp_ps_mask(x, t0, _CMP_GE_OQ);  // == (x - t0 >= 0), see top
  const __m512 b1 = _mm512_mask_blend_ps(ge, minus_one, one);
  const __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, b1), t1);
  const __m512 ar = _mm512_abs_ps(r);
  acc = _mm256_add_ps(acc, _mm512_castps512_ps256(ar));
  acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ar), 1)));
  m1 = static_cast<unsigned>(static_cast<std::uint16_t>(~ge));
  m2 = static_cast<unsigned>(_mm512_cmp_ps_mask(r, zero, _CMP_NGE_UQ));
}

// Values i..i+15 of a dual-scale row (thresholds per value): dual_split16_avx512.
__attribute__((target("avx512f,avx2"), always_inline)) inline void dual_step16_avx512(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t i, __m256& acc, unsigned& m1, unsigned& m2) noexcept {
  dual_split16_avx512(_mm512_loadu_ps(v + i), _mm512_loadu_ps(tau0 + i),
                      _mm512_loadu_ps(tau1 + i), acc, m1, m2);
}
}  // namespace

// planes_dual_avx2 with 16 values per step (cols % 16 == 0): the same float operations per
// value, and |r| of values i..i+7, then i+8..i+15, into the one 8-lane accumulator in element
// order, so the same bits and sum. Why: the sum is one chain of dependent adds over the whole
// clip (conv2's scale is per clip); with eight values per step the other work of each step
// (split, compares, masks, shifts) competed with it, with sixteen the chain alone sets the pace.
__attribute__((target("avx512f,avx2"))) float planes_dual_avx512(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t channels, std::size_t rows, std::size_t cols, int shift, std::size_t stride,
    std::uint64_t* __restrict__ a1, std::uint64_t* __restrict__ a2) noexcept {
  __m256 acc = _mm256_setzero_ps();
  for (std::size_t c = 0; c < channels; ++c) {
    const __m512 t0 = _mm512_set1_ps(tau0[c]), t1 = _mm512_set1_ps(tau1[c]);
    for (std::size_t row = 0; row < rows; ++row) {
      const float* x_row = v + (c * rows + row) * cols;
      std::uint64_t w1 = 0, w2 = 0;
      for (std::size_t i = 0; i < cols; i += 16) {
        unsigned m1, m2;
        dual_split16_avx512(_mm512_loadu_ps(x_row + i), t0, t1, acc, m1, m2);
        w1 |= static_cast<std::uint64_t>(m1) << i;
        w2 |= static_cast<std::uint64_t>(m2) << i;
      }
      a1[c * stride + row] = w1 << shift;
      a2[c * stride + row] = w2 << shift;
    }
  }
  return sum8_lanes(acc);
}

__attribute__((target("avx512f,avx2"))) float quant_row_dual_avx512(
    const float* __restrict__ v, const float* __restrict__ tau0, const float* __restrict__ tau1,
    std::size_t k, std::uint64_t* __restrict__ a1, std::uint64_t* __restrict__ a2,
    std::size_t words) noexcept {
  // 16 values per step; |r| of values i..i+7 and then i+8..i+15 go into the one 8-lane
  // accumulator (value i into sum i % 8, in order), as in the AVX2 version.
  __m256 acc = _mm256_setzero_ps();
  std::size_t i = 0;
  // Whole 64-value words: four steps with constant shifts, one store per plane (as AVX2's).
  for (; i + 64 <= k; i += 64) {
    std::uint64_t w1 = 0, w2 = 0;
    for (int j = 0; j < 4; ++j) {
      unsigned m1, m2;
      dual_step16_avx512(v, tau0, tau1, i + 16 * j, acc, m1, m2);
      w1 |= static_cast<std::uint64_t>(m1) << (16 * j);
      w2 |= static_cast<std::uint64_t>(m2) << (16 * j);
    }
    a1[i / 64] = w1;
    a2[i / 64] = w2;
  }
  // Fewer than 64 values left: no word completes here (row_tail stores the last one).
  std::uint64_t w1 = 0, w2 = 0;
  for (; i + 16 <= k; i += 16) {
    unsigned m1, m2;
    dual_step16_avx512(v, tau0, tau1, i, acc, m1, m2);
    w1 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w2 |= static_cast<std::uint64_t>(m2) << (i % 64);
  }
  alignas(32) float p[8];
  _mm256_store_ps(p, acc);
  return row_tail(v, tau0, tau1, k, i, p, w1, w2, a1, a2, words);
}

__attribute__((target("avx512f,avx2"))) void quant_rows2_dual_avx512(
    const float* __restrict__ v0, const float* __restrict__ v1, const float* __restrict__ tau0,
    const float* __restrict__ tau1, std::size_t k, std::uint64_t* __restrict__ a1_0,
    std::uint64_t* __restrict__ a2_0, std::uint64_t* __restrict__ a1_1,
    std::uint64_t* __restrict__ a2_1, std::size_t words, float* sums) noexcept {
  // As quant_rows2_dual_avx2: two rows, two accumulators, steps alternated. One function per
  // ISA, like the one-row pair: the step functions carry target attributes, which GCC will not
  // inline into a shared generic template.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= k; i += 64) {
    std::uint64_t w10 = 0, w20 = 0, w11 = 0, w21 = 0;
    for (int j = 0; j < 4; ++j) {
      unsigned m1, m2;
      dual_step16_avx512(v0, tau0, tau1, i + 16 * j, acc0, m1, m2);
      w10 |= static_cast<std::uint64_t>(m1) << (16 * j);
      w20 |= static_cast<std::uint64_t>(m2) << (16 * j);
      dual_step16_avx512(v1, tau0, tau1, i + 16 * j, acc1, m1, m2);
      w11 |= static_cast<std::uint64_t>(m1) << (16 * j);
      w21 |= static_cast<std::uint64_t>(m2) << (16 * j);
    }
    a1_0[i / 64] = w10;
    a2_0[i / 64] = w20;
    a1_1[i / 64] = w11;
    a2_1[i / 64] = w21;
  }
  std::uint64_t w10 = 0, w20 = 0, w11 = 0, w21 = 0;
  for (; i + 16 <= k; i += 16) {
    unsigned m1, m2;
    dual_step16_avx512(v0, tau0, tau1, i, acc0, m1, m2);
    w10 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w20 |= static_cast<std::uint64_t>(m2) << (i % 64);
    dual_step16_avx512(v1, tau0, tau1, i, acc1, m1, m2);
    w11 |= static_cast<std::uint64_t>(m1) << (i % 64);
    w21 |= static_cast<std::uint64_t>(m2) << (i % 64);
  }
  alignas(32) float p0[8], p1[8];
  _mm256_store_ps(p0, acc0);
  _mm256_store_ps(p1, acc1);
  sums[0] = row_tail(v0, tau0, tau1, k, i, p0, w10, w20, a1_0, a2_0, words);
  sums[1] = row_tail(v1, tau0, tau1, k, i, p1, w11, w21, a1_1, a2_1, words);
}

bool have_avx512() noexcept {  // and BIFSMN_ISA allows it (bifsmn::isa_cap)
  static const bool yes = [] {
    __builtin_cpu_init();
    return ::bifsmn::isa_cap() >= 16 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx2");
  }();
  return yes;
}

bool have_avx2() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();
    return ::bifsmn::isa_cap() >= 8 && __builtin_cpu_supports("avx2");
  }();
  return yes;
}

}  // namespace bifsmn::detail
#endif

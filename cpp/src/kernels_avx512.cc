// x86-64 AVX-512 binary GEMM with the VPOPCNTDQ extension (Ice Lake and
// later, Zen 4 and later). Like kernels_avx2.cc, only these functions use the
// ISA (target attributes); dispatch.cc checks the CPU before calling them.
// The float GEMM (below) uses AVX-512F FMAs on the same dot-product tiles as AVX2's.
//
// Layout: one 512-bit register holds the same 256 bits of two weight rows
// (columns j and j + 4 of an 8-column strip); the activation row's 256 bits
// are broadcast to both halves. XOR + vpopcntq gives 8 qword counts, summed
// over K in qword lanes. At the end each 256-bit half is reduced with two
// in-register shuffles, four strips' results are blended into one vector of
// 8 column totals, narrowed to int32 and stored: about 4 instructions per
// 256-bit row pair in the K loop and ~2 per output for the reduction, against
// ~13 per output for the nibble-LUT popcount at small K.
#if defined(__x86_64__)

#include "ops/x86_intrin.h"  // <immintrin.h>, GCC 12's false uninitialised warnings off

#include <utility>

#include "bifsmn/bitpack.h"
#include "float_tile_io.h"
#include "bifsmn/kernels.h"
#include "kernel_impls.h"
#include "tiling.h"

#define BIFSMN_AVX512 __attribute__((target("avx512f,avx512vpopcntdq,avx2,popcnt")))

namespace bifsmn::detail {
namespace {

constexpr std::size_t kWordsPerHalf = 4;  // 256 bits

BIFSMN_AVX512 inline __m512i load_pair(const std::uint64_t* lo, const std::uint64_t* hi) {
  const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi));
  return _mm512_inserti64x4(_mm512_castsi256_si512(l), h, 1);
}

// Each 256-bit half of the result holds its half's qword total in all 4 lanes.
BIFSMN_AVX512 inline __m512i half_totals(__m512i v) {
  v = _mm512_add_epi64(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));  // swap qwords in 128
  return _mm512_add_epi64(v, _mm512_shuffle_i64x2(v, v, 0xB1));     // swap 128s in 256
}

// MR activation rows x 8 weight rows (columns j0 .. j0 + 7).
template <int MR>
BIFSMN_AVX512 void tile8(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                         std::size_t n, std::size_t k, std::size_t stride) noexcept {
  __m512i acc[MR][4];
  for (int i = 0; i < MR; ++i) {
    for (int p = 0; p < 4; ++p) acc[i][p] = _mm512_setzero_si512();
  }
  for (std::size_t v = 0; v < stride; v += kWordsPerHalf) {
    __m512i wv[4];
    for (int p = 0; p < 4; ++p) wv[p] = load_pair(w + p * stride + v, w + (p + 4) * stride + v);
    for (int i = 0; i < MR; ++i) {
      const __m512i av = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * stride + v)));
      for (int p = 0; p < 4; ++p) {
        acc[i][p] = _mm512_add_epi64(acc[i][p],
                                     _mm512_popcnt_epi64(_mm512_xor_si512(av, wv[p])));
      }
    }
  }
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  for (int i = 0; i < MR; ++i) {
    // qword q of half h must end up as column p = q (+4 for h = 1): take
    // lane q of both halves from strip pair p = q.
    __m512i r = half_totals(acc[i][0]);
    r = _mm512_mask_blend_epi64(0x22, r, half_totals(acc[i][1]));
    r = _mm512_mask_blend_epi64(0x44, r, half_totals(acc[i][2]));
    r = _mm512_mask_blend_epi64(0x88, r, half_totals(acc[i][3]));
    const __m256i pc = _mm512_cvtepi64_epi32(r);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * n),
                        _mm256_sub_epi32(kv, _mm256_slli_epi32(pc, 1)));
  }
}

// K <= 128: a row is 2 words (the other 2 of the 4-word stride are padding),
// so one register holds 128 bits of 4 weight rows (columns p, p+4, p+8, p+12)
// and a 16-column strip takes 4 registers: no popcount work on padding.
BIFSMN_AVX512 inline __m128i load128(const std::uint64_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

template <int MR>
BIFSMN_AVX512 void tile16_k128(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                               std::size_t n, std::size_t k, std::size_t stride) noexcept {
  __m512i wv[4];
  for (int p = 0; p < 4; ++p) {
    __m512i x = _mm512_castsi128_si512(load128(w + p * stride));
    x = _mm512_inserti32x4(x, load128(w + (p + 4) * stride), 1);
    x = _mm512_inserti32x4(x, load128(w + (p + 8) * stride), 2);
    wv[p] = _mm512_inserti32x4(x, load128(w + (p + 12) * stride), 3);
  }
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  for (int i = 0; i < MR; ++i) {
    const __m512i av = _mm512_broadcast_i32x4(load128(a + i * stride));
    __m512i t[4];
    for (int p = 0; p < 4; ++p) {
      t[p] = _mm512_popcnt_epi64(_mm512_xor_si512(av, wv[p]));
      t[p] = _mm512_add_epi64(t[p], _mm512_shuffle_epi32(t[p], _MM_PERM_BADC));
    }
    // qwords: [c0 c1 | c4 c5 | c8 c9 | c12 c13] and [c2 c3 | c6 c7 | ...]
    const __m256i x = _mm512_cvtepi64_epi32(_mm512_mask_blend_epi64(0xAA, t[0], t[1]));
    const __m256i y = _mm512_cvtepi64_epi32(_mm512_mask_blend_epi64(0xAA, t[2], t[3]));
    const __m256i lo = _mm256_unpacklo_epi64(x, y);  // [c0..c3 | c8..c11]
    const __m256i hi = _mm256_unpackhi_epi64(x, y);  // [c4..c7 | c12..c15]
    const __m256i o0 = _mm256_permute2x128_si256(lo, hi, 0x20);
    const __m256i o1 = _mm256_permute2x128_si256(lo, hi, 0x31);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * n),
                        _mm256_sub_epi32(kv, _mm256_slli_epi32(o0, 1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * n + 8),
                        _mm256_sub_epi32(kv, _mm256_slli_epi32(o1, 1)));
  }
}

// K <= 256 * S (S = 1..4 steps of 256 bits): an 8-column strip's weights (4 * S registers, laid
// out as in tile8) are loaded once and every activation row of the call streams past them. Per
// row the 4 popcount sums (columns p and p + 4, 4 qwords each) are reduced together by a
// transpose-add: 2 x (unpacklo + unpackhi + add) pair columns within 128-bit lanes, 2 lane
// shuffles + 1 add finish the sums as [c0 c1 | c4 c5 | c2 c3 | c6 c7], one permute restores the
// column order: 10 instructions for 8 outputs instead of tile8's ~20.
template <int S>
BIFSMN_AVX512 void strip8(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                          std::size_t m, std::size_t n, std::size_t k) noexcept {
  constexpr std::size_t stride = S * kWordsPerHalf;
  __m512i wv[S][4];
  for (int v = 0; v < S; ++v) {
    for (int p = 0; p < 4; ++p) {
      wv[v][p] = load_pair(w + p * stride + v * kWordsPerHalf,
                           w + (p + 4) * stride + v * kWordsPerHalf);
    }
  }
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  const __m512i order = _mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7);
  for (std::size_t i = 0; i < m; ++i) {
    __m512i t[4];
    for (int v = 0; v < S; ++v) {
      const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(a + i * stride + v * kWordsPerHalf)));
      for (int p = 0; p < 4; ++p) {
        const __m512i c = _mm512_popcnt_epi64(_mm512_xor_si512(av, wv[v][p]));
        t[p] = v == 0 ? c : _mm512_add_epi64(t[p], c);
      }
    }
    // per 128-bit lane: s01 = [t0 lane sum, t1 lane sum], s23 = [t2, t3]
    const __m512i s01 =
        _mm512_add_epi64(_mm512_unpacklo_epi64(t[0], t[1]), _mm512_unpackhi_epi64(t[0], t[1]));
    const __m512i s23 =
        _mm512_add_epi64(_mm512_unpacklo_epi64(t[2], t[3]), _mm512_unpackhi_epi64(t[2], t[3]));
    // lanes 0, 2 of s01 and of s23, plus lanes 1, 3: [c0 c1 | c4 c5 | c2 c3 | c6 c7]
    const __m512i x = _mm512_shuffle_i64x2(s01, s23, 0x88);
    const __m512i y = _mm512_shuffle_i64x2(s01, s23, 0xDD);
    const __m512i r = _mm512_permutexvar_epi64(order, _mm512_add_epi64(x, y));
    const __m256i pc = _mm512_cvtepi64_epi32(r);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * n),
                        _mm256_sub_epi32(kv, _mm256_slli_epi32(pc, 1)));
  }
}

// K <= 32 * D (D <= 16 dwords; the rest of the row is zero padding in A and W alike): a
// 16-column strip's weights are gathered once per call into D registers, register d holding
// dword d of the 16 rows (one column per 32-bit lane), and every activation row streams past
// them: per row D x (broadcast dword d of the row, XOR, vpopcntd, add) leaves each column's
// count in its own lane, so no horizontal reduction is needed (the strip8 / tile16_k128
// kernels spend most of their instructions on it at this K). The gathers cost about as much
// as a few rows, so binary_gemm_avx512 uses this only for calls with enough rows.
template <int D>
BIFSMN_AVX512 void strip16d(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                            std::size_t m, std::size_t n, std::size_t k,
                            std::size_t stride) noexcept {
  const int* w32 = reinterpret_cast<const int*>(w);
  const int* a32 = reinterpret_cast<const int*>(a);
  const int s32 = static_cast<int>(2 * stride);  // dwords per row
  const __m512i rows = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(s32));
  __m512i wv[D];
  for (int d = 0; d < D; ++d) {
    wv[d] = _mm512_i32gather_epi32(_mm512_add_epi32(rows, _mm512_set1_epi32(d)), w32, 4);
  }
  const __m512i kv = _mm512_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const int* ai = a32 + i * static_cast<std::size_t>(s32);
    __m512i acc = _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(ai[0]), wv[0]));
    for (int d = 1; d < D; ++d) {
      acc = _mm512_add_epi32(
          acc, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(ai[d]), wv[d])));
    }
    _mm512_storeu_si512(out + i * n, _mm512_sub_epi32(kv, _mm512_slli_epi32(acc, 1)));
  }
}

using Strip16dFn = void (*)(const std::uint64_t*, const std::uint64_t*, std::int32_t*,
                            std::size_t, std::size_t, std::size_t, std::size_t) noexcept;

template <int... Ds>
constexpr Strip16dFn strip16d_table(int d, std::integer_sequence<int, Ds...>) {
  constexpr Strip16dFn fns[] = {nullptr, &strip16d<Ds + 1>...};
  return fns[d];
}

// The prepared layout's strips (prepare_avx512): no gathers, so any number of rows; the last
// strip's missing columns are zero rows in the copy and are not stored.
template <int D>
BIFSMN_AVX512 void strip16p(const std::uint64_t* a, const std::uint64_t* wp, std::int32_t* out,
                            std::size_t m, std::size_t n, std::size_t k, std::size_t stride,
                            __mmask16 keep) noexcept {
  const int* a32 = reinterpret_cast<const int*>(a);
  const std::size_t s32 = 2 * stride;
  __m512i wv[D];
  for (int d = 0; d < D; ++d) wv[d] = _mm512_loadu_si512(wp + 8 * d);
  const __m512i kv = _mm512_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const int* ai = a32 + i * s32;
    __m512i acc = _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(ai[0]), wv[0]));
    for (int d = 1; d < D; ++d) {
      acc = _mm512_add_epi32(
          acc, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(ai[d]), wv[d])));
    }
    const __m512i dots = _mm512_sub_epi32(kv, _mm512_slli_epi32(acc, 1));
    if (keep == 0xFFFF) {
      _mm512_storeu_si512(out + i * n, dots);
    } else {
      _mm512_mask_storeu_epi32(out + i * n, keep, dots);
    }
  }
}

using Strip16pFn = void (*)(const std::uint64_t*, const std::uint64_t*, std::int32_t*,
                            std::size_t, std::size_t, std::size_t, std::size_t,
                            __mmask16) noexcept;

template <int... Ds>
constexpr Strip16pFn strip16p_table(int d, std::integer_sequence<int, Ds...>) {
  constexpr Strip16pFn fns[] = {nullptr, &strip16p<Ds + 1>...};
  return fns[d];
}

constexpr std::size_t kMaxPreparedDwords = 16;  // K <= 512: a strip's weights in 16 registers

BIFSMN_AVX512 std::int32_t dot_scalar(const std::uint64_t* a, const std::uint64_t* w,
                                      std::size_t k, std::size_t stride) noexcept {
  long long pc = 0;
  for (std::size_t i = 0; i < stride; ++i) pc += _mm_popcnt_u64(a[i] ^ w[i]);
  return static_cast<std::int32_t>(static_cast<long long>(k) - 2 * pc);
}

// ---- float GEMM -----------------------------------------------------------
// The FP32 paths (the teacher, the two-stage detector's verifier) spend ~80 % of their time
// here. Dot-product form as the AVX2 kernel (W stays N x K as in nn.Linear), on 512-bit
// vectors: 4 x rows x 4 w rows = 16 zmm accumulators, 8 loads per 16 FMAs (the AVX2 tile
// has 8 accumulators of 8 lanes and 6 loads per 8 FMAs). The K tail is a masked load, which
// touches no memory past the row. Each output is a float32 sum in a different order than the
// AVX2 kernel's, so FP logits differ from it by float rounding (~1e-6), as every kernel's do.
constexpr int kFltMR = 4;
constexpr int kFltNR = 4;
constexpr std::size_t kFloatsPerZmm = 16;

// The four totals of a row's four accumulators: fold each 512-bit sum to 256 bits, then two
// horizontal-add levels and a 128-bit fold.
BIFSMN_AVX512 inline __m256 fold_zmm(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v),
                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

BIFSMN_AVX512 inline __m128 sum4_zmm(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(fold_zmm(a0), fold_zmm(a1)),
                                  _mm256_hadd_ps(fold_zmm(a2), fold_zmm(a3)));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

template <int MR, int NR>
BIFSMN_AVX512 void float_tile512(const float* x, const float* w, const float* bias, float* y,
                                 std::size_t n, std::size_t k) noexcept {
  __m512 acc[MR][4];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  std::size_t t = 0;
  for (; t + kFloatsPerZmm <= k; t += kFloatsPerZmm) {
    __m512 xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = _mm512_loadu_ps(x + i * k + t);
    for (int j = 0; j < NR; ++j) {
      const __m512 wv = _mm512_loadu_ps(w + j * k + t);
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  if (t < k) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - t)) - 1u);
    __m512 xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * k + t);
    for (int j = 0; j < NR; ++j) {
      const __m512 wv = _mm512_maskz_loadu_ps(mask, w + j * k + t);
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  const __m128 bv = tile_bias<NR>(bias);
  for (int i = 0; i < MR; ++i) {
    const __m128 r = _mm_add_ps(sum4_zmm(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), bv);
    store_tile_row<NR>(y + i * n, r);
  }
}

// Float GEMM on packed panels (float_gemm_kn): kernels_avx2.cc's outer-product tiles on 16-float
// vectors, 8 rows x 2 vectors (16 accumulators: one whole 32-column panel); a column tail's bias
// is loaded and its output stored under a mask.
constexpr int kKnMR = 8, kKnNV = 2;

template <int MR, int NV, bool Tail>
BIFSMN_AVX512 void kn_tile512(const float* x, const float* w, const float* bias, float* y,
                              std::size_t n, std::size_t k, std::size_t last) noexcept {
  const __mmask16 mask = static_cast<__mmask16>((1u << last) - 1u);
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 4
  for (std::size_t t = 0; t < k; ++t) {
    const float* wr = w + t * kKnPanel;
    __m512 wv[NV];
    for (int v = 0; v < NV; ++v) {
      wv[v] = _mm512_loadu_ps(wr + 16 * v);
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(x[i * k + t]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, wv[v], acc[i][v]);
    }
  }
  __m512 bv[NV];
  for (int v = 0; v < NV; ++v) {
    if (bias == nullptr) {
      bv[v] = _mm512_setzero_ps();
    } else {
      bv[v] = Tail && v == NV - 1 ? _mm512_maskz_loadu_ps(mask, bias + 16 * v)
                                  : _mm512_loadu_ps(bias + 16 * v);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) {
      const __m512 r = _mm512_add_ps(acc[i][v], bv[v]);
      if (Tail && v == NV - 1) {
        _mm512_mask_storeu_ps(y + i * n + 16 * v, mask, r);
      } else {
        _mm512_storeu_ps(y + i * n + 16 * v, r);
      }
    }
  }
}

template <int NV, bool Tail, int R = kKnMR - 1>
void kn_rows_left512(const float* x, const float* w, const float* bias, float* y,
                     std::size_t left, std::size_t n, std::size_t k, std::size_t last) noexcept {
  if constexpr (R > 0) {
    if (left == R) {
      kn_tile512<R, NV, Tail>(x, w, bias, y, n, k, last);
    } else {
      kn_rows_left512<NV, Tail, R - 1>(x, w, bias, y, left, n, k, last);
    }
  }
}

template <int NV, bool Tail>
void kn_strip512(const float* x, const float* w, const float* bias, float* y, std::size_t m,
                 std::size_t n, std::size_t k, std::size_t last) noexcept {
  std::size_t i = 0;
  for (; i + kKnMR <= m; i += kKnMR) {
    kn_tile512<kKnMR, NV, Tail>(x + i * k, w, bias, y + i * n, n, k, last);
  }
  kn_rows_left512<NV, Tail>(x + i * k, w, bias, y + i * n, m - i, n, k, last);
}

}  // namespace

void float_gemm_avx512(const float* x, const float* w, const float* bias, float* y,
                       std::size_t m, std::size_t n, std::size_t k) noexcept {
  for_each_tile<kFltMR, kFltNR>(m, n, [&](auto mr, auto nr, std::size_t i, std::size_t j) {
    float_tile512<decltype(mr)::value, decltype(nr)::value>(
        x + i * k, w + j * k, bias != nullptr ? bias + j : nullptr, y + i * n + j, n, k);
  });
}

void float_gemm_kn_avx512(const float* x, const float* wp, const float* bias, float* y,
                          std::size_t m, std::size_t n, std::size_t k) noexcept {
  if (m == 0) return;
  // Panels outer-most: a panel (K x 32 floats, contiguous) stays in L1 while the rows pass.
  static_assert(kKnPanel == 16 * kKnNV, "one tile covers a panel's columns");
  for (std::size_t j = 0; j < n; j += kKnPanel) {
    const float* w = wp + j * k;  // panel j / kKnPanel
    const float* bj = bias != nullptr ? bias + j : nullptr;
    const std::size_t rem = n - j;
    if (rem >= kKnPanel) {
      kn_strip512<kKnNV, false>(x, w, bj, y + j, m, n, k, 16);
    } else if (rem > 16) {
      kn_strip512<2, true>(x, w, bj, y + j, m, n, k, rem - 16);
    } else {
      kn_strip512<1, true>(x, w, bj, y + j, m, n, k, rem);
    }
  }
}


BIFSMN_AVX512 void binary_gemm_avx512(const std::uint64_t* a, const std::uint64_t* w,
                                      std::int32_t* out, std::size_t m, std::size_t n,
                                      std::size_t k) noexcept {
  if (m == 0 || n == 0) return;
  const std::size_t stride = packed_row_words(k);
  std::size_t j = 0;
  // Enough rows to amortize the gathers, few enough dwords to keep the strip in registers.
  const std::size_t dwords = (k + 31) / 32;
  if (m >= 8 && dwords <= 16) {
    const Strip16dFn fn = strip16d_table(static_cast<int>(dwords),
                                         std::make_integer_sequence<int, 16>{});
    for (; j + 16 <= n; j += 16) fn(a, w + j * stride, out + j, m, n, k, stride);
  }
  // Column strips outer-most: the strip's weight rows stay in L1 while the
  // few activation rows stream past.
  if (k <= 128) {
    for (; j + 16 <= n; j += 16) {
      const std::uint64_t* ws = w + j * stride;
      std::size_t i = 0;
      for (; i + 4 <= m; i += 4) tile16_k128<4>(a + i * stride, ws, out + i * n + j, n, k, stride);
      switch (m - i) {
        case 3: tile16_k128<3>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
        case 2: tile16_k128<2>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
        case 1: tile16_k128<1>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
        default: break;
      }
    }
  }
  // weights of a strip held in registers (K <= 1024): 4, 8, 12 or 16 of the 32 zmm registers
  switch (stride / kWordsPerHalf) {
    case 1: for (; j + 8 <= n; j += 8) strip8<1>(a, w + j * stride, out + j, m, n, k); break;
    case 2: for (; j + 8 <= n; j += 8) strip8<2>(a, w + j * stride, out + j, m, n, k); break;
    case 3: for (; j + 8 <= n; j += 8) strip8<3>(a, w + j * stride, out + j, m, n, k); break;
    case 4: for (; j + 8 <= n; j += 8) strip8<4>(a, w + j * stride, out + j, m, n, k); break;
    default: break;
  }
  for (; j + 8 <= n; j += 8) {
    const std::uint64_t* ws = w + j * stride;
    std::size_t i = 0;
    for (; i + 4 <= m; i += 4) tile8<4>(a + i * stride, ws, out + i * n + j, n, k, stride);
    switch (m - i) {
      case 3: tile8<3>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
      case 2: tile8<2>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
      case 1: tile8<1>(a + i * stride, ws, out + i * n + j, n, k, stride); break;
      default: break;
    }
  }
  for (; j < n; ++j) {
    for (std::size_t i = 0; i < m; ++i) {
      out[i * n + j] = dot_scalar(a + i * stride, w + j * stride, k, stride);
    }
  }
}

std::size_t prepared_words_avx512(std::size_t n, std::size_t k) noexcept {
  const std::size_t dwords = (k + 31) / 32;
  if (k == 0 || n == 0 || dwords > kMaxPreparedDwords) return 0;
  return (n + 15) / 16 * dwords * 8;  // strips x dwords x 16 lanes of 32 bits
}

void prepare_avx512(const std::uint64_t* w, std::size_t n, std::size_t k,
                    std::uint64_t* out) noexcept {
  const std::size_t dwords = (k + 31) / 32, s32 = 2 * packed_row_words(k);
  const auto* w32 = reinterpret_cast<const std::uint32_t*>(w);
  auto* o32 = reinterpret_cast<std::uint32_t*>(out);
  for (std::size_t s = 0; s < (n + 15) / 16; ++s) {
    for (std::size_t d = 0; d < dwords; ++d) {
      for (std::size_t c = 0; c < 16; ++c) {
        const std::size_t row = 16 * s + c;
        o32[(s * dwords + d) * 16 + c] = row < n ? w32[row * s32 + d] : 0u;
      }
    }
  }
}

BIFSMN_AVX512 void binary_gemm_prepared_avx512(const std::uint64_t* a, const std::uint64_t* wp,
                                               std::int32_t* out, std::size_t m, std::size_t n,
                                               std::size_t k) noexcept {
  if (m == 0 || n == 0) return;
  const std::size_t dwords = (k + 31) / 32, stride = packed_row_words(k);
  const Strip16pFn fn =
      strip16p_table(static_cast<int>(dwords), std::make_integer_sequence<int, 16>{});
  for (std::size_t j = 0; j < n; j += 16) {
    const std::size_t cols = n - j < 16 ? n - j : 16;
    const __mmask16 keep = static_cast<__mmask16>((1u << cols) - 1u);
    fn(a, wp + (j / 16) * dwords * 8, out + j, m, n, k, stride, keep);
  }
}

}  // namespace bifsmn::detail

#endif  // __x86_64__

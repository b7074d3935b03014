// x86-64 AVX2 kernels. Only these functions use AVX2/FMA, through target
// attributes rather than per-file -mavx2: that keeps inline functions and
// templates from shared headers (compiled here too) free of AVX2 code, so the
// library still runs on x86-64 CPUs without it; dispatch.cc checks the CPU
// before this kernel is ever called.
#if defined(__x86_64__)

#include <immintrin.h>

#include "bifsmn/bitpack.h"
#include "float_tile_io.h"
#include "bifsmn/kernels.h"
#include "kernel_impls.h"
#include "tiling.h"

#define BIFSMN_AVX2 __attribute__((target("avx2,fma,popcnt")))

namespace bifsmn::detail {
namespace {

// ---- binary GEMM ----------------------------------------------------------
// Popcount by nibble lookup (vpshufb), 8-bit counts summed per byte lane over
// up to kChunk vectors, then vpsadbw folds bytes into 64-bit lanes. A tile of
// MR x NR outputs keeps MR * NR byte accumulators live across the K loop
// (2 x 4 = 8 of the 16 ymm registers, plus inputs, LUT and mask).
constexpr int kBinMR = 2;
constexpr int kBinNR = 4;
// Each vector adds at most 8 to a byte lane: 31 * 8 = 248 <= 255.
constexpr std::size_t kChunk = 31;
constexpr std::size_t kWordsPerVec = 4;

// vpshufb table: popcount of each nibble 0..15, in both 128-bit lanes.
BIFSMN_AVX2 inline __m256i nibble_counts() {
  return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2,
                          3, 1, 2, 2, 3, 2, 3, 3, 4);
}

// out[0..7] = K - 2 * popcount (the +-1 dot product) for 8 int32 counts.
BIFSMN_AVX2 inline void store_dots8(std::int32_t* out, __m256i kv, __m256i pc) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_sub_epi32(kv, _mm256_slli_epi32(pc, 1)));
}

BIFSMN_AVX2 inline __m256i popcount_bytes(__m256i x, __m256i lut,
                                          __m256i low_nibble) {
  const __m256i lo = _mm256_and_si256(x, low_nibble);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low_nibble);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                         _mm256_shuffle_epi8(lut, hi));
}

// Totals of four byte-count vectors as four u32 in one xmm, in order. After
// vpsadbw every 64-bit lane is < 2^16, so pairs of vectors share 64-bit
// lanes as (lo32, hi32) and one blend + one 128-bit add finish the job:
// about half the shuffles of four separate horizontal sums.
BIFSMN_AVX2 inline __m128i sum4_bytes(__m256i c0, __m256i c1, __m256i c2,
                                      __m256i c3) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i s0 = _mm256_sad_epu8(c0, zero);
  const __m256i s1 = _mm256_sad_epu8(c1, zero);
  const __m256i s2 = _mm256_sad_epu8(c2, zero);
  const __m256i s3 = _mm256_sad_epu8(c3, zero);
  // 32-bit lanes per 128-bit half: [s0.a, s1.a, s0.b, s1.b]
  __m256i s01 = _mm256_or_si256(s0, _mm256_slli_epi64(s1, 32));
  __m256i s23 = _mm256_or_si256(s2, _mm256_slli_epi64(s3, 32));
  // Add the two 64-bit halves: [s0.a+s0.b, s1.a+s1.b, same, same]
  s01 = _mm256_add_epi32(s01, _mm256_shuffle_epi32(s01, 0x4E));
  s23 = _mm256_add_epi32(s23, _mm256_shuffle_epi32(s23, 0x4E));
  // [s0, s1, s2, s3] per 128-bit half, then add the halves.
  const __m256i s = _mm256_blend_epi32(s01, s23, 0xCC);
  return _mm_add_epi32(_mm256_castsi256_si128(s),
                       _mm256_extracti128_si256(s, 1));
}

template <int MR, int NR>
BIFSMN_AVX2 void binary_tile(const std::uint64_t* a, const std::uint64_t* w,
                             std::int32_t* out, std::size_t n, std::size_t k,
                             std::size_t stride) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  const std::size_t vecs = stride / kWordsPerVec;

  __m128i total[MR];
  for (int i = 0; i < MR; ++i) total[i] = _mm_setzero_si128();
  for (std::size_t v0 = 0; v0 < vecs; v0 += kChunk) {
    const std::size_t v1 = vecs - v0 < kChunk ? vecs : v0 + kChunk;
    // Always four columns so sum4_bytes applies; unused ones stay zero.
    __m256i acc[MR][4];
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_si256();
    }
    for (std::size_t v = v0; v < v1; ++v) {
      __m256i av[MR];
      for (int i = 0; i < MR; ++i) {
        av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            a + i * stride + v * kWordsPerVec));
      }
      for (int j = 0; j < NR; ++j) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            w + j * stride + v * kWordsPerVec));
        for (int i = 0; i < MR; ++i) {
          acc[i][j] = _mm256_add_epi8(
              acc[i][j],
              popcount_bytes(_mm256_xor_si256(av[i], wv), lut, low_nibble));
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      total[i] = _mm_add_epi32(
          total[i], sum4_bytes(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    }
  }

  const __m128i kv = _mm_set1_epi32(static_cast<int>(k));
  for (int i = 0; i < MR; ++i) {
    const __m128i dot = _mm_sub_epi32(kv, _mm_slli_epi32(total[i], 1));
    if constexpr (NR == 4) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * n), dot);
    } else {
      alignas(16) std::int32_t tmp[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), dot);
      for (int j = 0; j < NR; ++j) out[i * n + j] = tmp[j];
    }
  }
}

// ---- register-held weight strips (K <= 512) --------------------------------
// In this network most binary GEMMs are short in K (fc_in 128 bits, fc_out 256) and long in
// rows, so the 2 x 4 tile spent more instructions loading weights and reducing byte counts
// than counting. For one 256-bit row step (stride 4 words) a strip's weights are loaded into
// 8 ymm registers once and every activation row streams past them; the 8 byte-count vectors
// of a row are reduced together (vpsadbw, pairs packed into 32-bit lanes, a 64-bit
// transpose-add, one lane permute): ~3 instructions per output instead of ~4 + reloads.

// 32-bit per-lane sums of the vpsadbw qwords of c0..c3: [c0 c1 c2 c3 | same for the high lane]
// as [lo-lane sums | hi-lane sums] with each 128-bit lane's two qwords added.
BIFSMN_AVX2 inline __m256i lane_sums4(__m256i c0, __m256i c1, __m256i c2, __m256i c3) {
  const __m256i zero = _mm256_setzero_si256();
  // each qword < 2^16: pack two vectors' qwords into the 32-bit halves
  const __m256i t01 = _mm256_or_si256(_mm256_sad_epu8(c0, zero),
                                      _mm256_slli_epi64(_mm256_sad_epu8(c1, zero), 32));
  const __m256i t23 = _mm256_or_si256(_mm256_sad_epu8(c2, zero),
                                      _mm256_slli_epi64(_mm256_sad_epu8(c3, zero), 32));
  // [c0.q0 c1.q0 c2.q0 c3.q0 | c0.q2 ...] + [c0.q1 c1.q1 c2.q1 c3.q1 | c0.q3 ...]
  return _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
}

// K <= 128 (2 words of the 4-word stride hold bits): one register holds 128 bits of two
// weight rows, columns p and p + 8, so a 16-column strip takes 8 registers and no popcount
// work is spent on padding.
BIFSMN_AVX2 void strip16_k128(const std::uint64_t* a, const std::uint64_t* w,
                              std::int32_t* out, std::size_t m, std::size_t n, std::size_t k,
                              std::size_t stride) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  __m256i wv[8];
  for (int p = 0; p < 8; ++p) {
    wv[p] = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + p * stride))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + (p + 8) * stride)), 1);
  }
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const __m256i av = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i * stride)));
    __m256i c[8];
    for (int p = 0; p < 8; ++p) c[p] = popcount_bytes(_mm256_xor_si256(av, wv[p]), lut, low_nibble);
    // [c0..c3 | c8..c11] and [c4..c7 | c12..c15]
    const __m256i lo = lane_sums4(c[0], c[1], c[2], c[3]);
    const __m256i hi = lane_sums4(c[4], c[5], c[6], c[7]);
    const __m256i o0 = _mm256_permute2x128_si256(lo, hi, 0x20);
    const __m256i o1 = _mm256_permute2x128_si256(lo, hi, 0x31);
    store_dots8(out + i * n, kv, o0);
    store_dots8(out + i * n + 8, kv, o1);
  }
}

// 128 < K <= 256 (stride 4 words, one 256-bit step): an 8-column strip in 8 registers.
BIFSMN_AVX2 void strip8_k256(const std::uint64_t* a, const std::uint64_t* w,
                             std::int32_t* out, std::size_t m, std::size_t n, std::size_t k,
                             std::size_t stride) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  __m256i wv[8];
  for (int p = 0; p < 8; ++p) {
    wv[p] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * stride));
  }
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * stride));
    __m256i c[8];
    for (int p = 0; p < 8; ++p) c[p] = popcount_bytes(_mm256_xor_si256(av, wv[p]), lut, low_nibble);
    // [c0..c3 (q0+q1) | c0..c3 (q2+q3)] and the same for c4..c7
    const __m256i lo = lane_sums4(c[0], c[1], c[2], c[3]);
    const __m256i hi = lane_sums4(c[4], c[5], c[6], c[7]);
    const __m256i r = _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20),
                                       _mm256_permute2x128_si256(lo, hi, 0x31));
    store_dots8(out + i * n, kv, r);
  }
}

// 256 < K <= 512 (stride 8 words, two 256-bit steps; conv2's K = 400 and fc1's K = 320 in the
// fbank40 models): a 4-column strip's two halves in 8 registers. Each column's two byte-count
// vectors are added (each lane <= 16), the four columns reduced together as above and the two
// 128-bit lanes added: 4 outputs per row, with no weight reloads and no per-tile reduction of
// the 2 x 4 tile (which ran this shape at about a third of the roofline).
BIFSMN_AVX2 void strip4_k512(const std::uint64_t* a, const std::uint64_t* w,
                             std::int32_t* out, std::size_t m, std::size_t n, std::size_t k,
                             std::size_t stride) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  __m256i w0[4], w1[4];
  for (int p = 0; p < 4; ++p) {
    w0[p] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * stride));
    w1[p] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * stride + kWordsPerVec));
  }
  const __m128i kv = _mm_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * stride));
    const __m256i a1 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * stride + kWordsPerVec));
    __m256i c[4];
    for (int p = 0; p < 4; ++p) {
      c[p] = _mm256_add_epi8(popcount_bytes(_mm256_xor_si256(a0, w0[p]), lut, low_nibble),
                             popcount_bytes(_mm256_xor_si256(a1, w1[p]), lut, low_nibble));
    }
    const __m256i r = lane_sums4(c[0], c[1], c[2], c[3]);
    const __m128i pc = _mm_add_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * n),
                     _mm_sub_epi32(kv, _mm_slli_epi32(pc, 1)));
  }
}

// ---- prepared weights: nibble planes (K <= 512) -------------------------------------------
// The popcount of a ^ w by nibble lookup needs, per 256-bit step, the xor, the two nibble masks
// and the shift that makes the high nibbles. Masking commutes with xor ((a ^ w) & m = (a & m) ^
// (w & m)), so the weights are split into low- and high-nibble planes once, at load, and each
// activation row once per strip: two xors and two lookups per step instead of xor, shift, two
// masks and two lookups. The same byte counts, so the same outputs as the strips above.
// Layout (prepare_avx2): the columns in strips of prep_cols(k) (16, 8 or 4); each strip is
// kPrepVecs 256-bit vectors, in the order the strip kernel reads them; columns past n are zero
// rows whose outputs are not stored.
constexpr std::uint64_t kLowNibbles = 0x0f0f0f0f0f0f0f0fULL;
constexpr std::size_t kPrepVecs = 16;

constexpr std::size_t prep_cols(std::size_t k) noexcept {
  return k <= 128 ? 16 : k <= 256 ? 8 : 4;
}

// Eight 32-bit results of `cols` (<= 8) columns of one row: a whole-vector store, or through a
// buffer for the last strip's columns.
BIFSMN_AVX2 inline void store_cols8(std::int32_t* out, __m256i dots, std::size_t cols) {
  if (cols >= 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), dots);
    return;
  }
  alignas(32) std::int32_t tmp[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), dots);
  for (std::size_t j = 0; j < cols; ++j) out[j] = tmp[j];
}

BIFSMN_AVX2 inline __m256i load_vec(const std::uint64_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Byte counts of (a ^ w) for one 256-bit step from nibble planes: alo / ahi are a's, wlo / whi
// point at w's.
BIFSMN_AVX2 inline __m256i counts_split(__m256i alo, __m256i ahi, const std::uint64_t* wlo,
                                        const std::uint64_t* whi, __m256i lut) {
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(alo, load_vec(wlo))),
                         _mm256_shuffle_epi8(lut, _mm256_xor_si256(ahi, load_vec(whi))));
}

// K <= 256, one 256-bit step per row. K128 (K <= 128): vector p holds columns p and p + 8 (128
// bits each; each activation row is broadcast to both lanes), 16 columns per strip; otherwise
// vector p is column p, 8 columns. Vectors 0-7 are low nibbles, 8-15 the high ones.
template <bool K128>
BIFSMN_AVX2 void strip_k256_prep(const std::uint64_t* a, const std::uint64_t* wp,
                                 std::int32_t* out, std::size_t m, std::size_t n, std::size_t k,
                                 std::size_t stride, std::size_t cols) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const __m256i av = K128 ? _mm256_broadcastsi128_si256(_mm_loadu_si128(
                                  reinterpret_cast<const __m128i*>(a + i * stride)))
                            : load_vec(a + i * stride);
    const __m256i alo = _mm256_and_si256(av, low_nibble);
    const __m256i ahi = _mm256_and_si256(_mm256_srli_epi16(av, 4), low_nibble);
    __m256i c[8];
    for (int p = 0; p < 8; ++p) {
      c[p] = counts_split(alo, ahi, wp + p * kWordsPerVec, wp + (8 + p) * kWordsPerVec, lut);
    }
    // [c0..c3 | c0..c3 high lane] and the same for c4..c7: per lane, the four columns' sums
    const __m256i lo = lane_sums4(c[0], c[1], c[2], c[3]);
    const __m256i hi = lane_sums4(c[4], c[5], c[6], c[7]);
    const __m256i o0 = _mm256_permute2x128_si256(lo, hi, 0x20);
    const __m256i o1 = _mm256_permute2x128_si256(lo, hi, 0x31);
    std::int32_t* row = out + i * n;
    if constexpr (K128) {  // low lanes: columns 0-7, high lanes: 8-15
      store_cols8(row, _mm256_sub_epi32(kv, _mm256_slli_epi32(o0, 1)), cols);
      if (cols > 8) store_cols8(row + 8, _mm256_sub_epi32(kv, _mm256_slli_epi32(o1, 1)), cols - 8);
    } else {  // the two 128-bit halves of each column's bits
      const __m256i r = _mm256_add_epi32(o0, o1);
      store_cols8(row, _mm256_sub_epi32(kv, _mm256_slli_epi32(r, 1)), cols);
    }
  }
}

// 256 < K <= 512: column p's vectors 4p .. 4p + 3 are step 0 low, step 1 low, step 0 high,
// step 1 high.
BIFSMN_AVX2 void strip4_k512_prep(const std::uint64_t* a, const std::uint64_t* wp,
                                  std::int32_t* out, std::size_t m, std::size_t n, std::size_t k,
                                  std::size_t stride, std::size_t cols) noexcept {
  const __m256i lut = nibble_counts();
  const __m256i low_nibble = _mm256_set1_epi8(0x0f);
  const __m128i kv = _mm_set1_epi32(static_cast<int>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const __m256i a0 = load_vec(a + i * stride);
    const __m256i a1 = load_vec(a + i * stride + kWordsPerVec);
    const __m256i a0lo = _mm256_and_si256(a0, low_nibble);
    const __m256i a0hi = _mm256_and_si256(_mm256_srli_epi16(a0, 4), low_nibble);
    const __m256i a1lo = _mm256_and_si256(a1, low_nibble);
    const __m256i a1hi = _mm256_and_si256(_mm256_srli_epi16(a1, 4), low_nibble);
    __m256i c[4];
    for (int p = 0; p < 4; ++p) {
      const std::uint64_t* wc = wp + 4 * p * kWordsPerVec;
      c[p] = _mm256_add_epi8(
          counts_split(a0lo, a0hi, wc, wc + 2 * kWordsPerVec, lut),
          counts_split(a1lo, a1hi, wc + kWordsPerVec, wc + 3 * kWordsPerVec, lut));
    }
    const __m256i r = lane_sums4(c[0], c[1], c[2], c[3]);
    const __m128i pc = _mm_add_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    const __m128i dots = _mm_sub_epi32(kv, _mm_slli_epi32(pc, 1));
    std::int32_t* row = out + i * n;
    if (cols >= 4) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(row), dots);
    } else {
      alignas(16) std::int32_t tmp[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), dots);
      for (std::size_t j = 0; j < cols; ++j) row[j] = tmp[j];
    }
  }
}

// ---- float GEMM -----------------------------------------------------------
// Dot-product form (W stays N x K as in nn.Linear): 2 x rows x 4 w rows = 8
// ymm accumulators, enough independent FMA chains to cover FMA latency on
// two FMA ports; 6 loads per 8 FMAs. The K tail uses a masked load, which
// does not touch memory past the end of the row.
constexpr int kFltMR = 2;
constexpr int kFltNR = 4;
constexpr std::size_t kFloatsPerVec = 8;

BIFSMN_AVX2 inline __m128 sum4_floats(__m256 a0, __m256 a1, __m256 a2,
                                      __m256 a3) {
  const __m256 s =
      _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

template <int MR, int NR>
BIFSMN_AVX2 void float_tile(const float* x, const float* w, const float* bias,
                            float* y, std::size_t n, std::size_t k) noexcept {
  __m256 acc[MR][4];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  std::size_t t = 0;
  for (; t + kFloatsPerVec <= k; t += kFloatsPerVec) {
    __m256 xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = _mm256_loadu_ps(x + i * k + t);
    for (int j = 0; j < NR; ++j) {
      const __m256 wv = _mm256_loadu_ps(w + j * k + t);
      for (int i = 0; i < MR; ++i) {
        acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
      }
    }
  }
  if (t < k) {
    const __m256i mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(static_cast<int>(k - t)),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = _mm256_maskload_ps(x + i * k + t, mask);
    for (int j = 0; j < NR; ++j) {
      const __m256 wv = _mm256_maskload_ps(w + j * k + t, mask);
      for (int i = 0; i < MR; ++i) {
        acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
      }
    }
  }

  const __m128 bv = tile_bias<NR>(bias);
  for (int i = 0; i < MR; ++i) {
    const __m128 r = _mm_add_ps(
        sum4_floats(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), bv);
    store_tile_row<NR>(y + i * n, r);
  }
}

// ---- float GEMM on packed panels (float_gemm_kn) ---------------------------
// Outer products: per k, NV vectors of a panel row (contiguous, zero past the matrix's last
// column) times one broadcast activation per row, accumulated in MR x NV registers: no
// horizontal sums (the dot-product tiles above spend a reduction per output). With Tail, the
// last vector holds `last` < 8 valid columns: its bias is loaded and its output stored under a
// mask.
constexpr int kKnMR = 6, kKnNV = 2;  // 12 accumulators + 2 weight vectors + 1 broadcast

template <int MR, int NV, bool Tail>
BIFSMN_AVX2 void kn_tile(const float* x, const float* w, const float* bias, float* y,
                         std::size_t n, std::size_t k, std::size_t last) noexcept {
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(last)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 acc[MR][NV];
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (std::size_t t = 0; t < k; ++t) {
    const float* wr = w + t * kKnPanel;
    __m256 wv[NV];
    for (int v = 0; v < NV; ++v) {
      wv[v] = _mm256_loadu_ps(wr + 8 * v);
    }
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(x + i * k + t);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, wv[v], acc[i][v]);
    }
  }
  __m256 bv[NV];
  for (int v = 0; v < NV; ++v) {
    if (bias == nullptr) {
      bv[v] = _mm256_setzero_ps();
    } else {
      bv[v] = Tail && v == NV - 1 ? _mm256_maskload_ps(bias + 8 * v, mask)
                                  : _mm256_loadu_ps(bias + 8 * v);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) {
      const __m256 r = _mm256_add_ps(acc[i][v], bv[v]);
      if (Tail && v == NV - 1) {
        _mm256_maskstore_ps(y + i * n + 8 * v, mask, r);
      } else {
        _mm256_storeu_ps(y + i * n + 8 * v, r);
      }
    }
  }
}

// The rows left after the full MR-row tiles of a strip (R = left, found at compile time).
template <int NV, bool Tail, int R = kKnMR - 1>
void kn_rows_left(const float* x, const float* w, const float* bias, float* y, std::size_t left,
                  std::size_t n, std::size_t k, std::size_t last) noexcept {
  if constexpr (R > 0) {
    if (left == R) {
      kn_tile<R, NV, Tail>(x, w, bias, y, n, k, last);
    } else {
      kn_rows_left<NV, Tail, R - 1>(x, w, bias, y, left, n, k, last);
    }
  }
}

// One strip of NV vectors of columns, every row.
// (7 or 8 rows left run as 4 + 3 or 4 + 4: a tile of 1-2 rows holds too few accumulators to
// hide the FMA latency; the sc12dev teacher has 8 rows.)
template <int NV, bool Tail>
void kn_strip(const float* x, const float* w, const float* bias, float* y, std::size_t m,
              std::size_t n, std::size_t k, std::size_t last) noexcept {
  std::size_t i = 0;
  while (m - i > kKnMR) {
    if (m - i == 7 || m - i == 8) {
      kn_tile<4, NV, Tail>(x + i * k, w, bias, y + i * n, n, k, last);
      i += 4;
    } else {
      kn_tile<kKnMR, NV, Tail>(x + i * k, w, bias, y + i * n, n, k, last);
      i += kKnMR;
    }
  }
  if (m - i == kKnMR) {
    kn_tile<kKnMR, NV, Tail>(x + i * k, w, bias, y + i * n, n, k, last);
  } else {
    kn_rows_left<NV, Tail>(x + i * k, w, bias, y + i * n, m - i, n, k, last);
  }
}

}  // namespace

void binary_gemm_avx2(const std::uint64_t* a, const std::uint64_t* w,
                      std::int32_t* out, std::size_t m, std::size_t n,
                      std::size_t k) noexcept {
  if (m == 0 || n == 0) return;
  const std::size_t stride = packed_row_words(k);
  std::size_t j = 0;
  if (stride == kWordsPerVec) {  // K <= 256: strips with their weights in registers
    if (k <= 128) {
      for (; j + 16 <= n; j += 16) strip16_k128(a, w + j * stride, out + j, m, n, k, stride);
    }
    for (; j + 8 <= n; j += 8) strip8_k256(a, w + j * stride, out + j, m, n, k, stride);
  }
  if (stride == 2 * kWordsPerVec) {  // 256 < K <= 512: 4-column strips in registers
    for (; j + 4 <= n; j += 4) strip4_k512(a, w + j * stride, out + j, m, n, k, stride);
  }
  for_each_tile<kBinMR, kBinNR>(m, n - j, [&](auto mr, auto nr, std::size_t i,
                                              std::size_t jj) {
    binary_tile<decltype(mr)::value, decltype(nr)::value>(
        a + i * stride, w + (j + jj) * stride, out + i * n + j + jj, n, k, stride);
  });
}

std::size_t prepared_words_avx2(std::size_t n, std::size_t k) noexcept {
  if (k == 0 || n == 0 || k > 512) return 0;
  const std::size_t cols = prep_cols(k);
  return (n + cols - 1) / cols * kPrepVecs * kWordsPerVec;
}

void prepare_avx2(const std::uint64_t* w, std::size_t n, std::size_t k,
                  std::uint64_t* out) noexcept {
  const std::size_t stride = packed_row_words(k), cols = prep_cols(k);
  const std::size_t strips = (n + cols - 1) / cols;
  const auto word = [&](std::size_t col, std::size_t q) -> std::uint64_t {
    return col < n && q < stride ? w[col * stride + q] : 0;
  };
  for (std::size_t s = 0; s < strips; ++s) {
    std::uint64_t* v = out + s * kPrepVecs * kWordsPerVec;  // the strip's 16 vectors
    const std::size_t c0 = s * cols;
    for (std::size_t p = 0; p < kPrepVecs; ++p) {
      for (std::size_t q = 0; q < kWordsPerVec; ++q) {
        std::uint64_t x = 0;
        bool high = false;
        if (cols == 16) {  // vector p % 8 holds columns p % 8 (words 0-1) and p % 8 + 8 (2-3)
          high = p >= 8;
          x = word(c0 + p % 8 + (q >= 2 ? 8 : 0), q % 2);
        } else if (cols == 8) {  // vector p % 8 is column p % 8
          high = p >= 8;
          x = word(c0 + p % 8, q);
        } else {  // column p / 4: step (p % 2), high plane for p % 4 >= 2
          high = p % 4 >= 2;
          x = word(c0 + p / 4, (p % 2) * kWordsPerVec + q);
        }
        v[p * kWordsPerVec + q] = (high ? x >> 4 : x) & kLowNibbles;
      }
    }
  }
}

void binary_gemm_prepared_avx2(const std::uint64_t* a, const std::uint64_t* wp,
                               std::int32_t* out, std::size_t m, std::size_t n,
                               std::size_t k) noexcept {
  if (m == 0 || n == 0) return;
  const std::size_t stride = packed_row_words(k), cols = prep_cols(k);
  const auto strip =
      cols == 16 ? strip_k256_prep<true> : cols == 8 ? strip_k256_prep<false> : strip4_k512_prep;
  for (std::size_t j = 0; j < n; j += cols) {
    strip(a, wp + (j / cols) * kPrepVecs * kWordsPerVec, out + j, m, n, k, stride,
          n - j < cols ? n - j : cols);
  }
}

void float_gemm_avx2(const float* x, const float* w, const float* bias,
                     float* y, std::size_t m, std::size_t n,
                     std::size_t k) noexcept {
  for_each_tile<kFltMR, kFltNR>(m, n, [&](auto mr, auto nr, std::size_t i,
                                          std::size_t j) {
    float_tile<decltype(mr)::value, decltype(nr)::value>(
        x + i * k, w + j * k, bias != nullptr ? bias + j : nullptr,
        y + i * n + j, n, k);
  });
}

void float_gemm_kn_avx2(const float* x, const float* wp, const float* bias,
                        float* y, std::size_t m, std::size_t n,
                        std::size_t k) noexcept {
  if (m == 0) return;
  // Strips of 16 columns (half a panel) outer-most: the strip (K x 16 floats) stays in L1 while
  // the rows pass.
  constexpr std::size_t kStrip = 8 * kKnNV;
  static_assert(kKnPanel % kStrip == 0, "a strip lies in one panel");
  for (std::size_t j = 0; j < n; j += kStrip) {
    const float* w = wp + (j / kKnPanel) * k * kKnPanel + j % kKnPanel;
    const float* bj = bias != nullptr ? bias + j : nullptr;
    const std::size_t rem = n - j;
    if (rem >= kStrip) {
      kn_strip<kKnNV, false>(x, w, bj, y + j, m, n, k, 8);
    } else if (rem > 8) {
      kn_strip<2, true>(x, w, bj, y + j, m, n, k, rem - 8);
    } else {
      kn_strip<1, true>(x, w, bj, y + j, m, n, k, rem);
    }
  }
}

}  // namespace bifsmn::detail

#endif  // __x86_64__

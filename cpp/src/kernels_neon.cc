// ARMv8 NEON binary kernel (aarch64 only; NEON is part of the base ISA there,
// so no runtime check is needed). Float GEMM on aarch64 uses the portable
// kernel, which the compiler vectorizes with NEON.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "bifsmn/bitpack.h"
#include "kernel_impls.h"
#include "tiling.h"

namespace bifsmn::detail {
namespace {

// 4 x 4 tile: 16 u16x8 accumulators + 4 activation vectors + 1 weight vector
// = 21 of the 32 q registers.
constexpr int kMR = 4;
constexpr int kNR = 4;
constexpr std::size_t kWordsPerVec = 2;
// vcntq_u8 gives <= 8 per byte, vpadalq_u8 adds two bytes: <= 16 per u16
// lane per vector, and 4095 * 16 <= 65535.
constexpr std::size_t kChunk = 4095;

// Totals of four u16 accumulators as four u32, in order: widen, then a
// pairwise-add tree (cheaper than four across-vector vaddlvq reductions).
inline uint32x4_t sum4(uint16x8_t c0, uint16x8_t c1, uint16x8_t c2,
                       uint16x8_t c3) {
  const uint32x4_t p01 = vpaddq_u32(vpaddlq_u16(c0), vpaddlq_u16(c1));
  const uint32x4_t p23 = vpaddq_u32(vpaddlq_u16(c2), vpaddlq_u16(c3));
  return vpaddq_u32(p01, p23);
}

template <int MR, int NR>
void binary_tile(const std::uint64_t* a, const std::uint64_t* w,
                 std::int32_t* out, std::size_t n, std::size_t k,
                 std::size_t stride) noexcept {
  // Only the 128-bit vectors that hold valid bits; the rest is zero padding.
  const std::size_t words = (k + kWordBits - 1) / kWordBits;
  const std::size_t vecs = (words + kWordsPerVec - 1) / kWordsPerVec;

  uint32x4_t total[MR];
  for (int i = 0; i < MR; ++i) total[i] = vdupq_n_u32(0);
  for (std::size_t v0 = 0; v0 < vecs; v0 += kChunk) {
    const std::size_t v1 = vecs - v0 < kChunk ? vecs : v0 + kChunk;
    // Always four columns so sum4 applies; unused ones stay zero.
    uint16x8_t acc[MR][4];
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < 4; ++j) acc[i][j] = vdupq_n_u16(0);
    }
    for (std::size_t v = v0; v < v1; ++v) {
      uint8x16_t av[MR];
      for (int i = 0; i < MR; ++i) {
        av[i] = vreinterpretq_u8_u64(
            vld1q_u64(a + i * stride + v * kWordsPerVec));
      }
      for (int j = 0; j < NR; ++j) {
        const uint8x16_t wv = vreinterpretq_u8_u64(
            vld1q_u64(w + j * stride + v * kWordsPerVec));
        for (int i = 0; i < MR; ++i) {
          acc[i][j] = vpadalq_u8(acc[i][j], vcntq_u8(veorq_u8(av[i], wv)));
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      total[i] = vaddq_u32(
          total[i], sum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    }
  }

  const int32x4_t kv = vdupq_n_s32(static_cast<std::int32_t>(k));
  for (int i = 0; i < MR; ++i) {
    const int32x4_t dot =
        vsubq_s32(kv, vshlq_n_s32(vreinterpretq_s32_u32(total[i]), 1));
    if constexpr (NR == 4) {
      vst1q_s32(out + i * n, dot);
    } else {
      std::int32_t tmp[4];
      vst1q_s32(tmp, dot);
      for (int j = 0; j < NR; ++j) out[i * n + j] = tmp[j];
    }
  }
}

}  // namespace

void binary_gemm_neon(const std::uint64_t* a, const std::uint64_t* w,
                      std::int32_t* out, std::size_t m, std::size_t n,
                      std::size_t k) noexcept {
  const std::size_t stride = packed_row_words(k);
  for_each_tile<kMR, kNR>(m, n, [&](auto mr, auto nr, std::size_t i,
                                    std::size_t j) {
    binary_tile<decltype(mr)::value, decltype(nr)::value>(
        a + i * stride, w + j * stride, out + i * n + j, n, k, stride);
  });
}

}  // namespace bifsmn::detail

#endif  // __aarch64__

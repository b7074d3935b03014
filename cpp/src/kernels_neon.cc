// NEON binary kernel. AArch64: NEON is part of the base ISA, so no runtime check is needed.
// 32-bit ARM (armhf, ARMv7+ with GCC: kernel_impls.h's BIFSMN_NEON_KERNEL): NEON is optional, so
// this file's code is compiled for it (GCC's target "fpu=neon", which GCC's arm_neon.h enables
// for its intrinsics the same way) and dispatch offers the kernel only where the CPU has NEON
// (HWCAP_NEON in getauxval(AT_HWCAP)); the four AArch64-only intrinsics it uses have 64-bit-half
// equivalents below. Float GEMM uses the portable kernel, which the compiler vectorizes with NEON
// on AArch64.
#include "kernel_impls.h"

#if defined(BIFSMN_NEON_KERNEL)

#include <arm_neon.h>

#if !defined(__aarch64__)
#include <sys/auxv.h>
#pragma GCC push_options
#pragma GCC target("fpu=neon")
#endif

#include "bifsmn/bitpack.h"
#include "tiling.h"

namespace bifsmn::detail {
namespace {

// Pairwise adds of two q registers (a's pairs, then b's) and the high half widened: AArch64's
// vpaddq / vmovl_high, built on ARMv7 from the 64-bit-half forms (the same lanes, the same sums).
#if defined(__aarch64__)
inline uint8x16_t padd_u8(uint8x16_t a, uint8x16_t b) { return vpaddq_u8(a, b); }
inline uint32x4_t padd_u32(uint32x4_t a, uint32x4_t b) { return vpaddq_u32(a, b); }
inline int32x4_t movl_high_s16(int16x8_t a) { return vmovl_high_s16(a); }
inline uint16x8_t movl_high_u8(uint8x16_t a) { return vmovl_high_u8(a); }
#else
inline uint8x16_t padd_u8(uint8x16_t a, uint8x16_t b) {
  return vcombine_u8(vpadd_u8(vget_low_u8(a), vget_high_u8(a)),
                     vpadd_u8(vget_low_u8(b), vget_high_u8(b)));
}
inline uint32x4_t padd_u32(uint32x4_t a, uint32x4_t b) {
  return vcombine_u32(vpadd_u32(vget_low_u32(a), vget_high_u32(a)),
                      vpadd_u32(vget_low_u32(b), vget_high_u32(b)));
}
inline int32x4_t movl_high_s16(int16x8_t a) { return vmovl_s16(vget_high_s16(a)); }
inline uint16x8_t movl_high_u8(uint8x16_t a) { return vmovl_u8(vget_high_u8(a)); }
#endif

// 4 x 4 tile: 16 u16x8 accumulators + 4 activation vectors + 1 weight vector
// = 21 of AArch64's 32 q registers (ARMv7 has 16: there the tile and the strips below spill,
// same results; not tuned for 32-bit ARM).
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
  const uint32x4_t p01 = padd_u32(vpaddlq_u16(c0), vpaddlq_u16(c1));
  const uint32x4_t p23 = padd_u32(vpaddlq_u16(c2), vpaddlq_u16(c3));
  return padd_u32(p01, p23);
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

// ---- register-held weight strips (K <= 512) --------------------------------
// The model's binary GEMMs are short in K (fc_in 128 bits, fc_out 256) and long in rows: the
// 4 x 4 tile reloaded its weights every 4 rows and widened every output's u16 counts on its own.
// Here a strip's weights stay in 16 q registers while every activation row streams past, and a
// row's counts are reduced by a pairwise-add tree on bytes (padd_u8: a column's total is at
// most 128 per byte for K <= 128, and at most 128 per byte pair for K <= 256), so 16 (8)
// outputs take 15 (7) adds before one widening.
inline uint8x16_t cnt_xor(uint8x16_t a, uint8x16_t w) { return vcntq_u8(veorq_u8(a, w)); }

// K - 2 * count for 8 u16 counts, as two int32x4 stores.
inline void store8(std::int32_t* out, uint16x8_t pc, int16x8_t kv) {
  const int16x8_t d = vsubq_s16(kv, vreinterpretq_s16_u16(vshlq_n_u16(pc, 1)));
  vst1q_s32(out, vmovl_s16(vget_low_s16(d)));
  vst1q_s32(out + 4, movl_high_s16(d));
}

// K <= 128: the row's bits are one q register; a 16-column strip is 16 registers.
void strip16_k128(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                  std::size_t m, std::size_t n, std::size_t k, std::size_t stride) noexcept {
  uint8x16_t wv[16];
  for (int p = 0; p < 16; ++p) wv[p] = vreinterpretq_u8_u64(vld1q_u64(w + p * stride));
  const int16x8_t kv = vdupq_n_s16(static_cast<std::int16_t>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const uint8x16_t av = vreinterpretq_u8_u64(vld1q_u64(a + i * stride));
    uint8x16_t q[4];
    for (int g = 0; g < 4; ++g) {  // columns 4g .. 4g + 3 -> 4 bytes each
      const uint8x16_t p0 = padd_u8(cnt_xor(av, wv[4 * g]), cnt_xor(av, wv[4 * g + 1]));
      const uint8x16_t p1 = padd_u8(cnt_xor(av, wv[4 * g + 2]), cnt_xor(av, wv[4 * g + 3]));
      q[g] = padd_u8(p0, p1);
    }
    // column j's total in byte j (<= 128)
    const uint8x16_t s = padd_u8(padd_u8(q[0], q[1]), padd_u8(q[2], q[3]));
    store8(out + i * n, vmovl_u8(vget_low_u8(s)), kv);
    store8(out + i * n + 8, movl_high_u8(s), kv);
  }
}

// 128 < K <= 256: the row's bits are two q registers; an 8-column strip is 16 registers.
void strip8_k256(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                 std::size_t m, std::size_t n, std::size_t k, std::size_t stride) noexcept {
  uint8x16_t w0[8], w1[8];
  for (int p = 0; p < 8; ++p) {
    w0[p] = vreinterpretq_u8_u64(vld1q_u64(w + p * stride));
    w1[p] = vreinterpretq_u8_u64(vld1q_u64(w + p * stride + kWordsPerVec));
  }
  const int16x8_t kv = vdupq_n_s16(static_cast<std::int16_t>(k));
  for (std::size_t i = 0; i < m; ++i) {
    const uint8x16_t a0 = vreinterpretq_u8_u64(vld1q_u64(a + i * stride));
    const uint8x16_t a1 = vreinterpretq_u8_u64(vld1q_u64(a + i * stride + kWordsPerVec));
    uint8x16_t c[8];  // <= 16 per byte
    for (int p = 0; p < 8; ++p) c[p] = vaddq_u8(cnt_xor(a0, w0[p]), cnt_xor(a1, w1[p]));
    const uint8x16_t q0 = padd_u8(padd_u8(c[0], c[1]), padd_u8(c[2], c[3]));
    const uint8x16_t q1 = padd_u8(padd_u8(c[4], c[5]), padd_u8(c[6], c[7]));
    // bytes 2j, 2j + 1 hold column j's two halves (<= 128 each); vpaddlq adds them in u16
    store8(out + i * n, vpaddlq_u8(padd_u8(q0, q1)), kv);
  }
}

// 256 < K <= 512 (conv2's K = 400 and fc1's K = 320 in the fbank40 models): the row's bits are
// four q registers; a 4-column strip is 16 registers. A column's four count vectors are added
// (<= 32 per byte), two pairwise-add levels leave each column's total in 4 bytes (<= 128 each),
// and two widening pairwise adds give the four u32 totals in order.
void strip4_k512(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out,
                 std::size_t m, std::size_t n, std::size_t k, std::size_t stride) noexcept {
  uint8x16_t wv[4][4];
  for (int p = 0; p < 4; ++p) {
    for (int h = 0; h < 4; ++h) {
      wv[p][h] = vreinterpretq_u8_u64(vld1q_u64(w + p * stride + h * kWordsPerVec));
    }
  }
  const int32x4_t kv = vdupq_n_s32(static_cast<std::int32_t>(k));
  for (std::size_t i = 0; i < m; ++i) {
    uint8x16_t av[4];
    for (int h = 0; h < 4; ++h) {
      av[h] = vreinterpretq_u8_u64(vld1q_u64(a + i * stride + h * kWordsPerVec));
    }
    uint8x16_t c[4];  // <= 32 per byte
    for (int p = 0; p < 4; ++p) {
      c[p] = vaddq_u8(vaddq_u8(cnt_xor(av[0], wv[p][0]), cnt_xor(av[1], wv[p][1])),
                      vaddq_u8(cnt_xor(av[2], wv[p][2]), cnt_xor(av[3], wv[p][3])));
    }
    // bytes 4j .. 4j + 3: column j (<= 128 each)
    const uint8x16_t q = padd_u8(padd_u8(c[0], c[1]), padd_u8(c[2], c[3]));
    const uint32x4_t pc = vpaddlq_u16(vpaddlq_u8(q));
    vst1q_s32(out + i * n, vsubq_s32(kv, vshlq_n_s32(vreinterpretq_s32_u32(pc), 1)));
  }
}

}  // namespace

void binary_gemm_neon(const std::uint64_t* a, const std::uint64_t* w,
                      std::int32_t* out, std::size_t m, std::size_t n,
                      std::size_t k) noexcept {
  if (m == 0 || n == 0) return;
  const std::size_t stride = packed_row_words(k);
  std::size_t j = 0;
  if (stride == 2 * kWordsPerVec) {  // K <= 256: strips with their weights in registers
    if (k <= 128) {
      for (; j + 16 <= n; j += 16) strip16_k128(a, w + j * stride, out + j, m, n, k, stride);
    }
    for (; j + 8 <= n; j += 8) strip8_k256(a, w + j * stride, out + j, m, n, k, stride);
  }
  if (stride == 4 * kWordsPerVec) {  // 256 < K <= 512: 4-column strips in registers
    for (; j + 4 <= n; j += 4) strip4_k512(a, w + j * stride, out + j, m, n, k, stride);
  }
  for_each_tile<kMR, kNR>(m, n - j, [&](auto mr, auto nr, std::size_t i,
                                        std::size_t jj) {
    binary_tile<decltype(mr)::value, decltype(nr)::value>(
        a + i * stride, w + (j + jj) * stride, out + i * n + j + jj, n, k, stride);
  });
}

}  // namespace bifsmn::detail

#if !defined(__aarch64__)
#pragma GCC pop_options
#endif

namespace bifsmn::detail {

// Outside the NEON target region: on 32-bit ARM this runs on CPUs without NEON.
#if defined(__aarch64__)
bool neon_supported() noexcept { return true; }
#else
bool neon_supported() noexcept {
  constexpr unsigned long kHwcapNeon = 1UL << 12;  // HWCAP_NEON (asm/hwcap.h, 32-bit ARM)
  return (getauxval(AT_HWCAP) & kHwcapNeon) != 0;
}
#endif

}  // namespace bifsmn::detail

#endif  // BIFSMN_NEON_KERNEL

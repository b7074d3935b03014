// NEON binary kernel. AArch64: NEON is part of the base ISA, so no runtime check is needed.
// 32-bit ARM (armhf, ARMv7+: kernel_impls.h's BIFSMN_NEON_KERNEL): NEON is optional, so dispatch
// offers the kernel only where the CPU has NEON (dispatch.cc's neon_supported, compiled without
// NEON). With GCC this file's code is compiled for NEON by a pragma (GCC's target "fpu=neon",
// which GCC's arm_neon.h enables for its intrinsics the same way); with clang, whose arm_neon.h
// needs NEON for the whole file, CMakeLists.txt compiles this file with -mfpu=neon. The code is
// integer only, so NEON's flushing of subnormal floats cannot touch it. The four AArch64-only
// intrinsics it uses have 64-bit-half equivalents below. Float GEMM uses the portable kernel,
// which the compiler vectorizes with NEON on AArch64.
#include "kernel_impls.h"

#if defined(BIFSMN_NEON_KERNEL)

#include <arm_neon.h>

#if !defined(__aarch64__) && !defined(__ARM_NEON)
#define BIFSMN_NEON_PRAGMA 1
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
// (used by 16-column strips only, which ARMv7's 8-register blocking does not instantiate)
[[maybe_unused]] inline uint16x8_t movl_high_u8(uint8x16_t a) {
  return vmovl_u8(vget_high_u8(a));
}
#endif

// MR x 4 tile: 4 MR u16x8 accumulators + MR activation vectors + 1 weight vector + MR totals.
// AArch64: 4 x 4, 25 of its 32 q registers; ARMv7 (16 q registers): 2 x 4, 13, where the 4 x 4
// tile spilled to the stack (session 67).
#if defined(__aarch64__)
constexpr int kMR = 4;
#else
constexpr int kMR = 2;
#endif
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
// Here a strip's weights stay in q registers while every activation row streams past, and a
// row's counts are reduced by a pairwise-add tree on bytes (padd_u8), so C outputs take C - 1
// adds before one widening. A strip is C columns of V q registers each (V = 1, 2, 4 for
// K <= 128, 256, 512), kStripRegs = C * V weight registers: 16 on AArch64 (32 q registers), 8 on
// ARMv7, whose 16 q registers the 16-register strips overflowed: GCC reloaded their weights
// from the stack on every row (session 67; llvm-mca's Cortex-A72 model in AArch32 predicts the
// 8-register strips 2.6 % more bops per cycle at K = 128, 19.5 % more at K = 256 and 3.7 % fewer
// at K = 512, where the spilling 4-column strip was the faster: docs/results/arm/armhf-blocking).
#if defined(__aarch64__)
constexpr int kStripRegs = 16;
#else
constexpr int kStripRegs = 8;
#endif
constexpr int kCols128 = kStripRegs, kCols256 = kStripRegs / 2, kCols512 = kStripRegs / 4;

inline uint8x16_t cnt_xor(uint8x16_t a, uint8x16_t w) { return vcntq_u8(veorq_u8(a, w)); }

// K - 2 * count for 8 u16 counts, as two int32x4 stores.
inline void store8(std::int32_t* out, uint16x8_t pc, int16x8_t kv) {
  const int16x8_t d = vsubq_s16(kv, vreinterpretq_s16_u16(vshlq_n_u16(pc, 1)));
  vst1q_s32(out, vmovl_s16(vget_low_s16(d)));
  vst1q_s32(out + 4, movl_high_s16(d));
}

// Sum of n count vectors, pairwise (n = 1, 2, 4).
template <int N>
inline uint8x16_t sum_tree(const uint8x16_t* c) {
  if constexpr (N == 1) {
    return c[0];
  } else {
    return vaddq_u8(sum_tree<N / 2>(c), sum_tree<N / 2>(c + N / 2));
  }
}

// One pairwise-add level after another over C vectors, adjacent pairs first: C = 16 leaves
// column j in byte j, C = 8 in bytes 2j and 2j + 1, C = 4 in bytes 4j .. 4j + 3, C = 2 in bytes
// 8j .. 8j + 7.
template <int C>
inline uint8x16_t padd_tree(uint8x16_t* c) {
  if constexpr (C == 1) {
    return c[0];
  } else {
    for (int i = 0; i < C / 2; ++i) c[i] = padd_u8(c[2 * i], c[2 * i + 1]);
    return padd_tree<C / 2>(c);
  }
}

// C columns of V q registers each (K <= 128 V bits): per byte a count vector is <= 8, a
// column's V vectors add to <= 8 V, and the tree's log2(C) levels to <= 8 V C = 8 kStripRegs
// <= 128, so no byte overflows.
template <int C, int V>
void strip(const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out, std::size_t m,
           std::size_t n, std::size_t k, std::size_t stride) noexcept {
  static_assert(C * V == kStripRegs && C >= 2 && V <= 4);
  uint8x16_t wv[C][V];
  for (int p = 0; p < C; ++p) {
    for (int h = 0; h < V; ++h) {
      wv[p][h] = vreinterpretq_u8_u64(vld1q_u64(w + p * stride + h * kWordsPerVec));
    }
  }
  for (std::size_t i = 0; i < m; ++i) {
    uint8x16_t av[V];
    for (int h = 0; h < V; ++h) {
      av[h] = vreinterpretq_u8_u64(vld1q_u64(a + i * stride + h * kWordsPerVec));
    }
    uint8x16_t c[C];
    for (int p = 0; p < C; ++p) {
      uint8x16_t x[V];
      for (int h = 0; h < V; ++h) x[h] = cnt_xor(av[h], wv[p][h]);
      c[p] = sum_tree<V>(x);
    }
    const uint8x16_t s = padd_tree<C>(c);
    std::int32_t* o = out + i * n;
    if constexpr (C == 16) {  // column j's total in byte j
      const int16x8_t kv = vdupq_n_s16(static_cast<std::int16_t>(k));
      store8(o, vmovl_u8(vget_low_u8(s)), kv);
      store8(o + 8, movl_high_u8(s), kv);
    } else if constexpr (C == 8) {  // bytes 2j, 2j + 1: vpaddlq adds them in u16
      store8(o, vpaddlq_u8(s), vdupq_n_s16(static_cast<std::int16_t>(k)));
    } else {  // C = 4: bytes 4j .. 4j + 3; C = 2: 8j .. 8j + 7
      const uint32x4_t pc = vpaddlq_u16(vpaddlq_u8(s));
      const int32x4_t kv = vdupq_n_s32(static_cast<std::int32_t>(k));
      if constexpr (C == 4) {
        vst1q_s32(o, vsubq_s32(kv, vshlq_n_s32(vreinterpretq_s32_u32(pc), 1)));
      } else {
        const uint32x2_t p2 = vpadd_u32(vget_low_u32(pc), vget_high_u32(pc));
        vst1_s32(o, vsub_s32(vget_low_s32(kv), vshl_n_s32(vreinterpret_s32_u32(p2), 1)));
      }
    }
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
      for (; j + kCols128 <= n; j += kCols128) {
        strip<kCols128, 1>(a, w + j * stride, out + j, m, n, k, stride);
      }
    }
    for (; j + kCols256 <= n; j += kCols256) {
      strip<kCols256, 2>(a, w + j * stride, out + j, m, n, k, stride);
    }
  }
  if (stride == 4 * kWordsPerVec) {  // 256 < K <= 512
    for (; j + kCols512 <= n; j += kCols512) {
      strip<kCols512, 4>(a, w + j * stride, out + j, m, n, k, stride);
    }
  }
  for_each_tile<kMR, kNR>(m, n - j, [&](auto mr, auto nr, std::size_t i,
                                        std::size_t jj) {
    binary_tile<decltype(mr)::value, decltype(nr)::value>(
        a + i * stride, w + (j + jj) * stride, out + i * n + j + jj, n, k, stride);
  });
}

}  // namespace bifsmn::detail

#if defined(BIFSMN_NEON_PRAGMA)
#pragma GCC pop_options
#endif

#endif  // BIFSMN_NEON_KERNEL

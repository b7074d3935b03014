// Kernels for the ARM cost model (cpp/tools/arm_cost_model.py): compiled for aarch64 and for
// 32-bit ARM (armhf, with NEON) to assembly only, never linked into the library. It includes the
// engine's NEON kernel source itself, so the popcount code analysed is exactly the shipped one,
// and adds
//   * whole-tile instances of that kernel at the model's fixed K (128 and 256 bits), which the
//     compiler fully unrolls into straight-line code (one kMR x 4 output tile, loads, XOR,
//     popcount, accumulation, reduction and store: the real per-tile cost at small K);
//   * the strips that hold a column strip's weights in registers for K <= 512 (kStripRegs
//     registers: 16, 8 and 4 columns on AArch64, 8, 4 and 2 on ARMv7), whose row loop gives the
//     steady-state cost per activation row;
//   * a plain FP32 NEON GEMM micro-kernel (8 x 8 register tile over packed panels, the usual
//     shape of an FP32 GEMM inner loop: 16 accumulators, 4 loads and 16 multiply-accumulates by
//     lane per k step; AArch64 FMLA, ARMv7 VMLA, which has no fused form by lane), the
//     full-precision reference.
#include "../src/kernel_impls.h"

#if defined(BIFSMN_NEON_KERNEL)

#include "../src/kernels_neon.cc"

namespace bifsmn::detail {

extern "C" const int mca_tile_rows = kMR;

extern "C" __attribute__((flatten)) void mca_binary_tile_k256(const std::uint64_t* a, const std::uint64_t* w,
                                     std::int32_t* out) noexcept {
  binary_tile<kMR, 4>(a, w, out, 4, 256, packed_row_words(256));
}

extern "C" __attribute__((flatten)) void mca_binary_tile_k128(const std::uint64_t* a, const std::uint64_t* w,
                                     std::int32_t* out) noexcept {
  binary_tile<kMR, 4>(a, w, out, 4, 128, packed_row_words(128));
}

// The register-held strips (K <= 128, 256, 512) for any number of rows, at the widths the
// kernel uses on this architecture: their row loop is one basic block, the steady-state cost
// per activation row.
extern "C" __attribute__((flatten)) void mca_strip_k128(const std::uint64_t* a, const std::uint64_t* w,
                                                    std::int32_t* out, std::size_t m) noexcept {
  strip<kCols128, 1>(a, w, out, m, kCols128, 128, packed_row_words(128));
}

extern "C" __attribute__((flatten)) void mca_strip_k256(const std::uint64_t* a, const std::uint64_t* w,
                                                    std::int32_t* out, std::size_t m) noexcept {
  strip<kCols256, 2>(a, w, out, m, kCols256, 256, packed_row_words(256));
}

extern "C" __attribute__((flatten)) void mca_strip_k512(const std::uint64_t* a, const std::uint64_t* w,
                                                    std::int32_t* out, std::size_t m) noexcept {
  strip<kCols512, 4>(a, w, out, m, kCols512, 512, packed_row_words(512));
}

// y[8][8] += A^T B over k: a is packed k-major (8 rows per k step), b k-major (8 columns per
// k step), c is row-major with row stride ldc.
extern "C" void mca_fp32_fma_8x8(const float* a, const float* b, float* c, std::size_t k,
                                 std::size_t ldc) noexcept {
  // 16 named accumulators (an array of them is spilled to the stack by GCC 12 in the loop).
  float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
              c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
              c61 = c00, c70 = c00, c71 = c00;
  for (std::size_t p = 0; p < k; ++p) {
    const float32x4_t a0 = vld1q_f32(a + 8 * p), a1 = vld1q_f32(a + 8 * p + 4);
    const float32x4_t b0 = vld1q_f32(b + 8 * p), b1 = vld1q_f32(b + 8 * p + 4);
#if defined(__aarch64__)
#define BIFSMN_MAC_LANE(acc, b, a, lane) acc = vfmaq_laneq_f32(acc, b, a, lane)
#else
#define BIFSMN_MAC_LANE(acc, b, a, lane) \
  acc = vmlaq_lane_f32(acc, b, (lane) < 2 ? vget_low_f32(a) : vget_high_f32(a), (lane) & 1)
#endif
    BIFSMN_MAC_LANE(c00, b0, a0, 0);
    BIFSMN_MAC_LANE(c01, b1, a0, 0);
    BIFSMN_MAC_LANE(c10, b0, a0, 1);
    BIFSMN_MAC_LANE(c11, b1, a0, 1);
    BIFSMN_MAC_LANE(c20, b0, a0, 2);
    BIFSMN_MAC_LANE(c21, b1, a0, 2);
    BIFSMN_MAC_LANE(c30, b0, a0, 3);
    BIFSMN_MAC_LANE(c31, b1, a0, 3);
    BIFSMN_MAC_LANE(c40, b0, a1, 0);
    BIFSMN_MAC_LANE(c41, b1, a1, 0);
    BIFSMN_MAC_LANE(c50, b0, a1, 1);
    BIFSMN_MAC_LANE(c51, b1, a1, 1);
    BIFSMN_MAC_LANE(c60, b0, a1, 2);
    BIFSMN_MAC_LANE(c61, b1, a1, 2);
    BIFSMN_MAC_LANE(c70, b0, a1, 3);
    BIFSMN_MAC_LANE(c71, b1, a1, 3);
#undef BIFSMN_MAC_LANE
  }
  const float32x4_t rows[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                  {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int i = 0; i < 8; ++i) {
    vst1q_f32(c + i * ldc, vaddq_f32(vld1q_f32(c + i * ldc), rows[i][0]));
    vst1q_f32(c + i * ldc + 4, vaddq_f32(vld1q_f32(c + i * ldc + 4), rows[i][1]));
  }
}

}  // namespace bifsmn::detail

#endif  // BIFSMN_NEON_KERNEL

// Kernels for the ARM cost model (cpp/tools/arm_cost_model.py): compiled for aarch64 to
// assembly only, never linked into the library. It includes the engine's NEON kernel source
// itself, so the popcount code analysed is exactly the shipped one, and adds
//   * whole-tile instances of that kernel at the model's fixed K (128 and 256 bits), which the
//     compiler fully unrolls into straight-line code (one 4 x 4 output tile, loads, XOR,
//     popcount, accumulation, reduction and store: the real per-tile cost at small K);
//   * the strips that hold a column strip's weights in registers for K <= 512 (16, 8 and 4
//     columns), whose row loop gives the steady-state cost per activation row;
//   * a plain FP32 NEON FMA GEMM micro-kernel (8 x 8 register tile over packed panels, the
//     usual shape of an FP32 GEMM inner loop on ARMv8: 16 accumulators, 4 loads and 16 lane
//     FMAs per k step), the full-precision reference.
#if defined(__aarch64__)

#include "../src/kernels_neon.cc"

namespace bifsmn::detail {

extern "C" __attribute__((flatten)) void mca_binary_tile_k256(const std::uint64_t* a, const std::uint64_t* w,
                                     std::int32_t* out) noexcept {
  binary_tile<4, 4>(a, w, out, 4, 256, packed_row_words(256));
}

extern "C" __attribute__((flatten)) void mca_binary_tile_k128(const std::uint64_t* a, const std::uint64_t* w,
                                     std::int32_t* out) noexcept {
  binary_tile<4, 4>(a, w, out, 4, 128, packed_row_words(128));
}

// The register-held strips (K <= 128: 16 columns, K <= 256: 8, K <= 512: 4) for any number of rows:
// their row loop is one basic block, the steady-state cost per activation row.
extern "C" __attribute__((flatten)) void mca_strip16_k128(const std::uint64_t* a, const std::uint64_t* w,
                                                      std::int32_t* out, std::size_t m) noexcept {
  strip16_k128(a, w, out, m, 16, 128, packed_row_words(128));
}

extern "C" __attribute__((flatten)) void mca_strip8_k256(const std::uint64_t* a, const std::uint64_t* w,
                                                     std::int32_t* out, std::size_t m) noexcept {
  strip8_k256(a, w, out, m, 8, 256, packed_row_words(256));
}

extern "C" __attribute__((flatten)) void mca_strip4_k512(const std::uint64_t* a, const std::uint64_t* w,
                                                     std::int32_t* out, std::size_t m) noexcept {
  strip4_k512(a, w, out, m, 4, 512, packed_row_words(512));
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
    c00 = vfmaq_laneq_f32(c00, b0, a0, 0);
    c01 = vfmaq_laneq_f32(c01, b1, a0, 0);
    c10 = vfmaq_laneq_f32(c10, b0, a0, 1);
    c11 = vfmaq_laneq_f32(c11, b1, a0, 1);
    c20 = vfmaq_laneq_f32(c20, b0, a0, 2);
    c21 = vfmaq_laneq_f32(c21, b1, a0, 2);
    c30 = vfmaq_laneq_f32(c30, b0, a0, 3);
    c31 = vfmaq_laneq_f32(c31, b1, a0, 3);
    c40 = vfmaq_laneq_f32(c40, b0, a1, 0);
    c41 = vfmaq_laneq_f32(c41, b1, a1, 0);
    c50 = vfmaq_laneq_f32(c50, b0, a1, 1);
    c51 = vfmaq_laneq_f32(c51, b1, a1, 1);
    c60 = vfmaq_laneq_f32(c60, b0, a1, 2);
    c61 = vfmaq_laneq_f32(c61, b1, a1, 2);
    c70 = vfmaq_laneq_f32(c70, b0, a1, 3);
    c71 = vfmaq_laneq_f32(c71, b1, a1, 3);
  }
  const float32x4_t rows[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                  {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int i = 0; i < 8; ++i) {
    vst1q_f32(c + i * ldc, vaddq_f32(vld1q_f32(c + i * ldc), rows[i][0]));
    vst1q_f32(c + i * ldc + 4, vaddq_f32(vld1q_f32(c + i * ldc + 4), rows[i][1]));
  }
}

}  // namespace bifsmn::detail

#endif  // __aarch64__

// x86-64 float GEMM tiles (kernels_avx2.cc, kernels_avx512.cc): the part of a tile's epilogue
// that does not depend on the ISA. Each tile reduces its accumulators to one __m128 of up to
// four column totals per row; these helpers load the tile's bias and store the totals. SSE is
// part of the x86-64 baseline, so they inline into the target-attributed tile functions (the
// accumulator types and reductions cannot be shared: each ISA's intrinsics need its own
// target attribute).
#pragma once

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>

namespace bifsmn::detail {

// The NR biases of the tile's columns (zero without a bias, and in the unused lanes).
template <int NR>
inline __m128 tile_bias(const float* bias) noexcept {
  alignas(16) float b[4] = {};
  if (bias != nullptr) {
    for (int j = 0; j < NR; ++j) b[j] = bias[j];
  }
  return _mm_load_ps(b);
}

// The first NR of the four totals in r to y[0 .. NR).
template <int NR>
inline void store_tile_row(float* y, __m128 r) noexcept {
  if constexpr (NR == 4) {
    _mm_storeu_ps(y, r);
  } else {
    alignas(16) float tmp[4];
    _mm_store_ps(tmp, r);
    for (int j = 0; j < NR; ++j) y[j] = tmp[j];
  }
}

}  // namespace bifsmn::detail

#endif  // __x86_64__

// The oracle: one bit / one product at a time, no blocking, no tricks.
#include "bifsmn/bitpack.h"
#include "bifsmn/kernels.h"
#include "kernel_impls.h"

namespace bifsmn::detail {

void binary_gemm_reference(const std::uint64_t* a, const std::uint64_t* w,
                           std::int32_t* out, std::size_t m, std::size_t n,
                           std::size_t k) noexcept {
  const std::size_t stride = packed_row_words(k);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      std::int32_t dot = 0;
      for (std::size_t b = 0; b < k; ++b) {
        const bool neg_a = packed_bit(a + i * stride, b);
        const bool neg_w = packed_bit(w + j * stride, b);
        dot += neg_a == neg_w ? 1 : -1;
      }
      out[i * n + j] = dot;
    }
  }
}

void float_gemm_reference(const float* x, const float* w, const float* bias,
                          float* y, std::size_t m, std::size_t n,
                          std::size_t k) noexcept {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      float acc = bias != nullptr ? bias[j] : 0.0f;
      for (std::size_t t = 0; t < k; ++t) acc += x[i * k + t] * w[j * k + t];
      y[i * n + j] = acc;
    }
  }
}

// float_gemm_reference's loops and order with W read from its packed panels: the two agree bit
// for bit (test_kernels).
void float_gemm_kn_reference(const float* x, const float* wp, const float* bias,
                             float* y, std::size_t m, std::size_t n,
                             std::size_t k) noexcept {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const float* col = wp + (j / kKnPanel) * k * kKnPanel + j % kKnPanel;
      float acc = bias != nullptr ? bias[j] : 0.0f;
      for (std::size_t t = 0; t < k; ++t) acc += x[i * k + t] * col[t * kKnPanel];
      y[i * n + j] = acc;
    }
  }
}

}  // namespace bifsmn::detail

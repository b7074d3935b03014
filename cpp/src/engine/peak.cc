// The popcount roofline as a library function (the same measurement as
// bench/roofline.cc's "peak Gbop/s" column), so Python can report the
// engine's binary layers as a fraction of it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "bifsmn/bitpack.h"
#include "bifsmn/engine.h"
#include "bifsmn/kernels.h"

namespace bifsmn {

double popcount_peak_gbops(const Kernel& kernel, double min_seconds) {
  using Clock = std::chrono::steady_clock;
  // L1-resident shapes: 8x2048 + 64x2048 bits and 8x7936 + 16x7936 bits (large K), and
  // 16x512 + 128x512 bits (the short-K strips of kernels that prepare weights: there the whole
  // strip is in registers and the loop is nothing but XOR + popcount + add). Each is run as the
  // engine runs it: on the kernel's prepared weights where it prepares that shape.
  const std::size_t shapes[3][3] = {{8, 64, 2048}, {8, 16, 7936}, {16, 128, 512}};
  std::mt19937_64 rng(7);
  double best = 0;
  const double per_shape = std::max(min_seconds, 0.01) / 2;
  for (const auto& sh : shapes) {
    const std::size_t m = sh[0], n = sh[1], k = sh[2];
    std::vector<std::uint64_t> a(m * packed_row_words(k)), w(n * packed_row_words(k));
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t i = 0; i < (k + 63) / 64; ++i) a[r * packed_row_words(k) + i] = rng();
    }
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t i = 0; i < (k + 63) / 64; ++i) w[r * packed_row_words(k) + i] = rng();
    }
    // bits >= k must stay 0 (k is a multiple of 64 here, so there are none).
    std::vector<std::int32_t> out(m * n);
    std::vector<std::uint64_t> wp(kernel.prepared_words ? kernel.prepared_words(n, k) : 0);
    if (!wp.empty()) kernel.prepare(w.data(), n, k, wp.data());
    const auto gemm = [&] {
      if (!wp.empty()) {
        kernel.binary_gemm_prepared(a.data(), wp.data(), out.data(), m, n, k);
      } else {
        kernel.binary_gemm(a.data(), w.data(), out.data(), m, n, k);
      }
    };
    // Batches of calls; the median batch rate over the time budget.
    std::size_t calls = 1;
    for (;;) {
      const auto t0 = Clock::now();
      for (std::size_t c = 0; c < calls; ++c) gemm();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (s >= 2e-3 || calls > (1u << 24)) break;
      calls *= 2;
    }
    std::vector<double> rates;
    const auto start = Clock::now();
    while (rates.size() < 5 ||
           std::chrono::duration<double>(Clock::now() - start).count() < per_shape) {
      const auto t0 = Clock::now();
      for (std::size_t c = 0; c < calls; ++c) gemm();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      rates.push_back(static_cast<double>(m * n * k) * calls / s);
      if (rates.size() > 1000) break;
    }
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    best = std::max(best, rates[rates.size() / 2]);
  }
  return best * 1e-9;
}

}  // namespace bifsmn

#include "simd.h"

#include <atomic>

#include "binarize/quant.h"

namespace bifsmn::ops::simd {

namespace {
std::atomic<int> g_width{0};
}  // namespace

int best_width() noexcept {
#if BIFSMN_SIMD_X86
  // the CPU checks the row binarizer already makes (binarize/quant.h)
  return ::bifsmn::detail::have_avx512() ? 16 : ::bifsmn::detail::have_avx2() ? 8 : 4;
#else
  return 4;
#endif
}

int width() noexcept {
  const int w = g_width.load(std::memory_order_relaxed);
  return w ? w : best_width();
}

int set_width(int w) noexcept {
  if (w == 0 || ((w == 4 || w == 8 || w == 16) && w <= best_width())) {
    g_width.store(w, std::memory_order_relaxed);
  }
  return width();
}

}  // namespace bifsmn::ops::simd

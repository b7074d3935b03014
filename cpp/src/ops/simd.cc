#include "simd.h"

#include <atomic>

namespace bifsmn::ops::simd {

namespace {
std::atomic<int> g_width{0};
}  // namespace

int best_width() noexcept {
#if BIFSMN_SIMD_X86
  static const int w = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")) return 16;
    return __builtin_cpu_supports("avx2") ? 8 : 4;
  }();
  return w;
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

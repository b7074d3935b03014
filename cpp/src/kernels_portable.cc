// Plain C++ kernels for any CPU: 64-bit words and a scalar popcount,
// register-blocked with tiling.h.
#include "bifsmn/bitpack.h"
#include "bifsmn/kernels.h"
#include "kernel_impls.h"
#include "tiling.h"

namespace bifsmn::detail {
namespace {

// __builtin_popcountll is one instruction on aarch64 and on x86-64 builds
// that assume POPCNT (-mpopcnt, -march=x86-64-v2 and up). For baseline
// x86-64 GCC emits a call into libgcc instead; the branch-free SWAR count
// below is inlined and measured ~3x faster there.
// kHw: the caller is compiled for POPCNT (binary_gemm_popcnt below), so the builtin is one
// instruction there.
#if defined(__x86_64__) && !defined(__POPCNT__) && defined(__GNUC__)
#define BIFSMN_PORTABLE_POPCNT_CLONE 1
#else
#define BIFSMN_PORTABLE_POPCNT_CLONE 0
#endif
template <bool kHw>
[[gnu::always_inline]] inline unsigned popcount64(std::uint64_t x) noexcept {
#if BIFSMN_PORTABLE_POPCNT_CLONE
  if constexpr (!kHw) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return static_cast<unsigned>((x * 0x0101010101010101ull) >> 56);
  }
#endif
  return static_cast<unsigned>(__builtin_popcountll(x));
}

// Binary tile: MR activation rows x NR weight rows, MR * NR popcount sums
// kept in registers over the whole K loop; each loaded word is used MR or NR
// times.
constexpr int kBinMR = 2;
constexpr int kBinNR = 4;

template <int MR, int NR, bool kHw>
void binary_tile(const std::uint64_t* a, const std::uint64_t* w,
                 std::int32_t* out, std::size_t n, std::size_t k,
                 std::size_t stride) noexcept {
  // Whole padding words are zero in both operands: skip them.
  const std::size_t words = (k + kWordBits - 1) / kWordBits;
  unsigned acc[MR][NR] = {};
  for (std::size_t t = 0; t < words; ++t) {
    std::uint64_t av[MR];
    for (int i = 0; i < MR; ++i) av[i] = a[i * stride + t];
    for (int j = 0; j < NR; ++j) {
      const std::uint64_t wv = w[j * stride + t];
      for (int i = 0; i < MR; ++i) {
        acc[i][j] += popcount64<kHw>(av[i] ^ wv);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      out[i * n + j] = static_cast<std::int32_t>(k) -
                       2 * static_cast<std::int32_t>(acc[i][j]);
    }
  }
}

// Float tile: one x row against NR weight rows (MR = 1). Each output keeps kLanes
// independent partial sums so the compiler can vectorize the inner loop
// without -ffast-math (no reassociation of a single running sum needed).
constexpr int kFltNR = 4;
constexpr std::size_t kLanes = 8;

template <int NR>
void float_tile(const float* x, const float* w, const float* bias, float* y,
                std::size_t k) noexcept {
  float acc[NR][kLanes] = {};
  std::size_t t = 0;
  for (; t + kLanes <= k; t += kLanes) {
    for (int j = 0; j < NR; ++j) {
      for (std::size_t l = 0; l < kLanes; ++l) {
        acc[j][l] += x[t + l] * w[j * k + t + l];
      }
    }
  }
  for (int j = 0; j < NR; ++j) {
    float sum = 0.0f;
    for (std::size_t l = 0; l < kLanes; ++l) sum += acc[j][l];
    for (std::size_t r = t; r < k; ++r) sum += x[r] * w[j * k + r];
    y[j] = sum + (bias != nullptr ? bias[j] : 0.0f);
  }
}

// Outer-product tile on float_gemm_kn's packed panels: MR rows x kKnNR columns of
// accumulators; per k, one broadcast activation per row times a contiguous run of a panel row,
// in GCC/Clang vector types of 4 floats (SSE2 on x86-64, NEON on aarch64), so each output is
// one running sum in k order. Plain loops left to the auto-vectorizer kept the accumulators in
// memory and ran 4-5x slower than the dot-product tiles above. The panel's zero columns need no
// tail loads; `cols` limits the stores.
typedef float v4f __attribute__((vector_size(16)));
constexpr int kKnMR = 4;
constexpr std::size_t kKnNR = 16, kKnNV = kKnNR / 4;
static_assert(kKnPanel % kKnNR == 0, "a tile's columns lie in one panel");

template <int MR>
void kn_tile(const float* x, const float* w, const float* bias, float* y, std::size_t cols,
             std::size_t n, std::size_t k) noexcept {
  v4f acc[MR][kKnNV] = {};
  for (std::size_t t = 0; t < k; ++t) {
    v4f wv[kKnNV];
    __builtin_memcpy(wv, w + t * kKnPanel, sizeof wv);
    for (int r = 0; r < MR; ++r) {
      const float a = x[r * k + t];
      for (std::size_t v = 0; v < kKnNV; ++v) acc[r][v] += a * wv[v];
    }
  }
  for (int r = 0; r < MR; ++r) {
    float out[kKnNR];
    __builtin_memcpy(out, acc[r], sizeof out);
    for (std::size_t c = 0; c < cols; ++c) {
      y[r * n + c] = out[c] + (bias != nullptr ? bias[c] : 0.0f);
    }
  }
}

}  // namespace

namespace {
template <bool kHw>
[[gnu::always_inline]] inline void binary_gemm_tiles(const std::uint64_t* a,
                                                     const std::uint64_t* w, std::int32_t* out,
                                                     std::size_t m, std::size_t n,
                                                     std::size_t k) noexcept {
  const std::size_t stride = packed_row_words(k);
  for_each_tile<kBinMR, kBinNR>(m, n, [&](auto mr, auto nr, std::size_t i,
                                          std::size_t j) {
    binary_tile<decltype(mr)::value, decltype(nr)::value, kHw>(
        a + i * stride, w + j * stride, out + i * n + j, n, k, stride);
  });
}

#if BIFSMN_PORTABLE_POPCNT_CLONE
// The same GEMM compiled for POPCNT (flatten: the tiles are inlined into it, so their builtin
// popcounts become the instruction), for x86-64 CPUs that have it but not AVX2 (Nehalem to Ivy
// Bridge, or a VM that hides AVX2): the baseline build's bit-twiddling count was ~3x slower.
// Counts are exact either way: the same results.
__attribute__((target("popcnt"), flatten)) void binary_gemm_popcnt(
    const std::uint64_t* a, const std::uint64_t* w, std::int32_t* out, std::size_t m,
    std::size_t n, std::size_t k) noexcept {
  binary_gemm_tiles<true>(a, w, out, m, n, k);
}

bool use_popcnt() noexcept {  // the CPU has it and BIFSMN_ISA allows it (level >= 1)
  static const bool yes = [] {
    __builtin_cpu_init();
    return isa_level() >= 1 && __builtin_cpu_supports("popcnt");
  }();
  return yes;
}
#endif
}  // namespace

void binary_gemm_portable(const std::uint64_t* a, const std::uint64_t* w,
                          std::int32_t* out, std::size_t m, std::size_t n,
                          std::size_t k) noexcept {
#if BIFSMN_PORTABLE_POPCNT_CLONE
  if (use_popcnt()) {
    binary_gemm_popcnt(a, w, out, m, n, k);
    return;
  }
#endif
  binary_gemm_tiles<false>(a, w, out, m, n, k);
}

void float_gemm_portable(const float* x, const float* w, const float* bias,
                         float* y, std::size_t m, std::size_t n,
                         std::size_t k) noexcept {
  for_each_tile<1, kFltNR>(m, n, [&](auto, auto nr, std::size_t i,
                                     std::size_t j) {
    float_tile<decltype(nr)::value>(x + i * k, w + j * k,
                                    bias != nullptr ? bias + j : nullptr,
                                    y + i * n + j, k);
  });
}

void float_gemm_kn_portable(const float* x, const float* wp, const float* bias,
                            float* y, std::size_t m, std::size_t n,
                            std::size_t k) noexcept {
  for (std::size_t j = 0; j < n; j += kKnNR) {  // column strips outer: the strip stays in cache
    const std::size_t cols = n - j < kKnNR ? n - j : kKnNR;
    const float* w = wp + (j / kKnPanel) * k * kKnPanel + j % kKnPanel;
    const float* bj = bias != nullptr ? bias + j : nullptr;
    std::size_t i = 0;
    for (; i + kKnMR <= m; i += kKnMR) kn_tile<kKnMR>(x + i * k, w, bj, y + i * n + j, cols, n, k);
    switch (m - i) {
      case 3: kn_tile<3>(x + i * k, w, bj, y + i * n + j, cols, n, k); break;
      case 2: kn_tile<2>(x + i * k, w, bj, y + i * n + j, cols, n, k); break;
      case 1: kn_tile<1>(x + i * k, w, bj, y + i * n + j, cols, n, k); break;
      default: break;
    }
  }
}

}  // namespace bifsmn::detail

// Shared by the engine's ops (cpp/src/ops/*): the activation, the ISA clone attribute and the
// GEMM statistics hook.
//
// Every op has a plain reference (`*_reference`: straight loops over the definition in
// docs/binary-arithmetic.md, same float operations in the same order) and the optimized version
// the engine runs; cpp/tests/test_ops.cc compares the two on random shapes, and checks the
// references against golden values written by the Python deployed reference
// (tests/test_ops_golden.py).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "bifsmn/kernels.h"
#include "simd.h"

namespace bifsmn::ops {

// Cache-line (64-byte) aligned storage for the engine's weights and scratch. Why: the default
// allocator aligns to 16 bytes, so unless a buffer starts on a cache line by chance, every
// 64-byte vector load and store along it straddles two lines; on an AMD Zen 4 the 8-block
// network ran about 7 % slower so (docs/engine-history.md, "Session 53"). Rows whose length is a
// multiple of 16 floats then start on a line too.
template <class T>
struct CacheAligned {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  CacheAligned() noexcept = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlign)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kAlign)); }
  template <class U>
  bool operator==(const CacheAligned<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAligned<U>&) const noexcept { return false; }
};
template <class T>
using Buffer = std::vector<T, CacheAligned<T>>;

// PReLU as deployed: act(v) = v >= 0 ? v : slope * v (the product is computed
// unconditionally so loops vectorize; the select keeps the value exact).
inline float act(float v, float slope) {
  const float neg = slope * v;
  return v >= 0.0f ? v : neg;
}

// Stages written once in plain C++ (elementwise loops the compiler vectorizes, or the front ends'
// lane-vector templates) and compiled for AVX-512, AVX2 and baseline x86-64: each version performs
// the same float operations in the same order (vectorized across independent elements only;
// reductions keep their documented partial-sum order; no contraction), so every version gives the
// same bits. The version is picked at each call by the vector width in use (simd::width(): the
// CPU, BIFSMN_ISA, and the tests' simd::set_width), as for the width-templated ops of simd.h.
// Until session 58 these were GCC target clones (`target_clones`) resolved by the CPU at load:
// BIFSMN_ISA could not reach them and the tests could not switch them, so on an AVX-512 machine
// the AVX2 and baseline builds never ran.
//
//   BIFSMN_ISA_CLONES(RET, NAME, PARAMS, ARGS)
//
// defines RET NAME PARAMS, which calls NAME##_w16, NAME##_w8 or NAME##_w4 ARGS, each compiling
// NAME##_body ARGS (an always-inline function defined before) for its ISA. ARGS names PARAMS'
// parameters in order. BIFSMN_ISA_CLONES_FLAT also flattens each version (every call inside it
// inlined: the front ends' FFT templates, which the baseline build would otherwise call out of
// line). On other architectures, and under the sanitizers, the three versions are the same code.
#if BIFSMN_SIMD_X86
#define BIFSMN_ISA_ATTR16 __attribute__((target("avx512f,avx2")))
#define BIFSMN_ISA_ATTR8 __attribute__((target("avx2")))
#else
#define BIFSMN_ISA_ATTR16
#define BIFSMN_ISA_ATTR8
#endif
#define BIFSMN_ISA_CLONES_WITH(RET, NAME, PARAMS, ARGS, A16, A8, A4)                 \
  A16 static RET NAME##_w16 PARAMS { return NAME##_body ARGS; }                       \
  A8 static RET NAME##_w8 PARAMS { return NAME##_body ARGS; }                         \
  A4 static RET NAME##_w4 PARAMS { return NAME##_body ARGS; }                         \
  RET NAME PARAMS {                                                                   \
    return ::bifsmn::ops::simd::pick<RET(*) PARAMS>(NAME##_w16, NAME##_w8, NAME##_w4) ARGS; \
  }
#define BIFSMN_ISA_CLONES(RET, NAME, PARAMS, ARGS) \
  BIFSMN_ISA_CLONES_WITH(RET, NAME, PARAMS, ARGS, BIFSMN_ISA_ATTR16, BIFSMN_ISA_ATTR8, )
#define BIFSMN_ISA_CLONES_FLAT(RET, NAME, PARAMS, ARGS)                               \
  BIFSMN_ISA_CLONES_WITH(RET, NAME, PARAMS, ARGS, BIFSMN_ISA_ATTR16 __attribute__((flatten)), \
                         BIFSMN_ISA_ATTR8 __attribute__((flatten)), __attribute__((flatten)))

// `planes` row-major planes of rows x cols with a zero border of `pad` on every side, into dst
// (planes x (rows + 2 pad) x (cols + 2 pad)): the full-precision convolutions' im2col then copies
// whole tap rows with no bounds tests.
inline void zero_pad_planes(const float* src, std::size_t planes, int rows, int cols, int pad,
                            float* dst) {
  const std::size_t pr = static_cast<std::size_t>(rows + 2 * pad);
  const std::size_t pc = static_cast<std::size_t>(cols + 2 * pad);
  for (std::size_t q = 0; q < planes; ++q) {
    float* d = dst + q * pr * pc;
    const float* s = src + q * static_cast<std::size_t>(rows) * cols;
    for (std::size_t i = 0; i < pr * pc; ++i) d[i] = 0.0f;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) d[(r + pad) * pc + pad + c] = s[r * cols + c];
    }
  }
}

// Time and work of the popcount GEMM calls (the engine's profiling; nullptr: not measured).
struct GemmStats {
  double seconds = 0;
  double bops = 0;
};

// Run kern.binary_gemm on w (or kern.binary_gemm_prepared on wp, the kernel's prepared copy of
// w, when given: same results), adding its time and bops to `stats` when given.
inline void timed_binary_gemm(const Kernel& kern, const std::uint64_t* a, const std::uint64_t* w,
                              const std::uint64_t* wp, std::int32_t* out, std::size_t m,
                              std::size_t n, std::size_t k, GemmStats* stats) {
  const auto run = [&] {
    if (wp) {
      kern.binary_gemm_prepared(a, wp, out, m, n, k);
    } else {
      kern.binary_gemm(a, w, out, m, n, k);
    }
  };
  if (!stats) {
    run();
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  run();
  stats->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats->bops += static_cast<double>(m) * n * k;
}

template <class T, class A>
void grow(std::vector<T, A>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace bifsmn::ops

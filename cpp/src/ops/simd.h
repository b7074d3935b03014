// Native-width vector types and a load-time ISA pick for the ops written once as templates on
// the vector type.
//
// Why not only BIFSMN_ISA_CLONES (common.h): it compiles one body for every ISA, so a body written
// with 64-byte vectors (right for AVX-512) runs on AVX2 as 64-byte vectors split by the compiler:
// with eight accumulators that is twice the 16 ymm registers, and GCC 12 spills them through
// general registers (on an AVX2-only Zen 3, session 12, conv1 and the FSMN memory ran 4-10x slower
// than at their native width). Here each ISA instantiates the template with its own width: 16
// floats (AVX-512), 8 (AVX2), 4 (SSE2 baseline, NEON). Only independent elements are vectorized and
// no operation contracts, so every width gives the same bits (cpp/tests/test_ops.cc runs each op at
// every width the CPU has).

#pragma once

#include <cstddef>

namespace bifsmn::ops::simd {

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));

// Number of lanes of a vector type.
template <class V>
constexpr std::size_t lanes = sizeof(V) / sizeof(float);

// GCC and Clang (macOS included) both take per-function targets (which BIFSMN_ISA_CLONES in
// common.h uses too; until session 58 those stages were ifunc-based target clones, not on macOS).
// Until session 40 Clang builds ran every op at the baseline width (docs/engine.md, "With
// clang++").
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define BIFSMN_SIMD_X86 1
#define BIFSMN_TARGET_AVX512 __attribute__((target("avx512f,avx2"), flatten))
#define BIFSMN_TARGET_AVX2 __attribute__((target("avx2"), flatten))
#else
#define BIFSMN_SIMD_X86 0
#define BIFSMN_TARGET_AVX512 __attribute__((flatten))
#define BIFSMN_TARGET_AVX2 __attribute__((flatten))
#endif

// Defines NAME16, NAME8 and NAME4 with parameter list PARAMS (parenthesized), each running
// CALL(T) with its width's type (T16 / T8 / T4), compiled for AVX-512 / AVX2 / the baseline on
// x86-64 (elsewhere all for the build's target; only NAME4 is picked there). `flatten`
// inlines the templates into each, so the whole op is compiled for that ISA.
#define BIFSMN_SIMD_VARIANTS(NAME, PARAMS, CALL, T16, T8, T4)   \
  BIFSMN_TARGET_AVX512 void NAME##16 PARAMS { CALL(T16); }     \
  BIFSMN_TARGET_AVX2 void NAME##8 PARAMS { CALL(T8); }          \
  __attribute__((flatten)) void NAME##4 PARAMS { CALL(T4); }

// The widest width this CPU runs: 16 (AVX-512), 8 (AVX2) or 4 (always).
int best_width() noexcept;

// Force the width the ops use (tests: every width must give the same bits); 0 = best_width().
// Returns the width now in use; a width the CPU lacks is refused (returns the old one).
int set_width(int width) noexcept;
int width() noexcept;

// Pick the instantiation for the width in use. Called per op call (one relaxed load): cheap
// next to an op, and it lets the tests switch widths.
template <class F>
inline F pick(F w16, F w8, F w4) noexcept {
  const int w = width();
  return w == 16 ? w16 : w == 8 ? w8 : w4;
}

}  // namespace bifsmn::ops::simd

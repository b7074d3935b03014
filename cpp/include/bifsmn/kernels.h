// GEMM kernels and their runtime dispatch.
//
// Every kernel computes the same two functions:
//
//   binary_gemm: out[m][n] = K - 2 * popcount(A_row_m XOR W_row_n)   (int32)
//     a: M rows, w: N rows, both packed by pack_signs() with K valid bits
//     (row stride packed_row_words(K)); out: M x N row-major, contiguous.
//     The result is exactly the +-1 dot product of the unpacked rows.
//
//   float_gemm:  y = x W^T + b   (the full-precision path of nn.Linear)
//     x: M x K, w: N x K, y: M x N, all row-major and contiguous;
//     bias: N values or nullptr for none. Summation order differs between
//     kernels, so results agree to rounding, not bit-for-bit.
//
//   float_gemm_kn: the same y = x W^T + b with W given as K-major panels
//     (pack_kn below: columns in panels of kKnPanel, each panel K x kKnPanel
//     row-major). The engine packs a full-precision layer's weights once at
//     load, so the optimized kernels compute outer products (a panel row of
//     weights times a broadcast activation, contiguous loads, no horizontal
//     reductions); float_gemm stays for the shapes where dot products win (one
//     activation row: the classifier). The reference sums in
//     float_gemm_reference's order, so the two reference functions agree bit
//     for bit.
//
// Kernels never allocate and never touch global state. The only global is the
// dispatch table: the list of compiled kernels and the cached active one.
//
// Dispatch rules (select_kernel):
//   * BIFSMN_KERNEL=reference|portable|avx2|avx512|neon forces that kernel; an
//     unknown name, or one not compiled in / not supported by this CPU, is an
//     error (std::runtime_error), never a silent fallback.
//   * otherwise the best one this CPU runs: avx512 on x86-64 with AVX-512F +
//     VPOPCNTDQ (and AVX2+FMA, whose float GEMM it shares), else avx2 with
//     AVX2+FMA (checked at run time, so the binary also runs on older x86-64),
//     neon on aarch64 (NEON is mandatory there), else portable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace bifsmn {

using BinaryGemmFn = void (*)(const std::uint64_t* a, const std::uint64_t* w,
                              std::int32_t* out, std::size_t m, std::size_t n,
                              std::size_t k) noexcept;
using FloatGemmFn = void (*)(const float* x, const float* w, const float* bias,
                             float* y, std::size_t m, std::size_t n,
                             std::size_t k) noexcept;

// Optional weight preparation: a kernel may run faster on a copy of W rearranged once (at
// model load) for it. prepared_words(n, k) is that copy's size in words, 0 where the kernel does
// not prepare this shape (then binary_gemm on W is used); prepare(w, n, k, out) writes it;
// binary_gemm_prepared(a, prepared, out, m, n, k) gives exactly binary_gemm(a, w, ...)'s out.
using PreparedWordsFn = std::size_t (*)(std::size_t n, std::size_t k) noexcept;
using PrepareFn = void (*)(const std::uint64_t* w, std::size_t n, std::size_t k,
                           std::uint64_t* out) noexcept;

// float_gemm_kn's weight layout: panel p holds columns kKnPanel*p .. kKnPanel*p + kKnPanel - 1
// of W^T, stored K x kKnPanel row-major (element (t, j) at
// (j / kKnPanel) * K * kKnPanel + t * kKnPanel + j % kKnPanel); the last panel's missing columns
// are zero, so kernels load whole panel rows and mask only the bias and the output.
inline constexpr std::size_t kKnPanel = 32;

inline std::size_t kn_packed_floats(std::size_t n, std::size_t k) {
  return (n + kKnPanel - 1) / kKnPanel * kKnPanel * k;
}

// W (N x K row-major) into float_gemm_kn's layout (kn_packed_floats(n, k) floats at out).
inline void pack_kn(const float* w, std::size_t n, std::size_t k, float* out) {
  const std::size_t panels = (n + kKnPanel - 1) / kKnPanel;
  for (std::size_t p = 0; p < panels; ++p) {
    for (std::size_t t = 0; t < k; ++t) {
      for (std::size_t c = 0; c < kKnPanel; ++c) {
        const std::size_t j = p * kKnPanel + c;
        out[(p * k + t) * kKnPanel + c] = j < n ? w[j * k + t] : 0.0f;
      }
    }
  }
}

struct Kernel {
  const char* name;
  BinaryGemmFn binary_gemm;
  // neon has no float kernels of its own and reuses portable's.
  FloatGemmFn float_gemm;
  FloatGemmFn float_gemm_kn;  // weights packed by pack_kn (see float_gemm_kn above)
  bool (*supported)() noexcept;  // can this CPU run it?
  // Weight preparation (all three nullptr: none; see PreparedWordsFn).
  PreparedWordsFn prepared_words = nullptr;
  PrepareFn prepare = nullptr;
  BinaryGemmFn binary_gemm_prepared = nullptr;
};

// The widest x86-64 instruction set the engine may use, from the environment variable
// BIFSMN_ISA, read once per process: "avx512" or unset / empty (whatever the CPU has; level 3),
// "avx2" (no AVX-512 code: kernels, binarizers, conv2's byte permutes, 8-lane float stages;
// level 2), "x86-64-v2" (no AVX2 either: the portable kernel with the POPCNT instruction, 4-lane
// stages; level 1) or "baseline" (plain x86-64: the portable kernel counts bits without POPCNT;
// level 0). An unknown value counts as unset (check_isa() names it). Why: to run and time the
// code an older CPU would run on a machine that has more (every path gives the same bits, so
// results do not change), and to test that end to end. Elsewhere than x86-64 it has no effect.
// Every stage follows it (since session 58 also the per-ISA builds of ops/common.h's
// BIFSMN_ISA_CLONES, which were load-time target clones before).
int isa_level() noexcept;

// The float stages' widest vector width under isa_level(): 16, 8 or 4 floats.
int isa_cap() noexcept;

// Throws std::runtime_error naming BIFSMN_ISA and its value if it is set to anything else.
void check_isa();

// Kernels compiled into this binary, best first. Some may not run here.
const std::vector<Kernel>& compiled_kernels();

// Names of the kernels this CPU can run, best first.
std::vector<std::string_view> available_kernels();

// The named kernel; throws std::runtime_error if unknown or unavailable here.
const Kernel& get_kernel(std::string_view name);

// Applies the dispatch rules above, reading BIFSMN_KERNEL on every call.
const Kernel& select_kernel();

// select_kernel() evaluated once and cached (thread-safe). If it throws, the
// next call tries again.
const Kernel& active_kernel();
const char* active_kernel_name();

// Run the active kernel.
inline void binary_gemm(const std::uint64_t* a, const std::uint64_t* w,
                        std::int32_t* out, std::size_t m, std::size_t n,
                        std::size_t k) {
  active_kernel().binary_gemm(a, w, out, m, n, k);
}
inline void float_gemm(const float* x, const float* w, const float* bias,
                       float* y, std::size_t m, std::size_t n, std::size_t k) {
  active_kernel().float_gemm(x, w, bias, y, m, n, k);
}

}  // namespace bifsmn

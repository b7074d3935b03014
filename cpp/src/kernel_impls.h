// Per-ISA kernel entry points, registered in dispatch.cc. Semantics and
// argument order are those of BinaryGemmFn / FloatGemmFn in kernels.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bifsmn::detail {

void binary_gemm_reference(const std::uint64_t* a, const std::uint64_t* w,
                           std::int32_t* out, std::size_t m, std::size_t n,
                           std::size_t k) noexcept;
void float_gemm_reference(const float* x, const float* w, const float* bias,
                          float* y, std::size_t m, std::size_t n,
                          std::size_t k) noexcept;
void float_gemm_kn_reference(const float* x, const float* wp, const float* bias,
                             float* y, std::size_t m, std::size_t n,
                             std::size_t k) noexcept;

void binary_gemm_portable(const std::uint64_t* a, const std::uint64_t* w,
                          std::int32_t* out, std::size_t m, std::size_t n,
                          std::size_t k) noexcept;
void float_gemm_portable(const float* x, const float* w, const float* bias,
                         float* y, std::size_t m, std::size_t n,
                         std::size_t k) noexcept;
void float_gemm_kn_portable(const float* x, const float* wp, const float* bias,
                            float* y, std::size_t m, std::size_t n,
                            std::size_t k) noexcept;

#if defined(__x86_64__)
void binary_gemm_avx2(const std::uint64_t* a, const std::uint64_t* w,
                      std::int32_t* out, std::size_t m, std::size_t n,
                      std::size_t k) noexcept;
void float_gemm_avx2(const float* x, const float* w, const float* bias,
                     float* y, std::size_t m, std::size_t n,
                     std::size_t k) noexcept;
void float_gemm_kn_avx2(const float* x, const float* wp, const float* bias,
                        float* y, std::size_t m, std::size_t n,
                        std::size_t k) noexcept;
// Prepared weights (K <= 512): low- and high-nibble planes in 16-, 8- or 4-column strips.
std::size_t prepared_words_avx2(std::size_t n, std::size_t k) noexcept;
void prepare_avx2(const std::uint64_t* w, std::size_t n, std::size_t k,
                  std::uint64_t* out) noexcept;
void binary_gemm_prepared_avx2(const std::uint64_t* a, const std::uint64_t* wp,
                               std::int32_t* out, std::size_t m, std::size_t n,
                               std::size_t k) noexcept;
void binary_gemm_avx512(const std::uint64_t* a, const std::uint64_t* w,
                        std::int32_t* out, std::size_t m, std::size_t n,
                        std::size_t k) noexcept;
void float_gemm_avx512(const float* x, const float* w, const float* bias,
                       float* y, std::size_t m, std::size_t n,
                       std::size_t k) noexcept;
void float_gemm_kn_avx512(const float* x, const float* wp, const float* bias,
                          float* y, std::size_t m, std::size_t n,
                          std::size_t k) noexcept;
// Prepared weights (K <= 512): 16-row strips, dword d of the strip's rows in 16 lanes.
std::size_t prepared_words_avx512(std::size_t n, std::size_t k) noexcept;
void prepare_avx512(const std::uint64_t* w, std::size_t n, std::size_t k,
                    std::uint64_t* out) noexcept;
void binary_gemm_prepared_avx512(const std::uint64_t* a, const std::uint64_t* wp,
                                 std::int32_t* out, std::size_t m, std::size_t n,
                                 std::size_t k) noexcept;
#endif

// The NEON binary kernel: AArch64 (NEON is part of the base ISA), and 32-bit ARMv7+ Linux (armhf:
// NEON is optional there, so the kernel is offered only where the CPU has NEON: HWCAP_NEON in
// getauxval(AT_HWCAP), dispatch.cc) when GCC compiles it for NEON per function (kernels_neon.cc),
// or when clang compiles kernels_neon.cc for NEON as a whole (-mfpu=neon on that file only, which
// CMakeLists.txt adds and announces with BIFSMN_NEON_FILE: clang's arm_neon.h needs NEON for the
// whole file).
#if defined(__aarch64__) || \
    (defined(__arm__) && defined(__linux__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7 && \
     (defined(BIFSMN_NEON_FILE) ||                                                          \
      (defined(__GNUC__) && !defined(__clang__) && defined(__ARM_FP))))
#define BIFSMN_NEON_KERNEL 1
void binary_gemm_neon(const std::uint64_t* a, const std::uint64_t* w,
                      std::int32_t* out, std::size_t m, std::size_t n,
                      std::size_t k) noexcept;
bool neon_supported() noexcept;
#endif

}  // namespace bifsmn::detail

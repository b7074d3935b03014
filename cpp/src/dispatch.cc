#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bifsmn/kernels.h"
#include "kernel_impls.h"

#if defined(BIFSMN_NEON_KERNEL) && !defined(__aarch64__)
#include <sys/auxv.h>
#endif

#if defined(BIFSMN_NEON_KERNEL)
namespace bifsmn::detail {
// Here, not in kernels_neon.cc, which may be compiled for NEON as a whole: on 32-bit ARM this
// runs on CPUs without NEON.
#if defined(__aarch64__)
bool neon_supported() noexcept { return true; }
#else
bool neon_supported() noexcept {
  constexpr unsigned long kHwcapNeon = 1UL << 12;  // HWCAP_NEON (asm/hwcap.h, 32-bit ARM)
  return (getauxval(AT_HWCAP) & kHwcapNeon) != 0;
}
#endif
}  // namespace bifsmn::detail
#endif

namespace bifsmn {
namespace {

constexpr const char* kEnvVar = "BIFSMN_KERNEL";
constexpr std::string_view kAllNames[] = {"reference", "portable", "avx2",
                                          "avx512", "neon"};

constexpr const char* kIsaVar = "BIFSMN_ISA";

bool always_supported() noexcept { return true; }

// BIFSMN_ISA as a level: 3 unset / empty / "avx512", 2 "avx2", 1 "x86-64-v2", 0 "baseline",
// -1 anything else.
int parse_isa() noexcept {
  const char* v = std::getenv(kIsaVar);
  if (v == nullptr || *v == '\0') return 3;
  const std::string_view s(v);
  if (s == "avx512") return 3;
  if (s == "avx2") return 2;
  if (s == "x86-64-v2") return 1;
  if (s == "baseline") return 0;
  return -1;
}

#if defined(__x86_64__)
bool avx2_supported() noexcept {
  __builtin_cpu_init();  // harmless if already done; needed before main()
  // libgcc / compiler-rt also check that the OS saves ymm state (XGETBV).
  return isa_cap() >= 8 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("popcnt");
}
// The avx512 kernel's float GEMM is avx2's, so it needs AVX2+FMA as well.
bool avx512_supported() noexcept {
  __builtin_cpu_init();
  return isa_cap() >= 16 && avx2_supported() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vpopcntdq");
}
#endif

std::string join_available() {
  std::string s;
  for (std::string_view name : available_kernels()) {
    if (!s.empty()) s += ", ";
    s += name;
  }
  return s;
}

}  // namespace

int isa_level() noexcept {
  static const int level = [] {
    const int l = parse_isa();
    return l < 0 ? 3 : l;
  }();
  return level;
}

int isa_cap() noexcept {
  const int l = isa_level();
  return l >= 3 ? 16 : l == 2 ? 8 : 4;
}

void check_isa() {
  if (parse_isa() < 0) {
    throw std::runtime_error(std::string(kIsaVar) + "=" + std::getenv(kIsaVar) +
                             ": unknown instruction set (expected avx512|avx2|x86-64-v2|baseline)");
  }
}

const std::vector<Kernel>& compiled_kernels() {
  static const std::vector<Kernel> table = {
#if defined(__x86_64__)
      {"avx512", detail::binary_gemm_avx512, detail::float_gemm_avx512,
       detail::float_gemm_kn_avx512,
       avx512_supported, detail::prepared_words_avx512, detail::prepare_avx512,
       detail::binary_gemm_prepared_avx512},
      {"avx2", detail::binary_gemm_avx2, detail::float_gemm_avx2,
       detail::float_gemm_kn_avx2,
       avx2_supported, detail::prepared_words_avx2, detail::prepare_avx2,
       detail::binary_gemm_prepared_avx2},
#endif
#if defined(BIFSMN_NEON_KERNEL)
      {"neon", detail::binary_gemm_neon, detail::float_gemm_portable,
       detail::float_gemm_kn_portable, detail::neon_supported},
#endif
      {"portable", detail::binary_gemm_portable, detail::float_gemm_portable,
       detail::float_gemm_kn_portable, always_supported},
      {"reference", detail::binary_gemm_reference,
       detail::float_gemm_reference, detail::float_gemm_kn_reference, always_supported},
  };
  return table;
}

std::vector<std::string_view> available_kernels() {
  std::vector<std::string_view> names;
  for (const Kernel& k : compiled_kernels()) {
    if (k.supported()) names.emplace_back(k.name);
  }
  return names;
}

const Kernel& get_kernel(std::string_view name) {
  check_isa();  // a misspelt BIFSMN_ISA is an error whether or not a kernel is named
  for (const Kernel& k : compiled_kernels()) {
    if (name != k.name) continue;
    if (!k.supported()) {
      const char* cap = std::getenv(kIsaVar);
      throw std::runtime_error("bifsmn kernel '" + std::string(name) +
                               "' is not supported by this CPU" +
                               (cap != nullptr && *cap != '\0'
                                    ? " under " + std::string(kIsaVar) + "=" + cap
                                    : std::string()) +
                               " (available: " + join_available() + ")");
    }
    return k;
  }
  for (std::string_view known : kAllNames) {
    if (name == known) {
      throw std::runtime_error("bifsmn kernel '" + std::string(name) +
                               "' is not available on this CPU architecture "
                               "(available: " +
                               join_available() + ")");
    }
  }
  throw std::runtime_error("unknown bifsmn kernel '" + std::string(name) +
                           "' (expected one of reference|portable|avx2|avx512|neon)");
}

const Kernel& select_kernel() {
  check_isa();
  const char* forced = std::getenv(kEnvVar);
  if (forced != nullptr && *forced != '\0') {
    try {
      return get_kernel(forced);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(kEnvVar) + "=" + forced + ": " +
                               e.what());
    }
  }
  for (const Kernel& k : compiled_kernels()) {
    if (k.supported()) return k;
  }
  // Unreachable: portable and reference are always compiled and supported.
  throw std::logic_error("no bifsmn kernel available");
}

const Kernel& active_kernel() {
  static const Kernel& kernel = select_kernel();
  return kernel;
}

const char* active_kernel_name() { return active_kernel().name; }

}  // namespace bifsmn

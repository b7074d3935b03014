// Kernel tests: every optimized kernel must equal `reference` bit-for-bit
// (binary GEMM) or within a relative tolerance (float GEMM), on many random
// shapes; the reference itself is checked against the unpacked +-1 math.
//
// Usage: test_kernels [seed]   (prints the seed it used; failures name it)
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bifsmn/bitpack.h"
#include "bifsmn/kernels.h"

namespace {

// ---- tiny harness ---------------------------------------------------------
int g_checks_failed = 0;
int g_tests_passed = 0;
int g_tests_failed = 0;

#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      ++g_checks_failed;                                                  \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, \
                   #cond);                                                \
      std::fprintf(stderr, __VA_ARGS__);                                  \
      std::fprintf(stderr, "\n");                                         \
    }                                                                     \
  } while (0)

template <class F>
void run_test(const char* name, F&& body) {
  const int before = g_checks_failed;
  try {
    body();
  } catch (const std::exception& e) {
    ++g_checks_failed;
    std::fprintf(stderr, "%s: unexpected exception: %s\n", name, e.what());
  }
  const bool ok = g_checks_failed == before;
  (ok ? g_tests_passed : g_tests_failed) += 1;
  std::printf("[%s] %s\n", ok ? "PASS" : "FAIL", name);
  std::fflush(stdout);
}

std::uint64_t g_seed = 20240611;

// ---- helpers --------------------------------------------------------------
using bifsmn::Kernel;
using bifsmn::PackedMatrix;

// Random +-1 matrix as floats; p_neg = probability of -1. Zeros (both signs)
// sprinkled in for p_zero, which must pack as +1.
std::vector<float> random_signs(std::mt19937_64& rng, std::size_t count,
                                double p_neg, double p_zero = 0.0) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> v(count);
  for (float& x : v) {
    const double r = u(rng);
    if (r < p_zero) {
      x = u(rng) < 0.5 ? 0.0f : -0.0f;
    } else {
      x = u(rng) < p_neg ? -static_cast<float>(1.0 + r)
                         : static_cast<float>(1.0 + r);
    }
  }
  return v;
}

const Kernel& reference() { return bifsmn::get_kernel("reference"); }

std::vector<const Kernel*> optimized_kernels() {
  std::vector<const Kernel*> out;
  for (std::string_view name : bifsmn::available_kernels()) {
    if (name != "reference") out.push_back(&bifsmn::get_kernel(name));
  }
  return out;
}

constexpr std::int32_t kSentinel = 0x5a5a5a5a;
constexpr std::size_t kGuard = 8;

// Run a binary kernel into an exactly-sized region followed by a guard band
// that must stay untouched (ASan catches reads past the inputs).
std::vector<std::int32_t> run_binary(const Kernel& kern, const PackedMatrix& a,
                                     const PackedMatrix& w, bool* guard_ok) {
  const std::size_t m = a.rows, n = w.rows;
  std::vector<std::int32_t> out(m * n + kGuard, kSentinel);
  kern.binary_gemm(a.data(), w.data(), out.data(), m, n, a.cols);
  *guard_ok = true;
  for (std::size_t i = m * n; i < out.size(); ++i) {
    *guard_ok = *guard_ok && out[i] == kSentinel;
  }
  out.resize(m * n);
  return out;
}

std::size_t g_prepared_cases = 0;  // compare_binary calls that also ran a prepared GEMM

// Compare every optimized kernel with reference on one problem (and, for kernels that prepare
// weights of this shape, their prepared GEMM).
void compare_binary(std::mt19937_64& rng, std::size_t m, std::size_t n,
                    std::size_t k, double p_neg_a, double p_neg_w,
                    double p_zero = 0.05) {
  const auto af = random_signs(rng, m * k, p_neg_a, p_zero);
  const auto wf = random_signs(rng, n * k, p_neg_w, p_zero);
  const PackedMatrix a = bifsmn::pack_signs(af.data(), m, k);
  const PackedMatrix w = bifsmn::pack_signs(wf.data(), n, k);
  bool guard_ok = false;
  const auto want = run_binary(reference(), a, w, &guard_ok);
  for (const Kernel* kern : optimized_kernels()) {
    const auto got = run_binary(*kern, a, w, &guard_ok);
    CHECK(guard_ok, "%s wrote past out, M=%zu N=%zu K=%zu", kern->name, m, n,
          k);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < m * n; ++i) bad += got[i] != want[i];
    CHECK(bad == 0,
          "%s differs from reference in %zu of %zu outputs, M=%zu N=%zu "
          "K=%zu seed=%" PRIu64,
          kern->name, bad, m * n, m, n, k, g_seed);
    // The kernel's prepared weights (if it prepares this shape) give the same outputs.
    const std::size_t words = kern->prepared_words ? kern->prepared_words(n, k) : 0;
    if (words == 0) continue;
    std::vector<std::uint64_t> wp(words, ~std::uint64_t{0});
    kern->prepare(w.data(), n, k, wp.data());
    std::vector<std::int32_t> out(m * n + kGuard, kSentinel);
    kern->binary_gemm_prepared(a.data(), wp.data(), out.data(), m, n, k);
    bool prep_guard = true;
    for (std::size_t i = m * n; i < out.size(); ++i) prep_guard = prep_guard && out[i] == kSentinel;
    CHECK(prep_guard, "%s (prepared) wrote past out, M=%zu N=%zu K=%zu", kern->name, m, n, k);
    bad = 0;
    for (std::size_t i = 0; i < m * n; ++i) bad += out[i] != want[i];
    CHECK(bad == 0,
          "%s (prepared weights) differs from reference in %zu of %zu outputs, M=%zu N=%zu "
          "K=%zu seed=%" PRIu64,
          kern->name, bad, m * n, m, n, k, g_seed);
    ++g_prepared_cases;
  }
}

// ---- tests ----------------------------------------------------------------
void test_row_words() {
  using bifsmn::packed_row_words;
  CHECK(packed_row_words(0) == 0, "K=0");
  CHECK(packed_row_words(1) == 4, "K=1");
  CHECK(packed_row_words(64) == 4, "K=64");
  CHECK(packed_row_words(256) == 4, "K=256");
  CHECK(packed_row_words(257) == 8, "K=257");
  CHECK(packed_row_words(400) == 8, "K=400");
  CHECK(packed_row_words(1024) == 16, "K=1024");
  CHECK(packed_row_words(1100) == 20, "K=1100");
}

void test_pack_float_edge_cases() {
  const float inf = std::numeric_limits<float>::infinity();
  const float denorm = std::numeric_limits<float>::denorm_min();
  // value -> expected bit (1 = negative = -1)
  const std::vector<std::pair<float, int>> cases = {
      {0.0f, 0},     {-0.0f, 0},    {1.0f, 0},          {-1.0f, 1},
      {denorm, 0},   {-denorm, 1},  {inf, 0},           {-inf, 1},
      {1e-30f, 0},   {-1e-30f, 1},  {3.5f, 0},          {-3.5f, 1},
  };
  // 70 columns: one full word plus a partial one, padding to 4 words.
  const std::size_t cols = 70;
  std::vector<float> row(cols);
  for (std::size_t c = 0; c < cols; ++c) row[c] = cases[c % cases.size()].first;
  std::vector<std::uint64_t> dst(bifsmn::packed_row_words(cols), ~0ull);
  bifsmn::pack_signs(row.data(), 1, cols, dst.data());
  for (std::size_t c = 0; c < cols; ++c) {
    const int want = cases[c % cases.size()].second;
    CHECK(bifsmn::packed_bit(dst.data(), c) == (want == 1),
          "col %zu value %g", c, static_cast<double>(row[c]));
  }
  CHECK((dst[1] >> (cols - 64)) == 0, "padding bits of the last word not 0");
  CHECK(dst[2] == 0 && dst[3] == 0, "padding words not 0");

  const PackedMatrix owned = bifsmn::pack_signs(row.data(), 1, cols);
  CHECK(owned.rows == 1 && owned.cols == cols && owned.row_words == 4,
        "owned shape");
  CHECK(owned.words == dst, "owned packing differs from raw packing");
}

void test_pack_int8() {
  const std::vector<std::int8_t> v = {0, -1, 1, -128, 127, 0, -5, 5};
  const std::vector<int> want = {0, 1, 0, 1, 0, 0, 1, 0};
  const PackedMatrix p = bifsmn::pack_signs(v.data(), 2, 4);
  CHECK(p.row_words == 4 && p.words.size() == 8, "int8 shape");
  for (std::size_t r = 0; r < 2; ++r) {
    for (std::size_t c = 0; c < 4; ++c) {
      CHECK(bifsmn::packed_bit(p.row(r), c) == (want[r * 4 + c] == 1),
            "int8 r=%zu c=%zu", r, c);
    }
    CHECK((p.row(r)[0] >> 4) == 0, "int8 padding bits");
  }
  // Same signs as float input -> same words.
  std::vector<float> f(v.begin(), v.end());
  CHECK(bifsmn::pack_signs(f.data(), 2, 4).words == p.words,
        "int8 and float packing disagree");
}

void test_pack_all_values_zero_and_negative() {
  const std::size_t cols = 300;
  std::vector<float> zeros(cols, 0.0f), negzeros(cols, -0.0f),
      neg(cols, -2.0f);
  const PackedMatrix z = bifsmn::pack_signs(zeros.data(), 1, cols);
  const PackedMatrix nz = bifsmn::pack_signs(negzeros.data(), 1, cols);
  const PackedMatrix n = bifsmn::pack_signs(neg.data(), 1, cols);
  for (std::uint64_t word : z.words) CHECK(word == 0, "0.0 packs as +1");
  CHECK(nz.words == z.words, "-0.0 packs like 0.0");
  std::size_t ones = 0;
  for (std::uint64_t word : n.words) ones += __builtin_popcountll(word);
  CHECK(ones == cols, "all-negative row has %zu bits set, want %zu", ones,
        cols);
}

// The oracle itself against the unpacked +-1 dot product.
void test_reference_matches_sign_math() {
  std::mt19937_64 rng(g_seed ^ 0x1111);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t m = 1 + rng() % 5, n = 1 + rng() % 9,
                      k = 1 + rng() % 700;
    const auto af = random_signs(rng, m * k, 0.5, 0.1);
    const auto wf = random_signs(rng, n * k, 0.5, 0.1);
    const PackedMatrix a = bifsmn::pack_signs(af.data(), m, k);
    const PackedMatrix w = bifsmn::pack_signs(wf.data(), n, k);
    std::vector<std::int32_t> out(m * n);
    reference().binary_gemm(a.data(), w.data(), out.data(), m, n, k);
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        std::int32_t dot = 0;
        for (std::size_t t = 0; t < k; ++t) {
          const int sa = af[i * k + t] < 0 ? -1 : 1;
          const int sw = wf[j * k + t] < 0 ? -1 : 1;
          dot += sa * sw;
        }
        CHECK(out[i * n + j] == dot, "reference M=%zu N=%zu K=%zu (%zu,%zu)",
              m, n, k, i, j);
      }
    }
  }
}

void test_binary_identities() {
  std::mt19937_64 rng(g_seed ^ 0x2222);
  for (std::size_t k : {1u, 64u, 65u, 256u, 300u, 1024u}) {
    const std::size_t m = 5, n = 5;
    auto af = random_signs(rng, m * k, 0.5);
    std::vector<float> neg(af.size());
    for (std::size_t i = 0; i < af.size(); ++i) neg[i] = -af[i];
    const PackedMatrix a = bifsmn::pack_signs(af.data(), m, k);
    const PackedMatrix na = bifsmn::pack_signs(neg.data(), m, k);
    for (std::string_view name : bifsmn::available_kernels()) {
      const Kernel& kern = bifsmn::get_kernel(name);
      std::vector<std::int32_t> same(m * n), opposite(m * n);
      kern.binary_gemm(a.data(), a.data(), same.data(), m, n, k);
      kern.binary_gemm(a.data(), na.data(), opposite.data(), m, n, k);
      for (std::size_t i = 0; i < m; ++i) {
        CHECK(same[i * n + i] == static_cast<std::int32_t>(k),
              "%s a.a != K, K=%zu", kern.name, k);
        CHECK(opposite[i * n + i] == -static_cast<std::int32_t>(k),
              "%s a.(-a) != -K, K=%zu", kern.name, k);
      }
    }
  }
}

void test_binary_edge_shapes() {
  std::mt19937_64 rng(g_seed ^ 0x3333);
  const std::size_t ks[] = {1,   2,   31,  63,  64,  65,  127, 128,  129,
                            191, 192, 255, 256, 257, 400, 511, 512,  513,
                            767, 768, 769, 1023, 1024, 1025, 1100};
  for (std::size_t k : ks) {
    for (std::size_t m : {1u, 2u, 3u, 8u, 17u}) {
      const std::size_t n = 1 + rng() % 70;
      compare_binary(rng, m, n, k, 0.5, 0.5);
    }
    compare_binary(rng, 8, 128, k, 0.5, 0.5);
  }
  // Every (M, N) tile remainder for a ragged K.
  for (std::size_t m = 1; m <= 9; ++m) {
    for (std::size_t n = 1; n <= 9; ++n) compare_binary(rng, m, n, 77, 0.5, 0.5);
  }
  // K = 0 is degenerate but must not crash and gives zeros.
  compare_binary(rng, 3, 5, 0, 0.5, 0.5);
  // Skewed and saturated bit densities.
  compare_binary(rng, 7, 13, 333, 0.0, 0.0);
  compare_binary(rng, 7, 13, 333, 1.0, 1.0);
  compare_binary(rng, 7, 13, 333, 0.0, 1.0);
  compare_binary(rng, 7, 13, 333, 0.05, 0.95);
}

void test_binary_long_k() {
  std::mt19937_64 rng(g_seed ^ 0x4444);
  // Counters must be folded before they overflow: the worst case is every
  // bit differing (no zeros, which would pack as +1 on both sides).
  // AVX2 folds byte counters every 31 vectors (7936 bits): cross that.
  for (std::size_t k : {7936u, 7937u, 8192u, 20000u}) {
    compare_binary(rng, 3, 6, k, 0.5, 0.5);
    compare_binary(rng, 2, 5, k, 1.0, 0.0, 0.0);
  }
  // NEON folds u16 counters every 4095 vectors (524160 bits): cross that.
  compare_binary(rng, 1, 5, 4095 * 128 + 200, 1.0, 0.0, 0.0);
}

// The register-held strips of the short-K shapes (avx512: 16-column dword strips for K <= 512
// with 8 or more rows; avx2 and neon: K <= 128: 16 columns, K <= 256: 8 columns, K <= 512:
// 4 columns, then the tiles for the rest): every K around those limits, strips plus ragged
// columns, row counts on both sides of 8.
void test_binary_short_k() {
  std::mt19937_64 rng(g_seed ^ 0x6666);
  for (std::size_t k : {1u, 2u, 63u, 64u, 65u, 127u, 128u, 129u, 191u, 255u, 256u, 257u, 400u,
                        320u, 384u, 480u, 511u, 512u, 513u}) {
    for (std::size_t n : {3u, 4u, 5u, 7u, 8u, 15u, 16u, 17u, 24u, 33u, 256u}) {
      compare_binary(rng, 1 + rng() % 40, n, k, 0.5, 0.5);
      // Every bit differs (all counts K: the strips' byte sums at their largest) / none does.
      compare_binary(rng, 1 + rng() % 9, n, k, 1.0, 0.0, 0.0);
      compare_binary(rng, 1 + rng() % 9, n, k, 0.0, 0.0, 0.0);
    }
  }
}

void test_binary_random_shapes() {
  std::mt19937_64 rng(g_seed);
  for (int trial = 0; trial < 600; ++trial) {
    const std::size_t m = 1 + rng() % 17, n = 1 + rng() % 70,
                      k = 1 + rng() % 1100;
    const double p = 0.1 + 0.2 * static_cast<double>(rng() % 5);  // .1 .. .9
    compare_binary(rng, m, n, k, p, 1.0 - p);
  }
}

// Float GEMM: agree with reference to rounding. Tolerance is relative to the
// magnitude of the sum's terms (|bias| + sum |x w|), the scale of rounding
// error for any summation order. Returns how many of got's M x N outputs are
// off (got holds kGuard sentinels past them, which must stay untouched).
std::size_t float_outputs_off(const char* what, const Kernel& kern, const std::vector<float>& got,
                              const std::vector<float>& want, const std::vector<float>& x,
                              const std::vector<float>& w, const float* bias, std::size_t m,
                              std::size_t n, std::size_t k) {
  for (std::size_t g = m * n; g < got.size(); ++g) {
    CHECK(got[g] == 12345.0f, "%s %s wrote past y", kern.name, what);
  }
  std::size_t bad = 0;
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double scale = bias != nullptr ? std::fabs(bias[j]) : 0.0;
      for (std::size_t t = 0; t < k; ++t) {
        scale += std::fabs(static_cast<double>(x[i * k + t]) * w[j * k + t]);
      }
      const double err = std::fabs(static_cast<double>(got[i * n + j]) - want[i * n + j]);
      bad += !(err <= 1e-5 * scale + 1e-6);
    }
  }
  return bad;
}

// n standard-normal floats from rng (the float GEMM tests' random inputs).
std::vector<float> normal_floats(std::mt19937_64& rng, std::size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& e : v) e = normal(rng);
  return v;
}

void test_float_gemm() {
  std::mt19937_64 rng(g_seed ^ 0x5555);
  const auto kernels = optimized_kernels();
  std::size_t cases = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t m = 1 + rng() % 17, n = 1 + rng() % 70,
                      k = trial < 20 ? 1 + trial : 1 + rng() % 1100;
    const std::vector<float> x = normal_floats(rng, m * k), w = normal_floats(rng, n * k),
                             b = normal_floats(rng, n);
    const bool with_bias = trial % 2 == 0;
    const float* bias = with_bias ? b.data() : nullptr;
    std::vector<float> want(m * n);
    reference().float_gemm(x.data(), w.data(), bias, want.data(), m, n, k);
    for (const Kernel* kern : kernels) {
      std::vector<float> got(m * n + kGuard, 12345.0f);
      kern->float_gemm(x.data(), w.data(), bias, got.data(), m, n, k);
      const std::size_t bad = float_outputs_off("float_gemm", *kern, got, want, x, w, bias, m, n, k);
      CHECK(bad == 0, "%s float_gemm off in %zu outputs, M=%zu N=%zu K=%zu",
            kern->name, bad, m, n, k);
      ++cases;
    }
  }
  CHECK(kernels.empty() || cases > 0, "no float cases ran");
}

// float_gemm_kn (weights packed by pack_kn) against float_gemm_reference on W: the reference
// versions agree bit for bit (same loops, same order); every kernel's to rounding, on shapes
// that cover full and partial row tiles (4 / 6 / 8 rows) and column tails (8 / 16 / 32 lanes,
// panels of 32).
void test_float_gemm_kn() {
  std::mt19937_64 rng(g_seed ^ 0x6b6e);
  std::vector<const Kernel*> kernels = optimized_kernels();
  kernels.push_back(&reference());
  std::size_t cases = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t m = 1 + rng() % 30, n = 1 + rng() % 100,
                      k = trial < 20 ? 1 + trial : 1 + rng() % 600;
    const std::vector<float> x = normal_floats(rng, m * k), w = normal_floats(rng, n * k),
                             b = normal_floats(rng, n);
    std::vector<float> wp(bifsmn::kn_packed_floats(n, k));
    bifsmn::pack_kn(w.data(), n, k, wp.data());
    const bool with_bias = trial % 2 == 0;
    const float* bias = with_bias ? b.data() : nullptr;
    std::vector<float> want(m * n);
    reference().float_gemm(x.data(), w.data(), bias, want.data(), m, n, k);
    for (const Kernel* kern : kernels) {
      std::vector<float> got(m * n + kGuard, 12345.0f);
      kern->float_gemm_kn(x.data(), wp.data(), bias, got.data(), m, n, k);
      if (kern == &reference()) {
        CHECK(std::memcmp(got.data(), want.data(), sizeof(float) * m * n) == 0,
              "reference float_gemm_kn differs from float_gemm_reference, M=%zu N=%zu K=%zu", m,
              n, k);
      }
      const std::size_t bad =
          float_outputs_off("float_gemm_kn", *kern, got, want, x, w, bias, m, n, k);
      CHECK(bad == 0, "%s float_gemm_kn off in %zu outputs, M=%zu N=%zu K=%zu", kern->name, bad,
            m, n, k);
      ++cases;
    }
  }
  CHECK(cases > 0, "no float_gemm_kn cases ran");
}

void set_env(const char* value) {
  if (value == nullptr) {
    unsetenv("BIFSMN_KERNEL");
  } else {
    setenv("BIFSMN_KERNEL", value, 1);
  }
}

bool throws_with(const char* value, const char* fragment) {
  set_env(value);
  try {
    bifsmn::select_kernel();
  } catch (const std::runtime_error& e) {
    return std::string(e.what()).find(fragment) != std::string::npos;
  }
  return false;
}

void test_dispatch() {
  const auto avail = bifsmn::available_kernels();
  CHECK(!avail.empty(), "no kernels");
  bool has_portable = false, has_reference = false;
  for (std::string_view name : avail) {
    has_portable = has_portable || name == "portable";
    has_reference = has_reference || name == "reference";
  }
  CHECK(has_portable && has_reference, "portable/reference always available");

  const char* saved = std::getenv("BIFSMN_KERNEL");
  const std::string saved_value = saved != nullptr ? saved : "";

  // The cached active kernel is whatever the environment selected at start.
  CHECK(std::string(bifsmn::active_kernel_name()) ==
            bifsmn::select_kernel().name,
        "active kernel differs from select_kernel()");

  set_env(nullptr);
  CHECK(bifsmn::select_kernel().name == avail.front(),
        "default is the best available");
#if defined(__x86_64__)
  // BIFSMN_ISA (bifsmn::isa_level) caps what counts as supported
  const int level = bifsmn::isa_level();
  if (level >= 3 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    CHECK(avail.front() == "avx512", "AVX-512 VPOPCNTDQ CPU should default to avx512");
  } else if (level >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    CHECK(avail.front() == "avx2", "AVX2 CPU should default to avx2");
  } else {
    CHECK(avail.front() == "portable", "below AVX2 the default is portable");
  }
  CHECK(throws_with("neon", "not available"), "neon on x86 must be an error");
#elif defined(__aarch64__)
  CHECK(avail.front() == "neon", "aarch64 should default to neon");
  CHECK(throws_with("avx2", "not available"), "avx2 on arm must be an error");
  CHECK(throws_with("avx512", "not available"), "avx512 on arm must be an error");
#elif defined(BIFSMN_NEON_KERNEL)  // 32-bit ARM: neon where the CPU reports it
  CHECK(avail.front() == (bifsmn::detail::neon_supported() ? "neon" : "portable"),
        "32-bit ARM should default to neon where HWCAP_NEON is set, else portable");
  CHECK(throws_with("avx2", "not available"), "avx2 on arm must be an error");
#endif
  for (std::string_view name : avail) {
    const std::string s(name);
    set_env(s.c_str());
    CHECK(bifsmn::select_kernel().name == name, "forcing %s", s.c_str());
  }
  CHECK(throws_with("fastest", "unknown"), "unknown name must be an error");
  CHECK(throws_with("fastest", "BIFSMN_KERNEL=fastest"),
        "error names the variable");
  set_env("");
  CHECK(bifsmn::select_kernel().name == avail.front(), "empty means default");

  set_env(saved != nullptr ? saved_value.c_str() : nullptr);
}

void test_active_wrappers() {
  std::mt19937_64 rng(g_seed ^ 0x6666);
  const std::size_t m = 8, n = 12, k = 200;
  const auto af = random_signs(rng, m * k, 0.5);
  const auto wf = random_signs(rng, n * k, 0.5);
  const PackedMatrix a = bifsmn::pack_signs(af.data(), m, k);
  const PackedMatrix w = bifsmn::pack_signs(wf.data(), n, k);
  std::vector<std::int32_t> got(m * n), want(m * n);
  bifsmn::binary_gemm(a.data(), w.data(), got.data(), m, n, k);
  reference().binary_gemm(a.data(), w.data(), want.data(), m, n, k);
  CHECK(got == want, "bifsmn::binary_gemm (active kernel %s)",
        bifsmn::active_kernel_name());

  std::vector<float> y(m * n), y_ref(m * n);
  bifsmn::float_gemm(af.data(), wf.data(), nullptr, y.data(), m, n, k);
  reference().float_gemm(af.data(), wf.data(), nullptr, y_ref.data(), m, n, k);
  for (std::size_t i = 0; i < m * n; ++i) {
    CHECK(std::fabs(y[i] - y_ref[i]) <= 1e-3f * (1.0f + std::fabs(y_ref[i])),
          "bifsmn::float_gemm output %zu", i);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_seed = std::strtoull(argv[1], nullptr, 10);
  const char* active = nullptr;
  try {
    active = bifsmn::active_kernel_name();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "test_kernels: %s\n", e.what());
    return 2;
  }
  std::printf("test_kernels: seed %" PRIu64 ", active kernel %s, available:",
              g_seed, active);
  for (std::string_view name : bifsmn::available_kernels()) {
    std::printf(" %.*s", static_cast<int>(name.size()), name.data());
  }
  std::printf("\n");

  run_test("packed_row_words", test_row_words);
  run_test("pack float edge cases", test_pack_float_edge_cases);
  run_test("pack int8", test_pack_int8);
  run_test("pack zeros / -0.0 / negatives", test_pack_all_values_zero_and_negative);
  run_test("reference == +-1 sign math", test_reference_matches_sign_math);
  run_test("binary identities (a.a = K, a.-a = -K)", test_binary_identities);
  run_test("binary edge shapes vs reference", test_binary_edge_shapes);
  run_test("binary long K vs reference", test_binary_long_k);
  run_test("binary 600 random shapes vs reference", test_binary_random_shapes);
  run_test("binary short-K strips vs reference", test_binary_short_k);
  run_test("prepared weights exercised where a kernel prepares them", [] {
    bool any = false;
    for (const Kernel* kern : optimized_kernels()) any = any || kern->prepared_words != nullptr;
    CHECK(!any || g_prepared_cases > 100, "only %zu prepared cases", g_prepared_cases);
  });
  run_test("float GEMM vs reference", test_float_gemm);
  run_test("float GEMM, weights K x N, vs reference", test_float_gemm_kn);
  run_test("dispatch and BIFSMN_KERNEL", test_dispatch);
  run_test("active-kernel wrappers", test_active_wrappers);

  std::printf("test_kernels: %d passed, %d failed\n", g_tests_passed,
              g_tests_failed);
  return g_tests_failed == 0 ? 0 : 1;
}
